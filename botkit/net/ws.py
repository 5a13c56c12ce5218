"""Adapter ring: the WebSocket transport seam and its two implementations.

The feed talks to a :class:`WsConnector` / :class:`WsConnection` pair and nothing
else, so the transport is swappable (aiohttp, ``websockets``, a test double) and
both implementations run the same test-suite. aiohttp is the default because it
receives ~2-4x faster on loopback (docs/benchmarks.md).

Contract: ``recv()`` returns the next text (or binary) payload — text as ``str``, or as
its UTF-8 ``bytes`` with ``text_as_bytes`` — or ``None`` once the connection is closed,
with ``close_code`` then set (1006 when no close frame came). Connecting failures
raise :class:`~botkit.errors.ConnectionLost`. TLS is verified (system trust store,
or ``ca_file`` for the simulator's self-signed certificate).
"""

from __future__ import annotations

import ssl
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, overload

import aiohttp

from botkit.errors import ConnectionLost
from botkit.net.transport import ssl_context

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

__all__ = [
    "AiohttpConnector",
    "WebsocketsConnector",
    "WsConnection",
    "WsConnector",
    "make_connector",
    "tls_context",
]


class WsConnection(Protocol):
    """One open WebSocket."""

    @property
    def close_code(self) -> int | None:
        """The close code once closed, else None; read-only, so wrappers may delegate it."""
        ...

    async def send(self, text: str) -> None:
        """Send one text frame (raises ConnectionLost when the socket is gone)."""
        ...

    async def recv(self) -> str | bytes | None:
        """The next message payload, or None when closed."""
        ...

    async def close(self, code: int = 1000) -> None:
        """Close (idempotent, bounded)."""
        ...


class WsConnector(Protocol):
    """Opens connections; owns shared resources such as an HTTP session."""

    async def connect(
        self, url: str, *, max_size: int, ssl_ctx: ssl.SSLContext | None
    ) -> WsConnection:
        """Open a WebSocket to ``url`` accepting messages up to ``max_size`` bytes.

        ``ssl_ctx`` None: verify against the system's CAs (see :func:`tls_context`).
        """
        ...

    async def aclose(self) -> None:
        """Release shared resources."""
        ...


@overload
def tls_context(ca_file: Path) -> ssl.SSLContext: ...


@overload
def tls_context(ca_file: None = None) -> None: ...


@overload
def tls_context(ca_file: Path | None) -> ssl.SSLContext | None: ...


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext | None:
    """A verifying TLS context (certificate and hostname) trusting only ``ca_file``, or
    None: the system's CAs, verified (a connector uses its library's default verifying
    context: aiohttp's is built at its import, so no second copy of the system store).

    Unlike the official SDK (a bare ``ssl.SSLContext()``, i.e. no verification, §5.3),
    botkit never turns verification off; trust the simulator's certificate instead.
    """
    return ssl_context(ca_file) if ca_file is not None else None


# -- aiohttp -----------------------------------------------------------------------------------

# Module constants: ``aiohttp.WSMsgType.TEXT`` is three lookups, ~90 ns per frame.
_TEXT, _BINARY, _CLOSE = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.CLOSE


