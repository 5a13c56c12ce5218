"""Reports of paper and backtest sessions: metrics, a self-contained HTML page, a PNG.

``build_report(journal_path)`` reads a :class:`~botkit.paper.journal.PaperJournal`;
``write_html`` and ``write_png`` render it. See docs/report.md for what each number means.
"""

from botkit.report.html import render_html, write_html
from botkit.report.metrics import Drawdown, LiquidityStats, Report, build_report
from botkit.report.png import find_rasterizer, write_png

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
