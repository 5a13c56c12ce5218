"""botkit optimize end to end: the same best parameters in-process, on 2 local processes
and on a real local Ray instance; walk-forward reports both scores; a study resumes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from botkit.backtest.synthetic import synthetic_series
from botkit.cli.main import main
from botkit.research.pools import RayPool
from tests.report.test_html import _Balanced

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


def _best_via_cli(bot_toml: Path, storage: Path, *extra: str) -> list[dict[str, Any] | None]:
    args = ["optimize", "--config", str(bot_toml), "--data", "synthetic:480:3", "--storage",
            str(storage), "--study", "same", "--quiet", *extra]  # fmt: skip
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    summary = json.loads(out.getvalue())
    for fold in summary["folds"]:
        assert fold["trials"] == 4  # the whole 2 x 2 grid, once
    return [f["best_params"] for f in summary["folds"]]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A real Ray instance on this machine (2 CPUs, no dashboard), shut down after."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.timeout(240)
def test_grid_gives_the_same_best_params_with_jobs_1_jobs_2_and_on_ray(
    bot_toml, tmp_path, local_ray
):
    one = _best_via_cli(bot_toml, tmp_path / "one.db", "--jobs", "1")
    two = _best_via_cli(bot_toml, tmp_path / "two.db", "--jobs", "2")
    on_ray = _best_via_cli(bot_toml, tmp_path / "ray.db", "--ray", "local")
    assert one[0] is not None and one[1] is not None
    assert one == two == on_ray


@pytest.mark.timeout(240)
def test_a_study_started_locally_is_finished_on_ray(bot_toml, tmp_path, local_ray):
    db = tmp_path / "mixed.db"
    args = ["optimize", "--config", str(bot_toml), "--data", "synthetic:300:3", "--storage",
            str(db), "--study", "mixed", "--sampler", "random", "--folds", "0", "--quiet"]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*args, "--trials", "2", "--jobs", "1"]) == 0
        local = [(t.number, t.params) for t in _counted(db, "mixed")]
        assert main([*args, "--trials", "5", "--ray", "local"]) == 0
    trials = _counted(db, "mixed")
    assert len(trials) == 5 and [(t.number, t.params) for t in trials[:2]] == local
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def test_ray_pool_puts_the_dataset_once_and_runs_trials_as_tasks(local_ray):
    import ray

    series = synthetic_series(200, seed=1)
    pool = RayPool(series, "local")
    try:
        assert pool.capacity == 2
        ref = pool._ref
        assert ray.get(ref).close == series.close  # the object store holds the dataset
    finally:
        pool.close()
    assert ray.is_initialized()  # a pool does not shut down an instance it did not start


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
    assert html.count("<title>Equity: best") == 2  # best vs default equity, per fold
    parser = _Balanced()
    parser.feed(html)
    assert parser.errors == [] and parser.stack == []
    assert "http" not in html  # self-contained: no link to load anything from


def test_a_misspelt_searched_parameter_is_refused_before_any_trial(tmp_path, capsys):
    path = tmp_path / "typo.toml"
    path.write_text(BOT_TOML.replace("fast = { type", "fsat = { type"))
    storage = tmp_path / "s.db"
    code = main(["optimize", "--config", str(path), "--data", "synthetic:300:3",
                 "--storage", str(storage), "--quiet"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "[optimize.params]: unknown parameter(s) fsat (known:" in err and "fast" in err
    assert not storage.exists()  # no study, no trial stored as done


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
            if line.startswith("{") and json.loads(line)["state"] == "complete":
                assert json.loads(line)["budget"] == 5
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
