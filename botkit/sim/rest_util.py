"""Simulator: the REST router's answer type and small pure helpers it shares with its adapters.

:class:`ApiResponse` (re-exported by :mod:`botkit.sim.api`, its public home), key
scopes, query-string access, Coinbase's 4xx error body, price levels and timestamps.
No aiohttp here: :mod:`botkit.sim.api` (the router, also used in-process by
:class:`botkit.net.local.LocalTransport`) must not depend on the HTTP stack.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from botkit.sim.exchange import SimBadRequest

__all__ = [
    "ApiResponse",
    "CursorCodec",
    "FullScope",
    "KeyScope",
    "error_body",
    "iso",
    "levels",
    "match_path",
    "query_first",
    "query_bool",
    "query_int",
]


_JSON = "application/json; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """One answer of the router.

    Attributes:
        status: HTTP status.
        body: a JSON-able value, or a ``str`` for a plain-text answer (no route
            answers a bare JSON string, so the type alone decides the encoding).
        headers: extra headers (``Allow`` on 405); ``Content-Type`` is
            :attr:`content_type`.
    """

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_text(self) -> bool:
        return isinstance(self.body, str)

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` aiohttp's ``json_response`` / ``Response(text=)`` would send."""
        return _TEXT if self.is_text else _JSON

    def body_bytes(self) -> bytes:
        """The body exactly as the HTTP server sends it (``json.dumps`` defaults, UTF-8)."""
        text = self.body if isinstance(self.body, str) else json.dumps(self.body)
        return text.encode("utf-8")


class KeyScope(Protocol):
    """What ``/key_permissions`` reports; :class:`botkit.sim.auth.RegisteredKey` fits."""

    @property
    def can_view(self) -> bool: ...

    @property
    def can_trade(self) -> bool: ...

    @property
    def can_transfer(self) -> bool: ...

    @property
    def portfolio_uuid(self) -> str: ...


@dataclass(frozen=True, slots=True)
class FullScope:
    """The scope of an in-process caller: view and trade (a paper key has no remote owner)."""

    can_view: bool = True
    can_trade: bool = True
    can_transfer: bool = False
    portfolio_uuid: str = ""


def error_body(error: str, details: str) -> dict[str, Any]:
    """Coinbase's 4xx error object (reference §2.1): ``{error, error_details, message}``."""
    return {"error": error, "error_details": details, "message": details}


def query_first(query: Mapping[str, Sequence[str]], name: str) -> str | None:
    """The first value of a (possibly repeated) query key, as ``MultiDict.get`` gives it."""
    values = query.get(name)
    return values[0] if values else None


def query_int(
    query: Mapping[str, Sequence[str]],
    name: str,
    default: int,
    *,
    lo: int = 0,
    hi: int = 10**13,
) -> int:
    """An integer query parameter; absent or empty → ``default``; malformed → 400.

    Raises:
        SimBadRequest: not an integer, or outside ``[lo, hi]``.
    """
    raw = query_first(query, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SimBadRequest(f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise SimBadRequest(f"{name} must be between {lo} and {hi}")
    return value


_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def query_bool(query: Mapping[str, Sequence[str]], name: str) -> bool | None:
    """A boolean query parameter (Go's ``strconv.ParseBool`` spellings); absent → None.

    Raises:
        SimBadRequest: any other spelling.
    """
    raw = query_first(query, name)
    if raw is None or raw == "":
        return None
    if raw in _TRUE or raw in _FALSE:
        return raw in _TRUE
    raise SimBadRequest(f"{name} must be true or false, got {raw!r}")


class CursorCodec:
    """Opaque, signed page cursors (Coinbase's are opaque strings, reference §2.10).

    A cursor carries the offset of the next page, hidden (XOR with a keyed stream) and
    signed (HMAC-SHA256, truncated) over the request's *scope*: the route, the caller and
    every filter except ``limit`` and ``cursor``. A client can neither parse it as a number
    nor reuse it on another route, for another user or with other filters: each of those,
    and any edit to the token, is Coinbase's 400 ``INVALID_ARGUMENT``. The key is a function
    of the exchange's seed, so twin simulators issue the same cursors.
    """

    _MAC = 12

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mask(self, scope: bytes) -> int:
        stream = hmac.new(self._secret, b"mask\0" + scope, hashlib.sha256).digest()
        return int.from_bytes(stream[:8], "big")

    def _mac(self, scope: bytes, payload: bytes) -> bytes:
        return hmac.new(self._secret, scope + b"\0" + payload, hashlib.sha256).digest()[: self._MAC]

    def encode(self, scope: bytes, offset: int) -> str:
        """The cursor for ``offset`` in ``scope`` (URL-safe base64, no padding)."""
        payload = (offset ^ self._mask(scope)).to_bytes(8, "big")
        token = payload + self._mac(scope, payload)
        return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")

    def decode(self, scope: bytes, cursor: str) -> int:
        """The offset a cursor of this ``scope`` carries.

        Raises:
            SimBadRequest: not a cursor this simulator issued for this scope.
        """
        try:
            token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (ValueError, TypeError):
            token = b""
        payload, mac = token[:8], token[8:]
        if len(token) != 8 + self._MAC or not hmac.compare_digest(mac, self._mac(scope, payload)):
            raise SimBadRequest(
                "cursor is not valid for this request: pass back the cursor of the previous "
                "page unchanged, with the same filters"
            )
        return int.from_bytes(payload, "big") ^ self._mask(scope)


def levels(rows: list[tuple[Decimal, Decimal]]) -> list[dict[str, str]]:
    """Book levels as Coinbase's ``[{price, size}]`` with decimal strings."""
    return [{"price": str(p), "size": str(s)} for p, s in rows]


def iso(now: float) -> str:
    """RFC 3339 with microseconds and ``Z``, the timestamp form of REST bodies."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def match_path(template: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    """The ``{name}`` segments of a path that fits ``template``, or None when it does not.

    One matcher for every dialect's router (Advanced Trade, Exchange, Prime): a template
    segment in braces matches any non-empty segment; the others must be equal.
    """
    if len(template) != len(segments):
        return None
    params: dict[str, str] = {}
    for want, got in zip(template, segments, strict=True):
        if want.startswith("{"):
            if not got:
                return None
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params
