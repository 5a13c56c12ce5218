"""Core ring: turn a Coinbase error response into one typed, explained error.

This is the single place where status codes and error bodies become
exceptions (the REST client calls it once at its boundary). Coinbase's bodies
vary: plain-text ``Unauthorized`` on 401, ``{error, error_details, message}``
on Advanced Trade 4xx, ``{message}`` on Exchange, ``{message, code, trace_id}``
on Prime, and HTML from gateways on 429/5xx (reference §2.12, §4). Parsing is
defensive and the hint says what the user can most likely do.
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
    "REQUEST_ID_HEADERS",
    "error_from_response",
    "order_failure_reason",
    "order_rejected",
    "parse_retry_after",
]

REQUEST_ID_HEADERS = ("x-request-id", "cb-request-id", "x-cb-request-id", "trace-id")

HINTS = {
    "auth": (
        "Likely causes: wrong key name, a secret that does not belong to this key or lost its "
        "newlines, a clock more than a few seconds off, or a deleted key. Run 'botkit doctor'"
    ),
    "clock": (
        "The local clock is off; botkit resyncs with GET /time and retries. Enable NTP "
        "(timedatectl set-ntp true) if this repeats"
    ),
    "scope": (
        "The key lacks a permission: in the CDP portal enable View (read) and Trade (orders) "
        "for this key, then retry"
    ),
    "ip": "The key has an IP allow-list that does not include this machine's public IP",
    "passphrase": "The passphrase does not match the key: set BOTKIT_EXCHANGE__PASSPHRASE",
    "rate": "Too many requests: botkit waits and retries; lower the request rate if it repeats",
    "server": "Coinbase had a problem; idempotent requests are retried",
    "notfound": "The order, account or product does not exist for this key's portfolio",
    "bad": "The request was rejected as malformed; check the parameters",
}

_TIMESTAMP_RE = re.compile(
    r"timestamp (expired|too old)|invalid timestamp|request timestamp|"
    r"token is not valid yet|token.*expired|expired token",
    re.IGNORECASE,
)
_IP_RE = re.compile(r"\bip\b.*(allow|white|permit)|(allow|white)[- ]?list", re.IGNORECASE)
_PASSPHRASE_RE = re.compile(r"invalid passphrase", re.IGNORECASE)
_FUNDS_RE = re.compile(r"INSUFFICIENT_FUND", re.IGNORECASE)


def _parse_body(body: bytes | str) -> tuple[str, str, dict[str, Any]]:
    """Return (code, message, json-dict) from any Coinbase error body."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    try:
        data = json.loads(text) if text[:1] in "{[" else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        code = str(data.get("error") or data.get("code") or "")
        message = str(data.get("message") or data.get("error_details") or "")
        errors = data.get("errors")
        if not message and isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = code or str(errors[0].get("id", ""))
            message = str(errors[0].get("message", ""))
        return code, message, data
    if text.startswith("<"):  # gateway HTML: keep it short, it is not informative
        title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        return "", (title.group(1).strip() if title else "non-JSON (HTML) error body"), {}
    return "", text[:500], {}


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``x-ratelimit-reset``.

    ``x-ratelimit-reset`` may be an epoch time or a number of seconds; values
    above 10^9 are read as epoch seconds.
    """
    waited = retry_after(headers, now)
    if waited is not None:
        return waited
    lower = {k.lower(): v for k, v in headers.items()}
    reset = lower.get("x-ratelimit-reset")
    if reset:
        try:
            number = float(reset)
        except ValueError:
            return None
        return max(0.0, number - now if number > 1e9 else number)
    return None


def error_from_response(
    status: int, body: bytes | str, headers: Mapping[str, str], *, now: float
) -> ExchangeError:
    """Map an HTTP error response to the most specific :class:`ExchangeError`.

    Args:
        status: the HTTP status.
        body: the raw body (any format).
        headers: response headers (for request id and retry hints).
        now: current Unix time, to turn an epoch reset header into a delay.
    """
    code, message, data = _parse_body(body)
    lower = {k.lower(): v for k, v in headers.items()}
    request_id = next((lower[h] for h in REQUEST_ID_HEADERS if lower.get(h)), None)
    if request_id is None and data.get("trace_id"):
        request_id = str(data["trace_id"])
    text = f"{code} {message} {data.get('error_details', '')}"
    kw: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    message = message or {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(
        status, f"HTTP {status}"
    )
    if _TIMESTAMP_RE.search(text):
        return ClockSkew(message, hint=HINTS["clock"], **kw)
    if status == 429:
        retry = parse_retry_after(headers, now)
        return RateLimited(message, retry_after=retry, hint=HINTS["rate"], **kw)
    if _PASSPHRASE_RE.search(text):
        return InvalidPassphrase(message, hint=HINTS["passphrase"], **kw)
    if status == 401:
        return AuthError(message, hint=HINTS["auth"], **kw)
    if status == 403:
        if _IP_RE.search(text):
            return IpNotAllowed(message, hint=HINTS["ip"], **kw)
        return PermissionDenied(message, hint=HINTS["scope"], **kw)
    if status == 404:
        return NotFound(message, hint=HINTS["notfound"], **kw)
    if status >= 500:
        return ServerError(message, hint=HINTS["server"], **kw)
    if 400 <= status < 500:
        return BadRequest(message, hint=HINTS["bad"], **kw)
    return ExchangeError(message, **kw)


def order_failure_reason(error_response: Mapping[str, Any]) -> str:
    """The first informative reason among ``new_order_failure_reason``, ``error``,
    ``preview_failure_reason`` (reference §2.4: the deprecated fields still appear)."""
    for field in ("new_order_failure_reason", "error", "preview_failure_reason"):
        value = error_response.get(field)
        if isinstance(value, str) and value and not value.startswith("UNKNOWN"):
            return value
    return "UNKNOWN_FAILURE_REASON"


def order_rejected(response: Mapping[str, Any], *, request_id: str | None = None) -> OrderRejected:
    """Build the typed rejection for a create-order answer with ``success: false``."""
    err = response.get("error_response") or {}
    reason = order_failure_reason(err)
    message = str(err.get("message") or err.get("error_details") or reason)
    cls = InsufficientFunds if _FUNDS_RE.search(reason) else OrderRejected
    return cls(message, reason=reason, status=200, request_id=request_id)
