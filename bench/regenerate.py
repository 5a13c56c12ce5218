"""Regenerate the summary table of docs/benchmarks.md with one command.

Run:  .venv/bin/python bench/regenerate.py [--only sign,book,...] [--quick] [--with-soak]
                                          [--drop KEY] [--dry-run] [--logs DIR]
      (or ``make bench``)

Runs the benchmark scripts of ``bench/`` one after another, each as its own process
(``.venv/bin/python bench/<script>.py <arguments> --summary FILE``), collects the rows they
append to FILE (``bench/_summary.py``: one JSON line per target, naming the command and the
competitor measured in the same run) and rewrites **only** the table between the markers
``<!-- summary:begin -->`` and ``<!-- summary:end -->`` of docs/benchmarks.md. Above the
table, one line per run that still has rows in it: when (the "measured on" cell of its
rows), which scripts, on which CPU, at which load average, Python and git head.

* A row is replaced by the row of the same key from this run, dated with this run. Rows of
  scripts not run this time (``--only``, a script that failed or does not take ``--summary``
  yet) keep their text and their date, and their run's line stays. A script that ran but did not report a row it reported
  before (a skipped part, a renamed key) leaves that row as it was, with a warning:
  ``--drop KEY`` removes it.
* A new key goes after the last row of the same script (at the end for a new script).
* ``--quick``: tiny sizes, to check the pipeline in a minute or two; the figures are
  meaningless, so nothing is written unless ``--write-quick`` is given too (tests, demos).
* ``--with-soak``: also the hour-long soak (``bench_soak.py``); otherwise its rows are
  carried over.

The full run (every script but the soak) takes ~15 minutes on the project's 2-core box
(``SCRIPTS`` gives each script's arguments and minutes, measured on 2026-12-06 at load 1-4,
bench_orders and bench_runtime estimated; the budget is 25). Run it on a quiet machine: the
figures are noisy when other work shares the cores (the load average at the start is in the
run's line above the table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _summary import Row  # noqa: E402

__all__ = [
    "BEGIN",
    "END",
    "SCRIPTS",
    "MarkersMissing",
    "Script",
    "TableRow",
    "merge",
    "parse_table",
    "parse_runs",
    "render_table",
    "rewrite",
    "table_row",
]

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- summary:begin -->"
END = "<!-- summary:end -->"
HEADER = (
    "| target (issue) | measured | met? | command | competitor | measured on |\n"
    "|---|---|---|---|---|---|"
)
_KEY = re.compile(r"\s*<!--\s*key=([\w.\-]+)\s*-->\s*$")
_SCRIPT = re.compile(r"bench/(\w+)\.py")


@dataclass(frozen=True)
class Script:
    """One benchmark script and the arguments the regenerator runs it with."""

    name: str
    full: str
    quick: str
    minutes: float  # wall time of the full arguments on the 2-core box
    timeout: float = 1800.0  # seconds, full run (quick: 300)


SCRIPTS: tuple[Script, ...] = (
    Script("bench_sign", "--n 1000 --repeats 15", "--n 30 --repeats 2", 0.2),
    Script("bench_book", "--rounds 3", "--rounds 1 --updates 5000", 0.3),
    Script(
        "bench_feed",
        "--steps 15000 --levels 2500 --repeats 7",
        "--steps 300 --levels 200 --repeats 1",
        1.5,  # + 0.3 to record the stream the first time (cached in /tmp)
    ),
    Script("bench_orders", "--tick-to-order 1000", "--tick-to-order 40", 1.0),  # estimated
    Script(
        "bench_runtime",
        "--ticks 20000 --seconds 10 --spawns 7 --live-seconds 4",
        "--ticks 200 --cadence-ticks 20 --seconds 2 --spawns 1 --live-seconds 1",
        4.8,  # estimated (the cadence part: ~45 s)
    ),
    Script("bench_memory", "--seconds 8 --repeats 3 --live", "--seconds 2 --repeats 1 --live", 2.0),
    Script("bench_collector", "--rounds 3 --seconds 20", "--rounds 1 --seconds 6", 1.5),
    Script("bench_loop", "--rounds 7", "--rounds 1 --ticks 100 --steps 300 --levels 200", 0.7),
    Script("bench_replay", "--repeats 7", "--steps 500 --levels 200 --repeats 1", 0.7),
    Script(
        "bench_research",
        "--rounds 5",
        "--trials 4 --candles 300 --speed-candles 20000 --rounds 1 --skip-ray",
        3.0,
    ),
    Script("bench_venues", "--rounds 1000 --inproc 3000", "--rounds 20 --warm 5 --inproc 200", 0.6),
    Script("bench_sim_market", "", "--minutes 0.5 --repeats 1", 0.2),
    Script("bench_ledger", "--orders 2000 --rounds 5", "--orders 50 --rounds 1", 0.2),
    # the loss limit out of reach: a tripped kill switch leaves the bot idle for the rest of
    # the hour (docs/benchmarks.md, Soak, 2026-12-06)
    Script(
        "bench_soak",
        "--duration 3600 --warmup 1800 --requote 0.5 --daily-loss-limit 1000000",
        "--duration 20 --fault-every 5 --warmup 5 --requote 0.5",
        61.0,
        timeout=3600 + 600,
    ),
)
SOAK = "bench_soak"


class MarkersMissing(ValueError):
    """docs/benchmarks.md has no (or a broken) generated table to rewrite."""


@dataclass(frozen=True)
class TableRow:
    """One row of the generated table, as text cells (the key rides in the target cell as an
    HTML comment, invisible once rendered)."""

    key: str
    target: str
    measured: str
    met: str
    command: str
    competitor: str
    date: str

    @property
    def script(self) -> str | None:
        """The benchmark script that measured the row (from its command), e.g. ``bench_sign``."""
        m = _SCRIPT.search(self.command)
        return m.group(1) if m else None


def met_text(met: bool | None, note: str) -> str:
    if met is None:
        return "no target" + (f"; {note}" if note else "")
    if met:
        return "yes" + (f" ({note})" if note else "")
    return "**no**" + (f": {note}" if note else "")


def table_row(row: Row, date: str) -> TableRow:
    """A script's :class:`Row` as table cells, measured on ``date``."""
    return TableRow(
        key=row.key,
        target=row.target,
        measured=row.measured,
        met=met_text(row.met, row.note),
        command=row.command,
        competitor=row.competitor or "-",
        date=date,
    )


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _split_cells(line: str) -> list[str]:
    """The cells of one table line (``\\|`` inside a cell is a literal bar)."""
    body = line.strip()
    if not (body.startswith("|") and body.endswith("|")):
        raise MarkersMissing(f"not a table row: {line!r}")
    cells = re.split(r"(?<!\\)\|", body[1:-1])
    return [c.strip().replace("\\|", "|") for c in cells]


