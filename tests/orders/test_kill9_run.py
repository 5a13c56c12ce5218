"""``botkit run`` killed with SIGKILL at random moments, restarted on the same data directory.

Both sides are real processes: a ``botkit sim`` (the exchange; it outlives every bot, with
every create-order held 0.3 s so that kills land mid-request) and ``botkit run`` in live
mode pointed at it through the usual ``BOTKIT_COINBASE__*`` settings, running the shipped
market maker re-quoting every 0.3 s. Ten runs are killed at seeded random moments once they
trade; a final run stops cleanly. Then: every order at the exchange has its intent in the
journal with the same order id (no lost order), no id has two orders (no duplicate), no
intent is left PENDING, and no run ever exited by itself (a restart that failed start-up
would have). Two more runs with the kill switch tripped stop the trading; then the fill
ledger's position and every order's counted mark equal what the exchange filled: no fill
lost or counted twice by any kill (docs/strategies.md, "Positions across restarts").
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from botkit.auth.clock import SystemClock
from botkit.auth.factory import make_jwt_signer, resolve_cdp_key
from botkit.orders.ledger import FillLedger
from botkit.runtime.settings import load_settings
from botkit.venues.advanced_trade.rest_client import RestClient

ROOT = Path(__file__).resolve().parents[2]
KILLS = 10
SEED = 20260512
TOKEN = "kill9-admin"
CONFIG = """
[bot]
mode = "live"
products = ["BTC-USD"]
channels = ["level2"]

[risk]  # none: the run's orders are what is checked, exactly once each

[strategy]
name = "market_maker"

