"""Adapter ring: the REST call engine — sign each attempt, rate-limit, retry, resync the clock.

Every call goes through :meth:`RestClientBase.call`, which is the whole
"auth- and clock-aware retry" of anchors §5.4:

1. wait for a token from the shared :class:`~botkit.net.ratelimit.RateLimiter`;
2. sign **this attempt** (a new JWT with a new nonce, or a new HMAC timestamp:
   a token is never reused, so a retry after a 401 is a genuinely new request);
3. send through the :class:`~botkit.net.transport.Transport`;
4. map a status ≥ 400 to a typed error (:func:`~botkit.core.errors_map.error_from_response`)
   and let the retry table decide; a decision to resync measures the offset
   against ``GET /time`` (midpoint of the round trip) and corrects the
   signing clock before the next attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Protocol, TypeVar

import msgspec

from botkit.core.errors_map import error_from_response
from botkit.core.models import ServerTime
from botkit.core.rest import ApiCall, QueryValue, RestRequest, RestResponse, encode_query
from botkit.core.retry import RetryPolicy
from botkit.core.signing import RequestSigner
from botkit.errors import ConfigError, ExchangeError
from botkit.net.ratelimit import RateLimiter
from botkit.net.retrying import CallTrace, RetryController
from botkit.net.transport import AiohttpTransport, Transport

__all__ = ["CorrectableClock", "RestClientBase"]

log = logging.getLogger("botkit.rest")
T = TypeVar("T")


class CorrectableClock(Protocol):
    """The signing clock: tells the time and accepts a measured correction (SystemClock)."""

    def time(self) -> float: ...

    def correct(self, server_time: float, local_time: float) -> float: ...


class RestClientBase:
    """Signed, rate-limited, retried REST calls over one transport.

    Args:
        base_url: e.g. ``https://api.coinbase.com/api/v3/brokerage`` or ``sim.rest_url``.
        signer: any :class:`RequestSigner` (JWT, Exchange or Prime HMAC); None
            for public endpoints only.
        clock: the clock the signer reads, corrected after skew errors. When
            None, the signer's ``clock`` attribute is used if it can be corrected.
        transport: defaults to an :class:`AiohttpTransport` built from the
            timeout/CA arguments below (one shared session).
        limiter: shared rate limiter (default 30/s private, 10/s public).
        policy: retry delays and caps (the rules themselves are a table in core).
        rng: jitter source; seed it for reproducible runs.
        sleep: how retries wait; tests inject a recorder.
        wall: the uncorrected local clock used to measure the offset.
        suspect_offset: a measured |offset| above this many seconds marks the
            clock suspect, so the first 401 resyncs instead of only re-signing.
    """

    def __init__(
        self,
        base_url: str,
        signer: RequestSigner | None,
        *,
        clock: CorrectableClock | None = None,
        transport: Transport | None = None,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall: Callable[[], float] = time.time,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        ca_file: str | Path | None = None,
        suspect_offset: float = 2.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        if clock is None:
            candidate = getattr(signer, "clock", None)
            clock = candidate if hasattr(candidate, "correct") else None
        self.clock: CorrectableClock | None = clock
        self.transport: Transport = transport or AiohttpTransport(
            connect_timeout=connect_timeout, read_timeout=read_timeout, ca_file=ca_file
        )
        self.limiter = limiter or RateLimiter()
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()
        self._sleep = sleep
        self._wall = wall
        self.suspect_offset = suspect_offset
        self.last_offset: float | None = None  # last measured server - local, seconds
        self.clock_suspect = False
        self.resyncs = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> RestClientBase:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the call engine ---------------------------------------------------------------------

    def _now(self) -> float:
        return self.clock.time() if self.clock is not None else self._wall()

    async def _attempt(self, call: ApiCall) -> RestResponse:
        await self.limiter.acquire(call.private)
        url = call.url(self.base_url)
        headers = {"Accept": "application/json"}
        if call.body:
            headers["Content-Type"] = "application/json"
        if call.private:
            if self.signer is None:
                raise ConfigError(f"{call.label} needs an API key; none is configured")
            headers.update(self.signer.sign(call.method, url, call.body))
        response = await self.transport.send(RestRequest(call.method, url, headers, call.body))
        if response.status >= 400:
            error = error_from_response(
                response.status, response.body, response.headers, now=self._wall()
            )
            error.add_note(f"response body: {response.body[:500].decode('utf-8', 'replace')}")
            raise error
        return response

    async def call(self, call: ApiCall, trace: CallTrace | None = None) -> RestResponse:
        """Send ``call`` with the retry table applied; return the successful response.

        Raises:
            ExchangeError: the last typed error when retries are exhausted or not allowed;
                it carries the last status and (in a note) the last body.
            TransportError: timeouts and resets, when they could not be retried away.
        """
        ctl = RetryController(
            label=call.label,
            policy=self.policy,
            rng=self.rng,
            idempotent=call.idempotent,
            clock_suspect=lambda: self.clock_suspect,
            client_order_id=call.client_order_id,
            trace=trace,
        )
        async for attempt in ctl.retrying(self._sleep):
            with attempt:
                ctl.trace.attempts += 1
                if ctl.resync_pending:
                    ctl.resync_pending = False
                    ctl.trace.resyncs += 1
                    await self.sync_clock()
                response = await self._attempt(call)
        if ctl.saw_clock_skew:
            self.clock_suspect = False  # it worked after the correction
        return response

    def decode(self, response: RestResponse, kind: type[T]) -> T:
        """Decode a JSON body into a typed result (decimal strings become ``Decimal``)."""
        try:
            return msgspec.json.decode(response.body, type=kind, strict=False)
        except msgspec.DecodeError as exc:
            raise ExchangeError(
                f"unexpected response shape for {kind.__name__}: {exc}", status=response.status
            ) from None

    async def get(
        self, path: str, kind: type[T], *, private: bool = True, **query: QueryValue
    ) -> T:
        """A GET with the query encoded Coinbase's way, decoded into ``kind``."""
        call = ApiCall("GET", path, encode_query(query), private=private)
        return self.decode(await self.call(call), kind)

    # -- clock -------------------------------------------------------------------------------

    async def server_time(self) -> ServerTime:
        """``GET /time`` (public; Coinbase's clock)."""
        return await self.get("/time", ServerTime, private=False)

    async def measure_offset(self) -> float:
        """Seconds the exchange's clock is ahead of the local (uncorrected) clock.

        Uses the midpoint of the round trip, so a symmetric latency cancels out;
        the error is at most half the round trip plus the server's 1 ms rounding.
        """
        call = ApiCall("GET", "/time", private=False)
        t0 = self._wall()
        response = await self.call(call)
        t1 = self._wall()
        server = self.decode(response, ServerTime).seconds
        return server - (t0 + t1) / 2

    async def sync_clock(self) -> float:
        """Measure the offset and correct the signing clock; return the offset.

        Raises:
            ExchangeError: ``/time`` itself failed after its own retries.
        """
        t0 = self._wall()
        offset = await self.measure_offset()
        self.resyncs += 1
        self.last_offset = offset
        self.clock_suspect = abs(offset) > self.suspect_offset
        if self.clock is not None:
            self.clock.correct(t0 + offset, t0)
        log.warning(
            "clock resynchronised with %s/time: exchange is %+.3fs from the local clock",
            self.base_url,
            offset,
        )
        return offset
