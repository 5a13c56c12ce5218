"""Core ring: a Coinbase Prime error response → one typed botkit error, with the fix in its hint.

Prime answers errors as ``{code, message, subcode, trace_id}`` (reference
exchange-prime-api.md §2.A) with HTTP 400/401/403/404/429/500; a gateway may answer
HTML or plain text. Prime does **not** document its texts for a bad signature, a bad
passphrase, an expired timestamp or an IP block (§E.9), so the message is matched
loosely and the status decides the rest:

=========================================  =========================================
answer                                     botkit error (what the retry table does)
=========================================  =========================================
"timestamp … expired" / "… window"         ClockSkew: resync from ``Date``, retry
"invalid passphrase"                       InvalidPassphrase: never retried
401 otherwise                              AuthError: re-signed, then resync
403 mentioning an IP allow-list            IpNotAllowed: never retried
403 otherwise                              PermissionDenied (``PERMISSION_DENIED``:
                                           never retried); the hint names the
                                           permission or the portfolio
404                                        NotFound
429                                        RateLimited (``Retry-After`` if sent)
5xx                                        ServerError (outcome unknown)
400 otherwise                              BadRequest (the client turns a refused
                                           create into OrderRejected)
=========================================  =========================================

The ``trace_id`` becomes the error's ``request_id``. Nothing secret is ever echoed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from botkit.errors import (
    AuthError,
    BadRequest,
    ClockSkew,
    ExchangeError,
    InsufficientFunds,
    InvalidPassphrase,
    IpNotAllowed,
    NotFound,
    OrderRejected,
    PermissionDenied,
    RateLimited,
    ServerError,
)
from botkit.net.rest_types import retry_after

__all__ = [
    "HINTS",
    "error_from_response",
    "is_duplicate_client_order_id",
    "order_rejected",
    "parse_retry_after",
]

HINTS = {
    "auth": (
        "Coinbase Prime refused the signature. Check BOTKIT_PRIME__ACCESS_KEY and "
        "BOTKIT_PRIME__SIGNING_KEY (the signing key is used as given, not base64-decoded), "
        "that the key is not revoked, and the clock (Prime allows 30 s); run 'botkit doctor'"
    ),
    "timestamp_format": (
        "Prime takes integer Unix seconds only in X-CB-ACCESS-TIMESTAMP: this is a client "
        "bug; report it"
    ),
    "clock": (
        "The local clock is more than 30 s off Prime's; botkit resyncs from the response's "
        "Date header and retries. Enable NTP (timedatectl set-ntp true) if this repeats"
    ),
    "passphrase": (
        "The passphrase does not match the key: set BOTKIT_PRIME__PASSPHRASE to the "
        "passphrase shown when the key was created in the Prime UI"
    ),
    "permission": (
        "The API key lacks the {permission} permission: create a key with it in the Prime "
        "UI (Settings → APIs) and set BOTKIT_PRIME__ACCESS_KEY/SIGNING_KEY/PASSPHRASE"
    ),
    "portfolio": (
        "The key is not scoped to this portfolio: set BOTKIT_PRIME__PORTFOLIO_ID to one of "
        "the key's portfolios (GET /v1/portfolios lists them)"
    ),
    "ip": "The key has an IP allow-list that does not include this machine's public IP",
    "rate": (
        "Too many requests (Prime: 25/s per portfolio, 100/s per IP with a 30 s lockout); "
        "botkit waits and retries"
    ),
    "server": "Coinbase Prime had a problem; idempotent requests are retried",
    "notfound": "The order or portfolio does not exist for this key (check the portfolio id)",
    "bad": "Prime refused the request as invalid; the message says which field",
}

_CLOCK_RE = re.compile(
    r"timestamp.*(expired|too old|window)|expired.*timestamp|request timestamp", re.IGNORECASE
)
_TS_FORMAT_RE = re.compile(r"invalid timestamp|timestamp.*integer", re.IGNORECASE)
_PASSPHRASE_RE = re.compile(r"passphrase", re.IGNORECASE)
_IP_RE = re.compile(r"\bip\b.*(allow|white|permit)|(allow|white)[- ]?list", re.IGNORECASE)
_PORTFOLIO_RE = re.compile(r"portfolio", re.IGNORECASE)
_PERMISSION_RE = re.compile(r"\b(view|trade|transfer|read|write)\b", re.IGNORECASE)
_DUPLICATE_RE = re.compile(r"duplicate.*client_order_id|client_order_id.*(exists|in use|duplic)",
                           re.IGNORECASE)  # fmt: skip
_FUNDS_RE = re.compile(r"insufficient", re.IGNORECASE)
_REASON_RE = re.compile(r"^([A-Z][A-Z0-9_]+):\s*(.*)$", re.DOTALL)


def _parse(body: bytes) -> tuple[str, str, dict[str, Any]]:
    """(code, message, json) from a Prime error body, HTML or text tolerated."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text) if text[:1] == "{" else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        return str(data.get("code") or ""), str(data.get("message") or ""), data
    if text.startswith("<"):
        title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        return "", title.group(1).strip() if title else "non-JSON (HTML) error body", {}
    return "", text[:500], {}


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds from ``Retry-After`` (seconds or an HTTP date); None when absent."""
    return retry_after(headers, now)


def error_from_response(
    status: int, body: bytes, headers: Mapping[str, str], *, now: float
) -> ExchangeError:
    """Map one Prime error response to the most specific botkit error (table above)."""
    code, message, data = _parse(body)
    lower = {k.lower(): v for k, v in headers.items()}
    request_id = str(data.get("trace_id") or "") or lower.get("x-request-id") or None
    kw: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    message = message or {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(
        status, f"HTTP {status}"
    )
    if status == 429:
        return RateLimited(
            message, retry_after=parse_retry_after(headers, now), hint=HINTS["rate"], **kw
        )
    if status >= 500:
        return ServerError(message, hint=HINTS["server"], **kw)
    if status in (400, 401) and _CLOCK_RE.search(message):
        return ClockSkew(message, hint=HINTS["clock"], **kw)
    if status in (400, 401) and _PASSPHRASE_RE.search(message):
        return InvalidPassphrase(message, hint=HINTS["passphrase"], **kw)
    if status == 401:
        hint = HINTS["timestamp_format"] if _TS_FORMAT_RE.search(message) else HINTS["auth"]
        return AuthError(message, hint=hint, **kw)
    if status == 403:
        if _IP_RE.search(message):
            return IpNotAllowed(message, hint=HINTS["ip"], **kw)
        if _PORTFOLIO_RE.search(message):
            return PermissionDenied(message, hint=HINTS["portfolio"], **kw)
        found = _PERMISSION_RE.search(message)
        permission = found.group(1).capitalize() if found else "required"
        return PermissionDenied(
            message, hint=HINTS["permission"].format(permission=permission), **kw
        )
    if status == 404:
        return NotFound(message, hint=HINTS["notfound"], **kw)
    if 400 <= status < 500:
        return BadRequest(message, hint=HINTS["bad"], **kw)
    return ExchangeError(message, **kw)


def is_duplicate_client_order_id(error: ExchangeError) -> bool:
    """Whether a refused create says an active order already uses the ``client_order_id``.

    Prime's text for this is not documented (reference §2.B.1): matched loosely.
    """
    return isinstance(error, BadRequest) and _DUPLICATE_RE.search(error.message) is not None


def order_rejected(error: BadRequest) -> OrderRejected:
    """A create-order refused with a 400 → the executor's final :class:`OrderRejected`.

    The reason is a leading ``UPPER_CASE:`` token of the message when there is one (the
    simulator's form), else Prime's ``code``; "insufficient" makes it InsufficientFunds.
    """
    found = _REASON_RE.match(error.message)
    reason = found.group(1) if found else (error.code or "REJECTED")
    cls = InsufficientFunds if _FUNDS_RE.search(error.message) else OrderRejected
    return cls(error.message, reason=reason, status=error.status, request_id=error.request_id)
