"""The soak's bot entry with ``tracemalloc`` on: ``python bench/soak_tracemalloc.py DIR -- botkit args``.

Why a wrapper and not a flag in botkit: the heap profile of a soak is a benchmark's
question, and tracing costs ~2x memory and time, so product code paths stay untouched.
``bench_soak.py --bot-tracemalloc DIR`` runs the bot through this file.

It starts ``tracemalloc`` (``--frames`` deep tracebacks) before botkit is imported, then
runs ``botkit``'s command line in this process; a daemon thread dumps a snapshot to
``DIR/snap-<seconds>.pickle`` every ``--every`` seconds and on ``SIGUSR1`` (the signal
handler only sets a flag: the dump happens in the thread), plus ``DIR/rss.tsv`` lines
(seconds, traced MB, VmRSS MB) so the Python heap can be set against the resident set.

Compare two snapshots: ``python bench/soak_tracemalloc.py --diff A.pickle B.pickle``.
"""

from __future__ import annotations

import argparse
import linecache
import signal
import sys
import threading
import time
import tracemalloc
from pathlib import Path


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


_LOCK = threading.Lock()


def _dump(out: Path, t0: float) -> None:
    with _LOCK:
        t = time.monotonic() - t0
        tracemalloc.take_snapshot().dump(str(out / f"snap-{t:06.0f}.pickle"))
        traced, _peak = tracemalloc.get_traced_memory()
        with (out / "rss.tsv").open("a") as f:
            f.write(f"{t:.0f}\t{traced / 2**20:.2f}\t{_rss_mb():.2f}\n")


def _dumper(out: Path, every: float, poke: threading.Event, t0: float) -> None:
    next_at = time.monotonic() + every
    while True:
        poke.wait(max(0.0, next_at - time.monotonic()))
        poke.clear()
        if time.monotonic() >= next_at:
            next_at += every
        _dump(out, t0)


def diff(a: str, b: str, *, top: int, key: str, frames: int) -> None:
    """Print the ``top`` largest growths from snapshot ``a`` to ``b``, grouped by ``key``."""
    filters = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
        tracemalloc.Filter(False, linecache.__file__),
    ]
    sa = tracemalloc.Snapshot.load(a).filter_traces(filters)
    sb = tracemalloc.Snapshot.load(b).filter_traces(filters)
    ta = sum(s.size for s in sa.statistics("filename"))
    tb = sum(s.size for s in sb.statistics("filename"))
    print(f"traced: {ta / 2**20:.2f} MB -> {tb / 2**20:.2f} MB ({(tb - ta) / 1024:+.1f} KB)")
    stats = sb.compare_to(sa, key, cumulative=False)
    stats.sort(key=lambda s: s.size_diff, reverse=True)
    for s in stats[:top]:
        print(
            f"\n{s.size_diff / 1024:+9.1f} KB {s.count_diff:+7d} blocks (now {s.size / 1024:.1f} KB)"
        )
        for line in s.traceback.format(limit=frames, most_recent_first=True):
            print("   ", line)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--diff":
        ap = argparse.ArgumentParser()
        ap.add_argument("--diff", nargs=2, metavar=("A", "B"), required=True)
        ap.add_argument("--top", type=int, default=25)
        ap.add_argument("--key", default="traceback", choices=["traceback", "lineno", "filename"])
        ap.add_argument("--frames", type=int, default=8)
        ns = ap.parse_args()
        diff(*ns.diff, top=ns.top, key=ns.key, frames=ns.frames)
        return
    ap = argparse.ArgumentParser(usage="soak_tracemalloc.py DIR [--every S] -- botkit args")
    ap.add_argument("dir")
    ap.add_argument("--every", type=float, default=300.0)
    ap.add_argument("--frames", type=int, default=12)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    ns = ap.parse_args(argv[:split])
    out = Path(ns.dir)
    out.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(ns.frames)
    t0 = time.monotonic()
    poke = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: poke.set())
    threading.Thread(target=_dumper, args=(out, ns.every, poke, t0), daemon=True).start()
    sys.argv = ["botkit", *argv[split + 1 :]]
    from botkit.cli.main import main as botkit_main

    code = botkit_main()
    _dump(out, t0)  # the last one, after the run
    raise SystemExit(code)


if __name__ == "__main__":
    main()
