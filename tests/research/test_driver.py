"""The study driver: the look-ahead asks the same parameters of a seeded random study as
one-at-a-time asking, and the trials' results are read back in either attribute layout."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import optuna

from botkit.backtest.candle_model import FillModel
from botkit.backtest.synthetic import synthetic_series
from botkit.research.pools import InProcessPool, LocalPool, Pool
from botkit.research.space import parse_optimize
from botkit.research.study import _trial_rows, best_feasible, run_study
from tests.research.test_optimize import BOT_TOML


def _study(pool: Pool, tmp: Path, name: str) -> dict[int, dict[str, object]]:
    doc = tomllib.loads(BOT_TOML.replace('sampler = "grid"', 'sampler = "random"'))
    spec = dataclasses.replace(parse_optimize(doc), trials=7)
    series = synthetic_series(300, seed=3)
    study = run_study(spec=spec, doc=doc, window=(0, len(series)), pool=pool,
                      storage=str(tmp / f"{name}.db"), study_name=name, model=FillModel(),
                      latency=0.05)  # fmt: skip
    trials = study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 7
    assert all(isinstance(t.user_attrs["result"]["seconds"], float) for t in trials)
    return {t.number: dict(t.params) for t in trials}


def test_asking_ahead_on_two_workers_asks_what_one_at_a_time_asks(tmp_path):
    series = synthetic_series(300, seed=3)
    one = InProcessPool(series)
    two = LocalPool(series, 2)
    try:
        assert (one.ahead, two.ahead) == (0, 1)
        sequential = _study(one, tmp_path, "one")
        ahead = _study(two, tmp_path, "two")
    finally:
        two.close()
    assert ahead == sequential
    assert len({tuple(p.items()) for p in sequential.values()}) > 1  # the sampler does vary


def test_trials_stored_before_the_result_attribute_are_still_read(tmp_path):
    """Studies begun by an earlier botkit stored seconds, metrics and constraints as three
    attributes: the trials table and the best feasible trial still read them."""
    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{tmp_path}/old.db")
    dist: dict[str, optuna.distributions.BaseDistribution] = {
        "fast": optuna.distributions.IntDistribution(3, 9)
    }
    for number, (value, violation) in enumerate([(2.0, 0.5), (1.0, 0.0)]):
        study.add_trial(
            optuna.trial.create_trial(
                value=value,
                params={"fast": 3 + number},
                distributions=dist,
                user_attrs={
                    "seconds": 1.5,
                    "metrics": {"max_drawdown": 0.1, "trades": 3},
                    "constraints": [violation],
                },
            )
        )
    rows = _trial_rows(study)
    assert [(r["seconds"], r["max_drawdown"], r["trades"], r["feasible"]) for r in rows] == [
        (1.5, 0.1, 3, False),
        (1.5, 0.1, 3, True),
    ]
    best = best_feasible(study)  # the higher value breaks its constraint
    assert best is not None and best.params == {"fast": 4}
