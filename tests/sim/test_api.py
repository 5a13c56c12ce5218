"""SimApi is the one REST implementation: over HTTP and in-process, the same bytes come back.

The HTTP simulator (faults → JWT → scopes → SimApi) and a bare :class:`SimApi` over a
twin exchange (same seed, same start, same request times) are driven through one
script; every answer must match in status, ``Content-Type``, ``Allow`` and body bytes.
"""

from __future__ import annotations

import ast
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

import botkit.sim.api
import botkit.sim.rest_util
from botkit.auth.jwt import JwtSigner
from botkit.sim.api import BASE, FullScope, SimApi
from botkit.sim.exchange import SimExchange, SimMarketConfig
from botkit.sim.server import SimServer

T0 = 1_700_000_000.0
SEED = 5


class VClock:
    """A virtual clock shared by the server, the signer and the twin."""

    def __init__(self) -> None:
        self.t = T0

    def time(self) -> float:
        return self.t

    def __call__(self) -> float:
        return self.t


Both = Callable[..., Awaitable[tuple[int, Any]]]


@pytest.fixture
async def both() -> AsyncIterator[Both]:
    """Send one request to the HTTP simulator and to the twin router; assert equal answers."""
    clock = VClock()
    twin = SimApi(SimExchange(SimMarketConfig(), seed=SEED, start_time=T0))
    twin.exchange.add_user("default")
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        SimServer(seed=SEED, clock=clock, tick_interval=0) as sim,
        aiohttp.ClientSession(timeout=timeout) as session,
    ):
        signer = JwtSigner(sim.add_key("ES256"), clock=clock, nonce=secrets.token_hex)

        async def call(
            method: str, target: str, body: Any = None, raw: bytes | None = None
        ) -> tuple[int, Any]:
            clock.t += 0.25  # the market moves between requests, identically on both sides
            data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
            url = sim.rest_url + target
            headers = signer.sign(method, url, data)
            async with session.request(method, url, data=data, headers=headers) as r:
                http = (r.status, r.headers["Content-Type"], r.headers.get("Allow"), await r.read())
            parts = urlsplit(BASE + target)
            query: dict[str, list[str]] = {}
            for k, v in parse_qsl(parts.query, keep_blank_values=True):
                query.setdefault(k, []).append(v)
            answer = twin.handle(method, parts.path, query, data, "default", clock.t)
            twin.exchange.drain_events()  # as the server's publish() does
            local = (answer.status, answer.content_type, answer.headers.get("Allow"))
            assert http == (*local, answer.body_bytes()), f"{method} {target}"
            payload = answer.body if answer.is_text else json.loads(http[3])
            return http[0], payload

        yield call


def _order(coid: str, config: dict[str, Any], side: str = "BUY") -> dict[str, Any]:
    return {
        "client_order_id": coid,
        "product_id": "BTC-USD",
        "side": side,
        "order_configuration": config,
    }


def _limit(size: str, price: str, **kw: Any) -> dict[str, Any]:
    return {"limit_limit_gtc": {"base_size": size, "limit_price": price, **kw}}


async def test_market_data_and_accounts_are_identical(both: Both) -> None:
    pages, cursor = 0, ""
    while True:
        status, body = await both("GET", f"/accounts?limit=1&cursor={cursor}")
        assert status == 200 and body["size"] == 1
        pages, cursor = pages + 1, body["cursor"]
        if not body["has_next"]:
            break
    assert pages >= 3
    _, first = await both("GET", "/accounts")
    await both("GET", f"/accounts/{first['accounts'][0]['uuid']}")
    assert (await both("GET", "/accounts/not-a-uuid"))[0] == 404
    for target in (
        "/time",
        "/products",
        "/products?product_ids=ETH-USD",
        "/products?limit=1&offset=1",
        "/market/products/ETH-USD",
        "/products/BTC-USD",
        "/product_book?product_id=BTC-USD&limit=4",
        "/market/product_book?product_id=ETH-USD",
        f"/products/BTC-USD/candles?start={int(T0) - 3600}&end={int(T0)}&granularity=FIVE_MINUTE",
        "/market/products/ETH-USD/ticker?limit=3",
        "/transaction_summary",
        "/key_permissions",
    ):
        status, _ = await both("GET", target)
        assert status == 200, target
    status, body = await both("GET", "/best_bid_ask?product_ids=ETH-USD&product_ids=BTC-USD", {})
    assert status == 200 and [b["product_id"] for b in body["pricebooks"]] == ["ETH-USD", "BTC-USD"]


async def test_errors_are_identical(both: Both) -> None:
    cases = [
        ("GET", "/product_book", 400),
        ("GET", "/accounts?limit=0", 400),
        ("GET", "/accounts?limit=x", 400),
        ("GET", "/products/DOGE-USD", 404),
        ("GET", "/best_bid_ask?product_ids=NOPE", 404),
        ("GET", "/products/BTC-USD/candles?start=1&end=2&granularity=TEN_YEARS", 400),
        ("GET", f"/products/BTC-USD/candles?start=0&end={int(T0)}&granularity=ONE_DAY", 400),
        ("GET", "/products/BTC-USD/ticker", 400),
        ("GET", "/orders/historical/00000000-0000-4000-8000-000000000000", 404),
        ("GET", "/orders/historical/batch?order_status=OPEN&order_status=FILLED", 400),
        ("GET", "/no_such_route", 404),
        ("GET", "/accounts/", 404),
        ("POST", "/accounts", 405),
        ("GET", "/orders", 405),
        ("DELETE", "/orders/historical/batch", 405),
    ]
    for method, target, expected in cases:
        status, body = await both(method, target)
        assert status == expected, (method, target, body)
        if status in (400, 404) and isinstance(body, dict):
            assert set(body) == {"error", "error_details", "message"}
    # the >350-candles 400 names the error code as ``error`` (it once had them swapped)
    _, body = await both(
        "GET", f"/products/BTC-USD/candles?start=0&end={int(T0)}&granularity=ONE_DAY"
    )
    assert body["error"] == "INVALID_ARGUMENT" and "350" in body["message"]
    for raw in (b"{not json", b"[1]", b"{}"):
        status, body = await both("POST", "/orders", raw=raw)
        assert status == 400 and body["error"] == "INVALID_ARGUMENT"
    status, body = await both("POST", "/orders/batch_cancel", {"order_ids": "x"})
    assert status == 400


