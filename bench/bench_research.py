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

Trials per minute: the same study (ema_cross over ``--candles`` candles, random sampler with a
fixed seed, no pruning, ``--trials`` trials) on each pool. Pool start-up (spawning workers,
``ray.init``) is timed apart and each pool first runs two warm-up trials per worker (each
worker process imports botkit on its first trial), so the rate is the steady state; Ray's per-trial overhead is its time per trial over the local pool's with
the same number of workers.

Run:  .venv/bin/python bench/bench_research.py [--trials 24] [--candles 3000] [--skip-ray]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
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


def candle_speed(name: str, strategy: str, params: dict[str, Any], series: CandleSeries) -> None:
    doc = tomllib.loads(BOT)
    doc.pop("optimize")
    doc["strategy"] = {"name": strategy, "params": params}
    config = parse_bot_config(doc)
    with tempfile.TemporaryDirectory() as tmp:
        bt = CandleBacktest(config, BotSettings(), series, Path(tmp) / "bt")
        result = asyncio.run(bt.run())
    print(
        f"  {name:<10} {result.candles:>9,} candles  loop {result.replay_seconds:6.2f} s  "
        f"{result.candles_per_second:>11,.0f} candles/s  (wall with set-up "
        f"{result.wall_seconds:.2f} s, {result.stats.orders} orders)"
    )


def timed_study(label: str, make: Any, series: CandleSeries, trials: int) -> float:
    doc = tomllib.loads(BOT)
    spec = parse_optimize(doc)
    t0 = time.perf_counter()
    pool: Pool = make()
    with tempfile.TemporaryDirectory() as tmp:
        storage = str(Path(tmp) / "bench.db")
        kw: dict[str, Any] = dict(doc=doc, window=(0, len(series)), pool=pool,
                                  storage=storage, model=FillModel(), latency=0.05)  # fmt: skip
        try:
            # every worker process imports botkit and runs one trial before the clock starts
            warm = 2 * pool.capacity
            run_study(spec=dataclasses.replace(spec, trials=warm), study_name="warm", **kw)
            startup = time.perf_counter() - t0
            t1 = time.perf_counter()
            run_study(spec=dataclasses.replace(spec, trials=trials), study_name="timed", **kw)
            elapsed = time.perf_counter() - t1
        finally:
            pool.close()
    rate = trials / elapsed * 60
    print(
        f"  {label:<22} {trials} trials in {elapsed:6.2f} s = {rate:7.1f} trials/min "
        f"({elapsed / trials * 1000:6.0f} ms/trial; start-up + warm-up {startup:.1f} s)"
    )
    return elapsed / trials


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--candles", type=int, default=3000, help="candles per trial")
    ap.add_argument("--speed-candles", type=int, default=1_000_000)
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print("candle backtest speed:")
    big = synthetic_series(args.speed_candles, seed=2)
    candle_speed("idle", f"{STRATS}:Idle", {}, big)
    candle_speed("hold", f"{STRATS}:BuyAndHold", {"product_id": "BTC-USD"}, big)
    candle_speed("hook", f"{STRATS}:CountCandles", {}, big.slice(0, 100_000))
    ema = {"product_id": "BTC-USD", "size": "0.01", "allow_short": False}
    candle_speed("ema_cross", "ema_cross", ema, big.slice(0, 50_000))
    series = synthetic_series(args.candles, seed=5)
    print(f"trials per minute (ema_cross, {args.candles:,} candles per trial):")
    one = timed_study("1 worker (in-process)", lambda: InProcessPool(series), series, args.trials)
    two = timed_study("2 local processes", lambda: LocalPool(series, 2), series, args.trials)
    print(f"  speed-up with 2 local processes: {one / two:.2f}x (goal >= 1.7x on 2 cores)")
    if not args.skip_ray:
        ray = timed_study(
            "Ray, local, 2 CPUs",
            lambda: RayPool(series, "local", init={"num_cpus": 2}),
            series,
            args.trials,
        )
        print(f"  Ray per-trial overhead over 2 local processes: {(ray / two - 1) * 100:+.1f} %"
              " (goal <= 10 %)")  # fmt: skip


if __name__ == "__main__":
    main()
