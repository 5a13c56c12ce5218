"""The bot's embedded HTTP server: metrics, health, status page, JSON status and control.

Off by default; on with ``[http] listen = "127.0.0.1:9108"``, ``BOTKIT_HTTP__LISTEN``
or ``botkit run --http ADDR``. It runs under the bot's supervisor (a crash restarts it).

======================================  =============================================
``GET /healthz``                        200 while the process serves (liveness)
``GET /readyz``                         200 when the health model says ready, else 503
                                        with the reasons (JSON)
``GET /metrics``                        Prometheus text format (prometheus-client)
``GET /``                               the status page (HTML, auto-refresh)
``GET /api/status``                     the same as JSON
``POST /api/pause`` ``/api/resume``     no new orders / orders again
``POST /api/cancel-all``                cancel the strategy's open orders (not exits')
``POST /api/kill-switch/trip``          trip the kill switch (``{"reason": ...}``)
``POST /api/kill-switch/reset``         reset it
======================================  =============================================

Security: every ``POST`` needs ``Authorization: Bearer <token>`` (401 without, 403 with
a wrong one; compared in constant time). On a non-loopback address the server refuses
to start without a configured token, and then the reads other than ``/healthz`` and
``/readyz`` need the token too (``Authorization`` header, or ``?token=`` for a browser),
since positions and orders are nobody else's business. On loopback with no configured
token, a random one is generated per run and written to the data directory
(``control.token``, mode 600), where ``botkit ctl`` finds it.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from botkit.errors import ConfigError
from botkit.monitor.metrics import CONTENT_TYPE, BotMetrics
from botkit.monitor.snapshot import BotControl, BotSnapshot
from botkit.monitor.status_page import render_status_page

__all__ = ["CONTROL_TOKEN_FILE", "HttpServer", "control_token", "is_loopback", "parse_listen"]

CONTROL_TOKEN_FILE = "control.token"
"""Per-run control token (mode 600) when the server has no configured one."""

log = logging.getLogger("botkit.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_listen(listen: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[::1]:9108"`` for IPv6) → (host, port).

    Raises:
        ConfigError: not of that form, or the port is out of range.
    """
    host, sep, port_text = listen.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(
            f"http listen address {listen!r} is not HOST:PORT: use e.g. 127.0.0.1:9108 "
            "(or [::1]:9108; port 0 picks a free one)"
        )
    return host, int(port_text)


def control_token(configured: str | None, listen: str, data_dir: Path) -> str:
    """The control token: the configured one, or on loopback a fresh one for this run.

    The fresh token is written to ``data_dir/control.token`` with mode 600 (created
    exclusively, so no other user can have pre-created it to read it), for
    ``botkit ctl``; only its path is logged. Off loopback with no configured token,
    returns "" and :class:`HttpServer` refuses to start.
    """
    if configured:
        return configured
    if not is_loopback(parse_listen(listen)[0]):
        return ""
    # hex: a url-safe token may start with "-", which `botkit ctl --token X` reads as an
    # option (a CI run: one in 64 runs failed so)
    token = secrets.token_hex(24)
    path = data_dir / CONTROL_TOKEN_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    log.info("http: control token for this run written to %s", path)
    return token


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: treat as exposed


