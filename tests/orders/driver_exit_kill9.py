"""The placing process of tests/orders/test_exit_kill9.py (``python -m tests.orders.driver_exit_kill9``).

Like tests/orders/driver_kill9.py, but every intent is a native exit on Advanced Trade, in
turn: a ``trigger_bracket_gtc`` (SELL), a market BUY entry with TP/SL attached
(``attached_order_configuration``: Coinbase creates the exit, with no client id of its
own), and a ``stop_limit_stop_limit_gtc`` stop-loss (SELL). Prices are fixed (5 % around
the simulator's start price), so an intent's body is the same in every run.

Reads the key and REST URL from the usual BOTKIT_* variables; DRIVER_JOURNAL (path),
DRIVER_N (intents), DRIVER_SEED (their ids), DRIVER_DURABILITY. Does what ``botkit run``
does at start-up (resolve pending intents, reconcile), prints ``ready resolved=<n>
by=<how,...> adopted=<n> exits=<n>`` (``exits``: attached exits reconciliation linked to
their entries), places the intents one by one (``placed <i> <how>``; an adopted one is not
placed again), then prints ``tracked <json>``: per client id, the executor's state of the
order and, for an attached entry, its exit's order id and the executor's state of it — what
a restarted bot knows of the exits that protect its positions — and ``done``.
"""

from __future__ import annotations

import asyncio
import json
import os
from decimal import Decimal
from typing import Any, Literal, cast

from botkit.auth.clock import SystemClock
from botkit.auth.factory import make_jwt_signer, resolve_cdp_key
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import (
    OrderIntent,
    attached_bracket,
    market_ioc,
    stop_limit,
    trigger_bracket,
)
from botkit.orders.journal import OrderJournal
from botkit.runtime.settings import load_settings
from botkit.venues.advanced_trade.rest_client import RestClient
from tests.orders.driver_kill9 import client_order_ids

__all__ = ["KINDS", "exit_intent", "main"]

BTC = "BTC-USD"
SIZE = Decimal("0.001")
UP, DOWN = Decimal("68250.00"), Decimal("61750.00")  # 5 % around the 65000 start price
KINDS = ("bracket", "attached", "stop_limit")


def exit_intent(i: int, coid: str) -> OrderIntent:
    """Intent ``i``: its kind is ``KINDS[i % 3]``; the same bytes in every run."""
    kind = KINDS[i % len(KINDS)]
    if kind == "bracket":
        return OrderIntent(coid, BTC, "SELL", trigger_bracket(SIZE, UP, DOWN))
    if kind == "attached":
        extra = {"attached_order_configuration": attached_bracket(UP, DOWN)}
        return OrderIntent(coid, BTC, "BUY", market_ioc(base_size=SIZE), extra)
    limit = Decimal("61000.00")
    return OrderIntent(coid, BTC, "SELL", stop_limit(SIZE, limit, DOWN, "STOP_DIRECTION_STOP_DOWN"))


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
    recon = await executor.reconcile([BTC])
    adopted = {order.client_order_id for order in recon.adopted}
    how = ",".join(r.resolved_by for r in resolved) or "-"
    print(
        f"ready resolved={len(resolved)} by={how} adopted={len(adopted)} "
        f"exits={len(recon.attached_exits)}",
        flush=True,
    )
    ids = client_order_ids(int(os.environ["DRIVER_SEED"]), int(os.environ["DRIVER_N"]))
    exits: dict[str, str] = {}
    for i, coid in enumerate(ids):
        row = journal.get(coid)
        if coid in adopted or (row is not None and not row.body):  # adopted, now or before
            print(f"placed {i} adopted", flush=True)
            continue
        placed = await executor.place(exit_intent(i, coid))
        if placed.attached_order_id:
            exits[coid] = placed.attached_order_id
        print(f"placed {i} {placed.resolved_by}", flush=True)
    tracked: dict[str, Any] = {}
    for i, coid in enumerate(ids):
        state = executor.orders.get(coid)
        exit_id = exits.get(coid) or next(
            (oid for oid, entry in executor.attached_exits.items() if entry == coid), ""
        )
        exit_state = executor.orders.by_order_id(exit_id) if exit_id else None
        tracked[coid] = {
            "kind": KINDS[i % len(KINDS)],
            "status": None if state is None else str(state.status),
            "order_id": None if state is None else state.order_id,
            "exit_id": exit_id,
            "exit_entry": executor.entry_of(exit_id) if exit_id else None,
            "exit_status": None if exit_state is None else str(exit_state.status),
        }
    print(f"tracked {json.dumps(tracked)}", flush=True)
    print("done", flush=True)
    await executor.close()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
