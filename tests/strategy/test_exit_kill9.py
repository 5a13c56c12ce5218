"""A process holding a trailing stop and an emulated bracket is SIGKILLed mid re-price.

The driver (tests/strategy/exit_driver.py, a real process) trades against the simulator
over loopback: it arms a native trailing stop and an emulated bracket, the market rises,
the stop ratchets and its cancel/replace starts — and the process is killed before the new
stop is sent. A new context on the same journal and exit state must then: adopt what the
exchange still has, place the ratcheted stop (not the old one), re-arm the emulated
bracket, and close both when the market falls through them.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.clock import ManualClock
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.journal import OrderJournal
from botkit.orders.types import startup_updates
from botkit.sim.ratelimit import RateLimitConfig
from botkit.sim.server import SimServer
from botkit.strategy.context import BotContext
from botkit.strategy.exits import ExitFilled, limits_from_rules
from botkit.strategy.loader import create_strategy
from botkit.strategy.ports import ExecutorSink, MarketState
from botkit.strategy.state import JsonState
from botkit.venues.advanced_trade.rest_client import RestClient
from tests.strategy.exit_helpers import (
    PRODUCT,
    Recorder,
    UserChannel,
    bid,
    buy_up_to,
    frozen_sim,
    open_at_sim,
    sell_down_to,
    trade_print,
)

D = Decimal
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with frozen_sim(RateLimitConfig(enabled=False)) as server:
        server.exchange.add_user("b")
        yield server


async def line(proc: asyncio.subprocess.Process, prefix: str) -> list[str]:
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                err = await proc.stderr.read() if proc.stderr else b""
                raise AssertionError(f"driver exited before {prefix!r}: {err.decode()[-3000:]}")
            if raw.decode().startswith(prefix):
                return raw.decode().split()


async def test_kill_9_mid_trailing_reprice_resumes_the_ratchet_and_the_emulated_exit(
    sim: SimServer, tmp_path: Path
) -> None:
    key = sim.add_key("EdDSA")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))},
        "BOTKIT_COINBASE__REST_URL": sim.rest_url,
        "BOTKIT_COINBASE__API_KEY": key.name,
        "BOTKIT_COINBASE__API_SECRET": sim.secret_of(key),
        "EXIT_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.strategy.exit_driver", cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, trail_id, bracket_id = await line(proc, "armed")
        (first,) = open_at_sim(sim.exchange)  # the trailing stop; the bracket is emulated
        assert first["order_type"] == "STOP_LIMIT"
        last = sim.exchange.last_trade_price(PRODUCT)
        high = buy_up_to(sim.exchange, last + 10)
        assert proc.stdin is not None
        proc.stdin.write(f"price {high}\n".encode())
        await proc.stdin.drain()
        seen = await line(proc, "seen")
        assert D(seen[2]) == high - 20  # ratcheted (and journaled) before the cancel went out
        # the driver printed after its cancel was answered: the exchange has queued it
        status = sim.exchange.get_order("default", first["order_id"])["status"]
        assert status == "CANCEL_QUEUED"
    finally:
        proc.kill()  # SIGKILL: no cleanup, no flush
        await proc.wait()
    assert proc.returncode == -9
    sim.exchange.advance(sim.now() + 5)  # the cancel completes while the bot is down
    assert open_at_sim(sim.exchange) == []

    # the restart: what `botkit run` does before on_start, on the same files
    clock = SystemClock()
    client = RestClient(
        sim.rest_url,
        JwtSigner(sim.add_key("ES256"), clock=clock, nonce=secrets.token_hex),
        clock=clock,
        policy=RetryPolicy().scaled(0.001),
        rng=random.Random(3),
        limiter=RateLimiter(float("inf"), float("inf")),
        read_timeout=2.0,
    )
    executor = OrderExecutor(client, OrderJournal(tmp_path / "journal.sqlite"))
    try:
        await executor.start()
        recon = await executor.reconcile([PRODUCT])
        manual = ManualClock(1_800_000_000.0)
        ctx = BotContext(
            "exits", ExecutorSink(executor), MarketState(), clock=manual, guard_clock=manual,
            monotonic=manual.time, exit_state=JsonState(tmp_path / "exits.json"),
            product_limits=limits_from_rules([sim.exchange.product_wire(PRODUCT)]),
        )  # fmt: skip
        strategy = create_strategy(Recorder, ctx, {})
        assert isinstance(strategy, Recorder)
        for update in startup_updates(executor.startup, recon):
            ctx.adopt(
                update.client_order_id, product_id=update.product_id, side=update.side,
                known=update,
            )  # fmt: skip
        await ctx.start()
        resumed = {r.exit_id: r for r in ctx.open_exits()}
        assert set(resumed) == {trail_id, bracket_id}
        assert not resumed[bracket_id].native and PRODUCT in ctx.exits.watch
        (stop,) = open_at_sim(sim.exchange)  # the ratcheted stop, placed at start-up
        conf = stop["order_configuration"]["stop_limit_stop_limit_gtc"]
        assert (
            D(conf["stop_price"]) == high - 20
            and stop["client_order_id"] != first["client_order_id"]
        )
        # the market falls through both
        bid(sim.exchange, last - 30, D("0.05"))
        low = sell_down_to(sim.exchange, last - 15)
        await ctx.dispatch(trade_print(low))
        await UserChannel(sim.exchange).sync(ctx)
        done = {e.exit_id for e in strategy.exits if isinstance(e, ExitFilled) and e.remaining == 0}
        assert done == {trail_id, bracket_id}
        assert ctx.open_exits() == [] and open_at_sim(sim.exchange) == []
        assert JsonState(tmp_path / "exits.json").get("exits") == {}
    finally:
        await executor.close()
        await client.close()
