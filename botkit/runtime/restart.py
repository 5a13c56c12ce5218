"""Core ring: when a crashed component may restart, and after how long (pure; no clock reads).

The supervisor (:mod:`botkit.runtime.supervisor`) asks this after every unexpected exception
of a long-lived component. The rule is the one Erlang/OTP supervisors made standard:
a component may crash a few times (a transient fault: a bad frame that slipped
through, a dropped socket in an odd state) and is restarted after a growing delay;
one that crashes more than ``max_restarts`` times within ``window`` seconds has a
bug that restarting will not cure, and the whole bot stops cleanly instead (exit 1,
so systemd or Docker restarts the process from a known state). A bot that keeps
running with a dead component is the failure this exists to prevent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["CrashHistory", "RestartPolicy"]


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How forgiving the supervisor is.

    Attributes:
        max_restarts: restarts allowed within ``window``; the next crash is fatal.
        window: seconds over which crashes are counted.
        backoff_initial: delay before the first restart, doubled per recent crash.
        backoff_max: the delay's cap.
    """

    max_restarts: int = 5
    window: float = 60.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        if self.max_restarts < 0 or self.window <= 0:
            raise ValueError("max_restarts must be >= 0 and window > 0")
        if self.backoff_initial < 0 or self.backoff_max < self.backoff_initial:
            raise ValueError("need 0 <= backoff_initial <= backoff_max")


class CrashHistory:
    """One component's recent crashes; :meth:`crashed` decides what happens next."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self._times: deque[float] = deque()

    def crashed(self, now: float) -> float | None:
        """Record a crash at monotonic time ``now``.

        Returns:
            the delay in seconds before restarting, or None when the component has
            used up its restarts within the window and must not be restarted.
        """
        p = self.policy
        times = self._times
        times.append(now)
        while times and now - times[0] > p.window:
            times.popleft()
        recent = len(times)
        if recent > p.max_restarts:
            return None
        return min(p.backoff_max, p.backoff_initial * 2.0 ** min(recent - 1, 32))

    @property
    def recent(self) -> int:
        """Crashes currently counted in the window (as of the last :meth:`crashed`)."""
        return len(self._times)
