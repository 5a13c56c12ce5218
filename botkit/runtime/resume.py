"""Adapter ring: a restarted bot resumes its positions, and counts the fills it missed.

Two steps at start-up, both before the strategy's ``on_start``:

1. :func:`resume_positions` — the strategy context and the risk engine start from the
   fill ledger's positions (and the risk engine from the PnL it realised earlier in the
   same UTC day), not from zero.
2. :func:`read_back_fills` — orders can fill while the bot is down. Reconciliation lists
   botkit's open and recent orders with their cumulative filled size; each one filled
   beyond the mark the ledger counted has its fills read back from REST and reported
   through the fill tracker, which applies the same high-water-mark rule as a live
   replay: only the uncounted part becomes a fill. The strategy gets the order's update
   and then the fill, as it would have live.

Orders finished while down that are older than the reconciliation window (default an
hour) are not listed; those with a counted mark are still asked about by the feed's own
backfill after the ``user`` snapshot (an unfinished mark), those without one are missed —
docs/strategies.md says so.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from botkit.market.events import FillEvent, OrderUpdate
from botkit.orders.fills import TERMINAL_STATUSES, FillTracker
from botkit.orders.ledger import FillLedger
from botkit.orders.types import ReconcileReport
from botkit.risk.gate import RiskGate
from botkit.strategy.context import BotContext

__all__ = ["Backfill", "read_back_fills", "resume_positions"]

log = logging.getLogger("botkit.runtime.bot")
_ZERO = Decimal(0)

Backfill = Callable[[Sequence[str]], Awaitable[Sequence[Any]]]


def resume_positions(ctx: BotContext, gate: RiskGate | None, ledger: FillLedger) -> None:
    """Start the context's and the risk engine's positions from the ledger."""
    positions = ledger.positions()
    for product_id, position in positions.items():
        ctx.positions.restore(product_id, position)
    today = ledger.today()
    if gate is not None and (positions or today is not None):  # a new ledger changes nothing
        gate.engine.restore(positions, today)
    held = {pid: p.quantity for pid, p in positions.items() if p.quantity}
    if held:
        log.info(
            "positions resumed from %s: %s",
            ledger.path,
            ", ".join(f"{pid} {qty}" for pid, qty in sorted(held.items())),
        )


async def read_back_fills(
    recon: ReconcileReport, ledger: FillLedger, tracker: FillTracker, backfill: Backfill
) -> list[OrderUpdate | FillEvent]:
    """The fills of botkit's listed orders that the ledger has not counted, read from REST.

    Returns, per order with such fills, its current order update and then the fill (in
    the order the strategy must get them). A finished order whose counted mark was still
    open is marked finished. REST trouble raises (a ``BotkitError``): the bot does not
    start without knowing what it holds; nothing was changed, a restart tries again.
    """
    missed = []
    for order in recon.listed:
        mark = ledger.mark(order.order_id)
        counted = mark.cumulative_quantity if mark is not None else _ZERO
        if order.filled_size > counted:
            missed.append(order)
        elif mark is not None and not mark.terminal and order.status in TERMINAL_STATUSES:
            ledger.finished(order.order_id, order.status)
            tracker.expect(
                order.order_id, order.client_order_id, order.product_id, order.side, order.status
            )
    if not missed:
        return []
    rows = await backfill([o.order_id for o in missed])
    for o in missed:  # known to the tracker, still unfinished until its fills are in
        status = "" if o.status in TERMINAL_STATUSES else o.status
        tracker.expect(o.order_id, o.client_order_id, o.product_id, o.side, status)
    fills = {f.order_id: f for f in tracker.reconcile_rest_fills(rows)}
    out: list[OrderUpdate | FillEvent] = []
    for o in missed:
        fill = fills.get(o.order_id)
        if fill is None:
            continue  # REST does not list them yet: the feed's backfills keep asking
        if not o.open:  # an open order's update is among the start-up updates already
            out.append(o.to_update())
            if fill.cumulative_quantity >= o.filled_size:  # all in: stop asking
                tracker.expect(
                    o.order_id, o.client_order_id, o.product_id, o.side, o.status
                )
        out.append(fill)
        log.warning(
            "start-up: order %s (client_order_id=%s) filled %s %s %s while the bot was "
            "down: counted now",
            o.order_id, o.client_order_id, o.side, fill.size, o.product_id,
        )  # fmt: skip
    return out
