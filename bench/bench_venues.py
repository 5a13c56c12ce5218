"""Tick → signed order on Coinbase Exchange and Coinbase Prime: botkit vs each venue's reference client.

The path, the same for every variant: one ticker frame (JSON bytes, as received) → decoded →
a decision (side alternates; a limit IOC price 5 % through the top of the book from the
frame, so it fills) → a fresh uuid4 client id → the create-order request built, HMAC-signed
and sent → the venue's answer read. Two measures, interleaved in the same run:

1. **Loopback**: against botkit.sim's Exchange and Prime dialect servers, run in a
   *separate process* (``bench_venues.py --serve``: one process, both servers), so this
   process's CPU is client time only. Each round places one order with every variant, in
   a rotating order (round *r* starts with variant *r mod k*), so load drifts hit all
   variants alike. Wall time per order (p50/p99) and client CPU per order.
2. **No socket** (``--inproc``): the same client code with the network replaced by a canned
   answer (each client's own seam: botkit's Transport, a ccxt subclass overriding
   ``fetch`` — it still parses the canned JSON text —, a requests Session returning a
   prepared Response for the Prime SDK). This is the client's own overhead per order,
   without the simulator's share of the round trip; blocks of 200 orders, alternated.

Variants (competitors named as the house style does, by package and call):

* Exchange: botkit ``OrderExecutor.place`` (journal FULL, SQLite on its thread, as the
  runtime places) on ``ExchangeRestClient``; botkit ``ExchangeRestClient.submit_order_body``
  alone (no executor, no journal); **ccxt** ``async_support.coinbaseexchange.create_order``
  with ``{"clientOrderId": ..., "timeInForce": "IOC"}``, one instance reused, markets loaded
  once before, ``enableRateLimit`` off.
* Prime: botkit ``OrderExecutor.place`` on ``PrimeRestClient``; ``PrimeRestClient`` alone;
  the official **prime-sdk-py** (1.11.0, synchronous ``requests``)
  ``OrdersService.create_order``, one ``Client`` with one pooled ``requests.Session``
  reused, called **directly on this thread** (the loop is idle while it runs; a thread hop
  would only add to its figure).

Decoding the tick: botkit's Exchange variants use botkit's Exchange feed decoder (msgspec,
``venues.exchange.ws_messages.decode``); every other variant ``json.loads`` (botkit has no
Prime feed decoder yet). A few microseconds of a round trip of about a millisecond.

Limits: the Exchange and Prime dialect servers have **no rate limits** (none are
implemented), and botkit's client limiter is unlimited: this measures client overhead far
above what the venues admit (Exchange 15 requests/s per profile, Prime 25/s per portfolio).
Plain HTTP on loopback (the reference clients would use TLS live; so would botkit).

Run:  .venv/bin/python bench/bench_venues.py [--rounds 400] [--inproc 3000] [--summary FILE]

``--summary FILE``: one row per venue for docs/benchmarks.md (no target: the ratios
reference p50 ÷ botkit p50, client alone and through the executor, loopback and no socket).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import requests
from prime_sdk.client import Client as PrimeSdkClient
from prime_sdk.credentials import Credentials
from prime_sdk.services.orders import CreateOrderRequest, OrdersService
from pydantic import SecretStr

from botkit.auth.clock import SystemClock
from botkit.net.ratelimit import RateLimiter
from botkit.net.rest_types import RestRequest, RestResponse
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, limit_ioc
from botkit.orders.journal import OrderJournal
from botkit.venues.exchange import ws_messages
from botkit.venues.exchange.models import exchange_create_body
from botkit.venues.exchange.rest_client import ExchangeRestClient
from botkit.venues.exchange.settings import ExchangeVenueSettings
from botkit.venues.prime.models import prime_create_body
from botkit.venues.prime.rest_client import PrimeRestClient
from botkit.venues.prime.settings import PrimeVenueSettings

sys.path.insert(0, str(Path(__file__).parent))
from _summary import Row, add_summary_argument, command_line, emit, version  # noqa: E402

SIZE = Decimal("0.0001")
CENT = Decimal("0.01")
PRIME_PROD = "https://api.prime.coinbase.com/v1"
Place = Callable[[int, bytes], Awaitable[object]]


# -- the simulator process -------------------------------------------------------------------


async def serve() -> None:
    """Child mode: both dialect servers on loopback; print credentials; run until stdin closes."""
    from botkit.sim.exchange import SimMarketConfig
    from botkit.sim.exchange_rest import ExchangeSimServer
    from botkit.sim.prime_rest import PrimeSimServer

    market = SimMarketConfig(cancel_latency_steps=0)
    async with (
        ExchangeSimServer(seed=5, market=market) as ex,
        PrimeSimServer(seed=6, market=market) as prime,
    ):
        ek, pk = ex.add_key(), prime.add_key()
        info = {
            "exchange": {"url": ex.rest_url, "key": ek.key, "secret": ek.secret,
                         "passphrase": ek.passphrase, "profile": ek.profile_id},
            "prime": {"url": prime.rest_url, "access_key": pk.access_key,
                      "signing_key": pk.signing_key, "passphrase": pk.passphrase,
                      "portfolio": pk.portfolio_ids[0], "entity": pk.entity_id,
                      "svc": pk.svc_account_id},
        }  # fmt: skip
        print("READY " + json.dumps(info), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def start_sim() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit("the simulator process did not start")
    return proc, json.loads(line[6:])


# -- the tick and the decision (the same for every variant) -----------------------------------


def frames(n: int, bid: Decimal, ask: Decimal) -> list[bytes]:
    """Exchange ``ticker`` frames as received (bytes), one per order, sequence rising."""
    out = []
    for i in range(n):
        doc = {"type": "ticker", "sequence": 1000 + i, "product_id": "BTC-USD",
               "price": str(ask), "open_24h": str(bid), "volume_24h": "1234.5",
               "low_24h": str(bid), "high_24h": str(ask), "volume_30d": "40000.1",
               "best_bid": str(bid), "best_bid_size": "0.5", "best_ask": str(ask),
               "best_ask_size": "0.4", "side": "buy", "time": "2026-12-05T08:00:00.000000Z",
               "trade_id": 5000 + i, "last_size": "0.001"}  # fmt: skip
        out.append(json.dumps(doc).encode())
    return out


def decide(i: int, bid: Decimal, ask: Decimal) -> tuple[str, Decimal]:
    """Alternate sides (balances never run out); a limit 5 % through the top: it fills."""
    if i % 2 == 0:
        return "BUY", (ask * Decimal("1.05")).quantize(CENT, ROUND_UP)
    return "SELL", (bid * Decimal("0.95")).quantize(CENT, ROUND_DOWN)


def decide_json(i: int, frame: bytes) -> tuple[str, Decimal]:
    tick = json.loads(frame)
    return decide(i, Decimal(tick["best_bid"]), Decimal(tick["best_ask"]))


def decide_botkit(i: int, frame: bytes) -> tuple[str, Decimal]:
    tick = ws_messages.decode(frame)
    assert isinstance(tick, ws_messages.TickerFrame)
    assert tick.best_bid is not None and tick.best_ask is not None
    return decide(i, tick.best_bid, tick.best_ask)


# -- the variants ---------------------------------------------------------------------------


def botkit_exchange(info: dict[str, Any], **kw: Any) -> ExchangeRestClient:
    settings = ExchangeVenueSettings(
        api_key=info["key"],
        api_secret=SecretStr(info["secret"]),
        passphrase=SecretStr(info["passphrase"]),
        rest_url=info["url"],
    )
    unlimited = RateLimiter(float("inf"), float("inf"))
    return ExchangeRestClient.from_settings(settings, clock=SystemClock(), limiter=unlimited, **kw)


def botkit_prime(info: dict[str, Any], **kw: Any) -> PrimeRestClient:
    settings = PrimeVenueSettings(
        access_key=info["access_key"],
        signing_key=SecretStr(info["signing_key"]),
        passphrase=SecretStr(info["passphrase"]),
        portfolio_id=info["portfolio"],
        entity_id=info["entity"],
        service_account_id=info["svc"],
        rest_url=info["url"],
    )
    unlimited = RateLimiter(float("inf"), float("inf"))
    return PrimeRestClient.from_settings(settings, clock=SystemClock(), limiter=unlimited, **kw)


def ccxt_exchange(info: dict[str, Any], cls: type[Any] = ccxt_async.coinbaseexchange) -> Any:
    ex = cls(
        {
            "apiKey": info["key"],
            "secret": info["secret"],
            "password": info["passphrase"],
            "enableRateLimit": False,  # the sim has no limits; neither does botkit's limiter here
            "timeout": 10_000,
        }
    )
    ex.urls["api"] = {"public": info["url"], "private": info["url"]}
    return ex


class ToSim(requests.Session):
    """Sends the SDK's production URLs to the simulator (path, so signature, unchanged)."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.trust_env = False

    def request(self, method: str, url: str | bytes, *a: Any, **kw: Any) -> Any:
        assert isinstance(url, str)
        kw.setdefault("timeout", 10)
        return super().request(method, self.base + url[len(PRIME_PROD) :], *a, **kw)


