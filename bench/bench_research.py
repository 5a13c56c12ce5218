"""Research throughput: candle backtest speed, and Optuna trials per minute on 1 and 2 local
worker processes and on a local Ray instance, on the same study (issue 18).

Candle backtests (one product, one-minute synthetic candles, the whole path: strategy,
risk gate, executor, paper broker):

* ``idle``: a strategy with no ``on_candle`` and no orders (the fast path: the loop only
  samples equity);
* ``hold``: buys at the first open and holds (one order, then the fast path with a
  position: the equity curve moves with the price);
* ``hook``: a strategy whose ``on_candle`` counts candles (one Candle object and one hook
  call per candle, the book moved to every close);
* ``ema_cross``: the shipped EMA crossover trading (market orders through the executor).

Each candle row runs ``--rounds`` times, interleaved with the others (round-robin, one
process), and prints the median and the range.

Trials per minute: the same study (ema_cross over ``--candles`` candles, random sampler with a
fixed seed, no pruning, ``--trials`` trials, a fresh SQLite storage each time) on each pool.
Every pool is started once and warmed (two trials per worker: each worker process imports
botkit on its first trial), then the pools take turns for ``--rounds`` rounds, the order
rotating each round, so that a load spike on the shared box hits every pool alike. The
speed-up and Ray's per-trial overhead (its time per trial over the 2 local processes') are
computed within each round; their median and range are printed. ``2 local, ask when free``
is the same warm pool with the driver's look-ahead off (``pool.ahead = 0``: the next trial
is asked only once a worker is free, as before the look-ahead).

Run:  .venv/bin/python bench/bench_research.py [--trials 24] [--candles 3000] [--rounds 3]
      [--skip-ray] [--skip-candles] [--skip-trials] [--summary FILE]

``--summary FILE``: the summary rows of docs/benchmarks.md (candles/s with a no-op hook >=
500 k; 2 local workers >= 1.7x one; Ray's per-trial overhead <= 10 %), for the parts run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botkit.backtest.candle_model import FillModel  # noqa: E402
from botkit.backtest.candles import CandleBacktest, CandleSeries  # noqa: E402
from botkit.backtest.synthetic import synthetic_series  # noqa: E402
from botkit.research.pools import InProcessPool, LocalPool, Pool, RayPool  # noqa: E402
from botkit.research.space import parse_optimize  # noqa: E402
from botkit.research.study import run_study  # noqa: E402
from botkit.runtime.bot_config import parse_bot_config  # noqa: E402
from botkit.runtime.settings import BotSettings  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _summary import Row, add_summary_argument, command_line, emit, version  # noqa: E402

CANDLES_GOAL = 500_000  # candles/s, a strategy with a no-op on_candle (history/research)
SPEEDUP_GOAL = 1.7  # 2 local workers over one, trials per minute
RAY_GOAL = 10.0  # Ray's per-trial overhead over 2 local processes, %

BOT = """
[bot]
products = ["BTC-USD"]
[strategy]
name = "ema_cross"
[strategy.params]
product_id = "BTC-USD"
size = "0.01"
fast = 5
slow = 20
allow_short = false
[risk]
max_order_notional = "1000000"
max_position = "10"
max_open_orders = 4
price_band_pct = "50"
daily_loss_limit = "1000000"
[paper]
initial_balances = {USD = "1000000", BTC = "1"}
taker_fee_rate = "0.001"
[optimize]
objective = "sharpe"
sampler = "random"
seed = 11
pruner = "none"
[optimize.params]
fast = { type = "int", low = 3, high = 15 }
slow = { type = "int", low = 20, high = 80 }
"""

STRATS = "tests.backtest.candle_strategies"


def _config(strategy: str, params: dict[str, Any]) -> Any:
    doc = tomllib.loads(BOT)
    doc.pop("optimize")
    doc["strategy"] = {"name": strategy, "params": params}
    return parse_bot_config(doc)


def candle_run(strategy: str, params: dict[str, Any], series: CandleSeries) -> tuple[float, int]:
    """Candles per second of the loop, and the orders placed."""
    with tempfile.TemporaryDirectory() as tmp:
        bt = CandleBacktest(_config(strategy, params), BotSettings(), series, Path(tmp) / "bt")
        result = asyncio.run(bt.run())
    return result.candles_per_second, result.stats.orders


def _spread(values: list[float], fmt: str) -> str:
    return f"median {format(statistics.median(values), fmt)} (range {format(min(values), fmt)}" \
        f"-{format(max(values), fmt)}, n={len(values)})"  # fmt: skip


def candle_speeds(big: CandleSeries, rounds: int) -> dict[str, list[float]]:
    """Print the candle rows; return candles/s per row and round."""
    ema = {"product_id": "BTC-USD", "size": "0.01", "allow_short": False}
    rows = [
        ("idle", f"{STRATS}:Idle", {}, big),
        ("hold", f"{STRATS}:BuyAndHold", {"product_id": "BTC-USD"}, big),
        ("hook", f"{STRATS}:CountCandles", {}, big),
        ("ema_cross", "ema_cross", ema, big.slice(0, min(len(big), 50_000))),
    ]
    got: dict[str, list[float]] = {name: [] for name, *_ in rows}
    orders: dict[str, int] = {}
    for r in range(rounds):
        for name, strategy, params, series in rows[r % len(rows) :] + rows[: r % len(rows)]:
            rate, orders[name] = candle_run(strategy, params, series)
            got[name].append(rate)
    for name, _, _, series in rows:
        print(f"  {name:<10} {len(series):>9,} candles  candles/s "
              f"{_spread(got[name], ',.0f')}  ({orders[name]} orders)")  # fmt: skip
    return got


class _Timed:
    """One warm pool and the seconds per trial it took in each round."""

    def __init__(self, label: str, pool: Pool, ahead: int | None = None) -> None:
        self.label = label
        self.pool = pool
        self.ahead = ahead
        self.per_trial: list[float] = []


def _study(pool: Pool, series: CandleSeries, trials: int, tmp: Path, name: str) -> float:
    doc = tomllib.loads(BOT)
    spec = dataclasses.replace(parse_optimize(doc), trials=trials)
    t0 = time.perf_counter()
    run_study(spec=spec, doc=doc, window=(0, len(series)), pool=pool, model=FillModel(),
              latency=0.05, storage=str(tmp / f"{name}.db"), study_name=name)  # fmt: skip
    return time.perf_counter() - t0


def trials_per_minute(
    series: CandleSeries, trials: int, rounds: int, ray: bool
) -> dict[str, list[float]]:
    """Print the pools' rows; return the per-round speed-up of 2 local processes over one
    (``"speedup"``) and, with Ray, Ray's per-trial overhead over them in % (``"ray"``)."""
    timed: list[_Timed] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        try:
            makers: list[tuple[str, Any]] = [
                ("1 worker (in-process)", lambda: InProcessPool(series)),
                ("2 local processes", lambda: LocalPool(series, 2)),
            ]
            if ray:
                makers.append(("Ray, local, 2 CPUs",
                               lambda: RayPool(series, "local", init={"num_cpus": 2})))  # fmt: skip
            for label, make in makers:
                t0 = time.perf_counter()
                pool = make()
                _study(pool, series, 2 * pool.capacity, tmp, f"warm{len(timed)}")
                print(f"  {label}: start-up + warm-up {time.perf_counter() - t0:.1f} s")
                timed.append(_Timed(label, pool))
                if isinstance(pool, LocalPool):
                    timed.append(_Timed("2 local, ask when free", pool, ahead=0))
            for r in range(rounds):
                k = r % len(timed)
                for t in timed[k:] + timed[:k]:
                    saved = getattr(t.pool, "ahead", None)  # (None: a tree before it)
                    if t.ahead is not None:
                        t.pool.ahead = t.ahead
                    try:
                        elapsed = _study(t.pool, series, trials, tmp, f"r{r}-{len(t.per_trial)}"
                                         f"-{t.label[:1]}{t.ahead}")  # fmt: skip
                    finally:
                        if saved is not None:
                            t.pool.ahead = saved
                    t.per_trial.append(elapsed / trials)
        finally:
            for t in timed:
                if t.ahead is None:
                    t.pool.close()
    for t in timed:
        rates = [60 / s for s in t.per_trial]
        print(f"  {t.label:<24} trials/min {_spread(rates, '.1f')}; "
              f"ms/trial {_spread([s * 1000 for s in t.per_trial], '.0f')}")  # fmt: skip
    by = {t.label: t.per_trial for t in timed}
    one, two = by["1 worker (in-process)"], by["2 local processes"]
    speedup = [a / b for a, b in zip(one, two, strict=True)]
    print(f"  speed-up with 2 local processes: "
          f"{_spread(speedup, '.2f')} (goal >= 1.7x)")  # fmt: skip
    free = by["2 local, ask when free"]
    print(f"  speed-up, 2 local, ask when free: "
          f"{_spread([a / b for a, b in zip(one, free, strict=True)], '.2f')}")  # fmt: skip
    if ray:
        over = [(a / b - 1) * 100 for a, b in zip(by["Ray, local, 2 CPUs"], two, strict=True)]
        print(f"  Ray per-trial overhead over 2 local processes, %: {_spread(over, '+.1f')}"
              " (goal <= 10 %)")  # fmt: skip
        return {"speedup": speedup, "ray": over}
    return {"speedup": speedup}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--candles", type=int, default=3000, help="candles per trial")
    ap.add_argument("--speed-candles", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--skip-candles", action="store_true")
    ap.add_argument("--skip-trials", action="store_true")
    add_summary_argument(ap)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (a shared box: see the ranges)")  # fmt: skip
    rows: list[Row] = []
    if not args.skip_candles:
        print(f"candle backtest speed ({args.rounds} rounds, interleaved):")
        got = candle_speeds(synthetic_series(args.speed_candles, seed=2), args.rounds)
        rows.append(candle_row(got, args.speed_candles, args.rounds))
    if not args.skip_trials:
        print(f"trials per minute (ema_cross, {args.candles:,} candles per trial, "
              f"{args.trials} trials, {args.rounds} rounds):")  # fmt: skip
        ratios = trials_per_minute(synthetic_series(args.candles, seed=5), args.trials,
                                   args.rounds, not args.skip_ray)  # fmt: skip
        rows += trial_rows(ratios, args.trials, args.candles)
    emit(rows, args.summary)


def _m_range(values: list[float], fmt: str, unit: str = "") -> str:
    """``median (range lo–hi)`` for a summary cell."""
    med, lo, hi = (format(v, fmt) for v in (statistics.median(values), min(values), max(values)))
    return f"{med}{unit} median (range {lo}–{hi}{unit})"


def candle_row(got: dict[str, list[float]], candles: int, rounds: int) -> Row:
    hook, idle = got["hook"], got["idle"]
    return Row(
        key="research.candles_per_s",
        target=f"candle backtest ≥ {CANDLES_GOAL // 1000} k candles/s, trivial strategy "
        "(history/research)",
        measured=f"{_m_range([x / 1000 for x in hook], ',.0f', ' k/s')} with a no-op on_candle; "
        f"{_m_range([x / 1e6 for x in idle], '.1f', ' M/s')} without a hook "
        f"({candles:,} candles, {rounds} interleaved rounds)",
        met=statistics.median(hook) >= CANDLES_GOAL,
        command=command_line(),
        competitor="-",
    )


def trial_rows(ratios: dict[str, list[float]], trials: int, candles: int) -> list[Row]:
    study = f"ema_cross, {trials} trials of {candles:,} candles, rounds rotating the pools"
    rows = [
        Row(
            key="research.two_workers",
            target=f"optimize: 2 local workers ≥ {SPEEDUP_GOAL:g}× one (history/research)",
            measured=f"{_m_range(ratios['speedup'], '.2f', '×')} ({study})",
            met=statistics.median(ratios["speedup"]) >= SPEEDUP_GOAL,
            command=command_line(),
            competitor="1 worker in-process, the same study in the same rounds",
            note="on the median of the rounds",
        )
    ]
    if "ray" in ratios:
        rows.append(
            Row(
                key="research.ray_overhead",
                target=f"optimize on Ray: per-trial overhead ≤ {RAY_GOAL:g} % over local "
                "processes (history/research)",
                measured=f"{_m_range(ratios['ray'], '+.1f', ' %')} ({study})",
                met=statistics.median(ratios["ray"]) <= RAY_GOAL,
                command=command_line(),
                competitor=f"2 local processes (LocalPool), the same study in the same rounds; "
                f"Ray {version('ray')} local, 2 CPUs",
                note="on the median of the rounds",
            )
        )
    return rows


if __name__ == "__main__":
    main()
