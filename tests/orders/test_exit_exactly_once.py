"""Native exits through the executor on Advanced Trade keep the exactly-once guarantee.

Every exit kind botkit sends natively on Advanced Trade — ``stop_limit_stop_limit_gtc/gtd``,
``trigger_bracket_gtc/gtd``, and an entry carrying ``attached_order_configuration`` (on a
resting limit entry and on a market entry) — is placed through the real
:class:`~botkit.orders.executor.OrderExecutor` and client against the simulator over
loopback, under each fault of the fault matrix (tests/orders/test_exactly_once.py): a 401
once, a 5xx before and after the exchange accepted the order, a dropped connection after
accept, a reset, a delay longer than the client's read timeout, 429 and 503. Checked against
records the client does not control:

* the simulator holds exactly one order for the client id (and, for an attached entry,
  exactly one exit whose ``originating_order_id`` is the entry);
* the journal row is PLACED with the exchange's order id;
* the placement reports the attached exit's order id, and the executor links that exit to
  its entry (``entry_of``) and tracks it by order id.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from botkit.errors import OrderOutcomeUnknown
from botkit.orders.executor import OrderExecutor, PlacedOrder
from botkit.orders.intents import (
    OrderIntent,
    attached_bracket,
    limit_gtc,
    market_ioc,
    stop_limit,
    trigger_bracket,
)
from botkit.orders.journal import IntentState, OrderJournal
from botkit.orders.state import OrderStatus
from tests.orders.conftest import ClientFactory, RecordingSim

pytestmark = pytest.mark.timeout(60)

BTC = "BTC-USD"
SIZE = Decimal("0.001")
TICK = Decimal("0.01")
POST = (r"/orders$", "POST")


def _px(value: Decimal) -> Decimal:
    return value.quantize(TICK)


def _end_time(sim: RecordingSim) -> str:
    ts = sim.clock() + 86_400
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exit_intent(kind: str, coid: str, sim: RecordingSim) -> OrderIntent:
    """One exit of ``kind``, priced far from the moving synthetic market (5 % away)."""
    last = sim.exchange.last_trade_price(BTC)
    up, down = _px(last * Decimal("1.05")), _px(last * Decimal("0.95"))
    if kind == "stop_limit_gtc":
        config = stop_limit(SIZE, _px(down * Decimal("0.99")), down, "STOP_DIRECTION_STOP_DOWN")
        return OrderIntent(coid, BTC, "SELL", config)
    if kind == "stop_limit_gtd":
        config = stop_limit(
            SIZE, _px(up * Decimal("1.01")), up, "STOP_DIRECTION_STOP_UP", end_time=_end_time(sim)
        )
        return OrderIntent(coid, BTC, "BUY", config)
    if kind == "bracket_gtc":
        return OrderIntent(coid, BTC, "SELL", trigger_bracket(SIZE, up, down))
    if kind == "bracket_gtd":
        config = trigger_bracket(SIZE, up, down, end_time=_end_time(sim))
        return OrderIntent(coid, BTC, "SELL", config)
    extra = {"attached_order_configuration": attached_bracket(up, down)}
    if kind == "attached_limit":  # rests below the market: the exit waits for its fills
        entry = limit_gtc(SIZE, _px(last * Decimal("0.97")))
        return OrderIntent(coid, BTC, "BUY", entry, extra)
    assert kind == "attached_market"  # fills at once: the exit goes live at once
    return OrderIntent(coid, BTC, "BUY", market_ioc(base_size=SIZE), extra)


KINDS = [
    "stop_limit_gtc",
    "stop_limit_gtd",
    "bracket_gtc",
    "bracket_gtd",
    "attached_limit",
    "attached_market",
]


def _faults(sim: RecordingSim) -> dict[str, Callable[[], object]]:
    f = sim.faults
    path, method = POST
    return {
        "none": lambda: None,
        "401_once": lambda: f.fail_next(401, path="/orders"),
        "500_before_accept": lambda: f.fail_next(500, path=path, method=method),
        "500_after_accept": lambda: f.fail_after_accept(500),
        "504_after_accept": lambda: f.fail_after_accept(504),
        "drop_after_accept": lambda: f.drop_after_accept(),
        "reset_before": lambda: f.reset_next(path=path, method=method),
        "timeout": lambda: f.delay_next(1.0, path=path, method=method),
        "429": lambda: f.fail_next(429, retry_after=0.001),
        "503_any": lambda: f.fail_next(503),
        # every attempt accepted and answered 500: retries run out, the lookup finds it
        "500_after_accept_every_attempt": lambda: f.fail_after_accept(500, count=8),
        "500_after_accept_then_lookup_503": lambda: (
            f.fail_after_accept(500),
            f.fail_next(503, path=r"/orders/historical/batch$", method="GET"),
        ),
    }


FAULTS = [
    "none",
    "401_once",
    "500_before_accept",
    "500_after_accept",
    "504_after_accept",
    "drop_after_accept",
    "reset_before",
    "timeout",
    "429",
    "503_any",
    "500_after_accept_every_attempt",
    "500_after_accept_then_lookup_503",
]


async def _place(ex: OrderExecutor, intent: OrderIntent) -> PlacedOrder:
    """Place, resolving an unknown outcome the way the runtime does (bounded)."""
    for _ in range(5):
        try:
            return await ex.place(intent)
        except OrderOutcomeUnknown:
            continue
    raise AssertionError(f"{intent.client_order_id} never resolved")


def _orders(sim: RecordingSim) -> list[dict[str, Any]]:
    return sim.exchange.list_orders("default", {})


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", KINDS)
async def test_exit_placed_exactly_once_under_fault(
    kind: str,
    fault: str,
    sim: RecordingSim,
    make_client: ClientFactory,
    journal: OrderJournal,
) -> None:
    ex = OrderExecutor(make_client(read_timeout=0.5), journal)
    try:
        await ex.start()
        coid = f"exit-{kind}-{fault}"
        intent = exit_intent(kind, coid, sim)
        _faults(sim)[fault]()
        placed = await _place(ex, intent)
        if fault == "500_after_accept_every_attempt":
            assert placed.resolved_by == "lookup"
        sim.faults.clear()
        mine = [o for o in _orders(sim) if o["client_order_id"] == coid]
        assert len(mine) == 1, mine  # exactly one order at the exchange for the id
        order = mine[0]
        assert order["order_id"] == placed.order_id
        key = next(iter(intent.order_configuration))
        assert key in order["order_configuration"]
        record = journal.get(coid)
        assert record is not None
        assert (record.state, record.order_id) == (IntentState.PLACED, placed.order_id)
        assert journal.counts() == {"PLACED": 1}
        exits = [o for o in _orders(sim) if o["originating_order_id"] == placed.order_id]
        if kind.startswith("attached"):
            assert len(exits) == 1, exits  # exactly one exit for the one entry
            exit_order = exits[0]
            assert exit_order["client_order_id"] == ""
            assert order["attached_order_id"] == exit_order["order_id"]
            assert placed.attached_order_id == exit_order["order_id"]
            assert ex.entry_of(exit_order["order_id"]) == coid
            state = ex.orders.by_order_id(exit_order["order_id"])
            assert state is not None and state.side == "SELL" and state.product_id == BTC
            # the same id again: the journal answers, and still reports the exit
            again = await ex.place(intent)
            assert (again.resolved_by, again.attached_order_id) == (
                "journal",
                exit_order["order_id"],
            )
        else:
            assert exits == [] and placed.attached_order_id == ""
        if fault != "none":
            assert sim.faults.history, "the fault did not fire"
        assert len([o for o in _orders(sim) if o["client_order_id"] == coid]) == 1
    finally:
        await ex.close()


async def test_the_exit_states_follow_the_exchange_by_rest(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    """``refresh`` reads a native exit's status back (an untriggered stop is live)."""
    ex = OrderExecutor(make_client(), journal)
    try:
        for kind in ("stop_limit_gtc", "bracket_gtc"):
            intent = exit_intent(kind, f"refresh-{kind}", sim)
            await ex.place(intent)
            order = await ex.refresh(intent.client_order_id)
            assert order.status == "OPEN"
            state = ex.orders.get(intent.client_order_id)
            assert state is not None and state.status is OrderStatus.OPEN
    finally:
        await ex.close()


