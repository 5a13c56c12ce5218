"""The HTML report of ``botkit optimize``: one self-contained page, like ``botkit report``.

Per fold: the in- vs out-of-sample scores of the best and the default parameters (the
overfitting check), parameter importance (Optuna's fANOVA), the equity curves of the best
and the default parameters over the fold with the in-sample/out-of-sample boundary, and
the trials table. Built from :class:`~botkit.research.study.OptimizeResult` with the
session report's table and SVG chart code (:mod:`botkit.report.html`,
:mod:`botkit.report.svg`); deterministic for the same result.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from botkit import __version__
from botkit.report.html import CSS, table
from botkit.report.svg import Chart, Series, render_chart
from botkit.research.evaluate import TrialOutcome
from botkit.research.study import FoldResult, OptimizeResult

__all__ = ["render_optimize_html", "write_optimize_html"]

BEST, DEFAULT, BAR = "#0969da", "#6e7781", "#1a7f37"


def _f(v: Any, places: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{places}g}"
    return str(v)


def _score(o: TrialOutcome | None) -> str:
    return "—" if o is None else _f(o.value)


def _curve(o: TrialOutcome | None) -> list[tuple[float, float]]:
    return [] if o is None else list(o.curve)


def _fold_chart(f: FoldResult) -> Chart | None:
    best = _curve(f.best_in) + _curve(f.best_out)
    default = _curve(f.default_in) + _curve(f.default_out)
    series = []
    if best:
        series.append(Series(best, BEST, "best"))
    if default:
        series.append(Series(default, DEFAULT, "default"))
    if not series:
        return None
    return Chart(
        "Equity: best (blue) vs default (grey); the out-of-sample part restarts from the "
        "initial portfolio",
        series,
    )


def _importance(f: FoldResult) -> str:
    if not f.importance:
        return "<p>Not enough complete trials with different scores to rank parameters.</p>"
    rows = []
    for name, value in sorted(f.importance.items(), key=lambda kv: -kv[1]):
        width = max(int(value * 300), 1)
        rect = f'<rect width="{width}" height="10" fill="{BAR}"/>'
        bar = f'<svg width="{width}" height="10">{rect}</svg>'
        rows.append(f"<tr><td>{escape(name)}</td><td>{value:.3f}</td><td>{bar}</td></tr>")
    return f'<table class="stats">{"".join(rows)}</table>'


def _trials(f: FoldResult) -> str:
    head = ["#", "state", "value", "feasible", "max dd", "trades", "seconds", "params"]
    rows = [
        [
            str(t["number"]),
            str(t["state"]),
            _f(t["value"]),
            "yes" if t["feasible"] else "no",
            _f(t["max_drawdown"], 3),
            _f(t["trades"]),
            _f(t["seconds"], 3),
            json.dumps(t["params"], sort_keys=True),
        ]
        for t in f.trials
    ]
    return table(head, rows, {1, 3, 7})


def render_optimize_html(result: OptimizeResult, *, title: str = "") -> str:
    """The whole page."""
    summary = result.summary()
    name = title or f"{result.product_id} · {result.objective}"
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>botkit optimize: {escape(name)}</title><style>{CSS}</style></head><body>",
        f"<h1>Optimisation report: {escape(name)}</h1>",
        f'<p class="sub">{result.candles:,} candles of {result.granularity} s · objective '
        f"{escape(result.objective)} (maximised) · {len(result.folds)} fold(s)</p>",
        "<h2>In sample vs out of sample</h2>",
        '<p class="sub">Each fold is optimised on its in-sample part and scored on the '
        "rest: a large gap between the two columns of the best parameters is overfitting.</p>",
    ]
    head = ["fold", "best params", "best in", "best out", "default in", "default out", "trials"]
    rows = [
        [
            f.study,
            json.dumps(f.best_params, sort_keys=True) if f.best_params else "none feasible",
            _score(f.best_in),
            _score(f.best_out),
            _score(f.default_in),
            _score(f.default_out),
            str(len(f.trials)),
        ]
        for f in result.folds
    ]
    rows.append(
        [
            "mean",
            "",
            _f(summary["mean_in_sample_score"]),
            _f(summary["mean_out_of_sample_score"]),
            "",
            "",
            "",
        ]
    )
    parts.append(table(head, rows, {0, 1}))
    for f in result.folds:
        parts.append(f"<h2>{escape(f.study)}</h2>")
        parts.append("<h3>Parameter importance</h3>")
        parts.append(_importance(f))
        chart = _fold_chart(f)
        if chart is not None:
            parts.append(render_chart(chart))
        parts.append(f"<h3>Trials ({len(f.trials)})</h3>")
        parts.append(_trials(f))
    parts.append(f"<footer>botkit {escape(__version__)} · botkit optimize</footer>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_optimize_html(result: OptimizeResult, out: Path, *, title: str = "") -> Path:
    """Write the page to ``out`` (folders created)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_optimize_html(result, title=title), encoding="utf-8")
    return out
