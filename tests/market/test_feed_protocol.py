"""FeedProtocol, sans-I/O: subscriptions, sequence tracking, gap recovery, error hints."""

from __future__ import annotations

import json
from decimal import Decimal
from itertools import count

from botkit.errors import BookInvalid, FeedSubscriptionError, SequenceGap
from botkit.market.book import L2Book
from botkit.market.events import (
    BookChanged,
    BookInvalidated,
    FeedErrorReceived,
    Heartbeat,
    SequenceGapDetected,
    Subscribed,
)
from botkit.orders.fills import FillTracker
from botkit.venues.advanced_trade import messages as m
from botkit.venues.advanced_trade.ws_protocol import (
    BULK_FRAME_BYTES,
    Backfill,
    FeedProtocol,
    Reconnect,
    ResyncLevel2,
    Subscription,
)


def frame(seq, channel, events):
    return json.dumps(
        {
            "channel": channel,
            "client_id": "",
            "timestamp": "",
            "sequence_num": seq,
            "events": events,
        }
    )


def l2(seq, kind, *levels, pid="BTC-USD"):
    ups = [{"side": s, "event_time": "", "price_level": p, "new_quantity": q} for s, p, q in levels]
    return frame(seq, "l2_data", [{"type": kind, "product_id": pid, "updates": ups}])


def hb(seq, n=1):
    return frame(seq, "heartbeats", [{"current_time": "x", "heartbeat_counter": str(n)}])


def proto(**kw):
    return FeedProtocol("market-0", [Subscription("level2", ("BTC-USD",))], **kw)


def test_subscribe_messages_one_channel_each_fresh_jwt_heartbeats_first():
    tokens = count()
    msgs = [json.loads(t) for t in proto().subscribe_messages(lambda: f"jwt-{next(tokens)}")]
    assert msgs == [
        {"type": "subscribe", "channel": "heartbeats", "jwt": "jwt-0"},
        {"type": "subscribe", "channel": "level2", "product_ids": ["BTC-USD"], "jwt": "jwt-1"},
    ]
    assert "jwt" not in json.loads(proto().subscribe_messages(lambda: None)[1])


def test_snapshot_updates_and_sequence():
    p = proto()
    p.connection_opened()
    assert p.receive(frame(0, "subscriptions", [{"subscriptions": {"level2": ["BTC-USD"]}}])) == [
        Subscribed("market-0", {"level2": ["BTC-USD"]})
    ]
    (ev,) = p.receive(l2(1, "snapshot", ("bid", "10", "1"), ("offer", "11", "2")))
    assert isinstance(ev, BookChanged) and ev.snapshot and ev.sequence_num == 1
    p.receive(l2(2, "update", ("bid", "10.5", "3")))
    assert p.books["BTC-USD"].best_bid() == (Decimal("10.5"), Decimal(3))
    (beat,) = p.receive(hb(3, 42))
    assert beat == Heartbeat("market-0", 42, "x")
    assert p.last_seq == 3 and p.stats.frames == 4


def test_duplicates_and_older_frames_are_ignored():
    p = proto()
    p.connection_opened()
    p.receive(l2(5, "snapshot", ("bid", "10", "1"), ("offer", "11", "2")))
    assert p.receive(l2(5, "update", ("bid", "10", "9"))) == []
    assert p.receive(l2(4, "update", ("bid", "10", "9"))) == []
    assert p.books["BTC-USD"].best_bid()[1] == 1 and p.stats.duplicates == 2


def test_gap_invalidates_books_and_requests_resync_then_snapshot_restores():
    p = proto()
    p.connection_opened()
    p.receive(l2(0, "snapshot", ("bid", "10", "1"), ("offer", "11", "2")))
    events = p.receive(hb(3))
    gap = next(e for e in events if isinstance(e, SequenceGapDetected))
    assert (gap.expected, gap.received) == (1, 3) and isinstance(gap.error, SequenceGap)
    inv = next(e for e in events if isinstance(e, BookInvalidated))
    assert isinstance(inv.error, BookInvalid) and not p.books["BTC-USD"].valid
    assert p.pending and p.take_requests() == [ResyncLevel2(("BTC-USD",))] and not p.pending
    assert p.receive(l2(4, "update", ("bid", "10", "7"))) == []  # dropped while invalid
    msgs = [json.loads(t) for t in p.resync_messages(("BTC-USD",), lambda: None)]
    assert [(x["type"], x["channel"]) for x in msgs] == [
        ("unsubscribe", "level2"),
        ("subscribe", "level2"),
    ]
    p.receive(l2(5, "snapshot", ("bid", "9", "1"), ("offer", "11", "2")))
    assert p.books["BTC-USD"].valid and p.books["BTC-USD"].best_bid()[0] == 9


def test_gap_policy_reconnect_and_user_backfill():
    p = proto(gap_policy="reconnect")
    p.connection_opened()
    p.receive(hb(0))
    p.receive(hb(2))
    assert isinstance(p.take_requests()[0], Reconnect)
    u = FeedProtocol("user", [Subscription("user")], fills=FillTracker())
    u.connection_opened()
    u.receive(hb(0))
    u.receive(hb(9))
    assert u.take_requests() == [Backfill("sequence gap 1..8")]


def test_new_connection_resets_sequence_and_invalidates():
    p = proto()
    p.connection_opened()
    p.receive(l2(10, "snapshot", ("bid", "10", "1"), ("offer", "11", "2")))
    (inv,) = p.connection_opened()
    assert isinstance(inv, BookInvalidated) and p.last_seq is None
    assert p.receive(hb(0)) == [Heartbeat("market-0", 1, "x")]  # 0 < 10 but a new connection


