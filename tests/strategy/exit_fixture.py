"""A strategy that takes one position and exits it with one kind of exit (the backtest
test's subject, loaded as ``tests.strategy.exit_fixture:ExitOnce``). It writes what happened
to its state, which the backtest keeps in a JSON file the test reads."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from botkit import ExitFilled, ExitTriggered, FillEvent, Offset, Strategy, Ticker


class ExitOnce(Strategy):
    """Buy once at market, exit with ``kind``; log exit events to ``state['events']``."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product_id: str = "BTC-USD"
        kind: Literal["entry", "bracket", "stop_loss", "trailing"] = "entry"
        size: Decimal = Decimal("0.001")
        stop_bps: Decimal = Decimal("1")
        tp_bps: Decimal = Decimal("1")
        distance: Decimal = Decimal("3")
        ticks: int = 0  # > 0: the stop and take-profit as Offset.ticks(ticks), not bps

    params: Params

    def on_start(self) -> None:
        # one position per data directory: a restarted bot resumes its exit, never re-enters
        self.entry: str | None = "before" if self.ctx.state.get("entered") else None
        self.ctx.state.set("events", [])

    def log_event(self, row: list[object]) -> None:
        self.ctx.state.set("events", [*self.ctx.state.get("events"), row])

    async def on_ticker(self, ticker: Ticker) -> None:
        p = self.params
        if self.entry is not None or self.ctx.warming_up or ticker.product_id != p.product_id:
            return
        self.ctx.state.set("entered", True)
        if p.kind == "entry":
            stop, tp = Offset.bps(p.stop_bps), Offset.bps(p.tp_bps)
            if p.ticks:
                stop = tp = Offset.ticks(p.ticks)
            self.entry = await self.ctx.buy(p.product_id, p.size, stop_loss=stop, take_profit=tp)
        else:
            self.entry = await self.ctx.buy_market(p.product_id, base_size=p.size)

    async def on_fill(self, fill: FillEvent) -> None:
        p = self.params
        if fill.client_order_id != self.entry or p.kind == "entry":
            return
        if p.kind == "bracket":
            await self.ctx.bracket(p.product_id, fill.size, take_profit=Offset.bps(p.tp_bps),
                                   stop_loss=Offset.bps(p.stop_bps))  # fmt: skip
        elif p.kind == "stop_loss":
            await self.ctx.stop_loss(p.product_id, fill.size, Offset.bps(p.stop_bps))
        else:
            await self.ctx.trailing_stop(p.product_id, fill.size, distance=p.distance)
        (armed,) = self.ctx.open_exits(p.product_id)
        self.log_event(
            ["armed", armed.kind, armed.stop, armed.take_profit, self.ctx.now(), armed.native]
        )
        self.ctx.log.info("armed %s %s stop=%s", armed.kind, armed.exit_id, armed.stop)

    def on_exit(self, event: ExitTriggered | ExitFilled) -> None:
        if isinstance(event, ExitFilled):
            row = ["filled", event.kind, event.leg, event.price, event.size, event.remaining]
        else:
            row = ["triggered", event.kind, event.leg, event.price, event.level]
        self.log_event([*row, self.ctx.now()])
        self.ctx.log.info("exit event %s", " ".join(str(x) for x in row))
