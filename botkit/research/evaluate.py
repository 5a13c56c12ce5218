"""One trial: a candle backtest with a parameter set, scored by the study's objective.

This is the function every executor runs — in-process (``--jobs 1``), in a local process
pool (``--jobs N``) or as a Ray task (``--ray``) — on a :class:`TrialJob`, which is plain
picklable data. The dataset travels apart from the job (once per worker process, or once
into Ray's object store), and each trial backtests a window of it by index.

Pruning: when the job carries a :class:`PruneLink`, the backtest reports the account's
PnL so far at a few checkpoints to the trial in the study's storage (Optuna's
``Trial.report``) and stops as soon as the pruner says so. That needs the worker to reach
the storage; the driver process alone talks to it otherwise.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from botkit.backtest.candle_model import FillModel
from botkit.backtest.candles import CandleBacktest, CandleSeries
from botkit.errors import BotkitError
from botkit.paper.journal import PaperJournal
from botkit.report.analytics import Analytics, analyse
from botkit.research.space import Constraints
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.settings import BotSettings
from botkit.strategy.base import Strategy
from botkit.strategy.loader import load_strategy

__all__ = ["PruneLink", "TrialJob", "TrialOutcome", "evaluate", "score"]

CHECKPOINTS = 4

log = logging.getLogger("botkit.research")


@dataclass(frozen=True, slots=True)
class PruneLink:
    """Where a worker reports intermediate values: the study's storage and the trial."""

    storage: str
    study_name: str
    trial_id: int
    pruner: str = "median"


@dataclass(frozen=True, slots=True)
class TrialJob:
    """What one trial runs (picklable; the dataset is passed separately).

    Args:
        doc: the bot TOML document (``[strategy.params]`` are the defaults).
        params: the trial's values, layered over the defaults.
        window: ``(lo, hi)`` candle indexes of the dataset to backtest.
        objective: ``pnl``, ``sharpe``, ``sortino`` or ``calmar``.
        constraints: what makes a result infeasible.
        model: the candle fill model; ``latency`` its order latency.
        prune: where to report checkpoints (None: no pruning).
        curve: also return the equity curve (the report's best-vs-default chart).
    """

    doc: dict[str, Any]
    params: dict[str, Any]
    window: tuple[int, int]
    objective: str
    constraints: Constraints = field(default_factory=Constraints)
    model: FillModel = field(default_factory=FillModel)
    latency: float = 0.05
    prune: PruneLink | None = None
    curve: bool = False
    number: int = -1


@dataclass(slots=True)
class TrialOutcome:
    """A trial's result: ``state`` is ``complete``, ``pruned`` or ``failed``."""

    state: str
    value: float | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    constraints: list[float] = field(default_factory=list)
    error: str = ""
    curve: list[tuple[float, float]] = field(default_factory=list)
    seconds: float = 0.0
    number: int = -1
    step: int = 0


def score(objective: str, a: Analytics) -> float:
    """The objective's value (maximised). Undefined ratios (no trades, a flat curve) are
    0: no return for no risk, so a study never prefers "did nothing" to a real edge."""
    value = {
        "pnl": a.pnl,
        "sharpe": a.sharpe,
        "sortino": a.sortino,
        "calmar": a.calmar,
    }[objective]
    return float(value) if value is not None else 0.0


def _metrics(a: Analytics) -> dict[str, float | None]:
    return {
        "pnl": a.pnl,
        "return": a.total_return,
        "sharpe": a.sharpe,
        "sortino": a.sortino,
        "calmar": a.calmar,
        "max_drawdown": a.max_drawdown,
        "max_drawdown_duration": a.max_drawdown_duration,
        "win_rate": a.win_rate,
        "profit_factor": a.profit_factor,
        "exposure": a.exposure,
        "trades": float(a.closed_trades),
    }


class _Pruned(Exception):
    """Raised from a checkpoint to stop a backtest the pruner gave up on."""

    def __init__(self, step: int) -> None:
        super().__init__(step)
        self.step = step


def _reporter(link: PruneLink, initial: list[Decimal]) -> Any:
    import optuna

    from botkit.research.storage import make_pruner, open_storage

    study = optuna.load_study(
        study_name=link.study_name,
        storage=open_storage(link.storage),
        pruner=make_pruner(link.pruner),
    )
    trial = optuna.trial.Trial(study, link.trial_id)

    def report(step: int, equity: Decimal) -> None:
        if not initial:
            initial.append(equity)
        trial.report(float(equity - initial[0]), step)
        if trial.should_prune():
            raise _Pruned(step)

    return report


_STRATEGIES: dict[str, type[Strategy]] = {}
"""Strategy classes by name, loaded once per process (a worker runs many trials)."""


def evaluate(job: TrialJob, series: CandleSeries) -> TrialOutcome:
    """Backtest ``job``'s window of ``series`` with its parameters; score it.

    Never raises for a bad parameter set: a strategy or config error is a ``failed``
    outcome with the message (a study must survive one bad corner of its space).
    """
    t0 = time.perf_counter()
    doc = copy.deepcopy(job.doc)
    doc.pop("optimize", None)
    doc.pop("backtest", None)
    strategy = doc.setdefault("strategy", {})
    strategy["params"] = {**strategy.get("params", {}), **job.params}
    out = Path(tempfile.mkdtemp(prefix="botkit-trial-"))
    initial: list[Decimal] = []
    try:
        config = parse_bot_config(doc, source="optimize trial")
        window = series.slice(*job.window)
        checkpoint = None
        if job.prune is not None:
            try:
                checkpoint = _reporter(job.prune, initial)
            except Exception as exc:  # the storage is out of this worker's reach: no pruning
                log.warning("trial %d runs unpruned: %s", job.number, exc)
        name = config.strategy or "market_maker"
        cls = _STRATEGIES.get(name)
        if cls is None:
            cls = _STRATEGIES[name] = load_strategy(name)
        bt = CandleBacktest(
            config,
            BotSettings(),
            window,
            out / "run",
            model=job.model,
            latency=job.latency,
            equity_points=1000,
            checkpoint=checkpoint,
            checkpoints=CHECKPOINTS if checkpoint is not None else 0,
            strategy_cls=cls,
        )
        result = asyncio.run(bt.run())
        with PaperJournal(result.journal_path, readonly=True) as journal:
            fills = journal.fills()
            curve = [(p.t, float(p.equity)) for p in journal.equity()]
        start = float(window.start[0])
        end = float(window.start[-1] + window.granularity)
        a = analyse(fills, curve, period=_period(window), start=start, end=end)
        return TrialOutcome(
            "complete",
            score(job.objective, a),
            _metrics(a),
            job.constraints.violations(a.max_drawdown, a.closed_trades),
            curve=curve if job.curve else [],
            seconds=time.perf_counter() - t0,
            number=job.number,
        )
    except _Pruned as exc:
        return TrialOutcome(
            "pruned", seconds=time.perf_counter() - t0, number=job.number, step=exc.step
        )
    except (BotkitError, ValueError) as exc:
        return TrialOutcome(
            "failed", error=str(exc), seconds=time.perf_counter() - t0, number=job.number
        )
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _period(series: CandleSeries) -> float:
    """Returns are taken per hour at least, and over at most ~500 periods per window."""
    span = float(series.start[-1] - series.start[0] + series.granularity)
    return max(float(series.granularity), 3600.0, span / 500)
