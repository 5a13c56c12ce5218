"""A small order-placing process for the kill -9 test (run as ``python -m tests.orders.driver_place``).

Reads the key and REST URL from the usual BOTKIT_* variables, the journal path and the
number of intents from DRIVER_JOURNAL / DRIVER_N, resolves pending intents, then places
intents ``k-000`` ... in order, printing one line per placement.
"""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal

from botkit.auth.clock import SystemClock
from botkit.auth.factory import make_jwt_signer, resolve_cdp_key
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, market_ioc
from botkit.orders.journal import OrderJournal
from botkit.runtime.settings import load_settings
from botkit.venues.advanced_trade.rest_client import RestClient

__all__ = ["main"]


async def main() -> None:
    settings = load_settings(env_file=None)
    clock = SystemClock()
    signer = make_jwt_signer(resolve_cdp_key(settings), settings, clock=clock)
    client = RestClient(
        settings.coinbase.rest_url,
        signer,
        clock=clock,
        policy=RetryPolicy().scaled(0.01),
        limiter=RateLimiter(float("inf"), float("inf")),
        read_timeout=5.0,
    )
    executor = OrderExecutor(client, OrderJournal(os.environ["DRIVER_JOURNAL"]))
    resolved = await executor.start()
    print(f"resolved {len(resolved)} " + " ".join(r.resolved_by for r in resolved), flush=True)
    for i in range(int(os.environ["DRIVER_N"])):
        intent = OrderIntent(f"k-{i:03d}", "BTC-USD", "BUY", market_ioc(quote_size=Decimal("10")))
        placed = await executor.place(intent)
        print(f"placed {i} {placed.resolved_by}", flush=True)
    print("done", flush=True)
    await executor.close()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
