"""SimExchange order lifecycle against a static synthetic book (no random flow)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from botkit.market.matching import OrderBook
from botkit.sim.events import BookChange, OrderChanged, TradePrint
from botkit.sim.exchange import FeeTier, SimBadRequest, SimExchange, SimMarketConfig, SimNotFound
from botkit.sim.market import SyntheticMarket

T0 = 1_800_000_000.0
BTC = "BTC-USD"
RICH = {"USD": D("10000000"), "BTC": D("100"), "ETH": D("1000")}


def quiet(**kw: Any) -> SimMarketConfig:
    """A frozen market: fair price fixed, no synthetic trades, no churn."""
    base: dict[str, Any] = dict(
        volatility=0.0, trade_rate=0.0, maker_churn=0.0, history_minutes=0, initial_balances=RICH
    )
    base.update(kw)
    return SimMarketConfig(**base)


def make(**kw: Any) -> SimExchange:
    ex = SimExchange(quiet(**kw), seed=7, start_time=T0)
    ex.add_user("a")
    ex.add_user("b")
    return ex


def limit(
    side: str, size: str, price: str, post_only: bool = False, coid: str = ""
) -> dict[str, Any]:
    cfg = {"base_size": size, "limit_price": price, "post_only": post_only}
    return _body(side, {"limit_limit_gtc": cfg}, coid)


def market(side: str, **sizes: str) -> dict[str, Any]:
    return _body(side, {"market_market_ioc": sizes})


def _body(side: str, config: dict[str, Any], coid: str = "") -> dict[str, Any]:
    return {"client_order_id": coid, "product_id": BTC, "side": side, "order_configuration": config}


def bal(ex: SimExchange, user: str, cur: str) -> tuple[D, D]:
    acc = next(a for a in ex.accounts(user) if a["currency"] == cur)
    return D(acc["available_balance"]["value"]), D(acc["hold"]["value"])


def reason(resp: dict[str, Any]) -> str:
    err = resp["error_response"]
    r = err["new_order_failure_reason"]
    return str(err["preview_failure_reason"] if r.startswith("UNKNOWN") else r)


def test_initial_book_is_layered_around_start() -> None:
    ex = make()
    bids, asks = ex.book(BTC)
    assert len(bids) == len(asks) == 50
    assert bids[0][0] == D("65000.00") and asks[0][0] == D("65000.50")
    assert all(p1 - p2 == D("0.50") for (p1, _), (p2, _) in zip(bids, bids[1:], strict=False))
    assert all(s > 0 and s == s.quantize(D("0.00000001")) for _, s in bids + asks)
    with pytest.raises(SimNotFound):
        ex.book("DOGE-USD")


def test_market_buy_walks_levels_and_slips() -> None:
    ex = make()
    _, asks = ex.book(BTC)
    half = (asks[2][1] / 2).quantize(D("0.00000001"))
    size = asks[0][1] + asks[1][1] + half
    ex.drain_events()
    resp = ex.create_order("a", market("BUY", base_size=str(size)), T0)
    assert resp["success"], resp
    order = ex.get_order("a", resp["success_response"]["order_id"])
    assert order["status"] == "FILLED" and D(order["filled_size"]) == size
    assert D(order["average_filled_price"]) > asks[0][0]
    assert int(order["number_of_fills"]) >= 3
    fills = ex.list_fills("a", {"order_ids": [order["order_id"]]})
    assert {D(f["price"]) for f in fills} == {asks[0][0], asks[1][0], asks[2][0]}
    assert all(f["liquidity_indicator"] == "TAKER" for f in fills)
    events = ex.drain_events()
    prints = [e for e in events if isinstance(e, TradePrint)]
    assert len(prints) == len(fills) and all(p.side == "SELL" for p in prints)
    changes = {(e.side, e.price): e.new_quantity for e in events if isinstance(e, BookChange)}
    assert (
        changes[("offer", asks[0][0])] == 0 and changes[("offer", asks[2][0])] == asks[2][1] - half
    )
    assert ex.best_bid_ask(BTC)[1] == (asks[2][0], asks[2][1] - half)
    usd, hold = bal(ex, "a", "USD")
    assert hold == 0 and usd == RICH["USD"] - D(order["total_value_after_fees"])
    assert bal(ex, "a", "BTC") == (RICH["BTC"] + size, D(0))


def test_quote_sized_market_buy_spends_at_most_quote() -> None:
    ex = make()
    resp = ex.create_order("a", market("BUY", quote_size="50000.00"), T0)
    order = ex.get_order("a", resp["order_id"])
    spent = D(order["filled_value"]) + D(order["total_fees"])
    assert D("49999") < spent <= D("50000")
    assert bal(ex, "a", "USD") == (RICH["USD"] - spent, D(0))
    assert order["size_in_quote"] is True


def test_resting_limit_queues_behind_and_fills_as_takers_reach_it() -> None:
    ex = make(fee_tier=FeeTier(maker_fee_rate=D("0.001"), taker_fee_rate=D("0.003")))
    bids, _ = ex.book(BTC)
    best, ahead = bids[0]
    resp = ex.create_order("a", limit("BUY", "0.01000000", str(best)), T0)
    oid = resp["order_id"]
    assert ex.book(BTC)[0][0] == (best, ahead + D("0.01"))
    usd, hold = bal(ex, "a", "USD")
    assert hold == D("0.01") * best * D("1.003")
    half = (ahead / 2).quantize(D("0.00000001"))
    ex.create_order("b", market("SELL", base_size=str(half)), T0 + 1)
    assert ex.get_order("a", oid)["filled_size"] == "0"
    ex.create_order("b", market("SELL", base_size=str(ahead - half + D("0.004"))), T0 + 2)
    order = ex.get_order("a", oid)
    assert order["status"] == "OPEN" and D(order["filled_size"]) == D("0.004")
    (fill,) = ex.list_fills("a", {})
    assert fill["liquidity_indicator"] == "MAKER"
    assert D(fill["commission"]) == (best * D("0.004") * D("0.001")).quantize(D("1e-8"))
    taker_fills = ex.list_fills("b", {})
    assert all(f["liquidity_indicator"] == "TAKER" for f in taker_fills)
    for f in taker_fills:
        assert D(f["commission"]) == (D(f["price"]) * D(f["size"]) * D("0.003")).quantize(
            D("1e-8"), rounding="ROUND_DOWN"
        )
    assert bal(ex, "a", "USD")[1] == D("0.006") * best * D("1.003")
    ex.create_order("b", market("SELL", base_size="0.01"), T0 + 3)
    order = ex.get_order("a", oid)
    assert order["status"] == "FILLED" and order["completion_percentage"] == "100.00"
    assert bal(ex, "a", "USD")[1] == 0
    assert bal(ex, "a", "BTC")[0] == RICH["BTC"] + D("0.01")


def test_post_only_crossing_is_rejected_without_side_effects() -> None:
    ex = make()
    ex.drain_events()
    _, asks = ex.book(BTC)
    resp = ex.create_order("a", limit("BUY", "0.01", str(asks[0][0]), post_only=True), T0)
    assert resp["success"] is False
    assert reason(resp) == "INVALID_LIMIT_PRICE_POST_ONLY"
    assert (
        resp["error_response"]["preview_failure_reason"] == "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY"
    )
    assert ex.drain_events() == [] and ex.list_orders("a", {}) == []
    ok = ex.create_order("a", limit("BUY", "0.01", "64999.00", post_only=True), T0)
    assert ok["success"] and ex.open_orders_ws("a")[0]["post_only"] == "true"


def test_fok_is_all_or_nothing() -> None:
    ex = make()
    _, asks = ex.book(BTC)
    too_much = str(asks[0][1] + D("0.00000001"))
    body = _body(
        "BUY", {"limit_limit_fok": {"base_size": too_much, "limit_price": str(asks[0][0])}}
    )
    order = ex.get_order("a", ex.create_order("a", body, T0)["order_id"])
    assert order["status"] == "CANCELLED" and order["filled_size"] == "0"
    assert bal(ex, "a", "USD") == (RICH["USD"], D(0)) and ex.book(BTC)[1][0] == asks[0]
    body = _body(
        "BUY", {"limit_limit_fok": {"base_size": too_much, "limit_price": str(asks[1][0])}}
    )
    order = ex.get_order("a", ex.create_order("a", body, T0)["order_id"])
    assert order["status"] == "FILLED" and D(order["filled_size"]) == D(too_much)
    body["order_configuration"]["limit_limit_fok"]["post_only"] = True
    assert reason(ex.create_order("a", body, T0)) == "POST_ONLY_NOT_ALLOWED_WITH_FOK"


def test_ioc_cancels_the_rest() -> None:
    ex = make()
    _, asks = ex.book(BTC)
    body = _body("BUY", {"sor_limit_ioc": {"base_size": "50", "limit_price": str(asks[0][0])}})
    order = ex.get_order("a", ex.create_order("a", body, T0)["order_id"])
    assert order["status"] == "CANCELLED" and D(order["filled_size"]) == asks[0][1]
    assert bal(ex, "a", "USD")[1] == 0


def test_stop_limit_triggers_on_last_trade_crossing() -> None:
    ex = make()
    stop = {"base_size": "0.01", "limit_price": "65010.00", "stop_price": "65001.00"}
    stop["stop_direction"] = "STOP_DIRECTION_STOP_UP"
    oid = ex.create_order("a", _body("BUY", {"stop_limit_stop_limit_gtc": stop}), T0)["order_id"]
    order = ex.get_order("a", oid)
    assert order["status"] == "OPEN" and order["trigger_status"] == "STOP_PENDING"
    assert order["order_type"] == "STOP_LIMIT" and bal(ex, "a", "USD")[1] > 0
    _, asks = ex.book(BTC)
    ex.create_order("b", market("BUY", base_size=str(asks[0][1])), T0 + 1)  # last = 65000.50
    assert ex.get_order("a", oid)["trigger_status"] == "STOP_PENDING"
    ex.create_order("b", market("BUY", base_size=str(asks[1][1] + D("0.001"))), T0 + 2)
    assert ex.last_trade_price(BTC) >= D("65001.00")
    order = ex.get_order("a", oid)
    assert order["trigger_status"] == "STOP_TRIGGERED" and order["status"] == "FILLED"
    assert bal(ex, "a", "USD")[1] == 0
    bad = dict(stop, stop_price="64000.00")
    resp = ex.create_order("a", _body("BUY", {"stop_limit_stop_limit_gtc": bad}), T0)
    assert reason(resp) == "PREVIEW_STOP_PRICE_BELOW_LAST_TRADE_PRICE"


def test_gtd_expires_and_releases_hold() -> None:
    ex = make()
    cfg = {"base_size": "0.5", "limit_price": "60000.00", "end_time": "2027-01-15T08:00:05Z"}
    assert T0 + 5 == 1_800_000_005
    oid = ex.create_order("a", _body("BUY", {"limit_limit_gtd": cfg}), T0)["order_id"]
    assert bal(ex, "a", "USD")[1] > 0
    ex.advance(T0 + 4.9)
    assert ex.get_order("a", oid)["status"] == "OPEN"
    ex.advance(T0 + 5.05)
    assert ex.get_order("a", oid)["status"] == "EXPIRED"
    assert bal(ex, "a", "USD") == (RICH["USD"], D(0))
    assert all(p != D("60000.00") for p, _ in ex.book(BTC)[0])
    past = dict(cfg, end_time="2020-01-01T00:00:00Z")
    assert reason(ex.create_order("a", _body("BUY", {"limit_limit_gtd": past}), T0)) == (
        "END_TIME_IS_IN_THE_PAST"
    )


def test_cancel_is_queued_then_done_and_releases_hold() -> None:
    ex = make()
    oid = ex.create_order("a", limit("SELL", "0.3", "70000.00"), T0)["order_id"]
    assert bal(ex, "a", "BTC") == (RICH["BTC"] - D("0.3"), D("0.3"))
    ex.drain_events()
    res = ex.cancel_orders("a", [oid, "nope"], T0)["results"]
    assert res[0]["success"] and not res[1]["success"]
    assert res[1]["failure_reason"] == "UNKNOWN_CANCEL_ORDER"
    assert ex.get_order("a", oid)["status"] == "CANCEL_QUEUED"
    assert ex.get_order("a", oid)["pending_cancel"] is True
    statuses = [e.order["status"] for e in ex.drain_events() if isinstance(e, OrderChanged)]
    assert statuses == ["CANCEL_QUEUED"]
    ex.advance(T0 + 0.1)
    assert ex.get_order("a", oid)["status"] == "CANCELLED"
    assert bal(ex, "a", "BTC") == (RICH["BTC"], D(0))
    events = ex.drain_events()
    assert [e.order["status"] for e in events if isinstance(e, OrderChanged)] == ["CANCELLED"]
    assert any(isinstance(e, BookChange) and e.price == D("70000.00") for e in events)
    assert ex.cancel_orders("a", [oid], T0)["results"][0]["success"] is False
    with pytest.raises(SimBadRequest):
        ex.cancel_orders("a", [str(i) for i in range(101)], T0)


def test_cancel_queued_order_can_still_fill() -> None:
    ex = make()
    bids, _ = ex.book(BTC)
    oid = ex.create_order("a", limit("BUY", "0.01", "65000.25"), T0)["order_id"]
    ex.cancel_orders("a", [oid], T0)
    ex.create_order("b", market("SELL", base_size="0.01"), T0)
    assert ex.get_order("a", oid)["status"] == "FILLED"
    ex.advance(T0 + 1)
    assert ex.get_order("a", oid)["status"] == "FILLED" and bal(ex, "a", "USD")[1] == 0


def test_edit_rules_and_priority() -> None:
    ex = make()
    first = ex.create_order("a", limit("BUY", "0.5", "64000.00"), T0)["order_id"]
    second = ex.create_order("b", limit("BUY", "0.5", "64000.00"), T0)["order_id"]
    book = ex._books[BTC]  # private on purpose: queue priority is not visible through the API
    assert isinstance(book, OrderBook)

    def queue() -> list[str]:
        return [lot.order_id for lot in book.lots_at("BUY", D("64000.00"))]

    assert ex.edit_order("a", {"order_id": first, "price": "64000.00", "size": "0.4"}, T0)[
        "success"
    ]
    assert queue()[:2] == [first, second]  # size decrease keeps priority
    assert D(ex.get_order("a", first)["outstanding_hold_amount"]) == D("0.4") * 64000 * D("1.006")
    assert ex.edit_order("a", {"order_id": first, "price": "64000.00", "size": "0.45"}, T0)[
        "success"
    ]
    assert queue()[:2] == [second, first]  # size increase loses it
    assert ex.get_order("a", first)["edit_history"][-1]["size"] == "0.45"

    def fail(body: dict[str, Any], user: str = "a") -> str:
        resp = ex.edit_order(user, body, T0)
        assert resp["success"] is False
        return str(resp["errors"][0]["edit_failure_reason"])

    assert fail({"order_id": first, "price": "64000.00"}) == "INVALID_EDITED_SIZE"
    assert fail({"order_id": first, "price": "64000.00", "size": "0.45"}) == (
        "EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST"
    )
    assert fail({"order_id": first, "price": "64000.001", "size": "0.4"}) == "INVALID_EDITED_PRICE"
    assert fail({"order_id": first, "price": "64000.00", "size": "0.4"}, "b") == "ORDER_NOT_FOUND"
    mkt = ex.create_order("a", market("BUY", base_size="0.01"), T0)["order_id"]
    assert fail({"order_id": mkt, "price": "64000.00", "size": "0.4"}) == (
        "ONLY_LIMIT_ORDER_EDITS_SUPPORTED"
    )
    # crossing price change trades immediately as taker
    assert ex.edit_order("a", {"order_id": first, "price": "65000.50", "size": "0.01"}, T0)[
        "success"
    ]
    assert ex.get_order("a", first)["status"] == "FILLED"
    assert fail({"order_id": first, "price": "64000.00", "size": "0.4"}) == (
        "ONLY_OPEN_ORDERS_CAN_BE_EDITED"
    )
    third = ex.create_order("a", limit("SELL", "0.5", "65000.25"), T0)["order_id"]
    ex.create_order("b", market("BUY", base_size="0.2"), T0)
    assert ex.get_order("a", third)["filled_size"] == "0.2"
    for size in ("0.2", "0.1"):
        assert fail({"order_id": third, "price": "65000.25", "size": size}) == (
            "CANNOT_EDIT_TO_BELOW_FILLED_SIZE"
        )
    preview = ex.preview_edit_order("a", {"order_id": second, "price": "1", "size": "1"}, T0)
    assert preview["errors"][0]["edit_failure_reason"] == "ORDER_NOT_FOUND"


@pytest.mark.parametrize(
    ("config", "side", "expected"),
    [
        ({"limit_limit_gtc": {"base_size": "0.000000001", "limit_price": "65000"}}, "BUY",
         "INVALID_SIZE_PRECISION"),
        ({"limit_limit_gtc": {"base_size": "0.001", "limit_price": "65000.001"}}, "BUY",
         "INVALID_PRICE_PRECISION"),
        ({"limit_limit_gtc": {"base_size": "0.00001", "limit_price": "65000"}}, "BUY",
         "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
        ({"market_market_ioc": {"base_size": "3401"}}, "SELL", "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"),
        ({"market_market_ioc": {"quote_size": "0.50"}}, "BUY", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
        ({"market_market_ioc": {"quote_size": "10.001"}}, "BUY", "INVALID_SIZE_PRECISION"),
        ({"market_market_ioc": {}}, "BUY", "UNSUPPORTED_ORDER_CONFIGURATION"),
        ({"market_market_fok": {"base_size": "1"}}, "BUY", "UNSUPPORTED_ORDER_CONFIGURATION"),
        ({"market_market_ioc": {"base_size": "1"}, "limit_limit_gtc": {}}, "BUY",
         "UNSUPPORTED_ORDER_CONFIGURATION"),
        ({"market_market_ioc": {"base_size": "1"}}, "HOLD", "INVALID_SIDE"),
        ({"limit_limit_gtd": {"base_size": "0.01", "limit_price": "60000"}}, "BUY",
         "GTD_ORDERS_MUST_HAVE_END_TIME"),
        ({"limit_limit_gtc": {"base_size": "200", "limit_price": "65000"}}, "BUY",
         "INSUFFICIENT_FUND"),
        ({"market_market_ioc": {"base_size": "101"}}, "SELL", "INSUFFICIENT_FUND"),
    ],
)  # fmt: skip
def test_business_failures_carry_coinbase_reasons(
    config: dict[str, Any], side: str, expected: str
) -> None:
    ex = make()
    ex.drain_events()
    resp = ex.create_order("a", _body(side, config), T0)
    assert resp["success"] is False and reason(resp) == expected
    assert resp["error_response"]["preview_failure_reason"].startswith("PREVIEW_")
    assert ex.drain_events() == [] and bal(ex, "a", "USD") == (RICH["USD"], D(0))


def test_unknown_product_and_malformed_bodies() -> None:
    ex = make()
    body = market("BUY", base_size="1")
    body["product_id"] = "DOGE-USD"
    assert reason(ex.create_order("a", body, T0)) == "INVALID_PRODUCT_ID"
    bad_bodies: list[object] = [[], {"side": "BUY"}, {"product_id": BTC, "side": "BUY"}]
    for bad in bad_bodies:
        with pytest.raises(SimBadRequest):
            # Deliberately not a valid order body: the engine must refuse it at runtime.
            ex.create_order("a", bad, T0)  # type: ignore[arg-type]
    with pytest.raises(SimBadRequest):
        ex.create_order("a", market("BUY", base_size="abc"), T0)


def test_client_order_id_is_idempotent() -> None:
    ex = make()
    first = ex.create_order("a", limit("BUY", "0.01", "64000.00", coid="c1"), T0)
    ex.drain_events()
    again = ex.create_order("a", limit("SELL", "5", "70000.00", coid="c1"), T0)
    assert again["success"] is True
    assert again["success_response"] == first["success_response"]
    assert ex.drain_events() == [] and len(ex.list_orders("a", {})) == 1
    other_user = ex.create_order("b", limit("BUY", "0.01", "64000.00", coid="c1"), T0)
    assert other_user["order_id"] != first["order_id"]
    strict = make(duplicate_client_order_id="reject")
    strict.create_order("a", limit("BUY", "0.01", "64000.00", coid="c1"), T0)
    assert reason(strict.create_order("a", limit("BUY", "0.01", "64000.00", coid="c1"), T0)) == (
        "DUPLICATE_CLIENT_ORDER_ID"
    )


def test_max_open_orders_fails_new_orders() -> None:
    ex = make(max_open_orders_per_product=2)
    for _ in range(2):
        ex.create_order("a", limit("BUY", "0.01", "64000.00"), T0)
    resp = ex.create_order("a", limit("BUY", "0.01", "64000.00"), T0)
    assert resp["success"] and ex.get_order("a", resp["order_id"])["status"] == "FAILED"
    assert len(ex.list_orders("a", {"order_status": ["OPEN"]})) == 2


def test_makers_take_user_orders_the_fair_price_moved_through() -> None:
    ex = make()
    oid = ex.create_order("a", limit("SELL", "0.01", "65005.00"), T0)["order_id"]
    market_source = ex._markets[BTC]  # private on purpose: no API moves the fair price at will
    assert isinstance(market_source, SyntheticMarket)
    market_source.fair = 65010.0
    ex.advance(T0 + 0.1)
    assert ex.get_order("a", oid)["status"] == "FILLED"
    bid, ask = ex.best_bid_ask(BTC)
    assert bid is not None and ask is not None and bid[0] < ask[0]
    assert bid[0] == D("65010.00")


def test_wire_shapes() -> None:
    ex = make()
    oid = ex.create_order("a", limit("BUY", "0.0010", "64000.00", coid="w"), T0 + 0.123456)[
        "order_id"
    ]
    order = ex.get_order("a", oid)
    assert order["created_time"] == "2027-01-15T08:00:00.123456Z"
    assert order["order_configuration"] == {
        "limit_limit_gtc": {"base_size": "0.0010", "limit_price": "64000.00", "post_only": False}
    }
    assert order["number_of_fills"] == "0" and order["order_type"] == "LIMIT"
    assert order["time_in_force"] == "GOOD_UNTIL_CANCELLED" and order["last_fill_time"] is None
    (ws,) = ex.open_orders_ws("a")
    assert ws["order_type"] == "Limit" and ws["leaves_quantity"] == "0.0010"
    assert ws["end_time"] == "0001-01-01T00:00:00Z" and ws["post_only"] == "false"
    assert all(isinstance(v, str) for v in ws.values())
    product = ex.product_wire(BTC)
    assert product["status"] == "online" and product["quote_increment"] == "0.01"
    assert product["alias_to"] == [] and product["product_venue"] == "CBE"
    ticker = ex.ticker_wire(BTC)
    assert ticker["best_bid"] == "65000.00" and ticker["best_ask"] == "65000.50"
    summary = ex.transaction_summary("a")
    assert summary["fee_tier"]["taker_fee_rate"] == "0.006"
    accounts = ex.accounts("a")
    assert ex.account("a", accounts[0]["uuid"]) == accounts[0]
    with pytest.raises(SimNotFound):
        ex.account("b", accounts[0]["uuid"])
    with pytest.raises(SimNotFound):
        ex.get_order("b", oid)
    preview = ex.preview_order("a", market("BUY", base_size="1"), T0)
    assert preview["errs"] == [] and D(preview["order_total"]) > 65000
    assert ex.preview_order("a", market("SELL", base_size="1000"), T0)["errs"] == [
        "PREVIEW_INSUFFICIENT_FUND"
    ]


@pytest.mark.parametrize("unit", ["base", "quote"])
def test_user_snapshot_of_a_partly_filled_quote_sized_order_uses_the_configured_unit(
    unit: Any,
) -> None:
    """The ``user``-channel snapshot (open orders at subscribe) and the live updates read
    a quote-sized order's ``cumulative_quantity`` in the same configured unit."""
    ex = make(ws_quote_sized_quantity=unit)
    _, asks = ex.book(BTC)
    price, size = asks[0]
    spend = (price * size * 3).quantize(D("0.01"))  # takes the top level, rests the rest
    cfg = {"quote_size": str(spend), "limit_price": str(price), "post_only": False}
    resp = ex.create_order("a", _body("BUY", {"limit_limit_gtc": cfg}), T0)
    oid = resp["success_response"]["order_id"]
    order = ex.get_order("a", oid)
    assert order["status"] == "OPEN" and D(order["filled_size"]) == size
    [snap] = [o for o in ex.open_orders_ws("a") if o["order_id"] == oid]
    # "quote": the quote spent, fees included (cumulative + leaves = quote_size)
    expected = size if unit == "base" else D(order["filled_value"]) + D(order["total_fees"])
    assert D(snap["cumulative_quantity"]) == expected
