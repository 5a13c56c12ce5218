"""ccxt pro's ``coinbaseexchange`` (unmodified) against the sim's Exchange WebSocket feed.

Only ccxt's URLs point at the simulator (``urls['api']['ws'] = sim.ws_url``). What ccxt
reports is checked against the exchange's own records. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import ccxt.pro as ccxtpro
import pytest

from botkit.sim.exchange import SimMarketConfig
from botkit.sim.exchange_auth import ExchangeKey
from botkit.sim.exchange_rest import ExchangeSimServer
from botkit.sim.exchange_ws import ExchangeWsConfig

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimServer]:
    market = SimMarketConfig(cancel_latency_steps=0)
    cfg = ExchangeWsConfig(heartbeat_interval=0.2)
    async with ExchangeSimServer(seed=23, market=market, tick_interval=0, ws_config=cfg) as s:
        yield s


@pytest.fixture
async def pro(sim: ExchangeSimServer) -> AsyncIterator[Any]:
    key = sim.add_key()
    client = ccxtpro.coinbaseexchange(
        {"apiKey": key.key, "secret": key.secret, "password": key.passphrase}
    )
    client.urls["api"] = {"public": sim.rest_url, "private": sim.rest_url, "ws": sim.ws_url}
    client.sim_key = key
    try:
        yield client
    finally:
        await client.close()


def _levels(side: list[tuple[Any, Any]]) -> list[tuple[float, float]]:
    return [(float(p), float(s)) for p, s in side]


async def test_watch_order_book_follows_the_exchange(sim: ExchangeSimServer, pro: Any) -> None:
    async with asyncio.timeout(20):
        book = await pro.watch_order_book("BTC/USD")  # signed level2, as ccxt sends it
        bids, asks = sim.exchange.book("BTC-USD")
        assert [tuple(b) for b in book["bids"]] == _levels(bids)
        assert [tuple(a) for a in book["asks"]] == _levels(asks)
        t = sim.clock()
        for _ in range(5):
            t += 0.3
            sim.step(t)
        want = sim.exchange.book("BTC-USD")
        while True:  # one resolution per l2update: until ccxt's book is the exchange's
            book = await pro.watch_order_book("BTC/USD")
            got = ([tuple(b) for b in book["bids"]], [tuple(a) for a in book["asks"]])
            if got == (_levels(want[0]), _levels(want[1])):
                break


async def test_watch_trades_and_ticker(sim: ExchangeSimServer, pro: Any) -> None:
    async with asyncio.timeout(20):
        ticker = await pro.watch_ticker("ETH/USD")  # sent on subscribe
        last = sim.exchange.recent_trades("ETH-USD", 1)[-1]
        assert ticker["last"] == float(last.price) and ticker["symbol"] == "ETH/USD"
        watching = asyncio.ensure_future(pro.watch_trades("ETH/USD"))
        await sim.ws.wait_subscribers("matches")  # ccxt's subscribe was taken
        t = sim.clock()
        trades: list[dict[str, Any]] = []
        while len(trades) < 3:
            t += 0.3
            sim.step(t)
            done, _ = await asyncio.wait({watching}, timeout=0.1)  # this step's matches
            if done:
                trades += watching.result()
                watching = asyncio.ensure_future(pro.watch_trades("ETH/USD"))
        watching.cancel()
        tape = {p.trade_id: p for p in sim.exchange.recent_trades("ETH-USD", 1000)}
        for trade in trades:
            print_ = tape[trade["id"]]
            assert (trade["price"], trade["amount"]) == (float(print_.price), float(print_.size))
            # the wire's side is the maker's; ccxt reports the taker's (it flips a match
            # without maker_fee_rate), so the sim's maker side must come back flipped
            assert trade["side"] == {"BUY": "sell", "SELL": "buy"}[print_.side]
        ticker = await pro.watch_ticker("ETH/USD")
        assert ticker["last"] == float(sim.exchange.recent_trades("ETH-USD", 1)[-1].price)


async def test_watch_orders_signed_user_channel(sim: ExchangeSimServer, pro: Any) -> None:
    key: ExchangeKey = pro.sim_key
    async with asyncio.timeout(20):
        await pro.load_markets()
        watching = asyncio.ensure_future(pro.watch_orders("BTC/USD"))
        await sim.ws.wait_subscribers("user")  # ccxt's signed subscribe was taken
        resting = await pro.create_order("BTC/USD", "limit", "buy", 0.01, 1000)
        sim.step()
        orders = await watching
        assert orders[-1]["id"] == resting["id"] and orders[-1]["status"] == "open"
        taker = await pro.create_order("BTC/USD", "market", "buy", 0.02)
        sim.step()
        while True:
            orders = await pro.watch_orders("BTC/USD")
            mine = [o for o in orders if o["id"] == taker["id"]]
            if mine and mine[-1]["status"] == "closed":
                break
        engine = sim.exchange.get_order(key.profile_id, taker["id"])
        assert mine[-1]["filled"] == float(engine["filled_size"]) == 0.02
        assert mine[-1]["side"] == "buy"
