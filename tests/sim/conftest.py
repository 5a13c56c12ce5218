"""Fixtures for tests that run against botkit.sim over real loopback sockets."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.auth.keys import CdpKey
from botkit.sim.exchange import SimExchange, SimMarketConfig
from botkit.sim.server import SimServer
from botkit.sim.ws import SimWsHub, WsConfig, WsFaults
from tests.sim.ws_harness import T0, Client, Keys, Sim, make_verifier


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=11) as server:
        yield server


@pytest.fixture
async def tls_sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=12, tls=True) as server:
        yield server


class Caller:
    """A tiny signed REST caller for tests (botkit's real client lands with the executor issue)."""

    def __init__(self, sim: SimServer, key: CdpKey, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.signer = JwtSigner(key, clock=SystemClock(), nonce=secrets.token_hex)
        self.session = session

    async def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        sign: bool = True,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        url = self.sim.rest_url + path
        data = json.dumps(body).encode() if body is not None else b""
        hdrs = dict(headers or {})
        if sign:
            hdrs.update(self.signer.sign(method, url, data))
        async with self.session.request(method, url, data=data, headers=hdrs) as resp:
            text = await resp.text()
            try:
                payload: Any = json.loads(text)
            except ValueError:
                payload = text
            return resp.status, payload, dict(resp.headers)


@pytest.fixture
async def call(sim: SimServer) -> AsyncIterator[Caller]:
    key = sim.add_key("ES256")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield Caller(sim, key, session)


# -- the WebSocket hub alone (tests/sim/test_ws_*.py; harness in ws_harness.py) --


@pytest.fixture
async def make_sim() -> AsyncIterator[Callable[..., Any]]:
    started: list[tuple[SimWsHub, web.AppRunner]] = []

    async def start(**cfg: Any) -> Sim:
        keys = Keys()
        exchange = SimExchange(SimMarketConfig(), seed=7, start_time=T0)
        for _, user in keys.users().values():
            exchange.add_user(user)
        exchange.drain_events()
        faults = WsFaults()
        box: list[Sim] = []
        hub = SimWsHub(
            exchange,
            # prints sent per step unless a test asks for Coinbase's 250 ms batching
            config=WsConfig(**{"market_trades_interval": 0.0, **cfg}),
            now=lambda: box[0].t,
            verify_jwt=make_verifier(keys),
            faults=faults,
        )
        app = web.Application()
        app.router.add_get("/", hub.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, host="127.0.0.1", port=0)
        await site.start()
        port = runner.addresses[0][1]
        started.append((hub, runner))
        box.append(Sim(exchange, hub, faults, keys, f"ws://127.0.0.1:{port}/"))
        return box[0]

    yield start
    for hub, runner in started:
        await hub.close()
        await runner.cleanup()


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Any]]:
    session = aiohttp.ClientSession()

    async def open_(url: str, **kw: Any) -> Client:
        ws = await session.ws_connect(url, max_msg_size=64 * 1024 * 1024, **kw)
        return Client(ws)

    yield open_
    await session.close()
