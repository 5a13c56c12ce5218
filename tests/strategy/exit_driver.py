"""The process tests/strategy/test_exit_kill9.py SIGKILLs (``python -m tests.strategy.exit_driver``).

Reads the key and REST URL from the usual BOTKIT_* variables and EXIT_DIR (journal and exit
state). Does what ``botkit run`` does (an executor on a journal, a context with a persisted
exit state and the venue's product limits), holds a long position, arms a native trailing
stop and an emulated bracket, prints ``armed <trailing id> <bracket id>``; then for every
``price <p>`` line on stdin dispatches a trade print at p and prints ``seen <p> <order state
of the trailing stop>``. It never stops by itself: the test kills it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from decimal import Decimal
from pathlib import Path

from botkit.auth.clock import SystemClock
from botkit.auth.factory import make_jwt_signer, resolve_cdp_key
from botkit.clock import ManualClock
from botkit.market.events import TickersReceived, TradesReceived
from botkit.market.types import MarketTrade, Ticker
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.journal import OrderJournal
from botkit.runtime.settings import load_settings
from botkit.strategy.base import NoParams, Strategy
from botkit.strategy.context import BotContext
from botkit.strategy.exits import ProductLimits
from botkit.strategy.ports import ExecutorSink, MarketState
from botkit.strategy.state import JsonState
from botkit.venues.advanced_trade.rest_client import RestClient

PRODUCT = "BTC-USD"
SIZE = Decimal("0.01")


async def main() -> None:
    settings = load_settings(env_file=None)
    root = Path(os.environ["EXIT_DIR"])
    clock = SystemClock()
    client = RestClient(
        settings.coinbase.rest_url,
        make_jwt_signer(resolve_cdp_key(settings), settings, clock=clock),
        clock=clock,
        policy=RetryPolicy().scaled(0.01),
        limiter=RateLimiter(float("inf"), float("inf")),
        read_timeout=5.0,
    )
    executor = OrderExecutor(client, OrderJournal(root / "journal.sqlite"))
    await executor.start()
    product = await client.product(PRODUCT)
    limits = {
        PRODUCT: ProductLimits(
            product.base_min_size, product.base_increment, product.quote_increment
        )
    }
    manual = ManualClock(1_800_000_000.0)
    ctx = BotContext(
        "exits",
        ExecutorSink(executor),
        MarketState(),
        clock=manual,
        guard_clock=manual,
        monotonic=manual.time,
        exit_state=JsonState(root / "exits.json"),
        product_limits=limits,
    )
    ctx.attach(Strategy(ctx, NoParams()))
    last = product.last_price
    assert last is not None
    await ctx.dispatch(TickersReceived("update", (Ticker(product_id=PRODUCT, price=last),), False))
    trail = await ctx.trailing_stop(PRODUCT, SIZE, distance=Decimal("20"), side="long")
    ctx.exits.native = frozenset()  # the second exit as on a venue without brackets
    bracket = await ctx.bracket(
        PRODUCT, SIZE, take_profit=last + 50, stop_loss=last - 15, side="long"
    )
    print(f"armed {trail} {bracket}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    n = 0
    while line := (await reader.readline()).decode().split():
        price = Decimal(line[1])
        n += 1
        trade = MarketTrade(trade_id=str(n), product_id=PRODUCT, price=price, size=SIZE, side="BUY")
        await ctx.dispatch(TradesReceived("update", (trade,)))
        rec = ctx.exits.records[trail]
        print(f"seen {price} {rec.trailing.stop if rec.trailing else None}", flush=True)
    await asyncio.Event().wait()  # never returns: the test kills this process


if __name__ == "__main__":
    asyncio.run(main())
