"""Benchmark: the cyclic garbage collector's pause in a live bot, with and without
``[bot] gc_freeze`` (botkit/runtime/collector.py).

Run:  .venv/bin/python bench/bench_collector.py [--rounds 3] [--seconds 20] [--summary FILE]

Each round runs two live bots one after the other (the order alternating), ``python -m
botkit run --mode live --live`` against one ``botkit sim`` in another process, with the
BTC-USD-sized book (30 000 levels) and the user channel, exactly as ``bench_memory.py
--live`` does, once with ``gc_freeze = true`` (the default) and once with ``false``. The
child is started through a small wrapper (``WRAPPER`` below) that records every collection
with ``gc.callbacks`` — nothing of botkit is patched — and, ``--seconds`` after start, runs
one full collection from a timer thread: that is the pause a full collection makes once
the bot trades (when Python decides to run one — every few minutes on a live bot — is
Python's business; how long the loop then stops is what this measures). It prints the
full collection's pause, the generation-1 collections' median, and how many objects the
bot froze, per variant (medians over the rounds).

The competitor is the same bot without the freeze (Python's default collector), in the
same run, interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _summary import Row, add_summary_argument, command_line, emit  # noqa: E402
from live_bot import SimProcess  # noqa: E402

from botkit.runtime.bot_config import DEFAULT_CONFIG  # noqa: E402

__all__ = ["main"]

WRAPPER = r"""
import gc, json, os, sys, threading, time

done = {0: [], 1: [], 2: []}
start = [0]
forced = []


def record(phase, info):
    if phase == "start":
        start[0] = time.perf_counter_ns()
    else:
        done[info["generation"]].append((time.perf_counter_ns() - start[0]) / 1000)


def full():
    t0 = time.perf_counter_ns()
    gc.collect()
    forced.append(((time.perf_counter_ns() - t0) / 1000, gc.get_freeze_count()))


gc.callbacks.append(record)
timer = threading.Timer(float(os.environ["BENCH_FULL_AT"]), full)
timer.daemon = True
timer.start()


def report():
    out = {"gen1": done[1], "forced": forced}
    with open(os.environ["BENCH_OUT"], "w") as fh:
        json.dump(out, fh)


import atexit

atexit.register(report)
sys.argv = ["botkit", *sys.argv[1:]]
from botkit.cli.main import main

sys.exit(main())
"""


def config_text(freeze: bool) -> str:
    """The built-in config (its [risk] too), with ``[bot] gc_freeze`` set."""
    return DEFAULT_CONFIG.replace("[bot]\n", f"[bot]\ngc_freeze = {str(freeze).lower()}\n", 1)


def run_child(sim: SimProcess, freeze: bool, seconds: float) -> dict[str, list]:
    sim.arm_big_snapshot()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "sim.env").write_text(sim.env_text)
        (folder / "bot.toml").write_text(config_text(freeze))
        (folder / "wrap.py").write_text(WRAPPER)
        out = folder / "gc.json"
        cmd = [sys.executable, str(folder / "wrap.py"), "--env-file", str(folder / "sim.env")]
        cmd += ["run", "--mode", "live", "--live", "--duration", str(seconds + 3)]
        cmd += ["--config", str(folder / "bot.toml"), "--data-dir", str(folder / "data")]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOTKIT_")}
        env.update(BENCH_OUT=str(out), BENCH_FULL_AT=str(seconds))
        proc = subprocess.run(
            cmd, env=env, cwd=folder, capture_output=True, text=True, timeout=seconds + 90
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"bot exited {proc.returncode}: {proc.stderr[-2000:]}")
        result: dict[str, list] = json.loads(out.read_text())
        if not result["forced"]:
            raise RuntimeError("the bot stopped before the full collection was made")
        return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0, help="start -> the full collection")
    add_summary_argument(ap)
    args = ap.parse_args()
    runs: dict[bool, list[dict[str, list]]] = {True: [], False: []}
    with SimProcess() as sim:
        for r in range(args.rounds):
            for freeze in (True, False) if r % 2 == 0 else (False, True):
                runs[freeze].append(run_child(sim, freeze, args.seconds))
    figures = {}
    print(
        f"live bot (botkit sim in another process, 30 000-level book), a full collection "
        f"{args.seconds:g} s after start, {args.rounds} interleaved rounds:"
    )
    for freeze in (True, False):
        full = statistics.median(r["forced"][0][0] for r in runs[freeze]) / 1000
        frozen = statistics.median(r["forced"][0][1] for r in runs[freeze])
        gen1 = statistics.median(x for r in runs[freeze] for x in r["gen1"]) / 1000
        figures[freeze] = full
        print(
            f"  gc_freeze = {str(freeze).lower():5s}: full collection {full:6.2f} ms, "
            f"generation-1 collections p50 {gen1:.2f} ms, objects frozen {frozen:.0f}"
        )
    ratio = figures[False] / figures[True]
    print(f"  the freeze makes a full collection {ratio:.0f}x shorter")
    emit(
        [
            Row(
                "collector.full_pause",
                "a full collection's pause in a live bot, gc_freeze (default) vs Python's "
                "default collector (Performance II; no target)",
                f"{figures[True]:.2f} ms vs {figures[False]:.2f} ms ({ratio:.0f}× shorter); "
                f"medians of {args.rounds} interleaved rounds, 30 000-level book",
                None,
                command_line(),
                "the same bot with gc_freeze = false, interleaved",
            )
        ],
        args.summary,
    )


if __name__ == "__main__":
    main()
