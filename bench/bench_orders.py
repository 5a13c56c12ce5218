"""Order placement: botkit (client, and executor with its journal) vs the official SDK's RESTClient.

Both talk to the same botkit simulator over TLS (the SDK forces https). The simulator runs in
a *separate process* (``botkit sim --tls``), so this process's CPU time is client time only:
``CPU/order`` is the client-side overhead per order (JSON, signing, HTTP, TLS, journal).

The simulator's REST rate limits (Coinbase's 30 requests/s per user) are turned OFF
(``botkit sim --no-rate-limits``) and botkit's client limiter is unlimited: this measures
client overhead at hundreds of orders per second, far above what Coinbase admits, so with
the limits on every row would read ~30 orders/s. The output says so.

Run:  .venv/bin/python bench/bench_orders.py [--orders 300] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from coinbase.rest import RESTClient

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.auth.keys import load_cdp_key
from botkit.net.ratelimit import RateLimiter
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, market_ioc
from botkit.orders.journal import OrderJournal
from botkit.venues.advanced_trade.rest_client import RestClient

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
            wall, cpu = await run_async(
                n, c, lambda i, c=c: client.create_order(intent(f"bc{c}", i))
            )
            rows.append(("botkit RestClient.create_order", c, wall, cpu))
            wall, cpu = await run_async(n, c, lambda i, c=c: executor.place(intent(f"be{c}", i)))
            rows.append(("botkit OrderExecutor.place (journal FULL)", c, wall, cpu))
            wall, cpu = await asyncio.to_thread(run_threads, n, c, sdk_place(f"sdk{c}"))
            rows.append(("SDK RESTClient (threads)", c, wall, cpu))
        await executor.close()
        await client.close()
        tmp.cleanup()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
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
