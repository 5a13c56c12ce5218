"""Event delivery shared by the live runtime and the backtester.

Both drive a strategy the same way, so the rules live once, here: which feed events
a strategy sees, how queued book events are conflated, how fills are counted and
logged (with their ``client_order_id``), and how orders are counted on their way to
the executor. The runtime feeds this from a queue filled by the socket reader; the
backtester feeds it inline from a recording.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from botkit.errors import BotkitError, JournalError
from botkit.market.events import (
    BookChanged,
    BookInvalidated,
    CandlesReceived,
    FeedErrorReceived,
    FeedEvent,
    FillEvent,
    OrderUpdate,
    SequenceGapDetected,
    TickersReceived,
    TradesReceived,
    TradingStatusChanged,
)
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent
from botkit.runtime.ui import RunStats
from botkit.strategy.context import BotContext
from botkit.strategy.ports import ExecutorSink

__all__ = [
    "FOR_STRATEGY",
    "STRATEGY_TYPES",
    "CountingSink",
    "FeedTroubleLog",
    "dispatch_batch",
    "dispatch_ready",
]

log = logging.getLogger("botkit.runtime.bot")

FOR_STRATEGY = (
    BookChanged,
    BookInvalidated,
    TickersReceived,
    TradesReceived,
    CandlesReceived,
    OrderUpdate,
    FillEvent,
    TradingStatusChanged,
)
"""The feed events a strategy receives (the rest are for the feed and the operator)."""

STRATEGY_TYPES = frozenset(FOR_STRATEGY)
"""The same, for a ``type(event) in STRATEGY_TYPES`` test on hot paths."""


class CountingSink(ExecutorSink):
    """The executor sink, counting what the strategy sent and what the exchange refused.

    Args:
        executor: where orders go.
        stats: the counters to keep.
        ids: receives every ``client_order_id`` sent, oldest first (the run's result).
        keep_ids: at most this many of the latest ids stay in ``ids`` (trimmed in place,
            in chunks, so ``ids`` holds between ``keep_ids`` and twice that): a bot that
            trades for weeks must not keep every id (the journal has them all).
            None keeps every id.
        on_latency: called with the seconds from handing an intent to the executor to its
            acknowledgement (metrics); the last value is :attr:`last_rtt` either way.
        on_reject: called when the executor refused or failed an order (alerts).
        monotonic: the clock of that measurement.
    """

    def __init__(
        self,
        executor: OrderExecutor,
        stats: RunStats,
        ids: list[str],
        *,
        keep_ids: int | None = 10_000,
        on_latency: Callable[[float], None] | None = None,
        on_reject: Callable[[OrderIntent, BotkitError], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(executor)
        self.on_latency = on_latency
        self.on_reject = on_reject
        self._monotonic = monotonic
        self.last_rtt: float | None = None
        """Seconds of the last acknowledged create-order round trip (the health model)."""
        self._stats, self._ids = stats, ids
        if keep_ids is not None and keep_ids < 1:
            raise ValueError(f"keep_ids must be >= 1 or None, got {keep_ids}")
        self._trim_at = None if keep_ids is None else 2 * keep_ids
        self._keep = keep_ids or 0

    async def place(self, intent: OrderIntent) -> str:
        ids = self._ids
        ids.append(intent.client_order_id)
        if self._trim_at is not None and len(ids) >= self._trim_at:
            del ids[: len(ids) - self._keep]
        t0 = self._monotonic()
        try:
            order_id = await super().place(intent)
        except JournalError:
            raise  # not a refusal: the bot is stopping (see JournalError)
        except BotkitError as exc:
            self._stats.rejected += 1
            if self.on_reject is not None:
                self.on_reject(intent, exc)
            raise
        self._stats.orders += 1
        rtt = self.last_rtt = self._monotonic() - t0
        if self.on_latency is not None:
            self.on_latency(rtt)
        return order_id


async def dispatch_batch(ctx: BotContext, batch: Sequence[FeedEvent], stats: RunStats) -> None:
    """Deliver ``batch`` in order; of several book events of one product only the last.

    Book events carry the live book, so the earlier ones would show the same (current)
    state anyway: delivering them would only make a slow strategy fall further behind.
    """
    rest = dispatch_ready(ctx, batch, stats)
    if rest is not None:
        await rest


def dispatch_ready(
    ctx: BotContext, batch: Sequence[FeedEvent], stats: RunStats
) -> Coroutine[Any, Any, None] | None:
    """:func:`dispatch_batch`, done here and now up to the first event that needs an
    await: what is left to await (None when nothing is), which the caller must await
    before anything else reaches the strategy.

    Why: a replay dispatches every record's events, and for a strategy without the hook
    every event is done by :meth:`~botkit.strategy.driving.StrategyDriver.dispatch_now`
    at once; the coroutine of :func:`dispatch_batch` around it was ~0.4 us of a trivial
    replay's ~18 us per record. The loop here and the one in :func:`_dispatch_rest` are
    the same rules (a differential test drives both).
    """
    last_book = (
        {e.product_id: i for i, e in enumerate(batch) if type(e) is BookChanged}
        if len(batch) > 1
        else None
    )
    i = 0
    for event in batch:
        i += 1  # the index of the next event
        if (
            last_book is not None
            and type(event) is BookChanged
            and last_book[event.product_id] != i - 1
        ):
            continue
        stats.events += 1
        if type(event) is FillEvent:
            _count_fill(ctx, event, stats)
        rest = ctx.dispatch_now(event)  # no coroutine for an event that calls no hook
        if rest is not None:
            return _dispatch_rest(ctx, batch, stats, rest, i, last_book)
    return None


async def _dispatch_rest(
    ctx: BotContext,
    batch: Sequence[FeedEvent],
    stats: RunStats,
    rest: Coroutine[Any, Any, None],
    start: int,
    last_book: dict[str, int] | None,
) -> None:
    """:func:`dispatch_ready`'s loop from ``batch[start]`` on, once ``rest`` (what the
    event before it left to do) is done."""
    await rest
    for i in range(start, len(batch)):
        event = batch[i]
        if (
            last_book is not None
            and type(event) is BookChanged
            and last_book[event.product_id] != i
        ):
            continue
        stats.events += 1
        if type(event) is FillEvent:
            _count_fill(ctx, event, stats)
        more = ctx.dispatch_now(event)
        if more is not None:
            await more


def _count_fill(ctx: BotContext, event: FillEvent, stats: RunStats) -> None:
    """Count and log a fill of one of the strategy's orders (by its alias if it is an
    attached exit's); the exchange's fills of other orders are not this run's."""
    coid = ctx.fill_key(event)  # an attached exit's fill: its alias
    if coid and (ctx.orders.get(coid) or ctx.orders.released(coid)):
        stats.fills += 1
        log.info(  # plain numbers: Exchange's normalised 6.5E+4 read as a typo
            "fill %s %s %s @ %s client_order_id=%s",
            event.side,
            f"{event.size:f}",
            event.product_id,
            f"{event.price:f}",
            coid,
        )


class FeedTroubleLog:
    """Logs what the venue's error frames and lost messages say, the first 20 and then every
    100th (a hostile server cannot fill the disk).

    Why: they only counted in a metric; a lost View permission, a misspelt channel or a
    skewed clock (Coinbase's "authentication failure") went unseen by an operator.
    """

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event: FeedErrorReceived | SequenceGapDetected) -> None:
        self.count += 1
        n = self.count
        if n > 20 and n % 100:
            return
        if isinstance(event, FeedErrorReceived):
            log.warning("feed: %s (%d error frame(s) or gap(s) so far)", event.error, n)
        else:
            log.warning(
                "feed: %s lost messages (sequence_num %d where %d was next): resynchronising "
                "(%d error frame(s) or gap(s) so far)",
                event.connection, event.received, event.expected, n,
            )  # fmt: skip
