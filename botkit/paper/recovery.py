"""The paper exchange's half of crash recovery: state out as journal records, and back in.

Split from :mod:`botkit.paper.exchange` because these two functions are one
contract and none of the exchange's matching or latency rules call them:
:func:`take_delta` reports every change of the paper user's orders, fills and
balances as :mod:`~botkit.paper.records`, and :func:`restore` rebuilds a fresh
exchange from exactly those records after a restart or kill. Keeping them
together keeps the "what was reported" bookkeeping (dirty orders, fills and
balances reported, ledger version) next to the only code that resets it.
:class:`~botkit.paper.exchange.PaperExchange` exposes both as methods; like the
simulator's layers, they work on its internals directly.

Pure like the exchange: no clock, no I/O; ids after a restore come from a
generator re-seeded from the restored state, so they stay deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from botkit.core.matching import Lot
from botkit.paper.records import BalanceRecord, FillRecord, OrderRecord, StateDelta
from botkit.paper.state import (
    balance_record,
    fill_from_record,
    fill_record,
    order_from_state,
    order_record,
)
from botkit.sim.orders import Order

if TYPE_CHECKING:
    from botkit.paper.exchange import PaperExchange

__all__ = ["restore", "take_delta"]

_ZERO = Decimal(0)
_NOTHING = StateDelta()  # immutable-by-convention empty delta (falsy)
_RESTARTED = "paper session restarted before the order reached the matching engine"


def take_delta(exchange: PaperExchange) -> StateDelta:
    """Orders, fills and balances of the paper user changed since the last call.

    Args:
        exchange: the paper exchange whose changes are reported (and marked reported).

    Returns:
        The changes as journal records; an empty (falsy) delta when nothing changed.
    """
    user = exchange.paper.user_id
    every = exchange._fills.get(user, ())
    version = exchange._ledger.version
    if (
        not exchange._dirty
        and len(every) == exchange._fills_reported
        and version == exchange._version
    ):
        return _NOTHING  # the hot path: called after every market event
    exchange._version = version
    orders = [
        order_record(exchange._orders[oid])
        for oid in exchange._dirty
        if exchange._orders[oid].user_id == user
    ]
    exchange._dirty.clear()
    fills = [
        fill_record(f, exchange._orders[f.order_id].client_order_id)
        for f in every[exchange._fills_reported :]
    ]
    exchange._fills_reported = len(every)
    balances: list[BalanceRecord] = []
    for bal in exchange._ledger.balances(user):
        now = (bal.available, bal.hold)
        if exchange._balances_reported.get(bal.currency) != now:
            exchange._balances_reported[bal.currency] = now
            balances.append(balance_record(bal))
    return StateDelta(orders, fills, balances)


def restore(
    exchange: PaperExchange,
    orders: Sequence[OrderRecord],
    fills: Sequence[FillRecord],
    balances: Sequence[BalanceRecord],
) -> None:
    """Rebuild a journaled session on a fresh exchange (after a restart or kill).

    Later records of the same order or currency win. Balances and holds are
    taken as journaled. Open resting orders re-join at the *back* of the
    current queue at their price (the queue position they had is unknowable
    after downtime); if the book is not valid yet they join when it is.
    Orders still in submit latency that must trade at once (market, IOC,
    FOK) are cancelled: the book they would have met is gone. Fill and order
    ids continue from a generator re-seeded from the restored state, so they
    stay deterministic and never repeat restored ones.

    Args:
        exchange: a freshly built paper exchange (no orders yet).
        orders: journaled order records, oldest first.
        fills: journaled fill records (duplicates by fill id are ignored).
        balances: journaled balance records, oldest first.

    Raises:
        ValueError: the exchange already has orders, a record is unreadable,
            or an order is on a product the exchange is not configured for.
    """
    if exchange._orders:
        raise ValueError("restore() needs a fresh PaperExchange")
    latest = {rec.order_id: order_from_state(rec.state) for rec in orders}
    unknown = sorted({o.product_id for o in latest.values()} - set(exchange._products))
    if unknown:
        raise ValueError(f"journaled orders on products not configured: {unknown}")
    user = exchange.paper.user_id
    exchange.add_user(user)
    restored = sorted(latest.values(), key=lambda o: o.seq)
    for order in restored:
        exchange._orders[order.order_id] = order
        exchange._user_orders.setdefault(order.user_id, []).append(order)
        exchange._fills.setdefault(order.user_id, [])
        if order.client_order_id:
            exchange._by_client[(order.user_id, order.client_order_id)] = order
    unique = {rec.fill_id: rec for rec in fills}
    for rec in sorted(unique.values(), key=lambda r: r.seq):
        owner = latest.get(rec.order_id)
        in_quote = owner.size_in_quote if owner is not None else False
        exchange._fills[user].append(fill_from_record(rec, user, in_quote))
    ledger = exchange._ledger
    for bal in {b.currency: b for b in balances}.values():
        if bal.currency not in {b.currency for b in ledger.balances(user)}:
            exchange._open_account(user, bal.currency, _ZERO)
        ledger.set_balance(user, bal.currency, bal.available, bal.hold, bal.time)
    seqs = [o.seq for o in restored] + [r.seq for r in unique.values()]
    exchange._seq = max(seqs, default=0)
    exchange._id_rng = random.Random(
        f"paper-restore:{exchange._seed}:{len(latest)}:{len(unique)}:{exchange._seq}"
    )
    exchange._events.clear()
    exchange._dirty.clear()
    exchange._fills_reported = len(exchange._fills[user])
    exchange._balances_reported = {b.currency: (b.available, b.hold) for b in ledger.balances(user)}
    for order in restored:
        if not order.terminal:
            _reopen(exchange, order)


def _reopen(exchange: PaperExchange, order: Order) -> None:
    """Put a restored live order back where the engine keeps it (pending, queue, stops)."""
    pid = order.product_id
    exchange._open[order.order_id] = order
    if order.activate_at is not None:  # never reached the matching engine
        if exchange._takes_liquidity(order):
            exchange._finish(order, "CANCELLED", exchange._now, _RESTARTED)
        else:
            exchange._pending[order.order_id] = order
        return
    if order.end_time is not None:
        exchange._gtd[order.order_id] = order
    if order.status == "CANCEL_QUEUED":
        exchange._cancels[order.order_id] = order
    if order.kind == "STOP_LIMIT" and order.trigger_status == "STOP_PENDING":
        exchange._stops[pid][order.order_id] = order
        return
    assert order.limit_price is not None
    lot = Lot(order.order_id, order.side, order.limit_price, order.remaining, order.user_id)
    exchange._books[pid].add(lot)
