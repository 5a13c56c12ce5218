"""Simulator adapter: the Advanced Trade REST API (reference §2) over HTTP, via :class:`SimApi`.

The routes themselves live in :mod:`botkit.sim.api` (one implementation, also
reached in-process by :class:`botkit.net.local.LocalTransport`). This module
adds what only an HTTP edge has, in one middleware and in the order
Coinbase's edge would apply it: the fault plan, then JWT verification, then
the permission scope. Then a single catch-all handler under :data:`BASE`
hands the request to the router and turns its answer into an aiohttp response.

Edge answers (reference §2.1): 401 is the plain-text body ``Unauthorized``
(plus the simulator's ``x-botkit-sim-reason`` header); 403 is
``PERMISSION_DENIED``; injected 429s carry ``Retry-After``.

Rate limits (reference §2.11, model in :mod:`botkit.sim.ratelimit`): after the JWT and
scope checks, a private request is charged to its user (or key), a public one to the
client's IP. Over the limit the answer is Coinbase's 429 body; every limited response
carries ``x-ratelimit-limit/remaining/reset``. ``RateLimitConfig(enabled=False)`` turns
both off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from botkit.sim.api import BASE, ApiResponse, SimApi
from botkit.sim.auth import AuthFailure, KeyRegistry, RegisteredKey
from botkit.sim.exchange import SimExchange
from botkit.sim.faults import FaultPlan, RestFault
from botkit.sim.ratelimit import RATE_LIMIT_BODY, RateLimitConfig, SimRateLimiter
from botkit.sim.rest_util import error_body

__all__ = ["BASE", "SimRest"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# The verified key of the request, set by the middleware for private routes.
_KEY = web.RequestKey("botkit.sim.key", RegisteredKey)


def _error(status: int, error: str, details: str) -> web.Response:
    return web.json_response(error_body(error, details), status=status)


def _unauthorized(reason: str) -> web.Response:
    return web.Response(status=401, text="Unauthorized", headers={"x-botkit-sim-reason": reason})


def _forbidden() -> web.Response:
    return _error(403, "PERMISSION_DENIED", "Missing required scopes")


def _fault_response(fault: RestFault) -> web.Response:
    if fault.body is not None:
        return web.Response(status=fault.status, text=fault.body)
    if fault.status == 401:
        return _unauthorized("injected fault")
    if fault.status == 403:
        return _forbidden()
    if fault.status == 429:
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        return web.json_response(RATE_LIMIT_BODY, status=429, headers=headers)
    return _error(fault.status, "INTERNAL", f"injected fault (HTTP {fault.status})")


def _to_aiohttp(answer: ApiResponse) -> web.Response:
    """The aiohttp response for a router answer (same bytes and ``Content-Type``)."""
    if answer.is_text:
        return web.Response(status=answer.status, text=answer.body, headers=answer.headers)
    return web.Response(
        status=answer.status,
        body=answer.body_bytes(),
        content_type="application/json",
        charset="utf-8",
        headers=answer.headers,
    )


class SimRest:
    """The HTTP edge (faults, JWT, scopes) in front of one :class:`SimApi`.

    Args:
        exchange: the engine.
        registry: keys and JWT verification.
        faults: the REST fault plan.
        now: the server clock used for JWT checks and ``/time`` (includes the
            fault plan's clock offset).
        market_now: the true time used to advance the market before answering.
        on_change: called after every request that may have produced engine
            events, so the server can publish them to WebSocket subscribers.
        rate_limits: Coinbase's per-user/per-IP limits (default: on, 30/s and 10/s).
    """

    def __init__(
        self,
        exchange: SimExchange,
        registry: KeyRegistry,
        faults: FaultPlan,
        *,
        now: Callable[[], float],
        market_now: Callable[[], float],
        on_change: Callable[[], None],
        rate_limits: RateLimitConfig | None = None,
    ) -> None:
        self.exchange = exchange
        self.registry = registry
        self.faults = faults
        self.now = now
        self.market_now = market_now
        self.on_change = on_change
        self.api = SimApi(exchange, now=now)
        self.requests = 0
        self.limiter = SimRateLimiter(rate_limits or RateLimitConfig())

    # -- middleware ------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith(BASE):
            return await handler(request)
        self.requests += 1
        fault = self.faults.take(request.method, path)
        if fault is not None:
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "status":
                return _fault_response(fault)
            elif fault.kind == "reset":
                return self._reset(request)
        sub = path[len(BASE) :]
        if sub == "/time" or sub.startswith("/market/"):
            decision = self.limiter.check("public", request.remote or "", self.market_now())
        else:
            try:
                key = self.registry.verify_rest(
                    request.headers.get("Authorization"), request.method, path, self.now()
                )
            except AuthFailure as exc:
                return _unauthorized(str(exc))
            needs_trade = request.method == "POST" and sub.startswith("/orders")
            if not key.can_view or (needs_trade and not key.can_trade):
                return _forbidden()
            request[_KEY] = key
            who = key.user_id if self.limiter.config.private_key == "user" else key.name
            decision = self.limiter.check("private", who, self.market_now())
        if decision is not None and not decision.allowed:
            return web.json_response(
                RATE_LIMIT_BODY, status=429, headers=self.limiter.headers(decision, self.now())
            )
        try:
            response = await handler(request)
        finally:
            self.on_change()
        if decision is not None:
            response.headers.update(self.limiter.headers(decision, self.now()))
        if fault is not None and fault.kind == "drop_after_accept":
            return self._reset(request)
        if fault is not None and fault.kind == "status_after_accept":
            return _fault_response(fault)
        return response

    @staticmethod
    def _reset(request: web.Request) -> web.Response:
        """Abort the TCP connection: the client sees a reset, not an HTTP answer."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=499)

    # -- routes ----------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """One catch-all under :data:`BASE`: :class:`SimApi` does the routing (404/405 too)."""
        return [web.route("*", BASE + "{tail:.*}", self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        """Hand the (already authenticated) request to the router."""
        key = request.get(_KEY)
        query = {k: request.query.getall(k) for k in request.query}
        answer = self.api.handle(
            request.method,
            request.rel_url.raw_path,
            query,
            await request.read(),
            key.user_id if key is not None else "",
            self.market_now(),
            scope=key,
        )
        return _to_aiohttp(answer)
