"""Exactly-once placement: journal before POST, same id on retries, resolution by client_order_id."""

from __future__ import annotations

import os
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pytest
from aiohttp import web

from botkit.errors import AuthError, OrderOutcomeUnknown, OrderRejected
from botkit.orders.executor import OrderExecutor
from botkit.orders.intent_log import read_log
from botkit.orders.intents import OrderIntent, market_ioc
from botkit.orders.journal import IntentState, OrderJournal
from botkit.orders.state import OrderStatus
from tests.orders.conftest import ClientFactory, RecordingSim
from tests.orders.journal_disk import salt_of


def _intent(coid: str, product: str = "BTC-USD", side: str = "BUY") -> OrderIntent:
    size = (
        market_ioc(quote_size=Decimal("10"))
        if side == "BUY"
        else market_ioc(base_size=Decimal("0.0001"))
    )
    return OrderIntent(coid, product, side, size)  # type: ignore[arg-type]


def _orders(sim: RecordingSim, coid: str) -> list[dict[str, object]]:
    return [o for o in sim.exchange.list_orders("default", {}) if o["client_order_id"] == coid]


async def test_intent_is_durable_before_the_first_post(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal, journal_path: Path
) -> None:
    seen_states: list[str] = []

    def peek(request: web.Request) -> None:
        if request.method == "POST" and request.path.endswith("/orders"):
            with sqlite3.connect(journal_path) as other:  # another connection: committed data only
                row = other.execute(
                    "SELECT state FROM intents WHERE client_order_id='d-1'"
                ).fetchone()
            # a new id goes to the intent log first (what an open after a crash merges)
            logged = read_log(Path(f"{journal_path}-intents"), salt_of(journal_path))
            state = row[0] if row else "MISSING"
            seen_states.append(
                "LOGGED" if any(r.client_order_id == "d-1" for r in logged) else state
            )

    sim.on_request = peek
    ex = OrderExecutor(make_client(), journal)
    placed = await ex.place(_intent("d-1"))
    assert seen_states == ["LOGGED"]
    assert placed.resolved_by == "response" and len(_orders(sim, "d-1")) == 1
    rec = journal.get("d-1")
    assert rec is not None and rec.state is IntentState.PLACED and rec.order_id == placed.order_id
    again = await ex.place(_intent("d-1"))  # same id again: same order, nothing sent
    assert again.order_id == placed.order_id and again.resolved_by == "journal"
    assert ex.orders.get("d-1").status is OrderStatus.OPEN  # type: ignore[union-attr]
    await ex.refresh("d-1")
    assert ex.orders.get("d-1").status is OrderStatus.FILLED  # type: ignore[union-attr]
    await ex.close()


@pytest.mark.parametrize("fault", ["status_after_accept", "drop_after_accept", "timeout"])
async def test_accepted_but_answer_lost_places_exactly_one(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal, fault: str
) -> None:
    if fault == "status_after_accept":
        sim.faults.fail_after_accept(500)
    elif fault == "drop_after_accept":
        sim.faults.drop_after_accept()
    else:
        sim.faults.delay_next(0.5, path=r"/orders$", method="POST")
    ex = OrderExecutor(make_client(read_timeout=0.2), journal)
    placed = await ex.place(_intent(f"u-{fault}"))
    assert len(_orders(sim, f"u-{fault}")) == 1
    posts = [h["Authorization"] for m, p, h in sim.seen if m == "POST" and p.endswith("/orders")]
    assert len(posts) == 2 and posts[0] != posts[1]  # re-signed retry, same client_order_id
    assert placed.order_id == _orders(sim, f"u-{fault}")[0]["order_id"]
    await ex.close()


async def test_status_after_accept_fault_records_then_answers(
    sim: RecordingSim, make_client: ClientFactory
) -> None:
    sim.faults.fail_after_accept(502, count=1)
    c = make_client(policy=make_client().policy.__class__(max_attempts=1))
    with pytest.raises(Exception, match="502"):
        await c.create_order(_intent("saa-1"))
    assert len(_orders(sim, "saa-1")) == 1 and not sim.faults.faults