def render_table(rows: Sequence[TableRow], runs: Sequence[tuple[str, str]]) -> str:
    """The text between the markers: the runs (``(date, what)``, as ``- date: what``) that
    rows are dated with, a blank line, the table."""
    lines = ['Runs (a row\'s "measured on" names its run):', ""]
    lines += [f"- {date}: {' '.join(what.split())}" for date, what in runs]
    lines += ["", HEADER]
    for r in rows:
        command = f"`{r.command}`" if r.command and r.command != "-" else "-"
        cells = [
            f"{r.target} <!-- key={r.key} -->",
            r.measured,
            r.met,
            command,
            r.competitor,
            r.date,
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def _block(doc: str) -> tuple[int, int]:
    """Start and end offsets of the text between the markers, each alone on its line (a
    marker quoted in prose, mid-line, is not one)."""
    begins = [m.end() for m in re.finditer(rf"^{re.escape(BEGIN)}[ \t]*$", doc, re.M)]
    ends = [m.start() for m in re.finditer(rf"^{re.escape(END)}[ \t]*$", doc, re.M)]
    if not begins or not ends:
        missing = " and ".join(m for m, at in ((BEGIN, begins), (END, ends)) if not at)
        raise MarkersMissing(
            f"no line {missing} in the document: put the summary table between a line "
            f"{BEGIN} and a line {END} (the regenerator rewrites only what is between them)"
        )
    if len(begins) > 1 or len(ends) > 1 or ends[0] < begins[0]:
        raise MarkersMissing(
            f"the document must hold exactly one line {BEGIN} followed by one line {END} "
            f"(found {len(begins)} and {len(ends)}{', in the wrong order' if ends[0] < begins[0] else ''}); "
            "fix the markers by hand"
        )
    return begins[0], ends[0]


def parse_table(doc: str) -> list[TableRow]:
    """The rows of the generated table between the markers of ``doc``."""
    start, end = _block(doc)
    rows: list[TableRow] = []
    for line in doc[start:end].splitlines():
        if not line.strip().startswith("|"):
            continue  # the machine line, blank lines
        cells = _split_cells(line)
        if cells[0] == "target (issue)" or set("".join(cells)) <= set("-: "):
            continue  # header, separator
        if len(cells) != 6:
            raise MarkersMissing(
                f"a summary row has {len(cells)} cells, expected 6 (target, measured, met?, "
                f"command, competitor, measured on): {line.strip()[:120]}"
            )
        m = _KEY.search(cells[0])
        if m is None:
            raise MarkersMissing(
                f"a summary row has no key (<!-- key=NAME --> at the end of its target "
                f"cell): {line.strip()[:120]}"
            )
        target = cells[0][: m.start()].rstrip()
        command = cells[3].strip("`") if cells[3] != "-" else "-"
        rows.append(TableRow(m.group(1), target, cells[1], cells[2], command, *cells[4:]))
    keys = [r.key for r in rows]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise MarkersMissing(f"duplicate summary keys {dup}: keep one row per key")
    return rows


def parse_runs(doc: str) -> list[tuple[str, str]]:
    """The run lines above the table, as ``(date, what)`` (``- date: what``)."""
    start, end = _block(doc)
    runs = []
    for line in doc[start:end].splitlines():
        if line.startswith("- ") and ": " in line:
            date, what = line[2:].split(": ", 1)
            runs.append((date.strip(), what.strip()))
    return runs


def merge(
    old: Sequence[TableRow],
    new: Sequence[TableRow],
    ran: Iterable[str],
    drop: Iterable[str] = (),
) -> tuple[list[TableRow], list[str]]:
    """The new table's rows and warnings.

    ``new`` replaces the old row of the same key in place; a new key goes after the last row
    of the same script, or at the end. Old rows of scripts that did not run are kept as they
    are. ``ran`` names the scripts that ran and reported: their old rows that got no new row
    are kept too, with a warning (``drop`` lists keys to remove instead).
    """
    drop = set(drop)
    warnings = [f"--drop {k}: no such row" for k in sorted(drop - {r.key for r in old})]
    fresh = {r.key: r for r in new}
    if len(fresh) != len(new):
        keys = [r.key for r in new]
        raise ValueError(f"a key reported twice: {sorted({k for k in keys if keys.count(k) > 1})}")
    ran = set(ran)
    rows: list[TableRow] = []
    for r in old:
        if r.key in drop:
            continue
        if r.key in fresh:
            rows.append(fresh.pop(r.key))
        else:
            if r.script in ran:
                warnings.append(
                    f"{r.key}: {r.script}.py ran but did not report it; kept from {r.date} "
                    f"(a skipped part or a renamed key: --drop {r.key} removes it)"
                )
            rows.append(r)
    for r in new:
        if r.key not in fresh:
            continue
        same = [i for i, x in enumerate(rows) if x.script == r.script]
        rows.insert(same[-1] + 1 if same else len(rows), r)
    return rows, warnings


def rewrite(
    doc: str,
    new: Sequence[TableRow],
    ran: Iterable[str],
    run: tuple[str, str],
    drop: Iterable[str] = (),
) -> tuple[str, list[str]]:
    """``doc`` with its generated table rebuilt from its old rows and ``new`` (see
    :func:`merge`), ``run`` (``(date, what)``, the date of ``new``'s rows) first in the list
    of runs, and only the runs some row is still dated with; everything outside the markers
    is left byte for byte."""
    start, end = _block(doc)
    rows, warnings = merge(parse_table(doc), new, ran, drop)
    dates = {r.date for r in rows}
    runs = [run] if run[0] in dates else []
    # (a run in the same minute as an earlier one keeps the earlier's line too: some of the
    # rows dated that minute may be the earlier run's)
    runs += [(d, w) for d, w in parse_runs(doc) if d in dates and (d, w) != run]
    return doc[:start] + "\n" + render_table(rows, runs) + "\n" + doc[end:], warnings


# -- running the scripts ----------------------------------------------------------------------


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(ran: Sequence[str], load: tuple[float, float, float]) -> str:
    """What a run line says after its date: the scripts, the machine, its load, the code."""
    head = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = _git("status", "--porcelain", "--", "botkit", "bench", "setup.py", "pyproject.toml")
    python = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"`bench/regenerate.py` ran {', '.join(ran) if ran else 'nothing'} on "
        f"{_cpu_model()}, {os.cpu_count()} cores, load average at the start "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, Python {python or '?'}, git {head}"
        + (" with uncommitted changes in botkit/ or bench/" if dirty else "")
        + "."
    )


