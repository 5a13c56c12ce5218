"""Sim mode starts from an empty journal: nothing an earlier run left is re-placed.

The embedded exchange is new at every run, so an intent of an earlier sim run (a row, or a
record of the journal's write-ahead file left by a killed run) must not be resolved
against it: start-up would re-POST it and place an order the strategy never asked for.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from decimal import Decimal
from pathlib import Path

from botkit.orders.intent_log import IntentLog, LoggedIntent
from botkit.orders.intents import OrderIntent, market_ioc
from botkit.runtime.bot import BotRuntime, RunOptions
from botkit.runtime.bot_config import data_root, parse_bot_config
from botkit.runtime.health import Health
from botkit.runtime.settings import load_settings

IDLE = Path(__file__).resolve().parents[1] / "backtest" / "candle_strategies.py"


async def test_a_sim_run_ignores_the_write_ahead_intents_of_an_earlier_run(
    tmp_path: Path,
) -> None:
    root = data_root(tmp_path, "sim")
    root.mkdir(parents=True)
    coid = str(uuid.uuid4())
    body = OrderIntent(coid, "BTC-USD", "BUY", market_ioc(quote_size=Decimal("10"))).body()
    left = IntentLog(root / "journal.sqlite-intents")  # what a killed sim run leaves
    left.append(LoggedIntent(coid, "BTC-USD", "BUY", body, 1.0))
    left.close()

    def on_health(_: Health) -> None:
        runtime.request_stop()  # started (the executor resolved its journal): enough

    options = RunOptions(
        duration=20.0, data_dir=tmp_path, install_signals=False, on_health=on_health
    )
    config = {"bot": {"sim_seed": 5}, "strategy": {"name": f"{IDLE}:Idle"}}
    runtime = BotRuntime(parse_bot_config(config), load_settings(env_file=None), options)
    async with asyncio.timeout(30):
        result = await runtime.run()
    assert result.error is None
    assert result.stats.orders == 0
    with sqlite3.connect(root / "journal.sqlite") as db:
        rows = db.execute("SELECT client_order_id FROM intents").fetchall()
    assert rows == []  # not recovered, so not re-placed on the new exchange
