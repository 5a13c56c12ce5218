"""A ``user`` snapshot's end carries what the snapshot listed, news or not.

The in-run read-back (botkit/runtime/resume.py, ``ReadBackInRun``) asks REST only about
the working orders a snapshot's listing does not account for; the listing is one whole
snapshot's: a snapshot cut short by a dropped connection is forgotten, so an order it
listed, which may have ended since, is not trusted as open.
"""

from __future__ import annotations

from decimal import Decimal

from botkit.market.events import OrderUpdate, UserSnapshotDone
from botkit.orders.fills import FillTracker, MemoryHwmStore, OrderHwm
from botkit.orders.model import UserEvent, UserOrder

D = Decimal


def _row(
    oid: str, cum: str = "0", status: str = "OPEN", avg: str = "0", value: str = ""
) -> UserOrder:
    return UserOrder(
        order_id=oid, client_order_id=f"c-{oid}", product_id="BTC-USD", order_side="SELL",
        order_type="LIMIT", status=status, cumulative_quantity=cum, avg_price=avg,
        filled_value=value, leaves_quantity="1",
    )  # fmt: skip


def _snapshot(t: FillTracker, *rows: UserOrder) -> list[object]:
    return list(t.on_user_event(UserEvent(type="snapshot", orders=list(rows))))


def _done(events: list[object]) -> UserSnapshotDone:
    (done,) = [e for e in events if isinstance(e, UserSnapshotDone)]
    return done


def test_a_snapshot_lists_every_order_it_listed_news_or_not() -> None:
    counted = OrderHwm("a", "c-a", "BTC-USD", "SELL", "OPEN", D("0.5"), D(50), D(0))
    t = FillTracker(MemoryHwmStore({"a": counted}))  # "a": a replay, no news
    events = _snapshot(t, _row("a", "0.5", avg="100", value="50"), _row("b"))
    assert [e.order_id for e in events if isinstance(e, OrderUpdate)] == ["b"]  # news only
    done = _done(events)
    assert done.open_orders == 2
    a, b = done.listed
    assert (a.order_id, a.client_order_id, a.side, a.status) == ("a", "c-a", "SELL", "OPEN")
    assert a.cumulative_quantity == D("0.5") and a.avg_price == D(100) and a.snapshot
    assert (b.order_id, b.cumulative_quantity) == ("b", D(0))
    assert done == UserSnapshotDone("user", 2)  # the listing is not compared
    assert _done(_snapshot(t)).listed == ()  # the next snapshot starts afresh


def test_a_snapshot_in_batches_lists_them_all() -> None:
    t = FillTracker(snapshot_batch=2)
    assert not [e for e in _snapshot(t, _row("a"), _row("b")) if isinstance(e, UserSnapshotDone)]
    done = _done(_snapshot(t, _row("c")))
    assert [u.order_id for u in done.listed] == ["a", "b", "c"] and done.open_orders == 3


def test_a_snapshot_cut_short_is_forgotten() -> None:
    """The connection dropped after a full batch: the new connection's snapshot lists only
    what it lists ("a" and "b" may have ended meanwhile; the read-back must look them up)."""
    t = FillTracker(snapshot_batch=2)
    _snapshot(t, _row("a"), _row("b"))  # then the connection drops
    t.snapshot_restarts()  # the feed, on the new connection
    done = _done(_snapshot(t, _row("c")))
    assert [u.order_id for u in done.listed] == ["c"] and done.open_orders == 1


def test_a_gap_during_a_snapshot_leaves_it_listing_nothing() -> None:
    """A message lost between two batches (a sequence gap) may have ended an order an
    earlier batch listed open: that snapshot lists nothing (the read-back then looks every
    working order up). It restored the gapped listing at its end (a review's finding)."""
    t = FillTracker(snapshot_batch=2)
    _snapshot(t, _row("a"), _row("b"))
    t.gap()  # the feed, on the user protocol's gap
    done = _done(_snapshot(t, _row("c")))
    assert done.listed == () and done.open_orders == 3
    # the next snapshot is whole again; a gap with no snapshot under way changes nothing
    t.gap()
    assert [u.order_id for u in _done(_snapshot(t, _row("d"))).listed] == ["d"]
