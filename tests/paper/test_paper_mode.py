"""``--mode paper`` through the real runtime: market data from the embedded simulator's
feed (standing in for Coinbase's public feed), orders to the in-process paper broker.

The evidence is on both sides: the simulator (the market-data source) holds no order of
ours, while the paper journal holds every order the strategy placed, with fills that
only trade prints could have produced. A paper session killed with SIGKILL resumes with
the balances it had acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from botkit.market.book import L2Book
from botkit.orders.ledger import FillLedger
from botkit.paper.journal import PaperJournal
from botkit.paper.setup import build_broker
from botkit.runtime.bot import BotRuntime, RunOptions
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.health import Health
from botkit.runtime.settings import load_settings
from botkit.sim.ws import WsConfig
from botkit.venues.advanced_trade.rest_client import RestClient

ROOT = Path(__file__).resolve().parents[2]

CONFIG: dict[str, Any] = {
    "bot": {"mode": "paper", "sim_seed": 3},
    "strategy": {
        "name": "market_maker",
        "params": {
            "product_id": "BTC-USD",
            "size": "0.001",
            "half_spread_bps": "0",
            "requote_seconds": 0.5,
        },
    },  # fmt: skip
    "risk": {"max_order_notional": "500", "max_open_orders": 4, "max_position": "0.05"},
    "paper": {
        "source": "sim",
        "initial_balances": {"USD": "10000", "BTC": "0.02"},
        "submit_latency": 0.02,
        "cancel_latency": 0.02,
        "equity_interval": 0.2,
    },
}


async def test_paper_mode_trades_against_the_paper_broker_not_the_exchange(
    tmp_path: Path,
) -> None:
    ticks = 0

    def on_health(_: Health) -> None:
        # stop on the outcome, not after fixed real seconds: an order was placed, and 3 health
        # ticks (1 s apart) passed, so the 0.2 s equity sampler, on the same loop, ran >= 5 times
        nonlocal ticks
        ticks += 1
        if ticks >= 3 and runtime.stats.orders > 0:
            runtime.request_stop()

    options = RunOptions(
        duration=40.0,  # only bounds a run that never trades
        data_dir=tmp_path,
        install_signals=False,
        sim_tick_interval=0.05,
        sim_ws=WsConfig(heartbeat_interval=0.2),
        on_health=on_health,
    )
    runtime = BotRuntime(parse_bot_config(CONFIG), load_settings(env_file=None), options)
    async with asyncio.timeout(55):
        result = await runtime.run()
    assert result.sim is not None
    assert runtime.executor is not None  # signed like live: pre-signed tokens too
    client = runtime.executor.client
    assert isinstance(client, RestClient)
    assert [p.size for p in client.presigned.values()] == [4]
    ex = result.sim.exchange
    assert all(ex.list_orders(u, {}) == [] for u in ex.user_ids())  # none at the data source
    assert result.stats.orders > 0
    with PaperJournal(tmp_path / "paper" / "paper.sqlite", readonly=True) as journal:
        placed = {o.client_order_id for o in journal.orders()}
        equity = journal.equity()
        meta = journal.meta()
    assert set(result.client_order_ids) >= placed
    # acknowledged ⊆ journalled: a placement in flight when the stop came (the market maker
    # sends a bid and an ask per requote) is in the paper journal but was not acknowledged
    assert result.stats.orders <= len(placed) <= result.stats.orders + 2
    assert meta["mode"] == "paper" and meta["products"] == ["BTC-USD"]
    assert len(equity) >= 5 and all(p.quote == "USD" for p in equity)
    assert Decimal(9000) < equity[-1].equity < Decimal(12000)


MAKER_TOML = (
    '[bot]\nmode = "paper"\nsim_seed = 3\n'
    '[strategy]\nname = "market_maker"\n'
    '[strategy.params]\nproduct_id = "BTC-USD"\nsize = "0.001"\nhalf_spread_bps = "0"\n'
    "requote_seconds = 0.5\n"
    '[risk]\nmax_order_notional = "500"\nmax_open_orders = 4\nmax_position = "0.05"\n'
    '[paper]\nsource = "sim"\ninitial_balances = { USD = "10000", BTC = "0.02" }\n'
)
"""The shipped market maker quoting at the touch in paper mode: it fills within seconds."""


async def _spawn(data_dir: Path, cfg: Path, duration: str = "60") -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", "--env-file", str(data_dir / "none.env"), "run",
        "--config", str(cfg), "--data-dir", str(data_dir), "--duration", duration,
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _until_fills(proc: asyncio.subprocess.Process, n: int) -> int:
    """Read the bot's JSON log lines until ``n`` fills were logged (each after its commit)."""
    assert proc.stderr is not None
    fills = 0
    while fills < n:
        raw = await proc.stderr.readline()
        assert raw, "the paper bot exited early"
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        fills += str(line.get("msg", "")).startswith("fill ")
    return fills


