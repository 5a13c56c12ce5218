"""The :class:`Context` protocol: what a strategy may do, and nothing more.

Kept apart from its implementation (:class:`botkit.strategy.context.BotContext`) so a
strategy author reads one short page of allowed actions, and so a test or a backtest can
offer its own context without inheriting the runtime's.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Literal, Protocol

from botkit.market.book import L2Book
from botkit.market.trading_status import TradingStatus
from botkit.market.types import Ticker
from botkit.orders.state import OrderState
from botkit.strategy.exits import ExitRecord, PriceLike

__all__ = ["Context", "KeyValueState"]


class KeyValueState(Protocol):
    """A strategy's small persistent state (see :mod:`botkit.strategy.state`)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


class Context(Protocol):
    """The safe actions a strategy may take (``self.ctx``)."""

    @property
    def log(self) -> logging.Logger:
        """The strategy's logger (``botkit.strategy.<name>``)."""
        ...

    @property
    def state(self) -> KeyValueState:
        """Small key-value state that survives restarts."""
        ...

    @property
    def warming_up(self) -> bool:
        """True while history is replayed before live events; orders are refused then."""
        ...

    def now(self) -> float:
        """The current time (Unix seconds; virtual in tests and replays)."""
        ...

    async def buy_limit(
        self, product_id: str, size: Decimal, price: Decimal, *, post_only: bool = False
    ) -> str:
        """A GTC limit buy of ``size`` base units; returns the ``client_order_id``."""
        ...

    async def sell_limit(
        self, product_id: str, size: Decimal, price: Decimal, *, post_only: bool = False
    ) -> str:
        """A GTC limit sell; returns the ``client_order_id``."""
        ...

    async def buy_market(
        self,
        product_id: str,
        *,
        quote_size: Decimal | None = None,
        base_size: Decimal | None = None,
    ) -> str:
        """A market (IOC) buy of ``quote_size`` quote or ``base_size`` base units."""
        ...

    async def sell_market(self, product_id: str, base_size: Decimal) -> str:
        """A market (IOC) sell of ``base_size`` base units."""
        ...

    async def cancel(self, client_order_id: str) -> bool:
        """Request cancellation of one of this strategy's orders: whether the venue accepted
        it (False: the order finished, or a cancel of it was accepted already)."""
        ...

    # -- exits (docs/strategies.md, "Exits") -------------------------------------------------

    async def buy(
        self,
        product_id: str,
        size: Decimal,
        price: Decimal | None = None,
        *,
        stop_loss: PriceLike | None = None,
        take_profit: PriceLike | None = None,
        post_only: bool = False,
    ) -> str:
        """A long entry (limit at ``price``, else market) whose exits are armed by its fill.

        ``stop_loss``/``take_profit``: absolute prices or offsets from the entry
        (``Offset.pct(2)``, ``Offset.bps(50)``, ``Offset.ticks(10)``). Returns the entry's
        ``client_order_id``. Raises ``ExitRejected`` (nothing sent) for a bad exit.
        """
        ...

    async def sell(
        self,
        product_id: str,
        size: Decimal,
        price: Decimal | None = None,
        *,
        stop_loss: PriceLike | None = None,
        take_profit: PriceLike | None = None,
        post_only: bool = False,
    ) -> str:
        """A short entry (the mirror of :meth:`buy`: the stop above, the take-profit below)."""
        ...

    async def bracket(
        self,
        product_id: str,
        size: Decimal,
        *,
        take_profit: PriceLike,
        stop_loss: PriceLike,
        side: Literal["long", "short"] | None = None,
    ) -> str:
        """Take-profit and stop-loss (one-cancels-other) for a held position; the exit id.

        ``side`` defaults to the sign of ``position(product_id)``; offsets are from the
        last trade."""
        ...

    async def stop_loss(
        self,
        product_id: str,
        size: Decimal,
        stop: PriceLike,
        *,
        limit: Decimal | None = None,
        side: Literal["long", "short"] | None = None,
    ) -> str:
        """A stop-limit exit: at ``stop`` it works as a limit at ``limit`` (default 5 %
        beyond the stop, as Coinbase's bracket stop leg); the exit id."""
        ...

    async def trailing_stop(
        self,
        product_id: str,
        size: Decimal,
        *,
        distance: PriceLike,
        activation: Decimal | None = None,
        side: Literal["long", "short"] | None = None,
    ) -> str:
        """A stop ``distance`` behind the best price since armed (after ``activation``, if
        given), moved only in the position's favour; the exit id."""
        ...

    async def cancel_exit(self, exit_id: str) -> bool:
        """Disarm an exit and cancel its order; False when it had already finished.

        A cancel the exchange does not accept leaves the exit cancelling: it ends with its
        order. Raises ``OrderOutcomeUnknown`` when its order's fate still cannot be told."""
        ...

    async def replace_exit(
        self,
        exit_id: str,
        *,
        stop_loss: PriceLike | None = None,
        take_profit: PriceLike | None = None,
    ) -> str:
        """New prices for an armed stop-loss, take-profit or bracket, for the legs it has
        (same id; offsets from the last trade)."""
        ...

    def open_exits(self, product_id: str | None = None) -> list[ExitRecord]:
        """This strategy's live exits (native or emulated)."""
        ...

    async def cancel_all(self, product_id: str | None = None) -> int:
        """Cancel every open order of this strategy (optionally of one product) but its
        exits' orders (stop-loss, take-profit, trailing, attached): they protect a
        position, and only :meth:`cancel_exit` ends one. The runtime's uses (a halt, the
        kill switch, ``--cancel-on-exit``, ``botkit ctl cancel-all``) keep them too."""
        ...

    def open_orders(self, product_id: str | None = None) -> list[OrderState]:
        """This strategy's live orders."""
        ...

    def position(self, product_id: str) -> Decimal:
        """This strategy's signed position in base units (from its fills)."""
        ...

    def balances(self) -> dict[str, Decimal]:
        """Balances per currency: the starting balances moved by this strategy's fills."""
        ...

    def book(self, product_id: str) -> L2Book | None:
        """The live L2 book (check ``book.valid``; do not keep it across events)."""
        ...

    def ticker(self, product_id: str) -> Ticker | None:
        """The last ticker of a product."""
        ...

    def trading_status(self, product_id: str) -> TradingStatus:
        """The product's trading status at the venue as last read (``mode`` ``FULL`` when
        it is not restricted, or not known: a backtest, ``respect_trading_status`` aside)."""
        ...

    def set_timer(self, name: str, interval: float, *, repeat: bool = True) -> None:
        """Call ``on_timer`` after ``interval`` seconds (and then every interval if repeating)."""
        ...

    def cancel_timer(self, name: str) -> None: ...
