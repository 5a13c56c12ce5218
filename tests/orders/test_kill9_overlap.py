"""kill -9 of a placing process, with the intent's fsync overlapped with the POST: 0 duplicate, 0 lost.

The simulator runs in the test process (it outlives every killed client); the client is a
subprocess (tests/orders/driver_kill9.py) with its own SQLite journal, restarted after each
kill on the same journal (start-up resolves pending intents, then reconciliation adopts
orders with botkit's id format and no intent row). The kills, round by round (seeded):

* ``before_post``: when a create-order reaches the simulator the client is killed and the
  request is dropped unprocessed: the state of a kill between the journal write and the
  POST (the row is PENDING, the exchange has nothing). The restart re-POSTs it.
* ``after_post``: the simulator places the order, then the client is killed before the
  answer: a kill between the POST and the fsync/outcome. The restart finds it by lookup.
* ``lost_row`` (overlap only): as ``after_post``, then the PENDING row is deleted — what a
  power cut does to an intent whose fsync had not finished (a kill -9 cannot: the row was
  written to the OS before the POST). The restart adopts the order at reconciliation.
* ``random``: killed at a seeded random moment while it places.

The kill moments are found from the requests the simulator receives and from the client's
output, never from sleeps. After a last clean run every intent has exactly one order at the
simulator and is journalled PLACED with that order's id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from botkit.sim.ratelimit import RateLimitConfig
from tests.orders.conftest import RecordingSim
from tests.orders.driver_kill9 import client_order_ids
from tests.orders.journal_disk import intent_states, lose_intent

ROOT = Path(__file__).resolve().parents[2]
N = 60
SEED = 20261212
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Hook = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


class KillSim(RecordingSim):
    """The recording simulator plus ``intercept``: a one-shot hook around the next create-order."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.intercept: Hook | None = None

    def make_app(self) -> web.Application:
        app = super().make_app()

        @web.middleware
        async def intercept(request: web.Request, handler: Handler) -> web.StreamResponse:
            hook = self.intercept
            if hook is not None and request.method == "POST" and request.path.endswith("/orders"):
                self.intercept = None
                return await hook(request, handler)
            return await handler(request)

        app.middlewares.append(intercept)
        return app


@pytest.fixture
async def ksim() -> AsyncIterator[KillSim]:
    async with KillSim(
        seed=23, tick_interval=0.05, rate_limits=RateLimitConfig(enabled=False)
    ) as server:
        yield server


class Run:
    """One driver process and its output lines (read as they come)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    @classmethod
    async def spawn(cls, env: dict[str, str]) -> Run:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.orders.driver_kill9",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc)

    async def until(self, prefix: str) -> str:
        assert self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                err = await self.proc.stderr.read() if self.proc.stderr else b""
                raise AssertionError(
                    f"driver exited before {prefix!r}: {self.lines[-5:]} {err.decode()[-2000:]}"
                )
            self.lines.append(raw.decode().strip())
            if self.lines[-1].startswith(prefix):
                return self.lines[-1]

    async def killed(self) -> None:
        """Wait (bounded) for the kill, reading the output meanwhile."""
        assert self.proc.stdout is not None
        await asyncio.wait_for(self.proc.stdout.read(), 20)
        assert await asyncio.wait_for(self.proc.wait(), 10) == -9

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()  # SIGKILL: no cleanup, no flush, nothing


def _killer(run: Run, mode: str, victim: list[str]) -> Hook:
    """The hook that kills ``run`` at the next create-order (its id goes to ``victim``)."""

    async def hook(request: web.Request, handler: Handler) -> web.StreamResponse:
        victim.append(json.loads(await request.read())["client_order_id"])
        if mode == "before_post":
            run.kill()  # the request never takes effect: killed before the POST
            return web.Response(status=503)
        response = await handler(request)  # the exchange has the order now
        run.kill()  # ... and the client never hears of it
        return response

    return hook


def _journal(path: Path) -> dict[str, tuple[str, str | None]]:
    """The intents as the next open sees them (the table and the intent log)."""
    return intent_states(path)


def _at_exchange(sim: KillSim) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for order in sim.exchange.list_orders("default", {}):
        out.setdefault(order["client_order_id"], []).append(order["order_id"])
    return out


def driver_env(ksim: KillSim, journal: Path, durability: str, n: int, seed: int) -> dict[str, str]:
    """The driver's environment: a fresh key of ``ksim``, its journal and its intents."""
    key = ksim.add_key("EdDSA")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))},
        "BOTKIT_COINBASE__REST_URL": ksim.rest_url,
        "BOTKIT_COINBASE__API_KEY": key.name,
        "BOTKIT_COINBASE__API_SECRET": ksim.secret_of(key),
        "DRIVER_JOURNAL": str(journal),
        "DRIVER_N": str(n),
        "DRIVER_SEED": str(seed),
        "DRIVER_DURABILITY": durability,
        "PYTHONPATH": str(ROOT),
    }


