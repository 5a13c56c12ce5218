"""``botkit report JOURNAL [--out FILE.html] [--png FILE.png]``.

Exit codes follow :mod:`botkit.cli.main`: 0 written, 2 bad input (missing or wrong journal,
no PNG rasterizer), with one ``botkit: error: ...`` line that says how to fix it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from botkit.errors import ConfigError

__all__ = ["add_report_parser", "run_report"]

EXIT_OK, EXIT_USAGE = 0, 2


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to ``botkit``'s subparsers (``run_report`` is its func)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="write an HTML (and PNG) report of a paper or backtest journal",
        description="Equity curve, drawdown, fills on the price, orders, fills, PnL, fees, "
        "max drawdown, fill ratio and time in market of a paper/backtest session. The HTML "
        "is one self-contained file. See docs/report.md.",
    )
    p.add_argument("journal", help="the session's journal (SQLite file)")
    p.add_argument("--out", help="HTML file to write (default: the journal's name with .html)")
    p.add_argument("--png", help="also write this PNG (needs cairosvg, rsvg-convert or chromium)")
    p.set_defaults(func=run_report)
    return p


def run_report(args: argparse.Namespace) -> int:
    """Build the report, write the HTML (and PNG), print where; ConfigError -> exit 2."""
    from botkit.report import build_report, write_html, write_png

    journal = Path(args.journal)
    try:
        report = build_report(journal)
        out = Path(args.out) if args.out else journal.with_suffix(".html")
        if out.resolve() == journal.resolve():
            raise ConfigError(f"--out {out} is the journal itself; choose another file name")
        write_html(report, out)
        print(f"report: {out} ({report.n_orders} orders, {report.n_fills} fills)")
        if args.png:
            used = write_png(report, Path(args.png))
            print(f"png:    {args.png} (via {used})")
    except ConfigError as exc:
        print(f"botkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
