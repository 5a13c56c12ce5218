"""The [optimize] and [backtest] tables: what is accepted, and what is refused with the fix."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from botkit.errors import ConfigError
from botkit.research.space import Param, parse_backtest, parse_optimize


def doc(**optimize: Any) -> dict[str, Any]:
    table = {"params": {"fast": {"type": "int", "low": 3, "high": 9, "step": 3}}}
    table.update(optimize)
    return {"optimize": table}


def test_every_kind_of_parameter_and_the_defaults():
    spec = parse_optimize(
        doc(
            params={
                "fast": {"type": "int", "low": 3, "high": 9, "step": 3},
                "band": {"type": "float", "low": 0.5, "high": 1.5, "step": 0.5},
                "size": {"type": "log", "low": 0.001, "high": 0.1},
                "size2": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
                "closed_only": {"type": "categorical", "choices": [True, False]},
            }
        )
    )
    kinds = {p.name: p.kind for p in spec.params}
    assert kinds == {"fast": "int", "band": "float", "size": "log", "size2": "log",
                     "closed_only": "categorical"}  # fmt: skip
    assert (spec.objective, spec.sampler, spec.pruner, spec.folds) == ("sharpe", "tpe", "median", 0)
    assert spec.params[0].grid() == [3, 6, 9]
    assert spec.params[1].grid() == [0.5, 1.0, 1.5]
    assert spec.params[4].grid() == [True, False]


def test_grid_of_a_continuous_parameter_needs_points():
    with pytest.raises(ConfigError, match="add step = ... or values"):
        parse_optimize(doc(sampler="grid", params={"x": {"type": "log", "low": 1, "high": 2}}))
    spec = parse_optimize(
        doc(sampler="grid", params={"x": {"type": "log", "low": 1, "high": 8, "values": [1, 8]}})
    )
    assert spec.grid_size() == 2


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"objective": "profit"}, "objective must be one of"),
        ({"sampler": "cmaes"}, "sampler must be one of"),
        ({"trials": 0}, "trials must be a whole number >= 1"),
        ({"in_sample": 0.99}, r"in_sample must be in \[0.1, 0.95\]"),
        ({"constraints": {"max_drawdown": 25}}, r"max_drawdown must be in \(0, 1\)"),
        ({"constraints": {"max_dd": 0.2}}, "takes max_drawdown"),
        ({"params": {"x": {"type": "int", "low": 5, "high": 1}}}, "needs low <= high"),
        ({"params": {"x": {"type": "log", "low": 0, "high": 1}}}, "log scale needs low > 0"),
        ({"params": {"x": {"type": "int", "low": 1.5, "high": 3}}}, "whole numbers"),
        ({"params": {"x": {"type": "categorical"}}}, "categorical needs choices"),
        ({"params": {"x": 3}}, "must be a table like"),
        ({"bogus": 1}, "unknown key"),
    ],
)
def test_mistakes_are_refused_naming_the_key(table, message):
    with pytest.raises(ConfigError, match=message):
        parse_optimize(doc(**table))


def test_no_optimize_table_says_where_the_example_is():
    with pytest.raises(ConfigError, match="docs/research.md"):
        parse_optimize({})


def test_backtest_table():
    model, latency = parse_backtest({"backtest": {"slippage_bps": 2.5, "intrabar": "pessimistic",
                                                  "latency": 0.2}})  # fmt: skip
    assert model.slippage_bps == Decimal("2.5") and model.intrabar == "pessimistic"
    assert latency == 0.2
    with pytest.raises(ConfigError, match="known: slippage_bps"):
        parse_backtest({"backtest": {"slipage": 1}})
    with pytest.raises(ConfigError, match="pessimistic"):
        parse_backtest({"backtest": {"intrabar": "best"}})
    assert Param("x", "int", 1, 3).grid() == [1, 2, 3]
