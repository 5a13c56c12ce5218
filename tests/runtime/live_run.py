"""A real ``BotRuntime`` in live mode against a simulator, run until a condition holds.

Shared by the runtime tests that restart or steer a live bot (the strategy and the
simulator are theirs); ``done`` is asked at each health report once the strategy exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botkit.runtime.api import RunOptions
from botkit.runtime.bot import BotRuntime
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.health import Health
from botkit.runtime.settings import load_settings

__all__ = ["run_live"]


async def run_live(
    config: dict[str, Any],
    env: Path,
    data: Path,
    done: Callable[[BotRuntime], bool],
    *,
    duration: float = 30.0,
) -> BotRuntime:
    """Run until ``done(runtime)`` (or ``duration``); the run must end without an error."""

    def on_health(_: Health) -> None:
        if runtime.ctx is not None and runtime.ctx.strategy is not None and done(runtime):
            runtime.request_stop()

    options = RunOptions(
        mode="live", duration=duration, data_dir=data, install_signals=False,
        on_health=on_health,
    )  # fmt: skip
    runtime = BotRuntime(parse_bot_config(config), load_settings(env_file=env), options)
    async with asyncio.timeout(duration + 10):
        result = await runtime.run()
    assert result.error is None, result.error
    return runtime
