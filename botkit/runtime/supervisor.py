"""Adapter ring: the supervisor every long-lived task of a bot runs under.

A bot left alone for weeks must never be *half alive*: a feed connection whose task
died while the strategy goes on quoting against a frozen book is worse than a bot
that stopped. So every long-lived task (each feed connection, the strategy driver,
the health reporter, the status line, later the HTTP server) is started with
:meth:`Supervisor.spawn`, and an unexpected exception in it is

1. logged at ERROR with the component's name and the traceback, and counted;
2. followed by a restart of that component alone, after a growing delay
   (:class:`~botkit.runtime.restart.RestartPolicy`);
3. or, when the component cannot be restarted (it crashed too often within the
   window, it was spawned with ``restart=False``, or the error is one a restart
   cannot cure: :class:`~botkit.errors.JournalError`, :class:`~botkit.errors.ConfigError`),
   reported once through ``on_fatal`` as a :class:`~botkit.errors.ComponentFailed`
   (or the error itself): the runtime then stops the whole bot gracefully and
   ``botkit run`` exits 1.

Why not an :class:`asyncio.TaskGroup`: a task group's answer to any child's error is
to cancel every sibling, which is exactly the "one crash kills everything abruptly"
this module exists to replace with restart-or-stop-cleanly. Tasks are kept in a set
and :meth:`close` cancels and awaits them within a bound, logging any that refuse.

A component that *returns* while the supervisor is running is finished, unless it was
spawned ``forever=True`` (the default): then returning is as much a failure as
raising, since nothing does its job any more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from botkit.errors import BotkitError, ComponentFailed, ConfigError, JournalError
from botkit.runtime.restart import CrashHistory, RestartPolicy

__all__ = ["ComponentStatus", "RestartPolicy", "Supervisor"]

log = logging.getLogger("botkit.runtime.supervisor")

ComponentState = Literal["running", "restarting", "stopped", "failed"]


@dataclass(slots=True)
class ComponentStatus:
    """What the supervisor knows of one component (read by the health model).

    Attributes:
        name: the name it was spawned with.
        state: ``running``, ``restarting`` (waiting out its backoff), ``stopped``
            (returned or cancelled) or ``failed`` (could not be restarted).
        crashes: unexpected exceptions so far.
        restarts: restarts so far.
        last_error: ``Type: message`` of the last crash (at most 200 characters).
    """

    name: str
    state: ComponentState = "running"
    crashes: int = 0
    restarts: int = 0
    last_error: str | None = None


class Supervisor:
    """Runs components, restarts them on unexpected exceptions, or reports a fatal failure.

    Args:
        on_fatal: called once, with the error, when a component cannot be restarted;
            the owner stops the bot (it is not called again for later failures).
        policy: the restart budget and backoff.
        monotonic: the clock crash windows are measured on.
    """

    FATAL: tuple[type[BaseException], ...] = (JournalError, ConfigError)
    """Errors a restart cannot cure: reported at once, never retried."""

    def __init__(
        self,
        on_fatal: Callable[[BotkitError], None],
        *,
        policy: RestartPolicy | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_fatal = on_fatal
        self.policy = policy or RestartPolicy()
        self._monotonic = monotonic
        self.components: dict[str, ComponentStatus] = {}
        self.fatal: BotkitError | None = None
        self._tasks: dict[asyncio.Task[None], str] = {}
        self._closing = False

    # -- spawning --------------------------------------------------------------------------

    def spawn(
        self,
        name: str,
        factory: Callable[[], Awaitable[None]],
        *,
        restart: bool = True,
        forever: bool = True,
    ) -> None:
        """Run ``factory()`` as the component ``name``, supervised.

        Args:
            name: unique among running components (used in logs and health reasons).
            factory: makes a fresh coroutine for each (re)start.
            restart: restart after an unexpected exception (within the policy).
            forever: the component is not supposed to return; if it does while the
                supervisor runs, that is treated like a crash.
        """
        if self._closing:
            raise RuntimeError(f"supervisor is closing: cannot start {name}")
        self.components[name] = ComponentStatus(name)
        task = asyncio.create_task(self._supervise(name, factory, restart, forever), name=name)
        self._tasks[task] = name
        task.add_done_callback(self._tasks.pop)

    async def _supervise(
        self, name: str, factory: Callable[[], Awaitable[None]], restart: bool, forever: bool
    ) -> None:
        status = self.components[name]
        history = CrashHistory(self.policy)
        while True:
            status.state = "running"
            try:
                await factory()
            except asyncio.CancelledError:
                status.state = "stopped"
                raise
            except self.FATAL as exc:
                assert isinstance(exc, BotkitError)
                self._crash(status, exc)
                self._fail(status, exc)
                return
            except Exception as exc:
                self._crash(status, exc)
                error: Exception = exc
            else:
                if not forever or self._closing:
                    status.state = "stopped"
                    return
                error = RuntimeError(f"component {name} returned while it should run")
                self._crash(status, error)
            delay = history.crashed(self._monotonic()) if restart else None
            if delay is None:
                why = (
                    f"it crashed {history.recent} times within {self.policy.window:g} s"
                    if restart
                    else "it is not restartable"
                )
                self._fail(
                    status,
                    ComponentFailed(
                        f"{name} failed and was not restarted ({why}); last error: "
                        f"{status.last_error}. The bot stops; the log has the tracebacks. "
                        "Fix: if the error names your strategy or config, correct it; "
                        "otherwise report it with the log.",
                        component=name,
                    ),
                )
                return
            status.state = "restarting"
            status.restarts += 1
            log.warning("%s restarts in %.2f s (restart %d)", name, delay, status.restarts)
            await asyncio.sleep(delay)

    def _crash(self, status: ComponentStatus, exc: BaseException) -> None:
        status.crashes += 1
        status.last_error = f"{type(exc).__name__}: {exc}"[:200]
        log.error(
            "component %s crashed (%d so far): %s",
            status.name,
            status.crashes,
            status.last_error,
            exc_info=exc,
        )

    def _fail(self, status: ComponentStatus, error: BotkitError) -> None:
        status.state = "failed"
        if self.fatal is not None:
            return
        self.fatal = error
        log.error("stopping the bot: %s", error)
        self.on_fatal(error)

    # -- stopping --------------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        """True once :meth:`close` began: components returning now are not failures."""
        return self._closing

    async def close(self, within: float = 5.0) -> list[str]:
        """Cancel every component and wait for them, at most ``within`` seconds.

        Returns:
            the names of components that had not finished by then (also logged).
        """
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if not tasks:
            return []
        done, pending = await asyncio.wait(tasks, timeout=within)
        stuck = sorted(self._tasks.get(t, t.get_name()) for t in pending)
        if stuck:
            log.error("shutdown: component(s) %s did not stop within %.1f s", stuck, within)
        return stuck
