"""Adapter ring: which OS signals stop the bot, gracefully.

SIGINT (Ctrl-C), SIGTERM (systemd, Docker) and SIGHUP (a closed terminal or SSH session;
it killed the bot at once, exit 129, with no cancel-on-exit and no summary) all ask the
runtime to stop: the strategy stops, orders are settled, journals close, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

__all__ = ["STOP_SIGNALS", "stop_on_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stop_on_signals(request_stop: Callable[[], None], *, install: bool = True) -> Iterator[None]:
    """Within the block, :data:`STOP_SIGNALS` call ``request_stop`` on the running loop
    (nothing when ``install`` is false: an embedder keeps its own handlers)."""
    loop = asyncio.get_running_loop()
    sigs = STOP_SIGNALS if install else ()
    for sig in sigs:
        loop.add_signal_handler(sig, request_stop)
    try:
        yield
    finally:
        for sig in sigs:
            loop.remove_signal_handler(sig)
