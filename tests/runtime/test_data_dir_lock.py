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


def test_a_data_directory_that_cannot_be_written_is_an_error_naming_it(tmp_path: Path) -> None:
    """It was a raw PermissionError traceback (exit 1, no alert; a headless QA pass). Not
    writable (here: a file where the directory should be): ConfigError, exit 2, with the
    fix; a full disk: JournalError, exit 1, so a service manager starts it again once
    space is freed (a full disk at a restart left it down: exit 2 is not restarted)."""
    import errno
    import sqlite3

    from botkit.errors import JournalError
    from botkit.orders.storage_errors import storage_passing
    from botkit.runtime.data_lock import unusable_dir

    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match=r"cannot be written .*write access.*--data-dir"):
        DataDirLock(blocker / "sim")
    full = unusable_dir(tmp_path, OSError(errno.ENOSPC, "No space left on device"))
    assert isinstance(full, JournalError) and "free disk space" in str(full)
    assert storage_passing(sqlite3.OperationalError("database or disk is full"))
    assert storage_passing(OSError(errno.EIO, "I/O error"))
    assert not storage_passing(OSError(errno.EACCES, "Permission denied"))
    assert not storage_passing(sqlite3.OperationalError("no such table: intents"))
    assert not storage_passing(sqlite3.DatabaseError("file is not a database"))


def _killed_holder(root: Path) -> int:
    """A real process that takes the lock of ``root`` and is killed with SIGKILL holding
    it (as the out-of-memory killer does); its pid."""
    import signal
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from botkit.runtime.data_lock import DataDirLock; "
        "DataDirLock(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None and child.stdout.readline() == "held\n"
            child.send_signal(signal.SIGKILL)
            assert child.wait(timeout=20) == -signal.SIGKILL
        finally:
            child.kill()
    return child.pid


def test_a_run_killed_holding_the_lock_is_named_by_the_next_one_and_a_stop_is_not(
    tmp_path: Path,
) -> None:
    """A SIGKILL or an out-of-memory kill left no trace: the next run started as after a
    stop, and nothing alerted (a headless QA pass)."""
    root = tmp_path / "sim"
    pid = _killed_holder(root)
    DataDirLock(root, mark=False).release()  # botkit kill-switch reset: the mark stays
    after_kill = DataDirLock(root)  # the kernel dropped the dead process's flock
    assert after_kill.unclean == pid
    after_kill.release()
    after_stop = DataDirLock(root)
    assert after_stop.unclean is None  # released: a stop, however it ended
    after_stop.release()
    (root / "run.lock").write_text("4242\n")  # an older botkit's file: no false alarm
    older = DataDirLock(root)
    assert older.unclean is None
    older.release()


def test_doctor_tells_a_bot_that_cannot_write_its_health_from_one_that_stopped(
    tmp_path: Path,
) -> None:
    """A running bot whose data directory turned read-only was "not running ... start
    it" for `botkit doctor --bot`, while its /readyz answered (a headless QA pass)."""
    import json
    import time

    from botkit.cli.doctor import running_bot_checks
    from botkit.runtime.data_lock import held

    root = tmp_path / "sim"
    root.mkdir()
    doc = {"time": time.time() - 60, "running": True, "mode": "sim", "verdict": "ready",
           "strategy": "MarketMaker", "pid": 4242}  # fmt: skip
    (root / "health.json").write_text(json.dumps(doc))
    assert not held(root)
    (stopped,) = running_bot_checks(tmp_path, now=time.time())
    assert not stopped.ok and "not running" in stopped.detail
    lock = DataDirLock(root)
    try:
        assert held(root)
        (stuck,) = running_bot_checks(tmp_path, now=time.time())
    finally:
        lock.release()
    assert not stuck.ok and "running (it holds" in stuck.detail
    assert "cannot write its data directory" in stuck.detail and "df -h" in stuck.fix
    assert not held(root)


async def test_a_sim_start_that_cannot_clear_its_journal_says_so(tmp_path: Path) -> None:
    """Sim mode starts from an empty journal; in a directory turned read-only that was a
    raw PermissionError traceback (a headless QA pass). Here the old journal is a
    directory, which cannot be unlinked either."""
    root = data_root(tmp_path, "sim")
    (root / "journal.sqlite").mkdir(parents=True)
    (root / "journal.sqlite" / "x").write_text("x")
    config = {"bot": {"sim_seed": 5}, "strategy": {"name": f"{IDLE}:Idle"}}
    options = RunOptions(duration=5.0, data_dir=tmp_path, install_signals=False)
    runtime = BotRuntime(parse_bot_config(config), load_settings(env_file=None), options)
    with pytest.raises(ConfigError, match=r"data directory .* cannot be written"):
        await runtime.run()
