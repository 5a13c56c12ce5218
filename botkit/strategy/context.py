"""The strategy context: the only door between a strategy and the world.

:class:`Context` is what a strategy may do — buy, sell, cancel, look at its orders,
positions, balances, the book and the last ticker, set timers, keep a little state, log.
It has no method that reaches a client, a socket or another strategy.

:class:`BotContext` is the one implementation. It is built on seams
(:class:`~botkit.strategy.ports.OrderSink`, :class:`~botkit.strategy.ports.MarketView`,
an optional :class:`~botkit.risk.gate.RiskGate`), and it is also where the runtime
drives the strategy: :meth:`BotContext.dispatch` turns feed events into hook calls
(through the :class:`~botkit.strategy.guard.HookGuard`), after updating the order states
and positions the strategy will read, so a hook always sees the world *including* the
event it is handling. That runtime side lives in :mod:`botkit.strategy.driving`
(:class:`~botkit.strategy.driving.StrategyDriver`, a mixin of :class:`BotContext`) so this
module stays the strategy-facing half: reading, and the order path tuned for latency.

Orders: every order gets a fresh ``client_order_id`` (returned to the strategy, and the
key of every later log line and update), passes the risk gate, then the sink. Only this
strategy's orders are reported to it and count for its open orders.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Literal

from botkit.clock import Clock
from botkit.errors import (
    BotkitError,
    JournalError,
    OrderOutcomeUnknown,
    OrderRejected,
    StrategyError,
)
from botkit.market.book import L2Book
from botkit.market.events import OrderUpdate
from botkit.market.trading_status import TradingMode, TradingStatus
from botkit.market.types import Ticker
from botkit.orders.intents import OrderIntent, Side, limit_gtc, market_ioc
from botkit.orders.positions import Positions
from botkit.orders.state import (
    TERMINAL,
    OrderState,
    OrderStateMachine,
    OrderStatus,
    normalise_status,
)
from botkit.orders.types import learnt_update
from botkit.risk.engine import OrderCheck
from botkit.risk.gate import RiskGate
from botkit.strategy.base import Strategy
from botkit.strategy.driving import StrategyDriver
from botkit.strategy.exit_manager import ExitManager
from botkit.strategy.exits import (
    ExitRecord,
    ExitRejected,
    Offset,
    PriceLike,
    ProductLimits,
    off_grid,
)
from botkit.strategy.guard import GuardConfig, HookGuard
from botkit.strategy.ports import MarketState, MarketView, OrderSink, PositionLedger
from botkit.strategy.protocol import KeyValueState
from botkit.strategy.state import MemoryState
from botkit.strategy.timers import Timers

__all__ = ["BotContext", "new_client_order_id"]


_LIVE = frozenset({OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})
POST_ONLY_CROSS = "INVALID_LIMIT_PRICE_POST_ONLY"
"""The refusal of a post-only order that would have crossed the book (every venue's is
mapped to it), logged at INFO: it is what post-only is for."""
CANCEL_RESEND_AFTER = 5.0
"""Seconds after an accepted cancel during which ``cancel`` of the same order sends nothing
(answers False); later it is sent again, as an accepted cancel can still fail at the venue
and no update may ever say so."""


def new_client_order_id() -> str:
    """A random RFC 4122 version-4 UUID string, as ``str(uuid.uuid4())`` gives.

    Built from 16 bytes of ``os.urandom`` directly: the same format and entropy at a
    third of ``uuid4()``'s cost (no ``UUID`` object), because it runs for every order.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _post_only(config: dict[str, Any]) -> bool:
    """Whether a limit order's one configuration is flagged post-only (the risk engine's
    check of a post-only product needs it)."""
    for conf in config.values():
        return isinstance(conf, dict) and conf.get("post_only") is True
    return False


