"""Sim mode starts from an empty journal: nothing an earlier run left is re-placed.

The embedded exchange is new at every run, so a PENDING intent of an earlier sim run (one
killed while placing) must not be resolved against it: start-up would re-POST it and place
an order the strategy never asked for in this run.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from decimal import Decimal
from pathlib import Path

from botkit.orders.intents import OrderIntent, market_ioc
from botkit.orders.journal import OrderJournal
from botkit.runtime.bot import BotRuntime, RunOptions
from botkit.runtime.bot_config import data_root, parse_bot_config
from botkit.runtime.health import Health
from botkit.runtime.settings import load_settings

IDLE = Path(__file__).resolve().parents[1] / "backtest" / "candle_strategies.py"


def _leave_pending_intent(root: Path) -> str:
    """What a sim run killed while placing leaves: a PENDING intent in its journal."""
    coid = str(uuid.uuid4())
    intent = OrderIntent(coid, "BTC-USD", "BUY", market_ioc(quote_size=Decimal("10")))
    journal = OrderJournal(root / "journal.sqlite")
    try:
        journal.record(coid, "BTC-USD", "BUY", intent.body())
    finally:
        journal.close()
    return coid


async def test_a_sim_run_does_not_resolve_the_intents_of_an_earlier_run(tmp_path: Path) -> None:
    root = data_root(tmp_path, "sim")
    root.mkdir(parents=True)
    coid = _leave_pending_intent(root)

    def on_health(_: Health) -> None:
        runtime.request_stop()  # started (the executor resolved its journal): enough

    options = RunOptions(
        duration=20.0, data_dir=tmp_path, install_signals=False, on_health=on_health
    )
    config = {"bot": {"sim_seed": 5}, "strategy": {"name": f"{IDLE}:Idle"}}
    runtime = BotRuntime(parse_bot_config(config), load_settings(env_file=None), options)
    async with asyncio.timeout(30):
        result = await runtime.run()
    assert result.error is None and result.stats.orders == 0
    with sqlite3.connect(root / "journal.sqlite") as db:
        row = db.execute("SELECT state FROM intents WHERE client_order_id = ?", (coid,)).fetchone()
    assert row is None  # forgotten with the old exchange, not re-placed on the new one