def test_malformed_unknown_and_crossed():
    p = proto()
    p.connection_opened()
    assert p.receive("{not json") == [] and p.stats.malformed == 1
    p.receive(l2(0, "snapshot", ("bid", "10", "1"), ("offer", "11", "2")))
    assert p.receive(frame(1, "brand_new_channel", [{}])) == [] and p.stats.unknown == 1
    events = p.receive(l2(2, "update", ("bid", "12", "1")))
    assert any(isinstance(e, BookInvalidated) for e in events)
    assert p.take_requests() == [ResyncLevel2(("BTC-USD",))]
    events = p.receive(l2(3, "snapshot", ("bid", "x1", "1")))  # bad price: resync, no crash
    assert p.stats.malformed == 2 and p.take_requests() == [ResyncLevel2(("BTC-USD",))]


def test_bad_quantity_invalidates_the_book_and_resyncs():
    p = proto()
    p.connection_opened()
    p.receive(l2(0, "snapshot", ("bid", "10", "1"), ("offer", "11", "2")))
    events = p.receive(l2(1, "update", ("bid", "10", "-3")))
    assert any(isinstance(e, BookInvalidated) for e in events) and p.stats.malformed == 1
    assert p.take_requests() == [ResyncLevel2(("BTC-USD",))] and not p.books["BTC-USD"].valid


def test_error_frames_carry_hints():
    p = proto(level2_cap=16)
    (ev,) = p.receive('{"type":"error","message":"authentication failure"}')
    assert isinstance(ev, FeedErrorReceived) and isinstance(ev.error, FeedSubscriptionError)
    assert "heartbeats" in str(ev.error) and "CDP key" in str(ev.error)
    (ev,) = p.receive(
        '{"type":"error","message":"too many L2 streams requested in a single session"}'
    )
    assert "max_level2_per_connection" in str(ev.error) and "16" in str(ev.error)
    assert p.stats.errors == 2 and p.last_seq is None


def test_barrier_is_a_repeated_heartbeats_subscribe():
    msg = json.loads(proto().barrier_message(lambda: "t"))
    assert msg == {"type": "subscribe", "channel": "heartbeats", "jwt": "t"}


def test_malformed_l2_data_frame_resyncs_instead_of_losing_changes():
    p = proto()
    p.connection_opened()
    p.receive(l2(0, "snapshot", ("bid", "10", "1"), ("offer", "11", "2")))
    bad = frame(1, "l2_data", [{"type": "update", "product_id": "BTC-USD", "updates": 7}])
    events = p.receive(bad)  # valid JSON, wrong shape, in sequence: its changes are lost
    assert any(isinstance(e, BookInvalidated) for e in events) and p.stats.malformed == 1
    assert p.take_requests() == [ResyncLevel2(("BTC-USD",))] and p.last_seq == 1
    assert p.receive(frame(2, "heartbeats", "junk")) == [] and not p.take_requests()


def big_snapshot(seq, n, pid="BTC-USD"):
    """A level2 snapshot frame over BULK_FRAME_BYTES: n bids and n asks around 50 000."""
    levels = [("bid", f"{50_000 - i}.{i % 100:02d}", f"0.{i + 1:08d}") for i in range(n)]
    levels += [("offer", f"{50_001 + i}.{i % 100:02d}", "1") for i in range(n)]
    return l2(seq, "snapshot", *levels, pid=pid)


def test_bulk_snapshot_is_applied_slice_by_slice_and_equals_the_plain_path():
    data = big_snapshot(0, 6000)
    assert len(data) > BULK_FRAME_BYTES
    calls = []
    p = proto()
    p.around_bulk = lambda: calls.append(1)
    p.connection_opened()
    (ev,) = p.receive(data.encode())
    assert isinstance(ev, BookChanged) and ev.snapshot and ev.sequence_num == 0
    assert calls == [1, 1]  # the I/O layer's hook runs before and after
    book = L2Book("BTC-USD")  # the plain path: the whole frame decoded at once
    decoded = m.decode_frame(data, fast_l2=True)
    assert isinstance(decoded, m.L2Data)
    book.apply_snapshot(decoded.events[0].updates)
    assert p.books["BTC-USD"].depth() == book.depth() and len(book) == 12_000
    events = p.receive(l2(1, "update", ("bid", "49999.01", "0")))
    assert events[0] == BookChanged("BTC-USD", p.books["BTC-USD"], False, 1)


def test_bulk_frame_with_a_bad_level_resyncs():
    data = big_snapshot(0, 6000).replace('"new_quantity": "1"', '"new_quantity": 1', 1)
    p = proto()
    p.connection_opened()
    events = p.receive(data)
    assert any(isinstance(e, BookInvalidated) for e in events) or not p.books["BTC-USD"].valid
    assert p.take_requests() == [ResyncLevel2(("BTC-USD",))] and p.stats.malformed == 1


def test_heartbeat_counter_gaps_are_counted_not_recovered():
    p = proto()
    p.connection_opened()
    assert p.receive(hb(0, 5)) == [Heartbeat("market-0", 5, "x")]
    assert p.receive(hb(1, 6)) == [Heartbeat("market-0", 6, "x", 0)]
    (beat,) = p.receive(hb(2, 9))  # sequence in order, counter jumped: the server skipped two
    assert beat.missed == 2 and p.stats.heartbeat_gaps == 1 and not p.take_requests()
    assert p.receive(hb(3, 1))[0].missed == 0  # restarted (a re-subscribe): not a gap
    p.connection_opened()
    assert p.receive(hb(0, 50))[0].missed == 0  # a new connection starts afresh
