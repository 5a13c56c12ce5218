"""Adapter ring: the REST transport seam and its aiohttp implementation.

:class:`Transport` is the only thing the REST client needs from the network:
``send(RestRequest) -> RestResponse``. Coinbase, the simulator over loopback,
or an in-process fake all fit behind it, so the executor never knows which it
talks to (httpx's transport seam, architecture-anchors §5).

:class:`AiohttpTransport` owns **one** ``aiohttp.ClientSession`` (a pooled
keep-alive connector: a fresh TLS handshake per order would cost more than the
order). It maps every network failure to botkit's typed errors at this one
boundary: timeouts → :class:`RequestTimeout`, resets and refusals →
:class:`ConnectionLost`, a certificate that does not verify →
:class:`ConfigError` (not retried: retrying cannot fix trust).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from pathlib import Path
from typing import Protocol, runtime_checkable

import aiohttp

from botkit import __version__
from botkit.errors import ConfigError, ConnectionLost, RequestTimeout
from botkit.net.rest_types import RestRequest, RestResponse

__all__ = ["USER_AGENT", "AiohttpTransport", "Transport", "ssl_context"]

USER_AGENT = f"botkit/{__version__}"


@runtime_checkable
class Transport(Protocol):
    """Sends one request attempt and returns the response, or raises a TransportError."""

    async def send(self, request: RestRequest) -> RestResponse: ...

    async def close(self) -> None: ...


def ssl_context(ca_file: str | Path | None = None) -> ssl.SSLContext:
    """A verifying TLS context: system CAs, or only ``ca_file`` (e.g. the simulator's cert).

    The system-CA context is built once per process and shared: each costs 17–37 ms and
    ~0.75 MB (loading the system store). A context is safe to share; nothing in botkit
    changes it after creation. Connections through aiohttp (the REST transport, the default
    WebSocket connector) do not use it: aiohttp builds the same verifying context when it
    is imported, and ``ssl=True`` uses that one, so a live bot loads the store once. A
    ``ca_file`` context is built each time, so a certificate regenerated at the same path
    (a restarted ``botkit sim --tls``) is read again.
    """
    if ca_file is not None:
        path = Path(ca_file)
        if not path.is_file():
            raise ConfigError(f"CA file {path} does not exist")
        return ssl.create_default_context(cafile=str(path))
    return _system_context()


@functools.cache
def _system_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class AiohttpTransport:
    """The production transport: one shared aiohttp session, verified TLS, timeouts.

    Args:
        connect_timeout: seconds to establish a connection (TCP + TLS).
        read_timeout: seconds to wait for the response (a longer wait means
            the outcome is unknown: :class:`RequestTimeout`).
        ca_file: trust only this CA bundle (the simulator's ``cert_path``);
            None uses the system store. Verification is never turned off.
        max_connections: connection pool size (requests beyond it queue).
        user_agent: the ``User-Agent`` header.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        ca_file: str | Path | None = None,
        max_connections: int = 64,
        user_agent: str = USER_AGENT,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=connect_timeout,
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )
        self._read_timeout = read_timeout
        # no CA file: True, aiohttp's own verifying context (``ssl.create_default_context()``,
        # built when aiohttp is imported), instead of a second copy of the system store
        self._ssl: ssl.SSLContext | bool = ssl_context(ca_file) if ca_file is not None else True
        self._max_connections = max_connections
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                ssl=self._ssl, limit=self._max_connections, enable_cleanup_closed=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"User-Agent": self._user_agent},
                trust_env=False,  # proxies/CA bundles from the environment must not change trust
                auto_decompress=True,
            )
        return self._session

    async def send(self, request: RestRequest) -> RestResponse:
        session = self._get_session()
        try:
            async with session.request(
                request.method,
                request.url,
                data=request.body or None,
                headers=dict(request.headers),
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                headers = {k.lower(): v for k, v in resp.headers.items()}
                return RestResponse(resp.status, body, headers)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise RequestTimeout(
                f"{request.method} {_path(request.url)}: no answer within {self._read_timeout:g}s"
            ) from exc
        except aiohttp.ClientConnectorCertificateError as exc:
            raise ConfigError(
                f"TLS certificate of {exc.host} did not verify ({exc.certificate_error}); "
                "for the simulator pass its certificate as the CA file"
            ) from exc
        except aiohttp.ClientError as exc:
            raise ConnectionLost(
                f"{request.method} {_path(request.url)}: {type(exc).__name__}: {exc}"
            ) from exc
        except asyncio.CancelledError:
            raise

    async def close(self) -> None:
        """Close the session and its pooled connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _path(url: str) -> str:
    """The URL without scheme and host, for messages (hosts are not secret, but noise)."""
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else url
