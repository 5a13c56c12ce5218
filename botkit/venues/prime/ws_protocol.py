"""Core ring: Coinbase Prime's WebSocket protocol, one connection's state, sans-I/O.

The Prime venue's :class:`~botkit.market.session.FeedSession` (frames in, neutral events
out), driven by :class:`botkit.market.feed.MarketDataFeed` like Advanced Trade's
:class:`~botkit.venues.advanced_trade.ws_protocol.FeedProtocol`. Make one with
:func:`prime_session_factory`; the credentials go there (:class:`PrimeWsAuth`).

Channels (reference §2.C): the feed plans Advanced Trade's names; this protocol subscribes
Prime's, one message each: ``heartbeats`` → ``heartbeats`` (``heartbeat_channel``: the
docs name it both ways), ``level2`` → ``l2_data``, ``user`` → ``orders`` for the
configured portfolio. **Every** subscribe is signed (Prime has no public channel):
``signature`` = base64(HMAC-SHA256(signing key as raw UTF-8, channel + access_key +
api_key_id + timestamp + portfolio_id + product_ids joined with "")), ``api_key_id``
being the service account id, ``timestamp`` epoch seconds (a fresh one per message).
Nothing here logs a message that carries them.

What Prime does not have, and what botkit's neutral events therefore lack on Prime: no
public trades (``market_trades``: no :class:`~botkit.market.events.TradesReceived`),
no ``ticker``/``ticker_batch`` (no last trade price, no 24 h volume/high/low), no
``candles`` and no ``status`` channel (Prime's ``products`` channel is not mapped). These
subscriptions are skipped, counted in ``stats.extra["unsupported_channel"]`` and logged
once. What can honestly be derived is: the best bid and ask and their sizes, from the
book (a :class:`~botkit.market.events.BookChanged` carries the live book; strategies
read ``book.best_bid()``/``mid()``). With ``derive_ticker=True`` a ``ticker``
subscription is served from the book instead: ``l2_data`` is subscribed for its products
and every book change of one yields a :class:`~botkit.market.types.Ticker` whose
``type`` is ``"book"``, whose best bid/ask fields are the book's and whose ``price`` is
the **mid**, not a trade price (every 24 h field None); a ``candles`` subscription is
served the same way: five-minute candles of the **mid** (:mod:`botkit.market.candle_builder`,
timed by the frames' ``timestamp``, volume 0), so a strategy on candles runs unchanged. Off by
default: a strategy that means "last trade" should see that Prime has none.

Sequence rules: ``sequence_num`` is one counter **per connection**, shared by every
channel (the docs' examples; UNCERTAIN, exchange-prime-api.md section 6.11), so the rules
are Advanced Trade's:
a number at or below the last one is a duplicate (dropped, counted); a jump means frames
of an unknown channel were lost: every book of the connection is invalidated
(:class:`~botkit.market.events.SequenceGapDetected`, ``BookInvalidated``) and resynced
per ``gap_policy``: ``resubscribe`` (``unsubscribe`` + ``subscribe`` ``l2_data``: Prime
sends a fresh snapshot; there is no REST book to resync from) or ``reconnect``; with
``orders`` on the connection a REST backfill of fills is requested too (fills of orders
that finished inside the gap are in no later snapshot). A jump beyond
``WireLimits.max_sequence_jump`` (or a negative number) is a protocol fault: reconnect.

``orders``: Prime reports each order's cumulative ``cum_qty`` (base), ``avg_px`` and
``fees``, never a fill. Each row becomes a :class:`~botkit.orders.model.UserOrder`
(``filled_value`` = ``cum_qty x avg_px``) for the feed's
:class:`~botkit.orders.fills.FillTracker`, which derives each fill exactly once from the
delta against its high-water mark (Decimal, never float; a replayed row yields none).
The fill price is therefore the change in ``cum_qty x avg_px`` over the change in
``cum_qty``: exact when ``avg_px`` is, otherwise off by ``avg_px``'s rounding. The
snapshot of open orders is handed over in batches of the tracker's snapshot size, so its
``UserSnapshotDone`` (which starts the REST backfill) comes exactly once per snapshot.
``user_context`` becomes the cancel or reject reason.

Refusal policy as Advanced Trade's: ``receive`` never raises; a frame that does not decode
(:func:`~botkit.venues.prime.ws_messages.decode` raises only ``DecodeFailed``), or whose
levels the book refuses, or that leaves a book crossed, is counted in ``stats.malformed``,
logged (bounded) and the connection's books are resynced.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Literal

from botkit.clock import Clock
from botkit.errors import BookInvalid, ConfigError, FeedSubscriptionError, SequenceGap
from botkit.market.book import L2Book
from botkit.market.book_levels import DEFAULT_LIMITS, WireLimits
from botkit.market.candle_builder import CandleBuilder
from botkit.market.events import (
    BookChanged,
    BookInvalidated,
    CandlesReceived,
    FeedErrorReceived,
    FeedEvent,
    Heartbeat,
    SequenceGapDetected,
    Subscribed,
    TickersReceived,
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
from botkit.market.session import SessionFactory, TokenSource
from botkit.market.types import MarketTrade, Ticker
from botkit.orders.fills import FillTracker, to_decimal
from botkit.orders.model import UserEvent, UserOrder
from botkit.venues.prime import ws_messages as m

__all__ = [
    "PrimeFeedProtocol",
    "PrimeWsAuth",
    "SignFields",
    "prime_session_factory",
    "subscribe_message",
    "ws_signature",
]

log = logging.getLogger("botkit.market.feed")

LOGGED_REFUSALS = 50
_UNSUPPORTED = "unsupported_channel"
_TWO = Decimal(2)
_ZERO = Decimal(0)

SignFields = Callable[[str, str, Sequence[str]], Mapping[str, str]]
"""``(channel, portfolio_id, product_ids) -> auth fields`` of one subscribe message."""


def ws_signature(
    signing_key: str,
    channel: str,
    access_key: str,
    svc_account_id: str,
    timestamp: str,
    portfolio_id: str,
    product_ids: Sequence[str],
) -> str:
    """base64(HMAC-SHA256(raw key, channel+access_key+svc+timestamp+portfolio+products))."""
    prehash = (
        f"{channel}{access_key}{svc_account_id}{timestamp}{portfolio_id}{''.join(product_ids)}"
    )
    digest = hmac.new(signing_key.strip().encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class PrimeWsAuth:
    """Fresh auth fields for a signed Prime subscribe (a new timestamp per call).

    Args:
        access_key: the API key id.
        signing_key: the signing secret (raw text, as for REST).
        passphrase: the key's passphrase.
        service_account_id: the key's service account id (``api_key_id`` on the wire).
        clock: time source (botkit's :class:`~botkit.clock.Clock`, skew-corrected in live).

    Calling it with ``(channel, portfolio_id, product_ids)`` gives ``access_key``,
    ``api_key_id``, ``timestamp``, ``passphrase`` and ``signature``. ``ws_token`` makes it
    a :class:`~botkit.market.feed.WsTokenSource`, which ``MarketDataFeed`` insists on for
    the ``user`` channel (the protocol signs with ``__call__``; the token is unused). The
    repr shows the access key only.

    Raises:
        ConfigError: a credential is empty (named, never echoed).
    """

    def __init__(
        self,
        access_key: str,
        signing_key: str,
        passphrase: str,
        service_account_id: str,
        *,
        clock: Clock,
    ) -> None:
        missing = [
            env
            for env, value in (
                ("BOTKIT_PRIME__ACCESS_KEY", access_key),
                ("BOTKIT_PRIME__SIGNING_KEY", signing_key),
                ("BOTKIT_PRIME__PASSPHRASE", passphrase),
                ("BOTKIT_PRIME__SERVICE_ACCOUNT_ID", service_account_id),
            )
            if not value.strip()
        ]
        if missing:
            raise ConfigError(
                f"the Prime WebSocket needs {', '.join(missing)}: every Prime subscribe is "
                "signed with the key, its passphrase and the key's service account id "
                "(shown in the Prime UI next to the API key)"
            )
        self.access_key = access_key
        self._signing_key = signing_key
        self._passphrase = passphrase
        self.service_account_id = service_account_id
        self.clock = clock

    def __call__(
        self, channel: str, portfolio_id: str, product_ids: Sequence[str]
    ) -> dict[str, str]:
        ts = str(int(self.clock.time()))
        return {
            "access_key": self.access_key,
            "api_key_id": self.service_account_id,
            "timestamp": ts,
            "passphrase": self._passphrase,
            "signature": ws_signature(
                self._signing_key,
                channel,
                self.access_key,
                self.service_account_id,
                ts,
                portfolio_id,
                product_ids,
            ),
        }

    def ws_token(self) -> str:
        """A placeholder token (the feed wants a signer for ``user``; Prime signs per message)."""
        return "prime-signed-per-message"

    def __repr__(self) -> str:
        return f"PrimeWsAuth(access_key={self.access_key!r})"


def subscribe_message(
    kind: str, channel: str, portfolio_id: str, pids: Sequence[str], auth: SignFields
) -> str:
    """One signed ``subscribe``/``unsubscribe`` for one channel (§2.C)."""
    msg: dict[str, object] = {"type": kind, "channel": channel}
    msg.update(auth(channel, portfolio_id, pids))
    msg["portfolio_id"] = portfolio_id
    msg["product_ids"] = list(pids)
    return m.encode_message(msg)


class PrimeFeedProtocol:
    """State of one Prime feed connection (see the module docstring).

    Args:
        name, subscriptions, books, fills, gap_policy, level2_cap, limits: as
            :class:`~botkit.market.session.SessionFactory` passes them.
        auth: signs every subscribe (:class:`PrimeWsAuth`).
        portfolio_id: the portfolio of the ``orders`` channel (required for ``user``).
        heartbeat_channel: ``heartbeats`` (the channels page) or ``heartbeat`` (the
            overview page); which one Prime serves is UNCERTAIN.
        derive_ticker: serve ``ticker``/``ticker_batch`` from the book (price = mid).
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
        auth: SignFields,
        portfolio_id: str = "",
        heartbeat_channel: Literal["heartbeats", "heartbeat"] = "heartbeats",
        derive_ticker: bool = False,
    ) -> None:
        self.name = name
        self.limits = limits
        self.auth = auth
        self.portfolio_id = portfolio_id
        self.fills = fills
        self.gap_policy = gap_policy
        self.level2_cap = level2_cap
        self.heartbeat_channel = heartbeat_channel
        self.stats = FeedStats()
        self.around_bulk: Callable[[], None] | None = None
        self.requests: list[Request] = []
        subs = list(subscriptions)
        if not any(s.channel == "heartbeats" for s in subs):
            subs.insert(0, Subscription("heartbeats"))
        self.subscriptions = tuple(subs)
        self.books: dict[str, L2Book] = books if books is not None else {}
        book_pids: list[str] = []
        ticker_pids: list[str] = []
        candle_pids: list[str] = []
        self._orders: tuple[str, ...] | None = None
        unsupported: list[str] = []
        for s in self.subscriptions:
            if s.channel == "level2":
                book_pids += [p for p in s.product_ids if p not in book_pids]
            elif s.channel in ("ticker", "ticker_batch") and derive_ticker:
                ticker_pids += [p for p in s.product_ids if p not in ticker_pids]
            elif s.channel == "candles" and derive_ticker:
                candle_pids += [p for p in s.product_ids if p not in candle_pids]
            elif s.channel == "user":
                if not portfolio_id:
                    raise ConfigError(
                        "the Prime orders channel needs the portfolio id: set "
                        "BOTKIT_PRIME__PORTFOLIO_ID (one of the key's portfolios)"
                    )
                self._orders = tuple(s.product_ids)
            elif s.channel != "heartbeats":
                unsupported.append(s.channel)
        book_pids += [p for p in ticker_pids + candle_pids if p not in book_pids]
        self._book_pids = tuple(book_pids)
        self._tickers = frozenset(ticker_pids)
        self._top: dict[str, tuple[Decimal | None, ...]] = {}
        """The top of book (prices and sizes) of each product's last derived ticker."""
        self._candle_pids = frozenset(candle_pids)
        self._candles = CandleBuilder()
        for pid in self._book_pids:
            if pid not in self.books:
                self.books[pid] = L2Book(pid, limits=limits)
        self._pids = tuple(dict.fromkeys(p for s in self.subscriptions for p in s.product_ids))
        if unsupported:
            self.stats.extra[_UNSUPPORTED] = len(unsupported)
            log.warning(
                "feed: %s: Coinbase Prime has no %s channel(s); skipped (Prime serves "
                "l2_data, orders and heartbeats: read prices from the book)",
                name,
                sorted(unsupported),
            )
        self.last_seq: int | None = None
        self._heartbeat_counter: int | None = None

    # -- connection lifecycle -----------------------------------------------------------------

    def connection_opened(self) -> list[FeedEvent]:
        """A new connection: the sequence restarts; books wait for their new snapshots."""
        self.last_seq = None
        self._heartbeat_counter = None
        self.requests.clear()
        return self._invalidate_all("reconnected: waiting for a new snapshot")

    def connection_lost(self, reason: str) -> list[FeedEvent]:
        return self._invalidate_all(f"connection lost: {reason}")

    def _invalidate_all(self, reason: str) -> list[FeedEvent]:
        self._top.clear()  # the next snapshot's ticker goes out whatever it says
        out: list[FeedEvent] = []
        for pid in self._book_pids:
            book = self.books[pid]
            if book.valid:
                book.invalidate(reason)
                out.append(BookInvalidated(pid, BookInvalid(f"{pid}: {reason}")))
            else:
                book.invalid_reason = reason
        return out

    # -- outbound ------------------------------------------------------------------------------

    def _message(self, kind: str, channel: str, pids: Sequence[str]) -> str:
        portfolio = self.portfolio_id if channel == "orders" else ""
        return subscribe_message(kind, channel, portfolio, pids, self.auth)

    def subscribe_messages(self, token: TokenSource) -> list[str]:
        """Every subscribe for a fresh connection, heartbeats first (``token`` unused:
        Prime signs each message with the credentials given at construction)."""
        out = [self._message("subscribe", self.heartbeat_channel, self._pids)]
        if self._book_pids:
            out.append(self._message("subscribe", "l2_data", self._book_pids))
        if self._orders is not None:
            out.append(self._message("subscribe", "orders", self._orders))
        return out

    def resync_messages(self, pids: Sequence[str], token: TokenSource) -> list[str]:
        """Unsubscribe + subscribe ``l2_data`` for ``pids``: Prime answers with a snapshot."""
        self.stats.resyncs += 1
        return [
            self._message("unsubscribe", "l2_data", pids),
            self._message("subscribe", "l2_data", pids),
        ]

    def barrier_message(self, token: TokenSource) -> str:
        """A repeated heartbeats subscribe: changes nothing, acknowledged after earlier frames."""
        return self._message("subscribe", self.heartbeat_channel, self._pids)

    @property
    def pending(self) -> bool:
        return bool(self.requests)

    def take_requests(self) -> list[Request]:
        out = self.requests[:]
        self.requests.clear()  # in place: the I/O layer holds the list
        return out

    # -- inbound -------------------------------------------------------------------------------

    def receive(self, data: str | bytes) -> list[FeedEvent]:
        """Process one frame; never raises, whatever the server sent."""
        self.stats.frames += 1
        events: list[FeedEvent] = []
        try:
            try:
                frame = m.decode(data, self.limits)
            except m.DecodeFailed as exc:
                self._refuse(str(exc), events, resync=True)
                return events
            if isinstance(frame, m.ErrorFrame):
                return self._on_error(frame)
            if not self._sequence(frame.sequence_num, events):
                return events
            self.stats.accepted += 1
            if isinstance(frame, m.UnknownMessage):
                self.stats.unknown += 1
                return events
            mark = len(events)
            try:
                self._dispatch(frame, events)
            except Exception as exc:  # e.g. an order value the fill tracker refuses
                del events[mark:]
                self._refuse(f"{type(frame).__name__}: {exc}", events, resync=True)
            return events
        except Exception as exc:  # a bug or an unforeseen frame: never ends the connection
            events = []
            self._refuse(f"{type(exc).__name__}: {exc}", events, resync=True)
            return events

    def _refuse(
        self, problem: str, events: list[FeedEvent], *, resync: bool = False, product: str = ""
    ) -> None:
        stats = self.stats
        stats.malformed += 1
        problem = problem[:200]
        stats.last_problem = problem
        n = stats.malformed
        if n <= LOGGED_REFUSALS or n % 100 == 0:
            log.warning(
                "feed: %s refused a frame%s: %s (%d refused so far)",
                self.name,
                f" for {product}" if product else "",
                problem,
                n,
            )
        if resync:
            events.extend(self._gap_recovery(f"refused frame: {problem[:100]}"))

    def _sequence(self, seq: int, events: list[FeedEvent]) -> bool:
        """Advanced Trade's per-connection rules (see the module docstring)."""
        last = self.last_seq
        if last is not None and seq <= last:
            self.stats.duplicates += 1
            return False
        if seq - (last or 0) > self.limits.max_sequence_jump:
            self.stats.sequence_faults += 1
            reason = f"sequence_num {seq} after {last}: beyond any plausible jump"
            self.stats.last_problem = reason
            log.warning("feed: %s protocol fault, reconnecting: %s", self.name, reason)
            events.extend(self._invalidate_all(reason))
            if not any(isinstance(r, Reconnect) for r in self.requests):
                self.requests.append(Reconnect(reason))
            return False
        self.last_seq = seq
        if last is None or seq == last + 1:
            return True
        self.stats.gaps += 1
        err = SequenceGap(f"{self.name}: expected sequence_num {last + 1}, got {seq}")
        events.append(SequenceGapDetected(self.name, last + 1, seq, err))
        events.extend(self._gap_recovery(f"sequence gap {last + 1}..{seq - 1}"))
        return True

    def _gap_recovery(self, reason: str) -> list[FeedEvent]:
        events = self._invalidate_all(reason)
        if self.gap_policy == "reconnect":
            if not any(isinstance(r, Reconnect) for r in self.requests):
                self.requests.append(Reconnect(reason))
            return events
        if self._book_pids and not any(isinstance(r, ResyncLevel2) for r in self.requests):
            self.requests.append(ResyncLevel2(self._book_pids))
        if self.fills is not None and self._orders is not None:
            self.requests.append(Backfill(reason))
        return events

    def _on_error(self, frame: m.ErrorFrame) -> list[FeedEvent]:
        self.stats.errors += 1
        text = frame.message + (f": {frame.reason}" if frame.reason else "")
        err = FeedSubscriptionError(
            f"{self.name}: Coinbase Prime error frame '{text[:300]}'. Fix: {error_hint(text)}"
        )
        return [FeedErrorReceived(self.name, err)]

    def _dispatch(self, frame: m.Frame, out: list[FeedEvent]) -> None:
        if isinstance(frame, m.L2Message):
            self._on_l2(frame, out)
        elif isinstance(frame, m.OrdersMessage):
            self._on_orders(frame, out)
        elif isinstance(frame, m.HeartbeatsMessage | m.HeartbeatMessage):
            self.stats.heartbeats += 1
            for hb in frame.events:
                counter = _counter(hb.heartbeat_counter)
                out.append(Heartbeat(self.name, counter, hb.current_time, self._missed(counter)))
        else:  # subscriptions
            self.stats.acks += 1
            for ev in frame.events:
                out.append(Subscribed(self.name, ev.subscriptions))

    def _missed(self, counter: int) -> int:
        last, self._heartbeat_counter = self._heartbeat_counter, counter
        if last is None or counter < 0 or counter <= last + 1:
            return 0
        self.stats.heartbeat_gaps += 1
        return counter - last - 1

    # -- the book ------------------------------------------------------------------------------

    def _on_l2(self, frame: m.L2Message, events: list[FeedEvent]) -> None:
        """Apply the frame whole or refuse it whole (then resync), as Advanced Trade does."""
        for ev in frame.events:
            pid = ev.product_id
            if pid not in self._book_pids:
                continue  # another connection's (a resync race): not ours to apply
            book = self.books[pid]
            snapshot = ev.type == "snapshot"
            if not snapshot and not book.valid:
                continue  # waiting for the resync snapshot
            try:
                if snapshot:
                    crossed = book.apply_snapshot(ev.updates)
                else:
                    crossed = book.apply_wire_updates(ev.updates)
            except Exception as exc:  # the book refused a level (side, price, quantity)
                _withdraw(events)
                self._top.clear()  # a withdrawn ticker's top must not hold the next one back
                self._refuse(f"{pid}: {exc}", events, resync=True, product=pid)
                return
            if crossed:
                _withdraw(events)
                self._top.clear()
                events.extend(self._gap_recovery(f"{pid} book crossed"))
                return
            events.append(book_changed(pid, book, snapshot, frame.sequence_num))
            if pid in self._tickers or pid in self._candle_pids:
                ticker = _book_ticker(pid, book)
                if ticker is not None and pid in self._tickers:
                    # only when the top changed (price or size): one per book change
                    # (3x Advanced Trade's rate, deep levels included) made ticker-counting
                    # strategies trade more on Prime; always after a snapshot
                    top = (
                        ticker.best_bid, ticker.best_bid_quantity,
                        ticker.best_ask, ticker.best_ask_quantity,
                    )  # fmt: skip
                    if snapshot or self._top.get(pid) != top:
                        self._top[pid] = top
                        events.append(TickersReceived("update", (ticker,), False))
                if ticker is not None and pid in self._candle_pids:
                    mid = MarketTrade(
                        trade_id="", product_id=pid, price=ticker.price, size=_ZERO, side="",
                        time=frame.timestamp,
                    )  # fmt: skip
                    if (candle := self._candles.add(mid)) is not None:
                        events.append(CandlesReceived("update", (candle,)))

    # -- orders --------------------------------------------------------------------------------

    def _on_orders(self, frame: m.OrdersMessage, out: list[FeedEvent]) -> None:
        tracker = self.fills
        if tracker is None:
            return
        for ev in frame.events:
            orders = [_user_order(row) for row in ev.orders]
            if ev.type == "update":
                out.extend(
                    tracker.on_user_event(UserEvent(type="update", orders=orders), self.name)
                )
                continue
            # a snapshot: in the tracker's batches, closed by a short one (maybe empty), so
            # that it reports UserSnapshotDone exactly once for this snapshot
            size = max(tracker.snapshot_batch, 1)
            for i in range(0, len(orders) + 1, size):
                batch = UserEvent(type="snapshot", orders=orders[i : i + size])
                out.extend(tracker.on_user_event(batch, self.name))


