"""Paper exchange state <-> journal records (:mod:`botkit.paper.records`).

An :class:`~botkit.paper.records.OrderRecord` carries the complete internal
:class:`~botkit.sim.orders.Order` as JSON-able ``state`` (Decimals as strings),
so a journaled session restores exactly: the named record fields are for
reports and queries, ``state`` is for :func:`order_from_state`. Fills and
balances map one to one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from botkit.paper.records import BalanceRecord, FillRecord, OrderRecord
from botkit.sim.ledger import Balance
from botkit.sim.orders import Order
from botkit.sim.wire import UserFill

__all__ = [
    "balance_record",
    "fill_from_record",
    "fill_record",
    "order_from_state",
    "order_record",
    "order_state",
]

_FIELDS = {f.name: str(f.type) for f in dataclasses.fields(Order)}
_STATE_VERSION = 1


def _jsonable(value: Any) -> Any:
    """A JSON-able deep copy: Decimals become strings, tuples lists, mappings dicts."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def order_state(order: Order) -> dict[str, Any]:
    """Every field of ``order`` as JSON-able values (plus a format version)."""
    state = {name: _jsonable(getattr(order, name)) for name in _FIELDS}
    state["_v"] = _STATE_VERSION
    return state


def order_from_state(state: Mapping[str, Any]) -> Order:
    """Rebuild an :class:`Order` from :func:`order_state` output.

    Raises:
        ValueError: a different format version, or a required field is missing.
    """
    if state.get("_v") != _STATE_VERSION:
        raise ValueError(f"unknown order state version {state.get('_v')!r}")
    kwargs: dict[str, Any] = {}
    for name, typ in _FIELDS.items():
        if name not in state:
            continue
        value = state[name]
        if value is not None and typ.startswith("Decimal"):
            value = Decimal(value)
        elif name == "config":
            value = dict(value)
        elif name == "edit_history":
            value = [dict(v) for v in value]
        kwargs[name] = value
    try:
        return Order(**kwargs)
    except TypeError as exc:
        raise ValueError(f"incomplete order state: {exc}") from None


def order_record(order: Order) -> OrderRecord:
    """The journal record of ``order``'s current state."""
    return OrderRecord(
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        product_id=order.product_id,
        side=order.side,
        order_type=order.kind,
        time_in_force=order.time_in_force,
        post_only=order.post_only,
        status=order.status,
        limit_price=order.limit_price,
        base_size=order.base_size,
        filled_size=order.filled_size,
        filled_value=order.filled_value,
        total_fees=order.total_fees,
        created_time=order.created_time,
        last_update_time=order.last_update_time,
        reject_reason=order.reject_reason,
        cancel_reason=order.cancel_reason,
        state=order_state(order),
    )


def fill_record(fill: UserFill, client_order_id: str) -> FillRecord:
    """The journal record of one fill."""
    return FillRecord(
        fill_id=fill.entry_id,
        trade_id=fill.trade_id,
        order_id=fill.order_id,
        client_order_id=client_order_id,
        product_id=fill.product_id,
        side=fill.side,
        price=fill.price,
        size=fill.size,
        fee=fill.commission,
        liquidity=fill.liquidity,
        time=fill.time,
        seq=fill.seq,
    )


def fill_from_record(record: FillRecord, user_id: str, size_in_quote: bool) -> UserFill:
    """Rebuild the engine's fill from its journal record."""
    return UserFill(
        entry_id=record.fill_id,
        trade_id=record.trade_id,
        order_id=record.order_id,
        user_id=user_id,
        product_id=record.product_id,
        side="BUY" if record.side == "BUY" else "SELL",
        price=record.price,
        size=record.size,
        commission=record.fee,
        liquidity=record.liquidity,
        time=record.time,
        size_in_quote=size_in_quote,
        seq=record.seq,
    )


def balance_record(balance: Balance) -> BalanceRecord:
    """The journal record of one account's funds."""
    return BalanceRecord(
        currency=balance.currency,
        available=balance.available,
        hold=balance.hold,
        time=balance.updated_at,
    )