async def _killed_after_fills(data_dir: Path, toml: str, n: int) -> Path:
    """Run a paper bot with config ``toml`` until it logged ``n`` fills, then SIGKILL it.
    Returns the config file (for the next run)."""
    cfg = data_dir / "bot.toml"
    cfg.write_text(toml)
    proc = await _spawn(data_dir, cfg)
    try:
        await asyncio.wait_for(_until_fills(proc, n), timeout=50)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    return cfg


async def _quiet_run(data_dir: Path, cfg: Path) -> bytes:
    """A 3 s run of the same bot with its kill switch tripped (nothing new is placed);
    exit 0 asserted. Returns its log (stderr)."""
    (data_dir / "paper" / "kill_switch.json").write_text(
        '{"tripped": true, "reason": "test", "at": 0}'
    )
    quiet = await _spawn(data_dir, cfg, duration="3")
    try:
        _, err = await asyncio.wait_for(quiet.communicate(), timeout=40)
    finally:
        if quiet.returncode is None:
            quiet.kill()
            await quiet.wait()
    assert quiet.returncode == 0, err[-3000:]
    return err


async def test_paper_session_killed_with_sigkill_resumes_its_balances(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(MAKER_TOML)
    proc = await _spawn(tmp_path, cfg)
    try:
        await asyncio.wait_for(_until_fills(proc, 2), timeout=50)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    path = tmp_path / "paper" / "paper.sqlite"
    with PaperJournal(path, readonly=True) as journal:
        saved = {b.currency: b.available + b.hold for b in journal.balances()}
        fills = journal.fills()
    assert len(fills) >= 2
    assert saved != {"USD": Decimal(10000), "BTC": Decimal("0.02")}  # the fills moved money

    config = parse_bot_config(json.loads(json.dumps(CONFIG)))
    books: dict[str, L2Book] = {}
    broker = build_broker(
        config, [_rules()], books, path, now=lambda: 2e9, on_event=lambda e: None,
        durable=True, meta={},
    )  # fmt: skip
    try:
        assert broker.resumed
        assert {k: v for k, v in broker.balances().items() if v} == {
            k: v for k, v in saved.items() if v
        }
    finally:
        broker.journal.close()


def _rules() -> dict[str, str]:
    return {
        "product_id": "BTC-USD", "base_increment": "0.00000001", "quote_increment": "0.01",
        "base_min_size": "0.00000001", "base_max_size": "3400", "quote_min_size": "1",
        "quote_max_size": "150000000", "base_currency_id": "BTC", "quote_currency_id": "USD",
    }  # fmt: skip


async def test_a_paper_bot_killed_mid_session_resumes_its_position_exactly(
    tmp_path: Path,
) -> None:
    """Positions across a ``kill -9`` in paper mode (docs/strategies.md, "Positions across
    restarts"): the restarted bot resumes them from the fill ledger, and the resumed
    session's snapshot of open orders (through a tracker seeded with the counted marks) and
    the REST read-back report only what they lack. A second run with the kill switch
    tripped trades nothing (its open orders are cancelled before the feed starts), so the
    ledger must then hold exactly the paper journal's fills."""
    cfg = await _killed_after_fills(tmp_path, MAKER_TOML, 3)
    # what the restart resumes from, read-only (no checkpoint: the restart still recovers
    # the killed process's WAL itself)
    at_kill = sqlite3.connect(f"{(tmp_path / 'paper' / 'fills.sqlite').as_uri()}?mode=ro", uri=True)
    try:
        rows = at_kill.execute("SELECT product_id, quantity FROM position").fetchall()
    finally:
        at_kill.close()
    counted = {str(p): Decimal(q) for p, q in rows if Decimal(q)}
    err = await _quiet_run(tmp_path, cfg)
    with PaperJournal(tmp_path / "paper" / "paper.sqlite", readonly=True) as journal:
        fills = journal.fills()
    truth = sum((f.size if f.side == "BUY" else -f.size for f in fills), Decimal(0))
    ledger = FillLedger(tmp_path / "paper" / "fills.sqlite")
    try:
        held = ledger.positions()["BTC-USD"].quantity
        for order_id in {f.order_id for f in fills}:
            mark = ledger.mark(order_id)
            size = sum((f.size for f in fills if f.order_id == order_id), Decimal(0))
            assert mark is not None and mark.cumulative_quantity == size, order_id
    finally:
        ledger.close()
    assert len(fills) >= 3 and held == truth, (held, truth, err[-2000:])
    # the restarted bot started from the position counted before the kill, not from zero
    # (not necessarily the final one: a fill made but not counted at the kill comes after)
    resumed = [json.loads(x)["msg"] for x in err.decode().splitlines() if "positions resumed" in x]
    if counted:
        assert resumed, err[-2000:]
        assert Decimal(resumed[0].rsplit("BTC-USD ", 1)[1].split(",")[0]) == counted["BTC-USD"]
    else:
        assert not resumed  # flat: nothing to resume

