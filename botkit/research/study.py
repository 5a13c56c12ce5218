"""``botkit optimize``'s driver: Optuna studies over candle backtests, with walk-forward.

One driver process asks Optuna (``study.ask``) for parameter sets, runs them as trials
on a pool (:mod:`botkit.research.pools`: this process, local processes or Ray tasks) and
tells Optuna the results (``study.tell``). The study lives in Optuna's storage (SQLite by
default, any SQLAlchemy URL), which is the single source of truth: the number of trials
still to run is read from it, so a study interrupted by Ctrl-C (its in-flight trials are
told FAILED and marked ``interrupted``) resumes where it stopped when the same command
runs again, and two drivers — say one local, one on a Ray cluster — can work on the
same study at once.

Walk-forward (``folds = k``): the dataset is cut into k consecutive windows; in each,
the first ``in_sample`` share is optimised (its own study, ``<name>.fold<j>of<k>``) and
the rest scores the best parameters out of sample, next to the defaults' scores on both
parts. Both scores are reported, so overfitting shows as a gap between them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botkit.backtest.candle_model import FillModel
from botkit.backtest.candles import CandleSeries
from botkit.errors import ConfigError
from botkit.research.evaluate import PruneLink, TrialJob, TrialOutcome, evaluate
from botkit.research.pools import Pool
from botkit.research.space import OptimizeSpec, Param
from botkit.research.storage import _optuna, make_pruner, open_storage

__all__ = [
    "FoldResult",
    "OptimizeResult",
    "StudyProgress",
    "best_feasible",
    "folds",
    "make_pruner",
    "make_sampler",
    "open_storage",
    "optimize",
    "run_study",
]

log = logging.getLogger("botkit.research")


def _attr(trial: Any, key: str, default: Any = None) -> Any:
    """A trial's ``seconds``, ``constraints`` or ``metrics``: in its one ``result`` user
    attribute (each attribute is a storage transaction), or on its own as studies begun
    before that stored them."""
    attrs = trial.user_attrs
    return attrs.get("result", attrs).get(key, default)


def _constraints(trial: Any) -> list[float]:
    return list(_attr(trial, "constraints", []))


def make_sampler(spec: OptimizeSpec) -> Any:
    """TPE (seeded, constraint-aware), grid (the spec's grid, seeded order) or random."""
    optuna = _optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if spec.sampler == "grid":
            return _grid_sampler(optuna)(spec.grid(), seed=spec.seed)
        if spec.sampler == "random":
            return optuna.samplers.RandomSampler(seed=spec.seed)
        if hasattr(optuna.trial.Trial, "set_constraint"):  # Optuna >= 5: on the trial
            return optuna.samplers.TPESampler(seed=spec.seed)
        return optuna.samplers.TPESampler(seed=spec.seed, constraints_func=_constraints)


def _grid_sampler(optuna: Any) -> Any:
    """Optuna's grid sampler without its ``study.stop()`` once the grid is done: that call
    only works inside ``study.optimize``; the driver caps a grid study's budget at the
    grid's size itself."""

    class Grid(optuna.samplers.GridSampler):  # type: ignore[misc]
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            del study, trial, state, values

    return Grid


def _distribution(p: Param) -> Any:
    d = _optuna().distributions
    if p.kind == "categorical":
        return d.CategoricalDistribution(list(p.values or p.choices))
    assert p.low is not None and p.high is not None
    if p.kind == "int":
        step = int(p.step or 1)
        return d.IntDistribution(int(p.low), int(p.high), step=step)
    if p.kind == "log":
        return d.FloatDistribution(p.low, p.high, log=True)
    return d.FloatDistribution(p.low, p.high, step=p.step)


@dataclass(frozen=True, slots=True)
class StudyProgress:
    """After each trial: how far the study is, and the best feasible trial so far."""

    study: str
    done: int
    budget: int
    outcome: TrialOutcome
    best_value: float | None
    best_params: dict[str, Any] | None


def best_feasible(study: Any) -> Any | None:
    """The complete trial with the highest value whose constraints are all met (ties: the
    earliest), or None."""
    optuna = _optuna()
    best = None
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if any(c > 0 for c in _constraints(t)) or t.value is None:
            continue
        if best is None or t.value > best.value:
            best = t
    return best


def _counted(study: Any) -> int:
    """Trials that count towards the budget: complete, pruned, and failed ones that were
    not interrupted (a bad corner of the space is an answer too)."""
    state = _optuna().trial.TrialState
    n = 0
    for t in study.get_trials(deepcopy=False):
        interrupted = t.state == state.FAIL and t.user_attrs.get("interrupted")
        if t.state in (state.COMPLETE, state.PRUNED, state.FAIL) and not interrupted:
            n += 1
    return n


def run_study(
    *,
    spec: OptimizeSpec,
    doc: Mapping[str, Any],
    window: tuple[int, int],
    pool: Pool,
    storage: str,
    study_name: str,
    model: FillModel,
    latency: float,
    prune: bool = True,
    on_trial: Callable[[StudyProgress], None] | None = None,
) -> Any:
    """Run ``study_name`` (created or resumed) on ``pool`` until it has its budget of trials.

    Raises:
        KeyboardInterrupt: after telling Optuna the in-flight trials were interrupted.
    """
    optuna = _optuna()
    study = optuna.create_study(
        study_name=study_name,
        storage=open_storage(storage),
        sampler=make_sampler(spec),
        pruner=make_pruner(spec.pruner),
        direction="maximize",
        load_if_exists=True,
    )
    study.set_user_attr("objective", spec.objective)
    budget = min(spec.trials, spec.grid_size()) if spec.sampler == "grid" else spec.trials
    dists = {p.name: _distribution(p) for p in spec.params}
    asked: dict[int, Any] = {}
    done = _counted(study)
    prune_on = prune and spec.pruner != "none"
    base_doc = dict(doc)
    limit = pool.capacity + pool.ahead
    try:
        while True:
            # ask ahead: the next trials wait queued at the pool while the running ones run
            while pool.in_flight() < limit and done + len(asked) < budget:
                with _storage_writes():
                    trial = study.ask(dists)
                    asked[trial.number] = trial
                link = (
                    PruneLink(storage, study_name, trial._trial_id, spec.pruner)
                    if prune_on
                    else None
                )
                pool.submit(
                    TrialJob(
                        base_doc,
                        dict(trial.params),
                        window,
                        spec.objective,
                        spec.constraints,
                        model,
                        latency,
                        link,
                        number=trial.number,
                    )
                )
            if not asked:
                break
            for outcome in pool.wait_any():
                with _storage_writes():
                    trial = asked.pop(outcome.number)
                    _tell(study, trial, outcome)
                    done += 1
                if on_trial is not None:
                    best = best_feasible(study)
                    on_trial(
                        StudyProgress(
                            study_name,
                            done,
                            budget,
                            outcome,
                            None if best is None else best.value,
                            None if best is None else dict(best.params),
                        )
                    )
    except KeyboardInterrupt:
        with _storage_writes():  # a second Ctrl-C must not leave a trial RUNNING
            for trial in asked.values():
                trial.set_user_attr("interrupted", True)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    return study


@contextlib.contextmanager
def _storage_writes() -> Iterator[None]:
    """Hold Ctrl-C while the driver writes to the storage, then raise it.

    An interrupt inside ``ask`` or ``tell`` would leave a trial RUNNING (created, never
    told) or half-told; held for the few milliseconds of a write, it lands between
    writes, where the driver records the in-flight trials as interrupted. Only the main
    thread receives signals; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if got:
            raise KeyboardInterrupt


def _tell(study: Any, trial: Any, outcome: TrialOutcome) -> None:
    """Record ``outcome`` on ``trial``: one user attribute for what the report reads (each
    attribute is a transaction of the driver's, between a worker's result and its next
    trial), the constraints for TPE, then the state."""
    state = _optuna().trial.TrialState
    seconds = round(outcome.seconds, 4)
    if outcome.state == "complete":
        metrics = {k: v for k, v in outcome.metrics.items() if v is not None and math.isfinite(v)}
        trial.set_user_attr(
            "result",
            {"seconds": seconds, "constraints": outcome.constraints, "metrics": metrics},
        )
        if hasattr(trial, "set_constraint"):  # Optuna >= 5: TPE avoids infeasible regions
            for i, value in enumerate(outcome.constraints):
                trial.set_constraint(f"c{i}", value)
        study.tell(trial, outcome.value)
    elif outcome.state == "pruned":
        trial.set_user_attr("result", {"seconds": seconds})
        study.tell(trial, state=state.PRUNED)
    else:
        trial.set_user_attr("result", {"seconds": seconds, "error": outcome.error[:500]})
        log.warning("trial %d failed: %s", trial.number, outcome.error)
        study.tell(trial, state=state.FAIL)


def folds(n: int, k: int, in_sample: float) -> list[tuple[tuple[int, int], tuple[int, int] | None]]:
    """``(in-sample, out-of-sample)`` index windows: k consecutive folds, each split at
    ``in_sample``; ``k = 0`` is the whole dataset in sample and nothing out.

    Raises:
        ConfigError: a window would hold fewer than 10 candles.
    """
    if k == 0:
        return [((0, n), None)]
    size = n // k
    out: list[tuple[tuple[int, int], tuple[int, int] | None]] = []
    for j in range(k):
        lo = j * size
        hi = n if j == k - 1 else lo + size
        cut = lo + int((hi - lo) * in_sample)
        if cut - lo < 10 or hi - cut < 10:
            raise ConfigError(
                f"{n} candles are too few for {k} folds at in_sample = {in_sample}: each part "
                "needs at least 10 candles (fewer folds, or more data)"
            )
        out.append(((lo, cut), (cut, hi)))
    return out


@dataclass
class FoldResult:
    """One fold (or the whole run without walk-forward)."""

    study: str
    in_sample: tuple[int, int]
    out_of_sample: tuple[int, int] | None
    best_params: dict[str, Any] | None
    best_in: TrialOutcome | None
    best_out: TrialOutcome | None
    default_in: TrialOutcome
    default_out: TrialOutcome | None
    trials: list[dict[str, Any]] = field(default_factory=list)
    importance: dict[str, float] = field(default_factory=dict)


@dataclass
class OptimizeResult:
    """What ``botkit optimize`` reports."""

    objective: str
    folds: list[FoldResult]
    product_id: str
    granularity: int
    candles: int

    def summary(self) -> dict[str, Any]:
        """The JSON the command prints and writes (scores in and out of sample)."""

        def val(o: TrialOutcome | None) -> float | None:
            return None if o is None else o.value

        rows = [
            {
                "study": f.study,
                "in_sample": list(f.in_sample),
                "out_of_sample": None if f.out_of_sample is None else list(f.out_of_sample),
                "best_params": f.best_params,
                "in_sample_score": val(f.best_in),
                "out_of_sample_score": val(f.best_out),
                "default_in_sample_score": val(f.default_in),
                "default_out_of_sample_score": val(f.default_out),
                "trials": len(f.trials),
            }
            for f in self.folds
        ]
        ins = [v for f in self.folds if (v := val(f.best_in)) is not None]
        outs = [v for f in self.folds if (v := val(f.best_out)) is not None]
        return {
            "objective": self.objective,
            "product_id": self.product_id,
            "granularity": self.granularity,
            "candles": self.candles,
            "folds": rows,
            "mean_in_sample_score": sum(ins) / len(ins) if ins else None,
            "mean_out_of_sample_score": sum(outs) / len(outs) if outs else None,
        }


def _trial_rows(study: Any) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "params": dict(t.params),
                "feasible": not any(c > 0 for c in _constraints(t)),
                "seconds": _attr(t, "seconds"),
                "max_drawdown": _attr(t, "metrics", {}).get("max_drawdown"),
                "trades": _attr(t, "metrics", {}).get("trades"),
            }
        )
    return rows


def _importance(study: Any) -> dict[str, float]:
    """Optuna's parameter importances (fANOVA); empty when there are too few trials."""
    optuna = _optuna()
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2 or len({t.value for t in complete}) < 2:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imp = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as exc:
        log.info("no parameter importance: %s", exc)
        return {}
    return {str(k): float(v) for k, v in imp.items()}


def optimize(
    *,
    spec: OptimizeSpec,
    doc: Mapping[str, Any],
    series: CandleSeries,
    pool: Pool,
    storage: str,
    study_name: str,
    model: FillModel,
    latency: float = 0.05,
    on_trial: Callable[[StudyProgress], None] | None = None,
    curves: bool = True,
    prune: bool = True,
) -> OptimizeResult:
    """Every fold's study, then the best and the default parameters scored in and out of
    sample (in this process, with equity curves for the report)."""
    _optuna()  # the extra's absence is a ConfigError before anything runs
    windows = folds(len(series), spec.folds, spec.in_sample)
    results: list[FoldResult] = []
    defaults: dict[str, Any] = {}
    for j, (ins, outs) in enumerate(windows):
        name = study_name if spec.folds == 0 else f"{study_name}.fold{j + 1}of{spec.folds}"
        study = run_study(
            spec=spec,
            doc=doc,
            window=ins,
            pool=pool,
            storage=storage,
            study_name=name,
            model=model,
            latency=latency,
            prune=prune,
            on_trial=on_trial,
        )
        best = best_feasible(study)
        best_params = None if best is None else dict(best.params)

        def run(params: dict[str, Any], window: tuple[int, int]) -> TrialOutcome:
            job = TrialJob(dict(doc), params, window, spec.objective, spec.constraints, model,
                           latency, None, curve=curves)  # fmt: skip
            return evaluate(job, series)

        best_in = run(best_params, ins) if best_params is not None else None
        best_out = run(best_params, outs) if best_params is not None and outs else None
        default_in = run(defaults, ins)
        default_out = run(defaults, outs) if outs else None
        results.append(
            FoldResult(
                name,
                ins,
                outs,
                best_params,
                best_in,
                best_out,
                default_in,
                default_out,
                _trial_rows(study),
                _importance(study),
            )  # fmt: skip
        )
    return OptimizeResult(spec.objective, results, series.product_id, series.granularity,
                          len(series))  # fmt: skip
