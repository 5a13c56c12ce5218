"""``botkit download`` and ``botkit data list`` (wiring ring): history from the public REST API.

The candles come from Advanced Trade's public market endpoints (``/market/products/{id}/
candles``, no key), through the typed REST client — so its public rate limiter (10/s)
paces the pages and its retry table handles 429s and 5xx — into the layout of
docs/data.md (:mod:`botkit.history.store`). Only the holes of the coverage index are
fetched, so re-running a command resumes it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from botkit.errors import ConfigError

if TYPE_CHECKING:
    from botkit.history.store import Row
    from botkit.venues.advanced_trade.rest_client import RestClient

__all__ = ["add_download_commands", "cmd_data_list", "cmd_download", "parse_time"]

COINBASE_REST = "https://api.coinbase.com/api/v3/brokerage"
MAX_PAGE = 350  # the endpoint's documented maximum (reference §2.2)
MAX_TRADES = 1000


def parse_time(text: str) -> int:
    """Unix seconds from ``1767225600``, ``2026-01-01`` or ``2026-01-01T12:00[:00]`` (UTC).

    Raises:
        ConfigError: anything else (the message shows the accepted forms).
    """
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"bad time {text!r}: use a UTC date (2026-01-01), a date and time "
            "(2026-01-01T12:00) or Unix seconds"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def _granularities(text: str) -> list[str]:
    from botkit.history.ranges import GRANULARITIES, granularity_seconds

    if text.strip().lower() == "all":
        return list(GRANULARITIES)
    names = [g.strip().upper() for g in text.split(",") if g.strip()]
    if not names:
        raise ConfigError("--granularity needs at least one name, or 'all'")
    for name in names:
        try:
            granularity_seconds(name)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return names


def _products(text: str) -> list[str]:
    products = [p.strip().upper() for p in text.split(",") if p.strip()]
    if not products:
        raise ConfigError("--products needs at least one product id, e.g. BTC-USD")
    return products


def _row(candle: Any) -> Row:
    return (
        int(candle.start),
        format(candle.open, "f"),
        format(candle.high, "f"),
        format(candle.low, "f"),
        format(candle.close, "f"),
        format(candle.volume, "f"),
    )


class ProgressView:
    """A one-line bar on a terminal, or JSON lines (one per request) for a pipe or a log."""

    def __init__(self, mode: str, out: TextIO) -> None:
        if mode == "auto":
            mode = "bar" if out.isatty() else "json"
        self.mode = mode
        self.out = out
        self._drawn = False

    def __call__(self, event: dict[str, Any]) -> None:
        if self.mode == "json":
            self.out.write(json.dumps(event, separators=(",", ":")) + "\n")
            self.out.flush()
        elif self.mode == "bar" and event.get("event") == "page":
            self.out.write("\r" + bar_line(event))
            self.out.flush()
            self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.out.write("\n")
            self.out.flush()


def bar_line(event: dict[str, Any], width: int = 30) -> str:
    """``[#####.....]  12/40 requests  3,600 candles  1,234/s  BTC-USD ONE_MINUTE 2026-01-03``."""
    done, total = int(event["requests"]), max(int(event["planned_requests"]), 1)
    fill = min(width, done * width // total)
    rate = event["candles"] / event["seconds"] if event["seconds"] else 0.0
    day = datetime.fromtimestamp(int(event["start"]), UTC).strftime("%Y-%m-%d %H:%M")
    return (
        f"[{'#' * fill}{'.' * (width - fill)}] {done}/{total} requests  "
        f"{event['candles']:,} candles  {rate:,.0f}/s  "
        f"{event['product']} {event['granularity']} {day}   "
    )


def _window(args: argparse.Namespace, now: float) -> tuple[int, int]:
    end = parse_time(args.end) if args.end else int(now)
    if args.start and args.days is not None:
        raise ConfigError("give --start or --days, not both")
    if args.start:
        start = parse_time(args.start)
    else:
        days = 1.0 if args.days is None else float(args.days)
        if days <= 0:
            raise ConfigError("--days must be positive")
        start = int(end - days * 86400)
    if end <= start:
        raise ConfigError(f"--end ({end}) must be after --start ({start})")
    return start, end


def cmd_download(args: argparse.Namespace) -> int:
    """``botkit download``: candles (and recent trades) for products and a date range."""
    from botkit.history.store import FORMATS, parquet_available

    if args.format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}")
    if args.format == "parquet" and not parquet_available():
        raise ConfigError(
            "--format parquet needs pyarrow: pip install 'botkit[parquet]' (or use jsonl)"
        )
    if not 1 <= args.page <= MAX_PAGE:
        raise ConfigError(f"--page must be 1..{MAX_PAGE} (buckets per request)")
    if not 0 <= args.trades <= MAX_TRADES:
        raise ConfigError(f"--trades must be 0..{MAX_TRADES} (the endpoint's window)")
    if args.flush_every < 1:
        raise ConfigError("--flush-every must be at least 1")
    if args.max_requests is not None and args.max_requests < 0:
        raise ConfigError("--max-requests must be 0 or more")
    products = _products(args.products)
    granularities = _granularities(args.granularity)
    now = time.time()
    start, end = _window(args, now)
    return asyncio.run(_download(args, products, granularities, start, end, now))


async def _download(
    args: argparse.Namespace,
    products: list[str],
    granularities: list[str],
    start: int,
    end: int,
    now: float,
) -> int:
    from botkit.history.download import download_candles, plan_downloads
    from botkit.venues.advanced_trade.rest_client import RestClient

    root = Path(args.data_dir) / "history"
    plans = plan_downloads(
        root,
        products,
        granularities,
        start,
        end,
        now=now,
        page=args.page,
        source=args.source,
        refetch=args.refetch,
    )
    progress = ProgressView(args.progress, sys.stderr)
    client = RestClient(args.rest_url, None, ca_file=args.ca_file)

    async def fetch(product: str, granularity: str, lo: int, hi: int) -> list[Row]:
        from botkit.history.ranges import granularity_seconds

        limit = (hi - lo) // granularity_seconds(granularity)
        got = await client.candles(product, start=lo, end=hi, granularity=granularity, limit=limit)
        return [_row(c) for c in got]

    try:
        result = await download_candles(
            plans,
            fetch,
            fmt=args.format,
            max_requests=args.max_requests,
            flush_every=args.flush_every,
            on_progress=progress,
            throttle_delay=args.throttle_delay,
        )
        trades = 0
        if args.trades:
            trades = await _trades(client, root, products, args.trades, args.source)
    finally:
        progress.close()
        await client.close()
    if progress.mode == "json":
        progress({**result.doc(), "trades": trades})
    rate = result.candles / result.seconds if result.seconds else 0.0
    print(
        f"downloaded {result.candles:,} candles in {result.requests} request(s) "
        f"({result.seconds:.1f} s, {rate:,.0f} candles/s), {result.new_candles:,} new, "
        f"into {root / args.source}"
    )
    if trades or args.trades:
        print(f"trades: {trades} new")
    if result.complete:
        print("every asked range is on disk (buckets without trades are absent, as on Coinbase)")
    else:
        left = result.planned - result.requests
        print(f"stopped after {result.requests} request(s) as asked; {left} left: re-run to resume")
    return 0


async def _trades(
    client: RestClient, root: Path, products: Sequence[str], limit: int, source: str
) -> int:
    from botkit.history.store import store_trades

    added = 0
    for product in products:
        page = await client.market_trades(product, limit=limit)
        rows = [
            {
                "trade_id": t.trade_id,
                "time": t.time,
                "price": format(t.price, "f"),
                "size": format(t.size, "f"),
                "side": t.side,
                "ts": datetime.fromisoformat(t.time).timestamp(),
            }
            for t in page.trades
        ]
        added += store_trades(root, product, rows, source=source)
    return added


def cmd_data_list(args: argparse.Namespace) -> int:
    """``botkit data list``: every stored series with its range, holes and row counts."""
    from botkit.history.store import list_series

    root = Path(args.data_dir) / "history"
    series = list_series(root)
    if args.json:
        for info in series:
            print(json.dumps(info.doc()))
        return 0
    if not series:
        print(f"no history under {root} (botkit download --help)")
        return 0

    def ts(t: int | None) -> str:
        return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")

    head = ("source", "product", "granularity", "from", "to", "rows", "empty", "holes", "format")
    lines = [head]
    for i in series:
        d = i.doc()
        lines.append(
            (
                i.source,
                i.product,
                i.granularity,
                ts(i.first),
                ts(i.end),
                f"{i.rows:,}",
                f"{d['empty_buckets']:,}",
                ", ".join(f"{ts(a)}..{ts(b)}" for a, b in i.holes) or "none",
                "+".join(sorted(i.formats)) or "-",
            )
        )
    widths = [max(len(row[k]) for row in lines) for k in range(len(head) - 1)]
    for row in lines:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    print(f"({root}; 'to' is exclusive; empty = covered buckets without trades)")
    return 0


def add_download_commands(sub: Any) -> None:
    """Register ``download`` and ``data list`` on the ``botkit`` parser."""
    dl = sub.add_parser(
        "download",
        help="download candles (any granularity) and recent trades from the public REST API",
        description="Fetches only what is missing on disk (re-run to resume). Layout and "
        "format: docs/data.md.",
    )
    dl.add_argument("--products", default="BTC-USD", help="comma-separated product ids")
    dl.add_argument("--start", help="UTC date/time (2026-01-01[T12:00]) or Unix seconds")
    dl.add_argument("--end", help="exclusive end, same forms (default: now)")
    dl.add_argument("--days", type=float, help="instead of --start: the last N days")
    dl.add_argument(
        "--granularity",
        default="ONE_MINUTE",
        help="comma-separated: ONE_MINUTE, FIVE_MINUTE, FIFTEEN_MINUTE, THIRTY_MINUTE, "
        "ONE_HOUR, TWO_HOUR, FOUR_HOUR, SIX_HOUR, ONE_DAY; or all",
    )
    dl.add_argument("--format", default="jsonl", help="jsonl (default) or parquet (pyarrow)")
    dl.add_argument("--trades", type=int, default=0, help="also the latest N public trades")
    dl.add_argument("--data-dir", default="botkit-data", help="history goes to DATA_DIR/history")
    dl.add_argument("--source", default="coinbase", help="folder name under history/")
    dl.add_argument("--rest-url", default=COINBASE_REST, help="Advanced Trade REST base URL")
    dl.add_argument("--ca-file", help="trust this CA certificate (e.g. the simulator's)")
    dl.add_argument("--page", type=int, default=299, help="buckets per request (max 350)")
    dl.add_argument("--max-requests", type=int, help="stop cleanly after N candle requests")
    dl.add_argument(
        "--flush-every",
        type=int,
        default=20,
        help="write to disk every N pages (a crash loses at most N; default 20)",
    )
    dl.add_argument(
        "--throttle-delay",
        type=float,
        default=2.0,
        help="first wait (s, doubling, 5 times) when throttled beyond the client's retries",
    )
    dl.add_argument("--refetch", action="store_true", help="ignore the coverage index")
    dl.add_argument(
        "--progress",
        choices=["auto", "bar", "json", "none"],
        default="auto",
        help="stderr progress: bar on a terminal, JSON lines otherwise (auto)",
    )
    dl.set_defaults(func=cmd_download)

    data = sub.add_parser("data", help="what history is on disk (botkit data list)")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    ls = data_sub.add_parser("list", help="products, granularities, ranges, holes, row counts")
    ls.add_argument("--data-dir", default="botkit-data", help="the folder holding history/")
    ls.add_argument("--json", action="store_true", help="one JSON object per series")
    ls.set_defaults(func=cmd_data_list)
