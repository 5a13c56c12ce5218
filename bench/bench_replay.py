"""Benchmark: backtest replay throughput through the full bot path, vs the SDK's parsing alone.

Run:  .venv/bin/python bench/bench_replay.py [--steps 15000] [--levels 2500] [--repeats 3]

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
median of ``--repeats`` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
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


def run_backtest(data: Path, out: Path, strategy: str) -> tuple[float, int, int]:
    config = parse_bot_config(
        {
            "bot": {"products": [PID]},
            "strategy": {"name": f"{Path(__file__).resolve()}:{strategy}"},
            "risk": {"max_order_notional": "1000", "max_open_orders": 2},
            "paper": {"initial_balances": {"USD": "100000"}},
        }
    )
    bt = Backtest(config, load_settings(env_file=None), data, out)
    t = time.perf_counter()
    result = asyncio.run(bt.run())
    total = time.perf_counter() - t
    print(
        f"  {strategy}: {total:.3f} s in run(), of which the record loop {result.replay_seconds:.3f} s"
    )
    return total, result.stats.orders, result.frames


def sdk_parse(frames: list[str]) -> float:
    from coinbase.websocket.types.websocket_response import WebsocketResponse

    t = time.perf_counter()
    for text in frames:
        WebsocketResponse(json.loads(text))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=15_000)
    ap.add_argument("--levels", type=int, default=2500)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
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
    runs: dict[str, list[float]] = {"Idle": [], "Requoter": []}
    sdk: list[float] = []
    orders = 0
    for _ in range(args.repeats):  # interleaved, so machine noise hits every variant alike
        for name, times in runs.items():
            with tempfile.TemporaryDirectory() as tmp:
                wall, n, _frames = run_backtest(data, Path(tmp) / "bt", name)
            times.append(wall)
            orders = n if name == "Requoter" else orders
        sdk.append(sdk_parse(frames))
    s = statistics.median(sdk)
    for name, label in (
        ("Idle", "trivial strategy (no hooks)"),
        ("Requoter", f"re-quoting strategy, {orders} orders + cancels"),
    ):
        b = statistics.median(runs[name])
        print(
            f"botkit backtest, full path, {label}: {b:.2f} s = {records / b:,.0f} records/s, "
            f"{len(frames) / b:,.0f} frames/s, {updates / b:,.0f} level updates/s "
            f"({s / b:.2f}x the SDK's parse-only rate)"
        )
    print(
        f"official SDK WebsocketResponse(json.loads) only: {s:.2f} s = "
        f"{len(frames) / s:,.0f} frames/s, {updates / s:,.0f} level updates/s"
    )
    print(f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