async def kill_rounds(
    ksim: KillSim,
    journal: Path,
    durability: str,
    rng: random.Random,
    *,
    spawn: Callable[[], Awaitable[Run]],
    placed_by: Callable[[int, int], int],
    arm: Callable[[Run, str, list[str]], Hook],
    on_victim: Callable[[str], None] = lambda coid: None,
) -> tuple[str | None, list[str]]:
    """Kill a driver once per round, each round in one mode (shuffled with ``rng``), then
    check what the kill left: the victim's row PENDING (written before the POST) and 0 or
    1 order at the exchange. Return what the next start-up must report, and the modes.

    ``placed_by(round, rounds)``: the placement count after which a round arms its kill;
    ``arm(run, mode, victim)``: the simulator hook that kills at the next create-order.
    """
    modes = ["before_post", "after_post", "lost_row", "random"] * 2
    if durability == "before_send":  # the row is fsynced before the POST: a power cut keeps it
        modes = [m for m in modes if m != "lost_row"]
    rng.shuffle(modes)
    expect: str | None = None  # what the next start-up must report
    for n, mode in enumerate(modes):
        run = await spawn()
        try:
            ready = await asyncio.wait_for(run.until("ready "), 30)
            if expect is not None:
                assert ready.startswith(expect), (ready, expect)
            # arm the kill after a few placements of this run (spread over the intents)
            await asyncio.wait_for(run.until(f"placed {placed_by(n, len(modes))} "), 30)
            victim: list[str] = []
            if mode == "random":
                moment = rng.uniform(0.0, 0.01)
                with contextlib.suppress(TimeoutError):  # a random moment while it places
                    await asyncio.wait_for(asyncio.shield(run.proc.wait()), moment)
                run.kill()
            else:
                ksim.intercept = arm(run, mode, victim)
            await run.killed()
        finally:
            ksim.intercept = None
            run.kill()
            await run.proc.wait()
        if mode == "random":
            expect = "ready "  # anything may be pending; the final invariants decide
            continue
        (coid,) = victim
        on_victim(coid)
        state = _journal(journal).get(coid)
        assert state is not None and state[0] == "PENDING", (mode, state)  # written before POST
        orders = _at_exchange(ksim).get(coid, [])
        assert len(orders) == (0 if mode == "before_post" else 1), (mode, orders)
        if mode == "before_post":
            expect = "ready resolved=1 by=response adopted=0"  # re-POSTed, same id
        elif mode == "after_post":
            expect = "ready resolved=1 by=lookup adopted=0"  # found at the exchange
        else:  # the un-fsynced row (or log record) lost to a power cut: adopted, never
            lose_intent(journal, coid)  # placed again
            expect = "ready resolved=0 by=- adopted=1"
    return expect, modes


@pytest.mark.parametrize("durability", ["overlap", "before_send"])
async def test_kill_9_at_every_step_then_restart(
    ksim: KillSim, tmp_path: Path, durability: str
) -> None:
    journal = tmp_path / "kill9.sqlite"
    env = driver_env(ksim, journal, durability, N, SEED)
    ids = client_order_ids(SEED, N)
    expect, modes = await kill_rounds(
        ksim,
        journal,
        durability,
        random.Random(SEED),
        spawn=lambda: Run.spawn(env),
        placed_by=lambda n, rounds: (n + 1) * (N - 10) // rounds,
        arm=_killer,
    )

    final = await Run.spawn(env)
    try:
        ready = await asyncio.wait_for(final.until("ready "), 30)
        assert expect is not None and ready.startswith(expect), (ready, expect)
        await asyncio.wait_for(final.until("done"), 60)
        assert await asyncio.wait_for(final.proc.wait(), 10) == 0
    finally:
        final.kill()
        await final.proc.wait()

    exchange = _at_exchange(ksim)
    assert set(exchange) == set(ids)  # nothing lost, nothing foreign
    assert max(len(orders) for orders in exchange.values()) == 1  # no duplicate
    rows = _journal(journal)
    assert rows == {coid: ("PLACED", exchange[coid][0]) for coid in ids}
