"""Connection loops survive anything a session throws, and stop() ends them (issue 12, item 4).

Faults are injected through the feed's constructor seams: a ``WsConnector`` that wraps
the real one (and fails the way no code path foresaw), an ``rng`` that breaks, and a
``spawn`` function standing in for the runtime's supervisor.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from botkit.market.config import FeedConfig
from botkit.market.feed import MarketDataFeed
from botkit.net.ws import WsConnection, WsConnector, make_connector
from botkit.sim.server import SimServer
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol
from tests.market.conftest import PIDS, Market, assert_books_match


def config(sim: SimServer | None, **kw: Any) -> FeedConfig:
    opts: dict[str, Any] = {
        "market_url": sim.ws_market_url if sim else f"ws://127.0.0.1:{closed_port()}",
        "products": PIDS,
        "stale_after": 2.0,
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
        "ca_file": sim.cert_path if sim else None,
    }
    opts.update(kw)
    return FeedConfig(**opts)


def closed_port() -> int:
    """A loopback port nobody listens on (connecting fails at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FlakyConnector:
    """The real connector, whose first ``fail`` connects raise what nobody expects."""

    def __init__(self, inner: WsConnector, fail: int) -> None:
        self.inner, self.fail = inner, fail

    async def connect(
        self, url: str, *, max_size: int, ssl_ctx: ssl.SSLContext | None
    ) -> WsConnection:
        if self.fail > 0:
            self.fail -= 1
            raise RuntimeError("connector bug nobody foresaw")
        return await self.inner.connect(url, max_size=max_size, ssl_ctx=ssl_ctx)

    async def aclose(self) -> None:
        await self.inner.aclose()


class BreakingConnection:
    """A real connection whose ``recv`` raises KeyError once, after ``after`` frames."""

    def __init__(self, inner: WsConnection, after: int) -> None:
        self.inner, self.after = inner, after

    @property
    def close_code(self) -> int | None:
        return self.inner.close_code

    async def send(self, text: str) -> None:
        await self.inner.send(text)

    async def recv(self) -> str | bytes | None:
        self.after -= 1
        if self.after == 0:
            raise KeyError("transport bug nobody foresaw")
        return await self.inner.recv()

    async def close(self, code: int = 1000) -> None:
        await self.inner.close(code)


class BreakOnceConnector:
    def __init__(self, inner: WsConnector, after: int) -> None:
        self.inner, self.after, self.opened = inner, after, 0

    async def connect(
        self, url: str, *, max_size: int, ssl_ctx: ssl.SSLContext | None
    ) -> WsConnection:
        ws = await self.inner.connect(url, max_size=max_size, ssl_ctx=ssl_ctx)
        self.opened += 1
        return BreakingConnection(ws, self.after) if self.opened == 1 else ws

    async def aclose(self) -> None:
        await self.inner.aclose()


class HangingConnector:
    """Connects never complete (a black-holed endpoint)."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def connect(
        self, url: str, *, max_size: int, ssl_ctx: ssl.SSLContext | None
    ) -> WsConnection:
        self.entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        return None


async def test_a_connect_that_raises_anything_is_logged_counted_and_retried(
    market: Market, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyConnector(make_connector("aiohttp", text_as_bytes=True), fail=2)
    feed = MarketDataFeed(
        config(market.sim), protocol=FeedProtocol, connector=flaky, rng=random.Random(1)
    )
    with caplog.at_level(logging.ERROR, logger="botkit.market.feed"):
        async with feed:
            await feed.wait_ready(10)
            market.step(3)
            await assert_books_match(feed, market.sim)
    assert feed.conns[0].crashes == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and all("market-0" in r.getMessage() for r in errors)
    assert all("RuntimeError" in r.getMessage() and r.exc_info for r in errors)


async def test_a_session_that_raises_anything_reconnects_with_fresh_books(market: Market) -> None:
    breaking = BreakOnceConnector(make_connector("aiohttp", text_as_bytes=True), after=6)
    events: list[object] = []
    feed = MarketDataFeed(
        config(market.sim),
        protocol=FeedProtocol,
        connector=breaking,
        rng=random.Random(1),
        on_event=events.append,
    )
    async with feed:
        await feed.wait_for(lambda: feed.conns[0].crashes == 1, 10)
        await feed.wait_ready(10)
        market.step(3)
        await assert_books_match(feed, market.sim)
        assert feed.conns[0].connects >= 2 and breaking.opened >= 2


class MiniSupervisor:
    """What the runtime's supervisor does with spawn(): run the factory, restart on error."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.restarts = 0

    def spawn(self, name: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.names.append(name)

        async def supervise() -> None:
            while True:
                try:
                    await factory()
                    return  # the loop returned: the feed is stopping
                except Exception:
                    self.restarts += 1

        self.tasks.append(asyncio.create_task(supervise(), name=name))


async def test_spawn_hands_the_loops_to_a_supervisor_and_stop_ends_them(market: Market) -> None:
    sup = MiniSupervisor()
    feed = MarketDataFeed(
        config(market.sim), protocol=FeedProtocol, rng=random.Random(1), spawn=sup.spawn
    )
    await feed.start()
    assert sup.names == ["feed-market-0"] and all(c.task is None for c in feed.conns)
    await feed.wait_ready(10)
    market.step(3)
    await assert_books_match(feed, market.sim)
    async with asyncio.timeout(5):
        await feed.stop()
    assert all(t.done() and not t.cancelled() and t.exception() is None for t in sup.tasks)
    assert sup.restarts == 0


@pytest.mark.parametrize("where", ["backoff", "connect"])
async def test_stop_ends_spawned_loops_promptly_while_they_wait(where: str) -> None:
    sup = MiniSupervisor()
    # waits of up to an hour: only stop() itself can end them inside the test's 10 s bound
    cfg = config(None, backoff_initial=3600.0, backoff_max=3600.0, connect_timeout=3600.0)
    hanging = HangingConnector()
    connector: WsConnector = hanging if where == "connect" else make_connector()
    events: list[object] = []
    feed = MarketDataFeed(
        cfg,
        protocol=FeedProtocol,
        connector=connector,
        rng=random.Random(1),
        spawn=sup.spawn,
        on_event=events.append,
    )
    await feed.start()
    if where == "backoff":  # connecting to a closed port failed: the loop now waits 0-3600 s
        await feed.wait_for(
            lambda: any(getattr(e, "state", "") == "connect_failed" for e in events)
        )
    else:
        await asyncio.wait_for(hanging.entered.wait(), 5)  # inside a never-ending connect
    async with asyncio.timeout(10):
        await feed.stop()
    assert all(t.done() and not t.cancelled() and t.exception() is None for t in sup.tasks)


async def test_stop_logs_a_task_that_died_instead_of_swallowing_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BrokenRandom(random.Random):
        def uniform(self, a: float, b: float) -> float:
            raise RuntimeError("rng broke")

    feed = MarketDataFeed(config(None), protocol=FeedProtocol, rng=BrokenRandom())
    await feed.start()
    task = feed.conns[0].task
    assert task is not None
    async with asyncio.timeout(10):  # connect fails at once, the backoff's jitter raises
        await asyncio.wait([task])
    with caplog.at_level(logging.WARNING, logger="botkit.market.feed"):
        await feed.stop()
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("feed-market-0" in t and "RuntimeError" in t and "rng broke" in t for t in logged)
