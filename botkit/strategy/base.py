"""The strategy plugin API: the :class:`Strategy` base class and its hooks.

A strategy is a class with typed parameters and event hooks. It sees events and a
:class:`~botkit.strategy.protocol.Context` of safe actions, and nothing else: no REST
client, no socket, no executor (the Nautilus rule). That is what lets the same class
run against the simulator, paper trading and Coinbase, and what lets the risk engine
and the guard sit between a strategy and the exchange.

Every hook may be ``def`` or ``async def``; all default to doing nothing, so a
strategy overrides only what it uses::

    class Dip(Strategy):
        \"\"\"Buy a little when the price dips.\"\"\"

        class Params(BaseModel):
            product_id: str = "BTC-USD"
            size: Decimal = Decimal("0.001")

        params: Params

        async def on_ticker(self, ticker: Ticker) -> None:
            ...
            await self.ctx.buy_limit(self.params.product_id, self.params.size, price)

Version history of :data:`API_VERSION` (a strategy declares the version it was written
for; the loader refuses a mismatch rather than fail mid-trade on a renamed hook):

* 1 — first version. Later additions that old strategies need not know of keep the
  version: the optional ``on_exit`` hook and the exit calls of the context (issue 17).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from botkit.market.events import BookChanged, BookInvalidated, FillEvent, OrderUpdate
from botkit.market.trading_status import TradingStatus
from botkit.market.types import Candle, MarketTrade, Ticker
from botkit.strategy.exits import ExitFilled, ExitTriggered
from botkit.strategy.timers import TimerFired
from botkit.strategy.warmup import Warmup

if TYPE_CHECKING:
    from botkit.strategy.protocol import Context

__all__ = ["API_VERSION", "HOOKS", "HookResult", "NoParams", "Strategy"]

API_VERSION = 1
"""The strategy API version this botkit implements."""

HookResult = Awaitable[None] | None
"""What a hook returns: nothing (sync hook) or an awaitable (async hook)."""

HOOKS = (
    "on_start",
    "on_stop",
    "on_ticker",
    "on_book",
    "on_trade",
    "on_candle",
    "on_order_update",
    "on_fill",
    "on_book_invalid",
    "on_timer",
    "on_exit",
    "on_trading_status",
)
"""Every hook name the runtime may call."""


class NoParams(BaseModel):
    """The parameters of a strategy that declares none (extra keys are refused)."""

    model_config = ConfigDict(extra="forbid")


class Strategy:
    """Base class of every strategy.

    Class attributes:
        API_VERSION: the plugin API version the strategy was written for.
        Params: a pydantic model of the strategy's parameters, filled from the
            ``[strategy.params]`` table of the bot's TOML and validated before start.
        name: a short name for logs and state (default: the class name).
        warmup: the history to replay before live events (:class:`~botkit.strategy.warmup.Warmup`;
            None: none). Orders are refused while ``ctx.warming_up`` is true.

    Instance attributes:
        ctx: the safe actions (orders, positions, book, timers, state, logger).
        params: the validated ``Params`` instance. Re-annotate it in a subclass
            (``params: Params``) so type checkers know its fields.
    """

    API_VERSION: ClassVar[int] = API_VERSION
    Params: ClassVar[type[BaseModel]] = NoParams
    name: ClassVar[str] = ""
    warmup: ClassVar[Warmup | None] = None

    def __init__(self, ctx: Context, params: BaseModel) -> None:
        self.ctx = ctx
        self.params = params

    @classmethod
    def strategy_name(cls) -> str:
        return cls.name or cls.__name__

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> HookResult:
        """Called once, before any event: set timers, read saved state."""
        return None

    def on_stop(self) -> HookResult:
        """Called once at shutdown (also after a halt): save state; orders may still be open."""
        return None

    # -- market data -------------------------------------------------------------------------

    def on_ticker(self, ticker: Ticker) -> HookResult:
        """One ticker (last price, best bid/ask) of a subscribed product."""
        return None

    def on_book(self, event: BookChanged) -> HookResult:
        """The L2 book changed; ``event.book`` is live: read it now, do not keep it."""
        return None

    def on_trade(self, trade: MarketTrade) -> HookResult:
        """One public trade (``side`` is the maker's side)."""
        return None

    def on_candle(self, candle: Candle) -> HookResult:
        """A five-minute candle update (the current candle is updated until it closes)."""
        return None

    def on_book_invalid(self, event: BookInvalidated) -> HookResult:
        """A book can no longer be trusted; orders on it are refused until it resyncs."""
        return None

    def on_trading_status(self, status: TradingStatus) -> HookResult:
        """The venue restricted a product (cancel only, limit only, post only, halted) or
        lifted it (``status.mode`` is ``TradingMode.FULL``); orders the mode does not take
        are refused before sending (``PRODUCT_CANCEL_ONLY``...). A product restricted at
        start comes as the first event. ``ctx.trading_status(product_id)`` reads it."""
        return None

    # -- own orders --------------------------------------------------------------------------

    def on_order_update(self, update: OrderUpdate) -> HookResult:
        """One of this strategy's orders changed status or filled quantity."""
        return None

    def on_fill(self, fill: FillEvent) -> HookResult:
        """One of this strategy's orders filled (partly); positions are already updated."""
        return None

    def on_exit(self, event: ExitTriggered | ExitFilled) -> HookResult:
        """An exit (``ctx.buy(..., stop_loss=)``, ``bracket``, ``stop_loss``,
        ``trailing_stop``) triggered or filled; ``on_fill`` of its order came first."""
        return None

    # -- time --------------------------------------------------------------------------------

    def on_timer(self, timer: TimerFired) -> HookResult:
        """A timer set with ``ctx.set_timer`` fired."""
        return None
