"""Simulator adapter: the Coinbase Prime REST dialect over HTTP (aiohttp), on a shared exchange.

:class:`PrimeSimRest` is the HTTP edge in front of :class:`~botkit.sim.prime_dialect.PrimeDialect`:
the fault plan (:class:`~botkit.sim.faults.FaultPlan`, the same knobs as the Advanced Trade
edge: status, delay, reset, drop-after-accept, status-after-accept), then the dialect
(authentication and routing), then the ``Date`` header from the **server** clock. Prime
has no time endpoint, so ``Date`` is the only clock a client can read; the server clock is
the true clock plus ``faults.clock_offset``, so a shifted clock shows in both the
timestamp window and ``Date``.

:class:`PrimeSimServer` serves it on loopback under ``/v1``, either over its own
:class:`~botkit.sim.exchange.SimExchange` (advanced by a timer) or over one it is given:
``PrimeSimServer.sharing(sim)`` trades on the same market as a running
:class:`botkit.sim.server.SimServer` (that server then advances the market).
The Prime WebSocket feed (:mod:`botkit.sim.prime_ws`) is served on the same port at
``/ws`` (:attr:`PrimeSimServer.ws_url`); it publishes the engine's events from
:meth:`PrimeSimServer.on_events`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate

from aiohttp import web

from botkit.sim.dialect_server import DialectServer, new_uuid
from botkit.sim.exchange import SimExchange, SimMarketConfig
from botkit.sim.faults import FaultPlan, RestFault
from botkit.sim.prime_auth import PrimeKey, error_body
from botkit.sim.prime_dialect import BASE, PrimeDialect, PrimeDialectConfig
from botkit.sim.prime_ws import PrimeWsConfig, PrimeWsHub

__all__ = ["PrimeSimRest", "PrimeSimServer"]

log = logging.getLogger("botkit.sim.prime")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_FAULT_CODES = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED"}


class PrimeSimRest:
    """The HTTP edge (faults, then the dialect) for Prime requests under :data:`BASE`.

    Args:
        dialect: the router (holds the keys).
        faults: the REST fault plan.
        now: the server clock (timestamp window and ``Date``), faults' offset included.
        market_now: the true time the market advances to.
        on_change: called after every request that may have produced engine events.
    """

    def __init__(
        self,
        dialect: PrimeDialect,
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

    def _date(self) -> str:
        return formatdate(self.now(), usegmt=True)

    def _fault_response(self, fault: RestFault) -> web.Response:
        headers = {"Date": self._date()}
        if fault.body is not None:
            return web.Response(status=fault.status, text=fault.body, headers=headers)
        if fault.status == 429 and fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        code = _FAULT_CODES.get(fault.status, "INTERNAL")
        body = error_body(code, f"injected fault (HTTP {fault.status})", "injected")
        return web.json_response(body, status=fault.status, headers=headers)

    @staticmethod
    def _reset(request: web.Request) -> web.Response:
        """Abort the TCP connection: the client sees a reset, not an HTTP answer."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=499)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Faults, then the dialect; the answer carries the server clock's ``Date``."""
        self.requests += 1
        fault = self.faults.take(request.method, request.path)
        if fault is not None:
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "status":
                return self._fault_response(fault)
            elif fault.kind == "reset":
                return self._reset(request)
        query = {k: request.query.getall(k) for k in request.query}
        try:
            answer = self.dialect.handle(
                request.method,
                request.rel_url.raw_path,
                query,
                await request.read(),
                request.headers,
                self.market_now(),
                server_now=self.now(),
            )
        finally:
            self.on_change()
        if answer.status in (401, 403):
            log.info("sim prime: %d %s", answer.status, self.dialect.last_failure)
        if fault is not None and fault.kind == "drop_after_accept":
            return self._reset(request)
        if fault is not None and fault.kind == "status_after_accept":
            return self._fault_response(fault)
        headers = {"Date": self._date(), **answer.headers}
        return web.Response(
            status=answer.status,
            body=answer.body_bytes(),
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )

    def routes(self) -> list[web.RouteDef]:
        """One catch-all under :data:`BASE`; the dialect routes (and answers 404/405)."""
        return [web.route("*", BASE + "{tail:.*}", self.handle)]


class PrimeSimServer(DialectServer):
    """A loopback Coinbase Prime REST server on a (possibly shared) simulated exchange.

    Args:
        exchange: trade on this exchange (e.g. a running ``SimServer``'s); when None a new
            one is made from ``seed``/``market`` and advanced every ``tick_interval``.
        on_change: called after each request (``SimServer.publish`` when sharing, so its
            WebSocket subscribers see Prime's orders); default: drain and drop the events.
        config: the dialect's knobs (refusals, window, defaults).
        ws_config: the Prime WebSocket feed's knobs (served at :attr:`ws_url`).
        host, port: where to listen (port 0 picks a free one).
        seed, market: the new exchange's seed and configuration.
        clock: the true time source.
        tick_interval: market steps of an own exchange (0: only before requests).
    """

    name = "prime"
    rest: PrimeSimRest
    ws: PrimeWsHub

    def __init__(
        self,
        *,
        exchange: SimExchange | None = None,
        on_change: Callable[[], None] | None = None,
        config: PrimeDialectConfig | None = None,
        ws_config: PrimeWsConfig | None = None,
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
        self.dialect = PrimeDialect(self.exchange, config)
        self.rest = PrimeSimRest(
            self.dialect,
            self.faults,
            now=self.now,
            market_now=self.clock,
            on_change=on_change or self._drop_events,
        )
        self.ws = PrimeWsHub(self.exchange, dialect=self.dialect, now=self.now, config=ws_config)
        self.ws_faults = self.ws.faults

    def add_key(
        self,
        *,
        portfolio_ids: tuple[str, ...] | None = None,
        can_view: bool = True,
        can_trade: bool = True,
        portfolio_name: str = "",
    ) -> PrimeKey:
        """Generate fresh credentials (random key, secret, passphrase, ids) and register them.

        Each new key gets its own portfolio (funded with the market's initial balances)
        unless ``portfolio_ids`` names existing ones.
        """
        key = PrimeKey(
            access_key=secrets.token_hex(16),
            signing_key=secrets.token_urlsafe(48),
            passphrase=secrets.token_urlsafe(12),
            portfolio_ids=portfolio_ids or (new_uuid(),),
            entity_id=new_uuid(),
            svc_account_id=new_uuid(),
            can_view=can_view,
            can_trade=can_trade,
        )
        return self.dialect.register(key, portfolio_name=portfolio_name)

    @property
    def rest_url(self) -> str:
        """The base URL clients use, ``/v1`` included (Prime signs the path with it)."""
        return f"http://{self.host}:{self.port}{BASE}"
