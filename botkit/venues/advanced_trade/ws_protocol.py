"""Core ring: Advanced Trade's WebSocket protocol, one connection's state, sans-I/O.

This is the venue's :class:`~botkit.market.session.FeedSession` (frames in, events out);
the feed (:mod:`botkit.market.feed`) drives it without knowing the venue.

Like ``websockets``/``h11``, this object never touches a socket or a clock: the I/O
layer (:mod:`botkit.market.feed`) calls :meth:`FeedProtocol.receive` with each frame and
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
* more than ``WireLimits.max_sequence_jump`` ahead (or negative) -> a protocol
  fault, not a gap: the books are invalidated and a reconnect is requested;
* updates for an invalid book are dropped until its new snapshot arrives.

Refusal policy: a frame that cannot be decoded, breaks the schema (an unknown event
``type``), carries a number Coinbase never sends (:class:`WireLimits`), or makes
anything raise while it is applied is *refused*: counted in ``stats.malformed``,
logged at WARNING with the connection, the product when known and a short reason,
and never handed on. If it may have touched or skipped book changes, the books are
resynchronised as for a gap. ``stats.accepted`` counts the frames that passed the
sequence check and decoded: the I/O layer's watchdog keys on it, so a connection
that keeps sending frames none of which is accepted is stale.

What is exchanged with the I/O layer (subscriptions, requests, stats, outbound
messages, error hints) is plain data in :mod:`botkit.market.requests`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from botkit.errors import BookInvalid, FeedSubscriptionError, SequenceGap
from botkit.market import book as _book_module
from botkit.market.book import L2Book
from botkit.market.book_levels import DEFAULT_LIMITS, WireLimits
from botkit.market.events import (
    BookChanged,
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
from botkit.market.requests import (
    Backfill,
    FeedStats,
    Reconnect,
    Request,
    ResyncLevel2,
    Subscription,
)
from botkit.orders.fills import FillTracker
from botkit.venues.advanced_trade import messages as m
from botkit.venues.advanced_trade.messages import encode_message

if TYPE_CHECKING:
    from botkit.market._l2kernel import L2RawFrame

__all__ = [
    "BULK_FRAME_BYTES",
    "Backfill",
    "FeedProtocol",
    "FeedStats",
    "Reconnect",
    "Request",
    "ResyncLevel2",
    "Subscription",
    "WireLimits",
    "error_hint",
    "subscription_message",
]

log = logging.getLogger("botkit.market.feed")

BULK_FRAME_BYTES = 1 << 20
"""Frames longer than this (1 MiB) that are ``l2_data`` are decoded slice by slice.

