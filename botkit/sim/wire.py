"""Coinbase wire shapes built from the simulator's records.

Everything numeric leaves here as a decimal *string*, timestamps as RFC 3339
with ``Z`` (zero time ``0001-01-01T00:00:00Z``), because that is what the real
API sends (§2.1, §2.7, §2.8, §3.5) and what client code must be tested against.
The builders are pure functions of the records so REST and WebSocket views of
the same order can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from botkit.market.matching import Side
from botkit.sim.orders import Order, OrderReject, OrderRequest

__all__ = [
    "ZERO_TIME",
    "QuantityUnit",
    "UserFill",
    "avg_price",
    "dec_str",
    "failure_response",
    "fill_wire",
    "fill_wire_size",
    "order_rest",
    "order_ws",
    "rfc3339",
    "success_response",
]

ZERO_TIME = "0001-01-01T00:00:00Z"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AVG_QUANTUM = Decimal("1e-10")
_PCT_QUANTUM = Decimal("0.01")
# the user channel's spelling; "Bracket" is **assumed** (match order_type case-insensitively, §3.5)
_WS_TYPES = {"MARKET": "Market", "LIMIT": "Limit", "STOP_LIMIT": "StopLimit", "BRACKET": "Bracket"}


def rfc3339(ts: float | None) -> str:
    """Format Unix seconds as ``2026-11-21T14:00:00.123456Z`` (``None`` -> zero time)."""
    if ts is None:
        return ZERO_TIME
    moment = _EPOCH + timedelta(microseconds=round(ts * 1_000_000))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dec_str(value: Decimal) -> str:
    """Plain (never scientific) decimal string, as Coinbase sends numbers."""
    text = format(value, "f")
    return "0" if text.startswith("-0") and not value else text


def _trim(value: Decimal) -> str:
    return dec_str(value.normalize()) if value else "0"


def avg_price(order: Order) -> Decimal:
    """Volume-weighted average fill price (zero when unfilled)."""
    if not order.filled_size:
        return Decimal(0)
    return (order.filled_value / order.filled_size).quantize(_AVG_QUANTUM, ROUND_HALF_EVEN)


def _completion(order: Order) -> str:
    if not order.base_size:
        return "100.00" if order.status == "FILLED" else "0.00"
    pct = order.filled_size * 100 / order.base_size
    return dec_str(pct.quantize(_PCT_QUANTUM, ROUND_HALF_EVEN))


def _value_after_fees(order: Order) -> Decimal:
    if order.side == "BUY":
        return order.filled_value + order.total_fees
    return order.filled_value - order.total_fees


def _leaves(order: Order) -> Decimal:
    if order.terminal:
        return Decimal(0)
    if order.size_in_quote and order.quote_size is not None:
        return max(order.quote_size - order.filled_value - order.total_fees, Decimal(0))
    return order.remaining


@dataclass(frozen=True, slots=True)
class UserFill:
    """One execution of a user order (§2.8), in the engine's own units.

    ``size`` is always the *base* quantity here, whatever the order was sized in,
    because the ledger, the paper journal and the reports all account in base.
    :func:`fill_wire` converts it to what Coinbase sends: for a quote-sized order
    (``size_in_quote``) the wire ``size`` is the fill's quote notional.
    """

    entry_id: str
    trade_id: str
    order_id: str
    user_id: str
    product_id: str
    side: Side
    price: Decimal
    size: Decimal
    commission: Decimal
    liquidity: str
    time: float
    size_in_quote: bool
    seq: int


def order_rest(order: Order) -> dict[str, Any]:
    """The §2.7 order object."""
    return {
        "order_id": order.order_id,
        "product_id": order.product_id,
        "user_id": order.user_id,
        "order_configuration": {order.config_key: dict(order.config)},
        "side": order.side,
        "client_order_id": order.client_order_id,
        "status": order.status,
        "time_in_force": order.time_in_force,
        "created_time": rfc3339(order.created_time),
        "completion_percentage": _completion(order),
        "filled_size": dec_str(order.filled_size),
        "average_filled_price": _trim(avg_price(order)),
        "fee": "",
        "number_of_fills": str(order.number_of_fills),
        "filled_value": dec_str(order.filled_value),
        "pending_cancel": order.status == "CANCEL_QUEUED",
        "size_in_quote": order.size_in_quote,
        "total_fees": dec_str(order.total_fees),
        "size_inclusive_of_fees": order.size_in_quote and order.kind == "MARKET",
        "total_value_after_fees": dec_str(_value_after_fees(order)),
        "trigger_status": order.trigger_status,
        "order_type": order.kind,
        "reject_reason": order.reject_reason or "REJECT_REASON_UNSPECIFIED",
        "settled": order.terminal,
        "product_type": "SPOT",
        "reject_message": "",
        "cancel_message": order.cancel_reason,
        "order_placement_source": "RETAIL_ADVANCED",
        "outstanding_hold_amount": dec_str(order.hold),
        "is_liquidation": False,
        "last_fill_time": None if order.last_fill_time is None else rfc3339(order.last_fill_time),
        "edit_history": [dict(entry) for entry in order.edit_history],
        "leverage": "",
        "margin_type": "UNKNOWN_MARGIN_TYPE",
        "retail_portfolio_id": order.user_id,
        "originating_order_id": order.originating_order_id,
        "attached_order_id": order.attached_order_id,
        "attached_order_configuration": (
            None if order.attached_config is None else dict(order.attached_config)
        ),
        "current_pending_replace": None,
        "last_update_time": rfc3339(order.last_update_time),
    }


QuantityUnit = Literal["base", "quote"]
"""The unit of a quote-sized order's ``cumulative_quantity`` on the ``user`` channel."""


