"""The bot under its supervisor: a crashing component restarts, or the bot stops cleanly.

Components are injected through the runtime's public seams (``runtime.supervisor`` for an
embedder's own task, ``RunOptions.status`` for the status line), never by patching.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

from botkit.cli.doctor import running_bot_checks
from botkit.errors import ComponentFailed
from botkit.runtime.bot import BotRuntime, RunOptions
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.health import Health
from botkit.runtime.restart import RestartPolicy
from botkit.runtime.settings import load_settings
from botkit.runtime.ui import StatusHandler
from botkit.sim.ws import WsConfig

FAST = RestartPolicy(max_restarts=2, window=60.0, backoff_initial=0.01, backoff_max=0.05)


def _runtime(tmp_path: Path, **kw: Any) -> BotRuntime:
    config = parse_bot_config({"bot": {"sim_seed": 3}, "strategy": {"name": "market_maker"}})
    options = RunOptions(
        data_dir=tmp_path,
        install_signals=False,
        sim_tick_interval=0.05,
        sim_ws=WsConfig(heartbeat_interval=0.2),
        restart_policy=FAST,
        **kw,
    )
    return BotRuntime(config, load_settings(env_file=None), options)


async def test_a_component_that_keeps_crashing_stops_the_bot_with_exit_error(
    tmp_path: Path,
) -> None:
    runs = 0

    async def broken() -> None:
        nonlocal runs
        runs += 1
        raise RuntimeError("embedded task bug")

    # an hour's --duration: returning inside the test's 30 s bound at all means the bot
    # stopped at once on the failure (no wall-clock assertion, so no machine is too slow)
    rt = _runtime(tmp_path, duration=3600.0)
    rt.options.on_venue = lambda ep: rt.supervisor.spawn("embedded", broken)
    async with asyncio.timeout(30):
        result = await rt.run()
    assert isinstance(result.error, ComponentFailed) and result.error.component == "embedded"
    assert runs == FAST.max_restarts + 1
    health = json.loads((tmp_path / "sim" / "health.json").read_text())
    assert health["verdict"] == "down" and not health["running"]
    assert "embedded task bug" in health["error"]
    assert health["components"]["embedded"]["state"] == "failed"


async def test_a_crash_within_budget_restarts_and_the_run_goes_on(tmp_path: Path) -> None:
    class FlakyStatus(StatusHandler):
        shows = 0

        def show(self, text: str) -> None:
            FlakyStatus.shows += 1
            if FlakyStatus.shows <= 2:
                raise OSError("terminal went away")
            super().show(text)
            if FlakyStatus.shows == 3:
                rt.request_stop()

    rt = _runtime(tmp_path, duration=30.0, status=FlakyStatus(io.StringIO()))
    async with asyncio.timeout(30):
        result = await rt.run()
    assert result.error is None
    status = rt.supervisor.components["status"]
    assert status.crashes == 2 and status.restarts == 2
    assert "terminal went away" in (status.last_error or "")


async def test_health_is_ready_while_trading_and_doctor_reads_it(tmp_path: Path) -> None:
    seen: list[str] = []

    ready = asyncio.Event()

    async def probe() -> None:
        await ready.wait()  # set once health.json said "ready"
        checks = running_bot_checks(tmp_path, now=time.time())
        seen.extend(f"{c.name}:{c.ok}" for c in checks)
        rt.request_stop()

    def on_health(health: Health) -> None:
        if health.ready:
            ready.set()

    rt = _runtime(tmp_path, duration=30.0, on_health=on_health)
    rt.options.on_venue = lambda ep: rt.supervisor.spawn("probe", probe, forever=False)
    async with asyncio.timeout(30):
        result = await rt.run()
    assert result.error is None
    assert seen[:2] == ["running bot:True", "market data BTC-USD:True"]
    stopped = running_bot_checks(tmp_path, now=time.time())
    assert not stopped[0].ok and "not running" in stopped[0].detail


async def test_the_health_component_restarts_after_its_callback_raises(tmp_path: Path) -> None:
    calls = 0

    def on_health(health: object) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise ValueError("monitoring hook bug")
        rt.request_stop()

    rt = _runtime(tmp_path, duration=30.0, on_health=on_health)
    async with asyncio.timeout(30):
        result = await rt.run()
    assert result.error is None
    health = rt.supervisor.components["health"]
    assert (health.crashes, health.restarts) == (2, 2) and calls == 3
