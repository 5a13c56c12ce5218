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
    # the runtime's hour, not less than the executor's lookup window
    assert SIM_KEEP_FINISHED_SECONDS >= 900
    ex = SimExchange(SimMarketConfig(), seed=3, start_time=T0)
    ex.keep_finished_seconds = keep = 600.0  # (ten minutes: the mechanism, in fewer orders)
    keeper, first, most = _churn(ex, 35)  # 4 200 orders
    recent = int(keep) * 2 + 4
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


def test_the_dialects_client_id_maps_follow_the_engines_orders() -> None:
    """The Exchange and Prime dialects map venue client ids to engine orders: once the
    engine forgot an order, its entries leave too (bounded), and a client id reused after
    its order was forgotten is a new order — it answered 404 (the engine's lookup of the
    forgotten order, inside the create)."""
    import base64
    import hashlib
    import hmac
    import json

    from botkit.sim.client_ids import prune_client_ids
    from botkit.sim.exchange_auth import ExchangeKey
    from botkit.sim.exchange_dialect import ExchangeDialect

    by_order = {f"o{i}": f"c{i % 3}" for i in range(9)}
    by_client = {("p", f"c{k}"): [f"o{i}" for i in range(9) if i % 3 == k] for k in range(3)}
    held = {"o4", "o8"}
    assert prune_client_ids(by_order, by_client, held.__contains__) >= 2
    assert by_order == {"o4": "c1", "o8": "c2"}
    assert by_client == {("p", "c1"): ["o4"], ("p", "c2"): ["o8"]}

    ex = SimExchange(SimMarketConfig(cancel_latency_steps=0), seed=3, start_time=T0)
    ex.keep_finished_seconds = 60.0
    dialect = ExchangeDialect(ex)
    secret = base64.b64encode(b"k" * 64).decode()
    key = dialect.register(ExchangeKey("kid", secret, "pass", "prof"))

    def post(target: str, doc: dict[str, str], now: float) -> tuple[int, object]:
        raw = json.dumps(doc).encode()
        ts = f"{now:.3f}"
        mac = hmac.new(base64.b64decode(secret), (ts + "POST" + target).encode() + raw,
                       hashlib.sha256).digest()  # fmt: skip
        headers = {"CB-ACCESS-KEY": key.key, "CB-ACCESS-SIGN": base64.b64encode(mac).decode(),
                   "CB-ACCESS-TIMESTAMP": ts, "CB-ACCESS-PASSPHRASE": "pass",
                   "Content-Type": "application/json"}  # fmt: skip
        answer = dialect.handle("POST", target, raw, headers, now)
        return answer.status, answer.body

    bid = ex.best_bid_ask("BTC-USD")[0]
    assert bid is not None
    order = {"product_id": "BTC-USD", "side": "buy", "type": "limit", "size": "0.001",
             "price": str((bid[0] * Decimal("0.5")).quantize(Decimal("0.01"))),
             "client_oid": "00000000-0000-4000-8000-000000000001"}  # fmt: skip
    status, body = post("/orders", order, T0 + 1)
    assert status == 200
    first = body["id"]  # type: ignore[index]
    ex.cancel_orders("prof", [first], T0 + 1)
    ex.advance(T0 + 200)
    assert ex.forget_finished() == 1 and not ex.holds(first)
    status, body = post("/orders", order, T0 + 201)  # the same client_oid, long after
    assert status == 200 and body["id"] != first  # type: ignore[index]
