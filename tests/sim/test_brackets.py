"""Bracket orders and TP/SL attached to an entry on botkit.sim (issue 17 item 4).

A ``trigger_bracket_gtc`` is one order with two legs: its take-profit rests in the
book at ``limit_price``; a print at/through ``stop_trigger_price`` pulls it and
works the rest as a limit ``bracket_stop_limit_offset`` (5 %) beyond the trigger.
One order, one size: the legs can never fill more than it together.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botkit.sim.events import OrderChanged, TradePrint
from botkit.sim.exchange import SimExchange
from tests.sim.test_engine import BTC, T0, _body, bal, limit, make, market, reason

TP, TRIGGER = D("65010.00"), D("64990.00")


def bracket(side: str, size: str, tp: D = TP, trigger: D = TRIGGER) -> dict[str, Any]:
    cfg = {"base_size": size, "limit_price": str(tp), "stop_trigger_price": str(trigger)}
    return _body(side, {"trigger_bracket_gtc": cfg})


def attached(tp: str = "65010.00", sl: str = "64990.00") -> dict[str, Any]:
    return {"trigger_bracket_gtc": {"limit_price": tp, "stop_trigger_price": sl}}


def buy_up_to(ex: SimExchange, price: D, extra: D, now: float) -> None:
    """User b lifts every ask below ``price`` and ``extra`` more at ``price``."""
    _, asks = ex.book(BTC)
    size = sum((s for p, s in asks if p < price), D(0)) + extra
    assert ex.create_order("b", market("BUY", base_size=str(size)), now)["success"]


def sell_down_to(ex: SimExchange, price: D, now: float) -> None:
    bids, _ = ex.book(BTC)
    size = sum((s for p, s in bids if p >= price), D(0))
    assert ex.create_order("b", market("SELL", base_size=str(size)), now)["success"]


def ask_at(ex: SimExchange, price: D) -> D:
    return dict(ex.book(BTC)[1]).get(price, D(0))


def synthetic_at(price: D) -> D:
    return ask_at(make(), price)


# ------------------------------------------------------------------------- brackets
def test_bracket_rests_its_take_profit_and_holds_the_base() -> None:
    ex = make()
    resp = ex.create_order("a", bracket("SELL", "0.1"), T0)
    assert resp["success"], resp
    assert resp["order_configuration"] == {
        "trigger_bracket_gtc": {"base_size": "0.1", "limit_price": "65010.00",
                                "stop_trigger_price": "64990.00"}
    }  # fmt: skip
    order = ex.get_order("a", resp["order_id"])
    assert (order["status"], order["order_type"], order["trigger_status"]) == (
        "OPEN",
        "BRACKET",
        "STOP_PENDING",
    )
    assert order["time_in_force"] == "GOOD_UNTIL_CANCELLED"
    assert ask_at(ex, TP) == synthetic_at(TP) + D("0.1")
    assert bal(ex, "a", "BTC")[1] == D("0.1")


def test_take_profit_fill_finishes_the_bracket_and_the_stop_never_acts() -> None:
    ex = make()
    oid = ex.create_order("a", bracket("SELL", "0.1"), T0)["order_id"]
    buy_up_to(ex, TP, synthetic_at(TP) + D("0.1"), T0 + 1)
    order = ex.get_order("a", oid)
    assert (order["status"], order["trigger_status"], D(order["filled_size"])) == (
        "FILLED",
        "STOP_PENDING",
        D("0.1"),
    )
    assert [(f["price"], f["liquidity_indicator"]) for f in ex.list_fills("a", {})] == [
        ("65010.00", "MAKER")
    ]
    sell_down_to(ex, D("64980.00"), T0 + 2)  # through the trigger: nothing more happens
    assert D(ex.get_order("a", oid)["filled_size"]) == D("0.1")
    assert len(ex.list_fills("a", {})) == 1 and bal(ex, "a", "BTC")[1] == 0


def test_stop_leg_triggers_on_a_print_and_sells_what_the_take_profit_did_not() -> None:
    ex = make()
    oid = ex.create_order("a", bracket("SELL", "0.1"), T0)["order_id"]
    buy_up_to(ex, TP, synthetic_at(TP) + D("0.04"), T0 + 1)  # TP fills 0.04 of 0.1
    assert D(ex.get_order("a", oid)["filled_size"]) == D("0.04")
    ex.drain_events()
    sell_down_to(ex, TRIGGER, T0 + 2)
    order = ex.get_order("a", oid)
    assert (order["status"], order["trigger_status"], D(order["filled_size"])) == (
        "FILLED",
        "STOP_TRIGGERED",
        D("0.1"),
    )
    fills = list(reversed(ex.list_fills("a", {"order_ids": [oid]})))
    assert fills[0]["price"] == "65010.00" and D(fills[0]["size"]) == D("0.04")
    stop_fills = fills[1:]
    assert sum(D(f["size"]) for f in stop_fills) == D("0.06")
    assert all(D(f["price"]) >= D("61740.50") for f in stop_fills)  # 5 % below the trigger
    assert {f["liquidity_indicator"] for f in stop_fills} == {"TAKER"}
    assert ask_at(ex, TP) == 0  # b took the synthetic ask there; the TP leg left the book
    assert bal(ex, "a", "BTC")[1] == 0
    ws = [e.order for e in ex.drain_events() if isinstance(e, OrderChanged) and e.user_id == "a"]
    assert ws[-1]["order_type"] == "Bracket" and ws[-1]["trigger_status"] == "STOP_TRIGGERED"
    assert ws[-1]["stop_price"] == "64990.00"


def test_triggered_stop_leg_rests_at_its_limit_when_the_book_is_gone() -> None:
    ex = make(bracket_stop_limit_offset=D("0"))  # stop leg limit = the trigger itself
    oid = ex.create_order("a", bracket("SELL", "0.1"), T0)["order_id"]
    sell_down_to(ex, D("64985.00"), T0 + 1)  # bids now below the trigger
    order = ex.get_order("a", oid)
    assert (order["status"], order["trigger_status"], order["filled_size"]) == (
        "OPEN",
        "STOP_TRIGGERED",
        "0",
    )
    assert ask_at(ex, TRIGGER) == D("0.1")  # the stop leg rests as an ask at 64990
    assert ask_at(ex, TP) == synthetic_at(TP)  # the take-profit left the book


def test_cancelling_a_bracket_cancels_both_legs() -> None:
    ex = make(cancel_latency_steps=0)
    oid = ex.create_order("a", bracket("SELL", "0.1"), T0)["order_id"]
    assert ex.cancel_orders("a", [oid], T0)["results"][0]["success"]
    assert ask_at(ex, TP) == synthetic_at(TP) and bal(ex, "a", "BTC")[1] == 0
    sell_down_to(ex, D("64980.00"), T0 + 1)
    order = ex.get_order("a", oid)
    assert (order["status"], order["trigger_status"], order["filled_size"]) == (
        "CANCELLED",
        "STOP_PENDING",
        "0",
    )


def test_buy_bracket_holds_for_its_dearer_stop_leg() -> None:
    ex = make()
    oid = ex.create_order("a", bracket("BUY", "0.1", D("64990.00"), D("65010.00")), T0)["order_id"]
    stop_leg = D("68260.50")  # 65010 * 1.05, rounded up to the tick
    assert bal(ex, "a", "USD")[1] == D("0.1") * stop_leg * D("1.006")
    buy_up_to(ex, D("65010.00"), D("0.001"), T0 + 1)
    order = ex.get_order("a", oid)
    assert (order["status"], order["trigger_status"]) == ("FILLED", "STOP_TRIGGERED")
    assert bal(ex, "a", "USD")[1] == 0


def test_bad_brackets_are_refused_with_coinbase_reasons() -> None:
    ex = make()
    cases = {
        "PREVIEW_INVALID_BRACKET_LIMIT_PRICE": bracket("SELL", "0.1", D("64995.00")),
        "PREVIEW_INVALID_BRACKET_STOP_TRIGGER_PRICE": bracket("SELL", "0.1", TP, D("65005.00")),
        "PREVIEW_INVALID_BRACKET_PRICES": bracket("SELL", "0.1", D("64980.00")),
        "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL": bracket("SELL", "0.00001"),
        "INSUFFICIENT_FUND": bracket("SELL", "1000"),
        "PREVIEW_QUOTE_SIZE_NOT_ALLOWED_FOR_BRACKET": _body(
            "SELL",
            {
                "trigger_bracket_gtc": {
                    "quote_size": "100",
                    "limit_price": "65010.00",
                    "stop_trigger_price": "64990.00",
                }
            },
        ),  # fmt: skip
    }
    for expected, body in cases.items():
        resp = ex.create_order("a", body, T0)
        assert resp["success"] is False and reason(resp) == expected, (expected, resp)
    assert bal(ex, "a", "BTC")[1] == 0 and ex.list_orders("a", {}) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 40)), min_size=1, max_size=12))
def test_the_two_legs_never_fill_more_than_the_bracket(moves: list[tuple[bool, int]]) -> None:
    ex = make()
    oid = ex.create_order("a", bracket("SELL", "0.1"), T0)["order_id"]
    btc_before = sum(bal(ex, "a", "BTC"))
    through = False  # has any print reached the trigger yet?
    now = T0
    for buy, tenths in moves:
        now += 1
        size = str(D(tenths) / 10)
        ex.create_order("b", market("BUY" if buy else "SELL", base_size=size), now)
        prints = [e for e in ex.drain_events() if isinstance(e, TradePrint)]
        order = ex.get_order("a", oid)
        if order["trigger_status"] == "STOP_TRIGGERED":
            assert through or any(p.price <= TRIGGER for p in prints)
        through = through or any(p.price <= TRIGGER for p in prints)
        filled = D(order["filled_size"])
        assert filled <= D("0.1")
        fills = ex.list_fills("a", {"order_ids": [oid]})
        assert sum(D(f["size"]) for f in fills) == filled
        available, hold = bal(ex, "a", "BTC")
        assert hold == (D("0.1") - filled if order["status"] == "OPEN" else 0)
        assert available + hold == btc_before - filled


# ---------------------------------------------------------------- attached TP/SL
def entry(size: str = "0.2", price: str = "65000.00", **kw: Any) -> dict[str, Any]:
    body = limit("BUY", size, price)
    body["attached_order_configuration"] = kw.get("config", attached())
    return body


def test_attached_exit_is_linked_and_waits_for_the_entry() -> None:
    ex = make()
    resp = ex.create_order("a", entry(), T0)
    assert resp["success"], resp
    exit_id = resp["success_response"]["attached_order_id"]
    parent = ex.get_order("a", resp["order_id"])
    child = ex.get_order("a", exit_id)
    assert parent["attached_order_id"] == exit_id
    assert parent["attached_order_configuration"] == attached()
    assert child["originating_order_id"] == resp["order_id"]
    assert (child["status"], child["order_type"], child["side"], child["trigger_status"]) == (
        "PENDING",
        "BRACKET",
        "SELL",
        "STOP_PENDING",
    )
    assert child["outstanding_hold_amount"] == "0"
    assert ask_at(ex, D("65010.00")) == synthetic_at(D("65010.00"))


def test_attached_exit_grows_with_each_entry_fill_then_exits_on_the_stop() -> None:
    ex = make()
    resp = ex.create_order("a", entry(), T0)
    oid, exit_id = resp["order_id"], resp["success_response"]["attached_order_id"]
    ahead = make().book(BTC)[0][0][1]  # the synthetic bid queued before our entry at 65000
    ex.create_order("b", market("SELL", base_size=str(ahead + D("0.05"))), T0 + 1)
    assert D(ex.get_order("a", oid)["filled_size"]) == D("0.05")
    child = ex.get_order("a", exit_id)
    assert (child["status"], D(child["outstanding_hold_amount"])) == ("OPEN", D("0.05"))
    assert D(child["order_configuration"]["trigger_bracket_gtc"]["base_size"]) == D("0.05")
    assert ask_at(ex, D("65010.00")) == synthetic_at(D("65010.00")) + D("0.05")
    ex.create_order("b", market("SELL", base_size="0.15"), T0 + 2)
    assert ex.get_order("a", oid)["status"] == "FILLED"
    assert D(ex.get_order("a", exit_id)["outstanding_hold_amount"]) == D("0.2")
    sell_down_to(ex, D("64990.00"), T0 + 3)
    child = ex.get_order("a", exit_id)
    assert (child["status"], child["trigger_status"], D(child["filled_size"])) == (
        "FILLED",
        "STOP_TRIGGERED",
        D("0.2"),
    )
    assert bal(ex, "a", "BTC") == (D("100"), D("0"))  # the position is flat again


def test_entry_done_setting_sizes_the_exit_once_the_entry_ends() -> None:
    ex = make(attached_exit_activation="entry_done", cancel_latency_steps=0)
    resp = ex.create_order("a", entry(), T0)
    oid, exit_id = resp["order_id"], resp["success_response"]["attached_order_id"]
    ahead = make().book(BTC)[0][0][1]
    ex.create_order("b", market("SELL", base_size=str(ahead + D("0.05"))), T0 + 1)
    assert ex.get_order("a", exit_id)["status"] == "PENDING"
    ex.cancel_orders("a", [oid], T0 + 2)  # partially filled entry ends: the exit goes live
    child = ex.get_order("a", exit_id)
    assert (child["status"], D(child["outstanding_hold_amount"])) == ("OPEN", D("0.05"))


def test_entry_ending_unfilled_cancels_its_exit_and_market_entries_arm_at_once() -> None:
    ex = make(cancel_latency_steps=0)
    resp = ex.create_order("a", entry(price="64985.00", config=attached(sl="64980.00")), T0)
    ex.cancel_orders("a", [resp["order_id"]], T0 + 1)
    child = ex.get_order("a", resp["success_response"]["attached_order_id"])
    assert child["status"] == "CANCELLED" and child["filled_size"] == "0"
    body = market("BUY", base_size="0.1")
    body["attached_order_configuration"] = attached()
    resp = ex.create_order("a", body, T0 + 2)
    child = ex.get_order("a", resp["success_response"]["attached_order_id"])
    assert (child["status"], D(child["outstanding_hold_amount"])) == ("OPEN", D("0.1"))


def test_bad_attached_exits_are_refused() -> None:
    ex = make()
    sized = {"trigger_bracket_gtc": dict(attached()["trigger_bracket_gtc"], base_size="0.1")}
    sell = limit("SELL", "0.2", "65010.00")
    sell["attached_order_configuration"] = attached()
    stop = {"stop_limit_stop_limit_gtc": {"limit_price": "64990.00", "stop_price": "64990.00"}}
    cases = {
        "PREVIEW_INVALID_ATTACHED_TAKE_PROFIT_PRICE": entry(config=attached(tp="64990.00")),
        "PREVIEW_INVALID_ATTACHED_STOP_LOSS_PRICE": entry(config=attached(sl="65000.00")),
        "PREVIEW_ATTACHED_ORDER_SIZE_MUST_BE_NIL": entry(config=sized),
        "PREVIEW_INVALID_ORDER_TYPE_FOR_ATTACHED": entry(config=stop),
        "PREVIEW_INVALID_ORDER_SIDE_FOR_ATTACHED_TPSL": sell,
    }
    for expected, body in cases.items():
        resp = ex.create_order("a", body, T0)
        assert resp["success"] is False and reason(resp) == expected, (expected, resp)
    assert ex.list_orders("a", {}) == []
