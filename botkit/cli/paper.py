"""The ``botkit record`` and ``botkit backtest`` commands (``report`` lives in botkit.report).

Recording and replaying are one workflow: ``record`` writes what the feed saw,
``backtest`` replays it through the bot on a virtual clock and leaves a paper
journal, ``report`` turns a journal into an HTML page. Each step's output is the
next step's input, and each prints where it wrote it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from botkit.errors import ConfigError

if TYPE_CHECKING:
    from botkit.backtest.runner import Progress

__all__ = ["add_paper_commands", "cmd_backtest", "cmd_record", "progress_bar"]


def cmd_record(args: argparse.Namespace) -> int:
    """``botkit record``: capture a market-data session to a gzip JSON-lines file."""
    from botkit.cli.record import DEFAULT_CHANNELS, RecordOptions, run_record
    from botkit.runtime.settings import load_settings

    products = tuple(p.strip() for p in args.products.split(",") if p.strip())
    if args.duration is not None and args.duration <= 0:
        raise ConfigError(f"--duration must be positive (got {args.duration})")
    channels = (
        tuple(c.strip() for c in args.channels.split(",") if c.strip())
        if args.channels
        else DEFAULT_CHANNELS
    )
    options = RecordOptions(
        products=products,
        out=Path(args.out),
        source=args.source,
        duration=args.duration,
        channels=channels,
        seed=args.seed,
    )
    settings = load_settings(env_file=args.env_file)
    print(f"botkit: recording {', '.join(products)} from {args.source} to {args.out}; Ctrl-C stops")
    result = run_record(options, settings)
    print(
        f"botkit: wrote {result.frames} frames in {result.seconds:.1f} s "
        f"({result.bytes / 1024:.0f} KiB) to {result.path}"
    )
    return 0


def progress_bar(stream: TextIO) -> Callable[[Progress], None]:
    """A progress callback drawing one self-overwriting line on ``stream`` (a TTY)."""

    def show(p: Progress) -> None:
        width = 24
        done = int(p.fraction * width)
        rate = p.level_updates / p.wall if p.wall > 0 else 0.0
        stream.write(
            f"\r[{'#' * done}{'.' * (width - done)}] {p.fraction:4.0%} "
            f"{p.records:,} records, {rate / 1000:,.0f}k level updates/s"
        )
        stream.flush()

    return show


def cmd_backtest(args: argparse.Namespace) -> int:
    """``botkit backtest``: replay a recording through a strategy; write a journal (+report)."""
    from botkit.cli.optimize import cmd_backtest_candles, is_candle_dataset

    if is_candle_dataset(args.data):  # candles (docs/research.md), not a recording
        return cmd_backtest_candles(args)
    import asyncio

    from botkit.backtest.runner import Backtest
    from botkit.runtime.bot_config import load_bot_config
    from botkit.runtime.settings import load_settings

    config = load_bot_config(Path(args.config) if args.config else None)
    if args.strategy:
        params = config.params if args.config else {}
        config = dataclasses.replace(config, strategy=args.strategy, params=params)
    out_dir = Path(args.out) if args.out else config.bot.data_dir / "backtest"
    tty = sys.stderr.isatty() and not args.quiet
    backtest = Backtest(
        config,
        load_settings(env_file=args.env_file),
        Path(args.data),
        out_dir,
        progress=progress_bar(sys.stderr) if tty else None,
    )
    result = asyncio.run(backtest.run())
    if tty:
        sys.stderr.write("\n")
    wall = max(result.wall_seconds, 1e-9)
    stats = result.stats
    print(
        f"botkit: replayed {result.records:,} records ({result.market_seconds:,.0f} s of market) "
        f"in {wall:.2f} s: {result.level_updates / wall:,.0f} level updates/s"
    )
    print(f"botkit: {stats.orders} orders placed, {stats.fills} fills, {stats.rejected} refused")
    print(f"botkit: journal {result.journal_path}")
    if args.report:
        from botkit.report import build_report, write_html

        report = build_report(result.journal_path)
        write_html(report, Path(args.report))
        print(f"botkit: report {args.report}")
    return 0


def add_paper_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``record`` and ``backtest`` on the CLI's subparsers."""
    rec = sub.add_parser("record", help="record market data to a file for backtests")
    rec.add_argument("--products", required=True, help="comma-separated, e.g. BTC-USD,ETH-USD")
    rec.add_argument("--out", required=True, help="the .jsonl.gz file to write (must not exist)")
    rec.add_argument(
        "--source",
        choices=["coinbase", "sim"],
        default="coinbase",
        help="coinbase (public market data) or sim (the embedded simulator, offline)",
    )
    rec.add_argument("--duration", type=float, help="stop after SECONDS (default: Ctrl-C)")
    rec.add_argument(
        "--channels", help="comma-separated (default: level2,market_trades,ticker,candles)"
    )
    rec.add_argument("--seed", type=int, default=1, help="the simulator's seed (--source sim)")
    rec.set_defaults(func=cmd_record)

    bt = sub.add_parser("backtest", help="replay a recording through a strategy (paper fills)")
    bt.add_argument(
        "--data",
        required=True,
        help="a recording made by `botkit record`, or candles: a `botkit download` folder, "
        "PRODUCT/GRANULARITY (e.g. BTC-USD/ONE_HOUR) or synthetic:N (docs/research.md)",
    )
    bt.add_argument("--start", help="candles: first one (UTC date/time or Unix seconds)")
    bt.add_argument("--end", help="candles: end, exclusive")
    bt.add_argument("--strategy", help="name, path/file.py:Class or package.module:Class")
    bt.add_argument("--config", help="bot TOML ([strategy], [risk], [paper], ...)")
    bt.add_argument("--out", help="output folder (default: <data_dir>/backtest; emptied first)")
    bt.add_argument("--report", help="also write the HTML report to this file")
    bt.add_argument("--quiet", action="store_true", help="no progress bar")
    bt.set_defaults(func=cmd_backtest)
