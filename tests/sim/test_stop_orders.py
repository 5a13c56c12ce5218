"""Stop-limit orders on botkit.sim with Coinbase's trigger semantics (issue 17 item 4).

A stop rests untriggered (not in the book, its funds held), triggers when a trade
prints at or through ``stop_price`` in ``stop_direction`` (reference §2.3: "last
trade price"), then works as a limit at ``limit_price``: it may fill at once or rest.
"""

from __future__ import annotations

import random
from decimal import Decimal as D
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botkit.sim.events import OrderChanged, TradePrint
from botkit.sim.exchange import ProductSpec, SimExchange, SimMarketConfig
from botkit.sim.market import MatchBook, SyntheticMarket, TakerFn
from tests.sim.test_engine import BTC, T0, _body, bal, make, market, quiet, reason

UP, DOWN = "STOP_DIRECTION_STOP_UP", "STOP_DIRECTION_STOP_DOWN"


def stop(side: str, size: str, limit: str, stop_price: str, direction: str) -> dict[str, Any]:
    cfg = {"base_size": size, "limit_price": limit, "stop_price": stop_price}
    return _body(side, {"stop_limit_stop_limit_gtc": dict(cfg, stop_direction=direction)})


def sell_down_to(ex: SimExchange, price: D, now: float) -> None:
    """User b sells into the bids until the last trade is at or below ``price``."""
    bids, _ = ex.book(BTC)
    size = sum((s for p, s in bids if p >= price), D(0))
    assert ex.create_order("b", market("SELL", base_size=str(size)), now)["success"]
    assert ex.last_trade_price(BTC) <= price


def test_untriggered_stop_holds_funds_and_is_not_in_the_book() -> None:
    ex = make()
    before_bids = ex.book(BTC)[0]
    resp = ex.create_order("a", stop("SELL", "0.3", "64990.00", "64990.00", DOWN), T0)
    assert resp["success"], resp
    order = ex.get_order("a", resp["order_id"])
    assert (order["status"], order["trigger_status"], order["order_type"]) == (
        "OPEN",
        "STOP_PENDING",
        "STOP_LIMIT",
    )
    assert bal(ex, "a", "BTC")[1] == D("0.3")  # the base a sell stop would deliver
    assert order["outstanding_hold_amount"] == "0.3"
    assert ex.book(BTC) == (before_bids, ex.book(BTC)[1])  # nothing entered the book
    assert order["order_configuration"]["stop_limit_stop_limit_gtc"]["stop_direction"] == DOWN


def test_triggered_stop_rests_as_a_limit_when_its_price_no_longer_crosses() -> None:
    ex = make()
    oid = ex.create_order("a", stop("SELL", "0.3", "64995.00", "64990.00", DOWN), T0)["order_id"]
    sell_down_to(ex, D("64990.00"), T0 + 1)
    order = ex.get_order("a", oid)
    assert (order["status"], order["trigger_status"]) == ("OPEN", "STOP_TRIGGERED")
    assert order["filled_size"] == "0"  # the bids are below 64995 now: it rests as an ask
    asks = dict(ex.book(BTC)[1])
    assert asks[D("64995.00")] == D("0.3")
    assert bal(ex, "a", "BTC")[1] == D("0.3")


def test_triggered_stop_fills_at_once_when_its_limit_crosses() -> None:
    ex = make()
    oid = ex.create_order("a", stop("SELL", "0.3", "64900.00", "64990.00", DOWN), T0)["order_id"]
    ex.drain_events()
    sell_down_to(ex, D("64990.00"), T0 + 1)
    order = ex.get_order("a", oid)
    assert (order["status"], order["trigger_status"]) == ("FILLED", "STOP_TRIGGERED")
    fills = ex.list_fills("a", {"order_ids": [oid]})
    assert all(D(f["price"]) >= D("64900.00") for f in fills)
    assert {f["liquidity_indicator"] for f in fills} == {"TAKER"}
    assert bal(ex, "a", "BTC")[1] == 0
    updates = [
        e.order for e in ex.drain_events() if isinstance(e, OrderChanged) and e.user_id == "a"
    ]
    assert updates[-1]["order_type"] == "StopLimit" and updates[-1]["stop_price"] == "64990.00"
    assert updates[-1]["trigger_status"] == "STOP_TRIGGERED"


def test_stop_on_the_wrong_side_of_the_last_trade_is_refused() -> None:
    ex = make()
    resp = ex.create_order("a", stop("SELL", "0.3", "65005.00", "65005.00", DOWN), T0)
    assert resp["success"] is False
    assert reason(resp) == "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE"
    assert resp["error_response"]["error"] == "UNKNOWN_FAILURE_REASON"
    resp = ex.create_order("a", stop("BUY", "0.3", "64995.00", "64995.00", UP), T0)
    assert reason(resp) == "PREVIEW_STOP_PRICE_BELOW_LAST_TRADE_PRICE"
    assert bal(ex, "a", "BTC")[1] == bal(ex, "a", "USD")[1] == 0


