"""Simulator adapter: the Coinbase Exchange REST dialect over HTTP (aiohttp), on a shared exchange.

:class:`ExchangeSimRest` is the HTTP edge in front of
:class:`~botkit.sim.exchange_dialect.ExchangeDialect`: the fault plan
(:class:`~botkit.sim.faults.FaultPlan`, the same knobs as the other dialects' edges: status,
delay, reset, drop-after-accept, status-after-accept), then the dialect (authentication,
permissions, the caller's IP for allow-lists, routing). The server clock (``/time`` and the
30 s timestamp window) is the true clock plus ``faults.clock_offset``; the market runs on
the true clock.

:class:`ExchangeSimServer` serves it on loopback at the root (as
``api.exchange.coinbase.com``), either over its own :class:`~botkit.sim.exchange.SimExchange`
(advanced by a timer) or over one it is given: ``ExchangeSimServer.sharing(sim)`` trades on
the same market as a running :class:`botkit.sim.server.SimServer`. The Exchange WebSocket
feed (:mod:`botkit.sim.exchange_ws`) is served on the same port at ``/ws``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate

from aiohttp import web

from botkit.sim.dialect_server import DialectServer, new_uuid
from botkit.sim.exchange import SimExchange, SimMarketConfig
from botkit.sim.exchange_auth import ExchangeKey, error_body
from botkit.sim.exchange_dialect import ExchangeDialect, ExchangeDialectConfig
from botkit.sim.exchange_ws import ExchangeWsConfig, ExchangeWsHub
from botkit.sim.faults import FaultPlan, RestFault

__all__ = ["ExchangeSimRest", "ExchangeSimServer"]

log = logging.getLogger("botkit.sim.exchange")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_FAULT_MESSAGES = {
    401: "invalid signature",
    403: "Forbidden",
    429: "Private rate limit exceeded",
}


class ExchangeSimRest:
    """The HTTP edge (faults, then the dialect) for Exchange requests.

    Args:
        dialect: the router (holds the keys).
        faults: the REST fault plan.
        now: the server clock (timestamp window and ``/time``), faults' offset included.
        market_now: the true time the market advances to.
        on_change: called after every request that may have produced engine events.
    """

    def __init__(
        self,
        dialect: ExchangeDialect,
        faults: FaultPlan,
        *,
        now: Callable[[], float],
        market_now: Callable[[], float],
        on_change: Callable[[], None],
    ) -> None:
        self.dialect = dialect
        self.faults = faults
        self.now = now
        self.market_now = market_now
        self.on_change = on_change
        self.requests = 0

    def _fault_response(self, fault: RestFault) -> web.Response:
        headers = {"Date": formatdate(self.now(), usegmt=True)}
        if fault.body is not None:
            return web.Response(status=fault.status, text=fault.body, headers=headers)
        if fault.status == 429 and fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        message = _FAULT_MESSAGES.get(fault.status, f"injected fault (HTTP {fault.status})")
        return web.json_response(error_body(message), status=fault.status, headers=headers)

    @staticmethod
    def _reset(request: web.Request) -> web.Response:
        """Abort the TCP connection: the client sees a reset, not an HTTP answer."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=499)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Faults, then the dialect (which sees the raw request target the client signed)."""
        self.requests += 1
        fault = self.faults.take(request.method, request.path)
        if fault is not None:
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "status":
                return self._fault_response(fault)
            elif fault.kind == "reset":
                return self._reset(request)
        try:
            answer = self.dialect.handle(
                request.method,
                request.raw_path,  # path and query exactly as on the request line
                await request.read(),
                request.headers,
                self.market_now(),
                server_now=self.now(),
                remote=request.remote,
            )
        finally:
            self.on_change()
        if answer.status in (400, 401, 403) and self.dialect.last_failure:
            log.info("sim exchange: %d %s", answer.status, self.dialect.last_failure)
            self.dialect.last_failure = ""
        if fault is not None and fault.kind == "drop_after_accept":
            return self._reset(request)
        if fault is not None and fault.kind == "status_after_accept":
            return self._fault_response(fault)
        headers = {"Date": formatdate(self.now(), usegmt=True), **answer.headers}
        return web.Response(
            status=answer.status,
            body=answer.body_bytes(),
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )

    def routes(self) -> list[web.RouteDef]:
        """One catch-all; the dialect routes (and answers 404/405 in Exchange's shape)."""
        return [web.route("*", "/{tail:.*}", self.handle)]


class ExchangeSimServer(DialectServer):
    """A loopback Coinbase Exchange REST server on a (possibly shared) simulated exchange.

    Args:
        exchange: trade on this exchange (e.g. a running ``SimServer``'s); when None a new
            one is made from ``seed``/``market`` and advanced every ``tick_interval``.
        on_change: called after each request (``SimServer.publish`` when sharing: then
            register :meth:`on_events` with ``SimServer.add_listener`` so the Exchange
            feed sees the shared engine's events); default: drain the own exchange's
            events to the Exchange feed.
        config: the dialect's knobs (refusals, window, duplicate policy...).
        ws_config: the Exchange WebSocket feed's knobs (served at :attr:`ws_url`).
        host, port: where to listen (port 0 picks a free one).
        seed, market: the new exchange's seed and configuration.
        clock: the true time source.
        tick_interval: market steps of an own exchange (0: only before requests).
    """

    name = "exchange"
    rest: ExchangeSimRest
    ws: ExchangeWsHub

    def __init__(
        self,
        *,
        exchange: SimExchange | None = None,
        on_change: Callable[[], None] | None = None,
        config: ExchangeDialectConfig | None = None,
        ws_config: ExchangeWsConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        market: SimMarketConfig | None = None,
        clock: Callable[[], float] = time.time,
        tick_interval: float = 0.1,
    ) -> None:
        super().__init__(
            exchange=exchange,
            host=host,
            port=port,
            seed=seed,
            market=market,
            clock=clock,
            tick_interval=tick_interval,
        )
        self.dialect = ExchangeDialect(self.exchange, config)
        self.rest = ExchangeSimRest(
            self.dialect,
            self.faults,
            now=self.now,
            market_now=self.clock,
            on_change=on_change or self._drop_events,
        )
        self.ws = ExchangeWsHub(
            self.exchange,
            keys=self.dialect.keys,
            refusals=self.dialect.config.refusals,
            window=self.dialect.config.window,
            now=self.now,
            client_oid=self.dialect.client_oid,
            config=ws_config,
        )
        self.ws_faults = self.ws.faults

    def add_key(
        self,
        *,
        profile_id: str | None = None,
        passphrase: str | None = None,
        can_view: bool = True,
        can_trade: bool = True,
        allowed_ips: tuple[str, ...] = (),
    ) -> ExchangeKey:
        """Generate fresh credentials (random key, 64-byte base64 secret, passphrase).

        Each new key gets its own profile (funded with the market's initial balances)
        unless ``profile_id`` names an existing one.
        """
        key = ExchangeKey(
            key=secrets.token_hex(16),
            secret=base64.b64encode(secrets.token_bytes(64)).decode(),
            passphrase=secrets.token_urlsafe(12) if passphrase is None else passphrase,
            profile_id=profile_id or new_uuid(),
            can_view=can_view,
            can_trade=can_trade,
            allowed_ips=allowed_ips,
        )
        return self.dialect.register(key)
