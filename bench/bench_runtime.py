"""Runtime benchmarks: tick-to-order latency vs the official SDK, RSS, time to first subscribe.

1. **Tick-to-order through the real executor**: one ticker frame (JSON bytes, as received) →
   decode (``FeedProtocol.receive``) → ``BotContext.dispatch`` → the strategy's
   ``on_ticker`` (through the guard) → ``buy_limit`` → risk check → order tracking →
   ``ExecutorSink`` → the real ``OrderExecutor.place`` (its placement task, the intent
   written to its on-disk SQLite journal, ``durability="overlap"``: committed without an
   fsync, fsynced while the request is in flight) → the real ``RestClient`` (retry
   controller, rate limiter set to unlimited, the request built and signed) → the request
   handed to the transport. The transport is injected through the client's one seam
   (:class:`BenchTransport`, a ``Transport``): it stamps ``perf_counter_ns`` when the
   request reaches it — the headline figure ends there, where the socket write would
   start — and answers a canned Coinbase create-order success, so the whole ``place()``
   (answer decoded, echo checked, the fsync awaited, the outcome journalled, back to the
   strategy) is reported too, with this process's CPU time over it. Two botkit figures:

   * **pre-signed** (the default): the request takes a single-use token signed earlier
     (``PresignedTokens``); the replacement is signed by a loop callback once the order
     has been answered, as live (outside the headline window, inside ``place()``);
   * **inline**: ``presign=0``, the ES256 signature is made on the path.

   Two more run the pre-signed path through the runtime's ``CountingSink``, without and
   with the HTTP server's per-order work (the monitoring's cost). The SDK's way of doing
   the same: ``json.loads`` of the frame, the same decision, ``json.dumps`` of the order
   body and ``jwt_generator.build_rest_jwt`` (its best idiom; it stops at the signed
   token, no journal, no risk, no tracking). All run in this process, interleaved round
   by round (one tick each per round, the starting variant rotating), with the same key.
   The SDK way runs twice per round, in the cycle SDK, pre-signed, counting sink,
   monitored, SDK, inline: each headline botkit variant starts after the SDK's work and
   the SDK way after botkit's (what ran just before sets the caches a path starts with:
   on this box the SDK way takes ~2x longer interleaved than back to back).
   ``--summary FILE`` appends the rows of the issue's targets (bench/_summary.py).
   ``--parts stages`` (not in the default run) splits the pre-signed path into three
   stages with an injected :class:`StampingSink`, cold (after the SDK way's work) and warm.
   ``--parts cadence`` runs the same interleaved comparison with the process idle for
   ``--cadence-ms`` (10) before every timed tick, botkit's and the SDK way's alike (the
   sleep is outside the timing): a live bot waits for its next frame between ticks, and
   after such a wait both paths run with cold caches (~2.5x slower on this box), which
   the back-to-back rounds above never see. Its rows are the figure a user's bot shows.
   ``--parts idle`` (not in the default run) times a few steps that are not botkit's code
   (nothing, ``json.loads`` of the frame, a 250-byte ``pwrite``, an ES256 signature) back
   to back and after the same idle: the machine's own slowdown, for scale.
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

Run:  .venv/bin/python bench/bench_runtime.py [--ticks 20000] [--parts latency,cadence,sim,live]
      [--cadence-ms 10] [--cadence-ticks 500] [--summary FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from _summary import Row, command_line, emit
from coinbase import jwt_generator
from live_bot import LiveRun, SimProcess, run_live_bot

from botkit.auth.clock import SystemClock
from botkit.auth.factory import generate_cdp_key
from botkit.auth.jwt import JwtSigner
from botkit.auth.keys import secret_to_pem
from botkit.market.events import OrderUpdate
from botkit.monitor.bot_view import BotView
from botkit.monitor.metrics import BotMetrics
from botkit.net.ratelimit import RateLimiter
from botkit.net.rest_types import RestRequest, RestResponse
from botkit.orders.executor import OrderExecutor
from botkit.orders.journal import OrderJournal
from botkit.risk.engine import RiskLimits
from botkit.risk.gate import RiskGate
from botkit.runtime.collector import freeze_after_start, thaw
from botkit.runtime.dispatch import CountingSink
from botkit.runtime.ui import RunStats
from botkit.strategy.base import Strategy
from botkit.strategy.context import BotContext
from botkit.strategy.loader import create_strategy
from botkit.strategy.ports import ExecutorSink, OrderSink
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


class BenchTransport:
    """The REST client's transport seam (:class:`botkit.net.transport.Transport`) for the
    benchmark: stamps ``time.perf_counter_ns()`` the moment a request reaches it (the end
    of the measured tick → order path: the next step is the socket write) and answers a
    canned Coinbase create-order success echoing the body's id, product and side, as the
    exchange does. Injected through ``RestClient(transport=...)``: nothing of botkit is
    patched, the executor, its journal and the client run as they do live."""

    def __init__(self) -> None:
        self.sent_ns = 0
        self.requests = 0
        self._n = 0

    async def send(self, request: RestRequest) -> RestResponse:
        self.sent_ns = time.perf_counter_ns()
        self.requests += 1
        self._n += 1
        doc = _decode_body(request.body)
        oid = f"00000000-0000-4000-8000-{self._n:012d}"
        answer = {
            "success": True,
            "failure_reason": "UNKNOWN_FAILURE_REASON",
            "order_id": oid,
            "success_response": {
                "order_id": oid,
                "product_id": doc["product_id"],
                "side": doc["side"],
                "client_order_id": doc["client_order_id"],
            },
            "order_configuration": doc["order_configuration"],
        }
        return RestResponse(200, _encode_json(answer), _HEADERS)

    async def close(self) -> None:
        return None


_decode_body = msgspec.json.Decoder().decode
_encode_json = msgspec.json.Encoder().encode
_HEADERS = {"content-type": "application/json; charset=utf-8"}


class _Wall:
    def wall(self) -> float:
        return time.time()


LIMITS = RiskLimits(
    max_order_notional=Decimal("1000"), max_position=Decimal("1000"), price_band_pct=Decimal(5)
)


async def make_ctx(sink: OrderSink) -> BotContext:
    ctx = BotContext(
        "bench", sink, clock=SystemClock(), risk=RiskGate(LIMITS, None, wall=time.time)
    )
    create_strategy(Bidder, ctx, {})
    await ctx.start()
    return ctx


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


# botkit's variants, each with its own executor, journal, client and transport
VARIANTS = {
    "presigned": "botkit, pre-signed token (default)",
    "unmonitored": "the same via the runtime's counting sink",
    "monitored": "the same + the HTTP server's per-order work",
    "inline": "botkit, signed inline (presign=0)",
}


class _Path:
    """One botkit variant: the real executor (on-disk journal, ``durability="overlap"``)
    over the real REST client over a :class:`BenchTransport`, and its own feed protocol."""

    def __init__(self, name: str, signer: JwtSigner, data: Path, metrics: BotMetrics) -> None:
        self.name = name
        self.transport = BenchTransport()
        self.client = RestClient(
            BASE,
            signer,
            transport=self.transport,
            presign=0 if name == "inline" else 4,
            limiter=RateLimiter(float("inf"), float("inf")),  # the bench's rate: not Coinbase's
        )
        self.executor = OrderExecutor(self.client, OrderJournal(data / f"{name}.sqlite"))
        self.sink: OrderSink
        if name in ("unmonitored", "monitored"):
            self.sink = CountingSink(
                self.executor,
                RunStats(),
                [],
                on_latency=metrics.observe_order_latency if name == "monitored" else None,
            )
        else:
            self.sink = ExecutorSink(self.executor)
        self.proto = FeedProtocol(
            f"market-{name}", (Subscription("ticker", ("BTC-USD",)),), books={}
        )
        self.ctx: BotContext | None = None
        self.sent: list[float] = []  # tick frame -> request handed to the transport, us
        self.whole: list[float] = []  # tick frame -> place() returned to the strategy, us
        self.cpu: list[float] = []  # this process's CPU over the whole path, us

    async def start(self) -> None:
        await self.executor.start()
        self.ctx = await make_ctx(self.sink)

    async def close(self) -> None:
        await self.executor.close()
        await self.client.close()


async def tick_to_order_async(n: int, gap: float = 0.0) -> dict[str, float]:
    key = generate_cdp_key("ES256")
    pem = secret_to_pem(key.private_key)
    signer = JwtSigner(key, clock=SystemClock(), nonce=secrets.token_hex)
    frames = [frame(i + 1, f"{65000 + (i % 50) * 0.5:.2f}") for i in range(n)]
    metrics = BotMetrics(lambda: None, process=False)  # type: ignore[arg-type,return-value]
    view = BotView(_Wall(), venue="bench")  # type: ignore[arg-type]
    sdk_times: list[float] = []
    sdk_cpu: list[float] = []

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

    with tempfile.TemporaryDirectory() as tmp:
        paths = [_Path(name, signer, Path(tmp), metrics) for name in VARIANTS]
        for p in paths:
            await p.start()
        await asyncio.sleep(0.05)  # the token pools fill (loop callbacks), as after start-up
        # None: the SDK way, twice per round, so that each headline variant (pre-signed,
        # inline) runs right after the SDK way and the SDK way right after botkit: the
        # order is cyclic, and what ran just before sets the caches a path starts with
        by_name = {p.name: p for p in paths}
        pre, unmon, mon, inl = (
            by_name[k] for k in ("presigned", "unmonitored", "monitored", "inline")
        )
        order: list[_Path | None] = [None, pre, unmon, mon, None, inl]
        freeze_after_start()  # as the runtime does once started ([bot] gc_freeze, default)
        pauses = GcPauses()
        gc.callbacks.append(pauses)
        for r in range(n):
            k = r % len(order)  # rotate the starting variant: load drifts hit all alike
            for p in order[k:] + order[:k]:
                data = frames[r]
                if gap:  # idle, as a live bot between frames (not timed)
                    await asyncio.sleep(gap)
                if p is None:
                    c0 = time.process_time_ns()
                    t0 = time.perf_counter_ns()
                    sdk_way(data)
                    t1 = time.perf_counter_ns()
                    sdk_times.append((t1 - t0) / 1000)
                    sdk_cpu.append((time.process_time_ns() - c0) / 1000)
                    continue
                if r % 4 == 0:  # a fresh context: at most 4 open orders, as under max_open_orders=4
                    p.ctx = await make_ctx(p.sink)
                ctx = p.ctx
                assert ctx is not None
                count = view.on_event if p.name == "monitored" else None
                sent = p.transport.requests
                c0 = time.process_time_ns()
                t0 = time.perf_counter_ns()
                for event in p.proto.receive(data):
                    if count is not None:
                        count(event)  # the runtime's feed callback counts for /metrics
                    await ctx.dispatch(event)
                t1 = time.perf_counter_ns()
                p.cpu.append((time.process_time_ns() - c0) / 1000)
                assert p.transport.requests == sent + 1, "one order per tick"
                p.sent.append((p.transport.sent_ns - t0) / 1000)
                p.whole.append((t1 - t0) / 1000)
                # the user channel's word that the order is done (as live: a bot's orders
                # end), outside the timing: the executor's order table stays a live one
                coid = next(reversed(ctx._mine))
                placed = ctx.orders.get(coid)
                assert placed is not None
                p.executor.on_order_update(_cancelled(coid, placed.order_id))
                await asyncio.sleep(0)  # what else the loop had to do (pre-signing) runs now
        gc.callbacks.remove(pauses)
        thaw()
        for p in paths:
            await p.close()
    for p in paths:
        for pool in p.client.presigned.values():
            assert pool.taken == n and pool.misses == 0, "every pre-signed order must use a token"
    warm = n // 10
    result: dict[str, float] = {}
    for p in paths:
        for label, xs in (("", p.sent), ("_whole", p.whole), ("_cpu", p.cpu)):
            result[f"{p.name}{label}_p50"] = statistics.median(xs[warm:])
            result[f"{p.name}{label}_p99"] = pct(xs[warm:], 0.99)
            result[f"{p.name}{label}_p999"] = pct(xs[warm:], 0.999)
    for gen, us in pauses.done.items():  # the collector's pauses in the interleaved rounds
        result[f"gc{gen}_n"] = len(us)
        result[f"gc{gen}_p50"] = statistics.median(us) if us else 0.0
        result[f"gc{gen}_max"] = max(us, default=0.0)
    result["sdk_p50"] = statistics.median(sdk_times[2 * warm :])
    result["sdk_p99"] = pct(sdk_times[2 * warm :], 0.99)
    result["sdk_p999"] = pct(sdk_times[2 * warm :], 0.999)
    result["sdk_cpu_p50"] = statistics.median(sdk_cpu[2 * warm :])
    # for scale only (not a ratio): the SDK way back to back, caches warm from its own work
    alone = []
    for data in frames[: min(n, 2000)]:
        t0 = time.perf_counter_ns()
        sdk_way(data)
        alone.append((time.perf_counter_ns() - t0) / 1000)
    result["sdk_alone_p50"] = statistics.median(alone[len(alone) // 10 :])
    result["es256_p50"] = es256_cost(key)
    return result


class GcPauses:
    """A ``gc.callbacks`` entry: how long each collection of each generation took (µs).
    Why: the p99.9 of tick -> order is the cyclic collector's, not botkit's path (a
    generation-1 collection takes ~0.9 ms here, the rare full one tens of ms)."""

    def __init__(self) -> None:
        self.done: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._start = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
        else:
            self.done[info["generation"]].append((time.perf_counter_ns() - self._start) / 1000)


def _cancelled(coid: str, order_id: str) -> OrderUpdate:
    zero = Decimal(0)
    return OrderUpdate(
        order_id, coid, "BTC-USD", "BUY", "LIMIT", "CANCELLED", zero, zero, zero, zero, False
    )


def tick_to_order(n: int, gap: float = 0.0) -> dict[str, float]:
    return asyncio.run(tick_to_order_async(n, gap))


class StampingSink:
    """An :class:`OrderSink` (injected, as every sink is) that stamps ``perf_counter_ns``
    when the strategy's order reaches it, then hands it to the executor's sink: where the
    pre-signed path's time goes, with no part of botkit patched (``--parts stages``)."""

    def __init__(self, inner: ExecutorSink) -> None:
        self._inner = inner
        self.at_ns = 0

    @property
    def native_exits(self) -> frozenset[str]:
        return self._inner.native_exits

    async def place(self, intent: Any) -> str:
        self.at_ns = time.perf_counter_ns()
        return await self._inner.place(intent)

    def __getattr__(self, name: str) -> Any:  # cancel, resolve, ...: the executor's sink's
        return getattr(self._inner, name)


