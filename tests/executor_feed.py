"""A feed wired to an executor as the runtime wires it, for tests that follow an order from
the REST answer to the user channel: every order update reaches the executor first, and
every event is kept (in arrival order) for the test to read."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

from botkit.market.config import FeedConfig
from botkit.market.events import FeedEvent, OrderUpdate
from botkit.market.feed import MarketDataFeed
from botkit.orders.executor import OrderExecutor


@contextlib.asynccontextmanager
async def executor_feed(
    executor: OrderExecutor,
    *,
    market_url: str,
    user_url: str,
    protocol: Any,
    signer: Any,
    products: tuple[str, ...] = ("BTC-USD",),
    connector: Any = None,
    **config: Any,
) -> AsyncIterator[tuple[MarketDataFeed, list[FeedEvent]]]:
    """A started user-channel feed (fast reconnects, 2 s staleness); stopped on exit.

    ``config``: other :class:`FeedConfig` fields (``channels=()``, ``user_products=``...).
    """
    events: list[FeedEvent] = []

    def on_event(event: FeedEvent) -> None:
        if isinstance(event, OrderUpdate):
            executor.on_order_update(event)
        events.append(event)

    extra = {} if connector is None else {"connector": connector}
    feed = MarketDataFeed(
        FeedConfig(
            market_url=market_url,
            user_url=user_url,
            products=products,
            user=True,
            stale_after=2.0,
            backoff_initial=0.01,
            backoff_max=0.05,
            **config,
        ),
        protocol=protocol,
        signer=signer,
        on_event=on_event,
        rng=random.Random(1),
        **extra,
    )
    await feed.start()
    try:
        yield feed, events
    finally:
        await feed.stop()
