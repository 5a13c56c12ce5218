"""``python -m botkit run ...`` as a child process, stopped on an outcome rather than a clock.

A run for a fixed number of real seconds asserts the machine's speed as much as the bot:
startup alone can take seconds on a loaded box. Here the child's JSON log lines (stderr,
not a terminal) are read until ``placed`` orders were logged, then it gets SIGTERM, the
graceful stop an operator's ``systemctl stop`` sends. ``--duration`` given by the caller
only bounds a run that never gets there (which then fails on the missing lines).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class BotRun:
    returncode: int
    stdout: str
    stderr: str
    lines: list[dict[str, Any]]  # every JSON log line, in order


def placed_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in lines if str(d.get("msg", "")).startswith("placed ")]


async def run_until_placed(
    args: list[str],
    cwd: Path,
    *,
    placed: int,
    bound: float = 50.0,
    stop: signal.Signals = signal.SIGTERM,
) -> BotRun:
    """Run ``python -m botkit *args`` until ``placed`` orders are logged, then send it
    ``stop`` (SIGTERM)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    head: list[bytes] = []
    lines: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(bound):
            while len(placed_lines(lines)) < placed:
                raw = await proc.stderr.readline()
                assert raw, f"the bot exited before placing {placed} orders: {head[-20:]}"
                head.append(raw)
                if raw.startswith(b"{"):
                    lines.append(json.loads(raw))
        proc.send_signal(stop)
        async with asyncio.timeout(30):
            stdout, rest = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stderr = b"".join(head).decode() + rest.decode()
    lines += [json.loads(x) for x in rest.decode().splitlines() if x.startswith("{")]
    assert proc.returncode is not None
    return BotRun(proc.returncode, stdout.decode(), stderr, lines)
