"""The seams a strategy context is built on: where orders go and where prices come from.

The context never holds a client or a feed; it holds an :class:`OrderSink` and a
:class:`MarketView`. The runtime plugs the executor and the feed in (sim, paper and live
differ only in what sits behind them), and tests plug in the simulator through the very
same adapters.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol

from botkit.market.book import L2Book
from botkit.market.events import BookChanged, FeedEvent, FillEvent, TickersReceived
from botkit.market.types import Ticker
from botkit.orders.executor import OrderExecutor
from botkit.orders.fills import OrderHwm
from botkit.orders.intents import OrderIntent
from botkit.orders.model import Order
from botkit.orders.positions import Position
from botkit.risk.engine import MarketQuote

__all__ = [
    "ExecutorSink",
    "ExitSink",
    "MarketState",
    "MarketView",
    "OrderSink",
    "PositionLedger",
]


class OrderSink(Protocol):
    """Where a context sends orders (the executor in production)."""

    async def place(self, intent: OrderIntent) -> str:
        """Place the intent exactly once; return the exchange's order id."""
        ...

    async def cancel(self, order_id: str) -> bool:
        """Request cancellation; return whether the exchange accepted the request."""
        ...


class ExitSink(OrderSink, Protocol):
    """An :class:`OrderSink` that says which exits the venue behind it holds natively.

    ``native_exits`` is a subset of ``{"stop_limit", "bracket", "attached"}``; every other
    exit is emulated by the bot (:mod:`botkit.strategy.exit_manager`). A plain
    :class:`OrderSink` without it (a test's) gets emulation only. :class:`ExecutorSink`
    reports the executor's venue.
    """

    @property
    def native_exits(self) -> frozenset[str]: ...


class PositionLedger(Protocol):
    """Where a context records what its positions have counted, so a restart resumes
    them (:class:`botkit.orders.ledger.FillLedger` in the runtime; none in backtests)."""

    def count(
        self,
        fill: FillEvent,
        position: Position,
        *,
        status: str = "",
        today: tuple[int, Decimal] | None = None,
    ) -> None:
        """``position`` now includes ``fill``; ``today``: the risk engine's day and PnL."""
        ...

    def opened(
        self, order_id: str, client_order_id: str, product_id: str, side: str, status: str
    ) -> None:
        """A working order of the strategy (a restart asks the exchange about it)."""
        ...

    def mark(self, order_id: str) -> OrderHwm | None:
        """What was counted of the order so far (None: nothing was)."""
        ...

    def finished(self, order_id: str, status: str, filled: Decimal) -> None:
        """An order reached a final status having filled ``filled`` in all."""
        ...


class MarketView(Protocol):
    """Read-only market state: books and last tickers per product."""

    def book(self, product_id: str) -> L2Book | None: ...

    def ticker(self, product_id: str) -> Ticker | None: ...

    def quote(self, product_id: str) -> MarketQuote: ...


class ExecutorSink:
    """:class:`OrderSink` over :class:`~botkit.orders.executor.OrderExecutor` (and its client).

    Cancels go straight to the REST client's batch cancel: a repeated cancel is harmless,
    so cancels need no journal.
    """

    def __init__(self, executor: OrderExecutor) -> None:
        self._executor = executor

    @property
    def native_exits(self) -> frozenset[str]:
        """The venue's native exit kinds, as the executor reports them for its client."""
        return self._executor.native_exits

    async def place(self, intent: OrderIntent) -> str:
        return (await self._executor.place(intent)).order_id

    async def resolve(
        self, client_order_id: str, *, drop_stale: bool = False, resend: bool = True
    ) -> str:
        """Settle an intent whose outcome was unknown (lookup, then re-send with the same
        id); the order id. Raises as :meth:`OrderExecutor.resolve` (``KeyError``: no
        intent with this id; ``drop_stale``: its start-up rule)."""
        placed = await self._executor.resolve(client_order_id, drop_stale=drop_stale, resend=resend)
        return placed.order_id

    async def order(self, order_id: str) -> Order:
        """One order as the venue reports it now (start-up checks of exits it cannot adopt)."""
        return await self._executor.client.get_order(order_id)

    async def attached_order_id(self, order_id: str) -> str:
        """The id of the exit the venue attached to entry ``order_id`` ("" if none/unknown).

        An attached take-profit/stop-loss has no client_order_id, so the context follows
        it by this order id (Advanced Trade reports it on the entry's order). Known to
        the executor when the create answer carried it: then no request is made."""
        state = self._executor.orders.by_order_id(order_id)
        known = self._executor.exit_of(state.client_order_id) if state is not None else ""
        if known:
            return known
        return (await self._executor.client.get_order(order_id)).attached_order_id

    async def cancel(self, order_id: str) -> bool:
        results = await self._executor.client.cancel_orders([order_id])
        return bool(results) and results[0].success


class MarketState:
    """:class:`MarketView` kept from feed events (or filled directly in tests).

    Args:
        books: the live books by product (e.g. ``feed.books``), shared, not copied.
    """

    def __init__(self, books: Mapping[str, L2Book] | None = None) -> None:
        self.books: dict[str, L2Book] = dict(books or {})
        self.tickers: dict[str, Ticker] = {}

    def apply(self, event: FeedEvent) -> None:
        """Remember the latest book and ticker per product."""
        if isinstance(event, BookChanged):
            self.books[event.product_id] = event.book
        elif isinstance(event, TickersReceived):
            for ticker in event.tickers:
                self.tickers[ticker.product_id] = ticker

    def book(self, product_id: str) -> L2Book | None:
        return self.books.get(product_id)

    def ticker(self, product_id: str) -> Ticker | None:
        return self.tickers.get(product_id)

    def quote(self, product_id: str) -> MarketQuote:
        """Best bid/ask from the book when there is one, else from the last ticker."""
        book = self.books.get(product_id)
        if book is not None:
            bid, ask = book.best_bid(), book.best_ask()
            return MarketQuote(
                bid[0] if bid else None, ask[0] if ask else None, book_valid=book.valid
            )
        ticker = self.tickers.get(product_id)
        if ticker is not None:
            return MarketQuote(ticker.best_bid or ticker.price, ticker.best_ask or ticker.price)
        return MarketQuote()
