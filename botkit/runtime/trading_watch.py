"""Adapter ring: the products' trading status at the venue, kept current for the risk gate.

Why: a product the venue restricts (cancel only, limit only, post only, disabled or
offline: :mod:`botkit.market.trading_status`) refuses orders a strategy keeps sending; a
bot left alone must know, refuse them itself, say so once (log, alert), and notice when
the restriction lifts. The status comes with the venue's product list, the request the
bot makes at start for the product rules anyway; this component reads it again every
``[bot] trading_status_seconds`` and soon after a hint that it changed: an order the
venue rejected for a reason that names trading status, or a ``status`` channel message
(within :data:`HINT_GAP` seconds of the last read); an order botkit refused for its
product's status (within :data:`REFUSAL_GAP`: a strategy that keeps trying through a
long halt must not turn into a product-list download every few seconds).

A product missing from the reads of :data:`ABSENT_SECONDS` in a row reads as halted
("delisted"): one answer that lacks it may be a glitch, and halting on it would refuse
every entry until the next read. A read that fails (the venue unreachable) keeps the last
known status, logged at once and then every :data:`FAIL_LOG_EVERY` seconds while it
lasts. A ``status`` channel message prompts a read only when it says something new of a
bot product (the channel repeats every product on an interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from botkit.errors import BotkitError
from botkit.market.trading_status import (
    OPEN_STATUSES,
    TradingMode,
    TradingStatus,
    status_from_rule,
)
from botkit.market.types import StatusProduct
from botkit.risk.gate import RiskGate

__all__ = [
    "ABSENT_SECONDS",
    "FAIL_LOG_EVERY",
    "HINT_GAP",
    "HINT_REASONS",
    "REFUSAL_GAP",
    "TradingWatch",
]

log = logging.getLogger("botkit.trading")

HINT_GAP = 5.0
"""Least seconds between two reads of the product list prompted by hints."""

REFUSAL_GAP = 30.0
"""Least seconds between two reads prompted by orders refused for their product's status."""

ABSENT_SECONDS = 120.0
"""Seconds of reads in a row a product must be missing from before it counts as delisted
(two reads at least; a read that fails counts neither way)."""

FAIL_LOG_EVERY = 600.0
"""Seconds between two WARNING lines while reads keep failing."""

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
        monotonic: the clock of the pacing and of :data:`ABSENT_SECONDS`.
        refusal_gap: :data:`REFUSAL_GAP` (tests shorten it).
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
        refusal_gap: float = REFUSAL_GAP,
    ) -> None:
        self._fetch = fetch
        self.products = tuple(products)
        self._gate = gate
        self.interval = interval
        self._on_change = on_change
        self._monotonic = monotonic
        self.refusal_gap = refusal_gap
        self._wake = asyncio.Event()
        self._last_read = -HINT_GAP
        self._failed_at: float | None = None  # when the failing streak was last logged
        self._last: dict[str, TradingStatus] = {}  # every product's latest status
        self._said: dict[str, tuple[str, str]] = {}  # the status channel's last words
        self._absent: dict[str, float] = {}  # when the reads in a row started to miss it
        self._gap = HINT_GAP  # the pace the hints since the last read asked for
        self.reads = 0
        """Reads of the product list made by :meth:`read` (for tests and the curious)."""
        self.hints = 0
        """Hints taken (:meth:`hint`): each asks for a read within :data:`HINT_GAP`."""

    def apply(self, rules: Sequence[Mapping[str, Any]]) -> list[TradingStatus]:
        """Take a product list: each bot product's status to the gate; the changed ones."""
        found = {str(r.get("product_id") or r.get("id") or ""): r for r in rules}
        changed: list[TradingStatus] = []
        for pid in self.products:
            rule = found.get(pid)
            if rule is not None:
                self._absent.pop(pid, None)
                status = status_from_rule(rule)
            else:
                since = self._absent.setdefault(pid, self._monotonic())
                if self._monotonic() - since < ABSENT_SECONDS:
                    continue  # maybe a glitch of the venue's answer: the last status stands
                status = TradingStatus(
                    pid, TradingMode.HALTED, "delisted", "no longer in the venue's product list"
                )
            self._last[pid] = status
            if self._gate.set_trading_status(status):
                changed.append(status)
                if status.restricted:
                    log.warning(
                        "%s; orders it does not take are refused (%s) until it trades again",
                        status.describe(),
                        status.reason,
                    )
                else:
                    log.warning("%s trades fully again at the venue", pid)
                if self._on_change is not None:
                    self._on_change(status)
        return changed

    def hint(self, reason: str, *, gap: float = HINT_GAP) -> None:
        """Something suggests a status changed (a rejection's ``reason``, a status message):
        read the list once ``gap`` seconds have passed since the last read."""
        log.debug("trading status: read again soon (%s)", reason)
        self.hints += 1
        self._gap = min(self._gap, gap) if self._wake.is_set() else gap
        self._wake.set()

    def refused(self, product_id: str, reason: str) -> None:
        """An order was refused for its product's status (the gate's hook): no request
        went out whose rejection would tell, so read again within ``refusal_gap``."""
        self.hint(f"{product_id}: refused {reason}", gap=self.refusal_gap)

    def on_status_message(self, products: Sequence[StatusProduct]) -> None:
        """A ``status`` channel message: a hint when it says something new of a bot product
        (its ``status`` or ``status_message`` differs from the last read's)."""
        for p in products:
            if p.id not in self.products:
                continue
            said = (p.status.strip().lower(), p.status_message.strip())
            last = self._last.get(p.id)
            if last is None:  # the start's read failed: only "not online" is news
                if said[0] not in OPEN_STATUSES:
                    self.hint(f"{p.id}: status channel says {said[0]}")
                continue
            before = self._said.get(p.id)
            self._said[p.id] = said
            # the channel has no cancel/limit/post-only flags: only online or not is
            # compared with the read; its own words changing is news too
            moved = (said[0] in OPEN_STATUSES) != (last.venue_status in OPEN_STATUSES)
            if moved or (before is not None and said != before):
                self.hint(f"{p.id}: status channel says {said[0] or '(none)'}")

    async def run(self) -> None:
        """The supervised loop: read, apply, wait for the interval or a hint."""
        while True:
            if await self._wait():  # a hint: paced, never beyond the interval's own read
                pace = min(self._gap, self.interval) if self.interval > 0 else self._gap
                gap = pace - (self._monotonic() - self._last_read)
                if gap > 0:  # hints come in bursts (one per refused order): one read for them
                    await asyncio.sleep(gap)
            self._wake.clear()
            self._last_read = self._monotonic()
            await self.read()

    async def read(self) -> list[TradingStatus]:
        """One read of the product list; a failure keeps the last status (logged at once,
        then every :data:`FAIL_LOG_EVERY` seconds while it lasts)."""
        self.reads += 1
        try:
            rules = await self._fetch()
        except (BotkitError, OSError, ValueError) as exc:
            now = self._monotonic()
            if self._failed_at is None or now - self._failed_at >= FAIL_LOG_EVERY:
                log.warning("trading status: the product list could not be read (%s); "
                            "the last status stands, tried again later", exc)  # fmt: skip
                self._failed_at = now
            return []
        if self._failed_at is not None:
            log.info("trading status: the product list is read again")
        self._failed_at = None
        return self.apply(rules)

    async def _wait(self) -> bool:
        """Until the interval passed or a hint came; True for a hint."""
        if self.interval <= 0:
            await self._wake.wait()
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.interval)
        return self._wake.is_set()