async def test_150_exits_under_30pct_random_faults_make_exactly_150_orders(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    """Every exit kind at once, 16 in flight, a seeded 30 % of them with a random fault of
    the matrix: one order per client id, one exit per attached entry, each linked."""
    n, rng = 150, random.Random(20261206)
    ex = OrderExecutor(make_client(read_timeout=0.5), journal)
    menu = [name for name in FAULTS if name != "none"]
    gate = asyncio.Semaphore(16)

    async def one(i: int) -> PlacedOrder:
        intent = exit_intent(KINDS[i % len(KINDS)], f"bulk-exit-{i:03d}", sim)
        async with gate:
            if rng.random() < 0.3:
                _faults(sim)[rng.choice(menu)]()
            return await _place(ex, intent)

    try:
        placed = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), 50)
        sim.faults.clear()
        orders = _orders(sim)
        by_coid = Counter(str(o["client_order_id"]) for o in orders)
        exits = [o for o in orders if o["client_order_id"] == ""]
        assert {c for c in by_coid if c} == {f"bulk-exit-{i:03d}" for i in range(n)}
        assert max(v for c, v in by_coid.items() if c) == 1  # no duplicate
        attached = [p for i, p in enumerate(placed) if KINDS[i % len(KINDS)].startswith("att")]
        assert len(exits) == len(attached) == n // 3
        by_entry = Counter(str(o["originating_order_id"]) for o in exits)
        assert set(by_entry) == {p.order_id for p in attached} and max(by_entry.values()) == 1
        for p in attached:  # the placement reported its exit, and the executor linked it
            assert p.attached_order_id and ex.entry_of(p.attached_order_id) == p.client_order_id
        assert journal.counts() == {"PLACED": n}
        assert len(sim.faults.history) >= 0.2 * n  # the faults really fired
    finally:
        await ex.close()
