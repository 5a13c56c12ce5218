"""Adapter ring: the order journal and the fill ledger stay bounded in a long run.

Why a module of its own: a bot that trades for months must not grow its files without
end, and this loop is the one place that decides what is old enough to forget (the
runtime only spawns it under the supervisor as ``journal-retention``).
"""

from __future__ import annotations

import asyncio
import logging

from botkit.orders.executor import OrderExecutor
from botkit.orders.ledger import FillLedger

__all__ = ["LEDGER_KEEP", "RETENTION_INTERVAL", "retention_loop"]

log = logging.getLogger("botkit.runtime.bot")

RETENTION_INTERVAL = 6 * 3600.0
"""Seconds between two passes of the order journal's retention (``journal_retention_days``)."""
LEDGER_KEEP = 86_400.0
"""Seconds a finished order's mark stays in the fill ledger (at least twice the
reconciliation window)."""


async def retention_loop(executor: OrderExecutor, ledger: FillLedger | None, days: float) -> None:
    """Keep the order journal and the fill ledger bounded, now and every 6 hours.

    Journal: finished intents older than ``days`` (``[bot] journal_retention_days``;
    0 keeps every one; docs/headless.md). Ledger: finished orders' marks older than a
    day — they are not history (the journal is), only what a restart compares the
    orders reconciliation lists with, so they are kept well beyond its window.
    """
    while True:
        forgotten = await executor.prune_journal(days * 86_400) if days > 0 else 0
        if ledger is not None:  # never within reconcile's reach: a listed order
            # without its mark would be counted again
            ledger.prune(max(LEDGER_KEEP, 2 * executor.reconcile_window))
        if forgotten:
            log.info(
                "order journal: forgot %d finished intent(s) older than %g day(s)",
                forgotten,
                days,
            )
        await asyncio.sleep(RETENTION_INTERVAL)
