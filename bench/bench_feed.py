"""Benchmark: socket -> decode -> L2 book throughput, botkit vs the official SDK path, one run.

Run:  .venv/bin/python bench/bench_feed.py [--steps 15000] [--levels 2500] [--repeats 3]

1. Records a level2 stream from botkit.sim (BTC-USD, ``--levels`` synthetic levels per
   side, ``--steps`` market steps of 0.1 s) to a gzip JSON-lines file (cached; the path
   is printed), exactly as the simulator's WebSocket would send it.
2. Serves it from a tiny aiohttp WebSocket server in a *separate process* on loopback:
   on the first ``level2`` subscribe it sends every frame as fast as it can.
3. Times each client from its first frame to "last sequence number processed", in
   ``--repeats`` interleaved rounds (botkit, websockets, SDK, botkit, ...) so that noise
   from a shared machine hits every variant alike; reports the median per variant:

   * botkit MarketDataFeed, aiohttp connector (msgspec decode + int-tick heap book);
   * botkit MarketDataFeed, websockets connector;
   * official SDK ``WSClient`` (websockets legacy client) with ``on_message`` doing
     ``WebsocketResponse(json.loads(msg))`` + a dict book (str price -> Decimal qty; no
     best-price maintenance, which favours the SDK path);

   and, in memory (no socket), decode+book variants to justify the choices:
   msgspec vs ``json.loads``, wire-string vs ``Decimal`` quantities, int ticks vs
   ``Decimal`` keys; and the book alone (random walk, best bid/ask read after every
   update) at 1k and 20k levels per side against ``SortedDict`` and a sorted-list book.

cryptofeed is not included: installing it would replace websockets 13.1 with 17.x,
which the official SDK (``websockets<14``) cannot use (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing as mp
import random
import statistics
import sys
import time
from bisect import bisect_left, insort
from collections.abc import Callable, Coroutine
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from botkit.core.book import L2Book
from botkit.core.messages import L2Data, L2Message, L2Update, decode_frame
from botkit.feed import MarketDataFeed
from botkit.feed_config import FeedConfig
from botkit.sim import ws_frames as f
from botkit.sim.events import BookChange
from botkit.sim.exchange import SimExchange, SimMarketConfig

sys.path.insert(0, str(Path(__file__).parent))
from bench_book import BisectTickBook, timed  # noqa: E402
from bench_book import main as bench_book_main  # noqa: E402

PID = "BTC-USD"


# -- 1. record -------------------------------------------------------------------------


def record(path: Path, steps: int, levels: int) -> None:
    cfg = replace(SimMarketConfig(), book_levels=levels, trade_rate=20.0)
    t0 = 1_767_268_800.0
    ex = SimExchange(cfg, seed=5, start_time=t0)
    ex.drain_events()
    bids, asks = ex.book(PID)
    seq = 0
    with gzip.open(path, "wt", encoding="utf-8") as out:
        snap = f.l2_snapshot_event(PID, bids, asks, t0)
        out.write(f.dumps(f.envelope("l2_data", f.rfc3339(t0), seq, [snap])) + "\n")
        for i in range(1, steps + 1):
            now = t0 + i * 0.1
            ex.advance(now)
            changes = [
                e for e in ex.drain_events() if isinstance(e, BookChange) and e.product_id == PID
            ]
            if changes:
                seq += 1
                ev = f.l2_update_event(PID, changes)
                out.write(f.dumps(f.envelope("l2_data", f.rfc3339(now), seq, [ev])) + "\n")


def load(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


def count_levels(frames: list[str]) -> tuple[int, int]:
    """(level updates in update frames, levels in the snapshot)."""
    snap = len(json.loads(frames[0])["events"][0]["updates"])
    ups = sum(len(json.loads(x)["events"][0]["updates"]) for x in frames[1:])
    return ups, snap


# -- 2. serve (separate process) ---------------------------------------------------------


def ws_frame(text: str) -> bytes:
    """An unmasked server->client WebSocket text frame (RFC 6455 §5.2)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        head = bytes([0x81, n])
    elif n < 1 << 16:
        head = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return head + payload