class Canned(requests.Session):
    """No socket: every request answers the same prepared 200 (the SDK still parses it)."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

    def request(self, method: str, url: str | bytes, *a: Any, **kw: Any) -> Any:
        prepared = requests.Request(method, url, headers=kw.get("headers"),
                                    json=kw.get("json")).prepare()  # fmt: skip
        response = requests.Response()
        response.status_code, response._content = 200, self.body
        response.headers["Content-Type"] = "application/json"
        response.request, response.url = prepared, str(url)
        return response


def prime_sdk(info: dict[str, Any], session: requests.Session) -> OrdersService:
    creds = Credentials(
        access_key=info["access_key"],
        passphrase=info["passphrase"],
        signing_key=info["signing_key"],
        portfolio_id=info["portfolio"],
        entity_id=info["entity"],
        svc_account_id=info["svc"],
    )
    return OrdersService(PrimeSdkClient(creds, session))


class CannedTransport:
    """botkit's transport seam answering a prepared response (the client decodes it).

    An Exchange create answer echoes the request's ``client_oid`` and side (the executor
    checks the echo); ccxt's canned ``fetch`` does the same work.
    """

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.headers = {"content-type": "application/json"}

    async def send(self, request: RestRequest) -> RestResponse:
        return RestResponse(200, echo(self.body, request.body), self.headers)

    async def close(self) -> None:
        pass


def echo(answer: bytes, request: bytes | str | None) -> bytes:
    """``answer`` with the request's ``client_oid`` and ``side`` (Exchange answers echo them)."""
    if not request:
        return answer
    sent = json.loads(request)
    if "client_oid" not in sent:
        return answer
    doc = json.loads(answer)
    doc["client_oid"], doc["side"] = sent["client_oid"], sent["side"]
    return json.dumps(doc).encode()


