"""asyncio's event loop vs uvloop on botkit's two loop-bound paths (issue 19 item 6).

Run:  .venv/bin/python bench/bench_loop.py [--rounds 5] [--ticks 1000] [--steps 5000]
          [--summary FILE]

``[bot] loop = "uvloop"`` is opt-in; it becomes the default only if it helps on both paths.
Both variants run in this process, one ``asyncio.Runner`` each, interleaved round by round
(asyncio, uvloop, asyncio, ...) so that load on a shared box hits them alike. The servers
run in separate processes on loopback, on asyncio's loop in every round.

1. **Feed throughput**: ``bench_feed.py``'s recorded level2 stream (``--steps`` market
   steps), served as fast as the socket takes it; botkit's ``MarketDataFeed`` (aiohttp
   connector, compiled decoder and book) from the end of the snapshot to the last frame.
   Messages per second of wall time and of the loop thread's CPU time.
2. **Tick -> order over sockets**: a ticker frame sent by the server on a WebSocket →
   botkit's ``MarketDataFeed`` → an event queue and a driver task (the runtime's hop to
   the strategy) → ``BotContext.dispatch`` → the strategy's ``buy_limit`` (risk gate) →
   ``RestClient.create_order`` (pre-signed JWT, aiohttp; its client-side rate limit off,
   or it would set the pace at one tick per ms) → the POST reaching the server.
   The server times it, send → request handler (both in its process, one clock), then
   sends the next tick 1 ms after answering. The executor's journal is not on this path
   (bench_orders.py measures it); everything that waits on the loop is.

``--summary FILE``: the summary row of docs/benchmarks.md (met while the shipped default
agrees with the verdict: asyncio's loop unless uvloop helps on both paths).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import secrets
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from botkit.auth.clock import SystemClock
from botkit.auth.factory import generate_cdp_key
from botkit.auth.jwt import JwtSigner
from botkit.market.config import FeedConfig
from botkit.market.events import FeedEvent
from botkit.market.feed import MarketDataFeed
from botkit.net.ratelimit import RateLimiter
from botkit.orders.intents import OrderIntent
from botkit.risk.engine import RiskLimits
from botkit.risk.gate import RiskGate
from botkit.runtime.api import loop_factory
from botkit.strategy.context import BotContext
from botkit.strategy.loader import create_strategy
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol

sys.path.insert(0, str(Path(__file__).parent))
import bench_feed  # noqa: E402
from _summary import Row, add_summary_argument, command_line, emit, version  # noqa: E402
from bench_runtime import Bidder, frame, pct  # noqa: E402

LOOPS = ("asyncio", "uvloop")


# -- 2. tick -> order: the server (separate process) ------------------------------------------


def tick_server(ticks: int, port_q: Any, result_q: Any) -> None:
    """One WebSocket (ticker) + POST /orders; per connection: ``ticks`` round trips timed."""
    posted = asyncio.Event()
    stamp = [0]

    async def orders(request: web.Request) -> web.Response:
        stamp[0] = time.perf_counter_ns()  # the request has arrived (headers parsed)
        body = await request.json()
        posted.set()
        return web.json_response(
            {
                "success": True,
                "success_response": {
                    "order_id": secrets.token_hex(8),
                    "product_id": "BTC-USD",
                    "side": "BUY",
                    "client_order_id": body["client_order_id"],
                },
            }
        )

    async def pump(ws: web.WebSocketResponse) -> None:
        lat: list[float] = []
        for i in range(ticks):
            posted.clear()
            text = frame(i + 1, f"{65000 + (i % 50) * 0.5:.2f}").decode()
            t0 = time.perf_counter_ns()
            await ws.send_str(text)
            await asyncio.wait_for(posted.wait(), 30)
            lat.append((stamp[0] - t0) / 1000)
            if len(lat) == ticks:  # before the client hangs up, which cancels this task
                result_q.put(lat)
            await asyncio.sleep(0.001)

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        task: asyncio.Task[None] | None = None
        async for msg in ws:
            data = json.loads(msg.data)
            if data.get("type") == "subscribe" and data.get("channel") == "ticker":
                task = asyncio.create_task(pump(ws))
        if task is not None:
            task.cancel()
        return ws

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/", handle)
        app.router.add_post("/api/v3/brokerage/orders", orders)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_q.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


# -- 2. tick -> order: botkit's side -----------------------------------------------------------


class _ClientSink:
    """Orders straight to the venue's REST client (no journal; see the module docstring)."""

    def __init__(self, client: RestClient) -> None:
        self.client = client
        self.placed = 0
        self.done = asyncio.Event()
        self.target = 0

    async def place(self, intent: OrderIntent) -> str:
        result = await self.client.create_order(intent)
        self.placed += 1
        if self.placed >= self.target:
            self.done.set()
        assert result.success_response is not None
        return result.success_response.order_id

    async def cancel(self, order_id: str) -> bool:
        return True


