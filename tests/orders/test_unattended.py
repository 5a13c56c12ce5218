"""Executor edge cases of "Unattended I": nothing ends FAILED while its order may exist.

Each test drives the real executor and REST client against the simulator, with the
simulator's scripted faults (docs/simulator.md) standing in for a flaky exchange.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from botkit.auth.clock import SystemClock
from botkit.errors import OrderOutcomeUnknown, OrderRejected, PermissionDenied
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, limit_gtc, market_ioc
from botkit.orders.journal import IntentState, OrderJournal
from botkit.orders.state import OrderStatus
from botkit.venues.advanced_trade.rest_client import RestClient
from tests.orders.conftest import ClientFactory, RecordingSim

POST: dict[str, Any] = {"path": r"/orders$", "method": "POST"}
LOOKUP: dict[str, Any] = {"path": r"/orders/historical/batch$", "method": "GET"}


def _intent(coid: str, side: str = "BUY") -> OrderIntent:
    size = (
        market_ioc(quote_size=Decimal("10"))
        if side == "BUY"
        else market_ioc(base_size=Decimal("0.0001"))
    )
    return OrderIntent(coid, "BTC-USD", side, size)  # type: ignore[arg-type]


def _orders(sim: RecordingSim, coid: str) -> list[dict[str, object]]:
    return [o for o in sim.exchange.list_orders("default", {}) if o["client_order_id"] == coid]


def _post_arrived(sim: RecordingSim) -> asyncio.Event:
    """An event set when a create-order POST reaches the simulator."""
    arrived = asyncio.Event()

    def hold(request: web.Request) -> None:
        if request.method == "POST" and request.path.endswith("/orders"):
            arrived.set()

    sim.on_request = hold
    return arrived


def _count(sim: RecordingSim, method: str, suffix: str) -> int:
    return sum(1 for m, p, _ in sim.seen if m == method and p.endswith(suffix))


async def _resting(client: RestClient, side: str = "BUY") -> dict[str, object]:
    """A post-only limit configuration 20 % away from the book: it rests, it never fills."""
    book = (await client.product_book("BTC-USD", limit=1)).pricebook
    if side == "BUY":
        price = (book.bids[0].price * Decimal("0.8")).quantize(Decimal("0.01"))
    else:
        price = (book.asks[0].price * Decimal("1.2")).quantize(Decimal("0.01"))
    return limit_gtc(Decimal("0.001"), price, post_only=True)


async def _unknown_but_placed(sim: RecordingSim, ex: OrderExecutor, coid: str) -> str:
    """The issue's opening move: the exchange accepts, answers 500, and the lookup fails too."""
    sim.faults.fail_after_accept(500)  # the order now exists
    sim.faults.fail_next(500, count=20, **POST)  # every retry: 500 (not processed)
    sim.faults.fail_next(500, count=20, **LOOKUP)  # and the lookup cannot tell
    with pytest.raises(OrderOutcomeUnknown):
        await ex.place(_intent(coid))
    sim.faults.clear()
    [order] = _orders(sim, coid)
    record = ex.journal.get(coid)
    assert record is not None and record.state is IntentState.PENDING
    assert record.attempts >= 1  # the unknown outcome is counted, in the journal
    return str(order["order_id"])


# -- 1. FAILED only when botkit knows no order exists ------------------------------------------