def serve(path: str, port_q: Any) -> None:
    # Pre-encoded raw frames written in one go: the server must never be the bottleneck.
    blob = b"".join(ws_frame(x) for x in load(Path(path)))

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        async for msg in ws:
            data = json.loads(msg.data)
            if data.get("channel") == "level2" and data.get("type") == "subscribe":
                assert request.transport is not None
                request.transport.write(blob)
        return ws

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_q.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


# -- 3. clients --------------------------------------------------------------------------


async def run_botkit(url: str, last_seq: int, connector: str) -> float:
    cfg = FeedConfig(
        market_url=url, products=(PID,), channels=("level2",), connector=connector, stale_after=30
    )
    first: list[float] = []

    def on_event(ev: object) -> None:
        if not first:
            first.append(time.perf_counter())  # the snapshot: the clock starts at the first frame

    feed = MarketDataFeed(cfg, rng=random.Random(1), on_event=on_event)
    proto = feed.conns[0].protocol
    await feed.start()
    await feed.wait_for(lambda: proto.last_seq == last_seq, 120)
    dt = time.perf_counter() - first[0]
    assert feed.books[PID].valid and not feed.books[PID].crossed
    await feed.stop()
    return dt


async def run_sdk(url: str, last_seq: int) -> float:
    from coinbase.websocket import WSClient
    from coinbase.websocket.types.websocket_response import WebsocketResponse

    book: dict[str, dict[str, Decimal]] = {"bid": {}, "offer": {}}
    done = asyncio.Event()

    first: list[float] = []

    def on_message(msg: str) -> None:
        if not first:
            first.append(time.perf_counter())
        r = WebsocketResponse(json.loads(msg))
        for ev in r.events:
            if ev.type == "snapshot":
                book["bid"].clear()
                book["offer"].clear()
            for u in ev.updates:
                side = book[u.side]
                q = Decimal(u.new_quantity)
                if q:
                    side[u.price_level] = q
                else:
                    side.pop(u.price_level, None)
        if r.sequence_num == last_seq:
            done.set()

    client = WSClient(base_url=url, on_message=on_message, retry=False, max_size=64 * 2**20)
    await client.open_async()
    await client.subscribe_async(product_ids=[PID], channels=["level2"])
    await asyncio.wait_for(done.wait(), 300)
    dt = time.perf_counter() - first[0]
    await client.close_async()
    return dt


# -- in-memory decode + book variants -------------------------------------------------------


class DecimalBisectBook:
    """A dict + bisect book keyed by Decimal prices (the alternative to int ticks)."""

    def __init__(self) -> None:
        self.d: dict[str, dict[Decimal, Decimal]] = {"bid": {}, "offer": {}}
        self.k: dict[str, list[Decimal]] = {"bid": [], "offer": []}

    def apply(self, side: str, price: str, qty: Decimal) -> None:
        p = Decimal(price)
        key = p if side == "bid" else -p
        book, keys = self.d[side], self.k[side]
        if qty:
            if p not in book:
                insort(keys, key)
            book[p] = qty
        elif book.pop(p, None) is not None:
            del keys[bisect_left(keys, key)]


