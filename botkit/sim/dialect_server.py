"""Simulator adapter: a loopback HTTP server for one extra REST dialect (Exchange, Prime).

Why a base: the Coinbase Exchange and Prime dialect servers differ only in their router,
their HTTP edge, their WebSocket feed and their credentials; how they own or share a
:class:`~botkit.sim.exchange.SimExchange`, advance it, shift their clock with the fault
plan, serve REST and the feed (``/ws``) on loopback and shut down is the same, and lives
here once. Each subclass builds ``self.dialect``, ``self.rest`` (an edge with ``routes()``)
and ``self.ws`` (the feed) after calling ``super().__init__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from aiohttp import web

from botkit.sim.events import SimEvent
from botkit.sim.exchange import SimExchange, SimMarketConfig
from botkit.sim.faults import FaultPlan

if TYPE_CHECKING:
    from botkit.sim.server import SimServer

__all__ = ["DialectServer", "new_uuid"]

log = logging.getLogger("botkit.sim")


class _Edge(Protocol):
    def routes(self) -> list[web.RouteDef]: ...


class _Hub(Protocol):
    """The dialect's WebSocket feed, served at ``/ws`` on the REST port."""

    def publish(self, events: Sequence[SimEvent]) -> None: ...

    async def handle(self, request: web.Request) -> web.WebSocketResponse: ...

    async def close(self) -> None: ...


class DialectServer:
    """Lifecycle of a dialect server; see the subclasses for their arguments."""

    name = "dialect"
    """For logs and task names (``"exchange"``, ``"prime"``)."""
    rest: _Edge
    ws: _Hub

    def __init__(
        self,
        *,
        exchange: SimExchange | None,
        host: str,
        port: int,
        seed: int,
        market: SimMarketConfig | None,
        clock: Callable[[], float] = time.time,
        tick_interval: float,
    ) -> None:
        self.host = host
        self.port = port
        self.clock = clock
        self.own_exchange = exchange is None
        self.exchange = exchange or SimExchange(
            market or SimMarketConfig(), seed=seed, start_time=clock()
        )
        self.tick_interval = tick_interval if self.own_exchange else 0.0
        self.faults = FaultPlan()
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None

    @classmethod
    def sharing(cls, sim: SimServer, **kwargs: Any) -> Self:
        """This dialect on ``sim``'s market, as ``botkit run --venue`` and ``botkit sim
        --venue`` serve it: the same exchange (orders placed here trade with ``sim``'s),
        ``sim`` publishing after each request here, and this dialect's WebSocket fed from
        ``sim``'s engine events. ``kwargs``: the subclass's other arguments (``port``...)."""
        server = cls(
            **{"exchange": sim.exchange, "on_change": sim.publish, "host": sim.host, **kwargs}
        )
        sim.add_listener(server.on_events)
        return server

    def _drop_events(self) -> None:
        """Drain an own exchange's events and hand them to :meth:`on_events`."""
        events = self.exchange.drain_events()
        if events:
            self.on_events(events)

    def on_events(self, events: Sequence[SimEvent]) -> None:
        """One batch of engine events: this dialect's WebSocket feed publishes them.

        On a shared exchange the owner drains the events: register this method with
        :meth:`botkit.sim.server.SimServer.add_listener` (:meth:`sharing` does).
        """
        self.ws.publish(events)

    def step(self, now: float | None = None) -> None:
        """Advance the market to ``now`` (default: the clock) and publish what happened
        (tests that move the market by hand run with ``tick_interval=0``)."""
        self.exchange.advance(self.clock() if now is None else now)
        self._drop_events()

    def set_trading_mode(self, product_id: str, mode: str, message: str = "") -> dict[str, Any]:
        """:meth:`SimExchange.set_trading_mode`; on an own exchange this dialect's ``status``
        subscribers hear it now (on a shared one, with the owner's next publish).

        Raises:
            ValueError: an unknown product or mode.
        """
        state = self.exchange.set_trading_mode(product_id, mode, message)
        if self.own_exchange:
            self._drop_events()
        return state

    @property
    def ws_url(self) -> str:
        """The dialect's WebSocket feed: ``/ws`` on the REST port."""
        return f"ws://{self.host}:{self.port}/ws"

    def now(self) -> float:
        """The server clock: true time plus the fault plan's offset."""
        return self.clock() + self.faults.clock_offset

    @property
    def rest_url(self) -> str:
        """The base URL clients use."""
        return f"http://{self.host}:{self.port}"

    def make_app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.get("/ws", self.ws.handle)])  # before the REST catch-all
        app.add_routes(self.rest.routes())
        return app

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                self.exchange.advance(self.clock())
                self._drop_events()
            except Exception:  # the tick loop's supervisor: log, keep the exchange alive
                log.exception("sim %s: market step failed", self.name)

    async def start(self) -> Self:
        self._runner = web.AppRunner(self.make_app(), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])
        if self.tick_interval > 0:
            self._ticker = asyncio.create_task(self._tick(), name=f"botkit-sim-{self.name}-tick")
        log.info("sim %s: listening on %s", self.name, self.rest_url)
        return self

    async def stop(self) -> None:
        await self.ws.close()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def new_uuid() -> str:
    """A random version-4 UUID string (profile, portfolio, entity ids)."""
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:]}"