@dataclass
class Outcome:
    script: str
    rows: list[Row]
    returncode: int | None
    seconds: float
    problem: str = ""


def run_script(script: Script, quick: bool, logs: Path) -> Outcome:
    """Run one script with ``--summary``; its rows (even after a non-zero exit: a script may
    report a missed budget through its exit status) and what went wrong, if anything."""
    args = shlex.split(script.quick if quick else script.full)
    summary = logs / f"{script.name}.jsonl"
    summary.unlink(missing_ok=True)
    log = logs / f"{script.name}.log"
    cmd = [".venv/bin/python", f"bench/{script.name}.py", *args, "--summary", str(summary)]
    print(f"== {' '.join(cmd[:-2])}  (log: {log})", flush=True)
    t0 = time.monotonic()
    timeout = 300.0 if quick else script.timeout
    with open(log, "w", encoding="utf-8") as out:
        try:
            done = subprocess.run(
                cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
            code: int | None = done.returncode
        except subprocess.TimeoutExpired:
            code = None
    seconds = time.monotonic() - t0
    rows: list[Row] = []
    bad: list[str] = []
    if summary.exists():
        for line in summary.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    rows.append(Row(**json.loads(line)))
                except (TypeError, ValueError) as exc:
                    bad.append(f"unreadable summary line ({exc}): {line[:100]}")
    text = log.read_text(encoding="utf-8", errors="replace")
    problem = "; ".join(bad)
    if code is None:
        problem = f"timed out after {timeout:.0f} s"
    elif "unrecognized arguments: --summary" in text:
        problem = "does not take --summary yet: its rows are kept as they were"
    elif code != 0:
        last = " / ".join(text.strip().splitlines()[-3:])
        problem = f"exit status {code} (last lines: {last})" + (f"; {problem}" if problem else "")
    if not rows and not problem:
        problem = "reported no rows"
    return Outcome(script.name, rows, code, seconds, problem)


def failed(o: Outcome) -> bool:
    """A script that should have reported and did not (one that does not take ``--summary``
    yet is expected while the scripts are converted; a non-zero exit with rows is a script
    reporting a missed budget, and its rows stand)."""
    return not o.rows and "does not take --summary" not in o.problem


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    names = [s.name.removeprefix("bench_") for s in SCRIPTS]
    ap.add_argument("--only", help=f"comma-separated subset of: {','.join(names)}")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: check the pipeline")
    ap.add_argument(
        "--write-quick", action="store_true", help="with --quick: write the doc all the same"
    )
    ap.add_argument("--with-soak", action="store_true", help="also the hour-long soak")
    ap.add_argument("--drop", action="append", default=[], metavar="KEY", help="remove a row")
    ap.add_argument("--dry-run", action="store_true", help="print the table, do not write it")
    ap.add_argument("--doc", type=Path, default=DOC, help=argparse.SUPPRESS)
    ap.add_argument(
        "--logs", type=Path, help="keep each script's output here (default: a temp dir)"
    )
    args = ap.parse_args(argv)

    chosen = [s for s in SCRIPTS if s.name != SOAK or args.with_soak]
    if args.only:
        want = {n.strip().removeprefix("bench_") for n in args.only.split(",") if n.strip()}
        unknown = sorted(want - set(names))
        if unknown:
            ap.error(f"--only: unknown {unknown}; choose from {','.join(names)}")
        chosen = [s for s in SCRIPTS if s.name.removeprefix("bench_") in want]
    doc = args.doc.read_text(encoding="utf-8")
    parse_table(doc)  # fail now on a broken table, not after 20 minutes of benchmarks

    logs = args.logs or Path(tempfile.mkdtemp(prefix="botkit-regenerate-"))
    logs.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    when = datetime.now(UTC)
    expected = sum(s.minutes for s in chosen)
    print(
        f"running {len(chosen)} scripts{' (quick sizes)' if args.quick else ''}; load average "
        f"{load[0]:.2f}; expected ~{expected:.0f} min at full size; logs in {logs}",
        flush=True,
    )
    outcomes = [run_script(s, args.quick, logs) for s in chosen]
    date = f"{when:%Y-%m-%d %H:%M} UTC"
    new: list[TableRow] = []
    ran: list[str] = []
    for o in outcomes:
        if o.rows:
            ran.append(o.script)
            new += [table_row(r, date) for r in o.rows]
        status = f"{len(o.rows)} rows" + (f"; {o.problem}" if o.problem else "")
        print(f"   {o.script}: {o.seconds:.0f} s, {status}")
    text, warnings = rewrite(doc, new, ran, (date, machine_line(ran, load)), args.drop)
    for w in warnings:
        print(f"warning: {w}")
    if args.dry_run or (args.quick and not args.write_quick):
        start, end = _block(text)
        print(text[start:end])
        print("(not written: " + ("--dry-run)" if args.dry_run else "--quick figures)"))
    else:
        args.doc.write_text(text, encoding="utf-8")
        print(f"wrote {args.doc} ({len(new)} rows from this run)")
    return 1 if any(failed(o) for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