def variants(
    ex_client: ExchangeRestClient,
    ex_exec: OrderExecutor,
    cx: Any,
    pr_client: PrimeRestClient,
    pr_exec: OrderExecutor,
    sdk: OrdersService,
    portfolio: str,
) -> dict[str, Place]:
    async def bk_ex_exec(i: int, frame: bytes) -> object:
        side, price = decide_botkit(i, frame)
        intent = OrderIntent(str(uuid.uuid4()), "BTC-USD", side, limit_ioc(SIZE, price))  # type: ignore[arg-type]
        return await ex_exec.place(intent)

    async def bk_ex_client(i: int, frame: bytes) -> object:
        side, price = decide_botkit(i, frame)
        coid = str(uuid.uuid4())
        intent = OrderIntent(coid, "BTC-USD", side, limit_ioc(SIZE, price))  # type: ignore[arg-type]
        result = await ex_client.submit_order_body(intent.body(), client_order_id=coid)
        assert result.success_response is not None
        return result

    async def ccxt_ex(i: int, frame: bytes) -> object:
        side, price = decide_json(i, frame)
        params = {"clientOrderId": str(uuid.uuid4()), "timeInForce": "IOC"}
        order = await cx.create_order(
            "BTC/USD", "limit", side.lower(), float(SIZE), float(price), params
        )
        assert order["id"]
        return order

    async def bk_pr_exec(i: int, frame: bytes) -> object:
        side, price = decide_json(i, frame)
        intent = OrderIntent(str(uuid.uuid4()), "BTC-USD", side, limit_ioc(SIZE, price))  # type: ignore[arg-type]
        return await pr_exec.place(intent)

    async def bk_pr_client(i: int, frame: bytes) -> object:
        side, price = decide_json(i, frame)
        coid = str(uuid.uuid4())
        intent = OrderIntent(coid, "BTC-USD", side, limit_ioc(SIZE, price))  # type: ignore[arg-type]
        result = await pr_client.submit_order_body(intent.body(), client_order_id=coid)
        assert result.success_response is not None
        return result

    async def sdk_pr(i: int, frame: bytes) -> object:
        side, price = decide_json(i, frame)
        answer = sdk.create_order(
            CreateOrderRequest(
                portfolio_id=portfolio,
                product_id="BTC-USD",
                side=side,
                client_order_id=str(uuid.uuid4()),
                type="LIMIT",
                base_quantity=str(SIZE),
                limit_price=str(price),
                time_in_force="IMMEDIATE_OR_CANCEL",
            )
        )
        assert answer.order_id
        return answer

    return {
        "exchange: botkit OrderExecutor.place (journal FULL)": bk_ex_exec,
        "exchange: botkit ExchangeRestClient (no executor)": bk_ex_client,
        "exchange: ccxt coinbaseexchange.create_order": ccxt_ex,
        "prime: botkit OrderExecutor.place (journal FULL)": bk_pr_exec,
        "prime: botkit PrimeRestClient (no executor)": bk_pr_client,
        "prime: prime-sdk-py create_order (direct, sync)": sdk_pr,
    }


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


