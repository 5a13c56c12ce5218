"""Core ring: Coinbase Advanced Trade's REST rate limits, as the simulator enforces them.

What Coinbase documents (reference §2.11): private endpoints are limited **per user**
(30 requests/s), public endpoints (``/time``, ``/market/*``) **per IP** (10 requests/s);
over the limit the answer is HTTP 429 with ``{"errors":[{"id":"rate_limit_exceeded",
"message":"Too many requests"}]}``; responses carry ``x-ratelimit-limit``,
``x-ratelimit-remaining`` and ``x-ratelimit-reset`` (the official SDK reads exactly these
three when ``rate_limit_headers=True``). The figures come from Coinbase's historical
rate-limit page, which now redirects to a page without numbers; ccxt, hummingbot and
nautilus hard-code the same 30/10. Everything Coinbase does not pin down is a setting of
:class:`RateLimitConfig`, named as an assumption:

* the model: a lazy-fill token bucket per identity (what Coinbase documents for its sibling
  Exchange API), burst = one second's worth unless ``*_burst`` says otherwise;
* ``x-ratelimit-reset``: when the bucket is full again (so "wait until reset" is always
  safe), as integer epoch seconds rounded up (``reset_format="epoch"``) or as seconds from
  now (``"delta"``); Coinbase does not document the unit;
* ``Retry-After`` on a 429: not documented by Coinbase, off by default (``retry_after``),
  so a client has to work from ``x-ratelimit-reset``;
* a rejected request does not take a token (lazy-fill buckets only charge admitted
  requests), and only requests that reach the router count: a 401 does not.

Pure: the caller passes the time in (the simulator's injectable clock), so tests run the
limiter on virtual time with no sleeping. The buckets run on the true clock; only the
epoch ``reset`` is stated in the exchange's (possibly offset) clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["RATE_LIMIT_BODY", "RateDecision", "RateLimitConfig", "SimRateLimiter"]

RATE_LIMIT_BODY = {"errors": [{"id": "rate_limit_exceeded", "message": "Too many requests"}]}
"""The documented 429 body (Coinbase App shape; HTML has also been seen, reference §2.12)."""

Scope = Literal["private", "public"]


@dataclass(frozen=True)
class RateLimitConfig:
    """How the simulator limits REST requests; on by default at Coinbase's figures.

    Attributes:
        enabled: False turns limiting and the headers off (benchmarks that measure the
            client, not the exchange's limits, say so when they do).
        private_rate: requests/s per user on private endpoints (reference §2.11: 30).
        public_rate: requests/s per client IP on public endpoints (reference §2.11: 10).
        private_burst / public_burst: bucket capacity; None = one second's worth (Advanced
            Trade documents no burst; Coinbase Exchange documents 2x, settable here).
        private_key: what a private bucket belongs to: ``"user"`` (documented: "per
            user", so two keys of one user share it) or ``"key"`` (each API key its own).
        reset_format: ``"epoch"`` (integer Unix seconds, rounded up) or ``"delta"``
            (seconds from now, millisecond precision); the unit is not documented.
        retry_after: also send ``Retry-After`` (seconds, rounded up) on a 429.
    """

    enabled: bool = True
    private_rate: float = 30.0
    public_rate: float = 10.0
    private_burst: float | None = None
    public_burst: float | None = None
    private_key: Literal["user", "key"] = "user"
    reset_format: Literal["epoch", "delta"] = "epoch"
    retry_after: bool = False

    def __post_init__(self) -> None:
        for name in ("private_rate", "public_rate", "private_burst", "public_burst"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"RateLimitConfig.{name} must be > 0 (got {value!r})")
        if self.reset_format not in ("epoch", "delta"):
            raise ValueError("RateLimitConfig.reset_format must be 'epoch' or 'delta'")
        if self.private_key not in ("user", "key"):
            raise ValueError("RateLimitConfig.private_key must be 'user' or 'key'")

    def rate(self, scope: Scope) -> float:
        return self.private_rate if scope == "private" else self.public_rate

    def capacity(self, scope: Scope) -> float:
        burst = self.private_burst if scope == "private" else self.public_burst
        return burst if burst is not None else max(1.0, self.rate(scope))


@dataclass(frozen=True)
class RateDecision:
    """One request's verdict and the numbers its headers report.

    Attributes:
        allowed: False: answer 429.
        limit: the bucket capacity (``x-ratelimit-limit``).
        remaining: whole requests left after this one (``x-ratelimit-remaining``).
        reset_in: seconds until the bucket is full again.
        retry_in: seconds until one request would be admitted (0 when allowed).
        now: the time of the decision (server clock).
    """

    allowed: bool
    limit: int
    remaining: int
    reset_in: float
    retry_in: float
    now: float


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now


@dataclass
class SimRateLimiter:
    """Token buckets per (scope, identity); :meth:`check` charges one request.

    Args:
        config: the figures and switches.
    """

    config: RateLimitConfig = field(default_factory=RateLimitConfig)
    rejected: int = 0
    _buckets: dict[tuple[Scope, str], _Bucket] = field(default_factory=dict)

    MAX_BUCKETS = 4096  # full buckets are forgotten past this many identities

    def check(self, scope: Scope, identity: str, now: float) -> RateDecision | None:
        """Charge one request of ``identity`` (a user, key or IP); None when limiting is off."""
        cfg = self.config
        if not cfg.enabled:
            return None
        bucket = self._buckets.get((scope, identity))
        if bucket is None:
            if len(self._buckets) >= self.MAX_BUCKETS:
                self._forget_full(now)
            cap = cfg.capacity(scope)
            bucket = self._buckets[(scope, identity)] = _Bucket(cfg.rate(scope), cap, cap, now)
        bucket.refill(now)
        allowed = bucket.tokens >= 1.0
        if allowed:
            bucket.tokens -= 1.0
        else:
            self.rejected += 1
        return RateDecision(
            allowed=allowed,
            limit=int(bucket.capacity),
            remaining=max(0, math.floor(bucket.tokens + 1e-9)),
            reset_in=(bucket.capacity - bucket.tokens) / bucket.rate,
            retry_in=0.0 if allowed else (1.0 - bucket.tokens) / bucket.rate,
            now=now,
        )

    def _forget_full(self, now: float) -> None:
        for ident, bucket in list(self._buckets.items()):
            bucket.refill(now)
            if bucket.tokens >= bucket.capacity:
                del self._buckets[ident]

    def headers(self, decision: RateDecision, server_now: float | None = None) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers (plus ``Retry-After`` on a 429 when configured).

        Args:
            decision: what :meth:`check` said.
            server_now: the exchange's clock, for an epoch ``reset`` (default: the time of
                the decision). The buckets run on the true clock so that a jump of the
                exchange's clock (a fault the simulator can inject) does not stall them.
        """
        if self.config.reset_format == "epoch":
            now = decision.now if server_now is None else server_now
            reset = str(math.ceil(now + decision.reset_in))
        else:
            reset = f"{math.ceil(decision.reset_in * 1000) / 1000:.3f}"
        out = {
            "x-ratelimit-limit": str(decision.limit),
            "x-ratelimit-remaining": str(decision.remaining),
            "x-ratelimit-reset": reset,
        }
        if not decision.allowed and self.config.retry_after:
            out["Retry-After"] = str(max(1, math.ceil(decision.retry_in)))
        return out
