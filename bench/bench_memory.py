"""Resident memory of ``botkit run`` in sim mode with a BTC-USD-sized book (issue 6, item 10).

Run:  .venv/bin/python bench/bench_memory.py [--seconds 10] [--repeats 3] [--phases] [--live]
                                            [--bot-pythonpath DIR] [--summary FILE]

Each run is a fresh ``python -c`` child doing what ``bench/bench_runtime.py`` does for its
RSS figure: ``BotRuntime.run()`` in sim mode (the simulator in the same process, the
default strategy, level2 + ticker + candles + the user channel) for ``--seconds``; once
with the simulator's 50-level book ("small") and once with its level2 snapshot padded to
30 000 levels by ``ws_faults.oversize_snapshot(30_000)`` ("big", a ~3 MB frame). It
prints VmHWM (peak) and VmRSS at exit from ``/proc/self/status``, per run and the median.
Target: peak <= 80 MB with the big book.

``--live`` adds the figure of issue 19 (target: peak <= 64 MB with the big book): ``botkit
run --mode live`` against ``botkit sim`` in another process (bench/live_bot.py), so the
simulator is not in the measured process, peak RSS its VmHWM (the user channel is on).
``--bot-pythonpath DIR`` runs every child from another botkit tree as well, interleaved
run by run (e.g. the previous commit, ``git archive`` + its compiled kernel).

``--phases`` adds one instrumented big run showing where the memory goes: RSS after the
imports, when the big frame reaches the feed, after the feed has applied it, at exit; and
at exit glibc's heap (mallinfo2) and CPython's object arenas.

``--imports``: one fresh interpreter importing what a live bot imports, step by step, and
the RSS each step adds (the floor under the live figure, before any data).

``--summary FILE``: the summary rows of docs/benchmarks.md (sim-mode peak; with ``--live``
the live peak), this checkout's figures only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _summary import Row, add_summary_argument, command_line, emit  # noqa: E402
from live_bot import SimProcess, run_live_bot  # noqa: E402

__all__ = ["main"]

TARGET_MB = 80.0
LIVE_TARGET_MB = 64.0  # issue 19 item 6

CHILD = r"""
import sys
from pathlib import Path

def status():
    st = dict(l.split(":", 1) for l in Path("/proc/self/status").read_text().splitlines() if ":" in l)
    return int(st["VmRSS"].split()[0]) / 1024, int(st["VmHWM"].split()[0]) / 1024

seconds, variant, data, phases = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1"
from botkit.runtime.bot_config import load_bot_config
from botkit.runtime.settings import load_settings
from botkit.venues.advanced_trade.ws_protocol import BULK_FRAME_BYTES, FeedProtocol
from botkit.runtime.bot import BotRuntime, RunOptions, run_blocking
from botkit.runtime.ui import configure_logging

configure_logging("ERROR", tty=False)
from botkit.market.connections import fix_mmap_threshold
fix_mmap_threshold()  # as `botkit run` does (cli_run.cmd_run)
if phases:
    print("PHASE after imports: RSS %.1f MB (peak %.1f)" % status(), flush=True)
    receive = FeedProtocol.receive

    def traced(self, data):
        big = len(data) > BULK_FRAME_BYTES
        if big:
            print("PHASE %.1f MB frame reaches the feed: RSS %.1f MB (peak %.1f)"
                  % ((len(data) / 1e6,) + status()), flush=True)
        events = receive(self, data)
        if big:
            print("PHASE frame applied (%d levels in the book): RSS %.1f MB (peak %.1f)"
                  % ((len(self.books["BTC-USD"]),) + status()), flush=True)
        return events

    FeedProtocol.receive = traced

def arm(ep):
    if variant == "big" and ep.sim is not None:
        ep.sim.ws_faults.oversize_snapshot(30_000)