async def stages_async(n: int, gap: float = 0.0) -> dict[str, list[float]]:
    """The pre-signed path in three stages, each round once after the SDK way (cold caches,
    as the headline runs it) and once straight after itself (warm): frame → events
    (``FeedProtocol.receive``), events → the order at the sink (dispatch, the guard, the
    hook, ``buy_limit``: amounts, risk, tracking), sink → transport (the executor's task,
    the intent log, the client: token, headers, request). ``gap`` > 0: a third round in
    each cycle starts after the process idled ``gap`` seconds (as a live bot between frames).
    """
    key = generate_cdp_key("ES256")
    pem = secret_to_pem(key.private_key)
    signer = JwtSigner(key, clock=SystemClock(), nonce=secrets.token_hex)
    cycle = 3 if gap else 2
    frames = [frame(i + 1, f"{65000 + (i % 50) * 0.5:.2f}") for i in range(cycle * n)]
    metrics = BotMetrics(lambda: None, process=False)  # type: ignore[arg-type,return-value]
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        p = _Path("presigned", signer, Path(tmp), metrics)
        stamp = StampingSink(ExecutorSink(p.executor))
        p.sink = stamp  # type: ignore[assignment]
        await p.start()
        await asyncio.sleep(0.05)
        uri = jwt_generator.format_jwt_uri("POST", PATH)
        for r in range(cycle * n):
            cold, idle = r % cycle == 0, r % cycle == 2
            if idle:
                await asyncio.sleep(gap)
            if cold:  # what the headline's rounds run before a botkit variant
                assert jwt_generator.build_rest_jwt(uri, key.name, pem)
                json.dumps(json.loads(frames[r]))
            if r % 4 == 0:
                p.ctx = await make_ctx(p.sink)
            ctx = p.ctx
            assert ctx is not None
            t0 = time.perf_counter_ns()
            events = p.proto.receive(frames[r])
            t1 = time.perf_counter_ns()
            for event in events:
                await ctx.dispatch(event)
            label = "cold" if cold else ("idle" if idle else "warm")
            for stage, us in (
                ("receive", (t1 - t0) / 1000),
                ("to_sink", (stamp.at_ns - t1) / 1000),
                ("to_transport", (p.transport.sent_ns - stamp.at_ns) / 1000),
                ("total", (p.transport.sent_ns - t0) / 1000),
            ):
                out.setdefault(f"{label}_{stage}", []).append(us)
            coid = next(reversed(ctx._mine))
            placed = ctx.orders.get(coid)
            assert placed is not None
            p.executor.on_order_update(_cancelled(coid, placed.order_id))
            await asyncio.sleep(0)
        await p.close()
    return out