def test_stop_pending_status_setting_reports_pending_until_triggered() -> None:
    ex = make(stop_pending_status="PENDING")
    oid = ex.create_order("a", stop("SELL", "0.3", "64995.00", "64990.00", DOWN), T0)["order_id"]
    assert ex.get_order("a", oid)["status"] == "PENDING"
    assert oid not in {o["order_id"] for o in ex.list_orders("a", {"order_status": ["OPEN"]})}
    assert oid in {o["order_id"] for o in ex.list_orders("a", {"order_status": ["PENDING"]})}
    sell_down_to(ex, D("64990.00"), T0 + 1)
    assert ex.get_order("a", oid)["status"] == "OPEN"


def test_cancelled_stop_releases_its_hold_and_never_triggers() -> None:
    ex = make(cancel_latency_steps=0)
    oid = ex.create_order("a", stop("SELL", "0.3", "64900.00", "64990.00", DOWN), T0)["order_id"]
    assert ex.cancel_orders("a", [oid], T0)["results"][0]["success"]
    sell_down_to(ex, D("64980.00"), T0 + 1)
    order = ex.get_order("a", oid)
    assert (order["status"], order["trigger_status"], order["filled_size"]) == (
        "CANCELLED",
        "STOP_PENDING",
        "0",
    )
    assert bal(ex, "a", "BTC")[1] == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    ticks=st.integers(1, 8),
    sell=st.booleans(),
)
def test_a_stop_triggers_exactly_when_a_print_goes_through_it(
    seed: int, ticks: int, sell: bool
) -> None:
    """On a moving market (many prints per step): never without a print at/through the stop,
    and at the first check after one, even when the last print of the step moved back."""
    ex = SimExchange(quiet(volatility=0.0002, trade_rate=6.0, maker_churn=0.3), seed=seed,
                     start_time=T0)  # fmt: skip
    ex.add_user("a")
    last = ex.last_trade_price(BTC)
    gap = D("0.50") * ticks
    stop_price = last - gap if sell else last + gap
    limit_price = stop_price - D(5) if sell else stop_price + D(5)
    body = stop("SELL" if sell else "BUY", "0.01", str(limit_price), str(stop_price),
                DOWN if sell else UP)  # fmt: skip
    oid = ex.create_order("a", body, T0)["order_id"]
    ex.drain_events()
    crossed = False
    for step in range(1, 61):
        ex.advance(T0 + step * 0.1)
        for event in ex.drain_events():
            if isinstance(event, TradePrint) and event.product_id == BTC and not crossed:
                crossed = event.price <= stop_price if sell else event.price >= stop_price
        status = ex.get_order("a", oid)["trigger_status"]
        assert status == ("STOP_TRIGGERED" if crossed else "STOP_PENDING"), (step, stop_price)


class ThroughAndBack:
    """A market source whose first step sells down through three bid levels and then buys
    the price back up, so the step's last print is back above where it dipped."""

    def __init__(
        self, spec: ProductSpec, config: SimMarketConfig, rng: random.Random, book: MatchBook
    ) -> None:
        self.inner = SyntheticMarket(spec, config, rng, book)  # the quiet initial book
        self.book, self.done = book, spec.product_id != BTC

    def step(self, take: TakerFn) -> None:
        if self.done:
            return
        self.done = True
        take("SELL", sum((s for _, s in self.book.depth("BUY", 3)), D(0)), None)
        take("BUY", sum((s for _, s in self.book.depth("SELL", 6)), D(0)), None)

    def on_filled(self, order_id: str) -> None:
        self.inner.on_filled(order_id)


def test_a_print_through_the_stop_triggers_it_even_if_the_step_ends_back_above() -> None:
    ex = SimExchange(quiet(), seed=7, start_time=T0, market_factory=ThroughAndBack)
    ex.add_user("a")
    oid = ex.create_order("a", stop("SELL", "0.3", "65010.00", "64999.50", DOWN), T0)["order_id"]
    ex.drain_events()
    ex.advance(T0 + 0.1)
    prints = [e.price for e in ex.drain_events() if isinstance(e, TradePrint) and
              e.product_id == BTC]  # fmt: skip
    assert min(prints) <= D("64999.00") and ex.last_trade_price(BTC) > D("64999.50")
    assert ex.get_order("a", oid)["trigger_status"] == "STOP_TRIGGERED"
