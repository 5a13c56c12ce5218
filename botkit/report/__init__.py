"""Reports of paper and backtest sessions: metrics, a self-contained HTML page, a PNG.

``build_report(journal_path)`` reads a :class:`~botkit.paper.journal.PaperJournal`;
``write_html`` and ``write_png`` render it. See docs/report.md for what each number means.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botkit.report.html import render_html, write_html
    from botkit.report.metrics import Drawdown, LiquidityStats, Report, build_report
    from botkit.report.png import find_rasterizer, write_png

_WHERE = {
    "render_html": "html", "write_html": "html", "Drawdown": "metrics",
    "LiquidityStats": "metrics", "Report": "metrics", "build_report": "metrics",
    "find_rasterizer": "png", "write_png": "png",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """Load on first use: the status page imports only ``botkit.report.svg`` (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'botkit.report' has no attribute {name!r}")
    value = getattr(import_module(f"botkit.report.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Drawdown",
    "LiquidityStats",
    "Report",
    "build_report",
    "find_rasterizer",
    "render_html",
    "write_html",
    "write_png",
]
