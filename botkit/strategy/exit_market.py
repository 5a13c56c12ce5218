"""Adapter ring: the market an exit's orders meet — the product's rules, its last price, and
whether the venue takes such an order now.

Why a module of its own: every exit is priced against the product's tick and the last
trade, checked against its minimum size, and — since a venue can restrict a product
(cancel only, post only, halted: :mod:`botkit.market.trading_status`) — must not throw
away a resting native order for a replacement the venue would refuse. These reads are what
the exit manager and its sizing share; none of them decides anything about an exit's life.
"""

from __future__ import annotations

from decimal import Decimal

from botkit.market.trading_status import TradingStatus, refusal
from botkit.strategy.exit_recovery import ExitHost
from botkit.strategy.exits import ExitRejected, ProductLimits

__all__ = ["ExitMarket"]


class ExitMarket:
    """Reads of the product an exit trades (mixed into the exit manager)."""

    _ctx: ExitHost  # set by ExitManager.__init__

    def limits(self, product_id: str) -> ProductLimits | None:
        return self._ctx.product_limits.get(product_id)

    def tick(self, product_id: str) -> Decimal | None:
        lim = self.limits(product_id)
        return lim.price_increment if lim is not None else None

    def last_price(self, product_id: str) -> Decimal:
        """The last trade (ticker), else the book's mid: the reference of a held position."""
        ctx = self._ctx
        ticker = ctx.market.ticker(product_id)
        if ticker is not None and ticker.price > 0:
            return ticker.price
        book = ctx.market.book(product_id)
        if book is not None and book.valid:
            mid = book.mid()
            if mid is not None:
                return mid
        raise ExitRejected(
            f"no last price for {product_id}: an exit of a held position is checked against "
            "the last trade. Fix: place it after the first ticker/book of the product",
            reason="EXIT_NO_PRICE",
        )

    def venue_refuses(self, product_id: str) -> TradingStatus | None:
        """The product's status when the venue would refuse a native exit's new order (a
        plain limit or stop-limit) now, else None. A resting native order is cancelled
        for a replacement only when this is None: cancelled, it cannot be put back."""
        status = self._ctx.trading_status(product_id)
        return status if refusal(status, market=False, post_only=False) is not None else None
