"""Simulator adapter: Coinbase-shaped error responses and small request/format helpers.

Split out of :mod:`botkit.sim.rest` so the route handlers read as translation only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from aiohttp import web

from botkit.sim.exchange import SimBadRequest
from botkit.sim.faults import RestFault

__all__ = [
    "error_response",
    "fault_response",
    "forbidden",
    "iso",
    "levels",
    "query_int",
    "unauthorized",
]


def error_response(status: int, error: str, details: str) -> web.Response:
    return web.json_response(
        {"error": error, "error_details": details, "message": details}, status=status
    )


def unauthorized(reason: str) -> web.Response:
    return web.Response(status=401, text="Unauthorized", headers={"x-botkit-sim-reason": reason})


def forbidden() -> web.Response:
    return error_response(403, "PERMISSION_DENIED", "Missing required scopes")


def fault_response(fault: RestFault) -> web.Response:
    if fault.body is not None:
        return web.Response(status=fault.status, text=fault.body)
    if fault.status == 401:
        return unauthorized("injected fault")
    if fault.status == 403:
        return forbidden()
    if fault.status == 429:
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        return web.json_response(
            {"errors": [{"id": "rate_limit_exceeded", "message": "Too many requests"}]},
            status=429,
            headers=headers,
        )
    return error_response(fault.status, "INTERNAL", f"injected fault (HTTP {fault.status})")


def query_int(
    request: web.Request, name: str, default: int, *, lo: int = 0, hi: int = 10**13
) -> int:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SimBadRequest(f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise SimBadRequest(f"{name} must be between {lo} and {hi}")
    return value


def levels(levels: list[tuple[Decimal, Decimal]]) -> list[dict[str, str]]:
    return [{"price": str(p), "size": str(s)} for p, s in levels]


def iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