def _withdraw(events: list[FeedEvent]) -> None:
    """Drop this frame's ``BookChanged``/derived ticker events (the last ones); the
    callers clear the tops those tickers recorded."""
    while events and type(events[-1]) in (BookChanged, TickersReceived):
        events.pop()


def _counter(value: int | str) -> int:
    if isinstance(value, int):
        return value
    return int(value) if value.isdigit() and len(value) < 19 else -1


def _book_ticker(pid: str, book: L2Book) -> Ticker | None:
    """Top of book as a ticker (``type="book"``; ``price`` is the mid, not a trade)."""
    bid, ask = book.best_bid(), book.best_ask()
    if bid is None or ask is None:
        return None
    return Ticker(
        type="book",
        product_id=pid,
        price=(bid[0] + ask[0]) / _TWO,
        best_bid=bid[0],
        best_bid_quantity=bid[1],
        best_ask=ask[0],
        best_ask_quantity=ask[1],
    )


def _user_order(row: m.OrderRow) -> UserOrder:
    """A Prime ``orders`` row → the neutral cumulative order the fill tracker reads."""
    qty, avg = to_decimal(row.cum_qty), to_decimal(row.avg_px)
    value = qty * avg
    context = row.user_context
    return UserOrder(
        order_id=row.order_id,
        client_order_id=row.client_order_id,
        product_id=row.product_id,
        order_side=row.side.upper(),
        order_type=row.order_type.upper(),
        status=row.status.upper(),
        cumulative_quantity=row.cum_qty or "0",
        leaves_quantity=row.leaves_qty or "0",
        avg_price=row.avg_px or "0",
        total_fees=row.fees or "0",
        filled_value=format(value.normalize(), "f") if value else "",
        limit_price=row.limit_px,
        cancel_reason=context if row.status.upper() in ("CANCELLED", "EXPIRED") else "",
        reject_reason=context if row.status.upper() == "FAILED" else "",
    )


