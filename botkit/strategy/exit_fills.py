"""Core ring: what an exit's working orders have filled, counted and still owe.

Why a module of its own: the fill tracker reports an order's final update *before* the
fills that update already includes (one user-channel message carries both: a working
order partly filled and then cancelled or expired). The exit manager must then size what
it does next — re-arm an emulated exit, replace a native one — by what the position will
hold once those fills arrive, not by what it has counted so far (re-arming for the whole
size sold more than the position), and still count those fills when they come, through
the one path that counts fills (events, the stop-loss cooldown, the position in order).

Kept in ``ExitRecord.extra`` (so it survives a restart, as text Decimals):

* ``applied``: per working order (client_order_id), the cumulative quantity its fills
  brought into ``rec.filled`` so far. An order starts at "0" when it is sent; a fill
  whose cumulative quantity is not above it was counted already.
* ``due``: per order that ended with more filled than was counted, its final cumulative
  quantity; its late fills are still the exit's, until they reach it.

A record saved by an older botkit has neither: its orders are "unknown" and behave as
before (no de-duplication, nothing due), rather than being guessed at.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = [
    "accepts",
    "applied",
    "begin",
    "counted",
    "ended",
    "outstanding",
    "owed_orders",
    "owes",
]

_APPLIED = "applied"
_DUE = "due"
_ZERO = Decimal(0)


def _map(extra: dict[str, Any], key: str) -> dict[str, str]:
    value = extra.get(key)
    if not isinstance(value, dict):
        value = extra[key] = {}
    return value


def begin(extra: dict[str, Any], coid: str) -> None:
    """A new working order ``coid`` was sent: nothing of it counted yet. Orders that owe
    nothing are forgotten (a trailing stop sends one per re-price)."""
    applied, due = _map(extra, _APPLIED), _map(extra, _DUE)
    for old in [c for c in applied if c not in due]:
        del applied[old]
    applied[coid] = "0"


def owed_orders(extra: dict[str, Any]) -> list[str]:
    """The ended orders whose late fills are still to come (the exit must route them)."""
    due = extra.get(_DUE)
    return list(due) if isinstance(due, dict) else []


def owes(extra: dict[str, Any], coid: str) -> bool:
    """Whether ``coid`` ended with late fills still to come (they are the exit's)."""
    return coid in _map(extra, _DUE)


def applied(extra: dict[str, Any], coid: str) -> Decimal | None:
    """What ``coid``'s fills brought into the exit so far (None: an unknown order)."""
    seen = _map(extra, _APPLIED).get(coid)
    return None if seen is None else Decimal(seen)


def accepts(extra: dict[str, Any], coid: str, cumulative: Decimal) -> bool:
    """Whether a fill of ``coid`` reaching ``cumulative`` still has something to count.

    False when its cumulative is not above what was counted (a repeat); True for an
    order this record does not know (an older record: counted as before).
    """
    seen = _map(extra, _APPLIED).get(coid)
    return seen is None or cumulative > Decimal(seen)


def counted(extra: dict[str, Any], coid: str, cumulative: Decimal) -> None:
    """A fill of ``coid`` was counted, the order now at ``cumulative``; an ended order
    whose late fills have all come owes nothing more (its count stays until the next
    :func:`begin`, so a repeat is still recognised)."""
    applied = _map(extra, _APPLIED)
    if coid not in applied:
        return  # unknown (older record): nothing to keep
    applied[coid] = str(cumulative)
    due = _map(extra, _DUE)
    if coid in due and cumulative >= Decimal(due[coid]):
        del due[coid]


def ended(extra: dict[str, Any], coid: str, cumulative: Decimal) -> Decimal:
    """Order ``coid`` ended at ``cumulative``: what its fills still owe (0 when none, or
    when the order is unknown)."""
    seen = _map(extra, _APPLIED).get(coid)
    if seen is None:
        return _ZERO
    owed = cumulative - Decimal(seen)
    if owed > 0:
        _map(extra, _DUE)[coid] = str(cumulative)
        return owed
    return _ZERO


def outstanding(extra: dict[str, Any]) -> Decimal:
    """What ended orders' late fills will still bring, in all."""
    applied = _map(extra, _APPLIED)
    total = _ZERO
    for coid, final in _map(extra, _DUE).items():
        total += Decimal(final) - Decimal(applied.get(coid, "0"))
    return total
