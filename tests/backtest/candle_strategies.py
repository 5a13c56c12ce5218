"""Strategies the candle backtest tests run (loaded as ``tests.backtest.candle_strategies:X``)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from botkit import Candle, Strategy


class RestingLimit(Strategy):
    """Rests one limit order at start, then does nothing."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product_id: str = "BTC-USD"
        side: str = "BUY"
        price: Decimal = Decimal(100)
        size: Decimal = Decimal("0.1")

    params: Params

    async def on_start(self) -> None:
        p = self.params
        if p.side == "BUY":
            await self.ctx.buy_limit(p.product_id, p.size, p.price)
        else:
            await self.ctx.sell_limit(p.product_id, p.size, p.price)


class MarketOnCandle(Strategy):
    """Buys at market on the close of candle ``at`` (counted from 1), sells on ``sell_at``."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product_id: str = "BTC-USD"
        at: int = 1
        sell_at: int = 0
        size: Decimal = Decimal("0.1")

    params: Params

    def on_start(self) -> None:
        self.seen = 0

    async def on_candle(self, candle: Candle) -> None:
        self.seen += 1
        p = self.params
        if self.seen == p.at:
            await self.ctx.buy_market(p.product_id, base_size=p.size)
        elif self.seen == p.sell_at:
            await self.ctx.sell_market(p.product_id, p.size)


class Idle(Strategy):
    """Does nothing: the fast path's benchmark strategy."""


class CountCandles(Strategy):
    """Counts candles and does nothing else (the per-candle hook's cost)."""

    def on_start(self) -> None:
        self.n = 0

    def on_candle(self, candle: Candle) -> None:
        self.n += 1


class BracketAfterEntry(Strategy):
    """Buys at market on the first close; once filled, protects it with a native bracket."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product_id: str = "BTC-USD"
        size: Decimal = Decimal("0.1")
        take_profit: Decimal = Decimal(110)
        stop_loss: Decimal = Decimal(90)

    params: Params

    def on_start(self) -> None:
        self.seen = 0
        self.protected = False

    async def on_candle(self, candle: Candle) -> None:
        self.seen += 1
        p = self.params
        if self.seen == 1:
            await self.ctx.buy_market(p.product_id, base_size=p.size)
        elif not self.protected and self.ctx.position(p.product_id) > 0:
            self.protected = True
            await self.ctx.bracket(
                p.product_id, p.size, take_profit=p.take_profit, stop_loss=p.stop_loss
            )


class BuyAndHold(Strategy):
    """Buys once at the first open and holds (no per-candle hook: the fast path)."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product_id: str = "BTC-USD"
        size: Decimal = Decimal("0.1")

    params: Params

    async def on_start(self) -> None:
        await self.ctx.buy_market(self.params.product_id, base_size=self.params.size)
