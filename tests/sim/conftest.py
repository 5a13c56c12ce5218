"""Fixtures for tests that run against botkit.sim over real loopback sockets."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.auth.keys import CdpKey
from botkit.sim.server import SimServer


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