async def test_unknown_outcome_left_pending_then_resolved_at_start(
    sim: RecordingSim, make_client: ClientFactory, journal_path: Path
) -> None:
    sim.faults.reset_next(count=100, path=r"/orders$", method="POST")  # never reaches the engine
    ex = OrderExecutor(make_client(), OrderJournal(journal_path))
    with pytest.raises(OrderOutcomeUnknown):
        await ex.place(_intent("p-1"))
    assert ex.journal.get("p-1").state is IntentState.PENDING  # type: ignore[union-attr]
    assert _orders(sim, "p-1") == []
    await ex.close()
    sim.faults.clear()
    restarted = OrderExecutor(make_client(), OrderJournal(journal_path))
    resolved = await restarted.start()
    assert [(r.client_order_id, r.resolved_by) for r in resolved] == [("p-1", "response")]
    assert len(_orders(sim, "p-1")) == 1
    assert restarted.journal.counts() == {"PLACED": 1}
    await restarted.close()


async def test_pending_intent_found_by_lookup_at_start(
    sim: RecordingSim, make_client: ClientFactory, journal_path: Path
) -> None:
    """The order reached the exchange but the process died before recording it."""
    journal = OrderJournal(journal_path)
    intent = _intent("l-1", side="SELL")
    journal.record(intent.client_order_id, intent.product_id, intent.side, intent.body())
    journal.close()
    await make_client().create_order(intent)  # what the dead process managed to send
    ex = OrderExecutor(make_client(), OrderJournal(journal_path))
    placed = await ex.place(_intent("l-2"))  # start-up resolution runs first
    assert placed.resolved_by == "response"
    assert ex.journal.get("l-1").state is IntentState.PLACED  # type: ignore[union-attr]
    assert len(_orders(sim, "l-1")) == 1
    await ex.close()


async def test_reused_id_with_other_order_is_detected(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    await make_client().create_order(_intent("r-1", product="ETH-USD"))  # placed elsewhere
    ex = OrderExecutor(make_client(), journal)
    with pytest.raises(OrderRejected, match="reused"):
        await ex.place(_intent("r-1", product="BTC-USD"))
    assert journal.get("r-1").state is IntentState.REJECTED  # type: ignore[union-attr]
    with pytest.raises(OrderRejected, match="different order"):
        await ex.place(OrderIntent("r-1", "BTC-USD", "BUY", market_ioc(quote_size=Decimal(11))))
    await ex.close()


@pytest.mark.parametrize("durability", ["overlap", "before_send"])
async def test_a_rejection_is_power_safe_before_the_caller_hears_of_it(
    sim: RecordingSim,
    make_client: ClientFactory,
    journal: OrderJournal,
    journal_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    durability: Literal["overlap", "before_send"],
) -> None:
    """An outcome is written without an fsync; a REJECTED one lost to a power cut would
    leave the intent PENDING, re-POSTed at the next start. So the WAL is fsynced after the
    REJECTED row is written and before ``place()`` raises: the fsyncs of the WAL are
    recorded (the real ones run) with the journal's write count at each."""
    ex = OrderExecutor(make_client(), journal, durability=durability)
    await ex.start()
    wal = os.open(f"{journal_path}-wal", os.O_RDONLY)
    wal_stat = os.fstat(wal)
    os.close(wal)
    synced_at: list[int] = []
    real = os.fdatasync

    def recording(fd: int) -> None:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) == (wal_stat.st_dev, wal_stat.st_ino):
            synced_at.append(journal.writes)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", recording)
    big = OrderIntent("r-pw", "BTC-USD", "SELL", market_ioc(base_size=Decimal(10**6)))
    with pytest.raises(OrderRejected):
        await ex.place(big)
    written = journal.writes  # the intent and its REJECTED outcome
    assert synced_at and max(synced_at) == written, (synced_at, written)
    assert journal.get("r-pw").state is IntentState.REJECTED  # type: ignore[union-attr]
    await ex.close()


