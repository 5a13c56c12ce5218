"""Mean reversion on tickers: fade moves of more than ``entry_z`` standard deviations."""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from botkit import BookChanged, OrderRejected, Strategy, Ticker

__all__ = ["MeanReversion"]


class MeanReversion(Strategy):
    """Mean reversion: buy when the price is ``entry_z`` sigmas below its mean, sell above.

    The mean and standard deviation are taken over the last ``window`` prices: ticker
    (last trade) prices by default, or the L2 mid at every book change (``source =
    "book"``), which samples far more often on a quiet market.
    A z-score below ``-entry_z`` adds ``size`` (up to ``max_position``), above ``entry_z``
    removes ``size`` (down to ``-max_position``); once ``|z|`` falls under ``exit_z`` the
    position is closed. Orders are market IOC, one at a time: a fade that waits for a
    resting limit often never fills, and stacking orders on a fast move is how such a
    strategy blows through its limits. The risk engine still checks every order.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product_id: str = Field("BTC-USD", description="product to trade")
        size: Decimal = Field(Decimal("0.001"), gt=0, description="base size per order")
        window: int = Field(50, ge=3, description="tickers in the rolling mean/stdev")
        entry_z: Decimal = Field(Decimal("2"), gt=0, description="z-score that opens a trade")
        exit_z: Decimal = Field(Decimal("0.5"), ge=0, description="z-score that closes it")
        max_position: Decimal = Field(Decimal("0.003"), gt=0, description="own cap (base)")
        source: Literal["ticker", "book"] = Field(
            "ticker", description="sample the last trade price (ticker) or the book mid"
        )

        @model_validator(mode="after")
        def _exit_inside_entry(self) -> MeanReversion.Params:
            if self.exit_z >= self.entry_z:
                raise ValueError("exit_z must be smaller than entry_z")
            return self

    params: Params

    def on_start(self) -> None:
        self.prices: deque[Decimal] = deque(maxlen=self.params.window)
        self.warm = False
        what = "ticker prices" if self.params.source == "ticker" else "book mids"
        self.ctx.log.info(
            "warming up: needs %d %s (seconds to minutes, as busy as the market is) "
            "before the first order",
            self.params.window,
            what,
        )

    def zscore(self, price: Decimal) -> Decimal | None:
        """``(price - mean) / stdev`` of the window, or None while it fills or is flat."""
        self.prices.append(price)
        n = len(self.prices)
        if n < self.params.window:
            return None
        if n == self.params.window and not self.warm:
            self.warm = True
            self.ctx.log.info("warmed up: %d prices; trading from now on", n)
        mean = sum(self.prices, Decimal(0)) / n
        var = sum(((x - mean) ** 2 for x in self.prices), Decimal(0)) / n
        return None if var == 0 else (price - mean) / var.sqrt()

    async def on_ticker(self, ticker: Ticker) -> None:
        if self.params.source == "ticker" and ticker.product_id == self.params.product_id:
            await self.act_on(ticker.price)

    async def on_book(self, event: BookChanged) -> None:
        if self.params.source == "book" and event.product_id == self.params.product_id:
            mid = event.book.mid()
            if mid is not None:
                await self.act_on(mid)

    async def act_on(self, price: Decimal) -> None:
        """Score one price and trade on it (at most one order in flight)."""
        p = self.params
        z = self.zscore(price)
        if z is None or self.ctx.open_orders(p.product_id):
            return
        position = self.ctx.position(p.product_id)
        if z <= -p.entry_z and position + p.size <= p.max_position:
            delta = p.size
        elif z >= p.entry_z and position - p.size >= -p.max_position:
            delta = -p.size
        elif abs(z) <= p.exit_z and position != 0:
            delta = -position
        else:
            return
        try:
            if delta > 0:
                coid = await self.ctx.buy_market(p.product_id, base_size=delta)
            else:
                coid = await self.ctx.sell_market(p.product_id, -delta)
        except OrderRejected as exc:
            self.ctx.log.info("order refused: %s", exc)
            return
        self.ctx.log.info("z=%.2f: %s %s client_order_id=%s", z, delta, p.product_id, coid)