opts = RunOptions(duration=seconds, data_dir=Path(data), on_venue=arm)
rt = BotRuntime(load_bot_config(None), load_settings(env_file=None), opts)
run_blocking(rt.run)
rss, hwm = status()
if phases:
    import ctypes, os
    print("PHASE exit: RSS %.1f MB (peak %.1f)" % (rss, hwm), flush=True)
    try:
        class MI2(ctypes.Structure):
            _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                        "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
        fn = ctypes.CDLL(None).mallinfo2
        fn.restype = MI2
        mi = fn()
        print("PHASE glibc heap at exit: %.1f MB, of it free %.1f MB; mmapped %.1f MB"
              % (mi.arena / 1e6, mi.fordblks / 1e6, mi.hblkhd / 1e6), flush=True)
    except (AttributeError, OSError):
        pass
    r, w = os.pipe()
    saved = os.dup(2)
    os.dup2(w, 2)
    sys._debugmallocstats()
    os.dup2(saved, 2)
    os.close(w)
    text = os.read(r, 1 << 20).decode()
    for line in text.splitlines():
        if "arenas allocated current" in line or "bytes in allocated blocks" in line:
            print("PHASE CPython", " ".join(line.split()), flush=True)
print("RESULT", hwm, rss, flush=True)
"""


def run_child(
    seconds: float, variant: str, phases: bool = False, pythonpath: str | None = None
) -> tuple[float, float, list[str]]:
    """(peak MB, exit MB, phase lines) of one ``botkit run`` child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTKIT_")}
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    with tempfile.TemporaryDirectory() as data:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(seconds), variant, data, "1" if phases else "0"],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )
    lines = out.stdout.splitlines()
    result = [x for x in lines if x.startswith("RESULT")]
    if out.returncode != 0 or not result:
        raise RuntimeError(f"child failed ({out.returncode}): {out.stderr[-3000:]}")
    hwm, rss = (float(x) for x in result[-1].split()[1:3])
    return hwm, rss, [x[6:] for x in lines if x.startswith("PHASE ")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--phases", action="store_true", help="one instrumented big run")
    ap.add_argument("--live", action="store_true", help="also live children (issue 19)")
    ap.add_argument("--imports", action="store_true", help="RSS added by each import step")
    ap.add_argument("--bot-pythonpath", default=None, help="also run from this botkit tree")
    add_summary_argument(ap)
    args = ap.parse_args()
    trees: list[str | None] = [None] + ([args.bot_pythonpath] if args.bot_pythonpath else [])
    print(f"botkit run, sim mode, {args.seconds:.0f} s per run, Python {sys.version.split()[0]}")
    medians: dict[str, tuple[float, float]] = {}
    for variant, label in (("small", "50-level book"), ("big", "30 000-level snapshot")):
        runs: dict[str | None, list[tuple[float, float]]] = {t: [] for t in trees}
        for _ in range(args.repeats):
            for tree in trees:
                runs[tree].append(run_child(args.seconds, variant, pythonpath=tree)[:2])
        for tree, xs in runs.items():
            peak = statistics.median(r[0] for r in xs)
            end = statistics.median(r[1] for r in xs)
            if tree is None:
                medians[variant] = (peak, end)
            each = ", ".join(f"{p:.1f}/{e:.1f}" for p, e in xs)
            print(
                f"  {variant:5} ({label:21}){'' if tree is None else ' tree ' + tree}: peak "
                f"{peak:5.1f} MB, at exit {end:5.1f} MB (median of {args.repeats}; "
                f"peak/exit per run: {each})"
            )
    peak = medians["big"][0]
    verdict = "met" if peak <= TARGET_MB else "NOT met"
    print(f"target: peak <= {TARGET_MB:.0f} MB with the big book: {verdict} ({peak:.1f} MB)")
    rows = [
        Row(
            key="memory.sim_peak_rss",
            target=f"RSS ≤ {TARGET_MB:.0f} MB with a BTC-USD book (runtime, sim mode: the "
            "simulator in the same process)",
            measured=f"{peak:.1f} MB peak with the 30 000-level snapshot, "
            f"{medians['small'][0]:.1f} MB with the 50-level book (medians of {args.repeats} "
            f"runs of {args.seconds:g} s)",
            met=peak <= TARGET_MB,
            command=command_line(),
            competitor="-",
        )
    ]
    if args.live:
        small, big = live(args.seconds, args.repeats, trees)
        rows.append(
            Row(
                key="memory.live_peak_rss",
                target=f"live bot: peak RSS ≤ {LIVE_TARGET_MB:.0f} MB, BTC-USD-sized book + "
                "user channel (Performance II)",
                measured=f"{big:.1f} MB with the 30 000-level snapshot, {small:.1f} MB with "
                f"the 50-level book (medians of {args.repeats} runs of {args.seconds:g} s)",
                met=big <= LIVE_TARGET_MB,
                command=command_line(),
                competitor="-",
            )
        )
    if args.imports:
        import_floor()
    if args.phases:
        print("\nphases of one big run:")
        for line in run_child(args.seconds, "big", phases=True)[2]:
            print("  " + line)
    emit(rows, args.summary)


IMPORTS = r"""
import importlib, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
prev = rss()
print(f"interpreter {prev:.1f}")
for step in sys.argv[1:]:
    for mod in step.split("+"):
        importlib.import_module(mod)
    now = rss()
    print(f"{step} {now - prev:.1f} {now:.1f}")
    prev = now
"""
IMPORT_STEPS = (  # in the order a live bot meets them; each step: what it adds on top
    ("asyncio", "asyncio and ssl (ssl ~6 of it: the system libssl, libcrypto)"),
    ("importlib.metadata", "importlib.metadata (pydantic's plugin loader imports it)"),
    ("pydantic+pydantic_settings", "pydantic, pydantic-core, pydantic-settings"),
    ("cryptography.hazmat.primitives.asymmetric.ec+cryptography.hazmat.primitives.serialization",
     "cryptography (its own OpenSSL, statically linked)"),
    ("aiohttp", "aiohttp (multidict, yarl, its C parsers)"),
    ("msgspec+tenacity+sqlite3", "msgspec, tenacity, sqlite3"),
    ("botkit.runtime.bot+botkit.cli", "botkit's own modules a live bot loads"),
)  # fmt: skip


def import_floor() -> None:
    """RSS a fresh interpreter gains at each import step of a live bot (``--imports``): the
    floor under every live figure above, before a book, a socket or a frame."""
    out = subprocess.run(
        [sys.executable, "-c", IMPORTS, *(step for step, _ in IMPORT_STEPS)],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    print(f"\nRSS by import step (a fresh interpreter: {out[0].split()[1]} MB):")
    for (_, label), line in zip(IMPORT_STEPS, out[1:], strict=False):
        added, total = line.rsplit(" ", 2)[1:]
        print(f"  {label:66s} +{float(added):5.1f} MB = {float(total):5.1f} MB")


def live(seconds: float, repeats: int, trees: list[str | None]) -> tuple[float, float]:
    """Peak RSS of live children (bench/live_bot.py), interleaved tree by tree; returns this
    checkout's medians (50-level book, 30 000-level snapshot)."""
    print(f"botkit run, live mode against botkit sim in another process, {seconds:.0f} s per run")
    peaks: dict[tuple[str | None, bool], list[float]] = {
        (t, b): [] for t in trees for b in (False, True)
    }
    with SimProcess() as sim:
        for tree in trees:  # bytecode cache, as installed (not counted)
            run_live_bot(sim, 1.0, big=False, pythonpath=tree)
        for _ in range(repeats):
            for tree in trees:
                for big in (False, True):
                    run = run_live_bot(sim, seconds, big=big, pythonpath=tree)
                    peaks[(tree, big)].append(run.peak_mb)
    for (tree, big), xs in peaks.items():
        print(
            f"  {'big' if big else 'small':5} ({'30 000-level snapshot' if big else '50-level book':21})"
            f"{'' if tree is None else ' tree ' + tree}: peak {statistics.median(xs):5.1f} MB "
            f"(median of {repeats}: {', '.join(f'{x:.1f}' for x in xs)})"
        )
    peak = statistics.median(peaks[(None, True)])
    verdict = "met" if peak <= LIVE_TARGET_MB else "NOT met"
    print(
        f"target: live peak <= {LIVE_TARGET_MB:.0f} MB with the big book: {verdict} ({peak:.1f} MB)"
    )
    return statistics.median(peaks[(None, False)]), peak


if __name__ == "__main__":
    main()
