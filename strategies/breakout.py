"""Breakout with bracket exits: buy a new high, protected by a take-profit and a stop-loss."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from botkit import ExitFilled, ExitTriggered, Offset, OrderRejected, Strategy, Ticker

__all__ = ["Breakout"]


class Breakout(Strategy):
    """Donchian-style breakout: buy when the last price clears the highest of the previous
    ``window`` tickers, and exit with a bracket — take-profit ``take_profit_pct`` above the
    entry, stop-loss ``stop_loss_pct`` below.

    Why the exits are given with the entry (``ctx.buy(..., stop_loss=, take_profit=)``)
    rather than placed by this class after the fill: the position is then protected by the
    exchange itself where the venue can (Advanced Trade attaches the bracket to the entry,
    so it exists even if the bot dies right after the fill), and by the bot's emulation
    elsewhere; either way the exits are journaled and survive a restart. A breakout that
    fails usually fails fast, which is what the stop is for; the take-profit banks the
    ones that run. One position at a time: no new entry while one is open, an exit is
    live or an order is in flight, and ``cooldown_seconds`` after an exit closed.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product_id: str = Field("BTC-USD", description="product to trade")
        size: Decimal = Field(Decimal("0.001"), gt=0, description="entry size (base)")
        window: int = Field(60, ge=2, le=100_000, description="tickers in the channel")
        breakout_bps: Decimal = Field(
            Decimal(0), ge=0, description="how far above the channel high a breakout is (bps)"
        )
        take_profit_pct: Decimal = Field(
            Decimal("1.0"), gt=0, le=100, description="take-profit above the entry (%)"
        )
        stop_loss_pct: Decimal = Field(
            Decimal("0.5"), gt=0, lt=100, description="stop-loss below the entry (%)"
        )
        cooldown_seconds: float = Field(60.0, ge=0, description="pause after an exit closed")

        @model_validator(mode="after")
        def _reward_covers_risk(self) -> Breakout.Params:
            if self.take_profit_pct < self.stop_loss_pct / 4:
                raise ValueError(
                    f"take_profit_pct {self.take_profit_pct} is under a quarter of "
                    f"stop_loss_pct {self.stop_loss_pct}: every win would pay a fraction of "
                    "a loss; widen the take-profit or tighten the stop"
                )
            return self

    params: Params

    def on_start(self) -> None:
        self.prices: deque[Decimal] = deque(maxlen=self.params.window)
        self.cooldown_until = 0.0
        self.entries = 0
        live = self.ctx.open_exits(self.params.product_id)
        if live:  # resumed after a restart: the position is still being exited
            self.ctx.log.info("resumed with %d live exit(s); no entry until they close", len(live))
        self.ctx.log.info(  # a first minute with no line at all looked like a dead bot (QA)
            "warming up: needs %d tickers for the channel (seconds to minutes, as busy as "
            "the market is) before the first entry",
            self.params.window,
        )

    async def on_ticker(self, ticker: Ticker) -> None:
        p = self.params
        if ticker.product_id != p.product_id:
            return
        price = ticker.price
        full = len(self.prices) == p.window
        high = max(self.prices) if full else None
        self.prices.append(price)
        if not full and len(self.prices) == p.window:
            self.ctx.log.info("warmed up: %d tickers; watching for a breakout", p.window)
        if high is None or price <= high * (1 + p.breakout_bps / 10_000):
            return
        if not self.ready():
            return
        try:
            coid = await self.ctx.buy(
                p.product_id,
                p.size,
                stop_loss=Offset.pct(p.stop_loss_pct),
                take_profit=Offset.pct(p.take_profit_pct),
            )
        except OrderRejected as exc:  # risk, a bad exit, the exchange: wait and retry later
            self.ctx.log.warning("breakout entry refused: %s", exc)
            self.cooldown_until = self.ctx.now() + p.cooldown_seconds
            return
        self.entries += 1
        self.ctx.log.info("breakout above %s at %s: entry %s with a bracket", high, price, coid)

    def ready(self) -> bool:
        """Flat, nothing in flight, no live exit, not cooling down, not replaying history."""
        ctx, pid = self.ctx, self.params.product_id
        return not (
            ctx.warming_up
            or ctx.now() < self.cooldown_until
            or ctx.position(pid) != 0
            or ctx.open_orders(pid)
            or ctx.open_exits(pid)
        )

    def on_exit(self, event: ExitTriggered | ExitFilled) -> None:
        self.ctx.log.info("exit %s %s: %s", event.kind, event.leg, event)
        if isinstance(event, ExitFilled) and event.remaining == 0:
            self.cooldown_until = self.ctx.now() + self.params.cooldown_seconds
