"""Order-entry checks that need the live market: trading mode, stop vs last trade, post-only, holds.

:func:`botkit.sim.orders.parse_create` checks a body on its own; what it cannot
know is the book, the last trade and the product's trading mode. :func:`check_entry`
finishes the job and works out how much the order must reserve, which the engine then
compares with the user's available balance (``INSUFFICIENT_FUND``) for both create and
preview; :func:`check_mode` refuses what a restricted product does not take
(:data:`MODE_REFUSALS`, one table for every dialect).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botkit.sim.market import MatchBook
from botkit.sim.orders import (
    OrderReject,
    OrderRequest,
    bracket_stop_limit,
    check_attached_prices,
)
from botkit.sim.specs import ProductSpec

__all__ = [
    "MODE_REFUSALS",
    "TRADING_MODES",
    "ModeRefusal",
    "check_entry",
    "check_mode",
    "mode_admits",
    "mode_flags",
]

_ZERO = Decimal(0)

TRADING_MODES = ("full", "limit_only", "post_only", "cancel_only", "halted")
"""A product's trading modes, from the most to the least permissive (the names of
``botkit.market.trading_status.TradingMode``)."""


@dataclass(frozen=True, slots=True)
class ModeRefusal:
    """How a restricted product refuses a new order it does not take.

    ``reason``: Advanced Trade's ``new_order_failure_reason`` (the create-order 200 body,
    ``success: false``); ``words``: the mode in the ``error_response.message``
    ("BTC-USD is in cancel-only mode"); ``exchange_message``: the Exchange dialect's 400
    ``{"message": ...}``. The Advanced Trade reasons are **UNCERTAIN**: the reference lists
    ``TRADING_DISABLED``, ``PRODUCT_TRADING_HALTED`` and ``ORDER_ENTRY_DISABLED`` among the
    failure reasons but says for none which restriction sends it. ``Cancel only mode`` is
    the text ccxt matches (OnMaintenance); ``Trading is disabled`` is what botkit's Exchange
    error map reads as ``TRADING_DISABLED``; ``Limit only mode`` and ``Post only mode`` are
    assumed by analogy.
    """

    reason: str
    words: str
    exchange_message: str


MODE_REFUSALS: dict[str, ModeRefusal] = {
    "halted": ModeRefusal("TRADING_DISABLED", "halted (trading disabled)", "Trading is disabled"),
    "cancel_only": ModeRefusal("TRADING_DISABLED", "in cancel-only mode", "Cancel only mode"),
    "limit_only": ModeRefusal(
        "UNSUPPORTED_ORDER_CONFIGURATION", "in limit-only mode", "Limit only mode"
    ),
    "post_only": ModeRefusal(
        "INVALID_LIMIT_PRICE_POST_ONLY", "in post-only mode", "Post only mode"
    ),
}
"""The one place that says how each restricted mode refuses (``full`` refuses nothing)."""


def mode_admits(mode: str, *, market: bool, post_only: bool) -> bool:
    """Whether a product in ``mode`` takes a new order: ``cancel_only`` and ``halted`` none,
    ``limit_only`` no market order, ``post_only`` only a post-only limit order (a stop-limit
    or bracket is a limit order that is not post-only)."""
    if mode == "full":
        return True
    if mode == "limit_only":
        return not market
    if mode == "post_only":
        return post_only and not market
    return False


def check_mode(mode: str, message: str, request: OrderRequest) -> None:
    """Refuse ``request`` if its product's ``mode`` does not take it.

    Raises:
        OrderReject: with the mode's :data:`MODE_REFUSALS` reason; the message names the
            product and the mode, then the operator's ``message`` when one was set.
    """
    if mode_admits(mode, market=request.kind == "MARKET", post_only=request.post_only):
        return
    refusal = MODE_REFUSALS[mode]
    details = f"{request.product_id} is {refusal.words}" + (f": {message}" if message else "")
    raise OrderReject(refusal.reason, details)


def mode_flags(mode: str, message: str) -> dict[str, Any]:
    """The product-object fields that publish ``mode`` (Advanced Trade and Exchange share
    the names): ``halted`` is ``trading_disabled`` and ``status: "offline"``, the others set
    their own flag; ``status_message`` is the operator's message."""
    return {
        "status": "offline" if mode == "halted" else "online",
        "status_message": message,
        "cancel_only": mode == "cancel_only",
        "limit_only": mode == "limit_only",
        "post_only": mode == "post_only",
        "trading_disabled": mode == "halted",
    }


