"""The one test fixture strategy: quotes a bid below the market and records every hook."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from botkit.market.events import FillEvent, OrderUpdate
from botkit.strategy.base import Strategy
from botkit.strategy.timers import TimerFired
from botkit.venues.advanced_trade.messages import MarketTrade, Ticker


class Quoter(Strategy):
    """Rests one small bid ``offset_pct`` below the best bid; records what it sees."""

    class Params(BaseModel):
        product_id: str = "BTC-USD"
        size: Decimal = Field(default=Decimal("0.001"), gt=0, description="base size per bid")
        offset_pct: Decimal = Field(default=Decimal("1"), ge=0)
        fail_on_ticker: bool = False

    params: Params

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.seen: list[str] = []
        self.updates: list[OrderUpdate] = []
        self.fills: list[FillEvent] = []
        self.placed: list[str] = []

    async def on_start(self) -> None:
        self.seen.append("start")
        self.ctx.set_timer("requote", 5.0)

    async def quote(self) -> str:
        book = self.ctx.book(self.params.product_id)
        assert book is not None and book.valid
        best = book.best_bid()
        assert best is not None
        price = (best[0] * (1 - self.params.offset_pct / 100)).quantize(Decimal("0.01"))
        coid = await self.ctx.buy_limit(self.params.product_id, self.params.size, price)
        self.placed.append(coid)
        return coid

    def on_ticker(self, ticker: Ticker) -> None:  # a sync hook
        self.seen.append(f"ticker:{ticker.price}")
        if self.params.fail_on_ticker:
            raise RuntimeError("boom in on_ticker")

    def on_trade(self, trade: MarketTrade) -> None:
        self.seen.append(f"trade:{trade.trade_id}")

    async def on_order_update(self, update: OrderUpdate) -> None:
        self.updates.append(update)

    async def on_fill(self, fill: FillEvent) -> None:
        self.fills.append(fill)

    async def on_timer(self, timer: TimerFired) -> None:
        self.seen.append(f"timer:{timer.name}")

    def on_stop(self) -> None:
        self.seen.append("stop")
