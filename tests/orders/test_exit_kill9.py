"""kill -9 of a bot placing native exits (brackets, TP/SL attached to entries, stop-limits):
after every restart 0 duplicate, 0 lost, and the exits still at the exchange, tracked.

The simulator runs in the test process (it outlives every killed client); the client is a
subprocess (tests/orders/driver_exit_kill9.py) with its own journal, restarted after each
kill on the same journal. Kills, round by round (seeded), as in
tests/orders/test_kill9_overlap.py: ``before_post`` (killed when its create-order reaches the
simulator, the request dropped: a kill between the journal write and the POST),
``after_post`` (the exchange placed it, the client never heard), ``lost_row`` (overlap
only: the un-fsynced PENDING row lost, as a power cut would: adopted at reconciliation) and
``random`` (a seeded moment while it places). Kill moments come from the requests the
simulator receives and the client's output, never from sleeps.

After a last clean run: every intent has exactly one order at the simulator, journalled
PLACED with its id; every attached entry has exactly one exit (empty client id,
``originating_order_id`` the entry), still open; every bracket and stop-limit is still
open; and the restarted executor tracks each exit (the bracket's and the stop's state, the
attached exit linked to its entry by order id).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from botkit.sim.ratelimit import RateLimitConfig
from tests.orders.driver_exit_kill9 import KINDS
from tests.orders.driver_kill9 import client_order_ids
from tests.orders.test_kill9_overlap import (
    Handler,
    Hook,
    KillSim,
    Run,
    _journal,
    _killer,
    driver_env,
    kill_rounds,
)

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[2]
N = 30
SEED = 20261206


class ExitRun(Run):
    """One run of the exits driver."""

    @classmethod
    async def spawn(cls, env: dict[str, str]) -> ExitRun:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.orders.driver_exit_kill9",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc)


def _kind_of_body(body: dict[str, object]) -> str:
    config = next(iter(body["order_configuration"]))  # type: ignore[call-overload]
    if "attached_order_configuration" in body:
        return "attached"
    return "bracket" if str(config).startswith("trigger_bracket") else "stop_limit"


def _killer_of(sim: KillSim, kill: Hook, kind: str) -> Hook:
    """``kill`` at the next create-order of an exit of ``kind``; others pass (re-armed)."""

    async def hook(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _kind_of_body(json.loads(await request.read())) != kind:
            sim.intercept = hook  # one-shot in KillSim: wait for the next create
            return await handler(request)
        return await kill(request, handler)

    return hook


@pytest.fixture
async def ksim() -> AsyncIterator[KillSim]:
    async with KillSim(
        seed=29, tick_interval=0.05, rate_limits=RateLimitConfig(enabled=False)
    ) as server:
        yield server


def _orders(sim: KillSim) -> list[dict[str, object]]:
    return sim.exchange.list_orders("default", {})


@pytest.mark.parametrize("durability", ["overlap", "before_send"])
async def test_kill_9_with_open_brackets_and_attached_exits(
    ksim: KillSim, tmp_path: Path, durability: str
) -> None:
    journal = tmp_path / "exits.sqlite"
    env = driver_env(ksim, journal, durability, N, SEED)
    ids = client_order_ids(SEED, N)
    kind_of = {coid: KINDS[i % len(KINDS)] for i, coid in enumerate(ids)}
    victims: Counter[str] = Counter()  # the kinds killed in flight

    def arm(run: Run, mode: str, victim: list[str]) -> Hook:
        """Each kind in turn: a bracket, an attached entry, a stop-limit."""
        target = KINDS[sum(victims.values()) % len(KINDS)]
        return _killer_of(ksim, _killer(run, mode, victim), target)

    def on_victim(coid: str) -> None:
        assert kind_of[coid] == KINDS[sum(victims.values()) % len(KINDS)]
        victims[kind_of[coid]] += 1

    expect, _ = await kill_rounds(
        ksim,
        journal,
        durability,
        random.Random(SEED),
        spawn=lambda: ExitRun.spawn(env),
        placed_by=lambda n, rounds: (n + 1) * (N - 6) // rounds,
        arm=arm,
        on_victim=on_victim,
    )

    final = await ExitRun.spawn(env)
    try:
        ready = await asyncio.wait_for(final.until("ready "), 30)
        assert expect is not None and ready.startswith(expect), (ready, expect)
        line = await asyncio.wait_for(final.until("tracked "), 60)
        await asyncio.wait_for(final.until("done"), 30)
        assert await asyncio.wait_for(final.proc.wait(), 10) == 0
    finally:
        final.kill()
        await final.proc.wait()
    tracked = json.loads(line[len("tracked ") :])
    # how the final run got each intent: "journal"/"adopted" = placed in an earlier run, so
    # everything the bot knows of it came from start-up (reconciliation); the driver has no
    # user channel, so an order placed in this run keeps the state of its create answer
    how = dict(ln.split()[1:3] for ln in final.lines if ln.startswith("placed "))
    earlier = {coid for i, coid in enumerate(ids) if how[str(i)] in ("journal", "adopted")}
    assert len(earlier) >= N // 2

    orders = _orders(ksim)
    by_coid: dict[str, list[dict[str, object]]] = {}
    for order in orders:
        by_coid.setdefault(str(order["client_order_id"]), []).append(order)
    exits = by_coid.pop("", [])
    assert set(by_coid) == set(ids)  # nothing lost, nothing foreign
    assert max(len(v) for v in by_coid.values()) == 1  # no duplicate
    exchange = {coid: v[0] for coid, v in by_coid.items()}
    rows = _journal(journal)
    assert rows == {coid: ("PLACED", exchange[coid]["order_id"]) for coid in ids}

    attached = [coid for coid in ids if kind_of[coid] == "attached"]
    exit_of = {str(e["originating_order_id"]): e for e in exits}
    assert len(exits) == len(exit_of) == len(attached)  # exactly one exit per entry
    for coid in ids:
        order, seen_by_bot = exchange[coid], tracked[coid]
        assert seen_by_bot["order_id"] == order["order_id"], coid
        if kind_of[coid] == "attached":
            exit_order = exit_of[str(order["order_id"])]
            assert (order["status"], exit_order["status"]) == ("FILLED", "OPEN")
            assert exit_order["trigger_status"] == "STOP_PENDING"  # still protecting
            assert seen_by_bot["exit_id"] == exit_order["order_id"]  # linked after restart
            assert seen_by_bot["exit_entry"] == coid
            if coid in earlier:
                assert (seen_by_bot["status"], seen_by_bot["exit_status"]) == ("FILLED", "OPEN")
            else:  # the answer said placed (OPEN), the link says PENDING: both live
                assert seen_by_bot["status"] == "OPEN"
                assert seen_by_bot["exit_status"] == "PENDING"
        else:  # the bracket and the stop-limit are still at the exchange, still tracked
            assert (order["status"], order["trigger_status"]) == ("OPEN", "STOP_PENDING"), coid
            assert seen_by_bot["status"] == "OPEN", (coid, seen_by_bot)
    assert len(victims) == len(KINDS), victims  # each kind was killed in flight
