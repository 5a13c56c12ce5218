"""One running bot per data directory: a second one refuses to start, touching nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from botkit.errors import ConfigError
from botkit.runtime.bot import BotRuntime, RunOptions
from botkit.runtime.bot_config import data_root, parse_bot_config
from botkit.runtime.data_lock import DataDirLock
from botkit.runtime.settings import load_settings

IDLE = Path(__file__).resolve().parents[1] / "backtest" / "candle_strategies.py"


def test_the_lock_is_held_until_released(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path / "sim")
    with pytest.raises(ConfigError) as info:
        DataDirLock(tmp_path / "sim")  # another open file description: as another process
    assert f"pid {os.getpid()}" in str(info.value) and str(tmp_path / "sim") in str(info.value)
    assert "--data-dir" in str(info.value)
    DataDirLock(tmp_path / "live").release()  # another mode's directory is free
    first.release()
    first.release()  # idempotent
    DataDirLock(tmp_path / "sim").release()  # free again


async def test_a_second_bot_on_a_data_directory_refuses_before_touching_it(
    tmp_path: Path,
) -> None:
    root = data_root(tmp_path, "sim")
    running = DataDirLock(root)  # the bot already running there
    journal = root / "journal.sqlite"
    journal.write_bytes(b"the running bot's journal")  # sim mode deletes it at its start
    config = {"bot": {"sim_seed": 5}, "strategy": {"name": f"{IDLE}:Idle"}}
    options = RunOptions(duration=5.0, data_dir=tmp_path, install_signals=False)
    runtime = BotRuntime(parse_bot_config(config), load_settings(env_file=None), options)
    try:
        with pytest.raises(ConfigError, match="in use by another running bot"):
            await runtime.run()
        assert journal.read_bytes() == b"the running bot's journal"
    finally:
        running.release()