class _AiohttpConnection:
    """One aiohttp WebSocket; :meth:`recv` takes buffered data frames straight from its queue.

    aiohttp's parser (compiled) reads every frame of a socket read into the response's
    message queue at once; ``ClientWebSocketResponse.receive()`` then hands them out one
    per call through two more coroutine levels and its state bookkeeping, ~0.4 us per
    frame, a tenth of the feed's whole per-frame cost. When the next queued message is a
    text or binary frame and the socket is neither closing nor closed, :meth:`recv` awaits
    the queue's own ``read()`` instead (it returns at once, with the queue's size
    accounting and flow control); everything else (an empty queue, ping, pong, close,
    an error, a closing socket) goes through ``receive()`` unchanged, so every protocol
    rule stays aiohttp's. Those are aiohttp internals: the fast path is used only when
    they have the expected shape (checked here, and by tests/net/test_ws.py against the
    installed aiohttp), and drops back to ``receive()`` for good if they ever surprise it.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse[bool]) -> None:
        self._ws = ws
        self.close_code: int | None = None
        self._queue: Any = ()  # the response's queued (message, size) pairs; () = no fast path
        self._read: Any = None
        reader = getattr(ws, "_reader", None)
        buf = getattr(reader, "_buffer", None)
        read = getattr(reader, "read", None)
        if (
            isinstance(buf, deque)
            and callable(read)
            and type(getattr(ws, "_closing", None)) is bool
            and type(getattr(ws, "_closed", None)) is bool
        ):
            self._queue, self._read = buf, read

    @property
    def fast_path(self) -> bool:
        """True while :meth:`recv` reads queued data frames without ``receive()``."""
        return self._read is not None

    async def send(self, text: str) -> None:
        try:
            await self._ws.send_str(text)
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
            raise ConnectionLost(f"WebSocket send failed: {exc}") from exc

    async def recv(self) -> str | bytes | None:
        queue = self._queue
        if queue:
            ws = self._ws
            try:
                t = queue[0][0].type
            except (AttributeError, IndexError, KeyError, TypeError):  # not the known shape
                self._queue, self._read = (), None
            else:
                if (t is _TEXT or t is _BINARY) and not ws._closing and not ws._closed:
                    fast: str | bytes = (await self._read()).data
                    return fast
        msg = await self._ws.receive()
        t = msg.type
        if t is _TEXT or t is _BINARY:
            data: str | bytes = msg.data
            return data
        code = self._ws.close_code
        if t is _CLOSE and isinstance(msg.data, int):
            code = msg.data
        self.close_code = code if code is not None else 1006
        if not self._ws.closed:
            await self._ws.close()
        return None

    async def close(self, code: int = 1000) -> None:
        if self.close_code is None:
            self.close_code = code
        await self._ws.close(code=code)


class AiohttpConnector:
    """aiohttp's client WebSocket: one shared session, WS pings for transport keepalive.

    Args:
        ping_interval: seconds between WebSocket pings (connection closed if no pong).
        text_as_bytes: return text frames as their UTF-8 bytes, undecoded. The feed's
            msgspec decoder reads bytes directly, so decoding to ``str`` first is a
            wasted copy (~3 MB for a BTC-USD snapshot) and ~0.1 us per frame. Binary
            frames then look the same; Coinbase sends none, and the feed asks for
            this only when it is not recording frames.
    """

    def __init__(self, *, ping_interval: float = 20.0, text_as_bytes: bool = False) -> None:
        self.ping_interval = ping_interval
        self.text_as_bytes = text_as_bytes
        self._session: aiohttp.ClientSession | None = None

    async def connect(
        self, url: str, *, max_size: int, ssl_ctx: ssl.SSLContext | None
    ) -> WsConnection:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            ws = await self._session.ws_connect(
                url,
                max_msg_size=max_size,
                heartbeat=self.ping_interval,
                ssl=ssl_ctx if (ssl_ctx is not None and url.startswith("wss")) else True,
                autoping=True,
                decode_text=not self.text_as_bytes,
            )
        except (aiohttp.ClientError, OSError) as exc:
            raise ConnectionLost(f"cannot open WebSocket {url}: {exc}") from exc
        return _AiohttpConnection(ws)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# -- websockets --------------------------------------------------------------------------------


class _WebsocketsConnection:
    def __init__(self, ws: ClientConnection, text_as_bytes: bool) -> None:
        from websockets.exceptions import ConnectionClosed

        self._closed: type[ConnectionClosed] = ConnectionClosed
        self._ws = ws
        self._decode = False if text_as_bytes else None
        self.close_code: int | None = None

    async def send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except self._closed as exc:
            raise ConnectionLost(f"WebSocket send failed: {exc}") from exc

    async def recv(self) -> str | bytes | None:
        try:
            return await self._ws.recv(self._decode)
        except self._closed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd is not None else 1006
            return None

    async def close(self, code: int = 1000) -> None:
        if self.close_code is None:
            self.close_code = code
        await self._ws.close(code=code)


class WebsocketsConnector:
    """The ``websockets`` asyncio client (``websockets.asyncio.client``; 13.x and later).

    ``websockets`` is imported on first use: the default connector is aiohttp's, and
    a bot on a Raspberry Pi should not pay for a library it does not use.

    Args:
        ping_interval: seconds between WebSocket pings; ``ping_timeout`` is the same.
        text_as_bytes: as for :class:`AiohttpConnector`.
    """

    def __init__(self, *, ping_interval: float = 20.0, text_as_bytes: bool = False) -> None:
        self.ping_interval = ping_interval
        self.text_as_bytes = text_as_bytes

    async def connect(
        self, url: str, *, max_size: int, ssl_ctx: ssl.SSLContext | None
    ) -> WsConnection:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidURI

        try:
            ws = await connect(
                url,
                max_size=max_size,
                ssl=(ssl_ctx or ssl_context()) if url.startswith("wss") else None,
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_interval,
                compression=None,
                max_queue=1024,
                open_timeout=10,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise ConnectionLost(f"cannot open WebSocket {url}: {exc}") from exc
        return _WebsocketsConnection(ws, self.text_as_bytes)

    async def aclose(self) -> None:
        return None


def make_connector(
    name: str = "aiohttp", *, ping_interval: float = 20.0, text_as_bytes: bool = False
) -> WsConnector:
    """``"aiohttp"`` (default, faster) or ``"websockets"``."""
    if name == "aiohttp":
        return AiohttpConnector(ping_interval=ping_interval, text_as_bytes=text_as_bytes)
    if name == "websockets":
        return WebsocketsConnector(ping_interval=ping_interval, text_as_bytes=text_as_bytes)
    raise ValueError(f"unknown WebSocket connector {name!r}: use 'aiohttp' or 'websockets'")
