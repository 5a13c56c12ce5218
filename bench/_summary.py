"""Summary rows: what each benchmark script hands to ``bench/regenerate.py``.

Every script in ``bench/`` that measures a target of an issue takes ``--summary FILE`` and
appends one JSON line per target to FILE (:func:`emit`). ``bench/regenerate.py`` runs the
scripts, collects the lines and rewrites the summary table of ``docs/benchmarks.md`` from
them, so every row of that table names the command that measured it and the competitor it
was measured against in the same run: a figure nobody can re-run is not a figure.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

__all__ = ["Row", "add_summary_argument", "command_line", "emit", "version"]


@dataclass(frozen=True)
class Row:
    """One target of the summary table.

    ``key`` is stable across runs (``"feed.msgs_per_s"``): the regenerator replaces the row
    with the same key and keeps rows whose script was not run this time, with their date.
    ``met`` is ``None`` for figures reported without a target.
    """

    key: str
    target: str
    measured: str
    met: bool | None
    command: str
    competitor: str
    note: str = ""


def command_line(argv: list[str] | None = None) -> str:
    """The command that produced this run, as typed from the repo root (``--summary`` left out)."""
    args = list(sys.argv if argv is None else argv)
    out: list[str] = []
    skip = False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a == "--summary":
            skip = True
            continue
        if a.startswith("--summary="):
            continue
        out.append(a)
    script = Path(args[0])
    rel = f"bench/{script.name}" if script.parent.name == "bench" else str(script)
    return " ".join([".venv/bin/python", rel, *map(shlex.quote, out)])


def emit(rows: list[Row], path: str | Path | None) -> None:
    """Append ``rows`` as JSON lines to ``path`` (nothing when ``path`` is None)."""
    if path is None:
        return
    with open(path, "a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")


def add_summary_argument(ap: argparse.ArgumentParser) -> None:
    """The ``--summary FILE`` option every benchmark script takes, worded once."""
    ap.add_argument(
        "--summary",
        metavar="FILE",
        help="append this run's summary rows to FILE as JSON lines (bench/regenerate.py)",
    )


def version(distribution: str) -> str:
    """The installed version of ``distribution`` (``"?"`` if missing), for the competitor cell:
    a ratio against "the SDK" means little without saying which release."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"