async def tick_client(port: int, ticks: int) -> None:
    signer = JwtSigner(generate_cdp_key("ES256"), clock=SystemClock(), nonce=secrets.token_hex)
    url = f"http://127.0.0.1:{port}/api/v3/brokerage"
    # the client-side rate limit off: at one tick per ms it, not the loop, would set the pace
    unlimited = RateLimiter(private_rate=float("inf"))
    client = RestClient(url, signer, presign=4, limiter=unlimited)
    sink = _ClientSink(client)
    sink.target = ticks
    limits = RiskLimits(
        max_order_notional=Decimal("1000"), max_position=Decimal("1000"), price_band_pct=Decimal(5)
    )
    ctx = BotContext(
        "bench", sink, clock=SystemClock(), risk=RiskGate(limits, None, wall=time.time)
    )
    create_strategy(Bidder, ctx, {})
    await ctx.start()
    queue: asyncio.Queue[FeedEvent] = asyncio.Queue()

    async def drive() -> None:  # the runtime's hop: feed callback -> buffer -> driver task
        while True:
            await ctx.dispatch(await queue.get())

    config = FeedConfig(
        market_url=f"ws://127.0.0.1:{port}",
        products=("BTC-USD",),
        channels=("ticker",),
        stale_after=60,
    )
    feed = MarketDataFeed(config, protocol=FeedProtocol, on_event=queue.put_nowait)
    driver = asyncio.create_task(drive())
    await feed.start()
    try:
        await asyncio.wait_for(sink.done.wait(), 120)
    finally:
        driver.cancel()
        await feed.stop()
        await client.close()


def run_on(loop: str, coro: Any) -> Any:
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(coro)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ticks", type=int, default=1000, help="tick -> order round trips per run")
    ap.add_argument("--steps", type=int, default=5000, help="bench_feed stream: market steps")
    ap.add_argument("--levels", type=int, default=2500, help="bench_feed stream: levels per side")
    add_summary_argument(ap)
    args = ap.parse_args()
    path = Path(f"/tmp/botkit-bench-l2-{args.steps}-{args.levels}.jsonl.gz")
    if not path.exists():
        bench_feed.record(path, args.steps, args.levels)
    frames = bench_feed.load(path)
    last_seq = json.loads(frames[-1])["sequence_num"]
    ctx = mp.get_context("fork")
    q1, q2, results = ctx.Queue(), ctx.Queue(), ctx.Queue()
    feed_server = ctx.Process(target=bench_feed.serve, args=(str(path), q1), daemon=True)
    tick = ctx.Process(target=tick_server, args=(args.ticks, q2, results), daemon=True)
    feed_server.start()
    tick.start()
    feed_url = f"ws://127.0.0.1:{q1.get(timeout=60)}"
    tick_port = q2.get(timeout=60)
    feed: dict[str, list[tuple[float, float]]] = {x: [] for x in LOOPS}
    lat: dict[str, list[float]] = {x: [] for x in LOOPS}
    lat_p50: dict[str, list[float]] = {x: [] for x in LOOPS}
    try:
        for _ in range(args.rounds):
            for loop in LOOPS:
                feed[loop].append(
                    run_on(loop, bench_feed.run_botkit(feed_url, last_seq, "aiohttp"))
                )
                run_on(loop, tick_client(tick_port, args.ticks))
                xs = results.get(timeout=60)[args.ticks // 10 :]  # the first 10 %: warm-up
                lat[loop] += xs
                lat_p50[loop].append(statistics.median(xs))
    finally:
        feed_server.kill()
        tick.kill()
    n = len(frames) - 1
    print(f"Python {sys.version.split()[0]}, {args.rounds} interleaved rounds")
    print(f"1. feed throughput ({n} level2 frames after the snapshot, {path.name}):")
    for loop in LOOPS:
        wall = statistics.median(w for w, _ in feed[loop])
        cpu = statistics.median(c for _, c in feed[loop])
        each = ", ".join(f"{n / c / 1000:.0f}k" for _, c in feed[loop])
        print(
            f"   {loop:8s} {n / wall:9,.0f} msg/s wall   {n / cpu:9,.0f} msg/s CPU  "
            f"(per round, CPU: {each})"
        )
    ratio = [a[1] / b[1] for a, b in zip(feed["asyncio"], feed["uvloop"], strict=True)]
    ratio_w = [a[0] / b[0] for a, b in zip(feed["asyncio"], feed["uvloop"], strict=True)]
    print(
        f"   uvloop vs asyncio (median of per-round ratios): CPU {statistics.median(ratio):.3f}x, "
        f"wall {statistics.median(ratio_w):.3f}x (> 1: uvloop faster)"
    )
    print(f"2. tick -> order over sockets ({args.ticks} ticks per run, first 10 % dropped):")
    for loop in LOOPS:
        xs = lat[loop]
        print(
            f"   {loop:8s} p50 {statistics.median(xs):7.1f} us   p99 {pct(xs, 0.99):7.1f} us  "
            f"(per-round p50s: {', '.join(f'{x:.0f}' for x in lat_p50[loop])})"
        )
    r50 = [a / b for a, b in zip(lat_p50["asyncio"], lat_p50["uvloop"], strict=True)]
    print(f"   uvloop vs asyncio p50 (median of per-round ratios): {statistics.median(r50):.3f}x")
    helps = statistics.median(ratio) > 1 and statistics.median(r50) > 1
    print(f"verdict: uvloop {'helps' if helps else 'does NOT help'} on both paths")
    feed_x, tick_x = statistics.median(ratio), statistics.median(r50)
    emit(
        [
            Row(
                key="loop.uvloop",
                target="uvloop kept only if it helps feed and tick → order (Performance II)",
                measured=f"uvloop's speed-up over asyncio: feed CPU {feed_x:.3f}×, wall "
                f"{statistics.median(ratio_w):.3f}×; tick → order p50 {tick_x:.3f}× "
                f"(> 1: uvloop faster; medians of per-round ratios, {args.rounds} interleaved "
                "rounds)",
                # the shipped default is asyncio's loop, uvloop opt-in: right while it does not
                # help on both paths
                met=not helps,
                command=command_line(),
                competitor=f"uvloop {version('uvloop')} against asyncio's own loop, same code "
                "and servers",
                note="opt-in only, as decided"
                if not helps
                else "helps on both in this run: make it the default (or re-run)",
            )
        ],
        args.summary,
    )


if __name__ == "__main__":
    main()
