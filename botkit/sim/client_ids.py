"""Core ring: the Exchange and Prime dialects' client-id maps, bounded like the engine's orders.

Why: each dialect keeps, beside the engine, which engine orders a venue client id names
(a repeated id must reach the engine under another id) and the reverse. An engine that
forgets finished orders (``keep_finished_seconds``: the runtime's embedded simulator)
would leave these maps growing by an entry per order for the whole run, and a repeated
id would name an order the engine no longer has. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["PRUNE_FROM", "prune_client_ids"]

PRUNE_FROM = 2000
"""Entries held before the first prune (then twice what a prune kept)."""


def prune_client_ids(
    by_order: dict[str, str],
    by_client: dict[tuple[str, str], list[str]],
    holds: Callable[[str], bool],
) -> int:
    """Drop the entries of orders the engine no longer holds (``holds``: the engine's
    :meth:`~botkit.sim.matcher.Matcher.holds`); returns when to prune next (the number of
    entries to exceed)."""
    for order_id in [o for o in by_order if not holds(o)]:
        del by_order[order_id]
    for key in list(by_client):
        kept = [o for o in by_client[key] if holds(o)]
        if kept:
            by_client[key] = kept
        else:
            del by_client[key]
    return max(PRUNE_FROM, 2 * len(by_order))
