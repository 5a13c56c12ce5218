"""``botkit run`` holding a trailing stop is SIGKILLed, the market moves while it is down,
and a restart on the same data directory resumes the stop where the journal left it.

The exchange is a simulator in this process (so the test can trade against the bot as
another user); the bot is a real ``botkit run --live`` process pointed at it through the
usual ``BOTKIT_COINBASE__*`` settings, running a test strategy that buys once and arms a
trailing stop. After the kill: the native stop still rests at the exchange (it protected
the position while nobody ran); after the restart the bot says it resumed the exit, trails
it up on the new prices (cancel, then the new stop), and the stop sells when the market
falls through it. Exactly one stop is working at any time, and the journaled exit state
ends empty.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from botkit.sim.server import SimServer
from botkit.strategy.state import JsonState
from tests.strategy.exit_helpers import bid, buy_up_to, quiet_market, sell_down_to

D = Decimal
ROOT = Path(__file__).resolve().parents[2]
BOT = """
[bot]
mode = "live"
products = ["BTC-USD"]

[risk]
max_order_notional = "5000"

[strategy]
name = "tests.strategy.exit_fixture:ExitOnce"

[strategy.params]
"""
"""A live bot running the exit fixture; each test adds its ``[strategy.params]``."""
CONFIG = BOT + 'kind = "trailing"\ndistance = "20"\n'


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=5, market=quiet_market(), tick_interval=0.05) as server:
        server.exchange.add_user("b")
        yield server


def _env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
    return {**keep, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


class Bot:
    """One ``botkit run`` process and its log lines, read as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.log: list[str] = []

    @classmethod
    async def start(cls, env_file: Path, config: Path, data: Path) -> Bot:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "botkit", "--env-file", str(env_file), "run",
            "--config", str(config), "--live", "--data-dir", str(data), "--log-level", "INFO",
            cwd=ROOT, env=_env(), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        return cls(proc)

    async def until(self, needle: str, bound: float = 30.0) -> str:
        assert self.proc.stdout is not None
        async with asyncio.timeout(bound):
            while raw := await self.proc.stdout.readline():
                line = raw.decode(errors="replace").rstrip()
                self.log.append(line)
                if needle in line:
                    return line
        raise AssertionError(f"bot exited before {needle!r}:\n" + "\n".join(self.log[-40:]))

    async def stop(self, sig: int) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        assert self.proc.stdout is not None
        async with asyncio.timeout(30):
            while raw := await self.proc.stdout.readline():
                self.log.append(raw.decode(errors="replace").rstrip())
            return await self.proc.wait()


def stops(sim: SimServer) -> list[dict[str, Any]]:
    orders = sim.exchange.list_orders("default", {})
    return [o for o in orders if o["order_type"] == "STOP_LIMIT"]


def stop_price(order: dict[str, Any]) -> Decimal:
    return D(order["order_configuration"]["stop_limit_stop_limit_gtc"]["stop_price"])


def _files(sim: SimServer, tmp_path: Path, toml: str) -> tuple[Path, Path, Path]:
    """The bot's env file (a fresh key of ``sim``), its config and its data directory."""
    env_file = tmp_path / "sim.env"
    env_file.write_text(sim.env_text(sim.add_key("ES256")))
    config = tmp_path / "bot.toml"
    config.write_text(toml)
    return env_file, config, tmp_path / "data"


async def test_kill_9_with_a_trailing_stop_then_restart_resumes_and_trails_it(
    sim: SimServer, tmp_path: Path
) -> None:
    env_file, config, data = _files(sim, tmp_path, CONFIG)

    first = await Bot.start(env_file, config, data)
    try:
        await first.until("armed trailing")
    finally:
        assert await first.stop(signal.SIGKILL) == -9
    (resting,) = stops(sim)  # the stop outlived the bot: it protects the position
    assert resting["status"] == "OPEN"
    start_stop = stop_price(resting)
    (state_file,) = data.rglob("*.exits.json")
    (saved,) = JsonState(state_file).get("exits").values()
    assert saved["kind"] == "trailing" and saved["order_coid"] == resting["client_order_id"]

    # the market rises while the bot is down
    high = buy_up_to(sim.exchange, sim.exchange.last_trade_price("BTC-USD") + 12)
    assert high - 20 > start_stop

    second = await Bot.start(env_file, config, data)
    try:
        await second.until("resumed 1 exit(s)")
        await second.until("placed SELL")  # the trailed stop, after the old one's cancel
        live = [o for o in stops(sim) if o["status"] == "OPEN"]
        assert len(live) == 1 and stop_price(live[0]) == high - 20, live
        others = [o["status"] for o in stops(sim) if o["order_id"] != live[0]["order_id"]]
        assert others == ["CANCELLED"]
        bid(sim.exchange, high - 30, D("0.05"))
        sell_down_to(sim.exchange, high - 20)
        await second.until("exit event filled trailing stop_loss")
    finally:
        assert await second.stop(signal.SIGTERM) == 0, "\n".join(second.log[-40:])
    assert [o["status"] for o in stops(sim)].count("FILLED") == 1
    assert not [o for o in stops(sim) if o["status"] == "OPEN"]
    assert JsonState(state_file).get("exits") == {}


ATTACHED = BOT + 'kind = "entry"\nstop_bps = "5"\ntp_bps = "50"\n'


async def test_an_attached_stop_filled_while_the_bot_was_down_is_counted_at_restart(
    sim: SimServer, tmp_path: Path
) -> None:
    """An entry with Coinbase's attached take-profit/stop-loss: the stop order the venue
    created (no client_order_id) fills while the bot is down. The restart reads its fill
    back under the exit's alias: the position is flat again, as at the exchange
    (docs/strategies.md, "Positions across restarts")."""
    from botkit.orders.ledger import FillLedger

    env_file, config, data = _files(sim, tmp_path, ATTACHED)

    first = await Bot.start(env_file, config, data)
    try:
        await first.until("fill BUY")  # the entry filled (counted, or read back later)
    finally:
        assert await first.stop(signal.SIGKILL) == -9
    ex = sim.exchange
    (exit_order,) = [o for o in ex.list_orders("default", {}) if o.get("originating_order_id")]
    assert exit_order["status"] == "OPEN" and not exit_order["client_order_id"]

    # the market falls through the stop while the bot is down; a bid takes the stop leg
    stop = D(exit_order["order_configuration"]["trigger_bracket_gtc"]["stop_trigger_price"])
    bid(ex, stop - 1, D("0.01"))  # the quiet book is thin: a print through the stop
    sell_down_to(ex, stop)
    bid(ex, (stop * D("0.99")).quantize(D("0.01")), D("0.05"))  # takes the stop leg
    done = ex.get_order("default", exit_order["order_id"])
    assert done["status"] == "FILLED", done

    second = await Bot.start(env_file, config, data)
    try:
        line = await second.until(f"order {exit_order['order_id']} (client_order_id=")
        await second.until("fill SELL")  # the strategy got it: counted before the stop
    finally:
        assert await second.stop(signal.SIGTERM) == 0, "\n".join(second.log[-40:])
    assert "filled SELL" in line and "while the bot was down: counted now" in line
    ledger = FillLedger(data / "fills.sqlite")
    try:
        assert ledger.positions()["BTC-USD"].quantity == 0  # flat, as at the exchange
        mark = ledger.mark(exit_order["order_id"])
        assert mark is not None and mark.terminal
        assert mark.cumulative_quantity == D(done["filled_size"])
    finally:
        ledger.close()
