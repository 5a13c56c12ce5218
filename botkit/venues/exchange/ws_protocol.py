"""Core ring: Coinbase Exchange's WebSocket protocol, one connection's state, sans-I/O.

The Exchange venue's :class:`~botkit.market.session.FeedSession` (frames in, neutral events
out), driven by :class:`botkit.market.feed.MarketDataFeed` like Advanced Trade's
:class:`~botkit.venues.advanced_trade.ws_protocol.FeedProtocol`. Make one with
:func:`exchange_session_factory` (credentials for the signed channels go there).

Channels: the feed plans Advanced Trade's names; this protocol subscribes Exchange's
(reference §1.C): ``heartbeats`` → ``heartbeat`` for every product of the connection;
``level2`` → ``level2`` (signed) when credentials are given, else ``level2_batch`` (public),
plus ``matches`` for the same products (see "Gaps"); ``market_trades`` → ``matches``;
``ticker``/``ticker_batch``/``status`` → the same names; ``user`` → ``user`` (signed).
``candles`` has no Exchange channel: five-minute candles are built from ``matches``
(:mod:`botkit.market.candle_builder`), so a strategy on candles runs unchanged. Any other
unknown channel is skipped and counted (``stats.extra["unsupported_channel"]``). One
subscribe message per channel.

Signing: a signed subscribe carries ``key``, ``passphrase``, ``timestamp`` and ``signature``
= base64(HMAC-SHA256(b64decode(secret), timestamp + "GET" + "/users/self/verify")), freshly
made per message by :class:`ExchangeWsAuth` (botkit's
:class:`~botkit.auth.hmac_sign.ExchangeHmacSigner` under it; the clock is the signer's).
Nothing here logs a message that carries them.

Sequence rules (Exchange: one counter **per product**, shared by the ``full`` feed, ``ticker``,
``matches`` and ``heartbeat``; ``level2`` has none). A subscriber of anything but ``full``
sees only some of a product's numbers, so a jump in ``sequence`` is normal and is not a gap.
What is checked:

* per product and message kind, a ``sequence`` at or below the last one seen is a duplicate
  or late frame: dropped and counted (``stats.duplicates``); a heartbeat may repeat the last
  number (nothing happened) and is kept;
* **gaps** are detected where Exchange makes them visible: trade ids are consecutive per
  product, so a ``match`` whose ``trade_id`` is not the last one + 1, or a ``heartbeat``
  whose ``last_trade_id`` is ahead of the last ``match`` seen, means frames of that product
  were lost (§1.C: "use the heartbeat last_trade_id"). That product's book is invalidated
  and resynchronised alone: :class:`~botkit.market.requests.ResyncLevel2` for it, which the
  feed answers with :meth:`ExchangeFeedProtocol.resync_messages` (``unsubscribe`` +
  ``subscribe`` level2: a fresh ``snapshot``; Exchange's own advice for level2, which has
  no sequence to resume from). ``matches`` is subscribed with every book for this reason
  (``gap_detection=False`` turns that off); its trades are reported only for products the
  configuration asked ``market_trades`` of;
* an ``l2update`` that the book refuses or that leaves it crossed resynchronises that
  product the same way.

``user`` channel: Exchange sends deltas (``received``, ``open``, ``match`` with the fee
*rate*, ``change``, ``done``) and **no** snapshot of open orders, and its private messages
do not advance ``sequence`` (§3: a user feed cannot see its own drops). Each order's
cumulative state is kept here and handed to the
:class:`~botkit.orders.fills.FillTracker` as the Advanced Trade ``user`` update it would be
(statuses ``PENDING``/``OPEN``/``FILLED``/``CANCELLED``/``FAILED``; fees = price x size x
rate, Decimal), so fills come out deduplicated by the same high-water marks. When the
``subscriptions`` reply first lists ``user``, an empty snapshot is handed to the tracker:
its ``UserSnapshotDone`` makes the feed run its REST backfill, which is how fills missed
while disconnected are recovered on Exchange.

Refusal policy as Advanced Trade's: ``receive`` never raises; a frame that does not decode
(:func:`~botkit.venues.exchange.ws_messages.decode` raises
:data:`~botkit.venues.exchange.ws_messages.DecodeFailed`) is counted in ``stats.malformed``
and logged (bounded). An undecodable frame cannot be tied to a product, so every book of
the connection is resynchronised (its ``l2update`` may be lost).

What is UNCERTAIN on Exchange and configurable: whether level2 needs a signature
(``level2_channel``); ``matches`` as the gap detector costs one message per trade
(``gap_detection``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from botkit.auth.hmac_sign import ExchangeHmacSigner
from botkit.errors import BookInvalid, FeedSubscriptionError, SequenceGap
from botkit.market.book import L2Book
from botkit.market.book_levels import DEFAULT_LIMITS, WireLimits
from botkit.market.candle_builder import CandleBuilder
from botkit.market.events import (
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
from botkit.market.requests import FeedStats, Reconnect, Request, ResyncLevel2, Subscription
from botkit.market.session import SessionFactory, TokenSource
from botkit.market.types import L2Update, MarketTrade, StatusProduct, Ticker
from botkit.orders.fills import FillTracker
from botkit.orders.model import UserEvent, UserOrder
from botkit.venues.exchange import ws_messages as m

__all__ = [
    "VERIFY_PATH",
    "ExchangeFeedProtocol",
    "ExchangeWsAuth",
    "exchange_session_factory",
    "subscribe_message",
]

log = logging.getLogger("botkit.market.feed")

VERIFY_PATH = "/users/self/verify"
LOGGED_REFUSALS = 50
_SIDES = {"buy": "bid", "sell": "offer"}
_ZERO = Decimal(0)
_UNSUPPORTED = "unsupported_channel"


class ExchangeWsAuth:
    """Fresh auth fields for a signed Exchange subscribe (a new timestamp per call).

    Args:
        signer: botkit's Exchange REST signer (key, base64 secret, passphrase, clock).

    Calling it gives ``{"key", "passphrase", "timestamp", "signature"}`` signed over
    ``timestamp + "GET" + "/users/self/verify"``. ``ws_token`` gives the same fields as
    JSON text, so this object is also what :class:`~botkit.market.feed.MarketDataFeed`
    takes as ``signer`` (it insists on one for the ``user`` channel). The repr shows the
    key only.
    """

    def __init__(self, signer: ExchangeHmacSigner) -> None:
        self._signer = signer

    def __call__(self) -> dict[str, str]:
        headers = self._signer.sign("GET", VERIFY_PATH)
        return {
            "key": headers["CB-ACCESS-KEY"],
            "passphrase": headers["CB-ACCESS-PASSPHRASE"],
            "timestamp": headers["CB-ACCESS-TIMESTAMP"],
            "signature": headers["CB-ACCESS-SIGN"],
        }

    def ws_token(self) -> str:
        """The fields as JSON (the feed's ``WsTokenSource``; the protocol uses ``__call__``)."""
        return json.dumps(self())

    def __repr__(self) -> str:
        return f"ExchangeWsAuth(key={self._signer.api_key!r})"


def subscribe_message(
    kind: str,
    channel: str,
    pids: Sequence[str],
    auth: Callable[[], Mapping[str, str]] | None = None,
) -> str:
    """One ``subscribe``/``unsubscribe`` for one channel; signed when ``auth`` is given."""
    msg: dict[str, object] = {"type": kind, "product_ids": list(pids), "channels": [channel]}
    if auth is not None:
        msg.update(auth())
    return m.encode_message(msg)


@dataclass
class _Order:
    """One order's cumulative state, built from the ``user`` channel's deltas."""

    order_id: str
    product_id: str
    side: str
    order_type: str = ""
    client_oid: str = ""
    size: Decimal | None = None
    price: str = ""
    status: str = "PENDING"
    filled: Decimal = _ZERO
    value: Decimal = _ZERO
    fees: Decimal = _ZERO
    fills: int = 0
    cancel_reason: str = ""
    leaves: Decimal | None = None

    def as_user_order(self) -> UserOrder:
        leaves = self.leaves
        if leaves is None:
            leaves = max(self.size - self.filled, _ZERO) if self.size is not None else _ZERO
        if self.status in ("FILLED", "CANCELLED", "FAILED"):
            leaves = _ZERO
        avg = self.value / self.filled if self.filled else _ZERO
        return UserOrder(
            order_id=self.order_id,
            client_order_id=self.client_oid,
            product_id=self.product_id,
            order_side=self.side.upper(),
            order_type=self.order_type.upper(),
            status=self.status,
            cumulative_quantity=_plain(self.filled),
            leaves_quantity=_plain(leaves),
            avg_price=_plain(avg),
            total_fees=_plain(self.fees),
            filled_value=_plain(self.value),
            number_of_fills=str(self.fills),
            limit_price=self.price,
            cancel_reason=self.cancel_reason,
        )


def _plain(q: Decimal) -> str:
    return format(q.normalize(), "f") if q else "0"


class ExchangeFeedProtocol:
    """State of one Exchange feed connection (see the module docstring).

    Args:
        name, subscriptions, books, fills, gap_policy, level2_cap, limits: as
            :class:`~botkit.market.session.SessionFactory` passes them.
        auth: signs subscribes (:class:`ExchangeWsAuth`); None: public channels only.
        level2_channel: ``auto`` (``level2`` when signed, else ``level2_batch``) or one
            of them forced.
        gap_detection: subscribe ``matches`` with every book (trade-id gap detection).
        heartbeat_products: heartbeat these when the connection has no products of its own
            (a ``user`` connection without ``user_products``), so its watchdog sees frames.
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
        auth: Callable[[], Mapping[str, str]] | None = None,
        level2_channel: Literal["auto", "level2", "level2_batch"] = "auto",
        gap_detection: bool = True,
        heartbeat_products: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.limits = limits
        self.auth = auth
        self.fills = fills
        self.gap_policy = gap_policy
        self.level2_cap = level2_cap
        self.stats = FeedStats()
        self.around_bulk: Callable[[], None] | None = None
        self.requests: list[Request] = []
        subs = list(subscriptions)
        if not any(s.channel == "heartbeats" for s in subs):
            subs.insert(0, Subscription("heartbeats"))
        self.subscriptions = tuple(subs)
        self.books: dict[str, L2Book] = books if books is not None else {}
        self._book_pids: tuple[str, ...] = ()
        self._trade_pids: set[str] = set()
        self._ticker_batch_only: set[str] = set()
        pids: list[str] = []
        for s in self.subscriptions:
            pids += [p for p in s.product_ids if p not in pids]
            if s.channel == "level2":
                self._book_pids += tuple(s.product_ids)
                for pid in s.product_ids:
                    if pid not in self.books:
                        self.books[pid] = L2Book(pid, limits=limits)
            elif s.channel == "market_trades":
                self._trade_pids |= set(s.product_ids)
        self._candle_pids = {
            p for s in self.subscriptions if s.channel == "candles" for p in s.product_ids
        }
        self._candles = CandleBuilder()
        tickers = {p for s in self.subscriptions if s.channel == "ticker" for p in s.product_ids}
        self._ticker_batch_only = {
            p for s in self.subscriptions if s.channel == "ticker_batch" for p in s.product_ids
        } - tickers
        self._pids = tuple(pids) or tuple(heartbeat_products)
        if level2_channel == "auto":
            level2_channel = "level2" if auth is not None else "level2_batch"
        self.level2_channel = level2_channel
        self._matches_pids = tuple(
            dict.fromkeys(
                list(self._book_pids if gap_detection else ())
                + sorted(self._trade_pids | self._candle_pids)
            )
        )
        self._last_seq: dict[tuple[str, str], int] = {}
        self._last_trade: dict[str, int] = {}
        self._orders: dict[str, _Order] = {}
        self._user_acked = False
        self._heartbeats = 0

    # -- connection lifecycle -----------------------------------------------------------------

    def connection_opened(self) -> list[FeedEvent]:
        """A new connection: sequences and trade ids restart; books wait for snapshots.

        The orders followed from their deltas that the fill tracker has as ended (the
        read-back after the last drop told it) or has let go leave: their ``done`` was
        sent while no connection listened (Exchange sends no snapshot), and one entry per
        such order stayed for the whole run. They can fill no more."""
        self._last_seq.clear()
        self._last_trade.clear()
        self._user_acked = False
        if self.fills is not None and self._orders:
            hwms = self.fills.hwms
            for oid in [o for o in self._orders if (h := hwms.get(o)) is None or h.terminal]:
                del self._orders[oid]
        self.requests.clear()
        return self._invalidate(tuple(self.books), "reconnected: waiting for a new snapshot")

    def connection_lost(self, reason: str) -> list[FeedEvent]:
        return self._invalidate(tuple(self.books), f"connection lost: {reason}")

    def _invalidate(self, pids: Sequence[str], reason: str) -> list[FeedEvent]:
        out: list[FeedEvent] = []
        for pid in pids:
            book = self.books.get(pid)
            if book is None:
                continue
            if book.valid:
                book.invalidate(reason)
                out.append(BookInvalidated(pid, BookInvalid(f"{pid}: {reason}")))
            else:
                book.invalid_reason = reason
        return out

    # -- outbound ------------------------------------------------------------------------------

    def _exchange_channels(self) -> list[tuple[str, tuple[str, ...]]]:
        out: list[tuple[str, tuple[str, ...]]] = []
        for s in self.subscriptions:
            if s.channel == "heartbeats":
                if self._pids:
                    out.append(("heartbeat", self._pids))
            elif s.channel == "level2":
                out.append((self.level2_channel, s.product_ids))
            elif s.channel in ("market_trades", "candles"):
                continue  # both from matches, subscribed once below with the books' products
            elif s.channel in ("ticker", "ticker_batch", "status", "user"):
                out.append((s.channel, s.product_ids))
            else:
                self.stats.extra[_UNSUPPORTED] = self.stats.extra.get(_UNSUPPORTED, 0) + 1
                log.warning(
                    "feed: %s: Coinbase Exchange has no %r channel; not subscribed",
                    self.name,
                    s.channel,
                )
        if self._matches_pids:
            out.append(("matches", self._matches_pids))
        return out

    def _signed(self, channel: str) -> Callable[[], Mapping[str, str]] | None:
        return self.auth if channel in ("level2", "user", "full") else None

    def subscribe_messages(self, token: TokenSource) -> list[str]:
        """One subscribe per Exchange channel; ``level2``/``user`` signed (fresh each)."""
        return [
            subscribe_message("subscribe", ch, pids, self._signed(ch))
            for ch, pids in self._exchange_channels()
        ]

    def resync_messages(self, pids: Sequence[str], token: TokenSource) -> list[str]:
        """Unsubscribe + subscribe the book channel for ``pids``: a fresh ``snapshot`` each."""
        self.stats.resyncs += 1
        ch = self.level2_channel
        return [
            subscribe_message("unsubscribe", ch, pids),
            subscribe_message("subscribe", ch, pids, self._signed(ch)),
        ]

    def barrier_message(self, token: TokenSource) -> str:
        """A repeated ``heartbeat`` subscribe: changes nothing, answered after earlier frames."""
        return subscribe_message("subscribe", "heartbeat", self._pids)

    @property
    def pending(self) -> bool:
        return bool(self.requests)

    def take_requests(self) -> list[Request]:
        out = self.requests[:]
        self.requests.clear()
        return out

    # -- inbound -------------------------------------------------------------------------------

    def receive(self, data: str | bytes) -> list[FeedEvent]:
        """Process one frame; never raises, whatever the server sent."""
        self.stats.frames += 1
        try:
            try:
                frame = m.decode(data, self.limits)
            except m.DecodeFailed as exc:
                events: list[FeedEvent] = []
                self._refuse(str(exc), events, resync=tuple(self.books))
                return events
            return self._dispatch(frame)
        except Exception as exc:  # a bug or an unforeseen frame: never ends the connection
            events = []
            self._refuse(f"{type(exc).__name__}: {exc}", events, resync=tuple(self.books))
            return events

    def _refuse(self, problem: str, events: list[FeedEvent], *, resync: Sequence[str] = ()) -> None:
        stats = self.stats
        stats.malformed += 1
        problem = problem[:200]
        stats.last_problem = problem
        n = stats.malformed
        if n <= LOGGED_REFUSALS or n % 100 == 0:
            log.warning("feed: %s refused a frame: %s (%d refused so far)", self.name, problem, n)
        if resync:
            events.extend(self._recover(resync, f"refused frame: {problem[:100]}"))

    def _recover(self, pids: Sequence[str], reason: str) -> list[FeedEvent]:
        """Invalidate these books and ask for their resync (or a reconnect, per policy)."""
        pids = [p for p in pids if p in self._book_pids]
        events = self._invalidate(pids, reason)
        if not pids:
            return events
        if self.gap_policy == "reconnect":
            if not any(isinstance(r, Reconnect) for r in self.requests):
                self.requests.append(Reconnect(reason))
            return events
        waiting = {p for r in self.requests if isinstance(r, ResyncLevel2) for p in r.product_ids}
        todo = tuple(p for p in pids if p not in waiting)
        if todo:
            self.requests.append(ResyncLevel2(todo))
        return events

    def _fresh(self, pid: str, kind: str, seq: int | None, *, equal_ok: bool = False) -> bool:
        """Per product and kind: False for a duplicate or late frame (counted)."""
        if seq is None:
            return True
        key = (pid, kind)
        last = self._last_seq.get(key)
        if last is not None and (seq < last or (seq == last and not equal_ok)):
            self.stats.duplicates += 1
            return False
        self._last_seq[key] = seq
        return True

    def _dispatch(self, frame: m.Frame | m.UnknownFrame) -> list[FeedEvent]:
        events: list[FeedEvent] = []
        if isinstance(frame, m.UnknownFrame):
            self.stats.accepted += 1
            self.stats.unknown += 1
            return events
        if isinstance(frame, m.ErrorFrame):
            return self._on_error(frame)
        if isinstance(frame, m.L2UpdateFrame):
            self.stats.accepted += 1
            return self._on_l2update(frame, events)
        if isinstance(frame, m.L2Snapshot):
            self.stats.accepted += 1
            return self._on_snapshot(frame, events)
        if isinstance(frame, m.Match):  # LastMatch too
            if frame.private:
                self.stats.accepted += 1
                return self._on_user(frame)
            return self._on_match(frame, events)
        if isinstance(frame, m.HeartbeatFrame):
            return self._on_heartbeat(frame, events)
        if isinstance(frame, m.TickerFrame):
            if not self._fresh(frame.product_id, "ticker", frame.sequence):
                return events
            self.stats.accepted += 1
            events.append(
                TickersReceived(
                    "update", (_ticker(frame),), frame.product_id in self._ticker_batch_only
                )
            )
            return events
        if isinstance(frame, m.SubscriptionsFrame):
            return self._on_subscriptions(frame)
        if isinstance(frame, m.StatusFrame):
            self.stats.accepted += 1
            products = tuple(
                StatusProduct(
                    id=p.id, base_currency=p.base_currency, quote_currency=p.quote_currency,
                    base_increment=p.base_increment, quote_increment=p.quote_increment,
                    display_name=p.display_name, status=p.status,
                    status_message=p.status_message, min_market_funds=p.min_market_funds,
                )
                for p in frame.products
            )  # fmt: skip
            events.append(StatusReceived("update", products))
            return events
        self.stats.accepted += 1
        return self._on_user(frame)

    # -- book ----------------------------------------------------------------------------------

    def _seq_of(self, pid: str) -> int:
        return max((s for (p, _), s in self._last_seq.items() if p == pid), default=0)

    def _on_snapshot(self, frame: m.L2Snapshot, events: list[FeedEvent]) -> list[FeedEvent]:
        pid = frame.product_id
        book = self.books.get(pid)
        if book is None or pid not in self._book_pids:
            return events
        levels = [L2Update(side="bid", price_level=p, new_quantity=q) for p, q in frame.bids]
        levels += [L2Update(side="offer", price_level=p, new_quantity=q) for p, q in frame.asks]
        try:
            crossed = book.apply_snapshot(levels)
        except Exception as exc:
            self._refuse(f"{pid} snapshot: {exc}", events, resync=(pid,))
            return events
        if crossed:
            events.extend(self._recover((pid,), f"{pid} snapshot crossed"))
            return events
        events.append(book_changed(pid, book, True, self._seq_of(pid)))
        return events

    def _on_l2update(self, frame: m.L2UpdateFrame, events: list[FeedEvent]) -> list[FeedEvent]:
        pid = frame.product_id
        book = self.books.get(pid)
        if book is None or pid not in self._book_pids or not book.valid:
            return events  # another connection's, or waiting for the resync snapshot
        try:
            ups = [
                L2Update(side=_SIDES[side], price_level=p, new_quantity=q)
                for side, p, q in frame.changes
            ]
            crossed = book.apply_wire_updates(ups)
        except Exception as exc:  # an unknown side, a level the book refuses
            self._refuse(f"{pid} l2update: {exc}", events, resync=(pid,))
            return events
        if crossed:
            events.extend(self._recover((pid,), f"{pid} book crossed"))
            return events
        events.append(book_changed(pid, book, False, self._seq_of(pid)))
        return events

    # -- trades, heartbeats, gaps --------------------------------------------------------------

    def _gap(self, pid: str, expected: int, got: int, events: list[FeedEvent]) -> None:
        self.stats.gaps += 1
        err = SequenceGap(
            f"{self.name}: {pid} expected trade_id {expected}, got {got}: frames were lost"
        )
        events.append(SequenceGapDetected(self.name, expected, got, err))
        events.extend(self._recover((pid,), f"{pid} trade ids {expected}..{got - 1} missed"))

    def _on_match(self, frame: m.Match, events: list[FeedEvent]) -> list[FeedEvent]:
        pid = frame.product_id
        last_match = isinstance(frame, m.LastMatch)
        if not last_match and not self._fresh(pid, "match", frame.sequence):
            return events
        self.stats.accepted += 1
        last = self._last_trade.get(pid)
        tid = frame.trade_id
        if last is not None and tid <= last:
            return events  # a trade already seen (the snapshot's last_match, a replay)
        if last is not None and not last_match and tid != last + 1:
            self._gap(pid, last + 1, tid, events)
        self._last_trade[pid] = tid
        if pid in self._trade_pids or pid in self._candle_pids:
            trade = MarketTrade(
                trade_id=str(tid),
                product_id=pid,
                price=frame.price,
                size=frame.size,
                side=frame.side.upper(),
                time=frame.time,
            )
            if pid in self._trade_pids:
                events.append(TradesReceived("snapshot" if last_match else "update", (trade,)))
            if pid in self._candle_pids and (candle := self._candles.add(trade)) is not None:
                events.append(CandlesReceived("update", (candle,)))
        return events

    def _on_heartbeat(self, frame: m.HeartbeatFrame, events: list[FeedEvent]) -> list[FeedEvent]:
        pid = frame.product_id
        if not self._fresh(pid, "heartbeat", frame.sequence, equal_ok=True):
            return events
        self.stats.accepted += 1
        self.stats.heartbeats += 1
        self._heartbeats += 1
        events.append(Heartbeat(self.name, self._heartbeats, frame.time))
        last = self._last_trade.get(pid)
        if pid in self._matches_pids and last is not None and frame.last_trade_id > last:
            self._gap(pid, last + 1, frame.last_trade_id + 1, events)
            self._last_trade[pid] = frame.last_trade_id
        return events

    def _on_subscriptions(self, frame: m.SubscriptionsFrame) -> list[FeedEvent]:
        self.stats.accepted += 1
        self.stats.acks += 1
        subs = {c.name: list(c.product_ids) for c in frame.channels}
        events: list[FeedEvent] = [Subscribed(self.name, subs)]
        if "user" in subs and self.fills is not None and not self._user_acked:
            # Exchange sends no snapshot of open orders: an empty one ends "the snapshot",
            # and the feed's backfill (on UserSnapshotDone) fetches missed fills by REST
            self._user_acked = True
            events.extend(self.fills.on_user_event(UserEvent(type="snapshot"), self.name))
        return events

    def _on_error(self, frame: m.ErrorFrame) -> list[FeedEvent]:
        self.stats.errors += 1
        text = frame.message + (f": {frame.reason}" if frame.reason else "")
        err = FeedSubscriptionError(
            f"{self.name}: Coinbase Exchange error frame '{text[:300]}'. Fix: {error_hint(frame)}"
        )
        return [FeedErrorReceived(self.name, err)]

    # -- the user channel ----------------------------------------------------------------------

    def _on_user(self, frame: m.Frame) -> list[FeedEvent]:
        """A ``user`` delta: update the order's cumulative state, hand it to the tracker."""
        if self.fills is None:
            return []
        if not isinstance(frame, m.Received | m.OpenFrame | m.Done | m.Change | m.Match):
            return []  # activate: nothing to book
        if isinstance(frame, m.Match):
            oid = frame.maker_order_id if frame.maker_fee_rate is not None else frame.taker_order_id
            if not oid:
                return []
        else:
            oid = frame.order_id
        order = self._orders.get(oid)
        if order is None:
            side = frame.side
            if isinstance(frame, m.Match) and frame.maker_fee_rate is None:
                side = {"buy": "sell", "sell": "buy"}.get(side, side)  # ours is the taker
            order = self._orders[oid] = _Order(oid, frame.product_id, side)
        if isinstance(frame, m.Received):
            order.order_type = frame.order_type
            order.client_oid = frame.client_oid
            order.size = frame.size
            order.price = "" if frame.price is None else format(frame.price, "f")
        elif isinstance(frame, m.OpenFrame):
            order.status = "OPEN"
            order.leaves = frame.remaining_size
        elif isinstance(frame, m.Match):
            rate = (
                frame.maker_fee_rate if frame.maker_fee_rate is not None else frame.taker_fee_rate
            )
            notional = frame.price * frame.size
            order.filled += frame.size
            order.value += notional
            order.fees += notional * (rate or _ZERO)
            order.fills += 1
            if order.leaves is not None:
                order.leaves = max(order.leaves - frame.size, _ZERO)
            if order.status == "PENDING":
                order.status = "OPEN"
        elif isinstance(frame, m.Change):
            if frame.new_size is not None:
                order.leaves = frame.new_size
            if frame.new_price is not None:
                order.price = format(frame.new_price, "f")
        else:  # done
            order.status = {"filled": "FILLED", "canceled": "CANCELLED"}.get(frame.reason, "FAILED")
            order.cancel_reason = frame.cancel_reason
            self._orders.pop(oid, None)
        return list(
            self.fills.on_user_event(
                UserEvent(type="update", orders=[order.as_user_order()]), self.name
            )
        )


def _ticker(frame: m.TickerFrame) -> Ticker:
    pct: Decimal | None = None
    if frame.open_24h:
        pct = ((frame.price - frame.open_24h) / frame.open_24h * 100).quantize(
            Decimal("0.00000001")
        )
    return Ticker(
        product_id=frame.product_id,
        price=frame.price,
        volume_24_h=frame.volume_24h,
        low_24_h=frame.low_24h,
        high_24_h=frame.high_24h,
        price_percent_chg_24_h=pct,
        best_bid=frame.best_bid,
        best_bid_quantity=frame.best_bid_size,
        best_ask=frame.best_ask,
        best_ask_quantity=frame.best_ask_size,
    )


def error_hint(frame: m.ErrorFrame) -> str:
    """The likely fix for an Exchange error frame."""
    text = f"{frame.message} {frame.reason}".lower()
    if "authentication" in text or "passphrase" in text or "signature" in text:
        return (
            "check the Exchange key, its base64 secret and passphrase (BOTKIT_EXCHANGE__*), "
            "that the key has the View permission and allows this IP, and the clock (the "
            "signed timestamp must be within 30 s of Coinbase's)"
        )
    if "not a valid product" in text:
        return "a product id is wrong: use Exchange ids such as BTC-USD"
    if "not a valid channel" in text or "not served" in text:
        return "a channel name is wrong; this is a botkit bug, please report it"
    return "see the reason; the connection stays open"


def exchange_session_factory(
    *,
    auth: Callable[[], Mapping[str, str]] | None = None,
    level2_channel: Literal["auto", "level2", "level2_batch"] = "auto",
    gap_detection: bool = True,
    heartbeat_products: Sequence[str] = (),
) -> SessionFactory:
    """The :class:`~botkit.market.session.SessionFactory` MarketDataFeed takes as ``protocol``.

    ``auth`` (an :class:`ExchangeWsAuth`) signs the ``level2`` and ``user`` subscribes;
    pass the same object as the feed's ``signer`` when ``config.user`` is set.
    """

    def make(
        name: str,
        subscriptions: Sequence[Subscription],
        *,
        books: dict[str, L2Book] | None = None,
        fills: FillTracker | None = None,
        gap_policy: Literal["resubscribe", "reconnect"] = "resubscribe",
        level2_cap: int = 16,
        limits: WireLimits = DEFAULT_LIMITS,
    ) -> ExchangeFeedProtocol:
        return ExchangeFeedProtocol(
            name,
            subscriptions,
            books=books,
            fills=fills,
            gap_policy=gap_policy,
            level2_cap=level2_cap,
            limits=limits,
            auth=auth,
            level2_channel=level2_channel,
            gap_detection=gap_detection,
            heartbeat_products=heartbeat_products,
        )

    return make