async def loopback(
    info: dict[str, Any], rounds: int, warm: int
) -> dict[str, tuple[list[float], float]]:
    tmp = tempfile.TemporaryDirectory()
    try:
        ex_client = botkit_exchange(info["exchange"])
        ex_exec_client = botkit_exchange(info["exchange"])
        pr_client = botkit_prime(info["prime"])
        pr_exec_client = botkit_prime(info["prime"])
        ex_exec = OrderExecutor(ex_exec_client, OrderJournal(Path(tmp.name) / "ex.sqlite"))
        pr_exec = OrderExecutor(pr_exec_client, OrderJournal(Path(tmp.name) / "pr.sqlite"))
        await ex_exec.start()
        await pr_exec.start()
        cx = ccxt_exchange(info["exchange"])
        await cx.load_markets()
        sdk = prime_sdk(info["prime"], ToSim(info["prime"]["url"]))
        book = await ex_client.book("BTC-USD", level=1)
        bid, ask = book.bids[0][0], book.asks[0][0]
        ticks = frames(rounds + warm, Decimal(bid), Decimal(ask))
        paths = variants(
            ex_client, ex_exec, cx, pr_client, pr_exec, sdk, info["prime"]["portfolio"]
        )
        names = list(paths)
        wall: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, float] = dict.fromkeys(names, 0.0)
        for r in range(rounds + warm):
            for k in range(len(names)):
                name = names[(r + k) % len(names)]
                t0, c0 = time.perf_counter_ns(), time.process_time_ns()
                await paths[name](r, ticks[r])
                t1, c1 = time.perf_counter_ns(), time.process_time_ns()
                if r >= warm:
                    wall[name].append((t1 - t0) / 1000)
                    cpu[name] += (c1 - c0) / 1000
        await ex_exec.close()
        await pr_exec.close()
        for c in (ex_client, pr_client, ex_exec_client, pr_exec_client):
            await c.close()
        await cx.close()
        return {n: (wall[n], cpu[n] / rounds) for n in names}
    finally:
        tmp.cleanup()


