"""Simulator wiring: one aiohttp server on loopback with REST, both WebSockets and an admin API.

Usage in tests and in the bot's ``sim`` mode::

    async with SimServer(seed=7) as sim:
        key = sim.add_key("EdDSA")
        ... talk to sim.rest_url / sim.ws_market_url / sim.ws_user_url ...
        sim.faults.fail_next(401, count=2)          # scripted faults
        sim.ws_faults.drop_next()
        sim.set_trading_mode("BTC-USD", "cancel_only", "incident")   # restricted trading

Endpoints: REST under ``/api/v3/brokerage``; market WebSocket at ``/``; user
WebSocket at ``/user``; admin API under ``/_sim`` (token in ``X-Sim-Admin-Token``).

Rate limits: Coinbase's documented REST limits are on by default (30 requests/s per user
on private endpoints, 10/s per IP on public ones, with ``x-ratelimit-*`` headers and the
429 body; :mod:`botkit.sim.ratelimit`). ``SimServer(rate_limits=RateLimitConfig(enabled=
False))``, ``botkit sim --no-rate-limits`` or ``POST /_sim/rate_limits {"enabled": false}``
turn them off.

Time: the market advances with the true clock (``clock``), in fixed steps,
both on a timer and before every REST request. JWT checks and ``/time`` use
the *server* clock, which is the true clock plus the fault plan's
``clock_offset``, so a test can make the exchange's clock disagree with the
client's exactly as a drifting host clock would.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from botkit.auth.factory import generate_cdp_key
from botkit.auth.keys import CdpKey, secret_to_base64, secret_to_pem
from botkit.sim.auth import AuthConfig, AuthFailure, KeyRegistry
from botkit.sim.events import SimEvent
from botkit.sim.exchange import SimExchange, SimMarketConfig
from botkit.sim.faults import FaultPlan
from botkit.sim.ratelimit import RateLimitConfig, SimRateLimiter
from botkit.sim.rest import SimRest
from botkit.sim.tls import make_self_signed, server_context
from botkit.sim.ws import SimWsHub, WsAuthError, WsConfig, WsFaults

__all__ = ["SimServer"]

log = logging.getLogger("botkit.sim")

_WS_FAULT_ACTIONS = (
    "drop_next",
    "close_next",
    "stall",
    "skip_sequence",
    "duplicate_next",
    "malformed_next",
    "error_next",
    "oversize_snapshot",
)


class SimServer:
    """The local Coinbase Advanced Trade exchange, as an async context manager.

    Args:
        host: interface to bind (keep it on loopback).
        port: TCP port; 0 picks a free one.
        seed: market seed: same seed, same market.
        market: engine configuration (products, balances, fees...).
        tls: serve https/wss with a self-signed certificate (``cert_path``).
        leeway: JWT ``nbf``/``exp`` tolerance in seconds.
        admin_token: token for the ``/_sim`` admin API; random when None.
        tick_interval: how often the market advances and WebSocket events flow.
        ws_config: WebSocket timings and limits.
        clock: the true time source (tests may pass a virtual one); the rate limiter
            reads the server clock built on it, so a virtual clock drives it too.
        rate_limits: REST rate limits; default on at Coinbase's figures (30/s per user,
            10/s per IP). ``RateLimitConfig(enabled=False)`` turns them off.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        market: SimMarketConfig | None = None,
        tls: bool = False,
        leeway: float = 5.0,
        admin_token: str | None = None,
        tick_interval: float = 0.1,
        ws_config: WsConfig | None = None,
        clock: Callable[[], float] = time.time,
        rate_limits: RateLimitConfig | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.seed = seed
        self.tls = tls
        self.tick_interval = tick_interval
        self.admin_token = admin_token or secrets.token_urlsafe(18)
        self.clock = clock
        self.faults = FaultPlan()
        self.ws_faults = WsFaults()
        self.exchange = SimExchange(market or SimMarketConfig(), seed=seed, start_time=clock())
        self.exchange.add_user("default")
        self.registry = KeyRegistry(AuthConfig(host=f"{host}:{port}", leeway=leeway))
        self.hub = SimWsHub(
            self.exchange,
            config=ws_config or WsConfig(),
            now=self.now,
            verify_jwt=self._verify_ws,
            faults=self.ws_faults,
        )
        self.rest = SimRest(
            self.exchange,
            self.registry,
            self.faults,
            now=self.now,
            market_now=self.clock,
            on_change=self.publish,
            rate_limits=rate_limits,
        )
        self.listeners: list[Callable[[Sequence[SimEvent]], None]] = []
        """Also told every batch of engine events (the Exchange and Prime dialect servers'
        WebSockets, when they share this exchange: see :meth:`add_listener`)."""
        self.cert_path: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None

    # -- clocks and stepping ---------------------------------------------------------------

    def now(self) -> float:
        """The exchange's clock: true time plus the injected offset."""
        return self.clock() + self.faults.clock_offset

    def publish(self) -> None:
        """Send every pending engine event to WebSocket subscribers."""
        events = self.exchange.drain_events()
        if events:
            self.hub.publish(events)
            for listener in self.listeners:
                listener(events)

    def add_listener(self, listener: Callable[[Sequence[SimEvent]], None]) -> None:
        """Have ``listener`` told every batch of engine events this server publishes.

        Why: the engine's events are drained once (by :meth:`publish`); a dialect server
        sharing this exchange (:meth:`~botkit.sim.dialect_server.DialectServer.sharing`)
        registers its ``on_events`` here so its own WebSocket sees the same fills and book
        changes.
        """
        self.listeners.append(listener)

    def step(self, now: float | None = None) -> None:
        """Advance the market to ``now`` (default: the clock) and publish what happened."""
        self.exchange.advance(self.clock() if now is None else now)
        self.publish()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                self.step()
            except Exception:  # the supervisor of the tick loop: log, keep the exchange alive
                log.exception("sim: market step failed")

    # -- keys ------------------------------------------------------------------------------

    def add_key(
        self,
        kind: Literal["ES256", "EdDSA"] = "ES256",
        *,
        user_id: str = "default",
        can_view: bool = True,
        can_trade: bool = True,
        name: str | None = None,
    ) -> CdpKey:
        """Generate a key, register it (public half only), fund its user, and return it."""
        key = generate_cdp_key(kind, name)
        self.exchange.add_user(user_id)
        self.registry.register(key, user_id=user_id, can_view=can_view, can_trade=can_trade)
        return key

    def _verify_ws(self, token: str) -> str:
        try:
            return self.registry.verify_ws(token, self.now()).user_id
        except AuthFailure as exc:
            raise WsAuthError(str(exc)) from None

    @staticmethod
    def secret_of(key: CdpKey) -> str:
        """The key's secret in the form the CDP portal shows (PEM for EC, base64 for Ed25519)."""
        if key.algorithm == "ES256":
            return secret_to_pem(key.private_key)
        return secret_to_base64(key.private_key)  # type: ignore[arg-type]

    def env_text(self, key: CdpKey) -> str:
        """``.env`` lines that point botkit at this simulator with ``key``."""
        secret = self.secret_of(key).replace("\n", "\\n")
        return "\n".join(
            [
                f"BOTKIT_COINBASE__REST_URL={self.rest_url}",
                f"BOTKIT_COINBASE__WS_MARKET_URL={self.ws_market_url}",
                f"BOTKIT_COINBASE__WS_USER_URL={self.ws_user_url}",
                f'BOTKIT_COINBASE__API_KEY="{key.name}"',
                f'BOTKIT_COINBASE__API_SECRET="{secret}"',
                "",
            ]
        )

    # -- URLs ------------------------------------------------------------------------------

    @property
    def authority(self) -> str:
        """``host:port``: the SDK's ``base_url`` and the host in every JWT ``uri``."""
        return f"{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.authority}/api/v3/brokerage"

    @property
    def ws_market_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.authority}"

    @property
    def ws_user_url(self) -> str:
        return f"{self.ws_market_url}/user"

    # -- admin API -------------------------------------------------------------------------

    @web.middleware
    async def _admin_guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
            supplied = request.headers.get("X-Sim-Admin-Token", "")
            if not secrets.compare_digest(supplied, self.admin_token):
                return web.json_response({"error": "admin token missing or wrong"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def _admin_fault(self, request: web.Request) -> web.Response:
        try:
            fault = self.faults.add_from_json(await request.json())
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"armed": fault.kind, "count": fault.count})

    async def _admin_ws_fault(self, request: web.Request) -> web.Response:
        data = await request.json()
        action = data.pop("action", None)
        if action not in _WS_FAULT_ACTIONS:
            return web.json_response(
                {"error": f"action must be one of {_WS_FAULT_ACTIONS}"}, status=400
            )
        try:
            getattr(self.ws_faults, action)(**data)
        except (TypeError, ValueError) as exc:  # unknown argument, or a value out of range
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"armed": action})

    async def _admin_clock(self, request: web.Request) -> web.Response:
        data = await request.json()
        try:
            self.faults.clock_offset = float(data["offset"])
        except (KeyError, TypeError, ValueError):
            return web.json_response({"error": 'body must be {"offset": seconds}'}, status=400)
        return web.json_response({"clock_offset": self.faults.clock_offset})

    async def _admin_rate_limits(self, request: web.Request) -> web.Response:
        """Replace the rate-limit settings (fields of :class:`RateLimitConfig`); fresh buckets."""
        try:
            data = await request.json()
            config = RateLimitConfig(**data)
        except (ValueError, TypeError) as exc:
            return web.json_response(
                {"error": f"body must be RateLimitConfig fields as JSON: {exc}"}, status=400
            )
        self.set_rate_limits(config)
        return web.json_response({"rate_limits": dataclasses.asdict(config)})

    def set_rate_limits(self, config: RateLimitConfig) -> None:
        """Switch the REST rate limits (e.g. off for a benchmark); buckets start full."""
        self.rest.limiter = SimRateLimiter(config)

    async def _admin_trading_mode(self, request: web.Request) -> web.Response:
        """``{"product_id", "mode", "message"?}`` → the product's new trading mode (200), or
        400 ``{"error"}`` for a body that is not that, an unknown product or mode."""
        try:
            data = await request.json()
        except ValueError:
            data = None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("product_id"), str)
            or not isinstance(data.get("mode"), str)
        ):
            return web.json_response(
                {"error": 'body must be {"product_id": str, "mode": str, "message": str}'},
                status=400,
            )
        try:
            state = self.set_trading_mode(data["product_id"], data["mode"], data.get("message", ""))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"trading_mode": state})

    def set_trading_mode(self, product_id: str, mode: str, message: str = "") -> dict[str, Any]:
        """:meth:`SimExchange.set_trading_mode`, then publish: ``status`` channel subscribers
        hear the change now, not at the next market step."""
        state = self.exchange.set_trading_mode(product_id, mode, message)
        self.publish()
        return state

    async def _admin_clear(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response({"cleared": True})

    async def _admin_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "faults": [
                    {"kind": f.kind, "count": f.count, "path": f.path} for f in self.faults.faults
                ],
                "clock_offset": self.faults.clock_offset,
                "requests": self.rest.requests,
                "rate_limits": dataclasses.asdict(self.rest.limiter.config),
                "rate_limited": self.rest.limiter.rejected,
                "ws_connections": self.hub.connections,
                "last_auth_failure": self.registry.last_failure,
                "trading_modes": {
                    pid: {"mode": m["mode"], "message": m["message"]}
                    for pid, m in self.exchange.trading_modes().items()
                },
            }
        )

    # -- lifecycle -------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._admin_guard, self.rest.middleware])
        app.add_routes(self.rest.routes())
        app.add_routes(
            [
                web.get("/", self.hub.handle),
                web.get("/user", self.hub.handle),
                web.post("/_sim/faults", self._admin_fault),
                web.delete("/_sim/faults", self._admin_clear),
                web.post("/_sim/ws_faults", self._admin_ws_fault),
                web.post("/_sim/clock", self._admin_clock),
                web.get("/_sim/state", self._admin_state),
                web.post("/_sim/rate_limits", self._admin_rate_limits),
                web.post("/_sim/trading_mode", self._admin_trading_mode),
            ]
        )
        return app

    async def start(self) -> Self:
        ssl_ctx = None
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="botkit-sim-")
            self.cert_path, key_path = make_self_signed(Path(self._tmp.name), self.host)
            ssl_ctx = server_context(self.cert_path, key_path)
        self._runner = web.AppRunner(self.make_app(), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=ssl_ctx)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])
        self.registry.config.host = self.authority
        if self.tick_interval > 0:
            self._ticker = asyncio.create_task(self._tick(), name="botkit-sim-tick")
        log.info("sim: listening on %s", self.rest_url)
        return self

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.hub.close()
        if self._runner is not None:
            _abort_connections(self._runner)
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _abort_connections(runner: web.AppRunner) -> None:
    """Drop every open client connection at once when the simulator stops.

    A TLS connection closed politely waits for the peer's close_notify (asyncio's SSL
    shutdown, up to 30 s); a simulator that stops and whose event loop then ends left that
    socket open (a ResourceWarning when it was collected, e.g. after a client that already
    hung up). Stopping is the end of the exchange: nothing more is owed to its clients.
    """
    server = runner.server
    if server is None:
        return
    for handler in list(server.connections):
        transport = handler.transport
        if transport is not None:
            transport.abort()
