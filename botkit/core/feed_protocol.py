"""Core ring: one WebSocket connection's protocol state, sans-I/O (text in, events out).

Like ``websockets``/``h11``, this object never touches a socket or a clock: the I/O
layer (:mod:`botkit.feed`) calls :meth:`FeedProtocol.receive` with each frame and
gets typed events back, asks :meth:`FeedProtocol.subscribe_messages` what to send
after connecting, and drains :meth:`FeedProtocol.take_requests` for what the
protocol needs done (resubscribe level2, reconnect). That is what makes sequence and
book logic testable synchronously, and replayable from a recording.

Sequence policy (reference §3.4, measured behaviour): ``sequence_num`` is one
counter per connection across all channels, starting anew on each connection.

* lower or equal to the last seen -> duplicate/out of order: ignored, counted;
* a jump -> some message of *unknown* channel was lost: every book on this
  connection is invalidated (a :class:`BookInvalidated` event each), a
  :class:`SequenceGapDetected` event is emitted, and a level2 resync is
  requested (or a reconnect, per ``gap_policy``); with ``user`` subscribed a
  REST backfill is requested too;
* updates for an invalid book are dropped until its new snapshot arrives.

What is exchanged with the I/O layer (subscriptions, requests, stats, outbound
messages, error hints) is plain data in :mod:`botkit.core.feed_requests`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal

from botkit.core import messages as m
from botkit.core.book import L2Book
from botkit.core.feed_events import (
    BookInvalidated,
    CandlesReceived,
    FeedErrorReceived,
    FeedEvent,
    Heartbeat,
    SequenceGapDetected,
    StatusReceived,
    Subscribed,
    TickersReceived,
    TradesReceived,
    book_changed,
)
from botkit.core.feed_requests import (
    Backfill,
    FeedStats,
    Reconnect,
    Request,
    ResyncLevel2,
    Subscription,
    error_hint,
    subscription_message,
)
from botkit.core.fills import FillTracker
from botkit.errors import BookInvalid, FeedSubscriptionError, SequenceGap

__all__ = [
    "BULK_FRAME_BYTES",
    "Backfill",
    "FeedProtocol",
    "FeedStats",
    "Reconnect",
    "Request",
    "ResyncLevel2",
    "Subscription",
    "error_hint",
]

log = logging.getLogger("botkit.feed")

BULK_FRAME_BYTES = 1 << 20
"""Frames longer than this (1 MiB) that are ``l2_data`` are decoded slice by slice.