async def test_definite_failures_are_not_pending(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    ex = OrderExecutor(make_client(), journal)
    with pytest.raises(OrderRejected):
        await ex.place(
            _intent("f-1", side="SELL").__class__(
                "f-1", "BTC-USD", "SELL", market_ioc(base_size=Decimal(10**6))
            )
        )
    assert journal.get("f-1").state is IntentState.REJECTED  # type: ignore[union-attr]
    assert ex.orders.get("f-1").status is OrderStatus.REJECTED  # type: ignore[union-attr]
    sim.faults.fail_next(401, count=50, path=r"/orders$")
    with pytest.raises(AuthError):
        await ex.place(_intent("f-2"))
    assert journal.get("f-2").state is IntentState.FAILED  # type: ignore[union-attr]
    assert journal.pending() == []
    await ex.close()


async def test_retry_logs_carry_client_order_id(
    sim: RecordingSim,
    make_client: ClientFactory,
    journal: OrderJournal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("WARNING")
    sim.faults.fail_next(503, count=1, path=r"/orders$")
    ex = OrderExecutor(make_client(), journal)
    await ex.place(_intent("log-1"))
    assert "retry POST /orders after attempt 1: server_error (ServerError HTTP 503" in caplog.text
    assert "client_order_id=log-1" in caplog.text
    await ex.close()


async def test_a_pending_intent_older_than_resend_max_age_is_not_sent_again(
    sim: RecordingSim, make_client: ClientFactory, journal_path: Path
) -> None:
    """A quote a crash left pending went out at the next start whatever its age — minutes
    later, at its old price, every such quote at once. Not found and older than
    resend_max_age: FAILED (STALE_INTENT), nothing sent; found: adopted as before."""
    journal = OrderJournal(journal_path)
    for coid in ("old-lost", "old-there"):
        intent = _intent(coid)
        journal.record(coid, intent.product_id, intent.side, intent.body())
    journal.close()
    await make_client().create_order(_intent("old-there"))  # what the dead process sent
    later = time.time() + 120  # the restart, two minutes on
    ex = OrderExecutor(make_client(), OrderJournal(journal_path), wall=lambda: later)
    placed = await ex.start()
    assert [(p.client_order_id, p.resolved_by) for p in placed] == [("old-there", "lookup")]
    [stale] = ex.startup.rejected
    assert (stale.client_order_id, stale.reason) == ("old-lost", "STALE_INTENT")
    assert _orders(sim, "old-lost") == [] and len(_orders(sim, "old-there")) == 1
    rec = ex.journal.get("old-lost")
    assert rec is not None and rec.state is IntentState.FAILED and "120 s old" in (rec.error or "")
    await ex.close()
    young = OrderJournal(journal_path)  # within the age: re-sent, as before
    young.record("young", "BTC-USD", "BUY", _intent("young").body())
    young.close()
    ex = OrderExecutor(make_client(), OrderJournal(journal_path), wall=lambda: time.time() + 30)
    [p] = await ex.start()
    assert (p.client_order_id, p.resolved_by) == ("young", "response")
    await ex.close()


async def test_a_stale_intent_is_only_dropped_at_start_and_only_after_a_lookup_answered(
    sim: RecordingSim, make_client: ClientFactory, journal_path: Path
) -> None:
    """A review found the age rule applied in the run (an exit settling its order 60 s on
    got STALE_INTENT, was re-armed and sold a second time under a new id) and after a
    lookup that *failed* (nothing had been looked at). Neither is "not found"."""
    clock = [time.time()]
    ex = OrderExecutor(make_client(), OrderJournal(journal_path), wall=lambda: clock[0])
    await ex.start()  # a run in progress: its own resolve() is not start-up's
    intent = _intent("st-run")  # left pending in this run (its answer lost, say)
    ex.journal.record(intent.client_order_id, intent.product_id, intent.side, intent.body())
    clock[0] += 120
    placed = await ex.resolve("st-run")  # in the run: re-sent with its id, whatever its age
    assert placed.resolved_by == "response" and len(_orders(sim, "st-run")) == 1
    await ex.close()

    journal = OrderJournal(journal_path)
    intent = _intent("st-down")
    journal.record(intent.client_order_id, intent.product_id, intent.side, intent.body())
    journal.close()
    sim.faults.fail_next(503, count=50, path=r"/orders/historical/batch", method="GET")
    later = time.time() + 120
    ex = OrderExecutor(make_client(), OrderJournal(journal_path), wall=lambda: later)
    [p] = await ex.start()  # the lookup failed: Advanced Trade re-sends with the same id
    assert (p.client_order_id, p.resolved_by) == ("st-down", "response")
    assert ex.startup.rejected == []
    await ex.close()
