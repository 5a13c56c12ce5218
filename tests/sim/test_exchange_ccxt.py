"""ccxt's ``coinbaseexchange`` (unmodified, its own HMAC signer) against the sim's Exchange dialect.

Real loopback sockets, generated keys; only ccxt's URLs are pointed at the simulator. What
ccxt reports is checked against the exchange's own records, not against the dialect's
answers, so a dialect that agreed with ccxt about something false would still fail.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from botkit.sim.exchange import SimMarketConfig
from botkit.sim.exchange_auth import ExchangeKey
from botkit.sim.exchange_rest import ExchangeSimServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def server() -> AsyncIterator[ExchangeSimServer]:
    market = SimMarketConfig(cancel_latency_steps=0)
    async with ExchangeSimServer(seed=17, market=market, tick_interval=0.05) as sim:
        yield sim


def _ccxt(server: ExchangeSimServer, key: ExchangeKey, **over: str) -> Any:
    client = ccxt.coinbaseexchange(
        {
            "apiKey": over.get("apiKey", key.key),
            "secret": over.get("secret", key.secret),
            "password": over.get("password", key.passphrase),
            "timeout": 10_000,
        }
    )
    client.urls["api"] = {"public": server.rest_url, "private": server.rest_url}
    return client


@pytest.fixture
async def frozen() -> AsyncIterator[ExchangeSimServer]:
    """A server whose clock stands still (the test takes far less than the 30 s window), so
    the market does not move between ccxt's answer and the check."""
    t0 = time.time()
    async with ExchangeSimServer(seed=18, clock=lambda: t0, tick_interval=0) as sim:
        yield sim


