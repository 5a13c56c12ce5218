"""The shipped breakout strategy through the real runtime on the simulator (``botkit run
--strategy breakout`` in sim mode): its entry carries a bracket that the exchange holds, and
the operator's snapshot lists the exit and how it is held."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from botkit.monitor.bot_view import BotView
from botkit.monitor.ctl import render_status
from botkit.monitor.snapshot import BotSnapshot
from botkit.monitor.status_page import render_status_page
from botkit.runtime.bot import BotRuntime
from botkit.runtime.ui import RunStats
from tests.strategy.test_shipped_strategies import RISK, run_strategy


async def test_breakout_enters_with_a_bracket_held_at_the_exchange(tmp_path: Path) -> None:
    box: list[BotRuntime] = []
    seen: list[str] = []
    snaps: list[BotSnapshot] = []

    def armed(_: RunStats) -> bool:
        ctx = box[0].ctx
        if ctx is None:
            return False
        live = [r for r in ctx.open_exits() if r.status == "armed"]
        if live and not seen:  # the operator's view while it runs
            snap = BotView(box[0], venue="botkit.sim").snapshot()
            snaps.append(snap)
            seen.append(render_status(snap.to_json()))
            seen.append(render_status_page(snap))
        return bool(live)

    params = {"window": 5, "size": "0.001", "take_profit_pct": "1", "stop_loss_pct": "0.5"}
    result = await run_strategy("breakout", params, tmp_path, until=armed, runtime=box)
    assert result.sim is not None
    orders = result.sim.exchange.list_orders("default", {})
    entries = [o for o in orders if o.get("attached_order_configuration")]
    assert entries, orders
    exits = [o for o in orders if o["originating_order_id"] == entries[0]["order_id"]]
    assert [o["order_type"] for o in exits] == ["BRACKET"]  # held by the exchange
    assert result.stats.fills >= 1
    status, page = seen
    assert "exit entry BTC-USD SELL" in status and ": native" in status
    assert '<div id="exits">' in page and "native" in page and "EMULATED EXITS" not in page
    # the same bot on a venue without native exits: the page says the bot must keep running
    (native,) = snaps[0].exits
    emulated = replace(native, how="emulated: needs the bot running")
    page = render_status_page(replace(snaps[0], exits=[emulated]))
    assert "EMULATED EXITS: need the bot running" in page
    assert "needs the bot running" in render_status(replace(snaps[0], exits=[emulated]).to_json())
    # the only order the runtime did not send itself is the exit the exchange attached
    assert {o["client_order_id"] for o in orders} - set(result.client_order_ids) <= {""}
    assert not result.stats.halted and not result.stats.kill_switch
    assert result.stats.open_orders <= int(RISK["max_open_orders"])
