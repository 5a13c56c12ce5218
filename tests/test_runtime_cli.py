"""``botkit run`` / ``strategies`` / ``new-strategy``: exit codes, output, and a real run."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from botkit.cli.main import main
from botkit.strategy.loader import build_params, load_strategy
from tests.botproc import placed_lines, run_until_placed

ROOT = Path(__file__).parent.parent


def botkit(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "botkit", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_run_trades_against_the_embedded_simulator_and_exits_zero(tmp_path: Path) -> None:
    # stopped (SIGTERM) once two orders are logged; --duration only bounds a run that never trades
    run = await run_until_placed(
        ["run", "--duration", "45", "--cancel-on-exit"], tmp_path, placed=2
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "botkit run summary (sim, strategy MarketMaker" in run.stdout
    placed = int(run.stdout.split("orders placed:")[1].split()[0])
    assert placed >= 2
    orders = placed_lines(run.lines)
    assert len(orders) >= 2 and all(d["client_order_id"] in d["msg"] for d in orders)
    assert all(d.get("order_id") or "order_id=" in d["msg"] for d in orders)
    assert any(d["msg"].startswith("first subscription acknowledged") for d in run.lines)
    assert (tmp_path / "botkit-data" / "sim" / "journal.sqlite").is_file()


async def test_sighup_stops_the_bot_cleanly(tmp_path: Path) -> None:
    """A dropped SSH session (or ``kill -HUP`` meant as a reload) killed the bot at once:
    exit 129, no cancel-on-exit, no summary, no stopped alert (a headless QA pass)."""
    import signal

    run = await run_until_placed(
        ["run", "--duration", "45", "--cancel-on-exit"], tmp_path, placed=1, stop=signal.SIGHUP
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "botkit run summary (sim" in run.stdout  # the clean stop: summary, cancels, alert


def test_live_without_the_flag_prints_the_plan_and_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--env-file", str(tmp_path / "none.env"), "run", "--mode", "live"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "products:  BTC-USD" in out and "max_order_notional=200" in out
    assert "re-run with --live" in err
    assert "LIVE trading on Coinbase with real money" in out  # the default URL: Coinbase's


def test_a_config_without_a_risk_table_is_refused_live_and_warned_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A config that forgot ``[risk]`` traded with no risk limit at all, unremarked (a QA
    pass: 1000-BTC orders passed the gate); an empty ``[risk]`` table says so on purpose."""
    from botkit.errors import ConfigError
    from botkit.runtime.bot import BotRuntime, RunOptions
    from botkit.runtime.bot_config import parse_bot_config
    from botkit.runtime.settings import load_settings

    doc = {"strategy": {"name": "market_maker"}}
    settings = load_settings(env_file=None)
    forgot = parse_bot_config(doc, source="bot.toml")
    with pytest.raises(ConfigError, match=r"bot.toml has no \[risk\] table.*refuses"):
        BotRuntime(forgot, settings, RunOptions(mode="live"))
    BotRuntime(forgot, settings, RunOptions(mode="paper"))
    assert "bot.toml has no [risk] table" in caplog.text
    on_purpose = parse_bot_config({**doc, "risk": {}}, source="bot.toml")
    BotRuntime(on_purpose, settings, RunOptions(mode="live"))  # no error
    config = tmp_path / "bot.toml"  # through the CLI: exit 2, one line, the fix
    config.write_text('[strategy]\nname = "market_maker"\n')
    code = main(["--env-file", str(tmp_path / "none.env"), "run", "--mode", "live",
                 "--config", str(config)])  # fmt: skip
    assert code == 2 and "add one (examples/bot.toml" in capsys.readouterr().err
    config.write_text('[strategy]\nname = "market_maker"\n[risk]\nmax_open_orders = 2\n')
    code = main(["--env-file", str(tmp_path / "none.env"), "run", "--mode", "live",
                 "--config", str(config)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 2  # (no --live)
    assert "no cap:    max_order_notional, max_position, daily_loss_limit" in out
    capped = parse_bot_config(
        {**doc, "risk": {"max_position_per_product": {"BTC-USD": "0.1"}}}, source="x"
    )
    assert capped.uncapped() == ["max_order_notional", "daily_loss_limit"]


def test_live_against_a_local_server_does_not_say_real_money(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`botkit sim`'s .env lines point a live bot at 127.0.0.1: the banner said "LIVE
    trading on Coinbase with real money" (a strategy-author QA pass)."""
    env = tmp_path / "sim.env"
    env.write_text("BOTKIT_COINBASE__REST_URL=http://127.0.0.1:9/api/v3/brokerage\n")
    code = main(["--env-file", str(env), "run", "--mode", "live"])
    out, _ = capsys.readouterr()
    assert code == 2 and "LIVE trading against a local server (not Coinbase)" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["backtest", "--data", "missing.jsonl.gz"], "missing.jsonl.gz does not exist"),
        (["record", "--products", "", "--out", "x.jsonl.gz"], "needs at least one product"),
        (["run", "--strategy", "nope"], "unknown strategy 'nope'"),
        (["run", "--strategy", "missing.py:X"], "missing.py does not exist"),
        (["run", "--config", "missing.toml"], "missing.toml does not exist"),
    ],
)
def test_bad_input_exits_2(
    args: list[str],
    needle: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths resolve in an empty folder
    code = main(["--env-file", str(tmp_path / "none.env"), *args])
    assert code == 2 and needle in capsys.readouterr().err


def test_bad_param_in_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text('[strategy]\nname = "ema_cross"\n[strategy.params]\nfast = 30\nslow = 10\n')
    code = main(["--env-file", str(tmp_path / "none.env"), "run", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2 and "must be shorter than slow" in err


def test_strategies_lists_the_shipped_ones_with_parameters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for name in ("ema_cross:", "market_maker:", "mean_reversion:"):
        assert name in out
    assert "half_spread_bps: Decimal = Decimal('1')" in out


def test_new_strategy_writes_a_skeleton_that_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-strategy", "dip_buyer", "--dir", str(tmp_path)]) == 0
    path = tmp_path / "dip_buyer.py"
    cls = load_strategy(f"{path}:DipBuyer")
    assert build_params(cls, {"size": "0.002"}).model_dump()["size"] == Decimal("0.002")
    assert main(["new-strategy", "dip_buyer", "--dir", str(tmp_path)]) == 2  # no overwrite
    assert "exists" in capsys.readouterr().err


def test_example_config_is_valid() -> None:
    from botkit.runtime.bot_config import load_bot_config

    cfg = load_bot_config(ROOT / "examples" / "bot.toml")
    # a file-loaded strategy's Params class is not importable here: read the validated values
    params = build_params(load_strategy(cfg.strategy), cfg.params).model_dump()
    assert cfg.bot.mode == "sim" and cfg.products() == ("BTC-USD",)
    assert params["size"] == Decimal("0.001") and params["requote_seconds"] == 2.0
    assert cfg.risk.max_order_notional == Decimal("200") and cfg.risk.max_open_orders == 4


@pytest.mark.parametrize("venue", ["advanced_trade", "exchange", "prime"])
def test_a_product_the_venue_does_not_list_exits_2_naming_it(
    venue: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It waited 15 s for market data that never comes and exited 1 "the venue is
    unreachable" (Advanced Trade, Prime), or 1 with "HTTP 404" (Exchange)."""
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'[bot]\nproducts = ["BTC-USDX"]\nvenue = "{venue}"\n')
    argv = ["run", "--config", str(cfg), "--duration", "20", "--data-dir", str(tmp_path / "d")]
    code = main(["--env-file", str(tmp_path / "none.env"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and "unknown product(s) BTC-USDX" in err and "[bot] products" in err
    assert "the strategy's product_id" in err  # it may come from there (a QA pass)


def test_a_config_that_is_not_a_readable_utf8_file_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory, or a file saved as UTF-16 (Notepad), raised a traceback with exit 1."""
    utf16 = tmp_path / "bot.toml"
    utf16.write_text('[strategy]\nname = "market_maker"\n', encoding="utf-16")
    for path, needle in ((utf16, "is not UTF-8 text"), (tmp_path, "is a directory")):
        code = main(["run", "--config", str(path), "--duration", "1"])
        err = capsys.readouterr().err
        assert code == 2 and needle in err and "Traceback" not in err


def test_params_of_the_configs_strategy_refused_by_another_say_whose_they_are(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--strategy with a config written for another strategy: the unknown parameters did
    not say they came from the config's [strategy.params] (a QA pass)."""
    config = str(ROOT / "examples" / "research.toml")
    code = main(["run", "--config", config, "--strategy", "market_maker", "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown parameter(s)" in err
    assert "research.toml's [strategy.params], written for its strategy 'ema_cross'" in err
