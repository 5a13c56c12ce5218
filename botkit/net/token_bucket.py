"""Core ring: a token bucket that reserves, with time passed in.

Coinbase's historical limits are 30 requests/s per user on private endpoints
and 10/s per IP on public ones (reference §2.11; unpublished today, so both are
settings). Staying under them client-side is cheaper than eating 429s.

:meth:`TokenBucket.reserve` takes a token *now* even when the bucket is empty
(the balance goes negative) and returns how long the caller must wait. That
makes waiting callers first-come first-served without a lock or a queue: the
n-th caller in a burst is told to wait n/rate seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TokenBucket"]


@dataclass
class TokenBucket:
    """A token bucket refilled continuously at ``rate`` tokens/s up to ``capacity``.

    Args:
        rate: tokens per second (``float('inf')`` disables limiting).
        capacity: burst size; defaults to one second's worth.
    """

    rate: float
    capacity: float = 0.0
    _tokens: float = 0.0
    _updated: float | None = None

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.capacity <= 0:
            self.capacity = max(1.0, self.rate) if self.rate != float("inf") else 1.0
        self._tokens = self.capacity

    def _refill(self, now: float) -> None:
        if self._updated is not None and now > self._updated:
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        if self._updated is None or now > self._updated:
            self._updated = now

    def reserve(self, now: float, tokens: float = 1.0) -> float:
        """Take ``tokens`` and return the seconds to wait before using them (0: go now)."""
        if self.rate == float("inf"):
            return 0.0
        self._refill(now)
        self._tokens -= tokens
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def hold(self, now: float, seconds: float) -> None:
        """Make the next reservation wait at least ``seconds`` (the server said: none left).

        Sets the balance so that one token is back exactly ``seconds`` from ``now``; a
        balance already lower (callers queued further out) is kept.
        """
        if self.rate == float("inf") or seconds <= 0:
            return
        self._refill(now)
        self._tokens = min(self._tokens, 1.0 - seconds * self.rate)

    def cap(self, now: float, tokens: float) -> None:
        """Lower the balance to ``tokens`` if it is above (the server counts fewer left)."""
        if self.rate == float("inf"):
            return
        self._refill(now)
        self._tokens = min(self._tokens, tokens)

    def adopt(self, limit: float) -> bool:
        """Shrink rate and capacity to a server-announced ``limit`` per second if lower.

        Returns True when the bucket changed. A bucket that is off (infinite rate) stays
        off: the caller turned limiting off on purpose.
        """
        if self.rate == float("inf") or limit <= 0:
            return False
        if limit >= self.capacity and limit >= self.rate:
            return False
        self.capacity = min(self.capacity, limit)
        self.rate = min(self.rate, limit)
        self._tokens = min(self._tokens, limit)
        return True

    def available(self, now: float) -> float:
        """Tokens available at ``now`` (negative while callers are queued)."""
        self._refill(now)
        return self._tokens
