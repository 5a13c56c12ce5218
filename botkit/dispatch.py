"""Event delivery shared by the live runtime and the backtester.

Both drive a strategy the same way, so the rules live once, here: which feed events
a strategy sees, how queued book events are conflated, how fills are counted and
logged (with their ``client_order_id``), and how orders are counted on their way to
the executor. The runtime feeds this from a queue filled by the socket reader; the
backtester feeds it inline from a recording.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from botkit.core.feed_events import (
    BookChanged,
    BookInvalidated,
    CandlesReceived,
    FeedEvent,
    FillEvent,
    OrderUpdate,
    TickersReceived,
    TradesReceived,
)
from botkit.core.intents import OrderIntent
from botkit.errors import BotkitError, JournalError
from botkit.executor import OrderExecutor
from botkit.runtime_ui import RunStats
from botkit.strategy.context import BotContext
from botkit.strategy.ports import ExecutorSink

__all__ = ["FOR_STRATEGY", "STRATEGY_TYPES", "CountingSink", "dispatch_batch"]

log = logging.getLogger("botkit.runtime")

FOR_STRATEGY = (
    BookChanged,
    BookInvalidated,
    TickersReceived,
    TradesReceived,
    CandlesReceived,
    OrderUpdate,
    FillEvent,
)
"""The feed events a strategy receives (the rest are for the feed and the operator)."""

STRATEGY_TYPES = frozenset(FOR_STRATEGY)
"""The same, for a ``type(event) in STRATEGY_TYPES`` test on hot paths."""


class CountingSink(ExecutorSink):
    """The executor sink, counting what the strategy sent and what the exchange refused."""

    def __init__(self, executor: OrderExecutor, stats: RunStats, ids: list[str]) -> None:
        super().__init__(executor)
        self._stats, self._ids = stats, ids

    async def place(self, intent: OrderIntent) -> str:
        self._ids.append(intent.client_order_id)
        try:
            order_id = await super().place(intent)
        except JournalError:
            raise  # not a refusal: the bot is stopping (see JournalError)
        except BotkitError:
            self._stats.rejected += 1
            raise
        self._stats.orders += 1
        return order_id


async def dispatch_batch(ctx: BotContext, batch: Sequence[FeedEvent], stats: RunStats) -> None:
    """Deliver ``batch`` in order; of several book events of one product only the last.

    Book events carry the live book, so the earlier ones would show the same (current)
    state anyway: delivering them would only make a slow strategy fall further behind.
    """
    last_book = (
        {e.product_id: i for i, e in enumerate(batch) if type(e) is BookChanged}
        if len(batch) > 1
        else None
    )
    for i, event in enumerate(batch):
        if (
            last_book is not None
            and type(event) is BookChanged
            and last_book[event.product_id] != i
        ):
            continue
        stats.events += 1
        if type(event) is FillEvent and ctx.orders.get(event.client_order_id):
            stats.fills += 1
            log.info(
                "fill %s %s %s @ %s client_order_id=%s",
                event.side,
                event.size,
                event.product_id,
                event.price,
                event.client_order_id,
            )
        await ctx.dispatch(event)
