"""A placing process killed with SIGKILL mid-order and restarted: no duplicate, no loss.

The simulator runs in the test process (it must outlive the killed client); the client is a
subprocess (tests/orders/driver_place.py) with its own SQLite journal.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from aiohttp import web

from tests.orders.conftest import RecordingSim
from tests.orders.journal_disk import intent_states

N = 40
ROOT = Path(__file__).resolve().parents[2]


async def _spawn(sim: RecordingSim, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.orders.driver_place",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _read_until(proc: asyncio.subprocess.Process, prefix: str) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    while True:
        raw = await proc.stdout.readline()
        if not raw:
            err = await proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"driver exited before {prefix!r}: {lines} {err.decode()[-2000:]}")
        lines.append(raw.decode().strip())
        if lines[-1].startswith(prefix):
            return lines


async def test_kill_9_mid_order_then_restart(sim: RecordingSim, tmp_path: Path) -> None:
    key = sim.add_key("EdDSA")
    journal = tmp_path / "kill9.sqlite"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))},
        "BOTKIT_COINBASE__REST_URL": sim.rest_url,
        "BOTKIT_COINBASE__API_KEY": key.name,
        "BOTKIT_COINBASE__API_SECRET": sim.secret_of(key),
        "DRIVER_JOURNAL": str(journal),
        "DRIVER_N": str(N),
        "PYTHONPATH": str(ROOT),
    }
    proc = await _spawn(sim, env)
    try:
        await asyncio.wait_for(_read_until(proc, "placed 14 "), timeout=30)
        arrived = asyncio.Event()

        def hold(request: web.Request) -> None:
            if request.method == "POST" and request.path.endswith("/orders"):
                arrived.set()

        sim.faults.delay_next(1.0, path=r"/orders$", method="POST")  # the next POST hangs 1 s
        sim.on_request = hold
        await asyncio.wait_for(arrived.wait(), timeout=20)  # its intent is journalled by now
        proc.kill()  # SIGKILL: no cleanup, no flush, nothing
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    sim.on_request = None
    states = Counter(s for s, _ in intent_states(journal).values())  # as the restart sees it
    assert states["PENDING"] == 1 and states["PLACED"] >= 15

    again = await _spawn(sim, env)
    lines = await asyncio.wait_for(_read_until(again, "done"), timeout=30)
    assert await asyncio.wait_for(again.wait(), timeout=10) == 0
    assert lines[0].startswith("resolved 1 ")  # the pending intent first, before any new order
    orders = sim.exchange.list_orders("default", {})
    by_coid = Counter(o["client_order_id"] for o in orders)
    assert len(orders) == N and len(by_coid) == N and max(by_coid.values()) == 1
    assert set(by_coid) == {f"k-{i:03d}" for i in range(N)}
    with sqlite3.connect(journal) as db:
        assert dict(db.execute("SELECT state, COUNT(*) FROM intents GROUP BY state")) == {
            "PLACED": N
        }
