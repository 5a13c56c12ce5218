"""A strategy for tests/paper/test_paper_mode.py: one large bid inside the spread, once.

The bid is many times the simulator's typical print, so trade prints fill it a piece at a
time and it stays open, partly filled, for a long while: the state a kill must leave
counted exactly once.
"""

from __future__ import annotations

from decimal import Decimal

from botkit import Strategy
from botkit.market.events import BookChanged

__all__ = ["PartialBid"]


class PartialBid(Strategy):
    """Places one buy limit of 0.5 BTC a cent above the best bid (only if it stays inside
    the spread), then waits."""

    placed = False

    async def on_book(self, event: BookChanged) -> None:
        if self.placed:
            return
        book = self.ctx.book("BTC-USD")
        if book is None or not book.valid:
            return
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return
        price = bid[0] + Decimal("0.01")
        if price >= ask[0]:
            return
        self.placed = True
        await self.ctx.buy_limit("BTC-USD", Decimal("0.5"), price)
