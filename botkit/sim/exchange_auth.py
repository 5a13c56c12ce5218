"""Simulator, Coinbase Exchange dialect: API keys and HMAC request verification (pure).

Exchange signs REST requests with four headers (reference exchange-prime-api.md §1.A),
matched case-insensitively: ``CB-ACCESS-KEY``, ``CB-ACCESS-SIGN``, ``CB-ACCESS-TIMESTAMP``
and ``CB-ACCESS-PASSPHRASE``. The signature is base64(HMAC-SHA256(key, prehash)) where

* ``key`` is the secret **base64-decoded** (a 64-byte key; Prime uses the raw text),
* ``prehash = timestamp + METHOD + requestPath + body``, ``requestPath`` being the path
  **with** ``?query`` exactly as it came on the request line (every client checked signs
  it so; the docs say "path"), ``body`` the exact bytes received ("" when none),
* ``timestamp`` is Unix seconds, decimals allowed (ccxt sends integers, cbpro
  ``str(time.time())``), within 30 s of the server clock.

Why a separate, hand-written verifier: it must not share code with botkit's signer
(:class:`botkit.auth.hmac_sign.ExchangeHmacSigner`), or a bug in one would hide itself by
agreeing with its twin. ccxt's ``coinbaseexchange`` is the independent check of both.

Every refusal is a :class:`Refusal` (status + ``message``; Exchange's error body is
``{"message": ...}``) in :class:`ExchangeRefusals`, so a test or an operator can change
what the reference marks UNCERTAIN. The defaults:

=========================  ======  =============================================
case                       status  message
=========================  ======  =============================================
unknown key                401     ``Invalid API Key`` (ccxt's exact text)
bad signature              401     ``invalid signature`` (ccxt's exact text)
expired timestamp          401     ``request timestamp expired`` (401 since 2021;
                                   400 in a 2017 report)
bad passphrase             400     ``Invalid Passphrase`` (the seed's 400; ccxt
                                   matches the text only on 400/404)
missing permission         403     docs' "You do not have access to the requested
                                   resource" plus the permission (text undocumented)
IP not on the allow-list   403     undocumented; "IP address not allowed"
=========================  ======  =============================================

Nothing here reads a clock: the caller passes the server's ``now``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EXCHANGE_HEADERS",
    "ExchangeAuthFailure",
    "ExchangeKey",
    "ExchangeRefusals",
    "Refusal",
    "error_body",
    "expected_signature",
    "ip_allowed",
    "verify_request",
]

EXCHANGE_HEADERS = (
    "cb-access-key",
    "cb-access-sign",
    "cb-access-timestamp",
    "cb-access-passphrase",
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """One way the simulated Exchange refuses a request: HTTP status and ``message``."""

    status: int
    message: str


@dataclass(frozen=True, slots=True)
class ExchangeRefusals:
    """Every refusal the dialect can give at its edge, each configurable.

    ``{…}`` placeholders are filled with ``str.format`` (``header``, ``permission``,
    ``window``, ``ip``).
    """

    missing_header: Refusal = Refusal(400, "{header} header is required")
    unknown_key: Refusal = Refusal(401, "Invalid API Key")
    bad_timestamp: Refusal = Refusal(400, "invalid timestamp")
    expired: Refusal = Refusal(401, "request timestamp expired")
    bad_signature: Refusal = Refusal(401, "invalid signature")
    bad_passphrase: Refusal = Refusal(400, "Invalid Passphrase")
    missing_permission: Refusal = Refusal(
        403,
        "You do not have access to the requested resource: this API key lacks the "
        "{permission} permission",
    )
    ip_not_allowed: Refusal = Refusal(403, "IP address {ip} is not allowed for this API key")


@dataclass(frozen=True, slots=True)
class ExchangeKey:
    """An API key the simulated Exchange knows (HMAC is symmetric: the server holds the secret).

    Attributes:
        key: the public key (``CB-ACCESS-KEY``).
        secret: the base64 secret as shown to the user (decodes to 64 bytes on Coinbase).
        passphrase: the passphrase chosen when the key was made.
        profile_id: the one profile the key is scoped to (= the exchange user it trades as).
        can_view: may read (every GET).
        can_trade: may place and cancel orders.
        allowed_ips: the key's IP allow-list (addresses or networks); empty: any IP.
    """

    key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)
    profile_id: str
    can_view: bool = True
    can_trade: bool = True
    allowed_ips: tuple[str, ...] = ()

    def secret_bytes(self) -> bytes:
        """The HMAC key: the secret base64-decoded."""
        return base64.b64decode(self.secret, validate=True)


class ExchangeAuthFailure(Exception):
    """A request was refused at the edge; ``refusal`` says how, ``message`` the filled text."""

    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message


def error_body(message: str) -> dict[str, Any]:
    """Exchange's error object (reference §1.A): ``{"message": ...}``."""
    return {"message": message}


