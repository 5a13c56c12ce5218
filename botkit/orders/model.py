"""Core ring: the order model every venue decodes into (orders, updates, create/cancel results).

Why a neutral module: the executor, the reconciliation, the fill tracker and the strategy
context read orders the same way on every venue. A venue's REST client and user-channel
decoder (:mod:`botkit.venues`) return these Structs; nothing venue-neutral imports a venue.
Field names are Advanced Trade's (the first venue decodes straight into them); another
venue's client translates its own shapes (Exchange's ``client_oid``, Prime's
``client_order_id``) onto them.

Money is ``Decimal``. User-channel order fields stay strings: Coinbase sends ``""`` for
unset numbers, which a ``Decimal`` field would reject; :mod:`botkit.orders.fills` converts
what it needs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from botkit.market.types import EventType

__all__ = [
    "CancelResult",
    "CreateOrderResult",
    "Order",
    "OrdersPage",
    "SuccessResponse",
    "UserEvent",
    "UserOrder",
]


class _S(msgspec.Struct, frozen=True, kw_only=True):
    pass


class SuccessResponse(_S, frozen=True, kw_only=True):
    order_id: str
    product_id: str = ""
    side: str = ""
    client_order_id: str = ""
    attached_order_id: str = ""
    """The exit Coinbase created for an ``attached_order_configuration`` (TP/SL), if any."""


class CreateOrderResult(_S, frozen=True, kw_only=True):
    """The §2.4 answer. ``success`` false means rejected (the client raises OrderRejected)."""

    success: bool
    success_response: SuccessResponse | None = None
    error_response: dict[str, Any] | None = None
    order_configuration: dict[str, Any] | None = None


class CancelResult(_S, frozen=True, kw_only=True):
    success: bool
    failure_reason: str = ""
    order_id: str = ""


class Order(_S, frozen=True, kw_only=True):
    order_id: str
    product_id: str
    side: str
    client_order_id: str = ""
    status: str
    order_configuration: dict[str, Any] = {}
    time_in_force: str = ""
    created_time: str = ""
    filled_size: Decimal = Decimal(0)
    average_filled_price: Decimal = Decimal(0)
    filled_value: Decimal = Decimal(0)
    total_fees: Decimal = Decimal(0)
    number_of_fills: str = "0"
    order_type: str = ""
    reject_reason: str = ""
    cancel_message: str = ""
    retail_portfolio_id: str = ""
    """The portfolio the order lives in (Advanced Trade sends it; other venues leave "")."""
    originating_order_id: str = ""
    """On an exit created from an entry's ``attached_order_configuration``: the entry's
    order id. Such an exit has an empty ``client_order_id``: this is how it is known."""
    attached_order_id: str = ""
    """On an entry placed with ``attached_order_configuration``: its exit's order id."""


class OrdersPage(_S, frozen=True, kw_only=True):
    orders: list[Order]
    has_next: bool = False
    cursor: str = ""


class UserOrder(msgspec.Struct, kw_only=True):
    """A ``user``-channel order: *cumulative* state, not a fill (§3.5)."""

    order_id: str
    client_order_id: str = ""
    product_id: str = ""
    order_side: str = ""
    order_type: str = ""
    status: str = ""
    time_in_force: str = ""
    cumulative_quantity: str = "0"
    leaves_quantity: str = "0"
    avg_price: str = "0"
    total_fees: str = "0"
    filled_value: str = ""
    number_of_fills: str = "0"
    limit_price: str = ""
    stop_price: str = ""
    cancel_reason: str = ""
    reject_reason: str = ""
    creation_time: str = ""


class UserEvent(msgspec.Struct, kw_only=True):
    type: EventType
    orders: list[UserOrder] = msgspec.field(default_factory=list)