def error_hint(text: str) -> str:
    """The likely fix for a Prime error frame."""
    low = text.lower()
    if any(w in low for w in ("signature", "api key", "passphrase", "timestamp", "header")):
        return (
            "check BOTKIT_PRIME__ACCESS_KEY, BOTKIT_PRIME__SIGNING_KEY, BOTKIT_PRIME__PASSPHRASE "
            "and BOTKIT_PRIME__SERVICE_ACCOUNT_ID (every subscribe is signed with them), and "
            "the clock: the signed timestamp must be within 30 s of Coinbase's"
        )
    if "portfolio" in low or "permission" in low:
        return (
            "the key is not scoped to BOTKIT_PRIME__PORTFOLIO_ID or lacks the view permission: "
            "use one of the key's portfolios (GET /v1/portfolios lists them)"
        )
    if "product" in low:
        return "a product id is wrong: use Prime ids such as BTC-USD"
    return "see the message; the connection may be closed and will be reopened"


def prime_session_factory(
    *,
    auth: SignFields,
    portfolio_id: str = "",
    heartbeat_channel: Literal["heartbeats", "heartbeat"] = "heartbeats",
    derive_ticker: bool = False,
) -> SessionFactory:
    """The :class:`~botkit.market.session.SessionFactory` MarketDataFeed takes as ``protocol``.

    ``auth`` (a :class:`PrimeWsAuth`) signs every subscribe; pass the same object as the
    feed's ``signer`` when ``config.user`` is set. ``portfolio_id`` is the ``orders``
    channel's (required when ``user`` is subscribed).
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
    ) -> PrimeFeedProtocol:
        return PrimeFeedProtocol(
            name,
            subscriptions,
            books=books,
            fills=fills,
            gap_policy=gap_policy,
            level2_cap=level2_cap,
            limits=limits,
            auth=auth,
            portfolio_id=portfolio_id,
            heartbeat_channel=heartbeat_channel,
            derive_ticker=derive_ticker,
        )

    return make