async def test_refusals_after_an_unknown_outcome_find_the_order_instead_of_failing(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    ex = OrderExecutor(make_client(), journal)
    order_id = await _unknown_but_placed(sim, ex, "un-1")
    sim.faults.fail_next(403, count=50, **POST)  # a run of refusals on the next place()
    placed = await ex.place(_intent("un-1"))
    assert (placed.order_id, placed.resolved_by) == (order_id, "lookup")
    record = journal.get("un-1")
    assert record is not None and record.state is IntentState.PLACED
    assert len(_orders(sim, "un-1")) == 1
    await ex.close()


async def test_definite_refusal_after_an_unknown_outcome_looks_up_before_failed(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    """The lookup before the re-POST fails (401s), the re-POST gets 429s: look again, found."""
    ex = OrderExecutor(make_client(), journal)
    order_id = await _unknown_but_placed(sim, ex, "un-2")
    sim.faults.fail_next(401, count=4, **LOOKUP)  # the first lookup gives up (4 attempts)
    sim.faults.fail_next(429, count=7, **POST)  # the re-POST gives up (7 attempts)
    placed = await ex.place(_intent("un-2"))
    assert (placed.order_id, placed.resolved_by) == (order_id, "lookup")
    assert journal.get("un-2").state is IntentState.PLACED  # type: ignore[union-attr]
    await ex.close()


async def test_no_order_and_a_complete_lookup_may_end_failed(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    """The other side of the rule: unknown earlier, nothing at the exchange, refused now."""
    ex = OrderExecutor(make_client(), journal)
    sim.faults.reset_next(count=20, **POST)  # never reaches the engine: nothing exists
    with pytest.raises(OrderOutcomeUnknown):
        await ex.place(_intent("un-3"))
    sim.faults.clear()
    sim.faults.fail_next(403, count=50, **POST)
    with pytest.raises(PermissionDenied):
        await ex.place(_intent("un-3"))
    assert journal.get("un-3").state is IntentState.FAILED  # type: ignore[union-attr]
    assert _orders(sim, "un-3") == []
    await ex.close()


# -- 2. resolve() says "still unknown" with a type ------------------------------------------


async def test_resolve_reports_still_unknown_as_outcome_unknown(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    ex = OrderExecutor(make_client(), journal)
    order_id = await _unknown_but_placed(sim, ex, "rs-1")
    sim.faults.fail_next(401, count=200, **LOOKUP)  # every lookup: 401
    sim.faults.fail_next(403, count=200, **POST)  # every re-POST: 403
    with pytest.raises(OrderOutcomeUnknown):
        await ex.resolve("rs-1")
    assert journal.get("rs-1").state is IntentState.PENDING  # type: ignore[union-attr]
    sim.faults.clear()
    placed = await ex.resolve("rs-1")
    assert (placed.order_id, placed.resolved_by) == (order_id, "lookup")
    await ex.close()


# -- 3. lookups page until found ---------------------------------------------------------------


async def test_lookup_pages_newest_first_until_found(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    intent = _intent("pg-1", side="SELL")
    journal.record(intent.client_order_id, intent.product_id, intent.side, intent.body())
    client = make_client()
    await client.create_order(intent)  # what a dead process managed to send
    for i in range(7):  # newer orders of the same product and side push it to page 4
        await client.create_order(_intent(f"pg-later-{i}", side="SELL"))
    before = _count(sim, "GET", "/orders/historical/batch")
    ex = OrderExecutor(make_client(), journal, lookup_limit=2)
    [placed] = await ex.start()
    assert placed.resolved_by == "lookup" and len(_orders(sim, "pg-1")) == 1
    assert _count(sim, "GET", "/orders/historical/batch") - before == 4
    await ex.close()


async def test_lookup_before_a_resend_ends_at_the_intents_horizon(
    sim: RecordingSim, make_client: ClientFactory, journal_path: Path
) -> None:
    """An intent last tried long ago: orders placed after its horizon are not paged through."""
    old = OrderJournal(journal_path, wall=lambda: time.time() - 3600)
    intent = _intent("hz-1")
    old.record(intent.client_order_id, intent.product_id, intent.side, intent.body())
    old.close()
    client = make_client()
    for i in range(5):  # a bot that kept trading after the intent
        await client.create_order(_intent(f"hz-later-{i}"))
    seen: list[str] = []

    def note(request: web.Request) -> None:
        if request.path.endswith("/orders/historical/batch"):
            seen.append(request.query_string)

    sim.on_request = note
    # re-sent although an hour old: the lookup's window is the point here, not the age
    ex = OrderExecutor(
        make_client(), OrderJournal(journal_path), lookup_limit=2, resend_max_age=None
    )
    [placed] = await ex.start()
    assert placed.resolved_by == "response" and len(_orders(sim, "hz-1")) == 1
    assert len(seen) == 1 and "end_date=" in seen[0]  # one empty page, not three full ones
    await ex.close()


# -- 4. start-up: a definite rejection is recorded, start-up goes on ------------------------


async def test_startup_records_a_rejection_and_resolves_the_next_intents(
    sim: RecordingSim, make_client: ClientFactory, journal_path: Path
) -> None:
    client = make_client()
    book = (await client.product_book("BTC-USD", limit=1)).pricebook
    crossing = (book.asks[0].price * Decimal("1.05")).quantize(Decimal("0.01"))
    stale_quote = OrderIntent(
        "st-1", "BTC-USD", "BUY", limit_gtc(Decimal("0.001"), crossing, post_only=True)
    )
    later = _intent("st-2")
    journal = OrderJournal(journal_path)
    for intent in (stale_quote, later):  # both pending when the last run died
        journal.record(intent.client_order_id, intent.product_id, intent.side, intent.body())
    journal.close()
    ex = OrderExecutor(client, OrderJournal(journal_path))
    placed = await ex.start()
    assert [(p.client_order_id, p.resolved_by) for p in placed] == [("st-2", "response")]
    report = ex.startup
    assert report.placed == placed and report.unknown == []
    [rejected] = report.rejected
    assert (rejected.client_order_id, rejected.product_id, rejected.side) == (
        "st-1",
        "BTC-USD",
        "BUY",
    )
    assert rejected.reason == "INVALID_LIMIT_PRICE_POST_ONLY"
    assert ex.journal.counts() == {"PLACED": 1, "REJECTED": 1}
    assert _orders(sim, "st-1") == [] and len(_orders(sim, "st-2")) == 1
    await ex.close()


async def test_startup_tries_every_intent_then_raises_outcome_unknown(
    sim: RecordingSim, make_client: ClientFactory, journal_path: Path
) -> None:
    journal = OrderJournal(journal_path)
    eth = OrderIntent("su-2", "ETH-USD", "BUY", market_ioc(quote_size=Decimal("10")))
    for intent in (_intent("su-1"), eth):
        journal.record(intent.client_order_id, intent.product_id, intent.side, intent.body())
    journal.close()
    # su-1: every lookup and every POST fails without processing -> still unknown;
    # the faults end when su-2 (ETH-USD) is looked up
    sim.faults.reset_next(count=100, path=r"/orders(/historical/batch)?$")

    def disarm(request: web.Request) -> None:
        if "ETH-USD" in request.query_string:
            sim.faults.clear()

    sim.on_request = disarm
    ex = OrderExecutor(make_client(), OrderJournal(journal_path))
    with pytest.raises(OrderOutcomeUnknown):
        await ex.start()
    assert ex.startup.unknown == ["su-1"]
    assert [p.client_order_id for p in ex.startup.placed] == ["su-2"]
    assert ex.journal.counts() == {"PENDING": 1, "PLACED": 1}
    sim.faults.clear()
    assert [p.client_order_id for p in await ex.start()] == ["su-1"]  # not started: tried again
    await ex.close()


# -- 5. the clock's suspect flag clears once corrected --------------------------------------


async def test_clock_suspect_clears_once_corrected(
    sim: RecordingSim, make_client: ClientFactory
) -> None:
    sim.faults.clock_offset = 300
    clock = SystemClock()
    c = make_client(clock=clock)
    assert (await c.key_permissions()).can_view  # 401s, then a resync corrects the clock
    assert clock.offset == pytest.approx(300, abs=0.5) and not c.clock_suspect
    times = _count(sim, "GET", "/time")
    for _ in range(3):  # a stray 401 later is re-signed, not another GET /time
        sim.faults.fail_next(401, count=1, path="/accounts$")
        assert (await c.list_accounts()).accounts
    assert _count(sim, "GET", "/time") == times


# -- 6. start-up reconciliation ------------------------------------------------------------


async def test_reconcile_adopts_orders_without_an_intent_row(
    sim: RecordingSim,
    make_client: ClientFactory,
    journal: OrderJournal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client()
    lost = [str(uuid.uuid4()) for _ in range(3)]  # placed by botkit; the journal was lost
    for i, coid in enumerate(lost):
        side = "BUY" if i % 2 == 0 else "SELL"
        await client.create_order(OrderIntent(coid, "BTC-USD", side, await _resting(client, side)))  # type: ignore[arg-type]
    await client.create_order(OrderIntent(lost[0][:8], "BTC-USD", "BUY", await _resting(client)))
    await client.create_order(_intent(str(uuid.uuid4())))  # a filled market order, also ours
    ex = OrderExecutor(make_client(), journal)
    known = OrderIntent(str(uuid.uuid4()), "BTC-USD", "BUY", await _resting(client))
    mine = await ex.place(known)
    caplog.set_level("WARNING", "botkit.orders.executor")
    report = await ex.reconcile(["BTC-USD"])
    adopted = {o.client_order_id: o for o in report.adopted}
    assert set(lost) <= set(adopted) and len(adopted) == 4  # + the filled one
    assert lost[0][:8] not in adopted and mine.client_order_id not in adopted
    open_ids = {o.client_order_id for o in report.open_orders}
    assert open_ids == {*lost, mine.client_order_id}
    for coid in lost:
        record = journal.get(coid)
        assert record is not None and record.state is IntentState.PLACED
        assert record.order_id == adopted[coid].order_id
        state = ex.orders.get(coid)
        assert state is not None and state.status is OrderStatus.OPEN
        assert adopted[coid].filled_size == 0 and adopted[coid].status == "OPEN"
    assert "adopted" in caplog.text and lost[1] in caplog.text
    assert ex.startup.adopted == report.adopted
    again = await ex.reconcile(["BTC-USD"])  # nothing adopted twice, nothing duplicated
    assert again.adopted == [] and {o.client_order_id for o in again.open_orders} == open_ids
    # an adopted id cannot be placed again as a new order
    with pytest.raises(OrderRejected):
        await ex.place(OrderIntent(lost[0], "BTC-USD", "BUY", await _resting(client)))
    assert len(_orders(sim, lost[0])) == 1
    await ex.close()


async def test_reconcile_revives_an_intent_wrongly_ended_failed(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    client = make_client()
    coid = str(uuid.uuid4())
    intent = OrderIntent(coid, "BTC-USD", "BUY", await _resting(client))
    journal.record(coid, intent.product_id, intent.side, intent.body())
    journal.mark(coid, IntentState.FAILED, error="written by an older botkit")
    created = await client.create_order(intent)
    assert created.success_response is not None
    ex = OrderExecutor(make_client(), journal)
    await ex.start()
    report = await ex.reconcile(["BTC-USD"])
    assert [o.order_id for o in report.adopted] == [created.success_response.order_id]
    assert journal.get(coid).state is IntentState.PLACED  # type: ignore[union-attr]
    await ex.close()


# -- 7. a shared placement runs in its own task ----------------------------------------------


async def test_cancelling_one_caller_does_not_cancel_a_shared_placement(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    ex = OrderExecutor(make_client(), journal)
    await ex.start()
    arrived = _post_arrived(sim)
    sim.faults.delay_next(0.3, **POST)
    first = asyncio.create_task(ex.place(_intent("sh-1")))
    await asyncio.wait_for(arrived.wait(), 5)  # the placement's POST is at the exchange
    second = asyncio.create_task(ex.place(_intent("sh-1")))
    await asyncio.sleep(0)  # let the second caller join the shared placement
    first.cancel()
    placed = await asyncio.wait_for(second, 5)
    assert placed.client_order_id == "sh-1" and placed.resolved_by == "response"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert journal.get("sh-1").state is IntentState.PLACED  # type: ignore[union-attr]
    assert len(_orders(sim, "sh-1")) == 1 and _count(sim, "POST", "/orders") == 1
    await ex.close()


async def test_close_does_not_orphan_an_inflight_placement(
    sim: RecordingSim, make_client: ClientFactory, journal_path: Path
) -> None:
    ex = OrderExecutor(make_client(), OrderJournal(journal_path), close_timeout=0.2)
    await ex.start()
    arrived = _post_arrived(sim)
    sim.faults.delay_next(1.5, **POST)
    caller = asyncio.create_task(ex.place(_intent("cl-1")))
    await asyncio.wait_for(arrived.wait(), 5)
    tasks = list(ex.inflight)
    await asyncio.wait_for(ex.close(), 2)  # bounded: does not wait for the 1.5 s POST
    assert all(t.done() for t in tasks) and not ex.inflight
    with pytest.raises(asyncio.CancelledError):
        await caller
    journal = OrderJournal(journal_path)  # the intent stays pending for the next start
    assert journal.get("cl-1").state is IntentState.PENDING  # type: ignore[union-attr]
    journal.close()


async def test_same_id_with_another_body_is_refused_while_in_flight(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    ex = OrderExecutor(make_client(), journal)
    await ex.start()
    arrived = _post_arrived(sim)
    sim.faults.delay_next(0.3, **POST)
    first = asyncio.create_task(ex.place(_intent("bd-1")))
    await asyncio.wait_for(arrived.wait(), 5)
    other = OrderIntent("bd-1", "BTC-USD", "BUY", market_ioc(quote_size=Decimal("11")))
    with pytest.raises(OrderRejected, match="different order"):
        await ex.place(other)
    assert (await first).resolved_by == "response"
    await ex.close()


# -- 8. a 403 PERMISSION_DENIED is final ------------------------------------------------------


async def test_batch_cancel_permission_denied_is_not_retried(
    sim: RecordingSim, make_client: ClientFactory
) -> None:
    sim.faults.fail_next(403, count=5, path="/orders/batch_cancel$")
    with pytest.raises(PermissionDenied):
        await make_client().cancel_orders(["any-order"])
    assert _count(sim, "POST", "/orders/batch_cancel") == 1