async def test_ccxt_reads_market_data_and_balances(frozen: ExchangeSimServer) -> None:
    server = frozen
    key = server.add_key()

    def run() -> dict[str, Any]:
        ex = _ccxt(server, key)
        ex.load_markets()  # GET /currencies, then GET /products
        return {
            "symbols": sorted(ex.symbols),
            "precision": ex.markets["BTC/USD"]["precision"],
            "balance": ex.fetch_balance(),
            "book": ex.fetch_order_book("BTC/USD"),
            "ticker": ex.fetch_ticker("BTC/USD"),
            "candles": ex.fetch_ohlcv("BTC/USD", "1m", limit=5),
            "trades": ex.fetch_trades("BTC/USD", limit=7),
            "fees": ex.fetch_trading_fees(),
            "time": ex.fetch_time(),
        }

    got = await asyncio.to_thread(run)
    assert got["symbols"] == ["BTC/USD", "ETH/USD"]
    assert got["precision"] == {"amount": 1e-08, "price": 0.01}
    assert got["balance"]["USD"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}
    assert got["balance"]["BTC"]["total"] == 1.0
    bids, asks = server.exchange.book("BTC-USD")
    assert got["book"]["bids"][0][:2] == [float(bids[0][0]), float(bids[0][1])]
    assert got["book"]["asks"][0][0] == float(asks[0][0]) > got["book"]["bids"][0][0]
    assert len(got["book"]["bids"]) > 10  # level 2: more than the top of the book
    last = server.exchange.recent_trades("BTC-USD", 10)
    assert got["ticker"]["last"] in {float(t.price) for t in last}
    assert 1 <= len(got["candles"]) <= 5
    # ccxt reorders Exchange's [time, low, high, open, close, volume] to [ms, o, h, l, c, v]
    newest = got["candles"][-1]
    [engine] = server.exchange.candles("BTC-USD", newest[0] // 1000, newest[0] // 1000 + 1, 60)
    assert newest[1:5] == [float(engine[k]) for k in ("open", "high", "low", "close")]
    assert [t["id"] for t in got["trades"]] == sorted(t["id"] for t in got["trades"])
    assert len(got["trades"]) == 7
    assert got["fees"]["BTC/USD"]["maker"] == 0.004 and got["fees"]["BTC/USD"]["taker"] == 0.006
    assert abs(got["time"] / 1000 - server.now()) < 5


async def test_ccxt_places_gets_cancels_and_reads_fills(server: ExchangeSimServer) -> None:
    key = server.add_key()
    coid = str(uuid.uuid4())

    def run() -> dict[str, Any]:
        ex = _ccxt(server, key)
        ex.load_markets()
        placed = ex.create_order("BTC/USD", "limit", "buy", 0.01, 1000, {"client_oid": coid})
        by_id = ex.fetch_order(placed["id"])
        by_client = ex.fetch_order(None, params={"client_oid": coid})
        open_orders = ex.fetch_open_orders("BTC/USD")
        ex.cancel_order(placed["id"], "BTC/USD")  # sends {"product_id": "BTC/USD"} in the body
        cancelled = ex.fetch_order(placed["id"])
        market = ex.create_order("BTC/USD", "market", "buy", 0.002)
        fills = ex.fetch_my_trades("BTC/USD")
        order_fills = ex.fetch_order_trades(market["id"])
        closed = ex.fetch_closed_orders("BTC/USD")
        return {
            "placed": placed,
            "by_id": by_id,
            "by_client": by_client,
            "open": open_orders,
            "cancelled": cancelled,
            "market": market,
            "fills": fills,
            "order_fills": order_fills,
            "closed": closed,
            "balance": ex.fetch_balance(),
        }

    got = await asyncio.to_thread(run)
    placed = got["placed"]
    assert placed["clientOrderId"] == coid and placed["status"] == "open"  # "pending"
    assert placed["info"]["status"] == "pending"
    profile = key.profile_id
    records = {o["order_id"]: o for o in server.exchange.list_orders(profile, {})}
    assert set(records) == {placed["id"], got["market"]["id"]}
    assert got["by_id"]["id"] == got["by_client"]["id"] == placed["id"]
    assert (got["by_id"]["price"], got["by_id"]["amount"]) == (1000.0, 0.01)
    assert [o["id"] for o in got["open"]] == [placed["id"]]
    assert got["cancelled"]["status"] == "canceled"
    assert records[placed["id"]]["status"] == "CANCELLED"
    market = records[got["market"]["id"]]
    assert market["status"] == "FILLED"
    fills = got["fills"]
    assert fills and {f["order"] for f in fills} == {market["order_id"]}
    assert sum(Decimal(str(f["amount"])) for f in fills) == Decimal("0.002")
    assert all(f["side"] == "buy" and f["takerOrMaker"] == "taker" for f in fills)
    fee = sum(Decimal(str(f["fee"]["cost"])) for f in fills)
    assert fee == Decimal(market["total_fees"])
    assert [f["id"] for f in got["order_fills"]] == [f["id"] for f in fills]
    assert {o["id"] for o in got["closed"]} == set(records)
    engine_btc = next(a for a in server.exchange.accounts(profile) if a["currency"] == "BTC")
    assert got["balance"]["BTC"]["total"] == float(engine_btc["available_balance"]["value"])
    assert got["balance"]["BTC"]["total"] == 1.002


async def test_ccxt_auth_failures_are_refused(server: ExchangeSimServer) -> None:
    key = server.add_key()
    other = server.add_key()

    def attempt(**over: str) -> BaseException | None:
        ex = _ccxt(server, key, **over)
        ex.markets = {}  # skip load_markets: the refusal, not the catalogue, is under test
        try:
            ex.privateGetAccounts()
        except Exception as exc:  # ccxt's errors are untyped for mypy; checked below
            return exc
        return None

    bad_secret = await asyncio.to_thread(attempt, secret=other.secret)
    bad_passphrase = await asyncio.to_thread(attempt, password="not-the-passphrase")
    unknown_key = await asyncio.to_thread(attempt, apiKey="f" * 32)
    fine = await asyncio.to_thread(attempt)
    assert isinstance(bad_secret, ccxt.AuthenticationError) and "401" in str(bad_secret)
    assert isinstance(bad_passphrase, ccxt.AuthenticationError)
    assert "Invalid Passphrase" in str(bad_passphrase)
    assert isinstance(unknown_key, ccxt.AuthenticationError)
    assert fine is None
