"""``botkit optimize``: an Optuna study of a bot's parameters over candle backtests.

Also the candle side of ``botkit backtest`` (:func:`cmd_backtest_candles`: ``--data``
names a candle dataset instead of a recording). docs/research.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from botkit.errors import ConfigError

if TYPE_CHECKING:
    from botkit.research.space import Param

__all__ = [
    "add_optimize_command",
    "cmd_backtest_candles",
    "cmd_optimize",
    "is_candle_dataset",
]

EXIT_INTERRUPTED = 130


def _time(value: str | None) -> int | None:
    if not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{value!r} is not a date (2026-01-31), time or Unix seconds") from None
    return int((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp())


def is_candle_dataset(data: str) -> bool:
    """Whether ``--data`` names candles (a history folder, PRODUCT/GRANULARITY, synthetic:N)
    rather than a recording file of ``botkit record``."""
    return (
        data.startswith("synthetic:")
        or Path(data).is_dir()
        or (not Path(data).exists() and "/" in data and not data.endswith(".gz"))
    )


def _load(args: argparse.Namespace, doc: dict[str, Any]) -> Any:
    from botkit.research.data import load_dataset

    data_dir = Path(str(doc.get("bot", {}).get("data_dir", "botkit-data")))
    product = doc.get("strategy", {}).get("params", {}).get("product_id")
    return load_dataset(
        args.data,
        data_dir=data_dir,
        start=_time(args.start),
        end=_time(args.end),
        product_id=product if isinstance(product, str) else None,
    )


def _doc(path: str | None) -> dict[str, Any]:
    from botkit.runtime.bot_config import DEFAULT_CONFIG, parse_bot_config
    from botkit.strategy.loader import read_toml

    if path is None:
        import tomllib

        doc = tomllib.loads(DEFAULT_CONFIG)
    else:
        doc = read_toml(Path(path))
    parse_bot_config(doc, source=path or "built-in default")  # every table checked now
    return doc


def cmd_backtest_candles(args: argparse.Namespace) -> int:
    """``botkit backtest --data <candles>``: one candle backtest; a journal (+ report)."""
    import dataclasses

    from botkit.backtest.candles import CandleBacktest
    from botkit.research.space import parse_backtest
    from botkit.runtime.bot_config import parse_bot_config
    from botkit.runtime.settings import load_settings

    doc = _doc(args.config)
    config = parse_bot_config(doc, source=args.config or "built-in default")
    if args.strategy:
        config = dataclasses.replace(
            config, strategy=args.strategy, params=config.params if args.config else {}
        )
    series = _load(args, doc)
    model, latency = parse_backtest(doc)
    out_dir = Path(args.out) if args.out else config.bot.data_dir / "backtest"
    bt = CandleBacktest(
        config, load_settings(env_file=args.env_file), series, out_dir, model=model,
        latency=latency,
    )  # fmt: skip
    result = asyncio.run(bt.run())
    stats = result.stats
    print(
        f"botkit: {result.candles:,} {series.product_id} candles of {series.granularity} s in "
        f"{result.wall_seconds:.2f} s ({result.candles_per_second:,.0f} candles/s in the loop)"
    )
    print(f"botkit: {stats.orders} orders placed, {stats.fills} fills, {stats.rejected} refused")
    print(f"botkit: journal {result.journal_path}")
    if args.report:
        from botkit.report import build_report, write_html

        write_html(build_report(result.journal_path), Path(args.report))
        print(f"botkit: report {args.report}")
    return 0


def _progress(stream: IO[str], tty: bool) -> Any:
    from botkit.research.study import StudyProgress

    def show(p: StudyProgress) -> None:
        o = p.outcome
        best = "—" if p.best_value is None else f"{p.best_value:.6g} {p.best_params}"
        if tty:
            width = 24
            done = int(p.done / max(p.budget, 1) * width)
            stream.write(
                f"\r\x1b[K[{'#' * done}{'.' * (width - done)}] {p.study} {p.done}/{p.budget}"
                f" best {best}"
            )
        else:  # one JSON line per trial, for a log collector or a script
            line = {
                "event": "trial",
                "study": p.study,
                "trial": o.number,
                "state": o.state,
                "value": o.value,
                "seconds": round(o.seconds, 4),
                "done": p.done,
                "budget": p.budget,
                "best_value": p.best_value,
                "best_params": p.best_params,
            }
            stream.write(json.dumps(line, default=str) + "\n")
        stream.flush()

    return show


def _check_searched_params(doc: dict[str, Any], params: Sequence[Param], source: str) -> None:
    """A misspelt ``[optimize.params]`` name is a config error now, not a failed trial
    each (a study of 60 trials x 3 folds that scores nothing, and stores them as done)."""
    from botkit.strategy.loader import check_param_names, load_strategy

    name = str(doc.get("strategy", {}).get("name") or "market_maker")
    check_param_names(load_strategy(name), (p.name for p in params), f"{source}: [optimize.params]")


def cmd_optimize(args: argparse.Namespace) -> int:
    """``botkit optimize``: run (or resume) the study; print the summary as JSON.

    Progress goes to stderr: a bar with the best score so far on a terminal, one JSON
    line per finished trial otherwise.
    """
    from botkit.research.pools import InProcessPool, LocalPool, Pool, RayPool
    from botkit.research.space import parse_backtest, parse_optimize
    from botkit.research.study import optimize

    doc = _doc(args.config)
    source = args.config or "built-in default"
    spec = parse_optimize(doc, source=source)
    keys = ("trials", "seed", "sampler", "folds", "objective", "pruner")
    overrides = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    if overrides:
        doc = {**doc, "optimize": {**doc["optimize"], **overrides}}
        spec = parse_optimize(doc, source=source)
    _check_searched_params(doc, spec.params, source)
    model, latency = parse_backtest(doc)
    series = _load(args, doc)
    strategy = str(doc.get("strategy", {}).get("name", "strategy")).replace(":", "_")
    name = args.study or f"{strategy}-{series.product_id}-{series.granularity}s"
    storage = args.storage or str(Path(str(doc.get("bot", {}).get("data_dir", "botkit-data")))
                                  / "optimize" / "studies.sqlite3")  # fmt: skip
    if "://" not in storage:
        Path(storage).parent.mkdir(parents=True, exist_ok=True)
    # pruning has the workers write checkpoints to the storage: a SQLite file on this
    # machine is not there for the workers of a remote cluster
    prune = not (args.ray and args.ray != "local" and "://" not in storage)
    if not prune and spec.pruner != "none":
        print(
            "botkit: pruning is off: Ray workers on other machines cannot reach a SQLite "
            "file; give --storage an RDB URL (postgresql://...) to prune on a cluster",
            file=sys.stderr,
        )
    pool: Pool
    if args.ray:
        init = {"num_cpus": args.ray_cpus} if args.ray_cpus else None
        pool = RayPool(series, args.ray, capacity=args.jobs if args.jobs > 1 else None, init=init)
    elif args.jobs > 1:
        pool = LocalPool(series, args.jobs)
    else:
        pool = InProcessPool(series)
    tty = sys.stderr.isatty() and not args.quiet
    progress = None if args.quiet else _progress(sys.stderr, tty)
    try:
        result = optimize(
            spec=spec,
            doc=doc,
            series=series,
            pool=pool,
            storage=storage,
            study_name=name,
            model=model,
            latency=latency,
            on_trial=progress,
            curves=bool(args.report),
            prune=prune,
        )
    except KeyboardInterrupt:
        if tty:
            sys.stderr.write("\n")
        print(
            f"botkit: interrupted; study {name!r} is kept in {storage}: run the same command "
            "again to resume it",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    finally:
        pool.close()
    if tty:
        sys.stderr.write("\n")
    summary = {"study": name, "storage": storage, **result.summary()}
    text = json.dumps(summary, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if args.report:
        from botkit.research.report import write_optimize_html

        write_optimize_html(result, Path(args.report), title=name)
        print(f"botkit: report {args.report}", file=sys.stderr)
    return 0


def add_optimize_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``optimize`` on the CLI's subparsers."""
    p = sub.add_parser(
        "optimize",
        help="search strategy parameters over candle backtests (Optuna; local or Ray)",
        description="Run (or resume) an Optuna study of the [optimize] table of a bot TOML "
        "over candle backtests; prints a JSON summary (docs/research.md).",
    )
    p.add_argument("--config", required=True, help="bot TOML with [strategy] and [optimize]")
    p.add_argument(
        "--data",
        required=True,
        help="candles: a botkit download folder, PRODUCT/GRANULARITY (e.g. BTC-USD/ONE_HOUR) "
        "or synthetic:N[:SEED]",
    )
    p.add_argument("--start", help="first candle (UTC date/time or Unix seconds)")
    p.add_argument("--end", help="end, exclusive (UTC date/time or Unix seconds)")
    p.add_argument("--study", help="study name (default: <strategy>-<product>-<seconds>s)")
    p.add_argument(
        "--storage",
        help="Optuna storage: a SQLAlchemy URL (postgresql://...) or a SQLite file "
        "(default: <data_dir>/optimize/studies.sqlite3)",
    )
    p.add_argument("--jobs", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run trials as Ray tasks: auto (this machine's cluster), ray://HOST:10001, "
        "or local (a one-machine instance for this run); needs botkit[ray]",
    )
    p.add_argument("--ray-cpus", type=int, help="with --ray local: CPUs to give the instance")
    p.add_argument("--trials", type=int, help="override [optimize] trials")
    p.add_argument("--seed", type=int, help="override [optimize] seed")
    p.add_argument("--sampler", choices=["tpe", "grid", "random"], help="override the sampler")
    p.add_argument("--folds", type=int, help="override walk-forward folds (0: none)")
    p.add_argument("--objective", choices=["pnl", "sharpe", "sortino", "calmar"])
    p.add_argument("--pruner", choices=["median", "none"])
    p.add_argument("--report", help="write the HTML report here")
    p.add_argument("--json", help="also write the JSON summary here")
    p.add_argument("--quiet", action="store_true", help="no progress")
    p.set_defaults(func=cmd_optimize)