def in_memory(frames: list[str]) -> dict[str, float]:
    def botkit_path() -> None:  # what FeedProtocol.receive does per l2_data frame
        b = L2Book(PID)
        for fr in frames:
            m = decode_frame(fr, fast_l2=True)
            assert isinstance(m, L2Data)
            for ev in m.events:
                (b.apply_snapshot if ev.type == "snapshot" else b.apply_updates)(ev.updates)

    def decimal_qty_path() -> None:
        b = L2Book(PID)
        for fr in frames:
            m = decode_frame(fr)
            assert isinstance(m, L2Message)
            for ev in m.events:
                (b.apply_snapshot if ev.type == "snapshot" else b.apply_updates)(ev.updates)

    def bisect_tick_path() -> None:
        b = BisectTickBook()
        for fr in frames:
            m = decode_frame(fr, fast_l2=True)
            assert isinstance(m, L2Data)
            for ev in m.events:
                b.apply(ev.updates)
            b.best()

    def msgspec_decimal_book() -> None:
        b = DecimalBisectBook()
        for fr in frames:
            m = decode_frame(fr)
            assert isinstance(m, L2Message)
            for ev in m.events:
                for u in ev.updates:
                    b.apply(u.side, u.price_level, u.new_quantity)

    def json_int_book() -> None:
        b = L2Book(PID)
        for fr in frames:
            m = json.loads(fr)
            for ev in m["events"]:
                lv = [
                    L2Update(
                        side=u["side"], price_level=u["price_level"], new_quantity=u["new_quantity"]
                    )
                    for u in ev["updates"]
                ]
                (b.apply_snapshot if ev["type"] == "snapshot" else b.apply_updates)(lv)

    def decode_only_fast() -> None:
        for fr in frames:
            decode_frame(fr, fast_l2=True)

    def decode_only_msgspec() -> None:
        for fr in frames:
            decode_frame(fr)

    def decode_only_json() -> None:
        for fr in frames:
            json.loads(fr)

    return {
        name: timed(fn)
        for name, fn in [
            ("decode only: msgspec, wire-string quantities (botkit)", decode_only_fast),
            ("decode only: msgspec, Decimal quantities", decode_only_msgspec),
            ("decode only: json.loads", decode_only_json),
            ("decode+book: msgspec str qty + int-tick heap book (botkit)", botkit_path),
            ("decode+book: msgspec Decimal qty + heap book", decimal_qty_path),
            ("decode+book: msgspec str qty + int-tick bisect-list book", bisect_tick_path),
            ("decode+book: msgspec + Decimal-key bisect book", msgspec_decimal_book),
            ("decode+book: json.loads + heap book", json_int_book),
        ]
    }


# -- main -----------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=15000)
    ap.add_argument("--levels", type=int, default=2500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--file", type=Path, default=None)
    args = ap.parse_args()
    path = args.file or Path(f"/tmp/botkit-bench-l2-{args.steps}-{args.levels}.jsonl.gz")
    if not path.exists():
        t0 = time.perf_counter()
        record(path, args.steps, args.levels)
        print(f"recorded {path} in {time.perf_counter() - t0:.1f} s")
    frames = load(path)
    ups, snap = count_levels(frames)
    last_seq = json.loads(frames[-1])["sequence_num"]
    print(
        f"stream: {len(frames)} frames, snapshot {snap} levels, {ups} level updates, "
        f"{path.stat().st_size / 1e6:.1f} MB gz; Python {sys.version.split()[0]}"
    )

    ctx = mp.get_context("fork")
    q = ctx.Queue()
    server = ctx.Process(target=serve, args=(str(path), q), daemon=True)
    server.start()
    url = f"ws://127.0.0.1:{q.get(timeout=60)}"
    total = ups + snap
    results: dict[str, float] = {}
    try:
        variants: list[tuple[str, Callable[[], Coroutine[Any, Any, float]]]] = [
            ("botkit feed, aiohttp connector", lambda: run_botkit(url, last_seq, "aiohttp")),
            ("botkit feed, websockets connector", lambda: run_botkit(url, last_seq, "websockets")),
            (
                "official SDK WSClient + WebsocketResponse + dict book",
                lambda: run_sdk(url, last_seq),
            ),
        ]
        samples: dict[str, list[float]] = {name: [] for name, _ in variants}
        for _ in range(args.repeats):  # interleaved rounds: noise hits every variant alike
            for name, make in variants:
                samples[name].append(asyncio.run(make()))
        results = {name: statistics.median(xs) for name, xs in samples.items()}
    finally:
        server.kill()
    mem = in_memory(frames)

    base = results["botkit feed, aiohttp connector"]
    print(
        "\nsocket -> decode -> book (loopback, server in another process), median of", args.repeats
    )
    print(f"{'variant':58} {'seconds':>8} {'levels/s':>12} {'msgs/s':>10} {'vs botkit':>9}")
    for name, dt in results.items():
        print(
            f"{name:58} {dt:8.3f} {total / dt:12,.0f} {len(frames) / dt:10,.0f} {dt / base:8.2f}x"
        )
    print("\nin memory (no socket), median of 3")
    mbase = mem["decode+book: msgspec str qty + int-tick heap book (botkit)"]
    for name, dt in mem.items():
        print(
            f"{name:58} {dt:8.3f} {total / dt:12,.0f} {len(frames) / dt:10,.0f} {dt / mbase:8.2f}x"
        )
    print()
    bench_book_main()


if __name__ == "__main__":
    main()
