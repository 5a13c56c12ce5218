"""Exits in a backtest: the shipped sample session replayed through the real bot and the
paper broker (``botkit backtest``), one position exited by each kind of exit.

Every exit must fire by Coinbase's rule on the recorded prints: a stop only after a print
at or through its trigger, and it then sells at or below its trigger (a limit 5 % under
it, against the book); a take-profit at its price. And the replay is deterministic: the
same recording gives the same exit events twice.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from botkit.backtest.runner import Backtest, read_records
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.settings import load_settings
from botkit.strategy.state import JsonState
from tests.paper.test_backtest import SAMPLE

D = Decimal


def btc_prints() -> list[tuple[float, Decimal]]:
    """(receive time, price) of every BTC-USD print of the recording."""
    out = []
    for rec, _ in read_records(SAMPLE):
        if rec.kind != "frame":
            continue
        doc = json.loads(rec.data)
        if doc.get("channel") != "market_trades":
            continue
        for ev in doc["events"]:
            if ev["type"] == "update":
                out += [
                    (rec.t, D(t["price"])) for t in ev["trades"] if t["product_id"] == "BTC-USD"
                ]
    return out


async def run(
    out: Path, kind: str, venue: str = "advanced_trade", **params: Any
) -> list[list[Any]]:
    config = parse_bot_config({
        "bot": {"products": ["BTC-USD"], "venue": venue},
        "strategy": {
            "name": "tests.strategy.exit_fixture:ExitOnce", "params": {"kind": kind, **params},
        },
        "risk": {"max_order_notional": "500", "max_open_orders": 4},
        "paper": {"initial_balances": {"USD": "10000", "BTC": "0"}, "submit_latency": 0.05},
    })  # fmt: skip
    result = await Backtest(config, load_settings(env_file=None), SAMPLE, out).run()
    assert result.stats.orders >= 1
    events = JsonState(out / "state" / f"{result.stats.strategy}.json").get("events")
    assert isinstance(events, list)
    return events


@pytest.mark.parametrize("kind", ["entry", "bracket", "stop_loss", "trailing"])
async def test_each_exit_fires_on_the_recorded_prints_and_replays_identically(
    tmp_path: Path, kind: str
) -> None:
    events = await run(tmp_path / "a", kind)
    assert events == await run(tmp_path / "b", kind)  # deterministic
    triggered = [e for e in events if e[0] == "triggered"]
    filled = [e for e in events if e[0] == "filled"]
    assert len(triggered) == 1 and filled, events
    _, _, leg, price, level, at = triggered[0]
    assert filled[-1][5] == 0 and sum(D(e[4]) for e in filled) == D("0.001")
    trades = btc_prints()
    before = [p for t, p in trades if t <= at + 1e-9]
    if leg == "stop_loss":
        assert any(p <= D(level) for p in before)  # a print reached the trigger first
        assert all(D(e[3]) <= D(level) for e in filled)  # sold at or under it
        assert all(D(e[3]) >= D(level) * D("0.95") for e in filled)  # within its limit
    else:
        assert all(D(e[3]) == D(level) for e in filled)  # the take-profit's own price
        assert any(p >= D(level) for p in before)


@pytest.mark.parametrize(("venue", "native"), [("advanced_trade", True), ("exchange", False)])
async def test_a_backtest_takes_its_native_exits_from_the_configured_venue(
    tmp_path: Path, venue: str, native: bool
) -> None:
    """A bracket is native on Advanced Trade and emulated on Exchange (stop-limit only):
    the backtest must decide as that venue's live and paper bots do, or its fills would
    describe orders the venue cannot hold."""
    events = await run(tmp_path, "bracket", venue)
    (armed,) = [e for e in events if e[0] == "armed"]
    assert armed[1] == "bracket" and armed[-1] is native
    assert [e for e in events if e[0] == "triggered"]  # and it still exits


async def test_an_exit_in_ticks_works_in_a_backtest(tmp_path: Path) -> None:
    """The backtest's context knows the recording's product rules, as the runtime knows the
    venue's: an ``Offset.ticks`` exit was refused in every backtest (EXIT_TICK_UNKNOWN; a
    QA pass). Its levels are whole ticks of the product away from the entry's fill."""
    events = await run(tmp_path, "entry", ticks=100)
    triggered = [e for e in events if e[0] == "triggered"]
    filled = [e for e in events if e[0] == "filled"]
    assert len(triggered) == 1 and filled, events
    level = D(triggered[0][4])
    assert level == level.quantize(D("0.01"))  # on the product's tick (0.01)