def _cumulative(order: Order, unit: QuantityUnit) -> Decimal:
    """``cumulative_quantity``: base, unless ``unit`` is ``"quote"`` and the order is quote-sized.

    Coinbase does not document the unit for quote-sized orders (the reference, §3.5,
    only says ``leaves_quantity`` is in the order's sizing currency). Base is the
    default because REST ``filled_size`` is base for such orders (ccxt's recorded
    ``fetchOrders`` sample) and ccxt pro and Hummingbot read ``cumulative_quantity`` as
    base. ``"quote"`` (the quote spent, fees included, so that cumulative + leaves is
    the ``quote_size``) exists so clients can be tested against the other reading.
    """
    if unit == "quote" and order.size_in_quote:
        return order.filled_value + order.total_fees
    return order.filled_size


def order_ws(order: Order, *, quote_sized_quantity: QuantityUnit = "base") -> dict[str, Any]:
    """One ``user``-channel order dict (§3.5): all strings, ``post_only`` as ``"true"``."""
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "product_id": order.product_id,
        "order_side": order.side,
        "order_type": _WS_TYPES[order.kind],
        "status": order.status,
        "time_in_force": order.time_in_force,
        "cumulative_quantity": dec_str(_cumulative(order, quote_sized_quantity)),
        "leaves_quantity": dec_str(_leaves(order)),
        "avg_price": _trim(avg_price(order)),
        "total_fees": dec_str(order.total_fees),
        "filled_value": dec_str(order.filled_value),
        "number_of_fills": str(order.number_of_fills),
        "limit_price": "" if order.limit_price is None else dec_str(order.limit_price),
        "stop_price": "" if order.stop_price is None else dec_str(order.stop_price),
        "post_only": "true" if order.post_only else "false",
        "outstanding_hold_amount": dec_str(order.hold),
        "total_value_after_fees": dec_str(_value_after_fees(order)),
        "completion_percentage": _completion(order),
        "cancel_reason": order.cancel_reason,
        "reject_reason": order.reject_reason,
        "trigger_status": order.trigger_status,
        "product_type": "SPOT",
        "creation_time": rfc3339(order.created_time),
        "end_time": rfc3339(order.end_time),
        "start_time": ZERO_TIME,
        "retail_portfolio_id": order.user_id,
        "contract_expiry_type": "UNKNOWN_CONTRACT_EXPIRY_TYPE",
        "risk_managed_by": "UNKNOWN_RISK_MANAGEMENT_TYPE",
    }


def fill_wire_size(fill: UserFill) -> Decimal:
    """The ``size`` Coinbase reports for ``fill``: quote notional when ``size_in_quote``.

    Coinbase reports every fill of an order placed with ``quote_size`` with
    ``size_in_quote: true`` and ``size`` in the quote currency: the fill's notional,
    ``price * base``, before fees (its ``commission`` is the fee rate times that
    size). Sources: ccxt's ``parse_trade`` (``coinbase.py``), which divides ``size``
    by ``price`` when ``size_in_quote`` is true, and its recorded ``fetchMyTrades``
    sample, where ``commission`` is exactly 0.6 % of ``size`` and the order's
    ``total_fees`` is 0.6 % of its ``filled_value``.
    """
    return (fill.price * fill.size).normalize() if fill.size_in_quote else fill.size


def fill_wire(fill: UserFill) -> dict[str, Any]:
    """The §2.8 fill object (``size`` in quote for a quote-sized order, see above)."""
    commission = dec_str(fill.commission)
    return {
        "entry_id": fill.entry_id,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "trade_time": rfc3339(fill.time),
        "trade_type": "FILL",
        "price": dec_str(fill.price),
        "size": dec_str(fill_wire_size(fill)),
        "commission": commission,
        "product_id": fill.product_id,
        "sequence_timestamp": rfc3339(fill.time),
        "liquidity_indicator": fill.liquidity,
        "size_in_quote": fill.size_in_quote,
        "user_id": fill.user_id,
        "side": fill.side,
        "retail_portfolio_id": fill.user_id,
        "commission_detail_total": {
            "total_commission": commission,
            "gst_commission": "0",
            "withholding_commission": "0",
            "client_commission": "0",
            "venue_commission": commission,
            "regulatory_commission": "0",
            "clearing_commission": "0",
        },
    }


def success_response(order: Order) -> dict[str, Any]:
    """§2.4 success body for ``order`` (also the idempotent duplicate answer)."""
    return {
        "success": True,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": order.order_id,
        "success_response": {
            "order_id": order.order_id,
            "product_id": order.product_id,
            "side": order.side,
            "client_order_id": order.client_order_id,
            **({"attached_order_id": order.attached_order_id} if order.attached_order_id else {}),
        },
        "order_configuration": {order.config_key: dict(order.config)},
    }


def failure_response(
    reject: OrderReject, body: object, request: OrderRequest | None = None
) -> dict[str, Any]:
    """§2.4 failure body; echoes ``order_configuration`` when the body had one."""
    config: Any = None
    if request is not None:
        config = {request.config_key: dict(request.config)}
    elif isinstance(body, dict):
        config = body.get("order_configuration")
    return {
        "success": False,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": "",
        "error_response": {
            "error": reject.reason,
            "message": reject.details,
            "error_details": reject.details,
            "preview_failure_reason": reject.preview_reason,
            "new_order_failure_reason": reject.reason,
        },
        "order_configuration": config,
    }
