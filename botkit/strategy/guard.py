"""The guard: calls strategy hooks so that a broken or slow strategy cannot take the bot down.

User code fails. Freqtrade's answer (``strategy_safe_wrapper``) is the right one: catch,
log with context, keep going. botkit adds two things:

* **a circuit breaker**: after ``max_errors`` exceptions within ``window_seconds`` the
  strategy is *halted* — no more hooks, and ``on_halt`` (the context cancels the
  strategy's open orders) runs once. A strategy raising on every tick is broken, and
  leaving its quotes in the book while it is broken is how money is lost;
* **a stopwatch**: every hook is timed with an injected clock; one slower than
  ``slow_hook_seconds`` is logged with its duration, so a strategy that starves the event
  loop is named rather than guessed at. Async hooks have a hard ``hook_timeout`` (60 s
  unless set; a timeout counts as an error): events are dispatched one at a time, so a
  hook that never returns froze every later event — the emulated exits' triggers with
  them — while the bot looked healthy. A sync hook cannot be interrupted, only reported;
  a hook still running is visible to the health model (:meth:`HookGuard.running`).

``asyncio.CancelledError`` (shutdown) and other ``BaseException``s are never swallowed.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from botkit.clock import Clock
from botkit.errors import JournalError, StrategyError

__all__ = ["GuardConfig", "HookGuard", "MonotonicClock"]

log = logging.getLogger("botkit.strategy.guard")


class GuardConfig(BaseModel):
    """Guard settings (the ``[guard]`` table of the bot's TOML).

    Attributes:
        max_errors: exceptions tolerated within the window before the strategy is halted.
        window_seconds: the sliding window for ``max_errors``.
        slow_hook_seconds: a hook running longer than this is logged as slow.
        hook_timeout: hard limit for async hooks but ``on_start``/``on_stop`` (they run
            once: loading a model may take minutes), seconds (None: none); a timeout is an
            error. 60 s by default: above an order's whole retry budget in most outages,
            and a bound on how long a stuck hook can hold every other event back.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_errors: int = Field(default=5, ge=1)
    window_seconds: float = Field(default=300.0, gt=0)
    slow_hook_seconds: float = Field(default=0.05, gt=0)
    hook_timeout: float | None = Field(default=60.0, gt=0)


class MonotonicClock:
    """``time.monotonic()``: durations must not jump when the wall clock is corrected."""

    def time(self) -> float:
        return time.monotonic()


@dataclass(frozen=True, slots=True)
class HookError:
    """One failed hook call, kept for status displays and tests."""

    event: str
    at: float
    error: StrategyError


class HookGuard:
    """Calls one strategy's hooks safely.

    Args:
        strategy: the strategy's name (for logs).
        config: thresholds.
        clock: duration and window clock (monotonic in production, manual in tests).
        on_halt: awaited once when the strategy is halted (cancel its orders).
        keep_records: how many of the latest failures (:attr:`errors`) and slow calls
            (:attr:`slow`) are kept: a bot that runs for weeks with a hook just over
            ``slow_hook_seconds`` (a market maker awaiting its orders in ``on_timer``)
            must not keep one record per call; the counts and the log keep the rest.
    """

    def __init__(
        self,
        strategy: str,
        config: GuardConfig | None = None,
        *,
        clock: Clock | None = None,
        on_halt: Callable[[], Awaitable[None]] | None = None,
        keep_records: int = 100,
    ) -> None:
        if keep_records < 1:
            raise ValueError(f"keep_records must be >= 1, got {keep_records}")
        self.strategy = strategy
        self.config = config or GuardConfig()
        self._clock: Clock = clock or MonotonicClock()
        self._on_halt = on_halt
        self._recent: deque[float] = deque()
        self.errors: deque[HookError] = deque(maxlen=keep_records)
        """The latest failed calls (each holds its exception and traceback), oldest first."""
        self.slow: deque[tuple[str, float]] = deque(maxlen=keep_records)
        """The latest slow calls, (event, seconds), oldest first."""
        self.error_count = 0
        """Every failed call since start (``errors`` keeps only the latest)."""
        self.slow_count = 0
        """Every slow call since start (``slow`` keeps only the latest)."""
        self.halted = False
        self.halt_reason = ""
        self._running: tuple[str, float] | None = None
        """The hook being awaited (event, start on the guard's clock), None between."""
        # the hook timeout's state (see _check_deadline): the task awaiting a hook and its
        # deadline (the loop's clock), one timer for them all, the task a timeout cancelled
        self._waiter: asyncio.Task[Any] | None = None
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._expired: asyncio.Task[Any] | None = None

    def running(self) -> tuple[str, float] | None:
        """The hook the strategy is in (its event) and for how many seconds, or None."""
        run = self._running
        return None if run is None else (run[0], self._clock.time() - run[1])

    async def call(self, event: str, hook: Callable[..., Any], *args: Any) -> bool:
        """Call ``hook(*args)`` (sync or async); return True if it completed without error.

        A halted guard calls nothing and returns False.
        """
        if self.halted:
            return False
        now = self._clock.time
        start = now()
        mine = self._running is None
        if mine:
            self._running = (event, start)
        try:
            result = hook(*args)
            if result is not None and inspect.isawaitable(result):
                # on_start may load data for minutes; on_stop is bounded by the shutdown
                timeout = None if event in _LIFECYCLE else self.config.hook_timeout
                if timeout is None or not mine:
                    await result
                else:  # the hook timeout, inline (hot path): see _check_deadline
                    loop = _running_loop()
                    task = _current_task()
                    self._waiter, self._deadline = task, loop.time() + timeout
                    if self._timer is None:
                        self._timer = loop.call_at(self._deadline, self._check_deadline)
                    try:
                        await result
                    except asyncio.CancelledError:
                        if task is None or self._expired is not task:
                            raise
                        self._expired = None
                        if task.uncancel() > 0:
                            raise  # cancelled by someone else too (a shutdown): that one wins
                        raise _timed_out(event, timeout) from None
                    finally:
                        self._waiter = None
                        if self._expired is task:  # the hook swallowed the cancel
                            self._expired = None
            return True
        except JournalError:  # not the strategy's fault: reported by the journal, and the
            return False  # runtime is stopping (not counted towards max_errors)
        except Exception as exc:  # the guard's whole job: user code must not kill the bot
            await self._failed(event, exc)
            return False
        finally:
            if mine:
                self._running = None
            elapsed = now() - start
            if elapsed > self.config.slow_hook_seconds:
                self._timed(event, elapsed)

    def _check_deadline(self) -> None:
        """The hook timeout's timer: cancel the hook past its deadline, or wait for the
        one running; none running: disarmed until the next hook arms it.

        Why not ``asyncio.timeout`` per call: it schedules and cancels a timer each time,
        ~8 µs of the tick-to-order path on a cold cache (docs/benchmarks.md). One timer
        serves every call here; a hook's own ``TimeoutError`` passes as it is.
        """
        self._timer = None
        task = self._waiter
        if task is None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() >= self._deadline:
            self._expired = task
            task.cancel()
        else:
            self._timer = loop.call_at(self._deadline, self._check_deadline)

    def call_plain(
        self, event: str, hook: Callable[..., Any], *args: Any
    ) -> Coroutine[Any, Any, bool] | None:
        """:meth:`call` for a hook expected to be a plain function, without a coroutine of
        its own when it completes (the candle backtest calls one per candle).

        Returns None when the hook completed (or the guard is halted, or the journal
        failed: :meth:`call`'s rules); otherwise a coroutine that finishes the guard's work
        — the error to count and perhaps halt on, or the awaitable the hook returned, to
        await with the hook timeout. The caller awaits it.
        """
        if self.halted:
            return None
        now = self._clock.time
        start = now()
        try:
            result = hook(*args)
        except JournalError:
            return None
        except Exception as exc:
            return self._failed_call(event, exc)
        finally:
            elapsed = now() - start
            if elapsed > self.config.slow_hook_seconds:
                self._timed(event, elapsed)
        if result is not None and inspect.isawaitable(result):
            return self.call(event, _returned, result)
        return None

    async def _failed_call(self, event: str, exc: Exception) -> bool:
        await self._failed(event, exc)
        return False

    def _timed(self, event: str, elapsed: float) -> None:
        if elapsed > self.config.slow_hook_seconds:  # (checked by the caller too: hot path)
            self.slow.append((event, elapsed))
            self.slow_count += 1
            log.warning(
                "strategy %s: hook %s took %.1f ms (> %.1f ms); it delays every other event",
                self.strategy,
                event,
                elapsed * 1000,
                self.config.slow_hook_seconds * 1000,
            )

    async def _failed(self, event: str, exc: Exception) -> None:
        now = self._clock.time()
        error = StrategyError(f"strategy {self.strategy}: {event} raised {exc!r}")
        error.__cause__ = exc
        self.errors.append(HookError(event, now, error))
        self.error_count += 1
        log.error(
            "strategy %s: hook %s raised %s: %s",
            self.strategy,
            event,
            type(exc).__name__,
            exc,
            exc_info=exc,
            extra={"strategy": self.strategy, "event": event},
        )
        recent = self._recent
        recent.append(now)
        while recent and recent[0] <= now - self.config.window_seconds:
            recent.popleft()
        if len(recent) >= self.config.max_errors:
            await self.halt(
                f"{len(recent)} errors within {self.config.window_seconds:g} s "
                f"(max_errors={self.config.max_errors})"
            )

    async def halt(self, reason: str) -> None:
        """Stop calling hooks and run ``on_halt`` (once)."""
        if self.halted:
            return
        self.halted = True
        self.halt_reason = reason
        log.critical("strategy %s HALTED: %s; cancelling its orders", self.strategy, reason)
        if self._on_halt is not None:
            await self._on_halt()


_running_loop = asyncio.get_running_loop
_current_task = asyncio.current_task
_LIFECYCLE = frozenset({"on_start", "on_stop"})
"""Hooks the hook timeout does not apply to (they run once)."""


def _timed_out(event: str, seconds: float) -> TimeoutError:
    return TimeoutError(
        f"{event} did not finish within {seconds:g} s ([guard] hook_timeout) and was "
        "cancelled: events are dispatched one at a time, so every other event, the emulated "
        "exits' triggers too, waited for it"
    )


def _returned(awaitable: Any) -> Any:
    """What a plain-called hook returned, handed to :meth:`HookGuard.call` to await."""
    return awaitable
