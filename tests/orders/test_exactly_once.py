"""500 order intents under 30 % random (seeded) faults end as exactly 500 orders at the exchange.

(Or 500 minus the intents a 403 PERMISSION_DENIED refused for good on their first attempt:
those must have no order at all and a FAILED journal row.)"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

from botkit.errors import OrderOutcomeUnknown, PermissionDenied
from botkit.orders.executor import OrderExecutor, PlacedOrder
from botkit.orders.intents import OrderIntent, market_ioc
from botkit.orders.journal import OrderJournal
from tests.orders.conftest import ClientFactory, RecordingSim

N = 500
FAULT_RATE = 0.3
FORBIDDEN = 9  # the menu's 403 PERMISSION_DENIED


def _fault_menu(sim: RecordingSim) -> list[Callable[[], object]]:
    f = sim.faults
    path, method = r"/orders$", "POST"  # order creation only
    return [
        lambda: f.fail_next(500, path=path, method=method),  # answered without processing
        lambda: f.fail_after_accept(500),  # processed, then a 500
        lambda: f.fail_after_accept(504),
        lambda: f.drop_after_accept(),  # processed, then the connection reset
        lambda: f.reset_next(path=path, method=method),  # reset, not processed
        lambda: f.delay_next(
            1.0, path=path, method=method
        ),  # longer than the client's read timeout
        lambda: f.fail_next(401, path="/orders"),  # creates and lookups alike
        lambda: f.fail_next(429, retry_after=0.001),
        lambda: f.fail_next(503),  # any request, lookups included
        lambda: f.fail_next(403, path=path, method=method),  # FORBIDDEN
        lambda: f.reset_next(),
    ]


async def test_500_intents_with_30pct_faults_make_exactly_500_orders(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    rng = random.Random(20240601)
    menu = _fault_menu(sim)
    # generous enough that a loaded 2-core CI box does not turn every request into a timeout
    ex = OrderExecutor(make_client(read_timeout=0.5), journal)
    gate = asyncio.Semaphore(16)
    unknown = Counter[str]()
    refused: set[str] = set()
    forbidden = 0

    async def one(i: int) -> PlacedOrder | None:
        nonlocal forbidden
        product = "BTC-USD" if i % 2 else "ETH-USD"
        intent = OrderIntent(f"bulk-{i:03d}", product, "BUY", market_ioc(quote_size=Decimal("10")))
        async with gate:
            if rng.random() < FAULT_RATE:
                choice = rng.randrange(len(menu))
                forbidden += choice == FORBIDDEN
                menu[choice]()
            for _ in range(10):
                try:
                    return await ex.place(intent)
                except OrderOutcomeUnknown:  # left pending; placing again resolves it
                    unknown[intent.client_order_id] += 1
                except PermissionDenied:
                    # A missing scope is final and was answered before anything was
                    # processed; after an earlier unknown outcome the executor looks the
                    # order up first. Either way: FAILED only with no order, which is checked.
                    refused.add(intent.client_order_id)
                    return None
            raise AssertionError(f"{intent.client_order_id} never resolved")

    results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(N))), timeout=50)
    placed = [p for p in results if p is not None]
    orders = sim.exchange.list_orders("default", {})
    by_coid = Counter(o["client_order_id"] for o in orders)
    assert len(refused) <= forbidden  # only a 403 may refuse an intent for good
    assert len(orders) == N - len(refused) == len(placed)
    assert set(by_coid) == {f"bulk-{i:03d}" for i in range(N)} - refused
    assert max(by_coid.values()) == 1
    exchange_ids = {o["client_order_id"]: o["order_id"] for o in orders}
    assert all(exchange_ids[p.client_order_id] == p.order_id for p in placed)
    want = {"PLACED": N - len(refused)} | ({"FAILED": len(refused)} if refused else {})
    assert journal.counts() == want
    fired = Counter(kind for kind, _, _ in sim.faults.history)
    assert sum(fired.values()) >= 0.2 * N  # the faults really fired
    assert {"status_after_accept", "drop_after_accept", "delay", "reset", "status"} <= set(fired)
    await ex.close()
