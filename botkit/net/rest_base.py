"""Adapter ring: the REST call engine — sign each attempt, rate-limit, retry, resync the clock.

Every call goes through :meth:`RestClientBase.call`, which is the whole
"auth- and clock-aware retry" of anchors §5.4:

1. wait for a token from the shared :class:`~botkit.net.ratelimit.RateLimiter`
   (which every response's ``x-ratelimit-*`` headers correct: a lower announced limit is
   adopted, ``remaining: 0`` holds the next request until ``reset``);
2. sign **this attempt** (a new JWT with a new nonce, or a new HMAC timestamp:
   a token is never reused, so a retry after a 401 is a genuinely new request);
3. send through the :class:`~botkit.net.transport.Transport`;
4. map a status ≥ 400 to a typed error with the venue's error map
   (:meth:`RestClientBase.error_from_response`, e.g. Advanced Trade's in
   ``botkit.venues.advanced_trade.errors_map``) and let the retry table decide;
   a decision to resync measures the offset against the venue's server time
   (``GET /time``, midpoint of the round trip) and corrects the
   signing clock before the next attempt.

**Pre-signed create-order tokens.** With a JWT signer, the *first* attempt of a
``POST /orders`` takes a single-use token from a small pool
(:class:`~botkit.auth.jwt.PresignedTokens`) instead of signing inline: the ES256
signature is the largest cost between a tick and an order, and the token does not
depend on the body. The pool is refilled one signature at a time by loop callbacks
scheduled *after* a create-order attempt has been answered (never between taking a
token and writing the request), and an idle timer replaces tokens older than half
their ``max age``. Retries always sign inline; a 401 on a pre-signed token and every
clock correction empty the pool. docs/executor.md weighs the trade-offs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, TypeVar

import msgspec

from botkit.auth.jwt import JwtSigner, PresignedTokens
from botkit.auth.signing import RequestSigner
from botkit.errors import (
    AuthError,
    ConfigError,
    ExchangeError,
    InvalidPassphrase,
    IpNotAllowed,
    PermissionDenied,
)
from botkit.net.ratelimit import RateLimiter
from botkit.net.rest_types import ApiCall, QueryValue, RestRequest, RestResponse, encode_query
from botkit.net.retry_policy import RetryPolicy
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
        limiter: shared rate limiter (default 30/s private, 10/s public, corrected by the
            server's ``x-ratelimit-*`` headers).
        policy: retry delays and caps (the rules themselves are a table in core).
        rng: jitter source; seed it for reproducible runs.
        sleep: how retries wait; tests inject a recorder.
        wall: the uncorrected local clock used to measure the offset.
        suspect_offset: a measured |offset| above this many seconds marks an
            uncorrectable clock (no ``clock``) suspect, so the first 401 resyncs instead
            of only re-signing. A correctable clock is corrected instead, and is then
            no longer suspect.
        presign: pre-signed single-use tokens kept per route in ``presign_routes``
            (JWT signers only); 0 turns the feature off (every attempt signs inline).
        presign_max_age: seconds a pre-signed token may wait before it is discarded
            (capped at half the signer's token lifetime; the idle refresh replaces tokens
            at half this age).
        presign_routes: ``(method, path)`` pairs whose first attempt uses a pre-signed
            token; create-order by default.
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
        presign: int = 4,
        presign_max_age: float = 5.0,
        presign_routes: tuple[tuple[str, str], ...] = (("POST", "/orders"),),
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
        self.retry_counts: Counter[str] = Counter()
        """Retries so far by cause (the error's class name: RateLimited, ServerError...)."""
        self.clock_suspect = False
        self.resyncs = 0
        self.refused = ""
        """Why the venue refused this client's key on every route (401, an IP not on the
        key's allow-list, Exchange's invalid passphrase; after the retries), or "" since
        a private call got past authentication. Read through :meth:`refusal`."""
        self.denied: dict[str, str] = {}
        """Routes (``POST /orders``, ids blanked) the venue answered 403 with its own error
        code (a missing scope, an account that may not trade), until that route gets past
        authentication again: a key with View but not Trade fails every order while its
        reads work, so a read must not clear the order route's refusal. A bare 403 with
        no venue code (a gateway's HTML page) is not counted."""
        self.presigned: dict[tuple[str, str], PresignedTokens] = {}
        if presign > 0 and isinstance(signer, JwtSigner):
            max_age = min(presign_max_age, signer.lifetime / 2)  # a short-lived key config
            for method, path in presign_routes:
                self.presigned[(method, path)] = PresignedTokens(
                    signer, method, f"{self.base_url}{path}", size=presign, max_age=max_age
                )
        self._refill: asyncio.Handle | None = None
        self._refresh: asyncio.TimerHandle | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        self._closed = True
        for handle in (self._refill, self._refresh):
            if handle is not None:
                handle.cancel()
        self._refill = self._refresh = None
        self.invalidate_presigned()
        await self.transport.close()

    async def __aenter__(self) -> Self:
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

    def prepare_request(
        self, call: ApiCall, *, presigned: bool = True
    ) -> tuple[RestRequest, PresignedTokens | None]:
        """Build and sign one attempt of ``call``; synchronous, no I/O.

        Args:
            call: the call.
            presigned: may use a pre-signed token (first attempts only).

        Returns:
            The request, and the pool its token came from (None: signed inline).
        """
        url = call.url(self.base_url) if call.query else self.base_url + call.path
        headers = {"Accept": "application/json"}
        if call.body:
            headers["Content-Type"] = "application/json"
        pool = None
        if call.private:
            if self.signer is None:
                raise ConfigError(f"{call.label} needs an API key; none is configured")
            token = None
            if presigned and not call.query:
                pool = self.presigned.get((call.method, call.path))
                token = pool.take() if pool is not None else None
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            else:
                pool = None
                headers.update(self.signer.sign(call.method, url, call.body))
        return RestRequest(call.method, url, headers, call.body), pool

    async def _attempt(self, call: ApiCall, *, first: bool = True) -> RestResponse:
        await self.limiter.acquire(call.private)
        request, pool = self.prepare_request(call, presigned=first)
        try:
            response = await self.transport.send(request)
        finally:
            if (call.method, call.path) in self.presigned:
                self.start_presigning()  # answered (or failed): now replace the used token
        # Every answer (a 429 too) says how much of the shared quota is left: pace from it.
        # An epoch reset is the exchange's time: read it with the corrected signing clock.
        self.limiter.observe(call.private, response.headers, self._now())
        if response.status == 401 and pool is not None:
            self.invalidate_presigned()  # its siblings were made the same way
        if response.status >= 400:
            error = self.error_from_response(
                response.status, response.body, response.headers, now=self._now()
            )
            error.add_note(f"response body: {response.body[:500].decode('utf-8', 'replace')}")
            raise error
        return response

    def _count_retry(self, cause: str) -> None:
        self.retry_counts[cause] += 1

    async def call(self, call: ApiCall, trace: CallTrace | None = None) -> RestResponse:
        """Send ``call`` with the retry table applied; return the successful response.

        Raises:
            ExchangeError: the last typed error when retries are exhausted or not allowed;
                it carries the last status and (in a note) the last body.
            TransportError: timeouts and resets, when they could not be retried away.
        """
        # The first attempt runs outside tenacity: its loop and the retry controller cost
        # ~30 µs before the first request (coroutine checks, state objects), the largest
        # step between a tick and an order. A failure is handed to the loop below as the
        # first attempt's outcome, so the retry table sees exactly what it saw before
        # (nothing to resync yet).
        if trace is None:
            trace = CallTrace()
        trace.attempts += 1
        try:
            response = await self._attempt(call, first=True)
        except BaseException as exc:  # tenacity's attempt takes any exception: so does this
            first_error: BaseException | None = exc
        else:
            if call.private and (self.refused or self.denied):
                self._accepted(call)
            return response
        ctl = RetryController(
            label=call.label,
            policy=self.policy,
            rng=self.rng,
            idempotent=call.idempotent,
            clock_suspect=lambda: self.clock_suspect,
            client_order_id=call.client_order_id,
            trace=trace,
            on_retry=self._count_retry,
            answers=call.answers,
        )
        try:
            async for attempt in ctl.retrying(self._sleep):
                with attempt:
                    if first_error is not None:
                        error, first_error = first_error, None
                        raise error
                    ctl.trace.attempts += 1
                    if ctl.resync_pending:
                        ctl.resync_pending = False
                        ctl.trace.resyncs += 1
                        await self.sync_clock()
                    response = await self._attempt(call, first=False)
        except ExchangeError as exc:
            if call.private:
                self._note_answer(call, exc)
            raise
        if ctl.saw_clock_skew:
            self.clock_suspect = False  # it worked after the correction
        if call.private and (self.refused or self.denied):
            self._accepted(call)
        return response

    def refusal(self) -> str:
        """What the venue refuses this client's key now ("" when nothing): the key
        itself, else the routes answered 403 (see :attr:`refused`, :attr:`denied`).
        Read by the health model: a key revoked or stripped of a permission mid-run
        needs a human, and was only a log line per failed call."""
        if self.refused or not self.denied:
            return self.refused
        route, why = next(iter(self.denied.items()))
        more = f" (and {len(self.denied) - 1} other route(s))" if len(self.denied) > 1 else ""
        return f"{route}{more}: {why}"

    def _note_answer(self, call: ApiCall, error: ExchangeError) -> None:
        """A private call ended on ``error``: a refusal of the key or of its route, or an
        answer that proves the key was accepted (a 404, a 400, a rejected order)."""
        if isinstance(error, AuthError | InvalidPassphrase | IpNotAllowed):
            self.refused = _refusal(error)
        elif isinstance(error, PermissionDenied):
            if error.code:
                self.denied[_route(call)] = _refusal(error)
        elif 200 <= error.status < 500 and error.status != 429 and (self.refused or self.denied):
            self._accepted(call)

    def _accepted(self, call: ApiCall) -> None:
        self.refused = ""
        self.denied.pop(_route(call), None)

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

    # -- what a venue supplies -------------------------------------------------------------

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str], *, now: float
    ) -> ExchangeError:
        """The venue's error map: a status >= 400 and its body → a typed error.

        Why a hook: the call engine (signing, limits, retries, clock resync) is the same
        for every Coinbase API; what a status and body *mean* is the venue's (Advanced
        Trade's ``error_response``, Exchange's ``{"message": ...}``). A venue's client
        overrides this; the base maps by status alone.
        """
        return ExchangeError(f"HTTP {status} from the exchange", status=status)

    time_path = "/time"
    """The venue's public server-time endpoint, relative to ``base_url``."""

    def server_seconds(self, response: RestResponse) -> float:
        """The venue's server time, in Unix seconds, from a ``time_path`` response."""
        raise NotImplementedError(f"{type(self).__name__} does not read a server time")

    # -- clock -------------------------------------------------------------------------------

    async def measure_offset(self) -> float:
        """Seconds the exchange's clock is ahead of the local (uncorrected) clock.

        Uses the midpoint of the round trip, so a symmetric latency cancels out;
        the error is at most half the round trip plus the server's 1 ms rounding.
        """
        call = ApiCall("GET", self.time_path, private=False)
        t0 = self._wall()
        response = await self.call(call)
        t1 = self._wall()
        server = self.server_seconds(response)
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
        # Suspect only while uncorrected: once the signing clock carries the measured
        # offset, a later 401 is re-signed first like any other (a flag left set made
        # every stray 401 cost another GET /time). Without a correctable clock the
        # offset stays in the signatures, so the clock stays suspect.
        self.clock_suspect = self.clock is None and abs(offset) > self.suspect_offset
        if self.clock is not None:
            self.clock.correct(t0 + offset, t0)
            self.invalidate_presigned()  # dated by the old clock
        log.warning(
            "clock resynchronised with %s%s: exchange is %+.3fs from the local clock",
            self.base_url,
            self.time_path,  # Prime: the Date header of this path's answer
            offset,
        )
        return offset

    # -- pre-signed tokens -------------------------------------------------------------------

    def invalidate_presigned(self) -> int:
        """Discard every pre-signed token (call after changing the signing clock by hand)."""
        return sum(pool.invalidate() for pool in self.presigned.values())

    def refill_presigned(self) -> int:
        """Sign every missing pre-signed token now; return how many (tests, benchmarks)."""
        signed = 0
        for pool in self.presigned.values():
            for _ in range(pool.wanted):
                pool.mint()
                signed += 1
        return signed

    def start_presigning(self) -> None:
        """Schedule the refill (one token per loop callback) and the idle refresh timer.

        Needs a running event loop. The executor calls it at start-up so that even the
        first order finds a token; every create-order attempt calls it once answered.
        """
        if self._closed or not self.presigned:
            return
        loop = asyncio.get_running_loop()
        if self._refill is None and any(p.wanted for p in self.presigned.values()):
            self._refill = loop.call_soon(self._refill_one)
        if self._refresh is None:
            period = min(p.max_age for p in self.presigned.values()) / 2
            self._refresh = loop.call_later(period, self._refresh_due)

    def _refill_one(self) -> None:
        """Sign one token, then yield to the loop before the next (a feed frame may be due)."""
        self._refill = None
        pool = next((p for p in self.presigned.values() if p.wanted), None)
        if pool is None or self._closed:
            return
        try:
            pool.mint()
        except Exception:  # a signing failure must not kill the loop; inline signing still works
            log.exception("pre-signing a %s token failed; orders sign inline", pool.method)
            return
        self.start_presigning()

    def _refresh_due(self) -> None:
        """Replace tokens past half their max age, so none is handed out near its limit."""
        self._refresh = None
        if self._closed:
            return
        for pool in self.presigned.values():
            pool.prune(pool.max_age / 2)
        self.start_presigning()


def _route(call: ApiCall) -> str:
    """``METHOD /path`` with the path's ids blanked (segments with a digit: order ids,
    uuids), so one route is one key of :attr:`RestClientBase.denied`."""
    parts = ("{id}" if any(c.isdigit() for c in p) else p for p in call.path.split("/"))
    return f"{call.method} {'/'.join(parts)}"


def _refusal(error: ExchangeError) -> str:
    """What :attr:`RestClientBase.refused` keeps of a refusal: the error's own text (its
    status, the venue's words and the likely causes; never the credentials), bounded."""
    text = str(error)
    return text if len(text) <= 400 else text[:399] + "…"