def check_entry(
    request: OrderRequest,
    spec: ProductSpec,
    book: MatchBook,
    last: Decimal,
    taker: Decimal,
    bracket_offset: Decimal = Decimal("0.05"),
) -> tuple[str, Decimal, Decimal]:
    """Check ``request`` against the market; return ``(hold currency, hold, base size)``.

    A BUY limit reserves ``size x limit x (1 + taker rate)`` (enough for the
    worst fee); a SELL reserves its base size; a market BUY reserves its quote
    budget, or the walked cost of its base size plus taker fee. For a
    quote-sized market BUY the returned base size is what the budget buys now.

    A BUY bracket reserves at its dearer leg, the stop leg's limit
    (``bracket_offset`` beyond the trigger), so either leg can fill.

    Raises:
        OrderReject: stop price on the wrong side of the last trade, a bracket
            whose take-profit or stop trigger is on the wrong side of it, TP/SL
            attached to a market entry on the wrong side of it, or a post-only
            order that would cross.
    """
    side = request.side
    if request.kind == "BRACKET":
        _check_bracket(request, last)
    if request.attached is not None and request.limit_price is None:
        check_attached_prices(request.attached, last)  # a market entry: against the last trade
    if request.kind == "STOP_LIMIT":
        assert request.stop_price is not None
        up = request.stop_direction == "STOP_DIRECTION_STOP_UP"
        if up and request.stop_price <= last:
            raise OrderReject(
                "UNKNOWN_FAILURE_REASON",
                "stop price must be above the last trade price",
                "PREVIEW_STOP_PRICE_BELOW_LAST_TRADE_PRICE",
            )
        if not up and request.stop_price >= last:
            raise OrderReject(
                "UNKNOWN_FAILURE_REASON",
                "stop price must be below the last trade price",
                "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE",
            )
    if request.post_only:
        assert request.limit_price is not None
        if book.crosses(side, request.limit_price):
            raise OrderReject(
                "INVALID_LIMIT_PRICE_POST_ONLY", "post-only order would cross the book"
            )
    size = request.base_size or _ZERO
    if side == "SELL":
        currency, hold = spec.base_currency, size
    elif request.kind == "BRACKET":
        assert request.limit_price is not None and request.stop_price is not None
        stop_limit = bracket_stop_limit(side, request.stop_price, bracket_offset, spec.price_tick)
        price = max(request.limit_price, stop_limit)
        currency, hold = spec.quote_currency, size * price * (1 + taker)
    elif request.kind != "MARKET":
        assert request.limit_price is not None
        currency, hold = spec.quote_currency, size * request.limit_price * (1 + taker)
    elif request.quote_size is not None:
        currency, hold = spec.quote_currency, request.quote_size
        size = book.size_for_budget("BUY", request.quote_size, taker, spec.base_increment)
    else:
        currency = spec.quote_currency
        hold = book.cost("BUY", size)[1] * (1 + taker)
    return currency, hold, size


def _check_bracket(request: OrderRequest, last: Decimal) -> None:
    """A bracket exits a position: a SELL bracket's take-profit above the last trade and its
    stop trigger below it (a BUY bracket the mirror image). Otherwise one leg would act at
    once. Reasons from Coinbase's preview enum; which one it sends for this case is **assumed**.
    """
    assert request.limit_price is not None and request.stop_price is not None
    sell = request.side == "SELL"
    if (request.limit_price <= last) if sell else (request.limit_price >= last):
        raise OrderReject(
            "UNKNOWN_FAILURE_REASON",
            f"take-profit limit_price must be {'above' if sell else 'below'} the last trade "
            f"price {last}",
            "PREVIEW_INVALID_BRACKET_LIMIT_PRICE",
        )
    if (request.stop_price >= last) if sell else (request.stop_price <= last):
        raise OrderReject(
            "UNKNOWN_FAILURE_REASON",
            f"stop_trigger_price must be {'below' if sell else 'above'} the last trade "
            f"price {last}",
            "PREVIEW_INVALID_BRACKET_STOP_TRIGGER_PRICE",
        )
