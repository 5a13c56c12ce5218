"""The ``[optimize]`` table of a bot TOML: search space, objective, constraints (pure).

Example (docs/research.md has every key)::

    [optimize]
    objective = "sharpe"        # pnl | sharpe | sortino | calmar (all maximised)
    sampler = "tpe"             # tpe (default) | grid | random
    trials = 50                 # per study (per fold in walk-forward)
    seed = 42
    pruner = "median"           # median (default) | none
    folds = 3                   # walk-forward folds; 0 = one in-sample study on everything
    in_sample = 0.75            # share of each fold optimised on; the rest scores it

    [optimize.constraints]
    max_drawdown = 0.25         # a trial deeper than 25 % is infeasible
    min_trades = 3              # and one with fewer closed trades

    [optimize.params]
    fast = { type = "int", low = 3, high = 15 }
    slow = { type = "int", low = 20, high = 60, step = 5 }
    size = { type = "log", low = 0.001, high = 0.1 }
    closed_only = { type = "categorical", choices = [true, false] }

Parsed here into plain data, so the CLI can say what is wrong before anything runs, and
so a trial's job can be pickled to another process or a Ray worker. Optuna's
distributions are built from it in :mod:`botkit.research.study`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from botkit.backtest.candle_model import FillModel
from botkit.errors import ConfigError

__all__ = ["OBJECTIVES", "Constraints", "OptimizeSpec", "Param", "parse_backtest", "parse_optimize"]

OBJECTIVES = ("pnl", "sharpe", "sortino", "calmar")
SAMPLERS = ("tpe", "grid", "random")
PRUNERS = ("median", "none")
Kind = Literal["int", "float", "log", "categorical"]


@dataclass(frozen=True, slots=True)
class Param:
    """One searched parameter.

    ``int`` and ``float`` take ``low``/``high`` (inclusive) and an optional ``step``;
    ``log`` is a float searched on a log scale (``low > 0``); ``categorical`` takes
    ``choices``. ``values`` (any kind) lists the points a grid search visits; without it
    a grid uses every ``step`` of an ``int``/stepped ``float``, or the ``choices``.
    """

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()
    values: tuple[Any, ...] = ()

    def grid(self) -> list[Any]:
        """The values a grid search visits.

        Raises:
            ConfigError: a continuous parameter without ``step`` or ``values``.
        """
        if self.values:
            return list(self.values)
        if self.kind == "categorical":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))
        if self.kind == "float" and self.step:
            n = int(math.floor((self.high - self.low) / self.step + 1e-9))
            return [round(self.low + i * self.step, 12) for i in range(n + 1)]
        raise ConfigError(
            f"[optimize.params] {self.name}: a grid needs points for a continuous parameter: "
            f"add step = ... or values = [...]"
        )


@dataclass(frozen=True, slots=True)
class Constraints:
    """Limits a trial must meet to count (infeasible trials never become "best")."""

    max_drawdown: float | None = None  # fraction of the peak, 0.25 = 25 %
    min_trades: int = 0  # closed round trips

    def violations(self, max_drawdown: float | None, closed_trades: int) -> list[float]:
        """Optuna's constraint values: each <= 0 when met (positive: by how much it is not)."""
        out: list[float] = []
        if self.max_drawdown is not None:
            out.append((max_drawdown or 0.0) - self.max_drawdown)
        if self.min_trades:
            out.append(float(self.min_trades - closed_trades))
        return out


@dataclass(frozen=True, slots=True)
class OptimizeSpec:
    """The whole ``[optimize]`` table, validated."""

    params: tuple[Param, ...]
    objective: str = "sharpe"
    sampler: str = "tpe"
    trials: int = 50
    seed: int = 0
    pruner: str = "median"
    folds: int = 0
    in_sample: float = 0.75
    constraints: Constraints = field(default_factory=Constraints)

    def grid(self) -> dict[str, list[Any]]:
        """Every parameter's grid (for the grid sampler)."""
        return {p.name: p.grid() for p in self.params}

    def grid_size(self) -> int:
        """How many points the grid has."""
        return math.prod(len(v) for v in self.grid().values())


def _num(name: str, raw: Mapping[str, Any], key: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"[optimize.params] {name}.{key} must be a number, not {value!r}")
    try:
        return float(value)
    except ValueError:
        raise ConfigError(
            f"[optimize.params] {name}.{key} must be a number, not {value!r}"
        ) from None


def _param(name: str, raw: Any) -> Param:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f'[optimize.params] {name} must be a table like {{ type = "int", low = 1, high = 9 }}'
        )
    unknown = set(raw) - {"type", "low", "high", "step", "log", "choices", "values"}
    if unknown:
        raise ConfigError(f"[optimize.params] {name}: unknown key(s) {sorted(unknown)}")
    kind = raw.get("type")
    if kind == "float" and raw.get("log"):
        kind = "log"
    if kind not in ("int", "float", "log", "categorical"):
        raise ConfigError(
            f"[optimize.params] {name}.type must be int, float, log or categorical, not {kind!r}"
        )
    values = tuple(raw.get("values") or ())
    if kind == "categorical":
        choices = tuple(raw.get("choices") or ())
        if not choices:
            raise ConfigError(f"[optimize.params] {name}: categorical needs choices = [...]")
        return Param(name, "categorical", choices=choices, values=values)
    low, high, step = _num(name, raw, "low"), _num(name, raw, "high"), _num(name, raw, "step")
    if low is None or high is None or not low <= high:
        raise ConfigError(f"[optimize.params] {name} needs low <= high (got {low}, {high})")
    if kind == "log" and low <= 0:
        raise ConfigError(f"[optimize.params] {name}: a log scale needs low > 0 (got {low})")
    if step is not None and (step <= 0 or kind == "log"):
        raise ConfigError(f"[optimize.params] {name}: step must be > 0 and not on a log scale")
    if kind == "int" and not all(float(x).is_integer() for x in (low, high, step or 1)):
        raise ConfigError(f"[optimize.params] {name}: an int parameter needs whole numbers")
    return Param(name, kind, low, high, step, values=values)


