"""Order placement: botkit (client, and executor with its journal) vs the official SDK's RESTClient.

Both talk to the same botkit simulator over TLS (the SDK forces https). The simulator runs in
a *separate process* (``botkit sim --tls``), so this process's CPU time is client time only:
``CPU/order`` is the client-side overhead per order (JSON, signing, HTTP, TLS, journal).

The simulator's REST rate limits (Coinbase's 30 requests/s per user) are turned OFF
(``botkit sim --no-rate-limits``) and botkit's client limiter is unlimited: this measures
client overhead at hundreds of orders per second, far above what Coinbase admits, so with
the limits on every row would read ~30 orders/s. The output says so.

Run:  .venv/bin/python bench/bench_orders.py [--orders 300] [--concurrency 16]

``--tick-to-order ROUNDS`` measures instead tick → order through the real executor (issue
Performance II, item 2): one ticker frame (JSON bytes) → ``FeedProtocol.receive`` →
``BotContext.dispatch`` → the strategy's ``on_ticker`` → risk → ``OrderExecutor.place`` →
the POST over TLS to the simulator → the answer read, echo checked, outcome journalled; the
time until ``place()`` returns (p50/p99, µs) and this process's CPU per order. Variants, one
order each per round, the starting variant rotating every round:

* journal, ``durability="overlap"`` (the default): intent committed without fsync, the
  fsync (``fdatasync`` of the WAL) on the journal thread while the POST is in flight;
* journal, ``overlap``, signed inline: the same with ``presign=0`` (the ES256 signature made
  on the path instead of taken from the pool of pre-signed tokens);
* journal, ``durability="before_send"``: intent fsynced on the journal thread before the POST;
* journal disabled: the same executor over an in-memory SQLite journal, ``synchronous=OFF``
  (the same code path, nothing written to disk, nothing fsynced);
* the REST client alone (``submit_order_body``, no executor): for scale.

``--summary FILE`` appends the summary rows (bench/_summary.py): p50 and p99 of the default
path (pre-signed) and of inline signing, and the journal's cost (``overlap`` p50 ÷ the
journal-disabled p50, target ≤ 1.3×).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial
from pathlib import Path

from _summary import Row, command_line, emit
from coinbase.rest import RESTClient

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.auth.keys import load_cdp_key
from botkit.net.ratelimit import RateLimiter
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, market_ioc
from botkit.orders.journal import OrderJournal
from botkit.risk.engine import RiskLimits
from botkit.risk.gate import RiskGate
from botkit.strategy.base import Strategy
from botkit.strategy.context import BotContext
from botkit.strategy.loader import create_strategy
from botkit.strategy.ports import ExecutorSink
from botkit.venues.advanced_trade.messages import Ticker
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol, Subscription

SIZE = Decimal("0.0001")


def start_sim() -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "botkit", "--env-file", os.devnull, "sim"),
            *("--tls", "--seed", "3", "--no-rate-limits"),  # see the module docstring
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    info: dict[str, str] = {}
    assert proc.stdout is not None
    while "BOTKIT_COINBASE__API_SECRET" not in info:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("simulator did not start")
        if "rate limits OFF" in line:
            info["rate_limits"] = "off"
        if m := re.search(r"TLS certificate .*: (\S+)", line):
            info["cert"] = m.group(1)
        if m := re.match(r'(BOTKIT_COINBASE__\w+)="?(.*?)"?$', line.strip()):
            info[m.group(1)] = m.group(2).replace("\\n", "\n")
    if info.get("rate_limits") != "off":
        proc.terminate()
        raise SystemExit("the simulator did not confirm --no-rate-limits; figures would be capped")
    return proc, info


def intent(tag: str, i: int) -> OrderIntent:
    side = "BUY" if i % 2 == 0 else "SELL"  # alternate so balances never run out
    return OrderIntent(f"{tag}-{i}", "BTC-USD", side, market_ioc(base_size=SIZE))  # type: ignore[arg-type]


async def _create(client: RestClient, tag: str, i: int) -> object:
    return await client.create_order(intent(tag, i))


async def _place(executor: OrderExecutor, tag: str, i: int) -> object:
    return await executor.place(intent(tag, i))


async def run_async(
    n: int, conc: int, place: Callable[[int], Awaitable[object]]
) -> tuple[float, float]:
    gate = asyncio.Semaphore(conc)

    async def one(i: int) -> None:
        async with gate:
            await place(i)

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0, time.process_time() - c0


def run_threads(n: int, conc: int, place: Callable[[int], object]) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    if conc == 1:
        for i in range(n):
            place(i)
    else:
        with ThreadPoolExecutor(conc) as pool:
            list(pool.map(place, range(n)))
    return time.perf_counter() - t0, time.process_time() - c0


async def bench(n: int, conc: int) -> list[tuple[str, int, float, float]]:
    proc, info = start_sim()
    rows: list[tuple[str, int, float, float]] = []
    try:
        url = info["BOTKIT_COINBASE__REST_URL"]
        key = load_cdp_key(info["BOTKIT_COINBASE__API_KEY"], info["BOTKIT_COINBASE__API_SECRET"])
        clock = SystemClock()
        signer = JwtSigner(key, clock=clock, nonce=lambda: os.urandom(16).hex())
        unlimited = RateLimiter(float("inf"), float("inf"))
        client = RestClient(url, signer, clock=clock, ca_file=info["cert"], limiter=unlimited)
        tmp = tempfile.TemporaryDirectory()
        executor = OrderExecutor(client, OrderJournal(Path(tmp.name) / "j.sqlite"))
        await executor.start()

        sdk = RESTClient(
            api_key=key.name,
            api_secret=info["BOTKIT_COINBASE__API_SECRET"],
            base_url=url.split("://", 1)[1].split("/", 1)[0],
            timeout=10,
        )
        sdk.session.verify = info["cert"]
        sdk.session.trust_env = False

        def sdk_place(tag: str) -> Callable[[int], object]:
            def place(i: int) -> object:
                it = intent(tag, i)
                fn = sdk.market_order_buy if it.side == "BUY" else sdk.market_order_sell
                r = fn(
                    client_order_id=it.client_order_id, product_id="BTC-USD", base_size=str(SIZE)
                )
                assert r["success"], r
                return r

            return place

        await client.server_time()  # warm the connection pool
        sdk.get_unix_time()
        for c in (1, conc):
            wall, cpu = await run_async(n, c, partial(_create, client, f"bc{c}"))
            rows.append(("botkit RestClient.create_order", c, wall, cpu))
            wall, cpu = await run_async(n, c, partial(_place, executor, f"be{c}"))
            rows.append(("botkit OrderExecutor.place (journal overlap)", c, wall, cpu))
            wall, cpu = await asyncio.to_thread(run_threads, n, c, sdk_place(f"sdk{c}"))
            rows.append(("SDK RESTClient (threads)", c, wall, cpu))
        await executor.close()
        await client.close()
        tmp.cleanup()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return rows


def ticker_frame(seq: int, price: str) -> bytes:
    ticker = {
        "type": "ticker", "product_id": "BTC-USD", "price": price, "volume_24_h": "1234.5",
        "low_24_h": "64000", "high_24_h": "66000", "low_52_w": "20000", "high_52_w": "74000",
        "price_percent_chg_24_h": "1.2", "best_bid": price, "best_bid_quantity": "0.5",
        "best_ask": str(Decimal(price) + Decimal("0.01")), "best_ask_quantity": "0.4",
    }  # fmt: skip
    return json.dumps(
        {
            "channel": "ticker", "client_id": "", "timestamp": "2024-01-01T00:00:00.000000Z",
            "sequence_num": seq, "events": [{"type": "update", "tickers": [ticker]}],
        }
    ).encode()  # fmt: skip


class Trader(Strategy):
    """One market IOC order per ticker, sides alternating (balances never run out)."""

    n = 0

    async def on_ticker(self, ticker: Ticker) -> None:
        self.n += 1
        if self.n % 2:
            await self.ctx.buy_market("BTC-USD", base_size=SIZE)
        else:
            await self.ctx.sell_market("BTC-USD", SIZE)


class ClientSink:
    """The REST client alone as the strategy's sink (no journal, no executor)."""

    def __init__(self, client: RestClient) -> None:
        self.client = client

    @property
    def native_exits(self) -> frozenset[str]:
        return self.client.native_exits

    async def place(self, it: OrderIntent) -> str:
        result = await self.client.submit_order_body(it.body(), client_order_id=it.client_order_id)
        assert result.success_response is not None
        return result.success_response.order_id

    async def cancel(self, order_id: str) -> bool:
        return True


