"""Core ring: a Coinbase Exchange error response → one typed botkit error, with the fix in its hint.

Exchange answers errors as ``{"message": "..."}`` (reference exchange-prime-api.md §1.A);
a gateway may answer HTML or plain text. The message decides where Exchange has a known
text, the status decides the rest:

=============================================  =========================================
answer                                         botkit error (what the retry table does)
=============================================  =========================================
"request timestamp expired" (400 or 401)       ClockSkew: resync from ``GET /time``, retry
"Invalid Passphrase" (400 or 401)              InvalidPassphrase: never retried
401 "Invalid API Key" / "invalid signature"    AuthError: re-signed, then resync; the hint
                                               names the setting to check
403 mentioning an IP (allow-list)              IpNotAllowed: never retried
403 otherwise (JSON ``message``)               PermissionDenied, code ``PERMISSION_DENIED``
                                               (never retried: a key's permissions do not
                                               change between attempts); the hint names
                                               the permission (View or Trade)
404                                            NotFound
429                                            RateLimited (``Retry-After`` if sent)
5xx                                            ServerError (outcome unknown)
400 otherwise                                  BadRequest (the client turns a refused
                                               create into OrderRejected)
=============================================  =========================================

The 403 and IP allow-list texts are undocumented (§E.5): matched loosely. The message
becomes the error's ``code`` only through :func:`order_rejected`; nothing secret is echoed.
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
    "is_duplicate_client_oid",
    "order_rejected",
    "parse_retry_after",
]

HINTS = {
    "key": (
        "Coinbase Exchange does not know this API key: check BOTKIT_EXCHANGE__API_KEY (an "
        "Exchange key, not a CDP or Prime key) and that the key was not deleted"
    ),
    "auth": (
        "Coinbase Exchange refused the signature. Check BOTKIT_EXCHANGE__API_SECRET (the "
        "base64 secret shown once when the key was created) and the clock (Exchange allows "
        "30 s); run 'botkit doctor'"
    ),
    "clock": (
        "The local clock is more than 30 s off Coinbase Exchange's; botkit resyncs from "
        "GET /time and retries. Enable NTP (timedatectl set-ntp true) if this repeats"
    ),
    "passphrase": (
        "The passphrase does not match the key: set BOTKIT_EXCHANGE__PASSPHRASE to the "
        "passphrase chosen when the key was created"
    ),
    "permission": (
        "The API key lacks the {permission} permission: create an Exchange key with it "
        "(View for reads, Trade to place and cancel orders) and set "
        "BOTKIT_EXCHANGE__API_KEY/API_SECRET/PASSPHRASE"
    ),
    "ip": (
        "The key has an IP allow-list that does not include this machine's public IP: add "
        "the IP to the key's allow-list, or use a key without one"
    ),
    "rate": (
        "Too many requests (Exchange: 15/s per profile, bursts to 30); botkit waits and retries"
    ),
    "server": "Coinbase Exchange had a problem; idempotent requests are retried",
    "notfound": "The order, account or product does not exist for this key's profile",
    "bad": "Coinbase Exchange refused the request as invalid; the message says which field",
}

_CLOCK_RE = re.compile(r"timestamp.*expired|expired.*timestamp", re.IGNORECASE)
_PASSPHRASE_RE = re.compile(r"passphrase", re.IGNORECASE)
_KEY_RE = re.compile(r"invalid api key", re.IGNORECASE)
_IP_RE = re.compile(r"\bip\b|allow[- ]?list|white[- ]?list", re.IGNORECASE)
_PERMISSION_RE = re.compile(r"\b(view|trade|transfer|manage)\b", re.IGNORECASE)
_DUPLICATE_RE = re.compile(r"duplicate.*client_oid|client_oid.*(exists|in use|duplic)",
                           re.IGNORECASE)  # fmt: skip
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"insufficient funds", re.IGNORECASE), "INSUFFICIENT_FUND"),
    (re.compile(r"post only", re.IGNORECASE), "INVALID_LIMIT_PRICE_POST_ONLY"),
    (re.compile(r"price too (precise|small)|invalid price", re.IGNORECASE), "INVALID_LIMIT_PRICE"),
    (re.compile(r"(size|funds) is too (small|large|accurate)", re.IGNORECASE), "INVALID_SIZE"),
    (re.compile(r"invalid client_oid", re.IGNORECASE), "INVALID_CLIENT_OID"),
    (re.compile(r"product not found|trading pair not available", re.IGNORECASE),
     "INVALID_PRODUCT_ID"),
    (re.compile(r"cancel only|maintenance|trading is disabled", re.IGNORECASE),
     "TRADING_DISABLED"),
    (re.compile(r"too many open orders", re.IGNORECASE), "TOO_MANY_OPEN_ORDERS"),
)  # fmt: skip


def _parse(body: bytes) -> tuple[str, dict[str, Any]]:
    """(message, json) from an Exchange error body, HTML or text tolerated."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text) if text[:1] == "{" else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        return str(data.get("message") or ""), data
    if text.startswith("<"):
        title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        return (title.group(1).strip() if title else "non-JSON (HTML) error body"), {}
    return text[:500], {}


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds from ``Retry-After`` (seconds or an HTTP date); None when absent."""
    return retry_after(headers, now)


def error_from_response(
    status: int, body: bytes, headers: Mapping[str, str], *, now: float
) -> ExchangeError:
    """Map one Exchange error response to the most specific botkit error (table above)."""
    message, data = _parse(body)
    lower = {k.lower(): v for k, v in headers.items()}
    kw: dict[str, Any] = {"status": status, "request_id": lower.get("cb-request-id") or None}
    message = message or {401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}.get(
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
        return AuthError(message, hint=HINTS["key" if _KEY_RE.search(message) else "auth"], **kw)
    if status == 403:
        # a JSON refusal from Exchange itself is final; a gateway's bare 403 gets one retry
        code = "PERMISSION_DENIED" if data else ""
        if _IP_RE.search(message):
            return IpNotAllowed(message, hint=HINTS["ip"], code="PERMISSION_DENIED", **kw)
        found = _PERMISSION_RE.search(message)
        permission = found.group(1).capitalize() if found else "View or Trade"
        return PermissionDenied(
            message, hint=HINTS["permission"].format(permission=permission), code=code, **kw
        )
    if status == 404:
        return NotFound(message, hint=HINTS["notfound"], **kw)
    if 400 <= status < 500:
        return BadRequest(message, hint=HINTS["bad"], **kw)
    return ExchangeError(message, **kw)


def is_duplicate_client_oid(error: ExchangeError) -> bool:
    """Whether a refused create says an open order already uses the ``client_oid``.

    Exchange is not known to refuse duplicates at all (reference §1.B.1); a simulator (or a
    future Exchange) that does is matched loosely.
    """
    return isinstance(error, BadRequest) and _DUPLICATE_RE.search(error.message) is not None


def order_rejected(error: ExchangeError) -> OrderRejected:
    """A create-order refused with a 400/404 → the executor's final :class:`OrderRejected`.

    The reason is botkit's (Advanced Trade) name for the refusal when the message is one of
    Exchange's known texts, else ``REJECTED``; "Insufficient funds" is InsufficientFunds.
    """
    reason = next((r for pattern, r in _REASONS if pattern.search(error.message)), "REJECTED")
    cls = InsufficientFunds if reason == "INSUFFICIENT_FUND" else OrderRejected
    return cls(error.message, reason=reason, status=error.status, request_id=error.request_id)
