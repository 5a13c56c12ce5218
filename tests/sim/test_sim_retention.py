"""The runtime's embedded simulator forgets finished orders after a while; ``botkit sim`` not.

The engine keeps every order and fill, as an exchange does — right for ``botkit sim``, the
exchange other clients (the official SDK, ccxt) are checked against. ``botkit run --mode
sim`` runs it in the bot's process for as long as the bot runs (~1.6 KB an order: an
audit of unbounded growth); there ``keep_finished_seconds`` is set and finished orders
leave ``advance`` after it (botkit/runtime/venue.py, ``SIM_KEEP_FINISHED_SECONDS``).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from botkit.runtime.venue import SIM_KEEP_FINISHED_SECONDS
from botkit.sim.exchange import SimExchange
from botkit.sim.matcher import FORGET_FROM
from botkit.sim.specs import SimMarketConfig, SimNotFound

T0 = 1_800_000_000.0


def _churn(ex: SimExchange, minutes: int) -> tuple[str, str, int]:
    """A resting bid for the whole run, and two bids placed and cancelled every second."""
    ex.add_user("u")
    bid = ex.best_bid_ask("BTC-USD")[0]
    assert bid is not None
    far = str((bid[0] * Decimal("0.5")).quantize(Decimal("0.01")))

    def place(coid: str, t: float) -> str:
        body = {"client_order_id": coid, "product_id": "BTC-USD", "side": "BUY",
                "order_configuration": {"limit_limit_gtc": {"base_size": "0.0001",
                                                            "limit_price": far}}}  # fmt: skip
        out = ex.create_order("u", body, t)
        assert out["success"], out
        return str(out["order_id"])

    keeper = place("keeper", T0)
    first, n, most = "", 0, 0
    for s in range(minutes * 60):
        t = T0 + s
        ex.advance(t)
        ids = [place(f"q{n}", t), place(f"q{n + 1}", t)]
        n += 2
        first = first or ids[0]
        ex.cancel_orders("u", ids, t)
        most = max(most, len(ex._orders))
    ex.advance(T0 + minutes * 60 + 5)  # the cancels take effect
    return keeper, first, most


def test_the_embedded_simulator_holds_live_and_recent_orders_only() -> None:
    ex = SimExchange(SimMarketConfig(), seed=3, start_time=T0)
    ex.keep_finished_seconds = SIM_KEEP_FINISHED_SECONDS
    keeper, first, most = _churn(ex, 35)  # 4 200 orders
    recent = int(SIM_KEEP_FINISHED_SECONDS) * 2 + 4
    assert most <= max(FORGET_FROM, 2 * recent) + 4
    assert ex.get_order("u", keeper)["status"] == "OPEN"
    with pytest.raises(SimNotFound):
        ex.get_order("u", first)
    assert len(ex._user_orders["u"]) == len(ex._orders)  # (private: the memory invariant)


def test_botkit_sim_keeps_every_order_as_an_exchange_does() -> None:
    ex = SimExchange(SimMarketConfig(), seed=3, start_time=T0)
    assert ex.keep_finished_seconds is None
    keeper, first, most = _churn(ex, 10)
    assert most == 1 + 10 * 60 * 2
    assert ex.get_order("u", first)["status"] == "CANCELLED"