def parse_optimize(doc: Mapping[str, Any], *, source: str = "config") -> OptimizeSpec:
    """Validate the ``[optimize]`` table of a parsed bot TOML.

    Raises:
        ConfigError: the table is missing or a key is wrong (the message names it).
    """
    raw = doc.get("optimize")
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{source} has no [optimize] table: add one with [optimize.params] "
            "(docs/research.md shows an example)"
        )
    known = {"objective", "sampler", "trials", "seed", "pruner", "folds", "in_sample",
             "constraints", "params"}  # fmt: skip
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{source}: [optimize] has unknown key(s) {sorted(unknown)}")
    params_raw = raw.get("params")
    if not isinstance(params_raw, Mapping) or not params_raw:
        raise ConfigError(f"{source}: [optimize.params] must list at least one parameter")
    params = tuple(_param(str(k), v) for k, v in params_raw.items())
    objective = str(raw.get("objective", "sharpe"))
    if objective not in OBJECTIVES:
        raise ConfigError(f"[optimize] objective must be one of {OBJECTIVES}, not {objective!r}")
    sampler = str(raw.get("sampler", "tpe"))
    if sampler not in SAMPLERS:
        raise ConfigError(f"[optimize] sampler must be one of {SAMPLERS}, not {sampler!r}")
    pruner = str(raw.get("pruner", "median"))
    if pruner not in PRUNERS:
        raise ConfigError(f"[optimize] pruner must be one of {PRUNERS}, not {pruner!r}")
    trials, seed, folds = raw.get("trials", 50), raw.get("seed", 0), raw.get("folds", 0)
    for key, value, lo in (("trials", trials, 1), ("seed", seed, 0), ("folds", folds, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise ConfigError(f"[optimize] {key} must be a whole number >= {lo}, not {value!r}")
    in_sample = raw.get("in_sample", 0.75)
    if isinstance(in_sample, bool) or not isinstance(in_sample, int | float):
        raise ConfigError(f"[optimize] in_sample must be a fraction, not {in_sample!r}")
    if not 0.1 <= float(in_sample) <= 0.95:
        raise ConfigError(f"[optimize] in_sample must be in [0.1, 0.95], not {in_sample}")
    cons = raw.get("constraints") or {}
    if not isinstance(cons, Mapping) or set(cons) - {"max_drawdown", "min_trades"}:
        raise ConfigError(
            "[optimize.constraints] takes max_drawdown (a fraction, 0.25 = 25 %) and min_trades"
        )
    mdd = cons.get("max_drawdown")
    if mdd is not None and (isinstance(mdd, bool) or not 0 < float(mdd) < 1):
        raise ConfigError(f"[optimize.constraints] max_drawdown must be in (0, 1), not {mdd!r}")
    min_trades = cons.get("min_trades", 0)
    if isinstance(min_trades, bool) or not isinstance(min_trades, int) or min_trades < 0:
        raise ConfigError(f"[optimize.constraints] min_trades must be >= 0, not {min_trades!r}")
    spec = OptimizeSpec(
        params=params,
        objective=objective,
        sampler=sampler,
        trials=trials,
        seed=seed,
        pruner=pruner,
        folds=folds,
        in_sample=float(in_sample),
        constraints=Constraints(None if mdd is None else float(mdd), min_trades),
    )
    if sampler == "grid":
        spec.grid()  # a continuous parameter without points is an error now, not mid-run
    return spec


def parse_backtest(doc: Mapping[str, Any]) -> tuple[FillModel, float]:
    """The ``[backtest]`` table: the candle fill model and the order latency.

    Keys: ``slippage_bps`` (default 5), ``intrabar`` (``ohlc`` or ``pessimistic``),
    ``latency`` (seconds after a candle's open at which orders sent on the previous close
    reach the matching engine; default 0.05).

    Raises:
        ConfigError: an unknown key or a bad value.
    """
    raw = doc.get("backtest") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError("[backtest] must be a table")
    unknown = set(raw) - {"slippage_bps", "intrabar", "latency"}
    if unknown:
        raise ConfigError(
            f"[backtest] has unknown key(s) {sorted(unknown)} "
            "(known: slippage_bps, intrabar, latency)"
        )
    try:
        model = FillModel(
            slippage_bps=Decimal(str(raw.get("slippage_bps", 5))),
            intrabar=raw.get("intrabar", "ohlc"),
        )
        latency = float(raw.get("latency", 0.05))
    except (ValueError, ArithmeticError) as exc:
        raise ConfigError(f"[backtest]: {exc}") from None
    return model, latency
