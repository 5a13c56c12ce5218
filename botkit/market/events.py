"""Core ring: the typed events the market-data feed hands to strategies and the executor.

Wire structs (:mod:`botkit.venues.advanced_trade.messages`) say what Coinbase sent; these say what
it
*means* for the bot: a book changed or became unusable, an order moved, a fill
happened. They are frozen so a consumer cannot corrupt another consumer's view.
Book events carry the live :class:`~botkit.market.book.L2Book` (not a copy) because
copying a BTC-USD book per update would cost more than everything else together;
read it synchronously inside the callback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from botkit.errors import BookInvalid, FeedSubscriptionError, SequenceGap
from botkit.market.book import L2Book
from botkit.market.trading_status import TradingStatus
from botkit.market.types import Candle, MarketTrade, StatusProduct, Ticker

__all__ = [
    "BookChanged",
    "BookInvalidated",
    "CandlesReceived",
    "ConnectionState",
    "FeedErrorReceived",
    "FeedEvent",
    "FillEvent",
    "Heartbeat",
    "OrderUpdate",
    "SequenceGapDetected",
    "StatusReceived",
    "Subscribed",
    "TickersReceived",
    "TradesReceived",
    "TradingStatusChanged",
    "UserSnapshotDone",
    "book_changed",
]

Kind = Literal["snapshot", "update"]


@dataclass(frozen=True, slots=True)
class BookChanged:
    """A level2 snapshot or update was applied; ``book`` is valid."""

    product_id: str
    book: L2Book
    snapshot: bool
    sequence_num: int


_new = object.__new__
_BC = BookChanged.__dict__
_set_pid, _set_book, _set_snapshot, _set_seq = (
    _BC[f].__set__ for f in ("product_id", "book", "snapshot", "sequence_num")
)


def book_changed(product_id: str, book: L2Book, snapshot: bool, sequence_num: int) -> BookChanged:
    """``BookChanged(product_id, book, snapshot, sequence_num)``, built in about half the time.

    The feed builds one per level2 frame. A frozen dataclass's generated ``__init__``
    assigns each field through ``object.__setattr__`` (~0.5 us for four fields); this
    writes the slots through their descriptors instead (~0.25 us). The result is an
    ordinary, equal, immutable ``BookChanged`` (``type(ev) is BookChanged`` holds).
    """
    ev: BookChanged = _new(BookChanged)
    _set_pid(ev, product_id)
    _set_book(ev, book)
    _set_snapshot(ev, snapshot)
    _set_seq(ev, sequence_num)
    return ev


@dataclass(frozen=True, slots=True)
class BookInvalidated:
    """The book can no longer be trusted (gap, crossed, reconnect); a resync is under way."""

    product_id: str
    error: BookInvalid


@dataclass(frozen=True, slots=True)
class SequenceGapDetected:
    """``sequence_num`` jumped on one connection: some message (of any channel) was lost."""

    connection: str
    expected: int
    received: int
    error: SequenceGap


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A ``heartbeats`` event; proof the connection is alive at the application level.

    ``missed``: heartbeats the server skipped before this one (a jump in its counter
    while ``sequence_num`` stayed in order: the endpoint stalled); 0 normally.
    """

    connection: str
    counter: int
    current_time: str
    missed: int = 0


@dataclass(frozen=True, slots=True)
class TickersReceived:
    kind: str
    tickers: tuple[Ticker, ...]
    batch: bool


@dataclass(frozen=True, slots=True)
class TradesReceived:
    kind: str
    trades: tuple[MarketTrade, ...]


@dataclass(frozen=True, slots=True)
class CandlesReceived:
    kind: str
    candles: tuple[Candle, ...]


@dataclass(frozen=True, slots=True)
class StatusReceived:
    kind: str
    products: tuple[StatusProduct, ...]


@dataclass(frozen=True, slots=True)
class TradingStatusChanged:
    """A product's trading status at the venue changed (read from its product list by the
    runtime, :mod:`botkit.runtime.trading_watch`): the strategy's ``on_trading_status``."""

    status: TradingStatus


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A ``subscriptions`` ack: the full channel -> products map of the connection."""

    connection: str
    subscriptions: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class FeedErrorReceived:
    """An error frame; ``error.hint`` carries the likely fix. The connection stays open."""

    connection: str
    error: FeedSubscriptionError


@dataclass(frozen=True, slots=True)
class ConnectionState:
    """A connection opened, closed, went stale, or failed to open (from the I/O layer)."""

    connection: str
    state: Literal["connected", "closed", "stale", "connect_failed"]
    code: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One order's cumulative state from the ``user`` channel (or a REST backfill).

    Emitted only when something changed (status or filled quantity), so replays
    after a reconnect are not reported twice.
    """

    order_id: str
    client_order_id: str
    product_id: str
    side: str
    order_type: str
    status: str
    cumulative_quantity: Decimal
    leaves_quantity: Decimal
    avg_price: Decimal
    total_fees: Decimal
    snapshot: bool


@dataclass(frozen=True, slots=True)
class FillEvent:
    """A fill synthesised from a cumulative delta (the user channel has no per-fill data).

    ``fill_id`` is ``"<order_id>:<cumulative quantity after the fill>"``: deterministic,
    so the same delta seen twice (replay, restart) has the same id and is dropped.
    ``source`` is ``"ws"`` or ``"rest"`` (REST backfill after a reconnect).
    """

    fill_id: str
    order_id: str
    client_order_id: str
    product_id: str
    side: str
    size: Decimal
    price: Decimal
    fee: Decimal
    cumulative_quantity: Decimal
    source: Literal["ws", "rest"] = "ws"
    trade_ids: tuple[str, ...] = field(default=())
    cumulative_value: Decimal = Decimal(0)
    """The order's filled value (quote) after this fill; 0 when the source does not say."""
    cumulative_fees: Decimal = Decimal(0)
    """The order's fees after this fill; with the two cumulative figures the fill ledger
    records exactly what a position has counted of the order (botkit.orders.ledger)."""


@dataclass(frozen=True, slots=True)
class UserSnapshotDone:
    """The ``user`` snapshot ended (first batch with fewer than 50 orders, §3.5).

    ``listed``: what the snapshot said of each order it listed (open orders only on
    Advanced Trade and Prime; Exchange sends no snapshot: empty), as the order's state
    (``snapshot=True``; ``cumulative_quantity`` in base), whether or not it was news. The
    runtime's read-back (``botkit.runtime.resume.ReadBackInRun``) asks REST only about
    the working orders this does not account for. Not compared (two snapshots' ends are
    told apart by connection and count) and not shown in ``repr``.
    """

    connection: str
    open_orders: int
    listed: tuple[OrderUpdate, ...] = field(default=(), compare=False, repr=False)


FeedEvent = (
    BookChanged
    | BookInvalidated
    | SequenceGapDetected
    | Heartbeat
    | TickersReceived
    | TradesReceived
    | CandlesReceived
    | StatusReceived
    | TradingStatusChanged
    | Subscribed
    | FeedErrorReceived
    | ConnectionState
    | OrderUpdate
    | FillEvent
    | UserSnapshotDone
)
"""Everything a feed callback can receive."""
