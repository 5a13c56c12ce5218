"""Three independent readers of the simulator's REST API, over TLS loopback sockets.

The official SDK (coinbase-advanced-py 1.8.4), botkit's own RestClient and ccxt's
``coinbase`` (4.5.x), all unmodified, each with its own key of one user. The server's
rate limits are off: these tests read semantics, not pacing (tests/sim/test_rate_limits.py
covers the limits).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from coinbase.rest import RESTClient

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.net.ratelimit import RateLimiter
from botkit.sim.ratelimit import RateLimitConfig
from botkit.sim.server import SimServer
from botkit.venues.advanced_trade.rest_client import RestClient

try:
    import ccxt.async_support as ccxt_async
except ImportError:  # pragma: no cover - ccxt is in the test extras
    ccxt_async = None

NO_CCXT = "ccxt is not installed in this environment (pip install -e '.[test]')"


@dataclass
class Readers:
    sim: SimServer
    sdk: RESTClient
    bk: RestClient
    cx: Any  # ccxt.async_support.coinbase, or None when ccxt is missing


def sdk_client(sim: SimServer) -> RESTClient:
    key = sim.add_key("ES256")
    client = RESTClient(
        api_key=key.name, api_secret=sim.secret_of(key), base_url=sim.authority, timeout=10
    )
    client.session.verify = str(sim.cert_path)
    client.session.trust_env = False  # else REQUESTS_CA_BUNDLE would win over .verify
    return client


def botkit_client(sim: SimServer) -> RestClient:
    signer = JwtSigner(sim.add_key("ES256"), clock=SystemClock(), nonce=secrets.token_hex)
    return RestClient(
        sim.rest_url,
        signer,
        ca_file=sim.cert_path,
        limiter=RateLimiter(float("inf"), float("inf")),
        read_timeout=5.0,
    )


def ccxt_client(sim: SimServer) -> Any:
    if ccxt_async is None:
        return None
    key = sim.add_key("ES256")
    ex = ccxt_async.coinbase(
        {
            "apiKey": key.name,
            "secret": sim.secret_of(key),
            "cafile": str(sim.cert_path),
            "timeout": 10_000,
            "enableRateLimit": False,
        }
    )
    ex.urls["api"]["rest"] = f"https://{sim.authority}"
    ex.has["fetchCurrencies"] = False  # /v2/currencies is the Coinbase app API: not served
    return ex


@asynccontextmanager
async def open_readers() -> AsyncIterator[Readers]:
    """A TLS simulator (rate limits off) and the three clients, each with a key of one user."""
    async with SimServer(
        seed=31, tls=True, tick_interval=0, rate_limits=RateLimitConfig(enabled=False)
    ) as sim:
        sdk = sdk_client(sim)
        bk = botkit_client(sim)
        cx = ccxt_client(sim)
        try:
            yield Readers(sim, sdk, bk, cx)
        finally:
            sdk.session.close()
            await bk.close()
            if cx is not None:
                await cx.close()