class BotContext(StrategyDriver):
    """The concrete context, and the strategy's driver.

    The reading and acting methods (the :class:`~botkit.strategy.protocol.Context` a
    strategy sees) are here; the runtime-side methods (``attach``, ``start``, ``stop``,
    ``fire_timers``, ``dispatch``) come from :class:`~botkit.strategy.driving.StrategyDriver`.

    Args:
        name: the strategy's name (logger, ids).
        sink: where orders go.
        market: where books and tickers come from.
        clock: the wall clock: what the strategy reads as ``now()`` and the order
            timestamps (the corrected :class:`~botkit.auth.clock.SystemClock` live).
        monotonic: the timer clock: seconds that only move forward at the rate of real
            time, whatever corrections the wall clock gets (default ``time.monotonic``;
            a backtest passes its virtual clock's ``time``, tests a manual one).
        keep_finished / keep_seconds: how long finished orders stay readable
            (:class:`~botkit.orders.state.OrderStateMachine`): an order leaves
            once it is older than ``keep_seconds`` (on the wall clock) and not among
            the last ``keep_finished``; the journal keeps the history.
        ledger: records every counted fill with the position it made, so a restarted bot
            resumes its positions (the runtime's :class:`~botkit.orders.ledger.FillLedger`;
            None: positions live in memory only, e.g. a backtest).
        risk: the risk gate every order passes (None: no checks, e.g. unit tests).
        state: the key-value state (default: in memory).
        exit_state: where exits are journaled so a restart resumes them (default: in
            memory; the runtime passes a JSON file next to ``state``).
        product_limits: each product's minimum size and ticks, which exits are checked
            against (the runtime fills it from the venue's products).
        balances: starting balances per currency.
        guard: guard thresholds; the guard clock defaults to a monotonic clock.
        guard_clock: override the guard's clock (tests).
        new_id: ``client_order_id`` factory (default: a random uuid4 string).
    """

    def __init__(
        self,
        name: str,
        sink: OrderSink,
        market: MarketView | None = None,
        *,
        clock: Clock,
        risk: RiskGate | None = None,
        state: KeyValueState | None = None,
        exit_state: KeyValueState | None = None,
        product_limits: Mapping[str, ProductLimits] | None = None,
        balances: Mapping[str, Decimal] | None = None,
        guard: GuardConfig | None = None,
        guard_clock: Clock | None = None,
        new_id: Callable[[], str] = new_client_order_id,
        monotonic: Callable[[], float] = time.monotonic,
        keep_finished: int = 1000,
        keep_seconds: float = 300.0,
        ledger: PositionLedger | None = None,
    ) -> None:
        self.name = name
        self._sink = sink
        self.market: MarketView = market if market is not None else MarketState()
        self._clock = clock
        self._monotonic = monotonic
        self.risk = risk
        self._state: KeyValueState = state if state is not None else MemoryState()
        self._log = logging.getLogger(f"botkit.strategy.{name}")
        self._new_id = new_id
        self.orders = OrderStateMachine(
            keep_finished=keep_finished, keep_seconds=keep_seconds, on_release=self._released
        )
        self.positions = Positions(balances)
        self.ledger = ledger
        self._unknown: dict[str, float] = {}
        """Plain orders whose create-order ended unknown, since when (the monotonic clock):
        settle_unknown asks about them, the health model counts them."""
        self.cancel_all_failed: list[str] = []
        """The orders whose cancel raised in the last :meth:`cancel_all`."""
        self.cancel_all_left: list[str] = []
        """The orders the last :meth:`cancel_all` could not cancel without an error: their
        placement still in flight (no order id to cancel yet), or a cancel the venue did
        not accept (an order that filled or ended meanwhile, whose news is on its way, or
        one the venue refuses to cancel). A cancel accepted and not confirmed yet is not
        one of them."""
        self.positions_resumed = False
        """Set once the positions were restored from the ledger (``resume_positions``): a
        resumed exit is sized by the position only then (it would see zero before)."""
        self.timers = Timers()
        self.guard = HookGuard(name, guard, clock=guard_clock, on_halt=self._on_halt)
        self.strategy: Strategy | None = None
        self._skip: frozenset[str] = frozenset()
        # this strategy's client_order_ids, in order, until the order is released
        self._mine: dict[str, None] = {}
        # ids that may still be live; terminal ones are pruned lazily by open_orders(), so the
        # risk check costs O(open orders), not O(every order ever placed)
        self._live: dict[str, None] = {}
        # set by the runtime while it replays warm-up history (strategy/warmup.py)
        self.warming_up = False
        self.product_limits: dict[str, ProductLimits] = dict(product_limits or {})
        """Per product: minimum size, base increment, price tick (exits are checked on them)."""
        # order_id -> client_order_id given to an order the venue created for us without one
        # (an entry's attached take-profit/stop-loss): its updates and fills are routed by it
        self._aliases: dict[str, str] = {}
        self._released_aliases: deque[str] = deque()  # order ids of aliased orders let go
        # client_order_id -> the start-up update applied at adoption (dispatched later as an
        # event: not applied twice, or it would undo a cancel sent in between)
        self._adopted_with: dict[str, OrderUpdate] = {}
        self.exits = ExitManager(
            self,
            exit_state if exit_state is not None else MemoryState(),
            getattr(sink, "native_exits", frozenset()),
        )
        if risk is not None:
            risk.add_canceller(self.cancel_all)

    # -- Context: reading --------------------------------------------------------------------

    @property
    def log(self) -> logging.Logger:
        return self._log

    @property
    def state(self) -> KeyValueState:
        return self._state

    def now(self) -> float:
        return self._clock.time()

    def _open_count(self) -> int:
        """``len(self.open_orders())`` without building the list (the risk check's input)."""
        get = self.orders.get
        count = 0
        done: list[str] = []
        for coid in self._live:
            order = get(coid)
            if order is None:
                continue
            if order.status in _LIVE:
                count += 1
            elif order.terminal:  # (a CANCEL_QUEUED one stays: its cancel can fall back)
                done.append(coid)
        for coid in done:
            del self._live[coid]
        return count

    def adopt(
        self,
        client_order_id: str,
        *,
        product_id: str,
        side: str,
        known: OrderUpdate | None = None,
    ) -> None:
        """Make an order this strategy's, though it was not placed in this run.

        The runtime calls this at start-up for orders the exchange has that carry
        botkit's id (an earlier run's, or one found by reconciliation), so the strategy
        sees their updates and fills and can cancel them; its order updates follow.
        ``known``: the update the venue gave for it, applied now when the order still
        works (the strategy still gets it as an event): without the venue's order id
        nothing can cancel it — a kill switch tripped in an earlier run cancels every open
        order at start, before any event is dispatched, and left such orders resting (a QA
        run under load). An ended one waits for its event as before: an exit resumed at
        start reads "ended" as "ended while down, nothing adopted" and places its order
        again, where its fill is still to be counted.
        """
        self._mine[client_order_id] = None
        self._live[client_order_id] = None
        self.orders.track(client_order_id, product_id=product_id, side=side)
        if known is None or not known.order_id:
            return
        status = normalise_status(known.status, known.cumulative_quantity)
        if status is None or status in TERMINAL:
            return
        self.orders.apply_update(known, now=self.now(), source="start", status=status)
        self._adopted_with[client_order_id] = known

    def open_orders(self, product_id: str | None = None) -> list[OrderState]:
        live: list[OrderState] = []
        for coid in list(self._live):
            order = self.orders.get(coid)
            if order is None:
                continue
            if order.status not in _LIVE:
                if order.terminal:  # a CANCEL_QUEUED one stays: a cancel that falls back at
                    del self._live[coid]  # the venue makes it OPEN again (a review)
            elif product_id is None or order.product_id == product_id:
                live.append(order)
        return live

    def position(self, product_id: str) -> Decimal:
        return self.positions.quantity(product_id)

    def balances(self) -> dict[str, Decimal]:
        return self.positions.balances()

    def book(self, product_id: str) -> L2Book | None:
        return self.market.book(product_id)

    def ticker(self, product_id: str) -> Ticker | None:
        return self.market.ticker(product_id)

    def trading_status(self, product_id: str) -> TradingStatus:
        known = self.risk.trading_status(product_id) if self.risk is not None else None
        return known if known is not None else TradingStatus(product_id, TradingMode.FULL)

    # -- Context: acting ---------------------------------------------------------------------

    async def buy_limit(
        self, product_id: str, size: Decimal, price: Decimal, *, post_only: bool = False
    ) -> str:
        config = limit_gtc(size, price, post_only=post_only)
        return await self._place(product_id, "BUY", config, (size, price))

    async def sell_limit(
        self, product_id: str, size: Decimal, price: Decimal, *, post_only: bool = False
    ) -> str:
        config = limit_gtc(size, price, post_only=post_only)
        return await self._place(product_id, "SELL", config, (size, price))

    async def buy_market(
        self,
        product_id: str,
        *,
        quote_size: Decimal | None = None,
        base_size: Decimal | None = None,
    ) -> str:
        config = market_ioc(quote_size=quote_size, base_size=base_size)
        return await self._place(product_id, "BUY", config)

    async def sell_market(self, product_id: str, base_size: Decimal) -> str:
        return await self._place(product_id, "SELL", market_ioc(base_size=base_size))

    async def _place(
        self,
        product_id: str,
        side: Side,
        config: dict[str, Any],
        limit: tuple[Decimal, Decimal] | None = None,
        coid: str | None = None,
        extra: dict[str, Any] | None = None,
        exit_order: bool = False,
    ) -> str:
        """Risk-check, track and send one order.

        ``limit`` = (size, price) of a limit order, already validated Decimals: the risk
        check uses them as they are instead of parsing them back out of the body's strings
        (the hot path); other orders are read from their configuration. ``coid``: an id
        chosen (and journaled) by the caller, as the exits do before sending; ``extra``:
        further top-level body fields (an entry's ``attached_order_configuration``);
        ``exit_order``: sent by an exit (its prices were checked when it was armed: the
        risk engine's price band does not apply, :class:`~botkit.risk.engine.OrderCheck`).
        """
        if self.guard.halted and not exit_order:  # an exit still closes the position
            raise StrategyError(f"strategy {self.name} is halted ({self.guard.halt_reason})")
        if self.warming_up:
            raise StrategyError(
                f"strategy {self.name} is warming up on history: orders are refused until "
                "live events start (check ctx.warming_up before ordering)"
            )
        if self.product_limits and product_id not in self.product_limits:
            raise OrderRejected(  # the risk check said only "no best bid/ask for ETH-USD"
                f"{product_id} is not one of this bot's products "
                f"({', '.join(sorted(self.product_limits))}): add it to [bot] products "
                "(its book, ticker and rules come with it), or check the product id",
                reason="PRODUCT_NOT_TRADED",
            )
        if limit is not None:
            self._check_amounts(product_id, limit[0], limit[1])
        if extra is None:
            intent = OrderIntent(coid or self._new_id(), product_id, side, config)
        else:
            intent = OrderIntent(coid or self._new_id(), product_id, side, config, extra)
        coid = intent.client_order_id
        if self.exits._attached_due:  # an unfilled entry's exit, its end not reported yet
            await self.exits.settle_attached()
        risk = self.risk
        if risk is not None:
            order = (
                OrderCheck(
                    product_id,
                    side,
                    limit[0],
                    None,
                    limit[1],
                    exit_order,
                    risk.restricting and _post_only(config),
                )  # fmt: skip
                if limit is not None
                else OrderCheck.from_intent(intent)
            )
            risk.check_order(
                order,
                self.market.quote(product_id),
                position=self.positions.quantity(product_id),
                open_orders=self._open_count(),
            )
        self._mine[coid] = None
        self._live[coid] = None
        self.orders.track(coid, product_id=product_id, side=side)
        # DEBUG before, INFO after: formatting a log line costs ~30 us, and an INFO line
        # here sat between the tick and the POST (docs/benchmarks.md, tick-to-order)
        self._log.debug("placing %s %s %s client_order_id=%s", side, product_id, config, coid)
        try:
            order_id = await self._sink.place(intent)
        except (OrderOutcomeUnknown, JournalError, asyncio.CancelledError):
            # may exist at the exchange: it stays PENDING (and counts as open) until the
            # user channel, settle_unknown (the runtime's, after an outage) or a restart
            # resolves it. Cancelled: the hook was (its timeout during a venue hang, a
            # stop) while the placement goes on in the executor; unmarked, it was never
            # asked about again in the run (a headless QA pass)
            self._log.warning("order client_order_id=%s outcome unknown; kept pending", coid)
            self._unknown[coid] = self._monotonic()
            raise
        except BotkitError as exc:
            status = "REJECTED" if isinstance(exc, OrderRejected) else "FAILED"
            self.orders.apply(status, client_order_id=coid, now=self.now(), source="create")
            # a post-only order that would cross is refused by design, routinely for a
            # market maker: INFO (WARNING lines in every first run looked like a fault; QA)
            cross = getattr(exc, "reason", "") == POST_ONLY_CROSS and _post_only(config)
            level = logging.INFO if cross else logging.WARNING
            self._log.log(level, "order client_order_id=%s not placed: %s", coid, exc)
            raise
        self._log.info(
            "placed %s %s %s client_order_id=%s order_id=%s",
            side,
            product_id,
            config,
            coid,
            order_id,
        )
        self._accepted(coid, order_id)
        return coid

    def _check_amounts(self, product_id: str, size: Decimal, price: Decimal) -> None:
        """Refuse, before anything is sent, a limit order the venue would refuse for its
        numbers: a size or price not positive (a negative size went out, refused as "below
        1E-8"), off the product's increments, or below its minimum size. Same error and
        reason as the venue's answer (``OrderRejected``), with the fix."""
        if not (size.is_finite() and price.is_finite()) or size <= 0 or price <= 0:
            raise OrderRejected(
                f"{product_id} limit order: size {size} and price {price} must be positive",
                reason="INVALID_ORDER_AMOUNT",
            )
        lim = self.product_limits.get(product_id)
        if lim is None:
            return
        if off_grid(size, lim.base_increment):
            raise OrderRejected(
                f"{product_id} size {size} is not a multiple of its base_increment "
                f"{lim.base_increment}: round it down, e.g. "
                f"size.quantize(Decimal('{lim.base_increment}'), ROUND_DOWN)",
                reason="INVALID_SIZE_PRECISION",
            )
        if off_grid(price, lim.price_increment):
            raise OrderRejected(
                f"{product_id} price {price} is not a multiple of its price increment "
                f"{lim.price_increment}: round it to the tick",
                reason="INVALID_PRICE_PRECISION",
            )
        if size < lim.base_min_size:
            raise OrderRejected(
                f"{product_id} size {size} is below its minimum {lim.base_min_size}",
                reason="INVALID_SIZE_TOO_SMALL",
            )
        if size * price < lim.quote_min_size:  # each venue said it its own way (QA pass)
            raise OrderRejected(
                f"{product_id} order value {size * price} (size x price) is below the "
                f"product's minimum {lim.quote_min_size}: a larger size",
                reason="INVALID_QUOTE_SIZE_TOO_SMALL",
            )

    def _accepted(self, coid: str, order_id: str) -> None:
        """The exchange has order ``order_id`` for ``coid``: OPEN, unless the user channel
        already told more (a fill, an end)."""
        current = self.orders.get(coid)
        pending = current is None or current.status is OrderStatus.PENDING
        self.orders.apply(
            "OPEN" if pending or current is None else current.status,
            client_order_id=coid,
            order_id=order_id,
            now=self.now(),
            source="create",
        )
        # its fill-ledger mark was written by the executor's on_placed (the runtime wires
        # it), before the intent was journalled PLACED: runtime/resume.py, mark_placed

    def placed_meanwhile(self, coid: str, order_id: str) -> None:
        """The exchange took ``coid`` while no one awaited its placement (the strategy's
        wait was cancelled at shutdown): this context learns its order id, so a cancel-all
        reaches it. Not this strategy's, or known already: nothing."""
        current = self.orders.get(coid)
        if coid in self._mine and current is not None and not current.order_id:
            self._accepted(coid, order_id)

    def unknown_outcomes(self) -> tuple[int, float] | None:
        """How many plain orders' create-orders ended unknown and are not settled yet, and
        the oldest one's age in seconds (None: none). The user channel may have told
        already: those leave at the next :meth:`settle_unknown`."""
        live = [t for coid, t in self._unknown.items() if self._undecided(coid)]
        return (len(live), self._monotonic() - min(live)) if live else None

    def _undecided(self, coid: str) -> bool:
        """Whether ``coid`` is still tracked with neither an order id nor an end."""
        o = self.orders.get(coid)
        return o is not None and not o.order_id and not o.terminal

    async def settle_unknown(self, tell: Callable[[OrderUpdate], None] | None = None) -> int:
        """Ask about this strategy's plain orders whose create-order ended unknown (an
        outage); how many were settled. Found at the venue: OPEN with its id. Not found:
        re-sent with the same id while young, REJECTED (STALE_INTENT) once older than the
        executor's ``resend_max_age``, as at start-up; an order ended so reaches the
        strategy's ``on_order_update`` (REJECTED or FAILED): given to ``tell`` (the
        runtime queues it for its driver, as the feed's events: hooks run one at a time),
        else dispatched here (a caller driving the context itself, between events). Still
        unknown: kept for the next time. An exit's own orders are its own (it settles them
        on prints).

        Why: such an order stayed PENDING for the whole run, counted open (the open-order
        cap), its fills unattributed, until a restart (an operator QA pass).
        """
        settled = 0
        for coid in list(self._unknown):
            if not self._undecided(coid) or coid in self.exits.by_coid:
                self._unknown.pop(coid, None)  # the user channel told, released, an exit's
                continue
            halted = self.guard.halted  # its orders are not sent again (a headless QA pass)
            try:
                await self._resolve(coid, drop_stale=True, resend=not halted)
            except (OrderOutcomeUnknown, JournalError):
                continue  # still unknown: the next read-back asks again
            except BotkitError as exc:  # ended: _resolve marked it REJECTED or FAILED
                self._log.warning("order client_order_id=%s settled: %s", coid, exc)
                self._unknown.pop(coid, None)
                await self._tell_ended(coid, tell)
            else:
                self._unknown.pop(coid, None)
                if halted:  # it was placed after all: a halt cancels its strategy's orders
                    await self._cancel_settled(coid)
            settled += 1
        return settled

    async def _cancel_settled(self, coid: str) -> None:
        """Cancel a halted strategy's order that :meth:`settle_unknown` found placed."""
        try:
            await self.cancel(coid)
        except BotkitError as exc:
            self._log.error("order client_order_id=%s of a halted strategy not cancelled: %s",
                            coid, exc)  # fmt: skip

    async def _tell_ended(self, coid: str, tell: Callable[[OrderUpdate], None] | None) -> None:
        """``on_order_update`` for an order :meth:`settle_unknown` ended (REJECTED or FAILED):
        no venue will ever send an update of an order it never had, and a strategy that
        waits for its order's end (to quote again, to free its own slot) must hear of it.
        An order settled OPEN needs none: the user channel sends its updates (the snapshot
        listed it, or it is sent again now and the channel reports it)."""
        state = self.orders.get(coid)
        if state is None or not state.terminal:
            return
        update = learnt_update(
            coid, state.order_id, state.product_id, state.side, str(state.status),
            state.filled_size, state.average_filled_price or Decimal(0), snapshot=False,
        )  # fmt: skip
        if tell is not None:
            tell(update)
        else:
            await self.dispatch(update)

    async def _resolve(self, coid: str, *, drop_stale: bool = False, resend: bool = True) -> str:
        """Settle one of this strategy's orders whose create-order ended unknown: the
        sink looks it up, or re-sends it with the same id (the exchange deduplicates it);
        its order id.

        The exits use it: an exit whose order may or may not exist must not wait for the
        next start to find out (the position is unprotected meanwhile), nor be doubled.
        ``drop_stale`` (:meth:`settle_unknown`, plain orders only): the executor's
        start-up rule, not found and older than its ``resend_max_age`` → not re-sent.

        Raises:
            OrderOutcomeUnknown: still unknown (the order stays PENDING); also when the
                sink cannot resolve (a test's).
            JournalError: the order journal failed (the order stays PENDING).
            OrderRejected: no such order, and none will be: refused at the re-send, or
                ended REJECTED/FAILED before, or never sent (no intent was journalled).
                The order is marked REJECTED.
            BotkitError: another definite failure (marked FAILED).
        """
        resolve = getattr(self._sink, "resolve", None)
        if resolve is None:
            raise OrderOutcomeUnknown(f"the order sink cannot resolve client_order_id {coid}")
        try:
            kw: dict[str, bool] = {"drop_stale": True} if drop_stale else {}
            if not resend:
                kw["resend"] = False  # (a sink of a test may not take the keyword)
            order_id = str(await resolve(coid, **kw))
        except KeyError:
            exc: BotkitError = OrderRejected(
                f"client_order_id {coid} has no intent in the journal: it was never sent",
                reason="NEVER_SENT",
            )
            if self.orders.get(coid) is not None:
                self.orders.apply("REJECTED", client_order_id=coid, now=self.now(), source="create")
            raise exc from None
        except (OrderOutcomeUnknown, JournalError):
            raise  # may rest: it stays PENDING (a broken journal stops the bot anyway)
        except BotkitError as exc:
            status = "REJECTED" if isinstance(exc, OrderRejected) else "FAILED"
            self.orders.apply(status, client_order_id=coid, now=self.now(), source="create")
            raise
        self._log.info("order client_order_id=%s resolved: order_id=%s", coid, order_id)
        self._accepted(coid, order_id)
        return order_id

    # -- Context: exits (botkit/strategy/exit_manager.py) ------------------------------------

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
        return await self.exits.entry(
            product_id, "long", size, price, stop_loss, take_profit, post_only
        )

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
        return await self.exits.entry(
            product_id, "short", size, price, stop_loss, take_profit, post_only
        )

    async def bracket(
        self,
        product_id: str,
        size: Decimal,
        *,
        take_profit: PriceLike,
        stop_loss: PriceLike,
        side: Literal["long", "short"] | None = None,
    ) -> str:
        return await self.exits.held(
            "bracket", product_id, size, side=side, stop=stop_loss, take_profit=take_profit
        )

    async def stop_loss(
        self,
        product_id: str,
        size: Decimal,
        stop: PriceLike,
        *,
        limit: Decimal | None = None,
        side: Literal["long", "short"] | None = None,
    ) -> str:
        return await self.exits.held(
            "stop_loss", product_id, size, side=side, stop=stop, limit=limit
        )

    async def trailing_stop(
        self,
        product_id: str,
        size: Decimal,
        *,
        distance: PriceLike,
        activation: Decimal | None = None,
        side: Literal["long", "short"] | None = None,
    ) -> str:
        if not isinstance(distance, Decimal | Offset):
            raise ExitRejected(
                f"trailing distance must be a Decimal or an Offset, got {distance!r}",
                reason="EXIT_BAD_DISTANCE",
            )
        return await self.exits.held(
            "trailing", product_id, size, side=side, distance=distance, activation=activation
        )

    async def cancel_exit(self, exit_id: str) -> bool:
        return await self.exits.cancel(exit_id)

    async def replace_exit(
        self,
        exit_id: str,
        *,
        stop_loss: PriceLike | None = None,
        take_profit: PriceLike | None = None,
    ) -> str:
        return await self.exits.replace(exit_id, stop=stop_loss, take_profit=take_profit)

    def open_exits(self, product_id: str | None = None) -> list[ExitRecord]:
        return self.exits.live(product_id)

    def alias_order(self, order_id: str, alias: str, product_id: str, side: str) -> None:
        """Follow an order the venue created without a client_order_id (an attached exit)
        under ``alias``: its updates and fills reach this strategy like its own orders'.

        Called by the exit manager (from the entry's create answer, or its journal at a
        restart) and by the runtime (fills of such an exit read back at start-up), as
        :meth:`adopt` is for orders with botkit's id.
        """
        self._aliases[order_id] = alias
        self.adopt(alias, product_id=product_id, side=side)
        # its venue id, known here: a cancel of it works before its first update (its
        # status stays as it is: PENDING is only news to a new order)
        self.orders.apply(OrderStatus.PENDING, client_order_id=alias, order_id=order_id)

    async def cancel(self, client_order_id: str) -> bool:
        order = self.orders.get(client_order_id)
        if order is None and self.orders.released(client_order_id):
            return False  # finished long ago, and released from memory
        if order is None or client_order_id not in self._mine:
            raise StrategyError(f"{client_order_id} is not an order of strategy {self.name}")
        if not order.order_id or order.terminal:
            return False
        if (
            order.status is OrderStatus.CANCEL_QUEUED
            and self.now() - order.updated_at < CANCEL_RESEND_AFTER
        ):
            return False  # its cancel was accepted just now: nothing is sent again
        ok = await self._sink.cancel(order.order_id)
        if ok:
            self.orders.apply(
                "CANCEL_QUEUED", client_order_id=client_order_id, now=self.now(), source="cancel"
            )
        self._log.info("cancel client_order_id=%s accepted=%s", client_order_id, ok)
        return ok

    async def cancel_all(self, product_id: str | None = None) -> int:
        """Cancel this strategy's open orders but its exits' (see the protocol).

        The cancels that raised (the venue down, a 503) are left in
        :attr:`cancel_all_failed`, each logged at ERROR, and the orders not cancelled for
        another reason in :attr:`cancel_all_left` (logged at WARNING): an operator's
        ``ctl cancel-all`` says so instead of reporting success.

        An order whose cancel was accepted over :data:`CANCEL_RESEND_AFTER` seconds ago and
        that has not ended is cancelled again: the venue may have failed the cancel without
        a word (a review), and the kill switch's cancel-all must not leave it working."""
        count = 0
        failed: list[str] = []
        left: list[str] = []
        for order in self.open_orders(product_id) + self._cancel_queued(product_id):
            coid = order.client_order_id
            if self.exits.holds(coid):
                continue  # it protects a position: cancel_exit (or cancel by id) ends it
            try:
                done = await self.cancel(coid)
            except BotkitError as exc:  # keep cancelling the others
                failed.append(coid)
                self._log.error("cancel of %s failed: %s", order.client_order_id, exc)
                continue
            count += done
            now = self.orders.get(coid)
            queued = now is not None and now.status is OrderStatus.CANCEL_QUEUED  # on its way
            if not done and now is not None and not now.terminal and not queued:
                left.append(coid)
        if left:
            self._log.warning(
                "cancel-all: %d order(s) not cancelled (placement in flight, or the venue "
                "did not accept the cancel): %s", len(left), ", ".join(left),
            )  # fmt: skip
        self.cancel_all_failed, self.cancel_all_left = failed, left
        return count

    def _cancel_queued(self, product_id: str | None) -> list[OrderState]:
        """This strategy's orders whose cancel is queued (``cancel`` re-sends one only
        once :data:`CANCEL_RESEND_AFTER` has passed)."""
        queued = []
        for coid in self._live:
            order = self.orders.get(coid)
            if (
                order is not None
                and order.status is OrderStatus.CANCEL_QUEUED
                and (product_id is None or order.product_id == product_id)
            ):
                queued.append(order)
        return queued

    def set_timer(self, name: str, interval: float, *, repeat: bool = True) -> None:
        self.timers.set(name, interval, now=self._monotonic(), repeat=repeat)

    def cancel_timer(self, name: str) -> None:
        self.timers.cancel(name)

    def _released(self, order: OrderState) -> None:
        """The state machine let a finished order go: so does this context's index."""
        self._mine.pop(order.client_order_id, None)
        self._live.pop(order.client_order_id, None)
        self._adopted_with.pop(order.client_order_id, None)
        oid = order.order_id
        if oid and self._aliases.get(oid) == order.client_order_id:
            # its alias still routes a late fill for as long as the state machine remembers
            # released ids (a fill is money); then it goes too: an attached exit per entry
            # made this map grow for the whole run
            gone = self._released_aliases
            gone.append(oid)
            while len(gone) > self.orders.remember_released:
                old = gone.popleft()
                alias = self._aliases.get(old)
                if alias is not None and self.orders.get(alias) is None:
                    del self._aliases[old]

    # -- the guard's halt callback -----------------------------------------------------------

    async def _on_halt(self) -> None:
        cancelled = await self.cancel_all()
        kept = len(self.exits.live())
        self._log.critical(
            "strategy %s halted; %d open order(s) cancelled%s", self.name, cancelled,
            f"; its {kept} exit(s) still protect their positions" if kept else "",
        )  # fmt: skip
