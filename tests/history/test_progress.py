"""What ``botkit download`` shows while it works: a bar on a terminal, JSON lines elsewhere."""

from __future__ import annotations

import asyncio
import io
import json
import os
import pty
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from botkit.cli.download import ProgressView, bar_line, parse_time
from botkit.errors import ConfigError
from botkit.sim.server import SimServer

EVENT = {
    "event": "page", "product": "BTC-USD", "granularity": "ONE_MINUTE", "start": 1767225600,
    "end": 1767243600, "rows": 300, "requests": 3, "planned_requests": 12, "candles": 900,
    "seconds": 0.5,
}  # fmt: skip


def test_the_bar_says_how_far_how_fast_and_where() -> None:
    line = bar_line(EVENT, width=12)
    assert line.startswith("[###.........] 3/12 requests  900 candles  1,800/s  BTC-USD")
    assert "ONE_MINUTE 2026-01-01 00:00" in line


def test_off_a_terminal_progress_is_one_json_line_per_event() -> None:
    out = io.StringIO()  # not a TTY
    view = ProgressView("auto", out)
    view(EVENT)
    view.close()
    assert view.mode == "json" and [json.loads(x) for x in out.getvalue().splitlines()] == [EVENT]


def test_times_are_utc_dates_datetimes_or_unix_seconds() -> None:
    assert parse_time("2026-01-01") == 1767225600
    assert parse_time("2026-01-01T00:01") == 1767225660
    assert parse_time("1767225600") == 1767225600
    with pytest.raises(ConfigError, match="2026-01-01"):
        parse_time("yesterday")


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=3, tick_interval=0.05) as server:
        yield server


async def test_on_a_terminal_the_bar_redraws_one_line(sim: SimServer, tmp_path: Path) -> None:
    master, slave = pty.openpty()
    end = int(time.time()) // 60 * 60 - 30 * 3600
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", "download", "--rest-url", sim.rest_url,
        "--source", "sim", "--start", str(end - 897 * 60), "--end", str(end),
        "--data-dir", str(tmp_path), env=env, stdout=asyncio.subprocess.PIPE, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    try:
        async with asyncio.timeout(60):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    drawn = b""
    while True:  # the child has exited: read what it drew, up to the closed pty's EOF
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    assert proc.returncode == 0, out
    text = drawn.decode()
    assert text.count("\r[") == 3 and "3/3 requests" in text and "{" not in text
    assert text.endswith("\n") and b"downloaded 897 candles" in out