class HttpServer:
    """Serves one bot.

    Args:
        listen: ``HOST:PORT``.
        token: the bearer token for control (and for reads off loopback).
        snapshot: takes a fresh :class:`BotSnapshot` of the bot.
        control: what the control endpoints call.
        metrics: the bot's metrics registry.
        refresh: the status page's reload period in seconds.
        on_serve: called when :meth:`serve` starts and when it ends (e.g. to attach and
            detach the recent-warnings log handler).

    Raises:
        ConfigError: a bad address, or a non-loopback address without a token.
    """

    def __init__(
        self,
        listen: str,
        *,
        token: str | None,
        snapshot: Callable[[], BotSnapshot],
        control: BotControl,
        metrics: BotMetrics,
        refresh: int = 5,
        on_serve: tuple[Callable[[], None], Callable[[], None]] | None = None,
    ) -> None:
        self.host, self.port = parse_listen(listen)
        self.loopback = is_loopback(self.host)
        if not self.loopback and not token:
            raise ConfigError(
                f"refusing to serve HTTP on {self.host} (not loopback) without a token: set "
                "[http] token or BOTKIT_HTTP__TOKEN to a long random string (e.g. "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`), or listen "
                "on 127.0.0.1 and reach it through an SSH tunnel"
            )
        self._token = (token or "").encode()
        self._snapshot = snapshot
        self._control = control
        self._metrics = metrics
        self._refresh = refresh
        self._on_serve = on_serve
        self._runner: web.AppRunner | None = None
        self.bound: tuple[str, int] | None = None
        """The address actually bound (port 0 resolved), once started."""

    # -- lifecycle ----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        read = self._read_guard
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", read(self._metrics_view))
        app.router.add_get("/", read(self._page))
        app.router.add_get("/api/status", read(self._status))
        for name, view in (
            ("pause", self._pause),
            ("resume", self._resume),
            ("cancel-all", self._cancel_all),
            ("kill-switch/trip", self._trip),
            ("kill-switch/reset", self._reset),
        ):
            app.router.add_post(f"/api/{name}", self._write_guard(view))
        return app

    async def start(self) -> None:
        """Bind and serve (returns once listening).

        Raises:
            ConfigError: the address cannot be bound (in use, not local...).
        """
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"cannot listen on {self.host}:{self.port} for HTTP ({exc.strerror or exc}): "
                "pick another [http] listen address or stop what uses it"
            ) from None
        self._runner = runner
        server = site._server  # aiohttp exposes the bound sockets only here
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            addr = sockets[0].getsockname()
            self.bound = (str(addr[0]), int(addr[1]))
        log.info("http: serving on http://%s:%d/", self.host, self.bound[1] if self.bound else 0)

    async def serve(self) -> None:
        """The supervised ``http`` component: serve until cancelled (a restart binds again)."""
        if self._runner is None:
            await self.start()
        if self._on_serve is not None:
            self._on_serve[0]()
        try:
            await asyncio.Event().wait()
        finally:
            if self._on_serve is not None:
                self._on_serve[1]()
            await self.stop()

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @property
    def url(self) -> str:
        host, port = self.bound or (self.host, self.port)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    # -- auth -----------------------------------------------------------------------------------

    def _token_ok(self, request: web.Request, *, allow_query: bool) -> bool | None:
        """None: no token given; else whether it matches (constant time)."""
        header = request.headers.get("Authorization", "")
        given: str | None = None
        if header.startswith("Bearer "):
            given = header[7:].strip()
        elif allow_query and "token" in request.query:
            given = request.query["token"]
        if not given:
            return None
        return bool(self._token) and hmac.compare_digest(given.encode(), self._token)

    def _write_guard(self, view: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            ok = self._token_ok(request, allow_query=False)
            if ok is None:
                return _json({"error": "missing Authorization: Bearer <token>"}, 401)
            if not ok:
                return _json({"error": "wrong token"}, 403)
            return await view(request)

        return guarded

    def _read_guard(self, view: Handler) -> Handler:
        if self.loopback:
            return view

        async def guarded(request: web.Request) -> web.StreamResponse:
            ok = self._token_ok(request, allow_query=True)
            if ok is None:
                return _json({"error": "missing token (Authorization: Bearer or ?token=)"}, 401)
            if not ok:
                return _json({"error": "wrong token"}, 403)
            return await view(request)

        return guarded

    @staticmethod
    def _who(request: web.Request) -> str:
        return f"http {request.remote or '?'}"

    # -- views ----------------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.StreamResponse:
        health = self._snapshot().health
        return _json(health.to_dict(), 200 if health.ready else 503)

    async def _metrics_view(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def _page(self, request: web.Request) -> web.StreamResponse:
        html = render_status_page(self._snapshot(), refresh=self._refresh)
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def _status(self, request: web.Request) -> web.StreamResponse:
        return _json(self._snapshot().to_json())

    async def _pause(self, request: web.Request) -> web.StreamResponse:
        return _json({"changed": await self._control.pause(self._who(request)), "paused": True})

    async def _resume(self, request: web.Request) -> web.StreamResponse:
        changed = await self._control.resume(self._who(request))
        return _json({"changed": changed, "paused": False})

    async def _cancel_all(self, request: web.Request) -> web.StreamResponse:
        result = await self._control.cancel_all(self._who(request))
        return _json(result._asdict())

    async def _trip(self, request: web.Request) -> web.StreamResponse:
        reason = "tripped by the operator"
        if request.can_read_body:
            try:
                body = await request.json()
            except (ValueError, UnicodeDecodeError):
                return _json({"error": 'body must be JSON, e.g. {"reason": "..."}'}, 400)
            if isinstance(body, dict) and isinstance(body.get("reason"), str):
                reason = body["reason"][:200]
        changed = await self._control.trip_kill_switch(self._who(request), reason)
        return _json({"changed": changed, "kill_switch": True})

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        changed = await self._control.reset_kill_switch(self._who(request))
        return _json({"changed": changed, "kill_switch": False})


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(doc, default=str), status=status, content_type="application/json"
    )
