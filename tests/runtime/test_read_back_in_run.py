"""A working order that finished while the user channel was down is read back in the run.

A user (re)subscription's snapshot lists open orders only: an order that filled while the
channel was down is in no snapshot and its update is lost with the connection. In a QA
outage of two minutes such orders stayed OPEN in the bot (their cancels "not accepted" every
2 s, the strategy's open-order cap full for good) and their fills were never counted. The
feed's read-back hook asks about every order the fill ledger has as working, as at
start-up (botkit/runtime/resume.py). Real feed, real REST client, the simulator over
loopback; the update is lost by dropping the connection that was to carry it.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from decimal import Decimal
from pathlib import Path

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.market.config import FeedConfig
from botkit.market.events import FeedEvent, FillEvent, OrderUpdate
from botkit.market.feed import MarketDataFeed
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.net.ws import make_connector
from botkit.orders.ledger import FillLedger
from botkit.runtime.resume import ReadBackInRun
from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol

SIZE = Decimal("0.002")


def _limit(sim: SimServer, user: str, side: str, price: Decimal, coid: str) -> str:
    body = {
        "client_order_id": coid,
        "product_id": "BTC-USD",
        "side": side,
        "order_configuration": {
            "limit_limit_gtc": {"base_size": format(SIZE, "f"), "limit_price": format(price, "f")}
        },
    }
    resp = sim.exchange.create_order(user, body, sim.clock())
    sim.publish()
    assert resp["success"], resp
    return str(resp["success_response"]["order_id"])


async def test_an_order_filled_while_the_user_channel_was_down_is_read_back(
    tmp_path: Path,
) -> None:
    async with SimServer(  # no heartbeats, a frozen market: the fill's update is the next frame
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=3600)
    ) as sim:
        sim.exchange.add_user("b")
        signer = JwtSigner(sim.add_key("ES256"), clock=SystemClock(), nonce=secrets.token_hex)
        client = RestClient(
            sim.rest_url,
            signer,
            clock=SystemClock(),
            policy=RetryPolicy().scaled(0.001),
            limiter=RateLimiter(float("inf"), float("inf")),
        )
        ledger = FillLedger(tmp_path / "fills.sqlite")
        events: list[FeedEvent] = []
        arrived = asyncio.Event()

        def deliver(event: FeedEvent) -> None:
            events.append(event)
            arrived.set()

        feed = MarketDataFeed(
            FeedConfig(
                market_url=sim.ws_market_url,
                user_url=sim.ws_user_url,
                products=("BTC-USD",),
                channels=(),
                user=True,
                stale_after=30.0,
                backoff_initial=0.01,
                backoff_max=0.05,
            ),
            protocol=FeedProtocol,
            connector=make_connector("aiohttp"),
            on_event=deliver,
            rng=random.Random(1),
            signer=signer,
        )
        assert feed.fills is not None
        settled: list[int] = []

        async def after() -> None:  # the runtime's: BotContext.settle_unknown
            settled.append(len(events))

        read_back = ReadBackInRun(
            ledger, feed.fills, client.backfill_fills, client.get_order, dict, deliver, after
        )
        feed.read_back = lambda reason: read_back.request()
        await feed.start()
        try:
            await feed.wait_ready(10)
            top, ask = sim.exchange.best_bid_ask("BTC-USD")
            assert top is not None and ask is not None and ask[0] - top[0] > Decimal("0.01")
            price = top[0] + Decimal("0.01")  # the best bid, alone at it
            coid = str(uuid.uuid4())
            oid = _limit(sim, "default", "BUY", price, coid)  # the bot's bid, resting
            ledger.opened(oid, coid, "BTC-USD", "BUY", "OPEN")  # its mark (on_placed)

            async def until(pred: object, within: float = 10.0) -> None:
                async with asyncio.timeout(within):
                    while not pred():  # type: ignore[operator]
                        arrived.clear()
                        await arrived.wait()

            await until(lambda: any(isinstance(e, OrderUpdate) and e.order_id == oid
                                    and e.status == "OPEN" for e in events))  # fmt: skip
            runs = read_back.runs
            sim.ws_faults.drop_next(1006)  # the connection goes down with the fill's update
            _limit(sim, "b", "SELL", price, secrets.token_hex(8))  # another user fills it
            assert sim.exchange.get_order("default", oid)["status"] == "FILLED"
            await until(lambda: any(isinstance(e, FillEvent) and e.order_id == oid
                                    for e in events))  # fmt: skip
            update = [e for e in events if isinstance(e, OrderUpdate) and e.order_id == oid][-1]
            (fill,) = [e for e in events if isinstance(e, FillEvent) and e.order_id == oid]
            assert update.status == "FILLED" and update.client_order_id == coid
            assert fill.source == "rest" and fill.size == SIZE and fill.client_order_id == coid
            assert read_back.runs > runs  # the reconnect's snapshot asked
            assert settled  # then the orders of unknown outcome are asked about
        finally:
            await feed.stop()
            await read_back.close()
            await client.close()
            ledger.close()