async def canned_bodies(info: dict[str, Any]) -> dict[str, bytes]:
    """The simulator's real answers (create, products, currencies), for the no-socket run."""
    from botkit.net.rest_types import ApiCall

    out: dict[str, bytes] = {}
    async with botkit_exchange(info["exchange"]) as ex, botkit_prime(info["prime"]) as pr:
        top = await ex.book("BTC-USD", level=1)
        side, price = decide(0, Decimal(top.bids[0][0]), Decimal(top.asks[0][0]))
        intent = OrderIntent(str(uuid.uuid4()), "BTC-USD", "BUY", limit_ioc(SIZE, price))
        body = exchange_create_body(intent.body())
        out["ex_create"] = (await ex.call(ApiCall("POST", "/orders", body=body))).body
        for path in ("/products", "/currencies"):
            out[path] = (await ex.call(ApiCall("GET", path, private=False))).body
        body = prime_create_body(intent.body())
        call = ApiCall("POST", f"/portfolios/{pr.portfolio_id}/order", body=body)
        out["pr_create"] = (await pr.call(call)).body
    return out


async def no_socket(info: dict[str, Any], n: int) -> dict[str, tuple[list[float], float]]:
    """The same paths with the network replaced by each client's canned answer."""
    bodies = await canned_bodies(info)
    ex_answer, pr_answer = bodies["ex_create"], bodies["pr_create"]
    tmp = tempfile.TemporaryDirectory()
    try:
        ex_client = botkit_exchange(info["exchange"], transport=CannedTransport(ex_answer))
        pr_client = botkit_prime(info["prime"], transport=CannedTransport(pr_answer))
        ex_exec = OrderExecutor(
            botkit_exchange(info["exchange"], transport=CannedTransport(ex_answer)),
            OrderJournal(Path(tmp.name) / "ex.sqlite"),
        )
        pr_exec = OrderExecutor(
            botkit_prime(info["prime"], transport=CannedTransport(pr_answer)),
            OrderJournal(Path(tmp.name) / "pr.sqlite"),
        )
        await ex_exec.start()
        await pr_exec.start()

        class CannedCcxt(ccxt_async.coinbaseexchange):  # type: ignore[misc]
            async def fetch(self, url: str, method: str = "GET", headers: Any = None,
                            body: Any = None) -> Any:  # fmt: skip
                path = "/" + url.split("?")[0].rsplit("/", 1)[-1]
                text = bodies[path] if path in bodies else echo(ex_answer, body)
                return json.loads(text.decode())  # ccxt's fetch parses the text it receives

        cx = ccxt_exchange(info["exchange"], CannedCcxt)
        await cx.load_markets()
        sdk = prime_sdk(info["prime"], Canned(pr_answer))
        ticks = frames(n, Decimal("60000.00"), Decimal("60000.01"))
        paths = variants(
            ex_client, ex_exec, cx, pr_client, pr_exec, sdk, info["prime"]["portfolio"]
        )
        names = list(paths)
        wall: dict[str, list[float]] = {k: [] for k in names}
        cpu: dict[str, float] = dict.fromkeys(names, 0.0)
        block = 200
        for start in range(0, n, block):
            for name in names:
                for i in range(start, min(n, start + block)):
                    t0, c0 = time.perf_counter_ns(), time.process_time_ns()
                    await paths[name](i, ticks[i])
                    t1, c1 = time.perf_counter_ns(), time.process_time_ns()
                    wall[name].append((t1 - t0) / 1000)
                    cpu[name] += (c1 - c0) / 1000
        await ex_exec.close()
        await pr_exec.close()
        for c in (ex_client, pr_client, ex_exec.client, pr_exec.client):
            await c.close()  # type: ignore[attr-defined]
        await cx.close()
        warm = n // 10
        return {k: (wall[k][warm:], cpu[k] / n) for k in names}
    finally:
        tmp.cleanup()


