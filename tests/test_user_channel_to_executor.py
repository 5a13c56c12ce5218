"""End to end: the feed's user channel drives the executor's order state machine."""

from __future__ import annotations

import random
import secrets
from decimal import Decimal
from pathlib import Path

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.market.config import FeedConfig
from botkit.market.events import OrderUpdate
from botkit.market.feed import MarketDataFeed
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.net.ws import make_connector
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, limit_gtc, market_ioc
from botkit.orders.journal import OrderJournal
from botkit.orders.state import OrderStatus
from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol


async def test_user_channel_updates_reach_the_state_machine(tmp_path: Path) -> None:
    async with SimServer(
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.1)
    ) as sim:
        signer = JwtSigner(sim.add_key("ES256"), clock=SystemClock(), nonce=secrets.token_hex)
        client = RestClient(
            sim.rest_url,
            signer,
            clock=SystemClock(),
            policy=RetryPolicy().scaled(0.001),
            limiter=RateLimiter(float("inf"), float("inf")),
        )
        executor = OrderExecutor(client, OrderJournal(tmp_path / "journal.sqlite"))
        sources: list[str] = []

        def on_event(event: object) -> None:
            if isinstance(event, OrderUpdate):
                executor.on_order_update(event)
                sources.append(event.client_order_id)

        feed = MarketDataFeed(
            FeedConfig(
                market_url=sim.ws_market_url,
                user_url=sim.ws_user_url,
                products=("BTC-USD",),
                user=True,
                stale_after=2.0,
                backoff_initial=0.01,
                backoff_max=0.05,
            ),
            protocol=FeedProtocol,
            connector=make_connector("aiohttp"),
            on_event=on_event,
            rng=random.Random(1),
            signer=signer,
        )
        await executor.start()
        await feed.start()
        try:
            await feed.wait_ready(10)
            (bid, _), _ = sim.exchange.best_bid_ask("BTC-USD")  # type: ignore[misc]
            resting = OrderIntent(
                f"rest-{secrets.token_hex(4)}",
                "BTC-USD",
                "BUY",
                limit_gtc(Decimal("0.001"), (bid * Decimal("0.9")).quantize(Decimal("0.01"))),
            )
            placed = await executor.place(resting)
            taker = OrderIntent(
                f"take-{secrets.token_hex(4)}",
                "BTC-USD",
                "BUY",
                market_ioc(quote_size=Decimal("50")),
            )
            await executor.place(taker)
            await client.cancel_orders([placed.order_id])
            sim.step(sim.clock() + 1.0)  # the asynchronous cancel completes

            def status(coid: str) -> OrderStatus | None:
                state = executor.orders.get(coid)
                return state.status if state else None

            await feed.wait_for(
                lambda: status(resting.client_order_id) == OrderStatus.CANCELLED, 10
            )
            await feed.wait_for(lambda: status(taker.client_order_id) == OrderStatus.FILLED, 10)
            assert (
                resting.client_order_id in sources and taker.client_order_id in sources
            )  # via the feed
            taker_state = executor.orders.get(taker.client_order_id)
            assert taker_state is not None and taker_state.filled_size > 0
            assert not executor.orders.illegal
        finally:
            await feed.stop()
            await executor.close()
            await client.close()
