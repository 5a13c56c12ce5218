"""Cumulative user-channel states -> order updates + synthesised fills, deduplicated."""

from __future__ import annotations

from decimal import Decimal

from botkit.market.events import FillEvent, OrderUpdate, UserSnapshotDone
from botkit.orders.fills import FillTracker, MemoryHwmStore
from botkit.venues.advanced_trade.messages import UserEvent, UserOrder

D = Decimal


def order(cum, avg, status="OPEN", fees="0", value=""):
    return UserOrder(
        order_id="o1",
        client_order_id="c1",
        product_id="BTC-USD",
        order_side="BUY",
        status=status,
        cumulative_quantity=cum,
        avg_price=avg,
        total_fees=fees,
        filled_value=value,
        leaves_quantity="1",
    )


def upd(*orders, kind="update"):
    return UserEvent(type=kind, orders=list(orders))


def fills(events):
    return [e for e in events if isinstance(e, FillEvent)]


def test_fills_from_cumulative_deltas():
    t = FillTracker()
    ev = t.on_user_event(upd(order("0", "0")))
    assert [type(e) for e in ev] == [OrderUpdate]
    (f1,) = fills(t.on_user_event(upd(order("1", "100", fees="0.6"))))
    assert (f1.size, f1.price, f1.fee, f1.fill_id) == (D(1), D(100), D("0.6"), "o1:1")
    (f2,) = fills(t.on_user_event(upd(order("3", "110", "FILLED", fees="1.8"))))
    # (110*3 - 100*1) / 2 = 115
    assert (f2.size, f2.price, f2.fee, f2.fill_id) == (D(2), D(115), D("1.2"), "o1:3")
    assert t.open_order_ids() == []


def test_filled_value_preferred_over_rounded_avg():
    t = FillTracker()
    (f,) = fills(t.on_user_event(upd(order("3", "33.33", value="100"))))
    assert f.price == D(100) / 3


def test_replays_are_deduplicated_across_restarts():
    store = MemoryHwmStore()
    t = FillTracker(store)
    t.on_user_event(upd(order("1", "100")))
    assert t.on_user_event(upd(order("1", "100"))) == []  # replay: nothing new
    t2 = FillTracker(store)  # restart with the persisted HWMs
    assert fills(t2.on_user_event(upd(order("1", "100"), kind="snapshot"))) == []
    (f,) = fills(t2.on_user_event(upd(order("2", "100"))))
    assert f.size == 1 and t2.open_order_ids() == ["o1"]


def test_snapshot_end_detection():
    t = FillTracker(snapshot_batch=2)
    ev = t.on_user_event(upd(order("0", "0"), kind="snapshot"))
    assert ev[-1] == UserSnapshotDone("user", 1)


def test_rest_backfill_reports_missing_part_once():
    t = FillTracker()
    t.on_user_event(upd(order("1", "100")))
    rest = [
        {"order_id": "o1", "trade_id": "t1", "price": "100", "size": "1", "commission": "0.1"},
        {"order_id": "o1", "trade_id": "t2", "price": "130", "size": "2", "commission": "0.2"},
    ]
    (f,) = t.reconcile_rest_fills(rest)
    assert (f.size, f.price, f.source, f.trade_ids) == (D(2), D(130), "rest", ("t1", "t2"))
    assert t.reconcile_rest_fills(rest) == []
    assert fills(t.on_user_event(upd(order("3", "120", "FILLED")))) == []  # ws catches up: no dup


def test_terminal_order_is_not_reopened_by_a_late_replay():
    t = FillTracker()
    t.on_user_event(upd(order("1", "100", "FILLED")))
    assert t.on_user_event(upd(order("1", "100", "OPEN"))) == []
    assert t.hwms["o1"].status == "FILLED"


def _one(i: int, status: str, cum: str) -> UserOrder:
    return UserOrder(
        order_id=f"o{i}", client_order_id=f"c{i}", product_id="BTC-USD", order_side="BUY",
        status=status, cumulative_quantity=cum, avg_price="100", total_fees="0",
        filled_value="", leaves_quantity="0",
    )  # fmt: skip


def test_finished_orders_are_released_and_a_late_replay_is_ignored():
    store = MemoryHwmStore()
    t = FillTracker(store, keep_finished=100, remember_released=1000)
    for i in range(5000):  # a long run: every order opens, fills, finishes
        t.on_user_event(upd(_one(i, "OPEN", "0")))
        t.on_user_event(upd(_one(i, "FILLED", "1")))
        assert len(t.hwms) <= 101 and len(store.rows) <= 101
    assert len(t.hwms) == 100 and "o4999" in t.hwms and "o0" not in t.hwms
    # a replay of a released, filled order after a reconnect: no second fill, no update
    assert t.on_user_event(upd(_one(4800, "FILLED", "1"))) == []
    assert t.ignored_released == 1
    # open orders are never released, however many finish after them
    t2 = FillTracker(keep_finished=10)
    t2.on_user_event(upd(_one(-1, "OPEN", "0")))
    for i in range(100):
        t2.on_user_event(upd(_one(i, "FILLED", "1")))
    assert "o-1" in t2.hwms and t2.open_order_ids() == ["o-1"]


def test_the_default_retention_reaches_its_bound_within_minutes_of_a_busy_bot():
    """12 000 orders (1.5 hours of the soak's 134 a minute) with the default retention.

    The bound is reached after 1 000 + 4 096 finished orders (~38 minutes of the soak)
    and stays there: a bot trading for weeks holds 1 000 HWMs and 4 096 released ids.
    Replays of the latest released orders are still ignored; one older than the
    remembered ids is past the bound (in practice an update is never that late).
    """
    t = FillTracker()
    for i in range(12_000):
        t.on_user_event(upd(_one(i, "OPEN", "0")))
        t.on_user_event(upd(_one(i, "FILLED", "1")))
        assert len(t.hwms) <= 1001
    assert len(t.hwms) == 1000 and "o11999" in t.hwms and "o10999" not in t.hwms
    assert t.on_user_event(upd(_one(10_999, "FILLED", "1"))) == []  # released last
    assert t.on_user_event(upd(_one(11_000 - 4096, "FILLED", "1"))) == []  # oldest remembered
    assert t.ignored_released == 2
    forgotten = t.on_user_event(upd(_one(11_000 - 4097, "FILLED", "1")))
    assert [type(e) for e in forgotten] == [OrderUpdate, FillEvent]  # past the bound
