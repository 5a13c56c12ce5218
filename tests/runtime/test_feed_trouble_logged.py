"""Coinbase error frames and lost messages are said in the log, not only counted.

An error frame means a lost View permission, a misspelt channel or a skewed clock on
Coinbase; an operator QA pass armed three and found no log line, metric or health reason
(the runtime dropped the events). A real bot in sim mode, the simulator's fault knobs.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from botkit.runtime.bot import BotRuntime, RunOptions
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.health import Health
from botkit.runtime.settings import load_settings
from botkit.runtime.venue import Endpoints
from botkit.sim.ws import WsConfig


async def test_error_frames_and_sequence_gaps_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_bot_config({"bot": {"sim_seed": 3}, "strategy": {"name": "market_maker"}})

    sims: list[Endpoints] = []

    def arm(ep: Endpoints) -> None:
        assert ep.sim is not None
        sims.append(ep)
        ep.sim.ws_faults.error_next("authentication failure", reason="QA-MARKER")

    def on_health(_: Health) -> None:
        sim = sims[0].sim
        assert sim is not None
        if "QA-MARKER" in caplog.text and len(sims) == 1:  # connected: a gap now
            sims.append(sims[0])
            sim.ws_faults.skip_sequence(3)
        if "lost messages" in caplog.text:
            rt.request_stop()

    options = RunOptions(
        data_dir=tmp_path,
        install_signals=False,
        duration=30.0,
        sim_tick_interval=0.05,
        sim_ws=WsConfig(heartbeat_interval=0.2),
        on_venue=arm,
        on_health=on_health,
    )
    rt = BotRuntime(config, load_settings(env_file=None), options)
    with caplog.at_level(logging.WARNING, logger="botkit.runtime"):
        async with asyncio.timeout(40):
            result = await rt.run()
    assert result.error is None
    (error,) = [r.getMessage() for r in caplog.records if "QA-MARKER" in r.getMessage()]
    assert "Coinbase error frame 'authentication failure: QA-MARKER'" in error and "Fix:" in error
    assert any("lost messages (sequence_num" in r.getMessage() for r in caplog.records)
