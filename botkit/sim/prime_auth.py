"""Simulator, Coinbase Prime dialect: API keys and HMAC request verification (pure).

Prime signs REST requests with four headers (reference exchange-prime-api.md §2.A):
``X-CB-ACCESS-KEY``, ``X-CB-ACCESS-PASSPHRASE``, ``X-CB-ACCESS-SIGNATURE`` and
``X-CB-ACCESS-TIMESTAMP``, matched case-insensitively (the docs' own sample writes
``X-CB-ACCESS-timestamp``). The signature is base64(HMAC-SHA256(key, prehash)) where

* ``key`` is the signing key's **raw UTF-8 bytes** (not base64-decoded, unlike Exchange),
* ``prehash = timestamp + METHOD + path + body``, ``path`` including ``/v1`` and
  **excluding** the query string, ``body`` the exact bytes received ("" when none),
* ``timestamp`` is **integer** Unix seconds ("Decimal values are not allowed") within
  30 s of the server's clock.

Why a separate, hand-written verifier: it must not share code with botkit's signer
(:class:`botkit.auth.hmac_sign.PrimeHmacSigner`), or a bug in one would hide itself by
agreeing with its twin. The official prime-sdk-py is the independent check of both.

What Prime answers to a bad signature, passphrase or timestamp is **not documented**
(reference §2.A and §E.9). Each refusal is therefore a :class:`Refusal` in
:class:`PrimeRefusals`, with the simulator's default status, ``code`` and ``message``
(401 ``UNAUTHENTICATED`` for authentication, 403 ``PERMISSION_DENIED`` for permissions),
and a test or an operator can change any of them. Bodies have Prime's documented error
shape ``{code, message, subcode, trace_id}``. Nothing here reads a clock: the caller
passes the server's ``now``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PRIME_HEADERS",
    "PrimeAuthFailure",
    "PrimeKey",
    "PrimeRefusals",
    "Refusal",
    "error_body",
    "expected_signature",
    "verify_request",
]

PRIME_HEADERS = (
    "x-cb-access-key",
    "x-cb-access-passphrase",
    "x-cb-access-signature",
    "x-cb-access-timestamp",
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """One way the simulated Prime refuses a request: HTTP status, ``code`` and ``message``."""

    status: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class PrimeRefusals:
    """Every refusal the dialect can give, each configurable (Prime documents none of them).

    ``{…}`` placeholders are filled with ``str.format`` (``header``, ``portfolio_id``,
    ``permission``, ``window``).
    """

    missing_header: Refusal = Refusal(401, "UNAUTHENTICATED", "missing required header {header}")
    unknown_key: Refusal = Refusal(401, "UNAUTHENTICATED", "invalid api key")
    bad_timestamp: Refusal = Refusal(
        401, "UNAUTHENTICATED", "invalid timestamp: X-CB-ACCESS-TIMESTAMP must be integer seconds"
    )
    expired: Refusal = Refusal(
        401, "UNAUTHENTICATED", "request timestamp expired (more than {window:g}s from server time)"
    )
    bad_signature: Refusal = Refusal(401, "UNAUTHENTICATED", "invalid signature")
    bad_passphrase: Refusal = Refusal(401, "UNAUTHENTICATED", "invalid passphrase")
    missing_permission: Refusal = Refusal(
        403, "PERMISSION_DENIED", "api key does not have the {permission} permission"
    )
    foreign_portfolio: Refusal = Refusal(
        403, "PERMISSION_DENIED", "api key is not authorized for portfolio {portfolio_id}"
    )
    duplicate_client_order_id: Refusal = Refusal(
        400, "INVALID_ARGUMENT", "duplicate client_order_id: an active order already uses it"
    )


@dataclass(frozen=True, slots=True)
class PrimeKey:
    """An API key the simulated Prime knows.

    The simulator keeps the signing key itself (HMAC is symmetric: the server must hold
    the secret to verify, as Coinbase does).

    Attributes:
        access_key: the public key id (``X-CB-ACCESS-KEY``).
        signing_key: the secret, used as raw UTF-8 bytes.
        passphrase: the key's passphrase.
        portfolio_ids: the portfolios the key is scoped to (Prime keys are per portfolio).
        entity_id: the entity that owns the portfolios.
        svc_account_id: the service account id (only the WebSocket needs it).
        can_view: may call GET endpoints.
        can_trade: may create and cancel orders.
    """

    access_key: str
    signing_key: str = field(repr=False)
    passphrase: str = field(repr=False)
    portfolio_ids: tuple[str, ...]
    entity_id: str
    svc_account_id: str = ""
    can_view: bool = True
    can_trade: bool = True


class PrimeAuthFailure(Exception):
    """A request was refused at the edge; ``refusal`` and ``detail`` say how and why."""

    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message


def error_body(code: str, message: str, trace_id: str) -> dict[str, Any]:
    """Prime's error object (reference §2.A): ``{code, message, subcode, trace_id}``."""
    return {"code": code, "message": message, "subcode": "", "trace_id": trace_id}


def expected_signature(
    signing_key: str, timestamp: str, method: str, path: str, body: bytes
) -> str:
    """base64(HMAC-SHA256(raw key, timestamp + METHOD + path + body)): what Prime checks."""
    prehash = (timestamp + method.upper() + path).encode() + body
    digest = hmac.new(signing_key.encode(), prehash, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _fail(refusal: Refusal, **fmt: Any) -> PrimeAuthFailure:
    return PrimeAuthFailure(refusal, refusal.message.format(**fmt))


def verify_request(
    keys: Mapping[str, PrimeKey],
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    now: float,
    *,
    refusals: PrimeRefusals,
    window: float = 30.0,
) -> PrimeKey:
    """Authenticate one request; return its key.

    Checks, in order: the four headers are present; the timestamp is an integer; the key
    exists; the timestamp is within ``window`` seconds of ``now``; the signature matches;
    the passphrase matches. (The order among Prime's own checks is not documented.)

    Args:
        keys: registered keys by access key.
        headers: request headers (any case).
        method: HTTP method.
        path: the raw request path, ``/v1`` included, query excluded.
        body: the raw body bytes.
        now: the server's clock (Unix seconds).
        refusals: the configured answers.
        window: accepted |timestamp - now| in seconds (Prime: 30).

    Raises:
        PrimeAuthFailure: refused; the caller answers ``failure.refusal.status``.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    for name in PRIME_HEADERS:
        if not lower.get(name):
            raise _fail(refusals.missing_header, header=name.upper())
    raw_ts = lower["x-cb-access-timestamp"].strip()
    if not raw_ts.isascii() or not raw_ts.isdigit():
        raise _fail(refusals.bad_timestamp)
    key = keys.get(lower["x-cb-access-key"])
    if key is None:
        raise _fail(refusals.unknown_key)
    if abs(int(raw_ts) - now) > window:
        raise _fail(refusals.expired, window=window)
    want = expected_signature(key.signing_key, raw_ts, method, path, body)
    if not hmac.compare_digest(want, lower["x-cb-access-signature"].strip()):
        raise _fail(refusals.bad_signature)
    if not hmac.compare_digest(key.passphrase.encode(), lower["x-cb-access-passphrase"].encode()):
        raise _fail(refusals.bad_passphrase)
    return key
