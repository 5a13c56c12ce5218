"""Simulator adapter: scripted REST faults, for proving that clients survive them.

Every knob is **bounded**: it applies to the next ``count`` matching requests
and then disarms itself, so a test can show both that it fired and that it
stopped. Knobs are set from Python (``server.faults.fail_next(...)``) or at
run time through the token-guarded admin endpoint (``POST /_sim/faults``).

Kinds:

* ``status``  — answer 401 / 403 / 429 (with ``Retry-After``) / 500 / 503 instead.
* ``delay``   — hold the response for ``seconds`` before handling it normally.
* ``drop_after_accept`` — handle the request (an order *is* recorded) and then
  reset the connection without answering: the classic unknown outcome.
* ``reset``   — reset the connection without handling the request at all.
* ``status_after_accept`` — handle the request (an order *is* recorded), then
  answer ``status`` (e.g. 500/502/504) instead of the real response: a gateway
  error after the exchange acted, the other classic unknown outcome.

The server clock offset (``clock_offset``) shifts the time the simulator uses
for JWT checks and ``/time``, so valid tokens look expired or not yet valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FaultPlan", "RestFault"]

Kind = Literal["status", "delay", "drop_after_accept", "reset", "status_after_accept"]
KINDS: tuple[str, ...] = ("status", "delay", "drop_after_accept", "reset", "status_after_accept")


@dataclass
class RestFault:
    """One armed REST fault.

    Attributes:
        kind: what to do (see module docstring).
        count: how many more matching requests it applies to.
        path: a regular expression searched in the request path; None matches all.
        method: only this HTTP method (None: any).
        status: HTTP status for ``status`` faults.
        retry_after: seconds for the ``Retry-After`` header of a 429 (None: no header).
        seconds: delay for ``delay`` faults.
        body: response body override for ``status`` faults.
        fired: how many times it has fired so far.
    """

    kind: Kind
    count: int = 1
    path: str | None = None
    method: str | None = None
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    body: str | None = None
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.count <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None


@dataclass
class FaultPlan:
    """The armed faults, consumed in the order they were added."""

    faults: list[RestFault] = field(default_factory=list)
    clock_offset: float = 0.0
    history: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, fault: RestFault) -> RestFault:
        if fault.kind not in KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; one of {KINDS}")
        if fault.count < 1:
            raise ValueError("a fault needs count >= 1")
        self.faults.append(fault)
        return fault

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        path: str | None = None,
        method: str | None = None,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> RestFault:
        """Answer the next ``count`` matching requests with ``status``."""
        return self.add(RestFault("status", count, path, method, status, retry_after, body=body))

    def delay_next(
        self, seconds: float, count: int = 1, *, path: str | None = None, method: str | None = None
    ) -> RestFault:
        """Delay the next ``count`` matching requests by ``seconds``."""
        return self.add(RestFault("delay", count, path, method, seconds=seconds))

    def drop_after_accept(
        self, count: int = 1, *, path: str | None = r"/orders$", method: str | None = "POST"
    ) -> RestFault:
        """Process the next ``count`` matching requests, then reset instead of answering."""
        return self.add(RestFault("drop_after_accept", count, path, method))

    def fail_after_accept(
        self,
        status: int = 500,
        count: int = 1,
        *,
        path: str | None = r"/orders$",
        method: str | None = "POST",
        body: str | None = None,
    ) -> RestFault:
        """Process the next ``count`` matching requests, then answer ``status`` instead."""
        return self.add(RestFault("status_after_accept", count, path, method, status, body=body))

    def reset_next(
        self, count: int = 1, *, path: str | None = None, method: str | None = None
    ) -> RestFault:
        """Reset the connection for the next ``count`` matching requests, unprocessed."""
        return self.add(RestFault("reset", count, path, method))

    def take(self, method: str, path: str) -> RestFault | None:
        """Consume and return the first armed fault matching this request, if any."""
        for fault in self.faults:
            if fault.matches(method, path):
                fault.count -= 1
                fault.fired += 1
                self.history.append((fault.kind, method, path))
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        """Disarm everything and reset the clock offset."""
        self.faults.clear()
        self.clock_offset = 0.0

    def add_from_json(self, data: dict[str, Any]) -> RestFault:
        """Arm a fault from the admin endpoint's JSON (same field names as :class:`RestFault`)."""
        allowed = {"kind", "count", "path", "method", "status", "retry_after", "seconds", "body"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        return self.add(RestFault(**data))
