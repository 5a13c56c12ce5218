"""The placing process of tests/orders/test_kill9_overlap.py (``python -m tests.orders.driver_kill9``).

Reads the key and REST URL from the usual BOTKIT_* variables; DRIVER_JOURNAL (path), DRIVER_N
(intents), DRIVER_SEED (their ids: botkit-format uuid4s from a seeded generator, the same in
every run) and DRIVER_DURABILITY (the executor's ``durability``). Does what ``botkit run``
does at start-up (resolve pending intents, then reconcile: adopt orders with botkit's id
format and no intent row), prints ``ready resolved=<n> by=<how,...> adopted=<n>``, then places
the intents one by one (an adopted one, now or in an earlier run, is not placed again:
``botkit run`` hands it to the strategy instead), printing ``placed <i> <how>`` for each and ``done`` at the end.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from decimal import Decimal
from typing import Literal, cast

from botkit.auth.clock import SystemClock
from botkit.auth.factory import make_jwt_signer, resolve_cdp_key
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, market_ioc
from botkit.orders.journal import OrderJournal
from botkit.runtime.settings import load_settings
from botkit.venues.advanced_trade.rest_client import RestClient

__all__ = ["client_order_ids", "main"]


def client_order_ids(seed: int, n: int) -> list[str]:
    """``n`` lowercase uuid4 ids (botkit's format, so reconciliation adopts them)."""
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


async def main() -> None:
    settings = load_settings(env_file=None)
    clock = SystemClock()
    client = RestClient(
        settings.coinbase.rest_url,
        make_jwt_signer(resolve_cdp_key(settings), settings, clock=clock),
        clock=clock,
        policy=RetryPolicy().scaled(0.01),
        limiter=RateLimiter(float("inf"), float("inf")),
        read_timeout=5.0,
    )
    durability = cast(Literal["overlap", "before_send"], os.environ["DRIVER_DURABILITY"])
    journal = OrderJournal(os.environ["DRIVER_JOURNAL"])
    executor = OrderExecutor(client, journal, durability=durability)
    resolved = await executor.start()
    recon = await executor.reconcile(["BTC-USD"])
    adopted = {order.client_order_id for order in recon.adopted}
    how = ",".join(r.resolved_by for r in resolved) or "-"
    print(f"ready resolved={len(resolved)} by={how} adopted={len(adopted)}", flush=True)
    ids = client_order_ids(int(os.environ["DRIVER_SEED"]), int(os.environ["DRIVER_N"]))
    for i, coid in enumerate(ids):
        row = journal.get(coid)
        if coid in adopted or (row is not None and not row.body):  # adopted, now or before
            print(f"placed {i} adopted", flush=True)
            continue
        intent = OrderIntent(coid, "BTC-USD", "BUY", market_ioc(quote_size=Decimal("10")))
        placed = await executor.place(intent)
        print(f"placed {i} {placed.resolved_by}", flush=True)
    print("done", flush=True)
    await executor.close()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
