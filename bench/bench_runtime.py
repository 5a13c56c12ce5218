"""Runtime benchmarks: tick-to-order latency vs the official SDK, RSS, time to first subscribe.

1. **Tick-to-order**: one ticker frame (JSON bytes, as received) → decode
   (``FeedProtocol.receive``) → ``BotContext.dispatch`` → the strategy's ``on_ticker`` (through
   the guard) → ``buy_limit`` → risk check → the create-order request built (exact body
   bytes, headers) and signed (ES256 JWT, fresh nonce) by ``RestClient.prepare_request`` —
   the code the live path runs before the socket write. Two botkit figures:

   * **pre-signed** (the default): the request takes a single-use token signed earlier
     (``PresignedTokens``); the replacement is signed after the timed path, as the live
     client does once the order has been answered (its CPU time is not in this figure);
   * **inline**: ``presign=0``, the ES256 signature is made on the path.

   The SDK's way of doing the same: ``json.loads`` of the frame, the same decision,
   ``json.dumps`` of the order body and ``jwt_generator.build_rest_jwt``. All three run in
   this process, interleaved in blocks, with the same key.
2. **Resident memory** of ``botkit run`` in sim mode (simulator in-process, BTC-USD level2 +
   ticker + candles + the user channel), once with the simulator's 50-level book and once
   with a BTC-USD-sized snapshot (30 000 padded levels, ~3 MB frame). VmHWM/VmRSS from /proc.
3. **Start to first subscribe**: process spawn → first subscription acknowledged (log line),
   and ``BotRuntime.run()`` start → the same event.
4. **A live bot** (``python -m botkit run --mode live --live``, as a user runs it) against a
   ``botkit sim`` in another process (``bench/live_bot.py``), so the simulator is not in the
   measured process: spawn → first subscribe acknowledged and peak RSS, with the 50-level
   book and the BTC-USD-sized snapshot, ``--spawns`` times each (p50, min, max). Target
   (issue 19): spawn → first subscribe <= 0.5 s, peak RSS <= 64 MB with the big book.
   ``--bot-pythonpath DIR`` adds the same children run from another botkit tree (e.g. the
   previous commit: ``git archive HEAD~3 | tar -x -C DIR`` plus the compiled kernel copied
   in), ``--loop NAME`` this checkout with ``[bot] loop = NAME``; all are interleaved spawn
   by spawn, so they share the machine's state. Bytecode is cached, as for an installed
   botkit (``--no-bytecode-cache``: every module compiled at every start).

Run:  .venv/bin/python bench/bench_runtime.py [--ticks 20000] [--parts latency,sim,live]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any

from coinbase import jwt_generator
from live_bot import LiveRun, SimProcess, run_live_bot

from botkit.auth.clock import SystemClock
from botkit.auth.factory import generate_cdp_key
from botkit.auth.jwt import JwtSigner
from botkit.auth.keys import secret_to_pem
from botkit.monitor.bot_view import BotView
from botkit.monitor.metrics import BotMetrics
from botkit.net.rest_types import ApiCall, RestRequest
from botkit.orders.intents import OrderIntent
from botkit.risk.engine import RiskLimits
from botkit.risk.gate import RiskGate
from botkit.runtime.dispatch import CountingSink
from botkit.runtime.ui import RunStats
from botkit.strategy.base import Strategy
from botkit.strategy.context import BotContext
from botkit.strategy.loader import create_strategy
from botkit.venues.advanced_trade.messages import Ticker
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol, Subscription

__all__ = ["main"]

BASE = "https://api.coinbase.com/api/v3/brokerage"
HOST, PATH = "api.coinbase.com", "/api/v3/brokerage/orders"
SIZE, OFFSET = Decimal("0.001"), Decimal("5")


def frame(seq: int, price: str) -> bytes:
    return json.dumps(
        {
            "channel": "ticker",
            "client_id": "",
            "timestamp": "2024-01-01T00:00:00.000000Z",
            "sequence_num": seq,
            "events": [
                {
                    "type": "update",
                    "tickers": [
                        {
                            "type": "ticker",
                            "product_id": "BTC-USD",
                            "price": price,
                            "volume_24_h": "1234.5",
                            "low_24_h": "64000",
                            "high_24_h": "66000",
                            "low_52_w": "20000",
                            "high_52_w": "74000",
                            "price_percent_chg_24_h": "1.2",
                            "best_bid": price,
                            "best_bid_quantity": "0.5",
                            "best_ask": str(Decimal(price) + Decimal("0.01")),
                            "best_ask_quantity": "0.4",
                        }
                    ],
                }
            ],
        }
    ).encode()


class Bidder(Strategy):
    """Bids OFFSET under every ticker (the benchmark's decision)."""

    async def on_ticker(self, ticker: Ticker) -> None:
        await self.ctx.buy_limit("BTC-USD", SIZE, ticker.price - OFFSET)


class RequestSink:
    """The last step before the socket: the create-order request, built and signed by the
    REST client's own ``prepare_request`` (pre-signed token or inline signature)."""

    def __init__(self, client: RestClient) -> None:
        self.client = client
        self.last: RestRequest | None = None

    async def place(self, intent: OrderIntent) -> str:
        call = ApiCall(
            "POST", "/orders", body=intent.body(), client_order_id=intent.client_order_id
        )
        self.last, _ = self.client.prepare_request(call)
        return "order-id"

    async def cancel(self, order_id: str) -> bool:
        return True


class _Placed:
    def __init__(self, order_id: str) -> None:
        self.order_id = order_id


class _RequestExecutor:
    """The executor's place() reduced to the request sink (no journal: the same work as the
    other paths, which this variant differs from only by the monitoring it adds)."""

    def __init__(self, client: RestClient) -> None:
        self.sink = RequestSink(client)

    async def place(self, intent: OrderIntent) -> _Placed:
        return _Placed(await self.sink.place(intent))


class _Wall:
    def wall(self) -> float:
        return time.time()


def monitored_ctx(client: RestClient, metrics: BotMetrics | None) -> BotContext:
    """The pre-signed path through the runtime's counting sink, with (``metrics``) or without
    what the HTTP server adds: each order timed into the latency histogram."""
    ctx = make_ctx(client)
    sink = CountingSink(
        _RequestExecutor(client),  # type: ignore[arg-type]
        RunStats(),
        [],
        on_latency=metrics.observe_order_latency if metrics is not None else None,
    )
    ctx._sink = sink  # the bench's one wiring shortcut: the same context, another sink
    return ctx


def run_sync(coro: Coroutine[Any, Any, None]) -> None:
    """Drive a coroutine that never suspends (no I/O on this path) without an event loop."""
    try:
        coro.send(None)
    except StopIteration:
        return
    raise RuntimeError("the tick-to-order path suspended")


def make_ctx(client: RestClient) -> BotContext:
    limits = RiskLimits(
        max_order_notional=Decimal("1000"), max_position=Decimal("1000"), price_band_pct=Decimal(5)
    )
    ctx = BotContext(
        "bench",
        RequestSink(client),
        clock=SystemClock(),
        risk=RiskGate(limits, None, wall=time.time),
    )
    create_strategy(Bidder, ctx, {})
    run_sync(ctx.start())
    return ctx


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


def tick_to_order(n: int) -> dict[str, float]:
    key = generate_cdp_key("ES256")
    pem = secret_to_pem(key.private_key)
    signer = JwtSigner(key, clock=SystemClock(), nonce=secrets.token_hex)
    presigned = RestClient(BASE, signer, presign=4)  # the default
    inline = RestClient(BASE, signer, presign=0)
    frames = [frame(i + 1, f"{65000 + (i % 50) * 0.5:.2f}") for i in range(n)]
    sub = (Subscription("ticker", ("BTC-USD",)),)
    monitored = RestClient(BASE, signer, presign=4)
    unmonitored = RestClient(BASE, signer, presign=4)
    paths = {
        "presigned": (presigned, FeedProtocol("market-0", sub, books={})),
        "unmonitored": (unmonitored, FeedProtocol("market-3", sub, books={})),
        "monitored": (monitored, FeedProtocol("market-2", sub, books={})),
        "inline": (inline, FeedProtocol("market-1", sub, books={})),
    }
    metrics = BotMetrics(lambda: None, process=False)  # type: ignore[arg-type,return-value]
    view = BotView(_Wall(), venue="bench")  # type: ignore[arg-type]

    def new_ctx(name: str, client: RestClient) -> BotContext:
        if name == "presigned" or name == "inline":
            return make_ctx(client)
        return monitored_ctx(client, metrics if name == "monitored" else None)

    ctxs = {name: new_ctx(name, client) for name, (client, _) in paths.items()}
    times: dict[str, list[float]] = {name: [] for name in (*paths, "sdk")}
    for c in (presigned, monitored, unmonitored):
        c.refill_presigned()

    def sdk_way(data: bytes) -> None:
        doc = json.loads(data)  # the SDK's way: json, the same decision, json body, its JWT
        price = Decimal(doc["events"][0]["tickers"][0]["price"]) - OFFSET
        body = json.dumps(
            {
                "client_order_id": str(uuid.uuid4()),
                "product_id": "BTC-USD",
                "side": "BUY",
                "order_configuration": {
                    "limit_limit_gtc": {"base_size": str(SIZE), "limit_price": str(price)}
                },
            }
        )
        uri = jwt_generator.format_jwt_uri("POST", PATH)
        assert body and jwt_generator.build_rest_jwt(uri, key.name, pem)

    block = 100  # alternate blocks of each path: same run, same machine state, warm caches
    for start in range(0, n, block):
        stop = min(n, start + block)
        for name, (client, proto) in paths.items():
            out = times[name]
            for i in range(start, stop):
                if i % 4 == 0:  # a fresh context: at most 4 open orders, as under max_open_orders=4
                    ctxs[name] = new_ctx(name, client)
                ctx = ctxs[name]
                count = view.on_event if name == "monitored" else None
                t0 = time.perf_counter_ns()
                for event in proto.receive(frames[i]):
                    if count is not None:
                        count(event)  # the runtime's feed callback counts for /metrics
                    run_sync(ctx.dispatch(event))
                out.append((time.perf_counter_ns() - t0) / 1000)
                client.refill_presigned()  # what the loop does once the order is answered
        for i in range(start, stop):
            t0 = time.perf_counter_ns()
            sdk_way(frames[i])
            times["sdk"].append((time.perf_counter_ns() - t0) / 1000)
    for c in (presigned, monitored, unmonitored):
        pool = c.presigned[("POST", "/orders")]
        assert pool.taken == n and pool.misses == 0, "every pre-signed order must use a token"
    warm = n // 10
    result = {}
    for name, xs in times.items():
        result[f"{name}_p50"] = statistics.median(xs[warm:])
        result[f"{name}_p99"] = pct(xs[warm:], 0.99)
    result["es256_p50"] = es256_cost(key)
    return result


def es256_cost(key: Any, n: int = 2000) -> float:
    """p50 of one raw ES256 signature (``cryptography``) over a JWT-sized input, for scale."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    algo = ec.ECDSA(hashes.SHA256())
    data = secrets.token_bytes(330)
    xs = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        key.private_key.sign(data, algo)
        xs.append((time.perf_counter_ns() - t0) / 1000)
    return statistics.median(xs)


CHILD = """
import sys, time
from pathlib import Path
from botkit.runtime.bot_config import load_bot_config
from botkit.runtime.settings import load_settings
from botkit.runtime.bot import BotRuntime, RunOptions, run_blocking
from botkit.runtime.ui import configure_logging
configure_logging("INFO", tty=False)
from botkit.market.connections import fix_mmap_threshold
fix_mmap_threshold()  # as `botkit run` does (cli_run.cmd_run)
big = sys.argv[2].startswith("big")
http = sys.argv[2].endswith("+http")
async def scrape():  # what Prometheus and a browser do, from another process as they do:
    import asyncio, subprocess  # every endpoint, every second
    while rt.http is None or rt.http.bound is None:
        await asyncio.sleep(0.1)
    code = ("import sys, time, urllib.request\\n"
            "while True:\\n"
            "    for p in ('/metrics', '/api/status', '/', '/readyz'):\\n"
            "        try: urllib.request.urlopen(sys.argv[1] + p, timeout=5).read()\\n"
            "        except OSError: pass\\n"
            "    time.sleep(1.0)\\n")
    proc = subprocess.Popen([sys.executable, "-c", code, rt.http.url])
    try:
        await asyncio.Event().wait()
    finally:
        proc.kill()
def arm(ep):
    if big and ep.sim is not None:
        ep.sim.ws_faults.oversize_snapshot(30_000)
    if http:
        rt.supervisor.spawn("scraper", scrape)
opts = RunOptions(duration=float(sys.argv[1]), data_dir=Path(sys.argv[3]), on_venue=arm,
                  http="127.0.0.1:0" if http else None)
rt = BotRuntime(load_bot_config(None), load_settings(env_file=None), opts)
res = run_blocking(rt.run)
status = dict(l.split(":", 1) for l in Path("/proc/self/status").read_text().splitlines() if ":" in l)
print("RESULT", status["VmHWM"].split()[0], status["VmRSS"].split()[0], rt.stats.first_subscribe,
      res.stats.orders, flush=True)
"""


def run_child(seconds: float, variant: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data:
        t0 = time.time()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(seconds), variant, data],
            capture_output=True,
            text=True,
            timeout=120,
            env={k: v for k, v in os.environ.items() if not k.startswith("BOTKIT_")},
        )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    hwm, rss, first, orders = line.split()[1:]
    sub = next(
        json.loads(x)["ts"]
        for x in out.stderr.splitlines()
        if "first subscription acknowledged" in x
    )
    return {
        "hwm_mb": int(hwm) / 1024,
        "rss_mb": int(rss) / 1024,
        "first_subscribe_runtime": float(first),
        "first_subscribe_process": sub - t0,
        "orders": float(orders),
    }


START_TARGET, RSS_TARGET = 0.5, 64.0


def live_rows(args: argparse.Namespace) -> None:
    """Item 4 of the module docstring: live children, interleaved spawn by spawn."""
    bots: list[tuple[str, str | None, str | None]] = [("this checkout", None, None)]
    bots += [(f"tree {p}", p, None) for p in args.bot_pythonpath]
    bots += [(f"this checkout, loop={n}", None, f'[bot]\nloop = "{n}"\n') for n in args.loop]
    books = (("50-level", False), ("30 000-level", True))
    bytecode = not args.no_bytecode_cache
    runs: dict[tuple[str, str], list[LiveRun]] = {(b[0], k[0]): [] for b in bots for k in books}
    with SimProcess() as sim:
        for _, path, config in bots:  # one spawn per tree first (not counted): bytecode cache
            run_live_bot(sim, 1.0, big=False, pythonpath=path, config=config, bytecode=bytecode)
        for _ in range(args.spawns):
            for label, path, config in bots:
                for book, big in books:
                    run = run_live_bot(
                        sim,
                        args.live_seconds,
                        big=big,
                        pythonpath=path,
                        config=config,
                        bytecode=bytecode,
                    )
                    runs[(label, book)].append(run)
    print(
        f"live bot (botkit run --mode live, botkit sim in another process), {args.spawns} "
        f"spawns each, {args.live_seconds:g} s per run, interleaved, "
        + ("bytecode cached (as installed):" if bytecode else "NO bytecode cache:")
    )
    for (label, book), xs in runs.items():
        starts = [x.first_subscribe for x in xs]
        peaks = [x.peak_mb for x in xs]
        print(
            f"  {label:34s} {book:12s} book: spawn -> first subscribe p50 "
            f"{statistics.median(starts):.3f} s ({min(starts):.3f}-{max(starts):.3f}), "
            f"peak RSS p50 {statistics.median(peaks):.1f} MB ({min(peaks):.1f}-{max(peaks):.1f})"
        )
    ours = runs[(bots[0][0], books[0][0])] + runs[(bots[0][0], books[1][0])]
    start = statistics.median(x.first_subscribe for x in ours)
    peak = statistics.median(x.peak_mb for x in runs[(bots[0][0], books[1][0])])
    print(
        f"  targets (this checkout): spawn -> first subscribe <= {START_TARGET} s: "
        f"{'met' if start <= START_TARGET else 'NOT met'} ({start:.3f} s, both books); "
        f"peak RSS <= {RSS_TARGET:.0f} MB with the big book: "
        f"{'met' if peak <= RSS_TARGET else 'NOT met'} ({peak:.1f} MB)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=20_000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument(
        "--parts", default="latency,sim,live", help="any of latency, sim, live (comma-separated)"
    )
    ap.add_argument("--spawns", type=int, default=5, help="live children per row")
    ap.add_argument("--live-seconds", type=float, default=5.0, help="--duration of a live child")
    ap.add_argument(
        "--bot-pythonpath", action="append", default=[], help="another botkit tree (live rows)"
    )
    ap.add_argument(
        "--loop", action="append", default=[], help="this checkout with [bot] loop = NAME"
    )
    ap.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="live children compile every module at every start (PYTHONDONTWRITEBYTECODE=1)",
    )
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if "latency" in parts:
        latency_rows(args)
    if "sim" in parts:
        for variant in ("small", "big", "big+http"):
            m = run_child(args.seconds, variant)
            print(
                f"botkit run (sim, {variant} book, {args.seconds:.0f} s): peak RSS "
                f"{m['hwm_mb']:.1f} MB, RSS at exit {m['rss_mb']:.1f} MB, first subscribe "
                f"{m['first_subscribe_runtime']:.3f} s after run() / "
                f"{m['first_subscribe_process']:.3f} s after spawn, orders {m['orders']:.0f}"
            )
    if "live" in parts:
        live_rows(args)


def latency_rows(args: argparse.Namespace) -> None:
    lat = tick_to_order(args.ticks)
    sdk50 = lat["sdk_p50"]
    print(f"tick-to-order ({args.ticks} ticks; one raw ES256 signature here: "
          f"p50 {lat['es256_p50']:.1f} us)")  # fmt: skip
    for name, label in (
        ("presigned", "botkit, pre-signed token (default)"),
        ("unmonitored", "the same via the runtime's counting sink"),
        ("monitored", "the same + the HTTP server's per-order work"),
        ("inline", "botkit, signed inline (presign=0)"),
        ("sdk", "official SDK way (json + jwt_generator)"),
    ):
        p50, p99 = lat[f"{name}_p50"], lat[f"{name}_p99"]
        ratio = "" if name == "sdk" else f"  speed-up p50 {sdk50 / p50:.2f}x"
        print(f"  {label:42s} p50 {p50:6.1f} us  p99 {p99:6.1f} us{ratio}")
    cost = lat["monitored_p50"] / lat["unmonitored_p50"] - 1
    print(f"  monitoring's cost on tick-to-order p50: {cost * 100:+.1f} % (goal: within 5 %)")


if __name__ == "__main__":
    main()
