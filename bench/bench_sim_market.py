"""Benchmark: how fast the simulator's synthetic market runs, in simulated seconds per real second.

Run:  .venv/bin/python bench/bench_sim_market.py [--minutes 10] [--repeats 5] [--budget 4.0]
          [--summary FILE]

Ten simulated minutes of the default market (two products, ~3 prints a second each) must
take well under real time: a sim run of a few minutes is what backtests, the paper mode and
the test suite stand on. This used to be an ``elapsed < 4.0`` assertion in
tests/sim/test_engine_market.py; a speed check on a shared 2-vCPU box belongs here, where a
slow run is a number to look at rather than a failing unit test. Exit status 1 when the
median exceeds ``--budget`` seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from botkit.sim.exchange import SimExchange, SimMarketConfig

sys.path.insert(0, str(Path(__file__).parent))
from _summary import Row, add_summary_argument, command_line, emit  # noqa: E402

T0 = 1_800_000_000.0


def one_run(minutes: float, seed: int) -> tuple[float, int]:
    """Seconds to advance ``minutes`` of default market, and the events it produced."""
    ex = SimExchange(SimMarketConfig(), seed=seed, start_time=T0)
    began = time.perf_counter()
    ex.advance(T0 + minutes * 60)
    elapsed = time.perf_counter() - began
    return elapsed, len(ex.drain_events())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budget", type=float, default=4.0, help="seconds, median over repeats")
    add_summary_argument(ap)
    args = ap.parse_args()
    runs = [one_run(args.minutes, seed=2 + i) for i in range(args.repeats)]
    times = [t for t, _ in runs]
    median = statistics.median(times)
    print(
        f"{args.minutes:g} simulated minutes: median {median:.3f} s, "
        f"min {min(times):.3f} s, max {max(times):.3f} s over {args.repeats} runs; "
        f"{statistics.median(n for _, n in runs):.0f} events per run; "
        f"{args.minutes * 60 / median:.0f}x real time"
    )
    emit(
        [
            Row(
                key="sim.market_speed",
                target=f"{args.minutes:g} simulated minutes of the default market ≤ "
                f"{args.budget:g} s (sim; was a timed unit test)",
                measured=f"{median:.3f} s median of {args.repeats} (range {min(times):.3f}–"
                f"{max(times):.3f} s), {args.minutes * 60 / median:.0f}× real time",
                met=median <= args.budget,
                command=command_line(),
                competitor="-",
            )
        ],
        args.summary,
    )
    if median > args.budget:
        print(f"over budget: median {median:.3f} s > --budget {args.budget} s", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
