"""Fixtures for executor tests: a simulator that records what it saw, and fast-retry clients."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.auth.keys import CdpKey
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.journal import OrderJournal
from botkit.sim.ratelimit import RateLimitConfig
from botkit.sim.server import SimServer
from botkit.venues.advanced_trade.rest_client import RestClient

FAST = RetryPolicy().scaled(0.001)  # 0.25 ms base backoff: retries cost nothing in tests


class RecordingSim(SimServer):
    """The simulator plus an outermost middleware recording each request's headers.

    ``on_request`` (optional) runs when a request arrives, before faults or handlers:
    tests use it to look at the journal at the instant the POST reaches the exchange.
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.on_request: Callable[[web.Request], None] | None = None

    def make_app(self) -> web.Application:
        app = super().make_app()

        @web.middleware
        async def record(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            self.seen.append((request.method, request.path, dict(request.headers)))
            if self.on_request is not None:
                self.on_request(request)
            return await handler(request)

        app.middlewares.insert(0, record)
        return app

    def auth_headers(self, path_suffix: str) -> list[str]:
        return [h.get("Authorization", "") for _, p, h in self.seen if p.endswith(path_suffix)]


class Sleeps:
    """An injected ``sleep`` that records what it was asked and yields without waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def sim() -> AsyncIterator[RecordingSim]:
    # Rate limits off: these tests drive the order path with an unlimited client limiter and
    # a sleep that does not wait (hundreds of orders per second); they are not about limits
    # (tests/sim/test_rate_limits.py is).
    off = RateLimitConfig(enabled=False)
    async with RecordingSim(seed=21, tick_interval=0.05, rate_limits=off) as server:
        yield server


@pytest.fixture
def key(sim: RecordingSim) -> CdpKey:
    return sim.add_key("ES256")


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


ClientFactory = Callable[..., RestClient]


@pytest.fixture
async def make_client(
    sim: RecordingSim, key: CdpKey, sleeps: Sleeps
) -> AsyncIterator[ClientFactory]:
    clients: list[RestClient] = []

    def factory(**kw: Any) -> RestClient:
        clock = kw.pop("clock", None) or SystemClock()
        signer = kw.pop("signer", None) or JwtSigner(
            kw.pop("key", key), clock=clock, nonce=secrets.token_hex
        )
        kw.setdefault("policy", FAST)
        kw.setdefault("rng", random.Random(7))
        kw.setdefault("sleep", sleeps)
        kw.setdefault("limiter", RateLimiter(float("inf"), float("inf")))
        kw.setdefault("read_timeout", 2.0)
        client = RestClient(kw.pop("base_url", sim.rest_url), signer, clock=clock, **kw)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


@pytest.fixture
def journal(journal_path: Path) -> OrderJournal:
    return OrderJournal(journal_path)