def report(title: str, rows: dict[str, tuple[list[float], float]]) -> None:
    print(title)
    print(f"  {'variant':54} {'p50 us':>9} {'p99 us':>9} {'CPU us/order':>13}  reference ÷ this")
    ref = {"exchange": "exchange: ccxt", "prime": "prime: prime-sdk-py"}
    p50 = {name: statistics.median(xs) for name, (xs, _) in rows.items()}
    for name, (xs, cpu) in rows.items():
        venue = name.split(":")[0]
        competitor = next(n for n in rows if n.startswith(ref[venue]))
        ratio = "" if name == competitor else f"  {p50[competitor] / p50[name]:.2f}x p50"
        ratio += "" if name == competitor else f", {rows[competitor][1] / cpu:.2f}x CPU"
        print(f"  {name:54} {p50[name]:>9.0f} {pct(xs, 0.99):>9.0f} {cpu:>13.0f}{ratio}")


Results = dict[str, tuple[list[float], float]]


def summary_rows(loop: Results, inproc: Results | None, rounds: int, n: int) -> list[Row]:
    """One row per venue: the reference client's p50 ÷ botkit's, for botkit's client alone
    and through the executor, over loopback and (``inproc``) without a socket."""
    out = []
    for venue, ref, competitor in (
        (
            "exchange",
            "exchange: ccxt",
            f"ccxt {version('ccxt')} async_support.coinbaseexchange.create_order",
        ),
        (
            "prime",
            "prime: prime-sdk-py",
            f"prime-sdk-py {version('prime-sdk-py')} OrdersService.create_order (sync "
            "requests, called directly)",
        ),
    ):

        def ratios(rows: Results, venue: str = venue, ref: str = ref) -> tuple[float, float]:
            p50 = {name: statistics.median(xs) for name, (xs, _) in rows.items()}
            theirs = next(v for k, v in p50.items() if k.startswith(ref))
            alone = next(v for k, v in p50.items() if k.startswith(venue) and "no executor" in k)
            execu = next(v for k, v in p50.items() if k.startswith(venue) and "Executor" in k)
            return theirs / alone, theirs / execu

        a, e = ratios(loop)
        text = f"client alone {a:.2f}× the reference's p50 over loopback ({rounds} rotating rounds)"
        if inproc is not None:
            a2, e2 = ratios(inproc)
            text += f", {a2:.2f}× without the socket ({n} orders each)"
        text += f"; through the executor's journal {e:.2f}×"
        if inproc is not None:
            text += f" ({e2:.2f}× without the socket)"
        out.append(
            Row(
                key=f"venues.{venue}_vs_reference",
                target=f"{'Exchange' if venue == 'exchange' else 'Prime'}: tick → signed order "
                "vs the venue's reference client (venues; no target)",
                measured=text + " (> 1: botkit faster)",
                met=None,
                command=command_line(),
                competitor=competitor,
                note="ratio reported",
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--rounds", type=int, default=400, help="loopback rounds (one order per variant)"
    )
    ap.add_argument("--warm", type=int, default=20, help="loopback rounds left out of the figures")
    ap.add_argument("--inproc", type=int, default=3000, help="orders per variant without a socket")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    add_summary_argument(ap)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(serve())
        return
    print(
        "simulator rate limits: none (the Exchange and Prime dialect servers implement none); "
        "botkit client limiter unlimited; ccxt enableRateLimit=False — client overhead only, "
        "far above Exchange's 15/s and Prime's 25/s"
    )
    proc, info = start_sim()
    try:
        rows = asyncio.run(loopback(info, args.rounds, args.warm))
        report(
            f"loopback, {args.rounds} rounds (one limit IOC order per variant per round, "
            "rotating order), simulator in a separate process, plain HTTP; prime-sdk-py called "
            "directly:",
            rows,
        )
        inproc = None
        if args.inproc:
            inproc = asyncio.run(no_socket(info, args.inproc))
            report(
                f"no socket (the simulator's answers, canned), {args.inproc} orders per variant "
                "in blocks of 200, alternated; the first 10 % left out:",
                inproc,
            )
        emit(summary_rows(rows, inproc, args.rounds, args.inproc), args.summary)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
