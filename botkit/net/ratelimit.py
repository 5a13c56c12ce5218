"""Adapter ring: the client-side rate limiter shared by every caller of one REST client.

Two :class:`~botkit.net.token_bucket.TokenBucket` s — private endpoints (30/s per
user) and public ones (10/s per IP) by default (reference §2.11). The pure
bucket decides how long to wait; this wrapper reads the monotonic clock and
sleeps through an injectable ``sleep``, so tests run on virtual time.

**Pacing from the server's headers.** The configured figures are a guess (Coinbase no
longer publishes them, and says they tighten under load), and the quota is shared with
every other client of the same user or IP. So :meth:`RateLimiter.observe` reads the
``x-ratelimit-limit/remaining/reset`` headers of every response (reference §2.11) and
corrects the bucket: a lower announced limit is adopted (as requests per second, the unit
of every figure Coinbase has published), the balance never stays above the server's
``remaining``, and ``remaining: 0`` holds the next request until ``reset``. A 429 is still
retried by the retry table (its delay from ``Retry-After`` or ``x-ratelimit-reset``); the
hold makes every other caller of the same client wait too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from botkit.net.token_bucket import TokenBucket

__all__ = ["RateLimiter", "read_rate_limit_headers"]

log = logging.getLogger("botkit.rest")

EPOCH_THRESHOLD = 1e9
"""An ``x-ratelimit-reset`` above this is a Unix time; below it, seconds from now (the unit
is undocumented; the same rule as ``errors_map.parse_retry_after``)."""


def read_rate_limit_headers(
    headers: Mapping[str, str], wall_now: float
) -> tuple[int | None, int | None, float | None]:
    """``(limit, remaining, seconds until reset)`` from a response; None where absent or bad.

    ``headers`` keys are lower case (as :class:`~botkit.net.rest_types.RestResponse` has them).
    """

    def number(name: str) -> float | None:
        raw = headers.get(name)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            return None
        return value if value >= 0 and value == value and value != float("inf") else None

    limit = number("x-ratelimit-limit")
    remaining = number("x-ratelimit-remaining")
    reset = number("x-ratelimit-reset")
    reset_in = None
    if reset is not None:
        reset_in = max(0.0, reset - wall_now if reset > EPOCH_THRESHOLD else reset)
    return (
        int(limit) if limit is not None else None,
        int(remaining) if remaining is not None else None,
        reset_in,
    )


class RateLimiter:
    """Private and public token buckets behind one ``await acquire(private)``.

    Args:
        private_rate: requests/s for signed endpoints (``float('inf')``: off).
        public_rate: requests/s for public endpoints (``/time``, ``/market/*``).
        burst: bucket capacity in requests (default: one second's worth).
        monotonic: time source for refills.
        sleep: how to wait (injected in tests).
        follow_headers: pace from the server's ``x-ratelimit-*`` headers (see the module
            docstring); a bucket turned off (infinite rate) ignores them either way.
        max_hold: longest hold a ``reset`` may impose, in seconds (a reset far out is more
            likely a clock disagreement than a real minute-long ban; the retry table still
            honours a 429's own delay, up to its ``max_retry_after``).
    """

    def __init__(
        self,
        private_rate: float = 30.0,
        public_rate: float = 10.0,
        *,
        burst: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        follow_headers: bool = True,
        max_hold: float = 60.0,
    ) -> None:
        self.private = TokenBucket(private_rate, burst or 0.0)
        self.public = TokenBucket(public_rate, burst or 0.0)
        self._monotonic = monotonic
        self._sleep = sleep
        self.follow_headers = follow_headers
        self.max_hold = max_hold
        self.waited = 0.0  # total seconds callers were held back (a gauge for metrics)
        self.holds = 0  # times the server said "none left" and the bucket was held to reset
        self.adopted = 0  # times a lower server limit replaced the configured one

    async def acquire(self, private: bool) -> None:
        """Wait until one request of this kind may go out."""
        bucket = self.private if private else self.public
        delay = bucket.reserve(self._monotonic())
        if delay > 0:
            self.waited += delay
            await self._sleep(delay)

    def observe(self, private: bool, headers: Mapping[str, str], wall_now: float) -> None:
        """Correct the bucket from one response's ``x-ratelimit-*`` headers (any status).

        Args:
            private: which bucket the request was charged to.
            headers: the response headers, lower-case keys.
            wall_now: the Unix time, to turn an epoch ``reset`` into a delay (the client
                passes its signing clock, corrected to the exchange's after a resync).
        """
        if not self.follow_headers:
            return
        limit, remaining, reset_in = read_rate_limit_headers(headers, wall_now)
        if limit is None and remaining is None:
            return
        bucket = self.private if private else self.public
        if bucket.rate == float("inf"):
            return  # turned off on purpose: stays off
        now = self._monotonic()
        if limit is not None and bucket.adopt(limit):
            self.adopted += 1
            log.warning(
                "the exchange announces %d %s requests per window, fewer than configured: "
                "pacing at %g/s from now on",
                limit,
                "private" if private else "public",
                bucket.rate,
            )
        if remaining is None:
            return
        if remaining == 0 and reset_in is not None and reset_in > 0:
            self.holds += 1
            bucket.hold(now, min(reset_in, self.max_hold))
        else:
            bucket.cap(now, float(remaining))
