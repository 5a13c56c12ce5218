"""What a bot run takes and gives back, and how to run one on an event loop.

One responsibility: the contract of a run (:class:`RunOptions` in, :class:`RunResult` out,
:func:`run_blocking` for a caller without a loop). It is what an embedding application,
the CLI, tests and benchmarks read; :mod:`botkit.runtime.bot` is how a run is wired, which
none of them needs to read to configure one (it re-exports these names for convenience).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botkit.auth.clock import SystemClock
from botkit.errors import BotkitError, ConfigError
from botkit.monitor.systemd import SdNotifier
from botkit.runtime.health import Health
from botkit.runtime.restart import RestartPolicy
from botkit.runtime.ui import RunStats, StatusHandler

if TYPE_CHECKING:  # types only: a live bot never loads the simulator (see test_startup_imports)
    from botkit.runtime.venue import Endpoints
    from botkit.sim.server import SimServer
    from botkit.sim.ws import WsConfig

__all__ = ["LOOPS", "RunOptions", "RunResult", "loop_factory", "run_blocking"]


@dataclass
class RunOptions:
    """How to run, beyond the config file (CLI flags, tests, embedding).

    Attributes:
        mode: overrides ``[bot].mode``.
        duration: stop after this many seconds (None: until SIGINT/SIGTERM).
        cancel_on_exit: cancel the strategy's open orders at shutdown (not its exits':
            they protect positions while the bot is down).
        data_dir: overrides ``[bot].data_dir``.
        strategies_dir: where shipped strategies are looked up by name.
        status: the TTY status-line handler (None: no status line).
        install_signals: handle SIGINT/SIGTERM (off when embedded in another app).
        sim_tick_interval: how often the embedded simulator's market moves.
        sim_ws: the embedded simulator's WebSocket timings (e.g. faster candles in tests).
        on_venue: called once the venue is open, before anything connects (e.g. to arm a
            simulator fault in a benchmark, or spawn an embedder's own task under
            ``runtime.supervisor``).
        systemd: the service manager's notifier (``botkit run`` passes one made from
            ``NOTIFY_SOCKET``): READY=1 once trading, STATUS, WATCHDOG=1 while the health
            verdict is not ``down``, STOPPING=1 at shutdown (docs/deploy.md).
        http: ``HOST:PORT`` of the HTTP server (overrides ``BOTKIT_HTTP__LISTEN`` and
            ``[http] listen``).
        on_health: called with each health verdict (every second, after ``health.json``
            was written), e.g. to forward it to an embedder's own monitoring.
        restart_policy: how often a crashed component is restarted before the bot stops.
        clock: the wall clock (exchange-corrected) for signing, risk days and the paper
            broker; a fresh :class:`~botkit.auth.clock.SystemClock` when None.
    """

    mode: str | None = None
    duration: float | None = None
    cancel_on_exit: bool = False
    data_dir: Path | None = None
    strategies_dir: Path | None = None
    status: StatusHandler | None = None
    install_signals: bool = True
    sim_tick_interval: float = 0.1
    sim_ws: WsConfig | None = None
    on_venue: Callable[[Endpoints], None] | None = None
    http: str | None = None
    systemd: SdNotifier | None = None
    on_health: Callable[[Health], None] | None = None
    restart_policy: RestartPolicy | None = None
    clock: SystemClock | None = None


@dataclass
class RunResult:
    """What a finished run leaves behind (the summary's numbers, and the sim for tests)."""

    stats: RunStats
    elapsed: float
    client_order_ids: list[str] = field(default_factory=list)
    sim: SimServer | None = None
    journal_path: Path | None = None
    error: BotkitError | None = None
    """Why the run stopped early: a journal could not be written, a component could not be
    restarted, no market data at start (the CLI exits 1)."""


LOOPS = ("asyncio", "uvloop")
"""The event loops a bot can run on (``[bot] loop``)."""


def loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The ``asyncio.Runner`` loop factory of ``loop`` (None: asyncio's own loop).

    uvloop is opt-in, never picked because it happens to be installed: it is measured
    against asyncio's loop in bench/bench_runtime.py and kept only where it helps.

    Raises:
        ConfigError: an unknown loop, or ``uvloop`` without uvloop installed.
    """
    if loop == "asyncio":
        return None
    if loop != "uvloop":
        raise ConfigError(f"unknown event loop {loop!r}; use one of {', '.join(LOOPS)}")
    try:  # optional, not a dependency (imported by name, so no stubs needed)
        module = importlib.import_module("uvloop")
    except ImportError:
        raise ConfigError(
            '[bot] loop = "uvloop" but uvloop is not installed: '
            "pip install 'botkit[uvloop]', or use the default loop = \"asyncio\""
        ) from None
    factory: Callable[[], asyncio.AbstractEventLoop] = module.new_event_loop
    return factory


def run_blocking(
    main: Callable[[], Coroutine[Any, Any, RunResult]], *, loop: str | None = None
) -> RunResult:
    """Run ``main()`` to completion on a new event loop.

    ``loop`` names it (:data:`LOOPS`); when None it is ``[bot] loop`` of the runtime whose
    ``run`` is ``main`` (``run_blocking(runtime.run)``), else asyncio's.

    Raises:
        ConfigError: the loop cannot be made (see :func:`loop_factory`).
    """
    if loop is None:  # the runtime's [bot] loop (read by name: bot.py imports this module)
        config = getattr(getattr(main, "__self__", None), "config", None)
        loop = str(getattr(getattr(config, "bot", None), "loop", "asyncio"))
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(main())