Only full snapshots of deep books get there (a 30 000-level BTC-USD snapshot is ~3 MB);
decoding one at once costs ~5 MB of short-lived objects, which CPython mostly keeps.
"""
LOGGED_REFUSALS = 50
"""Refused frames logged one by one per connection; after that, every 100th."""
_decode_fast = m.decode_fast
_L2Data = m.L2Data
_book_changed = _book_module.compiled_event_constructor(BookChanged) or book_changed


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
        limits: what a frame may carry (numbers, sequence jumps); beyond is refused.
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
        limits: WireLimits = DEFAULT_LIMITS,
    ) -> None:
        self.name = name
        self.limits = limits
        subs = list(subscriptions)
        if not any(s.channel == "heartbeats" for s in subs):
            subs.insert(0, Subscription("heartbeats"))
        self.subscriptions = tuple(subs)
        self.books: dict[str, L2Book] = books if books is not None else {}
        for s in self.subscriptions:
            if s.channel == "level2":
                for pid in s.product_ids:
                    if pid not in self.books:
                        self.books[pid] = L2Book(pid, limits=limits)
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
        """Process one frame; never raises, whatever the server sent.

        Any failure while decoding or applying a frame makes it a malformed frame:
        counted (``stats.malformed``), logged at WARNING with a short reason, and the
        books it may have touched resynchronised (:meth:`_refuse`).
        """
        self.stats.frames += 1
        try:
            if len(data) > BULK_FRAME_BYTES:
                bulk = m.decode_l2_bulk(data)
                if bulk is not None:
                    return self._receive_bulk(bulk)
            # The compiled decoder reads a plain l2_data frame straight into C (no
            # per-level objects); anything else, and every frame without the kernel,
            # goes through msgspec as before (book.frame_parser is None then).
            parse = _book_module.frame_parser
            raw = parse(data, self.books) if parse is not None else None
            frame: m.L2Data | L2RawFrame
            if raw is not None:
                frame = raw
            else:
                decoded: m.Frame
                try:
                    decoded = _decode_fast(data)
                except Exception:  # DecodeFailed, RecursionError (deep nesting), MemoryError...
                    decoded = m.decode_frame(data, fast_l2=True, limits=self.limits)  # what was it?
                if type(decoded) is not _L2Data:
                    return self._receive_other(decoded)
                frame = decoded  # an L2Data: tested just above
            # the hot path: level2 frames (either form), in order
            seq = frame.sequence_num
            last = self.last_seq
            if last is not None and seq == last + 1:
                self.last_seq = seq
                self.stats.accepted += 1
                apply = _book_module.apply_raw_frame  # _apply_l2, its common case compiled
                if raw is not None and apply is not None:
                    return apply(self, raw)
                return self._apply_l2(frame, [], False, raw is not None)
            events: list[FeedEvent] = []
            if self._sequence(seq, events):
                self.stats.accepted += 1
                self._apply_l2(frame, events, False, raw is not None)
            return events
        except Exception as exc:  # a bug or an unforeseen frame: never ends the connection
            events = []
            self._refuse(f"{type(exc).__name__}: {exc}", events, resync=True)
            return events

    def _receive_bulk(self, frame: m.L2Bulk) -> list[FeedEvent]:
        """A very large ``l2_data`` frame: as the hot path, its levels slice by slice."""
        events: list[FeedEvent] = []
        if not self._sequence(frame.sequence_num, events):
            return events
        self.stats.accepted += 1
        around = self.around_bulk
        if around is not None:
            around()
        try:
            return self._apply_l2(frame, events, bulk=True)
        finally:
            del frame
            if around is not None:
                around()

    def _apply_l2(
        self,
        frame: m.L2Data | m.L2Bulk | L2RawFrame,
        events: list[FeedEvent],
        bulk: bool = False,
        raw: bool = False,
    ) -> list[FeedEvent]:
        """Apply a level2 frame that passed the sequence check: the one level2 apply.

        A frame is applied whole or refused whole: if any event fails (a level the
        book refuses, an exception of any kind) or leaves its book crossed, the
        ``BookChanged`` events of this frame are withdrawn, every book of this
        connection is invalidated and resynchronised. Events for books of other
        connections are skipped (a level2 subscription left over from a resync race);
        updates for an invalid book wait for its snapshot. ``raw``: a frame read by
        the compiled decoder (``book.frame_parser``), whose levels the book applies in C.
        """
        books = self.books
        for ev in frame.events:
            pid = ev.product_id
            book = books.get(pid)
            if book is None:
                continue
            try:
                if ev.type == "update":  # the schema admits only "update" and "snapshot"
                    if not book.valid:
                        continue  # waiting for the resync snapshot
                    if raw:
                        crossed = book.apply_raw_updates(ev)  # type: ignore[arg-type]
                    elif bulk:
                        crossed = book.apply_update_batches(ev.batches())  # type: ignore[union-attr]
                    else:
                        crossed = book.apply_wire_updates(ev.updates)  # type: ignore[arg-type,union-attr]
                    snapshot = False
                else:
                    if raw:
                        crossed = book.apply_raw_snapshot(ev)  # type: ignore[arg-type]
                    elif bulk:
                        crossed = book.apply_snapshot_batches(ev.batches())  # type: ignore[union-attr]
                    else:
                        crossed = book.apply_snapshot(ev.updates)  # type: ignore[arg-type,union-attr]
                    snapshot = True
            except Exception as exc:  # the book refused a level, or worse
                return self._l2_refused(events, pid, exc)
            if crossed:
                return self._l2_crossed(events, pid)
            events.append(_book_changed(pid, book, snapshot, frame.sequence_num))
        return events

    def _l2_refused(self, events: list[FeedEvent], pid: str, exc: Exception) -> list[FeedEvent]:
        """A level2 frame's event failed: withdraw the frame's events, refuse it, resync."""
        self._withdraw(events)
        self._refuse(f"{pid}: {exc}", events, resync=True, product=pid)
        return events

    def _l2_crossed(self, events: list[FeedEvent], pid: str) -> list[FeedEvent]:
        """A level2 frame left ``pid``'s book crossed: withdraw its events, recover."""
        self._withdraw(events)
        events.extend(self._gap_recovery(f"{pid} book crossed"))
        return events

    @staticmethod
    def _withdraw(events: list[FeedEvent]) -> None:
        """Drop this frame's ``BookChanged`` events (the last ones; earlier events differ)."""
        while events and type(events[-1]) is BookChanged:
            events.pop()

    def _receive_other(self, frame: m.Frame) -> list[FeedEvent]:
        """Every frame but an ``L2Data`` one: checked, sequenced, dispatched."""
        if isinstance(frame, m.ErrorFrame):
            return self._on_error(frame)
        if isinstance(frame, m.Malformed):
            return self._on_malformed(frame)
        if not isinstance(frame, m.UnknownMessage):
            problem = m.check_values(frame, self.limits)
            if problem is not None:
                return self._on_malformed(
                    m.Malformed(
                        problem=problem,
                        sequence_num=frame.sequence_num,
                        channel=m.channel_of(frame),
                    )
                )
        events: list[FeedEvent] = []
        if not self._sequence(frame.sequence_num, events):
            return events
        self.stats.accepted += 1
        if isinstance(frame, m.UnknownMessage):
            self.stats.unknown += 1
            log.debug("feed: %s ignoring unknown channel %r", self.name, frame.channel)
            return events
        if isinstance(frame, m.L2Data):  # pragma: no cover - receive() applies these
            return events
        mark = len(events)
        try:
            self._dispatch(frame, events)
        except Exception as exc:  # e.g. a user-channel value the fill tracker refuses
            del events[mark:]
            self._refuse(f"{m.channel_of(frame)}: {exc}", events, resync=True)
        return events

    def _on_malformed(self, frame: m.Malformed) -> list[FeedEvent]:
        """Count and log; a lost ``l2_data`` or ``user`` frame means lost changes: recover."""
        events: list[FeedEvent] = []
        where = f"{frame.channel} " if frame.channel else ""
        self._refuse(f"{where}{frame.problem}", events)
        if frame.sequence_num is None or not self._sequence(frame.sequence_num, events):
            return events
        if events:  # a gap: already recovering
            return events
        if frame.channel == "l2_data" and self.books:
            events.extend(self._gap_recovery(f"malformed l2_data frame: {frame.problem[:100]}"))
        elif frame.channel == "user" and self.fills is not None:
            self.requests.append(Backfill(f"malformed user frame: {frame.problem[:100]}"))
        return events

    def _refuse(
        self, problem: str, events: list[FeedEvent], *, resync: bool = False, product: str = ""
    ) -> None:
        """A frame refused: count it, log it (short), and recover when ``resync``.

        Logged at WARNING for the first :data:`LOGGED_REFUSALS` refusals of this
        connection, then every 100th (the count is in ``stats.malformed`` either way),
        so that a hostile or broken server cannot fill the disk.
        """
        stats = self.stats
        stats.malformed += 1
        problem = problem[:200]
        stats.last_problem = problem
        n = stats.malformed
        if n <= LOGGED_REFUSALS or n % 100 == 0:
            log.warning(
                "feed: %s refused a frame%s: %s (%d refused so far%s)",
                self.name,
                f" for {product}" if product else "",
                problem,
                n,
                "; logging every 100th" if n >= LOGGED_REFUSALS else "",
            )
        if resync:
            events.extend(self._gap_recovery(f"refused frame: {problem[:100]}"))

    def _sequence(self, seq: int | None, events: list[FeedEvent]) -> bool:
        """Check ``seq``; False means "drop this frame". Gap or fault events go to ``events``.

        * no number (error frames): nothing to check;
        * ``seq <= last``: a duplicate or out of order, dropped and counted;
        * more than ``limits.max_sequence_jump`` ahead of the last (or of 0, for the
          connection's first frame), or negative: a protocol fault, not a gap to wait
          on. The frame is dropped, the books are invalidated and a :class:`Reconnect`
          is requested (whatever the ``gap_policy``): a fresh connection restarts the
          counter. ``last_seq`` is left as it was, so one absurd number cannot make
          every later frame look like a duplicate;
        * any other jump: a gap (see the module docstring).
        """
        if seq is None:
            return True
        last = self.last_seq
        if last is not None and 0 <= seq <= last:
            self.stats.duplicates += 1
            return False
        if seq < 0 or seq - (last or 0) > self.limits.max_sequence_jump:
            self._sequence_fault(seq, events)
            return False
        self.last_seq = seq
        if last is None or seq == last + 1:
            return True
        self.stats.gaps += 1
        err = SequenceGap(f"{self.name}: expected sequence_num {last + 1}, got {seq}")
        events.append(SequenceGapDetected(self.name, last + 1, seq, err))
        events.extend(self._gap_recovery(f"sequence gap {last + 1}..{seq - 1}"))
        return True

    def _sequence_fault(self, seq: int, events: list[FeedEvent]) -> None:
        self.stats.sequence_faults += 1
        shown = str(seq) if -(10**20) < seq < 10**20 else f"a {len(str(abs(seq)))}-digit number"
        reason = f"sequence_num {shown} after {self.last_seq}: beyond any plausible jump"
        self.stats.last_problem = reason
        log.warning("feed: %s protocol fault, reconnecting: %s", self.name, reason)
        events.extend(self._invalidate_all(reason))
        if not any(isinstance(r, Reconnect) for r in self.requests):
            self.requests.append(Reconnect(reason))

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
        if isinstance(frame, m.HeartbeatsMessage):
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


