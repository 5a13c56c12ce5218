"""Cold start: the simulator's public tape is seeded from its candle history (issue 15).

Without it, ``market_trades`` and the ticker's last trade are empty for the first moments
of a session while 24 h of candles exist, which no real market shows. The seeded prints
*are* the last candles (open first, high and low, close last; sizes adding up to the
volume), so a client that checks the tape against the candles finds them consistent.
Read through the official SDK and botkit's own client, over TLS loopback sockets, with the
market not stepped at all (``tick_interval=0``).
"""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal as D
from typing import Any

import pytest
from coinbase.rest import RESTClient

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.net.ratelimit import RateLimiter
from botkit.sim.server import SimServer
from botkit.venues.advanced_trade.rest_client import RestClient

PID = "BTC-USD"


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=21, tls=True, tick_interval=0) as server:
        yield server


def _minute(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()) // 60 * 60


def _check_consistent(trades: list[dict[str, Any]], candles: list[dict[str, Any]]) -> None:
    """Every print lies in its minute's candle; per minute they open, close and sum to it."""
    by_start = {int(c["start"]): c for c in candles}
    per_minute: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for t in sorted(trades, key=lambda t: int(t["trade_id"])):  # oldest first
        per_minute[_minute(t["time"])].append(t)
    assert len(per_minute) >= 5
    for start, prints in per_minute.items():
        c = by_start[start]
        assert all(D(c["low"]) <= D(t["price"]) <= D(c["high"]) for t in prints)
        assert D(prints[0]["price"]) == D(c["open"]) and D(prints[-1]["price"]) == D(c["close"])
        assert sum(D(t["size"]) for t in prints) == D(c["volume"])


async def test_the_sdk_sees_a_tape_at_start_that_agrees_with_the_candles(sim: SimServer) -> None:
    key = sim.add_key("ES256")
    sdk = RESTClient(
        api_key=key.name, api_secret=sim.secret_of(key), base_url=sim.authority, timeout=10
    )
    sdk.session.verify = str(sim.cert_path)
    sdk.session.trust_env = False
    try:
        run = asyncio.to_thread
        tape = (await run(sdk.get_market_trades, product_id=PID, limit=100)).to_dict()
        trades = tape["trades"]
        assert len(trades) >= 20
        now = int(sim.clock())
        candles = (
            await run(
                sdk.get_candles,
                product_id=PID,
                start=str(now - 3600),
                end=str(now),
                granularity="ONE_MINUTE",
            )
        ).to_dict()["candles"]
        _check_consistent(trades, candles)
        newest = max(trades, key=lambda t: int(t["trade_id"]))
        last_close = max(candles, key=lambda c: int(c["start"]))["close"]
        assert D(newest["price"]) == D(last_close)
        ticker = (await run(sdk.get_product, PID)).to_dict()
        assert D(ticker["price"]) == D(last_close)  # the last trade, not a missing value
    finally:
        sdk.session.close()


async def test_botkit_reads_the_same_tape_and_candles(sim: SimServer) -> None:
    signer = JwtSigner(sim.add_key("ES256"), clock=SystemClock(), nonce=secrets.token_hex)
    client = RestClient(sim.rest_url, signer, ca_file=sim.cert_path, limiter=RateLimiter(1e9, 1e9))
    async with client:
        tape = await client.market_trades(PID, limit=100)
        now = int(sim.clock())
        candles = await client.candles(PID, start=now - 3600, end=now)
    trades = [
        {"trade_id": t.trade_id, "price": t.price, "size": t.size, "time": t.time}
        for t in tape.trades
    ]
    wire_candles = [
        {"start": c.start, "open": c.open, "high": c.high, "low": c.low, "close": c.close,
         "volume": c.volume}
        for c in candles
    ]  # fmt: skip
    _check_consistent(trades, wire_candles)
    assert {t.side for t in tape.trades} <= {"BUY", "SELL"}


async def test_ccxt_fetches_the_seeded_tape(sim: SimServer) -> None:
    import ccxt.async_support as ccxt

    key = sim.add_key("ES256")
    ex = ccxt.coinbase(
        {
            "apiKey": key.name,
            "secret": sim.secret_of(key),
            "cafile": str(sim.cert_path),
            "timeout": 10_000,
            "enableRateLimit": False,
        }
    )
    ex.urls["api"]["rest"] = f"https://{sim.authority}"
    ex.has["fetchCurrencies"] = False  # the Coinbase app API's /v2/currencies is not served
    try:
        trades = await ex.fetch_trades("BTC/USD", limit=100)
        ohlcv = await ex.fetch_ohlcv("BTC/USD", "1m", limit=30)
    finally:
        await ex.close()
    assert len(trades) >= 20
    newest = max(trades, key=lambda t: int(t["id"]))
    assert newest["price"] == pytest.approx(float(ohlcv[-1][4]), rel=1e-12)  # the last close
    assert all(t["side"] in ("buy", "sell") for t in trades)
