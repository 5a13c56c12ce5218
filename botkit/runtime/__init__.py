"""The runtime: the bot's wiring (``bot``), what a run takes and gives (``api``), the operator's
view (``ui``), event dispatch, config files (``bot_config``, ``settings``), the supervisor and its
restart policy, the health model, the event buffer, logs and venue opening (``venue``).

``from botkit.runtime import BotRuntime`` (and ``RunOptions``, ``RunResult``,
``run_blocking``) still works for one release, with a DeprecationWarning: import them
from ``botkit``.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__: list[str] = []

_MOVED = {"BotRuntime", "RunOptions", "RunResult", "run_blocking"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(
            f"botkit.runtime.{name} moved: import it from botkit (botkit.runtime.bot)",
            DeprecationWarning,
            stacklevel=2,
        )
        from botkit.runtime import bot

        return getattr(bot, name)
    raise AttributeError(name)
