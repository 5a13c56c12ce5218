"""Fixtures: a SimServer driven by the test (no market timer), and a feed factory."""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.market.config import FeedConfig
from botkit.market.events import FeedEvent
from botkit.market.feed import MarketDataFeed
from botkit.net.ws import make_connector
from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol

PIDS = ("BTC-USD", "ETH-USD")


@dataclass
class Market:
    """Moves the simulated market deterministically: explicit times, no timer task."""

    sim: SimServer
    t: float = 0.0

    def step(self, n: int = 5) -> None:
        for _ in range(n):
            self.t += 0.3
            self.sim.step(self.t)


@pytest.fixture
async def market() -> AsyncIterator[Market]:
    async with SimServer(
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.1)
    ) as sim:
        yield Market(sim, sim.clock())


@pytest.fixture(params=["aiohttp", "websockets"])
def connector_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Feeds:
    started: list[MarketDataFeed] = field(default_factory=list)
    events: list[FeedEvent] = field(default_factory=list)


@pytest.fixture
async def make_feed(connector_name: str) -> AsyncIterator[Callable[..., Any]]:
    feeds = Feeds()

    async def start(
        sim: SimServer, *, events: list[FeedEvent] | None = None, **kw: Any
    ) -> MarketDataFeed:
        opts: dict[str, Any] = {
            "market_url": sim.ws_market_url,
            "user_url": sim.ws_user_url,
            "products": PIDS,
            "stale_after": 0.6,
            "backoff_initial": 0.01,
            "backoff_max": 0.05,
            "ca_file": sim.cert_path,
        }
        feed_kw = {k: kw.pop(k) for k in ("signer", "hwm_store", "backfill", "recorder") if k in kw}
        opts.update(kw)
        sink = events if events is not None else feeds.events
        feed = MarketDataFeed(
            FeedConfig(**opts),
            protocol=FeedProtocol,
            # as MarketDataFeed builds it: text frames as bytes unless they are recorded
            connector=make_connector(
                connector_name, ping_interval=5, text_as_bytes="recorder" not in feed_kw
            ),
            on_event=sink.append,
            rng=random.Random(1),
            **feed_kw,
        )
        feeds.started.append(feed)
        return await feed.start()

    yield start
    for feed in feeds.started:
        await feed.stop()


def signer_for(sim: SimServer, user_id: str = "default") -> JwtSigner:
    return JwtSigner(
        sim.add_key("ES256", user_id=user_id), clock=SystemClock(), nonce=secrets.token_hex
    )


async def assert_books_match(
    feed: MarketDataFeed, sim: SimServer, pids: tuple[str, ...] = PIDS
) -> None:
    await feed.wait_ready(10)
    await feed.sync(10)
    for pid in pids:
        book = feed.books[pid]
        assert book.valid, book
        assert book.depth() == sim.exchange.book(pid), pid
