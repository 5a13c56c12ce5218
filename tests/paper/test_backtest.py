"""``botkit backtest`` end to end on the shipped sample session (recorded from the simulator).

The replay runs the real feed protocol, strategy, risk gate, executor (signed REST over
the in-process transport) and paper broker, so these tests exercise the whole path.
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from botkit.backtest.runner import Backtest, read_records
from botkit.cli.main import main
from botkit.cli.record import RecordOptions, record_session
from botkit.errors import ConfigError
from botkit.paper.journal import PaperJournal
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "data" / "sim_session.jsonl.gz"

CONFIG: dict[str, Any] = {
    "bot": {"products": ["BTC-USD"]},
    "strategy": {
        "name": "market_maker",
        "params": {"product_id": "BTC-USD", "size": "0.001", "half_spread_bps": "0"},
    },
    "risk": {"max_order_notional": "500", "max_open_orders": 4, "max_position": "0.05"},
    "paper": {"initial_balances": {"USD": "10000", "BTC": "0.02"}, "submit_latency": 0.05},
}


async def backtest(out: Path, data: Path = SAMPLE, config: dict[str, Any] = CONFIG) -> Any:
    bt = Backtest(parse_bot_config(config), load_settings(env_file=None), data, out)
    return await bt.run()


def prints(data: Path) -> list[tuple[float, Decimal]]:
    """(receive time, price) of every market trade printed after subscribing."""
    out = []
    for rec, _ in read_records(data):
        if rec.kind != "frame":
            continue
        doc = json.loads(rec.data)
        if doc.get("channel") != "market_trades":
            continue
        for ev in doc["events"]:
            if ev["type"] == "update":
                out += [(rec.t, Decimal(t["price"])) for t in ev["trades"]]
    return out


async def test_replaying_twice_gives_byte_identical_journals(tmp_path: Path) -> None:
    first = await backtest(tmp_path / "a")
    second = await backtest(tmp_path / "b")
    assert first.stats.orders > 0 and first.level_updates > 0
    with PaperJournal(first.journal_path, readonly=True) as a:
        fills = a.fills()
        dump_a = a.dump()
    with PaperJournal(second.journal_path, readonly=True) as b:
        dump_b = b.dump()
    assert fills, "the market maker should get fills in the sample session"
    assert dump_a == dump_b
    assert first.client_order_ids == second.client_order_ids


async def test_maker_fills_only_follow_prints_at_or_through_their_price(tmp_path: Path) -> None:
    result = await backtest(tmp_path / "bt")
    trades = prints(SAMPLE)
    with PaperJournal(result.journal_path, readonly=True) as journal:
        fills = [f for f in journal.fills() if f.liquidity == "MAKER"]
    assert fills
    for fill in fills:
        seen = [p for t, p in trades if t <= fill.time + 1e-9]
        if fill.side == "BUY":
            assert any(p <= fill.price for p in seen), fill
        else:
            assert any(p >= fill.price for p in seen), fill


async def test_record_then_backtest(tmp_path: Path) -> None:
    out = tmp_path / "rec.jsonl.gz"
    rec = await record_session(
        RecordOptions(("BTC-USD",), out, source="sim", duration=2.0, tick_interval=0.05),
        load_settings(env_file=None),
    )
    assert rec.frames > 10
    result = await backtest(tmp_path / "bt", out)
    assert result.frames == rec.frames and result.level_updates > 0


async def test_bad_recordings_are_config_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jsonl.gz"
    junk.write_bytes(b"not gzip at all")
    with pytest.raises(ConfigError, match="not a readable gzip"):
        await backtest(tmp_path / "bt", junk)
    no_rules = tmp_path / "norules.jsonl.gz"
    with gzip.open(no_rules, "wt") as fh:
        fh.write('{"v":1,"t":1.0,"conn":"market-0","kind":"connected"}\n')
    with pytest.raises(ConfigError, match="no product rules"):
        await backtest(tmp_path / "bt", no_rules)
    other = {**CONFIG, "bot": {"products": ["SOL-USD"]}}
    with pytest.raises(ConfigError, match="no data for SOL-USD"):
        await backtest(tmp_path / "bt", SAMPLE, other)


def test_cli_backtest_writes_journal_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(
        '[bot]\nproducts = ["BTC-USD"]\n[strategy]\nname = "market_maker"\n'
        '[paper]\ninitial_balances = { USD = "10000", BTC = "0.02" }\n'
    )
    report = tmp_path / "r.html"
    code = main(
        ["--env-file", str(tmp_path / "none.env"), "backtest", "--data", str(SAMPLE),
         "--config", str(cfg), "--out", str(tmp_path / "bt"), "--report", str(report)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "level updates/s" in out and report.is_file()
    assert "<svg" in report.read_text()