def error_hint(message: str, level2_cap: int) -> str:
    """The likely fix for a Coinbase WebSocket error frame (§3.6, SDK issues #19/#64/#92)."""
    text = message.lower()
    if "authentication" in text:
        return (
            "check the channel name (e.g. 'heartbeats', not 'heartbeat'; Exchange-only "
            "channels such as 'full' do not exist here), that the key is a CDP key with "
            "View permission, and that the clock is right (the JWT lives 120 s)"
        )
    if "l2 streams" in text or "too many" in text:
        return (
            f"too many level2 products on one connection: lower max_level2_per_connection "
            f"(now {level2_cap}) so level2 is sharded across more connections"
        )
    if "parse" in text:
        return "a subscribe message was not valid JSON; this is a botkit bug, please report it"
    return "see the reason; the connection stays open"


def subscription_message(
    kind: str, channel: str, pids: Sequence[str], token: Callable[[], str | None]
) -> str:
    """A ``subscribe``/``unsubscribe`` message for one channel, with a fresh JWT if any.

    ``heartbeats`` takes no products when subscribed; ``token`` is called once per
    message because Coinbase wants a fresh token on each (§3.2).
    """
    msg: dict[str, object] = {"type": kind, "channel": channel}
    if channel != "heartbeats" or kind == "unsubscribe":
        msg["product_ids"] = list(pids)
    jwt = token()  # a fresh token per message (§3.2)
    if jwt is not None:
        msg["jwt"] = jwt
    return encode_message(msg)
