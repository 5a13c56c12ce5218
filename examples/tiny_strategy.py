"""A complete strategy: `botkit run --strategy examples/tiny_strategy.py --duration 20`."""

from __future__ import annotations

from decimal import Decimal

from botkit import NoParams, OrderRejected, Strategy, Ticker

__all__ = ["DipRip"]


class DipRip(Strategy):
    """Buy when the price falls `move` below the price we last acted on; sell above it."""

    class Params(NoParams):  # a pydantic model; unknown keys are refused
        product_id: str = "BTC-USD"
        size: Decimal = Decimal("0.001")
        move: Decimal = Decimal("2")  # quote currency

    params: Params
    anchor: Decimal | None = None

    async def on_ticker(self, ticker: Ticker) -> None:
        p, price = self.params, ticker.price
        busy = self.ctx.open_orders(p.product_id)
        if self.anchor is None or abs(price - self.anchor) < p.move or busy:
            self.anchor = self.anchor or price
            return
        try:  # market orders; the risk engine checks each one first
            if price < self.anchor:
                await self.ctx.buy_market(p.product_id, base_size=p.size)
            else:
                await self.ctx.sell_market(p.product_id, p.size)
        except OrderRejected as exc:
            self.ctx.log.info("refused: %s", exc)
        self.anchor = price
