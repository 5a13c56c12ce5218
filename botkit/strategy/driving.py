"""The runtime's side of a strategy context: binding a strategy and calling its hooks.

Why a separate module: :class:`~botkit.strategy.context.BotContext` has two audiences.
A strategy calls its reading and acting methods (the :class:`~botkit.strategy.Context`
protocol, with the tuned order path); the runtime, the backtester and the loader drive
the strategy through the methods here and nothing else. Strategies never call these, and
keeping them apart lets each half be read on its own: the order path without the event
plumbing, and the event-to-hook plumbing (the hot path of a replay) in one place.

:class:`StrategyDriver` is a mixin of :class:`~botkit.strategy.context.BotContext`, not a
separate object, so a dispatch costs no extra indirection. It owns no state: the
attributes it reads are declared below and set by ``BotContext.__init__``. Its one rule is
the ordering in :meth:`StrategyDriver.dispatch`: order states, positions, marks and the
market view are updated *before* the hook runs, so a hook always sees the world including
the event it is handling.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from decimal import Decimal
from typing import Any

from botkit.errors import BotkitError, StrategyError
from botkit.market.book import L2Book
from botkit.market.events import (
    BookChanged,
    BookInvalidated,
    CandlesReceived,
    FeedEvent,
    FillEvent,
    OrderUpdate,
    TickersReceived,
    TradesReceived,
    TradingStatusChanged,
)
from botkit.orders.fills import TERMINAL_STATUSES
from botkit.orders.positions import Positions
from botkit.orders.state import OrderStateMachine
from botkit.risk.engine import KillSwitchState
from botkit.risk.gate import RiskGate
from botkit.strategy.base import Strategy
from botkit.strategy.exit_manager import ExitManager
from botkit.strategy.exits import ExitEvent
from botkit.strategy.guard import HookGuard
from botkit.strategy.ports import MarketState, MarketView, PositionLedger
from botkit.strategy.timers import TimerFired, Timers

__all__ = ["StrategyDriver"]


class StrategyDriver:
    """Attach a strategy, run its lifecycle hooks, fire its timers, dispatch feed events.

    Mixed into :class:`~botkit.strategy.context.BotContext`, which sets every attribute
    annotated here in its ``__init__`` and provides :meth:`now`.
    """

    # set by BotContext.__init__ (annotations only: no class attributes at runtime)
    market: MarketView
    risk: RiskGate | None
    orders: OrderStateMachine
    positions: Positions
    ledger: PositionLedger | None  # records counted fills for a restart (runtime only)
    timers: Timers
    guard: HookGuard
    strategy: Strategy | None
    _log: logging.Logger
    _skip: frozenset[str]  # hooks left as the base class's no-ops (see attach)
    _mine: dict[str, None]  # this strategy's client_order_ids
    now: Callable[[], float]  # BotContext.now: the wall clock
    exits: ExitManager  # armed exits; ``exits.watch``: products evaluated on every print
    _aliases: dict[str, str]  # order_id -> alias of an order without a client_order_id
    _adopted_with: dict[str, OrderUpdate]  # start-up updates applied at adoption (BotContext)
    warming_up: bool
    _monotonic: Callable[[], float]  # the timer clock

    def attach(self, strategy: Strategy) -> None:
        """Bind the strategy this context serves (one context per strategy)."""
        if self.strategy is not None:
            raise StrategyError("a context serves exactly one strategy")
        self.strategy = strategy
        # Hooks the strategy left as the base class's no-ops are not called: a replay
        # delivers millions of events, and a guarded call of a no-op costs a few us each.
        cls = type(strategy)
        self._skip = frozenset(
            name
            for name in ("on_book", "on_trade", "on_ticker", "on_candle")
            if getattr(cls, name, None) is getattr(Strategy, name, object())
        )

    def _hooks(self) -> Strategy:
        if self.strategy is None:
            raise StrategyError("no strategy attached to this context")
        return self.strategy

    async def start(self) -> None:
        """Resume interrupted exits, run ``on_start``; if the kill switch is tripped, say so.

        Runs after the runtime adopted the orders the exchange still has open, so a native
        exit whose order is not among them is known to have ended while the bot was down.
        """
        if self.risk is not None and self.risk.tripped:
            self._log.critical("kill switch is tripped: every order will be refused")
        if self.exits.records:
            orders = self.orders

            def known(coid: str) -> bool:
                order = orders.get(coid)
                return order is not None and not order.terminal

            await self.exits.resume(known)
        guard = self.guard
        if await guard.call("on_start", self._hooks().on_start) or not guard.errors:
            return
        last = guard.errors[-1]
        if last.event != "on_start":
            return  # a journal failure: the runtime stops for it
        cause, live = last.error.__cause__, self.exits.live()
        if live:  # they need the bot running: it runs for them
            await guard.halt(f"on_start raised {cause!r}")
            self._log.critical(
                "strategy %s: on_start raised %r: the strategy is halted, and the bot keeps "
                "running for its %d exit(s), which protect positions; fix the strategy and "
                "restart", guard.strategy, cause, len(live),
            )  # fmt: skip
            return
        raise StrategyError(
            f"strategy {guard.strategy}: on_start raised {cause!r}: the bot does not run a "
            "strategy that could not start (its state may be half made); the traceback is "
            "logged above: fix it and start again"
        ) from last.error

    async def stop(self) -> None:
        """Run ``on_stop`` (even after a halt, so state can be saved)."""
        strategy = self._hooks()
        if self.guard.halted:
            try:
                result = strategy.on_stop()
                if result is not None:
                    await result
            except Exception as exc:  # a halted strategy gets one last chance, logged
                self._log.error("on_stop of halted strategy raised %r", exc)
            return
        await self.guard.call("on_stop", strategy.on_stop)

    async def fire_timers(self) -> int:
        """Call ``on_timer`` for each due timer; return how many fired.

        Due on the timer clock (monotonic), stamped with the wall clock the strategy reads.
        """
        timers = self.timers
        if not timers:
            return 0
        fired = timers.due(self._monotonic())
        if not fired:
            return 0
        wall = self.now()
        fired = [TimerFired(t.name, wall) for t in fired]
        for timer in fired:
            await self.guard.call(f"on_timer:{timer.name}", self._hooks().on_timer, timer)
        return len(fired)

    async def dispatch(self, event: FeedEvent) -> None:
        """Update what the strategy can read, then call its hook(s) for ``event``."""
        rest = self.dispatch_now(event)
        if rest is not None:
            await rest

    def dispatch_now(self, event: FeedEvent) -> Coroutine[Any, Any, None] | None:
        """:meth:`dispatch`, done here and now when it needs no await: what is left to
        await (None when nothing is), which the caller must await before the next event.

        Why: a replay dispatches every book update and print, and for a strategy without
        the hook (``_skip``) and with no exit watching prints, a book update only updates
        the market view and marks the risk engine at the mid, and a print does nothing;
        two nested coroutines per event cost more than that work. Such events are done
        at once (a mark that trips the kill switch leaves ``enforce_trip`` to await);
        any other event is left whole to the coroutine, with nothing done yet.
        """
        if type(event) is BookChanged:
            if "on_book" not in self._skip:
                return self._dispatch(event)
            market = self.market
            if isinstance(market, MarketState):
                market.apply(event)
            tripped = self._mark(event.product_id, event.book)
            if tripped is not None:
                assert self.risk is not None  # only a risk gate trips
                return self.risk.enforce_trip(tripped)
            return None
        if type(event) is TradesReceived and "on_trade" in self._skip and not self.exits.watch:
            return None  # the commonest event of a replay, for most strategies nothing to do
        return self._dispatch(event)

    async def _dispatch(self, event: FeedEvent) -> None:
        """:meth:`dispatch` for events that may call a hook (see :meth:`dispatch_now`)."""
        watch = self.exits.watch
        s = self._hooks()
        call = self.guard.call
        market = self.market
        if isinstance(market, MarketState):
            market.apply(event)
        if isinstance(event, BookChanged):
            await self._mark_book(event.product_id, event.book)
            if "on_book" not in self._skip:
                await call("on_book", s.on_book, event)
        elif isinstance(event, TickersReceived):
            risk = self.risk
            for ticker in event.tickers:
                if risk is not None:
                    tripped = risk.mark(ticker.product_id, ticker.price)
                    if tripped is not None:
                        await risk.enforce_trip(tripped)
                if watch and ticker.product_id in watch:
                    await self._exit_price(ticker.product_id, ticker.price)
                if "on_ticker" not in self._skip:
                    await call("on_ticker", s.on_ticker, ticker)
        elif isinstance(event, TradesReceived):
            if watch:
                for trade in event.trades:
                    if trade.product_id in watch:
                        await self._exit_price(trade.product_id, trade.price)
            if "on_trade" not in self._skip:
                for trade in event.trades:
                    await call("on_trade", s.on_trade, trade)
        elif isinstance(event, CandlesReceived):
            if "on_candle" not in self._skip:
                for candle in event.candles:
                    await call("on_candle", s.on_candle, candle)
        elif isinstance(event, BookInvalidated):
            await call("on_book_invalid", s.on_book_invalid, event)
        elif isinstance(event, TradingStatusChanged):
            await call("on_trading_status", s.on_trading_status, event.status)
        elif isinstance(event, OrderUpdate):
            if event.client_order_id not in self._mine and event.order_id in self._aliases:
                event = replace(event, client_order_id=self._aliases[event.order_id])
            # a released order's late update is not this strategy's news any more: ignored
            if event.client_order_id in self._mine:
                adopted = self._adopted_with
                if adopted.get(event.client_order_id) is event:  # applied at adoption: not
                    del adopted[event.client_order_id]  # again (another update of it is)
                else:
                    self.orders.apply_update(event, now=self.now(), source="ws")
                ledger = self.ledger
                if ledger is not None:  # what a restart must ask the exchange about
                    if event.status in TERMINAL_STATUSES:
                        ledger.finished(event.order_id, event.status, event.cumulative_quantity)
                    else:
                        ledger.opened(
                            event.order_id,
                            event.client_order_id,
                            event.product_id,
                            event.side,
                            event.status,
                        )
                await call("on_order_update", s.on_order_update, event)
                if event.client_order_id in self.exits.by_coid:
                    try:
                        events = await self.exits.on_order_update(event, event.client_order_id)
                    except BotkitError as exc:  # an exit's follow-up order; the feed goes on
                        self._log.error("exit handling of %s failed: %s", event.order_id, exc)
                        events = []
                    await self._deliver(events)
        elif isinstance(event, FillEvent) and (
            event.client_order_id in self._mine or self._aliased(event) or self._late_fill(event)
        ):
            if event.client_order_id not in self._mine and event.order_id in self._aliases:
                event = replace(event, client_order_id=self._aliases[event.order_id])
            self.positions.apply_fill(
                event.product_id, event.side, event.size, event.price, event.fee
            )
            if self.risk is not None:
                await self.risk.on_fill(
                    event.product_id, event.side, event.size, event.price, event.fee
                )
            if self.ledger is not None:
                self._count(event)
            await call("on_fill", s.on_fill, event)
            if event.client_order_id in self.exits.by_coid:
                events, stopped = self.exits.on_fill(event, event.client_order_id)
                if stopped and self.risk is not None:  # protections: cooldown after a stop
                    await self.risk.on_stop_loss(event.product_id)
                await self._deliver(events)
            if event.product_id in self.exits.watch:  # a native exit now larger than what is
                try:  # held is cancelled or re-sized at the fill, not at the next print
                    await self.exits.fit_native(event.product_id)
                except BotkitError as exc:  # tried again on the prints
                    self._log.error("exit sizing on %s failed: %s", event.product_id, exc)

    async def on_print(self, product_id: str, price: Decimal) -> None:
        """A print the strategy is not shown (a candle backtest's intrabar path, which its
        hooks never see): only the exits watching ``product_id`` are evaluated, so stops
        trail and emulated exits trigger on it as they would on the venue's trades."""
        if product_id in self.exits.watch:
            await self._exit_price(product_id, price)

    async def _exit_price(self, product_id: str, price: Decimal) -> None:
        """A print of a product with an armed emulated or trailing exit."""
        if self.warming_up:
            return  # history must not trigger live exits
        try:
            events = await self.exits.on_price(product_id, price)
        except BotkitError as exc:  # a re-price or trigger order failed; the feed goes on
            self._log.error("exit evaluation on %s at %s failed: %s", product_id, price, exc)
            return
        if events:
            await self._deliver(events)

    async def _deliver(self, events: list[ExitEvent]) -> None:
        """Exit events to the strategy's ``on_exit`` hook, in order."""
        if events:
            hook = self._hooks().on_exit
            for ev in events:
                await self.guard.call("on_exit", hook, ev)

    def _count(self, fill: FillEvent) -> None:
        """Record the fill as counted, with the position and today's PnL it made (one
        transaction: a crash before it leaves the fill to be reported again)."""
        assert self.ledger is not None
        order = self.orders.get(fill.client_order_id)
        status = ""
        if (
            order is not None
            and order.status in TERMINAL_STATUSES
            and fill.cumulative_quantity >= order.filled_size  # its last fill: all counted
        ):
            status = order.status
        self.ledger.count(
            fill,
            self.positions.get(fill.product_id),
            status=status,
            today=self.risk.engine.today() if self.risk is not None else None,
        )

    def _aliased(self, fill: FillEvent) -> bool:
        return bool(self._aliases) and fill.order_id in self._aliases

    def fill_key(self, fill: FillEvent) -> str:
        """The client_order_id this strategy knows ``fill``'s order by: its own, or the
        alias of an order the venue made without one (an entry's attached exit)."""
        coid = fill.client_order_id
        if coid and coid in self._mine:
            return coid
        return self._aliases.get(fill.order_id, coid) if self._aliases else coid

    def _late_fill(self, fill: FillEvent) -> bool:
        """Whether ``fill`` is of an order of this strategy already released from memory.

        Rare (fills arrive with their order's last update), but a fill is money: it still
        moves the position, the risk gate and reaches ``on_fill``, with a warning.
        """
        if not self.orders.released(fill.client_order_id):
            return False
        self._log.warning(
            "fill of an order already released from memory client_order_id=%s: counted",
            fill.client_order_id,
        )
        return True

    async def _mark_book(self, product_id: str, book: L2Book) -> None:
        tripped = self._mark(product_id, book)
        if tripped is not None:
            assert self.risk is not None  # only a risk gate trips
            await self.risk.enforce_trip(tripped)

    def _mark(self, product_id: str, book: L2Book) -> KillSwitchState | None:
        """Mark the risk engine at the book's mid (when valid and two-sided); the new
        kill-switch state when that tripped it, to be enforced by the caller."""
        risk = self.risk
        if risk is not None and book.valid:
            mid = book.mid()
            if mid is not None:
                return risk.mark(product_id, mid)  # no coroutine per book event
        return None
