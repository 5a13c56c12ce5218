"""``ctx.cancel`` twice in a row answers True, then False, on every venue.

A strategy-author QA pass found True/False on Advanced Trade and in paper, True/True on
Exchange (its DELETE of an order whose cancel is queued answers 200 again), mixed on Prime.
The second call sends nothing: the context knows the cancel was accepted (CANCEL_QUEUED);
after ``CANCEL_RESEND_AFTER`` seconds with no update it is sent again (a review: an
accepted cancel can still fail, and no update may say so).
The real executor and Exchange client against the simulator's Exchange dialect.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr

from botkit.auth.clock import SystemClock
from botkit.clock import ManualClock
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.journal import OrderJournal
from botkit.sim.exchange_rest import ExchangeSimServer
from botkit.strategy.context import CANCEL_RESEND_AFTER, BotContext
from botkit.strategy.ports import ExecutorSink, MarketState
from botkit.venues.exchange.rest_client import ExchangeRestClient
from botkit.venues.exchange.settings import ExchangeVenueSettings


async def test_a_second_cancel_of_a_queued_cancel_sends_nothing_and_says_false(
    tmp_path: Path,
) -> None:
    async with ExchangeSimServer(seed=11, tick_interval=0) as sim:
        key = sim.add_key()
        settings = ExchangeVenueSettings(
            api_key=key.key,
            api_secret=SecretStr(key.secret),
            passphrase=SecretStr(key.passphrase),
            rest_url=sim.rest_url,
        )
        client = ExchangeRestClient.from_settings(
            settings,
            clock=SystemClock(),
            policy=RetryPolicy().scaled(0.001),
            rng=random.Random(5),
            limiter=RateLimiter(float("inf"), float("inf")),
        )
        executor = OrderExecutor(client, OrderJournal(tmp_path / "journal.sqlite"))
        try:
            clock = ManualClock(time.time())
            ctx = BotContext("twice", ExecutorSink(executor), MarketState(), clock=clock)
            price = (sim.exchange.last_trade_price("BTC-USD") * Decimal("0.8")).quantize(
                Decimal("0.01")
            )
            coid = await ctx.buy_limit("BTC-USD", Decimal("0.001"), price)
            before = sim.rest.requests
            assert await ctx.cancel(coid) is True
            assert await ctx.cancel(coid) is False
            assert sim.rest.requests == before + 1  # one DELETE
            clock.advance(CANCEL_RESEND_AFTER + 1)  # no update came: an accepted cancel can
            await ctx.cancel(coid)  # still fail at the venue, so it is sent again by now
            assert sim.rest.requests == before + 2
        finally:
            await executor.close()
            await client.close()
