"""Adapter ring: the system clock, with a correctable offset.

Coinbase rejects JWTs and HMAC timestamps that are off by more than a few
seconds (reference §1.5, §4). Rather than trusting the host's NTP, botkit signs
with ``time.time() + offset`` and lets the executor set ``offset`` from
``GET /time``.
"""

from __future__ import annotations

import time

__all__ = ["SystemClock"]


class SystemClock:
    """Wall-clock time plus an adjustable offset in seconds.

    Args:
        offset: seconds added to ``time.time()``; positive when the exchange's
            clock is ahead of ours.
    """

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = float(offset)

    def time(self) -> float:
        return time.time() + self.offset

    def correct(self, server_time: float, local_time: float) -> float:
        """Set the offset so that ``time()`` tracks the server, and return it.

        Args:
            server_time: the exchange's time (e.g. ``/time`` epoch seconds),
                ideally taken at the midpoint of the request's round trip.
            local_time: ``time.time()`` at that same moment.
        """
        self.offset = server_time - local_time
        return self.offset
