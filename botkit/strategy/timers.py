"""Core ring: named strategy timers, driven by whatever clock the caller has.

A strategy asks for "call me every 5 s" without owning a task or reading the time:
the runtime asks :meth:`Timers.due` with the current time and fires the hooks. That
keeps timers deterministic under a manual clock (tests, replay) and makes a strategy
unable to spawn loops of its own.

The caller must use one clock that only moves forward at the rate of real time (a
monotonic clock live, the recording's virtual clock in a backtest), never the corrected
wall clock: a correction that moved it back by minutes would leave every timer minutes
in the future (issue 20).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TimerFired", "Timers"]


@dataclass(frozen=True, slots=True)
class TimerFired:
    """Passed to ``on_timer``: which timer fired and when.

    ``at`` is the strategy's wall time (``ctx.now()``) at the firing, not the timer clock.
    """

    name: str
    at: float


@dataclass(slots=True)
class _Timer:
    next_at: float
    interval: float
    repeat: bool


class Timers:
    """A set of named one-shot or repeating timers."""

    def __init__(self) -> None:
        self._timers: dict[str, _Timer] = {}

    def set(self, name: str, interval: float, *, now: float, repeat: bool = True) -> None:
        """(Re)schedule ``name`` to fire ``interval`` seconds after ``now``.

        Raises:
            ValueError: a non-positive interval (it would fire in a busy loop).
        """
        if interval <= 0:
            raise ValueError(f"timer {name!r}: interval must be > 0 seconds, got {interval}")
        self._timers[name] = _Timer(now + interval, interval, repeat)

    def cancel(self, name: str) -> bool:
        return self._timers.pop(name, None) is not None

    def names(self) -> list[str]:
        return sorted(self._timers)

    def __bool__(self) -> bool:
        """Whether any timer is scheduled (lets a driver skip :meth:`due` cheaply)."""
        return bool(self._timers)

    def due(self, now: float) -> list[TimerFired]:
        """Timers due at ``now``, in firing order; repeating ones are rescheduled.

        A repeating timer that fell several intervals behind fires **once** and is
        rescheduled from ``now``: catching up in a burst would hammer a strategy that
        was slow in the first place.

        The :class:`TimerFired` values carry ``now`` (the timer clock); a driver whose
        strategy reads another clock restamps them (see ``StrategyDriver.fire_timers``).
        """
        fired = sorted(
            ((t.next_at, name) for name, t in self._timers.items() if t.next_at <= now),
        )
        for _, name in fired:
            timer = self._timers[name]
            if timer.repeat:
                timer.next_at += timer.interval
                if timer.next_at <= now:
                    timer.next_at = now + timer.interval
            else:
                del self._timers[name]
        return [TimerFired(name, now) for _, name in fired]
