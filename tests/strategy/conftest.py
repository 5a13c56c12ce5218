"""Fixtures: the real simulator, REST client and executor behind a strategy context."""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.clock import ManualClock
from botkit.market.book import L2Book
from botkit.market.events import BookChanged, OrderUpdate
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.journal import OrderJournal
from botkit.sim.server import SimServer
from botkit.strategy.context import BotContext
from botkit.strategy.ports import ExecutorSink, MarketState
from botkit.venues.advanced_trade.messages import L2Level
from botkit.venues.advanced_trade.rest_client import RestClient

PRODUCT = "BTC-USD"


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=5, tick_interval=0.05) as server:
        yield server


def sim_client(sim: SimServer) -> RestClient:
    """A REST client of the simulator with a key of its own, fast retries, no rate cap."""
    clock = SystemClock()
    signer = JwtSigner(sim.add_key("ES256"), clock=clock, nonce=secrets.token_hex)
    return RestClient(
        sim.rest_url,
        signer,
        clock=clock,
        policy=RetryPolicy().scaled(0.001),
        rng=random.Random(3),
        limiter=RateLimiter(float("inf"), float("inf")),
        read_timeout=2.0,
    )


@pytest.fixture
async def executor(sim: SimServer, tmp_path: Path) -> AsyncIterator[OrderExecutor]:
    client = sim_client(sim)
    ex = OrderExecutor(client, OrderJournal(tmp_path / "journal.sqlite"))
    yield ex
    await ex.close()
    await client.close()


def sim_book(sim: SimServer, product_id: str = PRODUCT) -> L2Book:
    """An L2 book snapshot of the simulator's current book (what the feed would build)."""
    bids, asks = sim.exchange.book(product_id)
    book = L2Book(product_id)
    book.apply_snapshot(
        [L2Level(side="bid", price_level=str(p), new_quantity=q) for p, q in bids]
        + [L2Level(side="offer", price_level=str(p), new_quantity=q) for p, q in asks]
    )
    return book


def book_event(sim: SimServer, product_id: str = PRODUCT) -> BookChanged:
    return BookChanged(product_id, sim_book(sim, product_id), True, 1)


async def order_update(ex: OrderExecutor, order_id: str) -> OrderUpdate:
    """The order's current state at the simulator, as the user channel would report it."""
    o = await ex.client.get_order(order_id)
    return OrderUpdate(
        order_id=o.order_id,
        client_order_id=o.client_order_id,
        product_id=o.product_id,
        side=o.side,
        order_type=o.order_type,
        status=o.status,
        cumulative_quantity=o.filled_size,
        leaves_quantity=Decimal(0),
        avg_price=o.average_filled_price,
        total_fees=o.total_fees,
        snapshot=False,
    )


ContextFactory = Callable[..., BotContext]


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_context(executor: OrderExecutor, manual_clock: ManualClock) -> ContextFactory:
    def factory(**kw: Any) -> BotContext:
        kw.setdefault("clock", manual_clock)
        kw.setdefault("guard_clock", manual_clock)
        kw.setdefault("monotonic", manual_clock.time)  # timers follow the manual clock too
        return BotContext(kw.pop("name", "quoter"), ExecutorSink(executor), MarketState(), **kw)

    return factory
