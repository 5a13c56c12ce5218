"""--cancel-on-exit reaches an order whose placement was still in flight at the stop.

An operator QA pass (the venue slow to answer POST /orders) found orders left working after
a clean exit with --cancel-on-exit: the strategy's wait for the answer was cancelled with
the strategy, the context never learnt the order id, and its cancel-all passed it by. A
real bot in sim mode; the simulator holds the create-order answer for a few seconds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from botkit.runtime.bot import BotRuntime, RunOptions
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.health import Health
from botkit.runtime.settings import load_settings
from botkit.runtime.venue import Endpoints
from botkit.sim.ws import WsConfig

STRATEGY = """
from decimal import Decimal
from botkit import Strategy, Ticker


class OneBid(Strategy):
    sent = False

    async def on_ticker(self, ticker: Ticker) -> None:
        if self.sent or self.ctx.warming_up:
            return
        self.sent = True
        price = (ticker.price * Decimal("0.9")).quantize(Decimal("0.01"))
        await self.ctx.buy_limit("BTC-USD", Decimal("0.001"), price)
"""


async def test_cancel_on_exit_cancels_an_order_placed_as_the_bot_stopped(tmp_path: Path) -> None:
    source = tmp_path / "one_bid.py"
    source.write_text(STRATEGY)
    config = parse_bot_config({"bot": {"sim_seed": 3}, "strategy": {"name": f"{source}:OneBid"}})
    venues: list[Endpoints] = []

    def arm(ep: Endpoints) -> None:
        assert ep.sim is not None
        venues.append(ep)
        ep.sim.faults.delay_next(4.0, path=r"/orders$", method="POST")  # the answer is slow

    def on_health(_: Health) -> None:
        if rt.executor is not None and rt.executor.inflight:
            rt.request_stop()  # the strategy stops while its order is being placed

    options = RunOptions(
        data_dir=tmp_path,
        install_signals=False,
        duration=30.0,
        cancel_on_exit=True,
        sim_tick_interval=0.05,
        sim_ws=WsConfig(heartbeat_interval=0.2),
        on_venue=arm,
        on_health=on_health,
    )
    rt = BotRuntime(config, load_settings(env_file=None), options)
    async with asyncio.timeout(40):
        result = await rt.run()
    assert result.error is None
    sim = venues[0].sim
    assert sim is not None
    orders = sim.exchange.list_orders("default", {})
    assert len(orders) == 1, orders  # it was placed, once
    assert orders[0]["status"] in ("CANCELLED", "CANCEL_QUEUED"), orders[0]["status"]
    assert rt.stats.cancelled_on_exit == 1
