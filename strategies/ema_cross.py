"""EMA crossover on candles: long while the fast EMA is above the slow one, else short/flat."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from botkit import Candle, OrderRejected, Strategy, Warmup

__all__ = ["EmaCross"]

CANDLE_MINUTES = 5  # the candles channel's only bucket size
HISTORY_CANDLES = 60  # replayed at start: enough for slow <= 60 (5 h of 5-minute candles)


class EmaCross(Strategy):
    """EMA crossover: target +size while EMA(fast) > EMA(slow), else -size (or flat).

    The EMAs run over candle closes. With ``closed_only`` (the classic setting) a sample
    is taken once per candle, when the next one starts; without it every candle update
    is a sample, which reacts within seconds (what a demo or a test needs) at the price
    of more noise. After ``slow`` samples of warm-up, the position is moved to the target
    with one market order whenever they differ, and never while an order is in flight,
    so a burst of candles cannot stack orders. ``allow_short`` sells below the starting
    position (spot: selling inventory the account already holds).

    ``warmup``: the runtime replays the last 60 closed 5-minute candles through
    ``on_candle`` before live events (orders refused meanwhile), so with ``slow <= 60`` the
    first live candle can already trade, instead of after ``slow`` live candles.
    """

    warmup = Warmup(candles=HISTORY_CANDLES, granularity="FIVE_MINUTE")

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product_id: str = Field("BTC-USD", description="product to trade")
        size: Decimal = Field(Decimal("0.001"), gt=0, description="target position size (base)")
        fast: int = Field(5, ge=1, description="fast EMA length (samples)")
        slow: int = Field(20, ge=2, description="slow EMA length (samples)")
        closed_only: bool = Field(True, description="sample closed candles only")
        allow_short: bool = Field(True, description="target -size when fast < slow")

        @model_validator(mode="after")
        def _fast_below_slow(self) -> EmaCross.Params:
            if self.fast >= self.slow:
                raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
            return self

    params: Params

    def on_start(self) -> None:
        self.fast: Decimal | None = None
        self.slow: Decimal | None = None
        self.samples = 0
        self.current: Candle | None = None
        self.ctx.log.info("warming up: %s", self.warm_up())

    def warm_up(self) -> str:
        """How long until the first order, said once at start: a quiet bot looks broken.

        The candles channel sends 5-minute candles (Coinbase has no other size there),
        updated about once a second.
        """
        n = self.params.slow
        history = (
            f"; the last {HISTORY_CANDLES} closed candles are replayed from history at start, "
            "so it can trade on the first live candle"
        )
        if self.params.closed_only:
            return (
                f"needs {n} candles (~{n * CANDLE_MINUTES} minutes: closed {CANDLE_MINUTES}-minute "
                f"candles) before the first order{history if n <= HISTORY_CANDLES else ''}; "
                f"closed_only = false samples every candle update instead (~{n} seconds)"
            )
        return (
            f"needs {n} candle updates (~{n} seconds, about one a second) before the first "
            f"order{history if n <= HISTORY_CANDLES else ''}"
        )

    async def on_candle(self, candle: Candle) -> None:
        if candle.product_id != self.params.product_id:
            return
        if self.params.closed_only:
            previous, self.current = self.current, candle
            if previous is None or previous.start == candle.start:
                return
            candle = previous  # the candle that just closed
        self.sample(candle.close)
        await self.rebalance()

    def sample(self, price: Decimal) -> None:
        """Update both EMAs with one price (seeded with the first price)."""

        def ema(prev: Decimal | None, n: int) -> Decimal:
            return price if prev is None else prev + (price - prev) * 2 / (n + 1)

        self.fast = ema(self.fast, self.params.fast)
        self.slow = ema(self.slow, self.params.slow)
        self.samples += 1
        if self.samples == self.params.slow:
            self.ctx.log.info("warmed up: %d samples; trading from now on", self.samples)

    def target(self) -> Decimal | None:
        """The wanted position, or None while warming up."""
        if self.fast is None or self.slow is None or self.samples < self.params.slow:
            return None
        if self.fast > self.slow:
            return self.params.size
        return -self.params.size if self.params.allow_short else Decimal(0)

    async def rebalance(self) -> None:
        p = self.params
        target = self.target()
        if target is None or self.ctx.warming_up or self.ctx.open_orders(p.product_id):
            return  # warming up: replayed history only moves the EMAs, orders are refused
        delta = target - self.ctx.position(p.product_id)
        if delta == 0:
            return
        try:
            if delta > 0:
                coid = await self.ctx.buy_market(p.product_id, base_size=delta)
            else:
                coid = await self.ctx.sell_market(p.product_id, -delta)
        except OrderRejected as exc:
            self.ctx.log.info("rebalance to %s refused: %s", target, exc)
            return
        self.ctx.log.info(
            "EMA %s %s %.2f/%.2f: target %s client_order_id=%s",
            "fast>slow" if delta > 0 else "fast<slow",
            p.product_id,
            self.fast,
            self.slow,
            target,
            coid,
        )
