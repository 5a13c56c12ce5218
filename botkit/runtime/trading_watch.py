"""Adapter ring: the products' trading status at the venue, kept current for the risk gate.

Why: a product the venue restricts (cancel only, limit only, post only, disabled or
offline: :mod:`botkit.market.trading_status`) refuses orders a strategy keeps sending; a
bot left alone must know, refuse them itself, say so once (log, alert), and notice when
the restriction lifts. The status comes with the venue's product list, the request the
bot makes at start for the product rules anyway; this component reads it again every
``[bot] trading_status_seconds`` and soon after a hint that it changed — an order the
venue rejected for a reason that names trading status, a ``status`` channel message —
never more often than every :data:`HINT_GAP` seconds.

A product that left the venue's list reads as halted ("delisted"); a read that fails (the
venue unreachable) keeps the last known status and is tried again at the next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from botkit.errors import BotkitError
from botkit.market.trading_status import TradingMode, TradingStatus, status_from_rule
from botkit.risk.gate import RiskGate

__all__ = ["HINT_GAP", "HINT_REASONS", "TradingWatch"]

log = logging.getLogger("botkit.trading")

HINT_GAP = 5.0
"""Least seconds between two reads of the product list prompted by hints."""

HINT_REASONS = frozenset(
    {
        "TRADING_DISABLED",
        "PRODUCT_TRADING_HALTED",
        "ORDER_ENTRY_DISABLED",
        "UNSUPPORTED_ORDER_CONFIGURATION",
    }
)
"""Venue rejection reasons that may mean a product's trading status changed (the reference
does not say which one each restriction gives: all of them prompt a read)."""


class TradingWatch:
    """Reads the products' trading status and tells the gate (and ``on_change``) of changes.

    Args:
        fetch: the venue's product rules for the bot's products (those it still lists).
        products: the bot's products.
        gate: the risk gate that refuses what a restricted product does not take.
        interval: seconds between reads; 0: only after hints.
        on_change: called with each status whose mode changed (after the gate has it).
        monotonic: the clock for :data:`HINT_GAP`.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[list[dict[str, Any]]]],
        products: Sequence[str],
        gate: RiskGate,
        *,
        interval: float,
        on_change: Callable[[TradingStatus], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.products = tuple(products)
        self._gate = gate
        self.interval = interval
        self._on_change = on_change
        self._monotonic = monotonic
        self._wake = asyncio.Event()
        self._last_read = -HINT_GAP
        self._failing = False
        self.reads = 0
        """Reads of the product list made by :meth:`run` (for tests and the curious)."""

    def apply(self, rules: Sequence[Mapping[str, Any]]) -> list[TradingStatus]:
        """Take a product list: each bot product's status to the gate; the changed ones."""
        found = {str(r.get("product_id") or r.get("id") or ""): r for r in rules}
        changed: list[TradingStatus] = []
        for pid in self.products:
            rule = found.get(pid)
            status = (
                status_from_rule(rule)
                if rule is not None
                else TradingStatus(
                    pid, TradingMode.HALTED, "delisted", "no longer in the venue's product list"
                )
            )
            if self._gate.set_trading_status(status):
                changed.append(status)
                if status.restricted:
                    log.warning(
                        "%s; orders it does not take are refused (PRODUCT_%s) until it "
                        "trades again",
                        status.describe(),
                        status.mode.name,
                    )
                else:
                    log.warning("%s trades fully again at the venue", pid)
                if self._on_change is not None:
                    self._on_change(status)
        return changed

    def hint(self, reason: str) -> None:
        """Something suggests a status changed (a rejection's ``reason``, a status message):
        read the list soon."""
        log.debug("trading status: read again soon (%s)", reason)
        self._wake.set()

    async def run(self) -> None:
        """The supervised loop: read, apply, wait for the interval or a hint."""
        while True:
            await self._wait()
            gap = HINT_GAP - (self._monotonic() - self._last_read)
            if gap > 0:  # hints come in bursts (one per refused order): one read for them
                await asyncio.sleep(gap)
            self._wake.clear()
            self._last_read = self._monotonic()
            await self.read()

    async def read(self) -> list[TradingStatus]:
        """One read of the product list; a failure keeps the last status (logged once)."""
        self.reads += 1
        try:
            rules = await self._fetch()
        except (BotkitError, OSError, ValueError) as exc:
            if not self._failing:
                log.warning("trading status: the product list could not be read (%s); "
                            "the last status stands, tried again later", exc)  # fmt: skip
            self._failing = True
            return []
        if self._failing:
            log.info("trading status: the product list is read again")
        self._failing = False
        return self.apply(rules)

    async def _wait(self) -> None:
        if self.interval <= 0:
            await self._wake.wait()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.interval)
