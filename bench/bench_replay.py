"""Benchmark: backtest replay throughput through the full bot path, vs the SDK's parsing alone.

Run:  .venv/bin/python bench/bench_replay.py [--steps 15000] [--levels 2500] [--repeats 3]
          [--stages] [--profile] [--trees DIR[,DIR...]] [--summary FILE]

1. Writes a recording in ``botkit record``'s format (cached; the path is printed) from
   the simulator's pure exchange: a BTC-USD level2 snapshot with ``--levels`` levels per
   side, then ``--steps`` market steps of 0.1 s, each a level2 update frame, the trade
   prints batched into a market_trades frame every 250 ms as Coinbase does (reference §3),
   and a heartbeat every second, all with one contiguous ``sequence_num`` as on a real
   connection.
2. Replays it with :class:`botkit.backtest.runner.Backtest` — recording decode → FeedProtocol
   (msgspec decode, sequence check, int-tick L2 book) → paper broker (queue caps, trade
   prints, journal, equity curve) → dispatch to the strategy — on a virtual clock, with
   two strategies: a trivial one (no hooks: the replay path itself) and one that rests a
   post-only bid and re-prices it every 200 book events (the order path runs too: risk,
   executor journal, signed REST in-process, user events).
3. For scale, times the official SDK's message parsing alone over the same frames
   (``WebsocketResponse(json.loads(frame))``): no book, no strategy, no broker. The
   ratio shows what botkit's whole replay path costs against just that.

Figures: records/s, frames/s and price-level updates/s (snapshot levels excluded),
median of ``--repeats`` rounds, with the CPU time of the process (all threads: the
replay inflates the recording in a second thread) next to the wall time, since a
shared machine moves the wall time more.

``--stages``: where a trivial replay's time goes, from passes over the same recording
through public APIs only (CPU seconds, best of the rounds): reading (inflate, split,
record decode), then the same records through ``FeedProtocol`` too (msgspec / compiled
level2 decoder, sequence check, book); the rest of the full replay is the paper
exchange, its journal, strategy dispatch and the loop. ``--profile``: cProfile of one
trivial replay (top functions by own time).

``--trees A,B``: the same rounds with each botkit tree in a child process
(``PYTHONPATH=<tree>``; a tree needs its compiled ``botkit/market/_l2kernel*.so``),
interleaved round by round, for a before/after on a loaded machine.

``--summary FILE``: the summary rows of docs/benchmarks.md (the trivial strategy's level
updates per second of wall time against the targets of issues "paper trading and replay"
and Performance II), from the default mode only (not ``--trees``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from botkit.backtest.runner import Backtest, read_records
from botkit.errors import OrderRejected
from botkit.market.events import BookChanged
from botkit.market.recorder import Recorder
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.settings import load_settings
from botkit.sim import ws_frames as f
from botkit.sim.events import BookChange, TradePrint
from botkit.sim.exchange import SimExchange, SimMarketConfig
from botkit.strategy import NoParams, Strategy

sys.path.insert(0, str(Path(__file__).parent))
from _summary import Row, add_summary_argument, command_line, emit, version  # noqa: E402

PID = "BTC-USD"
T0 = 1_767_268_800.0


class Idle(Strategy):
    """The trivial strategy: no hooks, so the figure is the replay path itself."""

    class Params(NoParams):
        product_id: str = PID


class Requoter(Strategy):
    """Rests one post-only bid 0.5 % under the touch; re-prices it every 200 book events."""

    class Params(NoParams):
        product_id: str = PID
        size: Decimal = Decimal("0.001")

    params: Params
    seen = 0

    async def on_book(self, event: BookChanged) -> None:
        self.seen += 1
        if self.seen % 200:
            return
        best = event.book.best_bid()
        if best is None:
            return
        for order in self.ctx.open_orders(self.params.product_id):
            await self.ctx.cancel(order.client_order_id)
        price = (best[0] * Decimal("0.995")).quantize(Decimal("0.01"))
        with contextlib.suppress(OrderRejected):
            await self.ctx.buy_limit(
                self.params.product_id, self.params.size, price, post_only=True
            )


def make_recording(path: Path, steps: int, levels: int) -> None:
    """A ``botkit record``-format session from the pure simulator exchange."""
    cfg = replace(SimMarketConfig(), book_levels=levels, trade_rate=20.0)
    ex = SimExchange(cfg, seed=5, start_time=T0)
    ex.drain_events()
    now = T0
    rec = Recorder(path, clock=lambda: now)
    rec.meta("products", [ex.product_wire(PID)])
    rec.meta(
        "session", {"source": "bench", "products": [PID], "channels": ["level2", "market_trades"]}
    )
    rec.event("market-0", "connected")
    seq = 0

    def send(channel: str, events: list[object]) -> None:
        nonlocal seq
        rec.frame("market-0", now, f.dumps(f.envelope(channel, f.rfc3339(now), seq, events)))
        seq += 1

    bids, asks = ex.book(PID)
    send("l2_data", [f.l2_snapshot_event(PID, bids, asks, now)])
    trades: list[TradePrint] = []
    flushed = T0
    for i in range(1, steps + 1):
        now = T0 + i * 0.1
        ex.advance(now)
        events = ex.drain_events()
        changes = [e for e in events if isinstance(e, BookChange) and e.product_id == PID]
        trades += [e for e in events if isinstance(e, TradePrint) and e.product_id == PID]
        if changes:
            send("l2_data", [f.l2_update_event(PID, changes)])
        if trades and now - flushed >= 0.25 - 1e-9:  # Coinbase batches prints over 250 ms
            flushed = now
            batch = [f.trade_object(t) for t in trades]
            send("market_trades", [{"type": "update", "trades": batch}])
            trades = []
        if i % 10 == 0:
            send("heartbeats", [f.heartbeat_event(now, i * 0.1, i // 10)])
    rec.close()


def frames_of(path: Path) -> list[str]:
    return [r.data for r, _ in read_records(path) if r.kind == "frame"]


def level_updates(frames: list[str]) -> int:
    n = 0
    for text in frames:
        doc = json.loads(text)
        if doc["channel"] == "l2_data":
            for ev in doc["events"]:
                if ev["type"] == "update":
                    n += len(ev["updates"])
    return n


def run_backtest(
    data: Path, out: Path, strategy: str, *, quiet: bool = False
) -> tuple[float, float, int, int]:
    """One replay: (wall seconds, CPU seconds of the process, orders, frames)."""
    config = parse_bot_config(
        {
            "bot": {"products": [PID]},
            "strategy": {"name": f"{Path(__file__).resolve()}:{strategy}"},
            "risk": {"max_order_notional": "1000", "max_open_orders": 2},
            "paper": {"initial_balances": {"USD": "100000"}},
        }
    )
    bt = Backtest(config, load_settings(env_file=None), data, out)
    t, c = time.perf_counter(), time.process_time()
    result = asyncio.run(bt.run())
    total, cpu = time.perf_counter() - t, time.process_time() - c
    if not quiet:
        print(
            f"  {strategy}: {total:.3f} s in run() ({cpu:.3f} s CPU), "
            f"of which the record loop {result.replay_seconds:.3f} s"
        )
    return total, cpu, result.stats.orders, result.frames


def sdk_parse(frames: list[str]) -> float:
    from coinbase.websocket.types.websocket_response import WebsocketResponse

    t = time.perf_counter()
    for text in frames:
        WebsocketResponse(json.loads(text))
    return time.perf_counter() - t


def feed_pass(data: Path) -> None:
    """Every record through ``FeedProtocol`` as the replay does it, and nothing else."""
    from botkit.market.book import L2Book
    from botkit.market.requests import Subscription
    from botkit.venues.advanced_trade.ws_protocol import FeedProtocol

    books: dict[str, L2Book] = {}
    subs = [Subscription(ch, (PID,)) for ch in ("level2", "market_trades")]
    protocols: dict[str, FeedProtocol] = {}
    for rec, _ in read_records(data):
        if rec.kind == "meta":
            continue
        proto = protocols.get(rec.conn)
        if proto is None:
            proto = protocols[rec.conn] = FeedProtocol(rec.conn, subs, books=books)
        if rec.kind == "frame":
            proto.receive(rec.data)
        elif rec.kind == "connected":
            proto.connection_opened()
        else:
            proto.connection_lost(rec.detail or rec.kind)


def stages(data: Path, rounds: int, full_cpu: float, records: int) -> None:
    """Print where a trivial replay's CPU time goes (see the module docstring)."""

    def best(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(rounds):
            c = time.process_time()
            fn()
            times.append(time.process_time() - c)
        return min(times)

    read = best(lambda: sum(1 for _ in read_records(data)))
    feed = best(lambda: feed_pass(data))
    rest = full_cpu - feed
    print("where a trivial replay's CPU time goes (best of the rounds; us per record):")
    for label, sec in (
        ("read: inflate + record decode (msgspec)", read),
        ("FeedProtocol.receive (decode, sequence, book)", feed - read),
        ("paper exchange + journal + dispatch + loop", rest),
        ("full trivial replay", full_cpu),
    ):
        print(f"  {label:48s} {sec:6.3f} s {sec / records * 1e6:6.1f} us {sec / full_cpu:6.1%}")


def profile(data: Path) -> None:
    import cProfile
    import pstats

    prof = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        prof.enable()
        run_backtest(data, Path(tmp) / "bt", "Idle", quiet=True)
        prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def child(data: Path) -> None:
    """``--child``: one round of both strategies, as JSON (for ``--trees``)."""
    import botkit
    from botkit.market import book

    out: dict[str, object] = {
        "botkit": str(Path(botkit.__file__).parent),
        "kernel": book.frame_parser is not None,
    }
    for name in ("Idle", "Requoter"):
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu, orders, _frames = run_backtest(data, Path(tmp) / "bt", name, quiet=True)
        out[name] = [wall, cpu, orders]
    print(json.dumps(out))


def compare_trees(trees: list[str], data: Path, repeats: int, updates: int) -> None:
    """Each tree in a child process, interleaved round by round; medians per tree."""
    got: dict[str, list[dict[str, list[float]]]] = {tree: [] for tree in trees}
    for _ in range(repeats):
        for tree in trees:
            env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(data)]
            done = subprocess.run(
                cmd, env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, check=True
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
            if not row["kernel"]:
                print(f"  warning: {row['botkit']} runs without the compiled book kernel")
            got[tree].append(row)
    for tree, rows in got.items():
        print(f"tree {tree} ({rows[0]['botkit']}), medians of {len(rows)} interleaved rounds:")
        for name in ("Idle", "Requoter"):
            wall = statistics.median(r[name][0] for r in rows)
            cpu = statistics.median(r[name][1] for r in rows)
            print(
                f"  {name:8s} wall {wall:.3f} s ({updates / wall:,.0f} level updates/s), "
                f"CPU {cpu:.3f} s ({updates / cpu:,.0f}/s CPU); "
                f"all wall {sorted(round(r[name][0], 3) for r in rows)}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=15_000)
    ap.add_argument("--levels", type=int, default=2500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--stages", action="store_true", help="per-stage CPU breakdown")
    ap.add_argument("--profile", action="store_true", help="cProfile one trivial replay")
    ap.add_argument("--trees", help="comma-separated botkit trees to compare (child processes)")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    add_summary_argument(ap)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child)
        return
    cache = Path(tempfile.gettempdir()) / "botkit-bench"
    cache.mkdir(exist_ok=True)
    data = cache / f"replay-v2-{args.steps}-{args.levels}.jsonl.gz"
    if not data.exists():
        make_recording(data, args.steps, args.levels)
    frames = frames_of(data)
    updates = level_updates(frames)
    records = sum(1 for _ in read_records(data))
    print(
        f"recording: {data} ({data.stat().st_size / 1e6:.1f} MB gz, {records:,} records, "
        f"{len(frames):,} frames, {updates:,} level updates)"
    )
    if args.trees:
        compare_trees(args.trees.split(","), data, args.repeats, updates)
        return
    runs: dict[str, list[float]] = {"Idle": [], "Requoter": []}
    cpus: dict[str, list[float]] = {"Idle": [], "Requoter": []}
    sdk: list[float] = []
    orders = 0
    for _ in range(args.repeats):  # interleaved, so machine noise hits every variant alike
        for name, times in runs.items():
            with tempfile.TemporaryDirectory() as tmp:
                wall, cpu, n, _frames = run_backtest(data, Path(tmp) / "bt", name)
            times.append(wall)
            cpus[name].append(cpu)
            orders = n if name == "Requoter" else orders
        sdk.append(sdk_parse(frames))
    s = statistics.median(sdk)
    for name, label in (
        ("Idle", "trivial strategy (no hooks)"),
        ("Requoter", f"re-quoting strategy, {orders} orders + cancels"),
    ):
        b = statistics.median(runs[name])
        c = statistics.median(cpus[name])
        print(
            f"botkit backtest, full path, {label}: {b:.2f} s = {records / b:,.0f} records/s, "
            f"{len(frames) / b:,.0f} frames/s, {updates / b:,.0f} level updates/s "
            f"({s / b:.2f}x the SDK's parse-only rate); CPU {c:.2f} s = "
            f"{updates / c:,.0f} level updates per CPU second"
        )
    print(
        f"official SDK WebsocketResponse(json.loads) only: {s:.2f} s = "
        f"{len(frames) / s:,.0f} frames/s, {updates / s:,.0f} level updates/s"
    )
    print(f"python {sys.version.split()[0]}")
    b, c = statistics.median(runs["Idle"]), statistics.median(cpus["Idle"])
    measured = (
        f"{updates / b / 1000:,.0f} k level updates/s wall ({updates / c / 1000:,.0f} k per CPU "
        f"second), {s / b:.2f}× the SDK's parse-only rate ({updates / s / 1000:,.0f} k/s); "
        f"median of {args.repeats} interleaved rounds, {updates:,} updates"
    )
    competitor = (
        f"official coinbase-advanced-py {version('coinbase-advanced-py')} "
        "WebsocketResponse(json.loads(frame)), parse only (no book, no strategy)"
    )
    emit(
        [
            Row(
                key=f"replay.trivial_{key}",
                target=f"replay ≥ {label} level updates/s, trivial strategy ({issue})",
                measured=measured,
                met=updates / b >= goal,
                command=command_line(),
                competitor=competitor,
            )
            for key, label, goal, issue in (
                ("300k", "300 k", 300_000, "paper/replay"),
                ("1m", "1 M", 1_000_000, "Performance II"),
            )
        ],
        args.summary,
    )
    if args.stages:
        stages(data, args.repeats, min(cpus["Idle"]), records)
    if args.profile:
        profile(data)


if __name__ == "__main__":
    main()
