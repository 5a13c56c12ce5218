"""Native exits on the paper broker: the simulator engine's bracket and attached TP/SL
semantics (tests/sim/test_brackets.py) over real prints (issue 17 item 4)."""

from __future__ import annotations

from typing import Any

from tests.paper.harness import D, Paper

# The harness book: bids 99 x 2, 98 x 5; asks 100 x 1, 101 x 3; last trade 100 at start.


def _oid(res: dict[str, Any]) -> str:
    assert res["success"], res
    return str(res["order_id"])


def bracket(p: Paper, size: str = "1") -> str:
    cfg = {"base_size": size, "limit_price": "100.50", "stop_trigger_price": "99.50"}
    return _oid(p.create("SELL", {"trigger_bracket_gtc": cfg}))


def test_bracket_take_profit_fills_from_prints_then_the_stop_sells_the_rest() -> None:
    p = Paper()
    oid = bracket(p)
    assert p.balance("BTC")[1] == 1
    p.trade("100.50", "0.4", "SELL")  # a buyer lifts asks at 100.50: the TP leg fills 0.4
    order = p.order(oid)
    assert (order["status"], order["trigger_status"], D(order["filled_size"])) == (
        "OPEN",
        "STOP_PENDING",
        D("0.4"),
    )
    p.trade("99.60", "1", "BUY")  # above the trigger: nothing
    assert p.order(oid)["trigger_status"] == "STOP_PENDING"
    p.trade("99.50", "1", "BUY")  # at the trigger: the rest sells into the bid at 99
    order = p.order(oid)
    assert (order["status"], order["trigger_status"], D(order["filled_size"])) == (
        "FILLED",
        "STOP_TRIGGERED",
        D("1"),
    )
    got = [(f["price"], D(f["size"]), f["liquidity_indicator"]) for f in p.fills(oid)]
    assert got == [("100.50", D("0.4"), "MAKER"), ("99.00", D("0.6"), "TAKER")]
    assert p.balance("BTC") == (D("9"), D("0"))
    assert p.ex.paper_book("BTC-USD").queued(oid) is None


def test_attached_exit_arms_with_the_entry_fill_and_survives_a_restart() -> None:
    p = Paper()
    entry = {
        "client_order_id": "",
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "0.5", "limit_price": "99.90"}},
        "attached_order_configuration": {
            "trigger_bracket_gtc": {"limit_price": "100.50", "stop_trigger_price": "99.50"}
        },
    }
    made = p.ex.create_order("paper", entry, p.now)
    assert made["success"], made
    exit_id = made["success_response"]["attached_order_id"]
    p.trade("99.90", "0.5", "BUY")  # a seller hits our bid: the entry fills
    assert p.order(made["order_id"])["status"] == "FILLED"
    child = p.order(exit_id)
    assert (child["status"], D(child["outstanding_hold_amount"])) == ("OPEN", D("0.5"))

    # kill -9: a fresh paper exchange restored from the journal records
    delta = p.ex.take_delta()
    after = Paper(seed=8)
    after.ex.restore(delta.orders, delta.fills, delta.balances)
    assert after.order(exit_id)["trigger_status"] == "STOP_PENDING"
    assert after.ex.paper_book("BTC-USD").queued(exit_id) is not None  # the TP leg rests
    after.trade("99.40", "1", "BUY")  # through the stop trigger
    child = after.order(exit_id)
    assert (child["status"], child["trigger_status"], D(child["filled_size"])) == (
        "FILLED",
        "STOP_TRIGGERED",
        D("0.5"),
    )
    assert [f["price"] for f in after.fills(exit_id)] == ["99.00"]


def test_without_prints_the_books_mid_is_the_price_stops_trigger_on() -> None:
    """Prime's feed has no trade prints and its product rules no price: the last price
    stayed 0, a paper stop-loss under the market was refused as "above the last trade
    price" and a short one never triggered (a QA pass). Until a print comes, the mid
    stands for the last trade."""
    from dataclasses import replace

    from tests.paper.harness import SPEC

    p = Paper(products=(replace(SPEC, start_price=D(0)),))  # mid 99.5, no print
    stop = {"base_size": "1", "limit_price": "97", "stop_price": "98.5",
            "stop_direction": "STOP_DIRECTION_STOP_DOWN"}  # fmt: skip
    sid = _oid(p.create("SELL", {"stop_limit_stop_limit_gtc": stop}))
    assert p.order(sid)["trigger_status"] == "STOP_PENDING"
    p.level("bid", "99", "0")  # mid 99
    assert p.order(sid)["trigger_status"] == "STOP_PENDING"
    p.level("bid", "98", "0")
    p.level("bid", "97", "4")  # mid 98.5: at the stop
    order = p.order(sid)
    assert order["trigger_status"] == "STOP_TRIGGERED" and order["status"] == "FILLED"
    p.trade("97", "0.1", "BUY")  # a print: from now on prints set the last price
    again = _oid(p.create("SELL", {"stop_limit_stop_limit_gtc": {**stop, "stop_price": "96"}}))
    p.level("bid", "97", "0")
    p.level("bid", "90", "4")  # the mid falls far under the stop; no print does
    assert p.order(again)["trigger_status"] == "STOP_PENDING"


def test_an_empty_print_batch_leaves_the_mid_as_the_last_price() -> None:
    from dataclasses import replace

    from tests.paper.harness import SPEC

    p = Paper(products=(replace(SPEC, start_price=D(0)),))  # mid 99.5, no print
    p.ex.on_trades("BTC-USD", [], p.now)  # no print in it (a review: it ended the mid's role)
    stop = {"base_size": "1", "limit_price": "97", "stop_price": "98.5",
            "stop_direction": "STOP_DIRECTION_STOP_DOWN"}  # fmt: skip
    sid = _oid(p.create("SELL", {"stop_limit_stop_limit_gtc": stop}))
    p.level("bid", "99", "0")
    p.level("bid", "98", "0")
    p.level("bid", "97", "4")  # mid 98.5
    assert p.order(sid)["trigger_status"] == "STOP_TRIGGERED"