def stage_rows(args: argparse.Namespace) -> None:
    out = asyncio.run(stages_async(args.ticks, args.cadence_ms / 1000))
    warm = args.ticks // 10
    print(f"tick -> order, pre-signed, by stage (p50 us of {args.ticks} rounds each; cold: right"
          " after the SDK way's work, as the headline runs; warm: right after itself; idle:"
          f" after {args.cadence_ms:g} ms idle, as a live bot)")  # fmt: skip
    print(f"  {'stage':58s} {'cold':>7} {'warm':>7} {'idle':>7}")
    for stage, label in (
        ("receive", "frame -> events (FeedProtocol.receive)"),
        ("to_sink", "events -> order at the sink (dispatch, hook, risk, tracking)"),
        ("to_transport", "sink -> transport (executor task, intent log, client)"),
        ("total", "total (the headline's window)"),
    ):
        cold = statistics.median(out[f"cold_{stage}"][warm:])
        hot = statistics.median(out[f"warm_{stage}"][warm:])
        idle = statistics.median(out[f"idle_{stage}"][warm:]) if args.cadence_ms else 0.0
        print(f"  {label:58s} {cold:7.1f} {hot:7.1f} {idle:7.1f}")


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


def idle_floor(gap: float, n: int = 300) -> dict[str, tuple[float, float]]:
    """(back to back, after ``gap`` s idle) p50 µs of small steps of the path that are
    not botkit's code: what the machine itself costs once the process has waited (cold
    caches, a vCPU woken up), for scale against the cadence rows."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = generate_cdp_key("ES256").private_key
    algo = ec.ECDSA(hashes.SHA256())
    data = frame(1, "65000.00")
    body = secrets.token_bytes(250)
    token = secrets.token_bytes(330)
    steps: dict[str, Callable[[], object]] = {
        "two perf_counter_ns() calls (nothing)": lambda: None,
        "json.loads of the ticker frame": lambda: json.loads(data),
        "msgspec.json.decode of the ticker frame": lambda: _decode_body(data),
        "os.pwrite of 250 bytes to a file (page cache)": lambda: os.pwrite(fd, body, 0),
        "one raw ES256 signature": lambda: key.sign(token, algo),
    }
    out: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        fd = os.open(Path(tmp) / "f", os.O_RDWR | os.O_CREAT)
        try:
            samples: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in steps}
            for i in range(2 * n):
                idle = i % 2 == 1
                for name, step in steps.items():
                    if idle:
                        time.sleep(gap)
                    else:  # back to back: the step's third run in a row is timed
                        step()
                        step()
                    t0 = time.perf_counter_ns()
                    step()
                    samples[name][idle].append((time.perf_counter_ns() - t0) / 1000)
            for name, (hot, cold) in samples.items():
                out[name] = (statistics.median(hot), statistics.median(cold))
        finally:
            os.close(fd)
    return out


def idle_rows(args: argparse.Namespace) -> None:
    gap_ms = args.cadence_ms
    floor = idle_floor(gap_ms / 1000)
    print(f"steps that are not botkit's, p50 us: back to back, and after {gap_ms:g} ms idle")
    print(f"  {'step':48s} {'hot':>7} {'idle':>7} {'x':>6}")
    for name, (hot, cold) in floor.items():
        print(f"  {name:48s} {hot:7.1f} {cold:7.1f} {cold / max(hot, 1e-9):5.1f}x")


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
    s50, s30k = (
        statistics.median(x.first_subscribe for x in runs[(bots[0][0], b[0])]) for b in books
    )
    emit(
        [
            Row(
                "runtime.live_spawn_to_subscribe",
                f"live bot: process spawn → first subscribe ≤ {START_TARGET:g} s (Performance II)",
                f"{start:.3f} s p50 of {len(ours)} spawns ({s50:.3f} s with the 50-level book, "
                f"{s30k:.3f} s with the 30 000-level one); "
                + ("bytecode cached, as installed" if bytecode else "no bytecode cache"),
                start <= START_TARGET,
                command_line(),
                "-",
                "the memory row is bench_memory.py's (same children)",
            )
        ],
        args.summary,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=20_000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument(
        "--cadence-ms", type=float, default=10.0, help="idle before each tick (--parts cadence)"
    )
    ap.add_argument("--cadence-ticks", type=int, default=500, help="rounds (--parts cadence)")
    ap.add_argument(
        "--parts",
        default="latency,cadence,sim,live",
        help="any of latency, cadence, idle, stages, sim, live (comma-separated)",
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
    ap.add_argument("--summary", metavar="FILE", help="append the summary rows (JSON lines)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if "latency" in parts:
        latency_rows(args)
    if "cadence" in parts:
        cadence_rows(args)
    if "idle" in parts:
        idle_rows(args)
    if "stages" in parts:
        stage_rows(args)
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


P50_TARGET, P99_TARGET, PRESIGNED_X, INLINE_X = 30.0, 80.0, 3.0, 2.0
SDK = "the official SDK way in the same run: json.loads, json.dumps, jwt_generator.build_rest_jwt"


def print_latency(lat: dict[str, float], rounds: int, gap_ms: float = 0.0) -> None:
    """The tick -> order table of one :func:`tick_to_order` run."""
    idle = f"{gap_ms:g} ms idle before each tick" if gap_ms else "back to back"
    print(
        f"tick -> order through the real executor (journal on disk, durability=overlap) and "
        f"RestClient, to the request handed to the transport; {rounds} rounds, one tick "
        f"per variant per round, rotating start, {idle}; one raw ES256 signature here: p50 "
        f"{lat['es256_p50']:.1f} us"
    )
    print(
        f"  {'variant':44s} {'p50 us':>7} {'p99 us':>7} {'vs SDK':>7} {'place() p50':>12} "
        f"{'p99':>6} {'CPU us p50':>11}"
    )
    sdk50 = lat["sdk_p50"]
    for name, label in (*VARIANTS.items(), ("sdk", "official SDK way (json + jwt_generator)")):
        p50, p99 = lat[f"{name}_p50"], lat[f"{name}_p99"]
        ratio = f"{sdk50 / p50:6.2f}x"
        if name == "sdk":
            whole = f"{'-':>12} {'-':>6}"
        else:
            whole = f"{lat[f'{name}_whole_p50']:12.1f} {lat[f'{name}_whole_p99']:6.0f}"
        print(
            f"  {label:44s} {p50:7.1f} {p99:7.1f} {ratio:>7} {whole} {lat[f'{name}_cpu_p50']:11.1f}"
        )
    p999 = ", ".join(f"{name} {lat[f'{name}_p999']:.0f}" for name in (*VARIANTS, "sdk"))
    gcs = ", ".join(
        f"gen{g} {lat[f'gc{g}_n']:.0f}x (p50 {lat[f'gc{g}_p50']:.0f}, max {lat[f'gc{g}_max']:.0f})"
        for g in (0, 1, 2)
    )
    print(f"  p99.9 us: {p999}; the cyclic collector during the rounds, us: {gcs}")
    print(
        f"  (for scale: the SDK way back to back, not interleaved, caches warm from its own "
        f"work: p50 {lat['sdk_alone_p50']:.1f} us; every ratio above is from the interleaved run)"
    )


def cadence_rows(args: argparse.Namespace) -> None:
    """Tick -> order with the process idle before every tick (see the module docstring)."""
    gap_ms = args.cadence_ms
    lat = tick_to_order(args.cadence_ticks, gap_ms / 1000)
    print_latency(lat, args.cadence_ticks, gap_ms)
    sdk50, pre50, inl50 = lat["sdk_p50"], lat["presigned_p50"], lat["inline_p50"]
    cmd = command_line()
    at = f"at a {gap_ms:g} ms tick cadence (idle between ticks, as a live bot)"
    note = (
        f"the same rounds back to back are ~2.5x faster for both (the latency part); raw "
        f"ES256 {lat['es256_p50']:.0f} µs"
    )
    emit(
        [
            Row(
                "tick_to_order.cadence_presigned_vs_sdk",
                f"tick → order {at}, pre-signed: ≥ {PRESIGNED_X:g}× the SDK way (p50)",
                f"{sdk50 / pre50:.2f}× ({pre50:.1f} vs {sdk50:.1f} µs; p99 "
                f"{lat['presigned_p99']:.0f} vs {lat['sdk_p99']:.0f})",
                sdk50 / pre50 >= PRESIGNED_X,
                cmd,
                SDK,
                note,
            ),
            Row(
                "tick_to_order.cadence_inline_vs_sdk",
                f"tick → order {at}, signing inline: ≥ {INLINE_X:g}× the SDK way (p50)",
                f"{sdk50 / inl50:.2f}× ({inl50:.1f} vs {sdk50:.1f} µs; p99 "
                f"{lat['inline_p99']:.0f})",
                sdk50 / inl50 >= INLINE_X,
                cmd,
                SDK,
                note,
            ),
        ],
        args.summary,
    )


def latency_rows(args: argparse.Namespace) -> None:
    lat = tick_to_order(args.ticks)
    sdk50 = lat["sdk_p50"]
    print_latency(lat, args.ticks)
    cost = lat["monitored_whole_p50"] / lat["unmonitored_whole_p50"] - 1
    print(f"  monitoring's cost on the whole place() p50: {cost * 100:+.1f} % (goal: within 5 %)")
    pre50, pre99, inl50 = lat["presigned_p50"], lat["presigned_p99"], lat["inline_p50"]
    cmd = command_line()
    note = (
        f"raw ES256 {lat['es256_p50']:.0f} µs on this run; the SDK way back to back "
        f"(not interleaved, warm) {lat['sdk_alone_p50']:.0f} µs"
    )
    emit(
        [
            Row(
                "tick_to_order.presigned_p50",
                f"tick → order through the real executor, pre-signed: p50 ≤ {P50_TARGET:g} µs",
                f"{pre50:.1f} µs (place() returns at {lat['presigned_whole_p50']:.0f} µs)",
                pre50 <= P50_TARGET,
                cmd,
                SDK,
                note,
            ),
            Row(
                "tick_to_order.presigned_p99",
                f"tick → order through the real executor, pre-signed: p99 ≤ {P99_TARGET:g} µs",
                f"{pre99:.1f} µs",
                pre99 <= P99_TARGET,
                cmd,
                SDK,
                note,
            ),
            Row(
                "tick_to_order.presigned_vs_sdk",
                f"tick → order, pre-signed: ≥ {PRESIGNED_X:g}× the SDK way (p50)",
                f"{sdk50 / pre50:.2f}× ({pre50:.1f} vs {sdk50:.1f} µs)",
                sdk50 / pre50 >= PRESIGNED_X,
                cmd,
                SDK,
                note,
            ),
            Row(
                "tick_to_order.inline_vs_sdk",
                f"tick → order, signing inline: ≥ {INLINE_X:g}× the SDK way (p50)",
                f"{sdk50 / inl50:.2f}× ({inl50:.1f} vs {sdk50:.1f} µs; p99 {lat['inline_p99']:.0f})",
                sdk50 / inl50 >= INLINE_X,
                cmd,
                SDK,
                note,
            ),
        ],
        args.summary,
    )


if __name__ == "__main__":
    main()
