"""Adapter ring: the client-side rate limiter shared by every caller of one REST client.

Two :class:`~botkit.net.token_bucket.TokenBucket` s — private endpoints (30/s per
user) and public ones (10/s per IP) by default (reference §2.11). The pure
bucket decides how long to wait; this wrapper reads the monotonic clock and
sleeps through an injectable ``sleep``, so tests run on virtual time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from botkit.net.token_bucket import TokenBucket

__all__ = ["RateLimiter"]


class RateLimiter:
    """Private and public token buckets behind one ``await acquire(private)``.

    Args:
        private_rate: requests/s for signed endpoints (``float('inf')``: off).
        public_rate: requests/s for public endpoints (``/time``, ``/market/*``).
        burst: bucket capacity in requests (default: one second's worth).
        monotonic: time source for refills.
        sleep: how to wait (injected in tests).
    """

    def __init__(
        self,
        private_rate: float = 30.0,
        public_rate: float = 10.0,
        *,
        burst: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.private = TokenBucket(private_rate, burst or 0.0)
        self.public = TokenBucket(public_rate, burst or 0.0)
        self._monotonic = monotonic
        self._sleep = sleep
        self.waited = 0.0  # total seconds callers were held back (a gauge for metrics)

    async def acquire(self, private: bool) -> None:
        """Wait until one request of this kind may go out."""
        bucket = self.private if private else self.public
        delay = bucket.reserve(self._monotonic())
        if delay > 0:
            self.waited += delay
            await self._sleep(delay)
