"""Core ring: the clock contract, and a manual clock for tests and replay.

The pure core never reads the time itself; whoever needs "now" receives a
:class:`Clock`. That is what lets the executor correct clock skew (by moving
the clock's offset, not by patching anything), and what makes replay and
tests deterministic.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the current Unix time in seconds."""

    def time(self) -> float:
        """Return the current Unix time in seconds (offset already applied)."""
        ...


class ManualClock:
    """A clock that moves only when told to: for tests, replay and backtests.

    Args:
        start: initial Unix time in seconds.
    """

    def __init__(self, start: float = 1_760_000_000.0) -> None:
        self._now = float(start)

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (negative values are refused)."""
        if seconds < 0:
            raise ValueError("a ManualClock only moves forward")
        self._now += seconds

    def set(self, now: float) -> None:
        """Jump to an absolute time (may go backwards, to model a bad host clock)."""
        self._now = float(now)