async def test_order_lifecycle_is_identical(both: Both) -> None:
    _, book = await both("GET", "/product_book?product_id=BTC-USD&limit=1")
    bid = float(book["pricebook"]["bids"][0]["price"])
    ask = float(book["pricebook"]["asks"][0]["price"])
    low, high = f"{bid * 0.95:.2f}", f"{ask * 1.05:.2f}"

    _, market = await both(
        "POST", "/orders", _order("m1", {"market_market_ioc": {"quote_size": "50"}})
    )
    assert market["success"] is True
    _, limit = await both("POST", "/orders", _order("l1", _limit("0.001", low)))
    _, again = await both("POST", "/orders", _order("l1", _limit("0.001", low)))
    limit_id = limit["success_response"]["order_id"]
    assert again["success_response"]["order_id"] == limit_id  # idempotent client_order_id
    _, post_only = await both(
        "POST", "/orders", _order("po", _limit("0.001", high, post_only=True))
    )
    assert post_only["success"] is False  # would cross: business failure, HTTP 200
    _, fok = await both(
        "POST",
        "/orders",
        _order("fok", {"limit_limit_fok": {"base_size": "0.001", "limit_price": high}}),
    )
    assert fok["success"] is True
    status, tiny = await both("POST", "/orders", _order("tiny", _limit("0.0000001", low)))
    assert status == 200 and tiny["success"] is False
    await both("POST", "/orders/preview", _order("pv", {"market_market_ioc": {"quote_size": "10"}}))
    _, edit = await both(
        "POST", "/orders/edit", {"order_id": limit_id, "price": low, "size": "0.0008"}
    )
    assert edit["success"] is True
    await both(
        "POST", "/orders/edit_preview", {"order_id": limit_id, "price": low, "size": "0.0005"}
    )
    await both("GET", f"/orders/historical/{limit_id}")

    for target in (
        "/orders/historical/batch",
        "/orders/historical/batch?order_status=OPEN",
        "/orders/historical/batch?order_status=FILLED&order_status=CANCELLED&order_side=BUY",
        "/orders/historical/batch?product_ids=BTC-USD&limit=2",
        f"/orders/historical/batch?start_date=2023-11-14T22:13:00Z&order_ids={limit_id}",
        "/orders/historical/fills",
        "/orders/historical/fills?limit=1",
        f"/orders/historical/fills?order_ids={market['success_response']['order_id']}",
    ):
        status, _ = await both("GET", target)
        assert status == 200, target
    _, page = await both("GET", "/orders/historical/batch?limit=2")
    assert page["has_next"] is True and page["cursor"] and not page["cursor"].isdigit()
    status, second = await both("GET", f"/orders/historical/batch?limit=2&cursor={page['cursor']}")
    assert status == 200 and second["orders"]
    assert {o["order_id"] for o in second["orders"]}.isdisjoint(
        o["order_id"] for o in page["orders"]
    )
    _, fills = await both("GET", "/orders/historical/fills?limit=1")
    status, _ = await both("GET", f"/orders/historical/fills?limit=1&cursor={fills['cursor']}")
    assert status == 200

    _, cancel = await both("POST", "/orders/batch_cancel", {"order_ids": [limit_id, "nope"]})
    assert [r["success"] for r in cancel["results"]] == [True, False]
    await both("GET", f"/orders/historical/{limit_id}")
    _, open_after = await both("GET", "/orders/historical/batch?order_status=OPEN")
    assert limit_id not in [o["order_id"] for o in open_after["orders"]]
    _, accounts = await both("GET", "/accounts")
    assert accounts["accounts"]


def test_key_permissions_report_the_scope_given() -> None:
    api = SimApi(SimExchange(SimMarketConfig(), seed=1, start_time=T0))
    api.exchange.add_user("u")
    path = f"{BASE}/key_permissions"
    full = api.handle("GET", path, {}, b"", "u", T0).body
    assert full["can_view"] and full["can_trade"] and not full["can_transfer"]
    view_only = api.handle("GET", path, {}, b"", "u", T0, scope=FullScope(can_trade=False)).body
    assert view_only["can_trade"] is False


def test_time_reports_the_injected_server_clock() -> None:
    exchange = SimExchange(SimMarketConfig(), seed=1, start_time=T0)
    skewed = SimApi(exchange, now=lambda: T0 + 300)
    assert skewed.handle("GET", f"{BASE}/time", {}, b"", "", T0 + 1).body["epochSeconds"] == str(
        int(T0 + 300)
    )
    plain = SimApi(exchange)
    assert plain.handle("GET", f"{BASE}/time", {}, b"", "", T0 + 1).body["epochSeconds"] == str(
        int(T0 + 1)
    )


@pytest.mark.parametrize("module", [botkit.sim.api, botkit.sim.rest_util])
def test_router_imports_no_http_stack_clock_or_io(module: Any) -> None:
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {
        (n.module or "").split(".")[0] if isinstance(n, ast.ImportFrom) else a.name.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    banned = {"aiohttp", "asyncio", "time", "socket", "os", "secrets", "random", "threading"}
    assert not imported & banned