def expected_signature(
    secret: bytes, timestamp: str, method: str, request_path: str, body: bytes
) -> str:
    """base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body))."""
    prehash = (timestamp + method.upper() + request_path).encode() + body
    return base64.b64encode(hmac.new(secret, prehash, hashlib.sha256).digest()).decode()


def ip_allowed(key: ExchangeKey, remote: str | None) -> bool:
    """Whether ``remote`` is on the key's allow-list (an empty list allows every address)."""
    if not key.allowed_ips:
        return True
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in key.allowed_ips)


def _fail(refusal: Refusal, **fmt: Any) -> ExchangeAuthFailure:
    return ExchangeAuthFailure(refusal, refusal.message.format(**fmt))


def verify_request(
    keys: Mapping[str, ExchangeKey],
    headers: Mapping[str, str],
    method: str,
    request_path: str,
    body: bytes,
    now: float,
    *,
    refusals: ExchangeRefusals,
    window: float = 30.0,
    remote: str | None = None,
    accept_bare_path: bool = False,
) -> ExchangeKey:
    """Authenticate one request; return its key.

    Checks, in order: the four headers are present (the passphrase header may be empty
    only when the key's passphrase is); the key exists; the timestamp is a number within
    ``window`` seconds of ``now``; the signature matches; the passphrase matches; the
    caller's IP is allowed. (Exchange does not document its order.)

    Args:
        keys: registered keys by public key.
        headers: request headers (any case).
        method: HTTP method.
        request_path: the raw request target, path **and** ``?query`` as received.
        body: the raw body bytes.
        now: the server's clock (Unix seconds).
        refusals: the configured answers.
        window: accepted |timestamp - now| in seconds (Exchange: 30).
        remote: the caller's IP address, for the allow-list.
        accept_bare_path: also accept a signature over the path without its query
            (whether Coinbase does is UNCERTAIN, reference §E.1).

    Raises:
        ExchangeAuthFailure: refused; the caller answers ``failure.refusal.status``.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    for name in EXCHANGE_HEADERS:
        if name not in lower or (not lower[name] and name != "cb-access-passphrase"):
            raise _fail(refusals.missing_header, header=name.upper())
    key = keys.get(lower["cb-access-key"].strip())
    if key is None:
        raise _fail(refusals.unknown_key)
    raw_ts = lower["cb-access-timestamp"].strip()
    try:
        ts = float(raw_ts)
    except ValueError:
        raise _fail(refusals.bad_timestamp) from None
    if not math.isfinite(ts):
        raise _fail(refusals.bad_timestamp)
    if abs(ts - now) > window:
        raise _fail(refusals.expired, window=window)
    try:
        secret = key.secret_bytes()
    except (binascii.Error, ValueError):  # a misconfigured simulator key: nothing verifies
        raise _fail(refusals.bad_signature) from None
    got = lower["cb-access-sign"].strip()
    candidates = [request_path]
    if accept_bare_path and "?" in request_path:
        candidates.append(request_path.split("?", 1)[0])
    if not any(
        hmac.compare_digest(expected_signature(secret, raw_ts, method, path, body), got)
        for path in candidates
    ):
        raise _fail(refusals.bad_signature)
    if not hmac.compare_digest(key.passphrase.encode(), lower["cb-access-passphrase"].encode()):
        raise _fail(refusals.bad_passphrase)
    if not ip_allowed(key, remote):
        raise _fail(refusals.ip_not_allowed, ip=remote or "unknown")
    return key
