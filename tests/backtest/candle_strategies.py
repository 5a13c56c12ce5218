"""Strategies the candle backtest tests run (loaded as ``tests.backtest.candle_strategies:X``)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from botkit import Candle, Strategy
from botkit.errors import BotkitError


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
            (armed,) = self.ctx.open_exits(p.product_id)
            self.ctx.state.set("native", armed.native)  # as the venue's paper/live bots decide


class BuyAndHold(Strategy):
    """Buys once at the first open and holds (no per-candle hook: the fast path)."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product_id: str = "BTC-USD"
        size: Decimal = Decimal("0.1")

    params: Params

    async def on_start(self) -> None:
        await self.ctx.buy_market(self.params.product_id, base_size=self.params.size)


class RandomOrders(Strategy):
    """Places, cancels and protects orders at random (seeded): the differential test's
    strategy. Refusals (funds, risk, bad exits) are part of its behaviour; it keeps them."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product_id: str = "BTC-USD"
        seed: int = 0
        rate: float = 0.5
        read_book: bool = False

    params: Params

    def on_start(self) -> None:
        self.rng = random.Random(self.params.seed)
        self.placed: list[str] = []
        self.seen: list[tuple[float, str]] = []
        # the book object itself, kept: the run must move it at every close from now on
        self.book = self.ctx.book(self.params.product_id) if self.params.read_book else None

    async def on_candle(self, candle: Candle) -> None:
        p, rng, ctx = self.params, self.rng, self.ctx
        pid = p.product_id
        if self.book is not None and rng.random() < 0.5:
            self.seen.append((ctx.now(), str(self.book.mid())))
        if rng.random() > p.rate:
            return
        size = Decimal(rng.choice(["0.01", "0.05", "0.2"]))
        away = Decimal(rng.randint(-30, 30)) / 10  # percent from the close
        price = (candle.close * (1 + away / 100)).quantize(Decimal("0.01"))
        action = rng.choice(["limit", "limit", "market", "cancel", "bracket", "stop"])
        try:
            if action == "limit":
                side = rng.choice(["BUY", "SELL"])
                place = ctx.buy_limit if side == "BUY" else ctx.sell_limit
                self.placed.append(await place(pid, size, price))
            elif action == "market":
                if rng.random() < 0.5:
                    self.placed.append(await ctx.buy_market(pid, base_size=size))
                else:
                    self.placed.append(await ctx.sell_market(pid, size))
            elif action == "cancel" and self.placed:
                await ctx.cancel(self.placed[rng.randrange(len(self.placed))])
            elif action == "bracket" and ctx.position(pid) >= size:
                up, down = candle.close * Decimal("1.01"), candle.close * Decimal("0.99")
                await ctx.bracket(pid, size, take_profit=up.quantize(Decimal("0.01")),
                                  stop_loss=down.quantize(Decimal("0.01")))  # fmt: skip
            elif action == "stop" and ctx.position(pid) >= size:
                await ctx.stop_loss(pid, size, (candle.low * Decimal("0.995")).quantize(
                    Decimal("0.01")))  # fmt: skip
        except BotkitError as exc:
            self.seen.append((ctx.now(), type(exc).__name__))


class FailingHook(Strategy):
    """A sync ``on_candle`` that raises on every ``every``-th candle (the guard counts it)."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product_id: str = "BTC-USD"
        every: int = 3

    params: Params

    def on_start(self) -> None:
        self.n = 0
        self.closes: list[tuple[float, Decimal]] = []

    def on_candle(self, candle: Candle) -> None:
        self.n += 1
        self.closes.append((self.ctx.now(), candle.close))
        if self.n % self.params.every == 0:
            raise ValueError(f"candle {self.n}")


class TimedOrders(Strategy):
    """No ``on_candle``: a timer every ``every`` seconds, set at start, places a random
    market order (the idle fast path with timers)."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product_id: str = "BTC-USD"
        seed: int = 0
        every: float = 300.0

    params: Params

    async def on_start(self) -> None:
        self.rng = random.Random(self.params.seed)
        self.fired: list[float] = []
        self.ctx.set_timer("trade", self.params.every)

    async def on_timer(self, timer: Any) -> None:
        ctx, pid = self.ctx, self.params.product_id
        self.fired.append(ctx.now())
        try:
            if self.rng.random() < 0.5:
                await ctx.buy_market(pid, base_size=Decimal("0.01"))
            elif ctx.position(pid) > 0:
                await ctx.sell_market(pid, Decimal("0.01"))
        except BotkitError:
            pass
        if len(self.fired) == 3:  # a second timer, set from a timer: the loop must see it
            ctx.set_timer("late", self.params.every * 2, repeat=False)