TICK_VARIANTS = (
    "journal overlap",
    "journal overlap, inline",
    "journal before_send",
    "journal disabled",
    "client alone",
)


async def tick_to_order(rounds: int) -> dict[str, tuple[list[float], float]]:
    """Per variant: tick → placed latencies (µs) after warm-up, and CPU µs per order."""
    proc, info = start_sim()
    tmp = tempfile.TemporaryDirectory()
    try:
        url = info["BOTKIT_COINBASE__REST_URL"]
        key = load_cdp_key(info["BOTKIT_COINBASE__API_KEY"], info["BOTKIT_COINBASE__API_SECRET"])
        clock = SystemClock()
        signer = JwtSigner(key, clock=clock, nonce=lambda: os.urandom(16).hex())
        limits = RiskLimits(
            max_order_notional=Decimal("1000"),
            max_position=Decimal("1000"),
            price_band_pct=Decimal(5),
        )
        sub = (Subscription("ticker", ("BTC-USD",)),)
        clients, executors = [], []
        paths: dict[str, tuple[BotContext, FeedProtocol]] = {}
        for i, name in enumerate(TICK_VARIANTS):
            client = RestClient(
                url, signer, clock=clock, ca_file=info["cert"],
                limiter=RateLimiter(float("inf"), float("inf")),
                presign=0 if name.endswith("inline") else 4,
            )  # fmt: skip
            clients.append(client)
            sink: ClientSink | ExecutorSink
            if name == "client alone":
                client.start_presigning()
                sink = ClientSink(client)
            else:
                if name == "journal disabled":
                    journal = OrderJournal(":memory:", synchronous="OFF")
                else:
                    journal = OrderJournal(Path(tmp.name) / f"{i}.sqlite")
                executor = OrderExecutor(
                    client,
                    journal,
                    durability="before_send" if name.endswith("before_send") else "overlap",
                )
                await executor.start()
                executors.append(executor)
                sink = ExecutorSink(executor)
            ctx = BotContext(
                name,
                sink,
                clock=clock,
                risk=RiskGate(limits, None, wall=time.time),
            )
            create_strategy(Trader, ctx, {})
            await ctx.start()
            paths[name] = (ctx, FeedProtocol(f"market-{i}", sub, books={}))
            await client.server_time()  # warm the connection
        frames = [ticker_frame(i + 1, f"{65000 + (i % 50) * 0.5:.2f}") for i in range(rounds)]
        times: dict[str, list[float]] = {name: [] for name in TICK_VARIANTS}
        cpu = dict.fromkeys(TICK_VARIANTS, 0.0)
        order = list(TICK_VARIANTS)
        for r in range(rounds):
            k = r % len(order)  # rotate the starting variant: load drifts hit all alike
            for name in order[k:] + order[:k]:
                ctx, proto = paths[name]
                c0 = time.process_time()
                t0 = time.perf_counter_ns()
                for event in proto.receive(frames[r]):
                    await ctx.dispatch(event)
                times[name].append((time.perf_counter_ns() - t0) / 1000)
                cpu[name] += time.process_time() - c0
        for executor in executors:
            await executor.close()
        for client in clients:
            await client.close()
    finally:
        tmp.cleanup()
        proc.terminate()
        proc.wait(timeout=10)
    warm = max(1, rounds // 20)
    return {name: (xs[warm:], cpu[name] / rounds * 1e6) for name, xs in times.items()}


JOURNAL_X = 1.3
SIM = "botkit sim --tls --no-rate-limits in a separate process, over loopback TLS"


def print_tick_to_order(rounds: int, summary: str | None) -> None:
    res = asyncio.run(tick_to_order(rounds))
    print(
        f"tick -> order through the executor, {rounds} rounds (one order per variant per round, "
        "rotating start), simulator over TLS in a separate process, rate limits off"
    )
    print(
        f"{'variant':24} {'p50 µs':>8} {'p99 µs':>8} {'CPU µs/order':>13} {'p50 vs disabled':>16}"
    )
    base = statistics.median(res["journal disabled"][0])
    for name, (xs, cpu) in res.items():
        p50 = statistics.median(xs)
        p99 = sorted(xs)[min(len(xs) - 1, int(0.99 * len(xs)))]
        print(f"{name:24} {p50:>8.0f} {p99:>8.0f} {cpu:>13.0f} {p50 / base:>15.2f}x")
    cmd = command_line()
    rows = []
    for name, label in (("journal overlap", "pre-signed"), ("journal overlap, inline", "inline")):
        xs, cpu = res[name]
        p50 = statistics.median(xs)
        p99 = sorted(xs)[min(len(xs) - 1, int(0.99 * len(xs)))]
        rows.append(
            Row(
                f"orders.tick_to_order_{'presigned' if label == 'pre-signed' else 'inline'}",
                f"tick → order placed through the real executor and journal, {label} "
                "(p50/p99, reported)",
                f"p50 {p50:.0f} µs, p99 {p99:.0f} µs, CPU {cpu:.0f} µs/order",
                None,
                cmd,
                SIM,
                "the round trip to the simulator included",
            )
        )
    ratio = statistics.median(res["journal overlap"][0]) / base
    rows.append(
        Row(
            "orders.journal_ratio",
            f"tick → order through the real executor ≤ {JOURNAL_X:g}× the same path with the "
            "journal disabled (p50)",
            f"{ratio:.2f}× (overlap {statistics.median(res['journal overlap'][0]):.0f} µs vs "
            f"{base:.0f} µs in-memory synchronous=OFF)",
            ratio <= JOURNAL_X,
            cmd,
            "the same executor over an in-memory synchronous=OFF journal, same run",
        )
    )
    emit(rows, summary)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--tick-to-order", type=int, default=0, metavar="ROUNDS")
    ap.add_argument("--summary", metavar="FILE", help="append the summary rows (JSON lines)")
    args = ap.parse_args()
    if args.tick_to_order:
        print_tick_to_order(args.tick_to_order, args.summary)
        return
    rows = asyncio.run(bench(args.orders, args.concurrency))
    print(f"{args.orders} market orders per row, simulator over TLS in a separate process")
    print(
        "simulator REST rate limits: OFF (botkit sim --no-rate-limits); botkit client limiter: "
        "unlimited — client overhead only, far above Coinbase's 30 requests/s per user"
    )
    print(f"{'client':44} {'conc':>4} {'orders/s':>9} {'ms/order':>9} {'CPU ms/order':>13}")
    for name, c, wall, cpu in rows:
        n = args.orders
        print(f"{name:44} {c:>4} {n / wall:>9.0f} {wall / n * 1e3:>9.2f} {cpu / n * 1e3:>13.3f}")
    by = {(name.split()[0] + name.split()[1][:4], c): (wall, cpu) for name, c, wall, cpu in rows}
    for c in sorted({c for _, c, _, _ in rows}):
        sdk_wall, sdk_cpu = by[("SDKREST", c)]
        for label, k in (("RestClient", "botkitRest"), ("OrderExecutor", "botkitOrde")):
            wall, cpu = by[(k, c)]
            print(
                f"conc {c:>2}: botkit {label} vs SDK: {sdk_wall / wall:.2f}x orders/s, "
                f"{sdk_cpu / cpu:.2f}x less client CPU per order"
            )


if __name__ == "__main__":
    main()
