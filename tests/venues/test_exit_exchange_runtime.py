"""``botkit run`` on Coinbase Exchange (sim mode): a native stop-loss cancelled before it
triggers reaches the strategy as CANCELLED, under its client id.

On Exchange an untriggered stop announces itself with ``activate`` (no ``client_oid``), so
the ``done`` of a stop cancelled before its trigger is the only lifecycle message the user
channel sends for it, and it names the order by its exchange id only. The runtime gives it
its client id back from the executor (``OrderExecutor.named``); without that the strategy
would never see its stop finish (its order would stay CANCEL_QUEUED, counted open forever).
The strategy under test is in this module (``tests.venues.test_exit_exchange_runtime:StopThenCancel``).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from botkit import FillEvent, Offset, OrderUpdate, Strategy, Ticker
from botkit.runtime.bot import BotRuntime, RunOptions
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.health import Health
from botkit.runtime.settings import load_settings
from botkit.sim.ws import WsConfig

SEEN: list[tuple[str, str, str]] = []  # (client_order_id, order_id, status) of the stop's updates
RESULT: dict[str, object] = {}


class StopThenCancel(Strategy):
    """Buy 0.001 at market; on the fill, a native stop-loss 5 % below; at the next ticker,
    cancel it; record the stop's order updates."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product_id: str = "BTC-USD"

    params: Params

    def on_start(self) -> None:
        self.entry: str | None = None
        self.exit_id: str | None = None
        self.stop_coid: str | None = None
        self.cancelled = False

    async def on_ticker(self, ticker: Ticker) -> None:
        pid = self.params.product_id
        if self.ctx.warming_up or ticker.product_id != pid:
            return
        if self.entry is None:
            self.entry = await self.ctx.buy_market(pid, base_size=Decimal("0.001"))
        elif self.exit_id is not None and not self.cancelled:
            self.cancelled = await self.ctx.cancel_exit(self.exit_id)

    async def on_fill(self, fill: FillEvent) -> None:
        if fill.client_order_id != self.entry or self.exit_id is not None:
            return
        self.exit_id = await self.ctx.stop_loss(self.params.product_id, fill.size, Offset.pct(5))
        (armed,) = self.ctx.open_exits(self.params.product_id)
        self.stop_coid = armed.order_coid
        RESULT["native"] = armed.native
        RESULT["stop_coid"] = armed.order_coid

    async def on_order_update(self, update: OrderUpdate) -> None:
        if self.stop_coid is not None and update.client_order_id == self.stop_coid:
            SEEN.append((update.client_order_id, update.order_id, update.status))
            if update.status == "CANCELLED":
                RESULT["open_after"] = [o.client_order_id for o in self.ctx.open_orders()]


@pytest.mark.timeout(90)
async def test_cancelled_untriggered_stop_reaches_the_strategy_on_exchange(tmp_path: Path) -> None:
    SEEN.clear()
    RESULT.clear()
    config = {
        "bot": {"venue": "exchange", "sim_seed": 7, "channels": ["level2", "ticker"]},
        "strategy": {"name": "tests.venues.test_exit_exchange_runtime:StopThenCancel"},
        "risk": {"max_order_notional": "500", "max_open_orders": 4, "max_position": "0.05"},
    }

    def on_health(_: Health) -> None:
        if any(status == "CANCELLED" for _, _, status in SEEN):
            runtime.request_stop()

    options = RunOptions(
        duration=60.0,  # only bounds a run that never gets there
        data_dir=tmp_path,
        install_signals=False,
        sim_tick_interval=0.05,
        sim_ws=WsConfig(heartbeat_interval=0.2),
        on_health=on_health,
        cancel_on_exit=True,
    )
    runtime = BotRuntime(parse_bot_config(config), load_settings(env_file=None), options)
    async with asyncio.timeout(80):
        result = await runtime.run()
    assert result.error is None
    assert RESULT.get("native") is True  # a stop-limit is native on Exchange
    assert SEEN and SEEN[-1][2] == "CANCELLED", SEEN  # without OrderExecutor.named: nothing
    assert all(coid == RESULT["stop_coid"] for coid, _, _ in SEEN)
    assert RESULT["open_after"] == []  # the stop is finished for the strategy too
    assert result.sim is not None
    ex = result.sim.exchange
    stops = [
        o
        for u in ex.user_ids()
        for o in ex.list_orders(u, {})
        if "stop_limit_stop_limit_gtc" in o["order_configuration"]
    ]
    assert [(o["status"], o["trigger_status"]) for o in stops] == [("CANCELLED", "STOP_PENDING")]
