"""Core ring: the value types that cross the transport seam, and query encoding.

An :class:`ApiCall` is what the client *means* (``GET /accounts``, private,
idempotent). A :class:`RestRequest` is one signed attempt of it on the wire;
the client builds a new one per attempt because every attempt carries fresh
auth headers. A :class:`RestResponse` is whatever came back. The transport
(``botkit.net.transport``) turns a request into a response and knows nothing
about Coinbase; the executor knows nothing about sockets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode

__all__ = ["ApiCall", "QueryValue", "RestRequest", "RestResponse", "encode_query", "retry_after"]

QueryValue = str | int | bool | Iterable[str] | None


def encode_query(params: Mapping[str, QueryValue]) -> tuple[tuple[str, str], ...]:
    """Flatten query parameters the way Coinbase expects them (reference §2.1).

    Lists become repeated keys (``product_ids=A&product_ids=B``), ``None`` is
    dropped and booleans are lower case. Order is preserved so a request is
    reproducible byte for byte.
    """
    out: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append((name, "true" if value else "false"))
        elif isinstance(value, str | int):
            out.append((name, str(value)))
        else:
            out.extend((name, str(v)) for v in value)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One logical REST call, before signing.

    Attributes:
        method: HTTP method.
        path: path under the REST base URL, e.g. ``/orders/historical/batch``.
        query: encoded query pairs (see :func:`encode_query`).
        body: the exact body bytes; serialised once so every attempt (and the
            HMAC signature) uses the same bytes.
        private: needs a signature; also selects the private rate-limit bucket.
        idempotent: safe to repeat when the outcome of an attempt is unknown
            (timeout, reset, 5xx). Create-order is idempotent only because it
            always carries the same ``client_order_id`` (reference §2.5).
        client_order_id: logged with every retry of a create-order.
        answers: errors that are an answer of this call, not its failure (a cancel's
            "already done" after a retry whose first attempt was lost: the first one
            cancelled it); raised as ever, not logged as giving up.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    private: bool = True
    idempotent: bool = True
    client_order_id: str | None = None
    answers: tuple[type[Exception], ...] = ()

    def url(self, base: str) -> str:
        """The full URL under ``base`` (query included; the JWT ``uri`` strips it)."""
        qs = urlencode(self.query)
        return f"{base}{self.path}" + (f"?{qs}" if qs else "")

    @property
    def label(self) -> str:
        """``METHOD /path``, for logs."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class RestRequest:
    """One attempt on the wire: fully built, signed, ready to send."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class RestResponse:
    """What came back. ``headers`` keys are lower case."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` header (seconds or an HTTP date).

    None when absent or unreadable. Every venue's error map reads it the same way (RFC 9110,
    section 10.2.3); a venue adds its own rate-limit headers on top.
    """
    value = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            return None