Only full snapshots of deep books get there (a 30 000-level BTC-USD snapshot is ~3 MB);
decoding one at once costs ~5 MB of short-lived objects, which CPython mostly keeps.
"""
_decode_fast = m.decode_fast
_book_changed = book_changed


class FeedProtocol:
    """State of one feed connection. Reset with :meth:`connection_opened` per connection.

    Args:
        name: label for logs and events (e.g. ``"market-0"``).
        subscriptions: what this connection subscribes, one message each;
            ``heartbeats`` is added when missing.
        books: level2 books of this connection's products (created when missing).
        fills: the user-channel tracker, when ``user`` is subscribed here.
        gap_policy: ``"resubscribe"`` (level2 unsubscribe + subscribe) or ``"reconnect"``.
        level2_cap: the configured per-connection level2 cap, quoted in hints.
    """

    def __init__(
        self,
        name: str,
        subscriptions: Sequence[Subscription],
        *,
        books: dict[str, L2Book] | None = None,
        fills: FillTracker | None = None,
        gap_policy: Literal["resubscribe", "reconnect"] = "resubscribe",
        level2_cap: int = 16,
    ) -> None:
        self.name = name
        subs = list(subscriptions)
        if not any(s.channel == "heartbeats" for s in subs):
            subs.insert(0, Subscription("heartbeats"))
        self.subscriptions = tuple(subs)
        self.books: dict[str, L2Book] = books if books is not None else {}
        for s in self.subscriptions:
            if s.channel == "level2":
                for pid in s.product_ids:
                    self.books.setdefault(pid, L2Book(pid))
        self.fills = fills
        self.gap_policy = gap_policy
        self.level2_cap = level2_cap
        self.stats = FeedStats()
        self.around_bulk: Callable[[], None] | None = None
        """Called before and after a bulk frame (see :data:`BULK_FRAME_BYTES`); the I/O
        layer hands freed memory back to the OS there. Pure code only calls it."""
        self.last_seq: int | None = None
        self._heartbeat_counter: int | None = None
        self.requests: list[Request] = []  # drained by take_requests(); same list for life
        self._channels = {s.channel for s in self.subscriptions}

    # -- connection lifecycle -----------------------------------------------------------------

    def connection_opened(self) -> list[FeedEvent]:
        """A new connection: sequence restarts; books wait for their new snapshots."""
        self.last_seq = None
        self._heartbeat_counter = None
        self.requests.clear()
        return self._invalidate_all("reconnected: waiting for a new snapshot")

    def connection_lost(self, reason: str) -> list[FeedEvent]:
        """The connection ended: books cannot be kept up to date until resubscribed."""
        return self._invalidate_all(f"connection lost: {reason}")

    def _invalidate_all(self, reason: str) -> list[FeedEvent]:
        out: list[FeedEvent] = []
        for pid, book in self.books.items():
            if book.valid:
                book.invalidate(reason)
                out.append(BookInvalidated(pid, BookInvalid(f"{pid}: {reason}")))
            else:
                book.invalid_reason = reason
        return out

    # -- outbound ------------------------------------------------------------------------------

    def subscribe_messages(self, token: Callable[[], str | None]) -> list[str]:
        """Every subscribe message for a fresh connection, ``heartbeats`` first."""
        return [
            subscription_message("subscribe", s.channel, s.product_ids, token)
            for s in self.subscriptions
        ]

    def resync_messages(self, pids: Sequence[str], token: Callable[[], str | None]) -> list[str]:
        """Unsubscribe + subscribe level2 for ``pids``: new subscriptions start with a snapshot."""
        self.stats.resyncs += 1
        return [
            subscription_message("unsubscribe", "level2", pids, token),
            subscription_message("subscribe", "level2", pids, token),
        ]

    def barrier_message(self, token: Callable[[], str | None]) -> str:
        """A repeated ``heartbeats`` subscribe: a no-op whose ack follows every earlier frame.

        Used by ``MarketDataFeed.sync()``. ``heartbeats`` is on every connection and
        takes no products, so subscribing it again changes nothing but is acknowledged.
        """
        return subscription_message("subscribe", "heartbeats", (), token)

    @property
    def pending(self) -> bool:
        """True when :meth:`take_requests` has something (cheap, checked per frame)."""
        return bool(self.requests)

    def take_requests(self) -> list[Request]:
        """What the I/O layer must do now (each request is returned once)."""
        out = self.requests[:]
        self.requests.clear()  # in place: the I/O layer holds the list to test it per frame
        return out

    # -- inbound -------------------------------------------------------------------------------

    def receive(self, data: str | bytes) -> list[FeedEvent]:
        """Process one frame; never raises because of what the server sent."""
        self.stats.frames += 1
        if len(data) > BULK_FRAME_BYTES:
            bulk = m.decode_l2_bulk(data)
            if bulk is not None:
                if self.around_bulk is not None:
                    self.around_bulk()
                try:
                    return self._receive_bulk(bulk)
                finally:
                    del bulk
                    if self.around_bulk is not None:
                        self.around_bulk()
        frame: m.Frame
        try:
            frame = _decode_fast(data)
        except m.DecodeFailed:
            frame = m.decode_frame(data, fast_l2=True)  # say what it was
        if isinstance(frame, m.L2Data):  # the hot path: in-order level2 frames
            seq = frame.sequence_num
            last = self.last_seq
            if last is not None and seq == last + 1:
                self.last_seq = seq
                events: list[FeedEvent] = []
            else:
                seq_events = self._sequence(seq)
                if seq_events is None:
                    return []
                events = seq_events
            books = self.books
            try:  # _on_l2, inlined: this runs for every level2 frame
                for ev in frame.events:
                    book = books.get(ev.product_id)
                    if book is None:
                        continue  # not ours (e.g. a level2 sub left over from a resync race)
                    snapshot = ev.type == "snapshot"
                    if snapshot:
                        crossed = book.apply_snapshot(ev.updates)
                    elif book.valid:
                        crossed = book.apply_wire_updates(ev.updates)
                    else:
                        continue  # waiting for the resync snapshot
                    if crossed:
                        events.extend(self._gap_recovery(f"{ev.product_id} book crossed"))
                        return events
                    events.append(_book_changed(ev.product_id, book, snapshot, seq))
            except ValueError as exc:  # e.g. an unparseable price: the data cannot be trusted
                self._bad_data(exc, events)
            return events
        if isinstance(frame, m.ErrorFrame):
            return self._on_error(frame)
        if isinstance(frame, m.Malformed):
            return self._on_malformed(frame)
        events_ = self._sequence(frame.sequence_num)
        if events_ is None:
            return []
        if isinstance(frame, m.UnknownMessage):
            self.stats.unknown += 1
            log.debug("feed: %s ignoring unknown channel %r", self.name, frame.channel)
            return events_
        try:
            self._dispatch(frame, events_)
        except ValueError as exc:
            self._bad_data(exc, events_)
        return events_

    def _receive_bulk(self, frame: m.L2Bulk) -> list[FeedEvent]:
        """A very large ``l2_data`` frame: the same as the hot path, levels slice by slice."""
        seq = frame.sequence_num
        events = self._sequence(seq)
        if events is None:
            return []
        books = self.books
        try:
            for ev in frame.events:
                book = books.get(ev.product_id)
                if book is None:
                    continue
                snapshot = ev.type == "snapshot"
                if snapshot:
                    crossed = book.apply_snapshot_batches(ev.batches())
                elif book.valid:
                    for batch in ev.batches():
                        book.apply_updates(batch)
                    crossed = book.crossed
                else:
                    continue
                if crossed:
                    events.extend(self._gap_recovery(f"{ev.product_id} book crossed"))
                    return events
                events.append(_book_changed(ev.product_id, book, snapshot, seq))
        except ValueError as exc:  # a bad level (msgspec's errors are ValueErrors too)
            self._bad_data(exc, events)
        return events

    def _on_malformed(self, frame: m.Malformed) -> list[FeedEvent]:
        """Count and log; a lost ``l2_data`` frame means the books missed changes: resync."""
        self.stats.malformed += 1
        self.stats.last_problem = frame.problem[:200]
        log.warning("feed: %s malformed frame ignored: %s", self.name, frame.problem[:200])
        if frame.sequence_num is None:
            return []
        events = self._sequence(frame.sequence_num)
        if events is None:
            return []
        if not events and frame.channel == "l2_data" and self.books:  # (a gap already resyncs)
            events.extend(self._gap_recovery(f"malformed l2_data frame: {frame.problem[:200]}"))
        return events

    def _bad_data(self, exc: ValueError, events: list[FeedEvent]) -> None:
        self.stats.malformed += 1
        self.stats.last_problem = str(exc)[:200]
        events.extend(self._gap_recovery(f"bad data: {exc}"))

    def _sequence(self, seq: int | None) -> list[FeedEvent] | None:
        """Check ``seq``: None means "drop this frame"; a list holds gap events, if any."""
        last = self.last_seq
        if seq is None:
            return []
        if last is not None and seq <= last:
            self.stats.duplicates += 1
            return None
        self.last_seq = seq
        if last is None or seq == last + 1:
            return []
        self.stats.gaps += 1
        err = SequenceGap(f"{self.name}: expected sequence_num {last + 1}, got {seq}")
        events: list[FeedEvent] = [SequenceGapDetected(self.name, last + 1, seq, err)]
        events.extend(self._gap_recovery(f"sequence gap {last + 1}..{seq - 1}"))
        return events

    def _gap_recovery(self, reason: str) -> list[FeedEvent]:
        events = self._invalidate_all(reason)
        if self.gap_policy == "reconnect":
            self.requests.append(Reconnect(reason))
            return events
        if self.books:
            self.requests.append(ResyncLevel2(tuple(self.books)))
        if self.fills is not None:
            self.requests.append(Backfill(reason))
        return events

    def _on_error(self, frame: m.ErrorFrame) -> list[FeedEvent]:
        self.stats.errors += 1
        text = frame.message + (f": {frame.reason}" if frame.reason else "")
        hint = error_hint(frame.message, self.level2_cap)
        err = FeedSubscriptionError(f"{self.name}: Coinbase error frame '{text}'. Fix: {hint}")
        return [FeedErrorReceived(self.name, err)]

    def _on_l2(self, frame: m.L2Data | m.L2Message, out: list[FeedEvent]) -> None:
        seq = frame.sequence_num
        books = self.books
        for ev in frame.events:
            book = books.get(ev.product_id)
            if book is None:
                continue  # not ours (e.g. a level2 sub left over from a resync race)
            snapshot = ev.type == "snapshot"
            if snapshot:
                crossed = book.apply_snapshot(ev.updates)
            elif book.valid:
                crossed = book.apply_updates(ev.updates)
            else:
                continue  # waiting for the resync snapshot
            if crossed:
                out.extend(self._gap_recovery(f"{ev.product_id} book crossed"))
                return
            out.append(_book_changed(ev.product_id, book, snapshot, seq))

    def _missed(self, counter: int) -> int:
        """Heartbeats skipped before ``counter`` (0 when in order, unknown or restarted).

        With ``sequence_num`` in order, a jump in the counter means the server itself
        did not send them (a stalled or overloaded endpoint), not that we lost frames:
        counted and logged for diagnosis, no recovery needed.
        """
        last, self._heartbeat_counter = self._heartbeat_counter, counter
        if last is None or counter < 0 or counter <= last + 1:
            return 0  # first, unparseable, in order, or restarted (e.g. a re-subscribe)
        missed = counter - last - 1
        self.stats.heartbeat_gaps += 1
        log.info("feed: %s: %d heartbeat(s) skipped by the server", self.name, missed)
        return missed

    def _dispatch(self, frame: m.Envelope, out: list[FeedEvent]) -> None:
        if isinstance(frame, m.L2Message):
            self._on_l2(frame, out)
        elif isinstance(frame, m.HeartbeatsMessage):
            self.stats.heartbeats += 1
            for hb in frame.events:
                counter = int(hb.heartbeat_counter) if hb.heartbeat_counter.isdigit() else -1
                out.append(Heartbeat(self.name, counter, hb.current_time, self._missed(counter)))
        elif isinstance(frame, m.TickerMessage | m.TickerBatchMessage):
            batch = isinstance(frame, m.TickerBatchMessage)
            for tev in frame.events:
                out.append(TickersReceived(tev.type, tuple(tev.tickers), batch))
        elif isinstance(frame, m.MarketTradesMessage):
            for trev in frame.events:
                out.append(TradesReceived(trev.type, tuple(trev.trades)))
        elif isinstance(frame, m.CandlesMessage):
            for cev in frame.events:
                out.append(CandlesReceived(cev.type, tuple(cev.candles)))
        elif isinstance(frame, m.StatusMessage):
            for sev in frame.events:
                out.append(StatusReceived(sev.type, tuple(sev.products)))
        elif isinstance(frame, m.SubscriptionsMessage):
            self.stats.acks += 1
            for aev in frame.events:
                out.append(Subscribed(self.name, aev.subscriptions))
        elif isinstance(frame, m.UserMessage) and self.fills is not None:
            for uev in frame.events:
                out.extend(self.fills.on_user_event(uev, self.name))
