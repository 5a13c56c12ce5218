"""botkit optimize end to end: the same best parameters in-process, on 2 local processes
and on a real local Ray instance; walk-forward reports both scores; a study resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

from botkit.backtest.candle_model import FillModel
from botkit.backtest.synthetic import synthetic_series
from botkit.cli.main import main
from botkit.research.pools import InProcessPool, LocalPool, Pool, RayPool
from botkit.research.space import parse_optimize
from botkit.research.study import optimize

ROOT = Path(__file__).resolve().parents[2]

BOT_TOML = """
[bot]
products = ["BTC-USD"]
[strategy]
name = "ema_cross"
[strategy.params]
product_id = "BTC-USD"
size = "0.05"
fast = 5
slow = 20
[risk]
max_order_notional = "100000"
max_position = "1"
max_open_orders = 4
price_band_pct = "50"
daily_loss_limit = "100000"
[paper]
initial_balances = {USD = "10000", BTC = "0.1"}
taker_fee_rate = "0.001"
[backtest]
slippage_bps = 2
[optimize]
objective = "pnl"
sampler = "grid"
seed = 7
pruner = "none"
folds = 2
trials = 50
[optimize.params]
fast = { type = "int", low = 3, high = 9, step = 6 }
slow = { type = "int", low = 15, high = 30, step = 15 }
"""


@pytest.fixture
def bot_toml(tmp_path: Path) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(BOT_TOML)
    return path


def _doc() -> dict[str, Any]:
    import tomllib

    return tomllib.loads(BOT_TOML)


SERIES = synthetic_series(480, seed=3)


def _best(pool: Pool, storage: Path) -> list[dict[str, Any] | None]:
    doc = _doc()
    try:
        result = optimize(spec=parse_optimize(doc), doc=doc, series=SERIES, pool=pool,
                          storage=str(storage), study_name="same", model=FillModel(),
                          curves=False)  # fmt: skip
    finally:
        pool.close()
    summary = result.summary()
    for fold in summary["folds"]:
        assert fold["trials"] == 4  # the whole 2 x 2 grid, once
    return [f["best_params"] for f in summary["folds"]]


@pytest.mark.timeout(240)
def test_grid_gives_the_same_best_params_in_process_on_two_processes_and_on_ray(tmp_path):
    one = _best(InProcessPool(SERIES), tmp_path / "one.db")
    two = _best(LocalPool(SERIES, 2), tmp_path / "two.db")
    ray_pool = RayPool(SERIES, "local", init={"num_cpus": 2})
    assert ray_pool.capacity == 2
    on_ray = _best(ray_pool, tmp_path / "ray.db")
    assert one[0] is not None and one[1] is not None
    assert one == two == on_ray


def test_walk_forward_reports_in_and_out_of_sample_scores_and_an_html_report(
    bot_toml, tmp_path, capsys
):
    report = tmp_path / "opt.html"
    code = main(["optimize", "--config", str(bot_toml), "--data", "synthetic:480:3",
                 "--storage", str(tmp_path / "s.db"), "--report", str(report), "--quiet"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["folds"]) == 2
    for fold in summary["folds"]:
        assert isinstance(fold["in_sample_score"], float)
        assert isinstance(fold["out_of_sample_score"], float)
        assert isinstance(fold["default_out_of_sample_score"], float)
        assert fold["in_sample"][1] == fold["out_of_sample"][0]  # out of sample follows
    assert summary["mean_out_of_sample_score"] is not None
    html = report.read_text()
    assert "In sample vs out of sample" in html and "Parameter importance" in html
    assert html.count("<svg") >= 2  # best vs default equity per fold


def _counted(storage: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{storage}")
    return study.get_trials()


def test_a_study_resumes_where_it_stopped(bot_toml, tmp_path, capsys):
    db = tmp_path / "r.db"
    args = ["optimize", "--config", str(bot_toml), "--data", "synthetic:300:3", "--storage",
            str(db), "--study", "r", "--sampler", "tpe", "--folds", "0", "--quiet"]  # fmt: skip
    assert main([*args, "--trials", "2"]) == 0
    first = [(t.number, t.params, t.value) for t in _counted(db, "r")]
    assert len(first) == 2
    assert main([*args, "--trials", "4"]) == 0
    trials = _counted(db, "r")
    assert len(trials) == 4 and [(t.number, t.params, t.value) for t in trials[:2]] == first
    assert main([*args, "--trials", "4"]) == 0  # nothing left to do
    assert len(_counted(db, "r")) == 4
    capsys.readouterr()


@pytest.mark.timeout(120)
def test_ctrl_c_keeps_the_study_and_the_same_command_finishes_it(bot_toml, tmp_path):
    db = tmp_path / "c.db"
    cmd = [sys.executable, "-m", "botkit", "optimize", "--config", str(bot_toml), "--data",
           "synthetic:1500:3", "--storage", str(db), "--study", "c", "--sampler", "random",
           "--folds", "0", "--trials", "5", "--pruner", "none"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # wait for the first finished trial, then interrupt
            if "trial 0 complete" in line:
                break
        else:
            pytest.fail(f"no trial finished: {proc.wait(30)}")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err
    before = _counted(db, "c")
    done = [t for t in before if t.state == optuna.trial.TrialState.COMPLETE]
    assert 1 <= len(done) < 5
    interrupted = [t for t in before if t.user_attrs.get("interrupted")]
    assert all(t.state == optuna.trial.TrialState.FAIL for t in interrupted)
    assert not [t for t in before if t.state == optuna.trial.TrialState.RUNNING]
    finish = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert finish.returncode == 0, finish.stderr
    after = _counted(db, "c")
    assert len([t for t in after if t.state == optuna.trial.TrialState.COMPLETE]) == 5
    assert [t.params for t in after[: len(done)]] == [t.params for t in done]
