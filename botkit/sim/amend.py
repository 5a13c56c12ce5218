"""Cancel and edit of resting orders (§2.6), layered on :class:`~botkit.sim.engine.Engine`.

Cancels are asynchronous as on Coinbase: ``batch_cancel`` only queues the
cancel (``CANCEL_QUEUED``, still fillable) and the order leaves the book
``cancel_latency_steps`` market steps later. Edits apply immediately; a size
decrease at the same price keeps queue priority, anything else re-queues
(**assumed**, as on most venues).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from botkit.sim.engine import Engine
from botkit.sim.ledger import InsufficientFunds
from botkit.sim.orders import Order, check_increment, parse_decimal
from botkit.sim.specs import SimBadRequest
from botkit.sim.wire import dec_str, rfc3339

__all__ = ["Amend"]

_MAX_CANCEL_IDS = 100


class _EditError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Amend(Engine):
    """Adds ``cancel_orders``, ``edit_order`` and ``preview_edit_order``."""

    def cancel_orders(self, user_id: str, order_ids: list[str], now: float) -> dict[str, Any]:
        """Queue cancels (§2.6); per-id results; more than 100 ids is a bad request."""
        if not isinstance(order_ids, list) or not all(isinstance(i, str) for i in order_ids):
            raise SimBadRequest("order_ids must be a list of strings")
        if len(order_ids) > _MAX_CANCEL_IDS:
            raise SimBadRequest(f"at most {_MAX_CANCEL_IDS} order_ids per request")
        results: list[dict[str, Any]] = []
        for order_id in order_ids:
            reason = self._queue_cancel(user_id, order_id, now)
            results.append(
                {
                    "success": reason is None,
                    "failure_reason": reason or "UNKNOWN_CANCEL_FAILURE_REASON",
                    "order_id": order_id,
                }
            )
        self._settle_exits(now)
        self._flush_books(now)
        return {"results": results}

    def _queue_cancel(self, user_id: str, order_id: str, now: float) -> str | None:
        order = self._orders.get(order_id)
        if order is None or order.user_id != user_id:
            return "UNKNOWN_CANCEL_ORDER"
        if order.status == "FILLED":
            return "ORDER_IS_FULLY_FILLED"
        if order.status == "CANCEL_QUEUED":
            return "DUPLICATE_CANCEL_REQUEST"
        if order.terminal:
            return "INVALID_CANCEL_REQUEST"
        if not self._defer_cancel(order, now):
            self._finish(order, "CANCELLED", now, "User requested cancel")
            return None
        order.status = "CANCEL_QUEUED"
        order.last_update_time = now
        self._cancels[order.order_id] = order
        self._emit(order)
        return None

    def _defer_cancel(self, order: Order, now: float) -> bool:
        """Schedule the cancel's effect; ``False`` means it takes effect now.

        The simulator counts market steps; the paper broker overrides this with
        a latency in seconds.
        """
        latency = self.config.cancel_latency_steps
        if latency <= 0:
            return False
        order.cancel_due_step = self._steps + latency
        return True

    # ------------------------------------------------------------------- edit
    def _check_edit(self, user_id: str, body: object) -> tuple[Order, Decimal, Decimal]:
        if not isinstance(body, Mapping) or not isinstance(body.get("order_id"), str):
            raise SimBadRequest("order_id is required")
        order = self._orders.get(body["order_id"])
        if order is None or order.user_id != user_id:
            raise _EditError("ORDER_NOT_FOUND")
        if order.config_key != "limit_limit_gtc":
            raise _EditError("ONLY_LIMIT_ORDER_EDITS_SUPPORTED")
        if order.status != "OPEN":
            raise _EditError("ONLY_OPEN_ORDERS_CAN_BE_EDITED")
        if order.size_in_quote:
            raise _EditError("SIZE_IN_QUOTE_EDITS_NOT_ALLOWED")
        spec = self._products[order.product_id]
        try:
            price = parse_decimal(body.get("price"), "price")
        except SimBadRequest:
            raise _EditError("INVALID_EDITED_PRICE") from None
        try:
            size = parse_decimal(body.get("size"), "size")
        except SimBadRequest:
            raise _EditError("INVALID_EDITED_SIZE") from None
        if price <= 0 or not check_increment(price, spec.price_tick):
            raise _EditError("INVALID_EDITED_PRICE")
        if not check_increment(size, spec.base_increment) or size > spec.base_max_size:
            raise _EditError("INVALID_EDITED_SIZE")
        if size <= order.filled_size:
            raise _EditError("CANNOT_EDIT_TO_BELOW_FILLED_SIZE")
        if size < spec.base_min_size:
            raise _EditError("INVALID_EDITED_SIZE")
        if price == order.limit_price and size == order.base_size:
            raise _EditError("EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST")
        if order.post_only and price != order.limit_price:
            book = self._books[order.product_id]
            if book.crosses(order.side, price):
                raise _EditError("INVALID_EDITED_PRICE")
        if self._edit_extra_hold(order, price, size) > self._ledger.available(
            user_id, order.hold_currency
        ):
            raise _EditError("COMMANDER_REJECTED_EDIT_ORDER")
        return order, price, size

    def _edit_extra_hold(self, order: Order, price: Decimal, size: Decimal) -> Decimal:
        remaining = size - order.filled_size
        if order.side == "SELL":
            return remaining - order.hold
        return remaining * price * (1 + self.config.fee_tier.taker_fee_rate) - order.hold

    @staticmethod
    def _edit_failure(reason: str) -> dict[str, Any]:
        return {
            "success": False,
            "errors": [
                {"edit_failure_reason": reason, "preview_failure_reason": f"PREVIEW_{reason}"}
            ],
        }

    def edit_order(self, user_id: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        """Edit a GTC limit order's price and size (§2.6); both are required."""
        try:
            order, price, size = self._check_edit(user_id, body)
        except _EditError as err:
            return self._edit_failure(err.reason)
        extra = self._edit_extra_hold(order, price, size)
        try:
            if extra > 0:
                self._ledger.place_hold(user_id, order.hold_currency, extra, now)
                order.hold += extra
        except InsufficientFunds:  # pragma: no cover - guarded by _check_edit
            return self._edit_failure("COMMANDER_REJECTED_EDIT_ORDER")
        keep_priority = price == order.limit_price and size < order.base_size
        book = self._books[order.product_id]
        order.base_size = size
        order.limit_price = price
        order.last_update_time = now
        order.config = dict(order.config, base_size=dec_str(size), limit_price=dec_str(price))
        order.edit_history.append(
            {
                "price": dec_str(price),
                "size": dec_str(size),
                "replace_accept_timestamp": rfc3339(now),
            }
        )
        if keep_priority:
            book.reduce(order.order_id, order.remaining)
            self._trim_hold(order, now)
            self._emit(order)
        else:
            book.cancel(order.order_id)
            self._enter_book(order, now, announce=True)
        self._check_stops(order.product_id, now)
        self._flush_books(now)
        return {"success": True, "errors": []}

    def preview_edit_order(self, user_id: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        """Validate an edit without applying it (§2.6 ``edit_preview``)."""
        try:
            order, price, size = self._check_edit(user_id, body)
        except _EditError as err:
            return {"errors": [self._edit_failure(err.reason)["errors"][0]]}
        bid, ask = (
            self._books[order.product_id].best("BUY"),
            self._books[order.product_id].best("SELL"),
        )
        notional = (size - order.filled_size) * price
        fee = notional * self.config.fee_tier.maker_fee_rate
        total = notional + fee if order.side == "BUY" else notional - fee
        return {
            "errors": [],
            "slippage": "0",
            "order_total": dec_str(total),
            "commission_total": dec_str(fee),
            "quote_size": dec_str(notional),
            "base_size": dec_str(size),
            "best_bid": dec_str(bid[0]) if bid else "0",
            "best_ask": dec_str(ask[0]) if ask else "0",
            "average_filled_price": dec_str(price),
        }