[strategy.params]
product_id = "BTC-USD"
size = "0.001"
requote_seconds = 0.3
"""


def _env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
    return {**keep, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


async def _lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    while raw := await stream.readline():
        yield raw.decode(errors="replace").rstrip()


@pytest.fixture
async def sim_process(tmp_path: Path) -> AsyncIterator[tuple[Path, str]]:
    """A ``botkit sim`` subprocess: yields (its .env file, its admin URL)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", "sim", "--port", "0", "--seed", "5",
        "--admin-token", TOKEN,
        cwd=tmp_path, env=_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        env_lines: list[str] = []
        admin = ""

        async def read_banner() -> None:
            nonlocal admin
            assert proc.stdout is not None
            async for line in _lines(proc.stdout):
                if match := re.search(r"admin API: (\S+/_sim)", line):
                    admin = match.group(1)
                if line.startswith("BOTKIT_"):
                    env_lines.append(line)
                if line.startswith("BOTKIT_COINBASE__API_SECRET"):
                    return

        await asyncio.wait_for(read_banner(), 30)
        env_file = tmp_path / "sim.env"
        env_file.write_text("\n".join(env_lines) + "\n")
        yield env_file, admin
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _bot(env_file: Path, config: Path, data: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", "--env-file", str(env_file), "run",
        "--config", str(config), "--live", "--data-dir", str(data), "--log-level", "INFO", *extra,
        cwd=data.parent, env=_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def _until_trading(proc: asyncio.subprocess.Process, log: list[str]) -> None:
    """Read the bot's output until it has placed an order (it got through start-up)."""
    assert proc.stdout is not None
    async for line in _lines(proc.stdout):
        log.append(line)
        if re.search(r"\bplaced (BUY|SELL) ", line):
            return
    raise AssertionError(
        f"botkit run exited ({await proc.wait()}) before trading:\n" + "\n".join(log[-40:])
    )


async def _drain(proc: asyncio.subprocess.Process, log: list[str]) -> None:
    assert proc.stdout is not None
    async for line in _lines(proc.stdout):
        log.append(line)


@pytest.mark.timeout(180)  # eleven real bot processes, ~4 s each: the 60 s default is too tight
async def test_botkit_run_killed_at_random_moments_loses_and_duplicates_nothing(
    sim_process: tuple[Path, str], tmp_path: Path
) -> None:
    env_file, admin = sim_process
    async with aiohttp.ClientSession(headers={"X-Sim-Admin-Token": TOKEN}) as http:
        fault = {"kind": "delay", "seconds": 0.3, "count": 100_000, "path": "/orders$",
                 "method": "POST"}  # fmt: skip
        async with http.post(f"{admin}/faults", json=fault) as response:
            assert response.status == 200, await response.text()
    config = tmp_path / "bot.toml"
    config.write_text(CONFIG)
    data = tmp_path / "data"
    rng = random.Random(SEED)
    for run in range(KILLS):
        log: list[str] = []
        proc = await _bot(env_file, config, data)
        try:
            await asyncio.wait_for(_until_trading(proc, log), 30)
            drain = asyncio.create_task(_drain(proc, log))
            moment = rng.uniform(0.0, 1.0)  # a random moment while it trades
            try:
                code = await asyncio.wait_for(asyncio.shield(proc.wait()), moment)
            except TimeoutError:
                code = None
            assert code is None, f"run {run} exited {code} by itself:\n" + "\n".join(log[-40:])
            proc.kill()  # SIGKILL: no shutdown, no flush, nothing
            await proc.wait()
            await asyncio.wait_for(drain, 10)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    log = []
    final = await _bot(env_file, config, data, "--duration", "2")
    await asyncio.wait_for(_drain(final, log), 40)
    assert await final.wait() == 0, "\n".join(log[-60:])
    # Stop trading for the position check: with the kill switch tripped, a run cancels every
    # open order at start and places none; a second one then reads back any fill made
    # meanwhile. After it nothing can fill, so the ledger must equal the exchange.
    (data / "kill_switch.json").write_text('{"tripped": true, "reason": "test", "at": 0}')
    for duration in ("3", "2"):
        quiet = await _bot(env_file, config, data, "--duration", duration)
        await asyncio.wait_for(_drain(quiet, log), 40)
        assert await quiet.wait() == 0, "\n".join(log[-60:])

    with sqlite3.connect(data / "journal.sqlite") as db:
        rows = db.execute("SELECT client_order_id, state, order_id FROM intents").fetchall()
    states = Counter(state for _, state, _ in rows)
    assert states["PENDING"] == 0, states
    journal = {coid: (state, order_id) for coid, state, order_id in rows}

    settings = load_settings(env_file=env_file)
    clock = SystemClock()
    client = RestClient(
        settings.coinbase.rest_url,
        make_jwt_signer(resolve_cdp_key(settings), settings, clock=clock),
        clock=clock,
    )
    try:
        orders = [o async for o in client.iter_orders(limit=1000)]
    finally:
        await client.close()
    by_coid = Counter(o.client_order_id for o in orders)
    assert orders and max(by_coid.values()) == 1  # no duplicate
    for order in orders:  # no lost order: each one is journalled PLACED with its id
        assert journal.get(order.client_order_id) == ("PLACED", order.order_id), order
    at_exchange = {o.client_order_id for o in orders}
    placed = {coid for coid, (state, _) in journal.items() if state == "PLACED"}
    assert placed == at_exchange  # nothing journalled as placed that the exchange lacks
    assert states["PLACED"] >= KILLS  # it really traded across the restarts

    # positions survived every kill: the ledger holds what the exchange filled, once
    assert not [o for o in orders if o.status == "OPEN"]
    truth = sum(
        (o.filled_size if o.side == "BUY" else -o.filled_size for o in orders), Decimal(0)
    )
    ledger = FillLedger(data / "fills.sqlite")
    try:
        held = ledger.positions().get("BTC-USD")
        for order in orders:  # every order's counted mark is its filled size
            mark = ledger.mark(order.order_id)
            assert (mark.cumulative_quantity if mark else 0) == order.filled_size, order
    finally:
        ledger.close()
    assert (held.quantity if held else 0) == truth
    assert any(o.filled_size for o in orders)  # fills happened, across the kills
