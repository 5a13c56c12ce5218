"""The official prime-sdk-py (1.11.0, unmodified) trades on botkit.sim's Prime dialect over loopback.

The SDK builds every URL from a module constant (``https://api.prime.coinbase.com/v1``); it
takes a ``requests.Session``, so the test hands it one that sends those URLs to the
simulator instead (the path, and so the signature, is unchanged). Credentials are generated
per test; the SDK signs with its own HMAC code, independent of botkit's signer and of the
simulator's verifier.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import requests
from prime_sdk.client import Client
from prime_sdk.credentials import Credentials
from prime_sdk.exceptions import PrimeAPIError
from prime_sdk.services.balances import BalancesService, ListPortfolioBalancesRequest
from prime_sdk.services.orders import (
    CancelOrderRequest,
    CreateOrderRequest,
    GetOrderRequest,
    ListOpenOrdersRequest,
    ListOrderFillsRequest,
    ListOrdersRequest,
    OrdersService,
)
from prime_sdk.services.portfolios import (
    GetPortfolioRequest,
    ListPortfoliosRequest,
    PortfoliosService,
)
from prime_sdk.services.products import ListProductsRequest, ProductsService

from botkit.sim.exchange import SimMarketConfig
from botkit.sim.prime_auth import PrimeKey, expected_signature
from botkit.sim.prime_rest import PrimeSimServer
from botkit.sim.server import SimServer

PRIME = "https://api.prime.coinbase.com/v1"
run = asyncio.to_thread


class ToSim(requests.Session):
    """A requests session that sends Prime's production URLs to the simulator."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.trust_env = False  # no proxy from the environment for a loopback server

    def request(self, method: str, url: str | bytes, *a: Any, **kw: Any) -> Any:
        assert isinstance(url, str) and url.startswith(PRIME), url
        kw.setdefault("timeout", 10)
        return super().request(method, self.base + url[len(PRIME) :], *a, **kw)


def sdk(sim: PrimeSimServer, key: PrimeKey, **override: str) -> Client:
    creds = {
        "access_key": key.access_key,
        "passphrase": key.passphrase,
        "signing_key": key.signing_key,
        "portfolio_id": key.portfolio_ids[0],
        "entity_id": key.entity_id,
        "svc_account_id": key.svc_account_id,
    } | override
    session = ToSim(sim.rest_url)
    _SESSIONS.append(session)
    return Client(Credentials(**creds), session)


_SESSIONS: list[requests.Session] = []


@pytest.fixture(autouse=True)
def _close_sdk_sessions() -> Iterator[None]:
    """Close the SDK's pooled connections after each test (no unclosed-socket warnings)."""
    yield
    while _SESSIONS:
        _SESSIONS.pop().close()


@pytest.fixture
async def prime() -> AsyncIterator[PrimeSimServer]:
    # cancels take effect at once (the engine's default queues them for one market step,
    # during which Prime shows the order OPEN: a cancel is not guaranteed until done)
    market = SimMarketConfig(cancel_latency_steps=0)
    async with PrimeSimServer(seed=31, market=market, tick_interval=0.05) as server:
        yield server


def _dec(text: str | None) -> Decimal:
    return Decimal(text or "0")


async def test_sdk_portfolios_balances_products(prime: PrimeSimServer) -> None:
    key = prime.add_key(portfolio_name="Trading")
    c = sdk(prime, key)
    pid = key.portfolio_ids[0]
    listed = (await run(PortfoliosService(c).list_portfolios, ListPortfoliosRequest())).portfolios
    assert [(p.id, p.name, p.entity_id) for p in listed] == [(pid, "Trading", key.entity_id)]
    one = await run(PortfoliosService(c).get_portfolio, GetPortfolioRequest(portfolio_id=pid))
    assert one.portfolio.id == pid

    balances = await run(
        BalancesService(c).list_portfolio_balances,
        ListPortfolioBalancesRequest(portfolio_id=pid, symbols=["usd", "btc"]),
    )
    by_symbol = {b.symbol: b for b in balances.balances}
    assert set(by_symbol) == {"usd", "btc"}  # the filter works; ETH is left out
    assert _dec(by_symbol["usd"].amount) == 100_000 and _dec(by_symbol["usd"].holds) == 0

    products = await run(ProductsService(c).list_products, ListProductsRequest(portfolio_id=pid))
    ids = {p.id: p for p in products.products}
    assert set(ids) == {"BTC-USD", "ETH-USD"}
    assert _dec(ids["BTC-USD"].price_increment) > 0
    assert "PRODUCT_PERMISSION_TRADE" in (ids["BTC-USD"].permissions or [])


async def test_sdk_creates_gets_lists_cancels_and_reads_fills(prime: PrimeSimServer) -> None:
    key = prime.add_key()
    c = sdk(prime, key)
    pid = key.portfolio_ids[0]
    orders = OrdersService(c)

    market = await run(
        orders.create_order,
        CreateOrderRequest(
            portfolio_id=pid,
            product_id="BTC-USD",
            side="BUY",
            client_order_id="00000000-0000-4000-8000-0000000000a1",
            type="MARKET",
            base_quantity="0.01",
        ),
    )
    got = await run(orders.get_order, GetOrderRequest(portfolio_id=pid, order_id=market.order_id))
    assert got.order.status == "FILLED" and got.order.type == "MARKET"
    assert _dec(got.order.filled_quantity) == Decimal("0.01")
    assert _dec(got.order.commission) > 0 and got.order.client_order_id.endswith("a1")
    fills = await run(
        orders.list_order_fills,
        ListOrderFillsRequest(portfolio_id=pid, order_id=market.order_id),
    )
    assert sum(_dec(f.filled_quantity) for f in fills.fills) == Decimal("0.01")
    assert {f.side for f in fills.fills} == {"BUY"}

    limit = await run(
        orders.create_order,
        CreateOrderRequest(
            portfolio_id=pid,
            product_id="BTC-USD",
            side="BUY",
            client_order_id="00000000-0000-4000-8000-0000000000a2",
            type="LIMIT",
            base_quantity="0.002",
            limit_price="1000.00",  # far below the market: it rests
            time_in_force="GOOD_UNTIL_CANCELLED",
        ),
    )
    opened = await run(
        orders.list_open_orders,
        ListOpenOrdersRequest(portfolio_id=pid, product_ids=["BTC-USD"]),
    )
    assert [o.id for o in opened.orders] == [limit.order_id]
    assert opened.orders[0].status == "OPEN" and opened.orders[0].limit_price == "1000.00"
    balances = await run(
        BalancesService(c).list_portfolio_balances,
        ListPortfolioBalancesRequest(portfolio_id=pid, symbols=["usd"]),
    )
    assert _dec(balances.balances[0].holds) >= Decimal("2")  # 0.002 x 1000 reserved

    cancelled = await run(
        orders.cancel_order, CancelOrderRequest(portfolio_id=pid, order_id=limit.order_id)
    )
    assert cancelled.id == limit.order_id
    after = await run(orders.get_order, GetOrderRequest(portfolio_id=pid, order_id=limit.order_id))
    assert after.order.status == "CANCELLED"
    every = await run(
        orders.list_orders,
        ListOrdersRequest(portfolio_id=pid, order_statuses=["FILLED", "CANCELLED"]),
    )
    assert {o.id for o in every.orders} == {market.order_id, limit.order_id}
    assert every.pagination is not None and every.pagination.has_next is False


async def test_sdk_client_order_id_is_refused_only_while_active(prime: PrimeSimServer) -> None:
    key = prime.add_key()
    c = sdk(prime, key)
    pid = key.portfolio_ids[0]
    orders = OrdersService(c)

    def resting() -> CreateOrderRequest:
        return CreateOrderRequest(
            portfolio_id=pid,
            product_id="ETH-USD",
            side="SELL",
            client_order_id="same-id",
            type="LIMIT",
            base_quantity="0.1",
            limit_price="900000.00",
        )

    first = await run(orders.create_order, resting())
    with pytest.raises(PrimeAPIError) as refused:
        await run(orders.create_order, resting())
    assert refused.value.status_code == 400
    assert "duplicate client_order_id" in refused.value.message
    await run(orders.cancel_order, CancelOrderRequest(portfolio_id=pid, order_id=first.order_id))
    second = await run(orders.create_order, resting())  # done: the id is free again (Prime)
    assert second.order_id != first.order_id
    got = await run(orders.get_order, GetOrderRequest(portfolio_id=pid, order_id=second.order_id))
    assert got.order.client_order_id == "same-id" and got.order.status == "OPEN"


@pytest.mark.parametrize(
    ("override", "status", "message"),
    [
        ({"signing_key": "not-the-signing-key"}, 401, "invalid signature"),
        ({"passphrase": "wrong-passphrase"}, 401, "invalid passphrase"),
        ({"access_key": "unknown-key"}, 401, "invalid api key"),
    ],
)
async def test_sdk_is_refused_with_bad_credentials(
    prime: PrimeSimServer, override: dict[str, str], status: int, message: str
) -> None:
    key = prime.add_key()
    c = sdk(prime, key, **override)
    with pytest.raises(PrimeAPIError) as refused:
        await run(PortfoliosService(c).list_portfolios, ListPortfoliosRequest())
    assert (refused.value.status_code, refused.value.message) == (status, message)


async def _raw(
    sim: PrimeSimServer,
    client: Client,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    header_override: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One request signed by the SDK's own ``generate_headers``, sent raw to read the body."""
    headers = client.generate_headers(method, f"/v1{path}", body) | (header_override or {})
    data = json.dumps(body).encode() if body else b""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.request(method, sim.rest_url + path, data=data, headers=headers) as resp,
    ):
        return resp.status, await resp.json()


def _prime_error(body: dict[str, Any], code: str) -> str:
    assert set(body) == {"code", "message", "subcode", "trace_id"}, body
    assert body["code"] == code and body["trace_id"]
    return str(body["message"])


async def test_refusals_have_prime_status_and_body(prime: PrimeSimServer) -> None:
    key = prime.add_key()
    c = sdk(prime, key)
    status, body = await _raw(
        prime, c, "GET", "/portfolios", None, {"X-CB-ACCESS-SIGNATURE": "AAAA"}
    )
    assert status == 401 and _prime_error(body, "UNAUTHENTICATED") == "invalid signature"
    status, body = await _raw(prime, c, "GET", "/portfolios", None, {"X-CB-ACCESS-PASSPHRASE": "x"})
    assert status == 401 and _prime_error(body, "UNAUTHENTICATED") == "invalid passphrase"
    # a decimal timestamp ("Decimal values are not allowed")
    ts = c.generate_headers("GET", "/v1/portfolios")["X-CB-ACCESS-TIMESTAMP"]
    decimal = f"{ts}.5"
    sig = expected_signature(key.signing_key, decimal, "GET", "/v1/portfolios", b"")
    status, body = await _raw(
        prime, c, "GET", "/portfolios",
        None, {"X-CB-ACCESS-TIMESTAMP": decimal, "X-CB-ACCESS-SIGNATURE": sig},
    )  # fmt: skip
    assert status == 401 and "integer seconds" in _prime_error(body, "UNAUTHENTICATED")
    # the query string is not signed: a signature over the path alone is accepted with it
    status, body = await _raw(prime, c, "GET", f"/portfolios/{key.portfolio_ids[0]}/products")
    assert status == 200 and body["products"]


async def test_expired_timestamp_is_refused_outside_30s_only(prime: PrimeSimServer) -> None:
    key = prime.add_key()
    c = sdk(prime, key)
    prime.faults.clock_offset = 45.0  # the exchange's clock is 45 s ahead of ours
    status, body = await _raw(prime, c, "GET", "/portfolios")
    assert status == 401
    assert "timestamp expired" in _prime_error(body, "UNAUTHENTICATED")
    with pytest.raises(PrimeAPIError) as refused:
        await run(PortfoliosService(c).list_portfolios, ListPortfoliosRequest())
    assert refused.value.status_code == 401
    prime.faults.clock_offset = -20.0  # inside the window
    assert (await run(PortfoliosService(c).list_portfolios, ListPortfoliosRequest())).portfolios


async def test_missing_permission_and_foreign_portfolio_are_403(prime: PrimeSimServer) -> None:
    viewer = prime.add_key(can_trade=False)
    other = prime.add_key()
    c = sdk(prime, viewer)
    pid = viewer.portfolio_ids[0]
    order = {"product_id": "BTC-USD", "side": "BUY", "client_order_id": "x", "type": "MARKET",
             "base_quantity": "0.001"}  # fmt: skip
    status, body = await _raw(prime, c, "POST", f"/portfolios/{pid}/order", order)
    assert status == 403
    assert "trade permission" in _prime_error(body, "PERMISSION_DENIED")
    with pytest.raises(PrimeAPIError) as refused:
        await run(
            OrdersService(c).create_order,
            CreateOrderRequest(portfolio_id=pid, **order),
        )
    assert refused.value.status_code == 403
    # reading is allowed; another key's portfolio is not
    status, _ = await _raw(prime, c, "GET", f"/portfolios/{pid}/balances")
    assert status == 200
    status, body = await _raw(prime, c, "GET", f"/portfolios/{other.portfolio_ids[0]}/balances")
    assert status == 403 and "not authorized for portfolio" in _prime_error(
        body, "PERMISSION_DENIED"
    )
    assert prime.exchange.list_orders(pid, {}) == []  # nothing was placed


def test_verifier_matches_the_reference_vectors() -> None:
    """The simulator's verifier reproduces the vectors checked against prime-sdk-py (§2.5)."""
    key = "primeSigningKeyExample123"
    body = (
        b'{"product_id": "BTC-USD", "side": "BUY", "client_order_id": '
        b'"00000000-0000-4000-8000-000000000002", "type": "LIMIT", "base_quantity": "0.5", '
        b'"limit_price": "60000", "time_in_force": "GOOD_UNTIL_CANCELLED"}'
    )
    assert (
        expected_signature(key, "1733385600", "GET", "/v1/portfolios/pf-1/open_orders", b"")
        == "4B1dPufq4BADFbtuG1FxJlcCpmgw/cxxPrz8gMk+FaE="
    )
    assert (
        expected_signature(key, "1733385600", "POST", "/v1/portfolios/pf-1/order", body)
        == "bj39cTt90trj9nLeARsRZ5l4w93bekfCRmaZkrtubAY="
    )
    assert (
        expected_signature(
            key, "1733385600", "POST", "/v1/portfolios/pf-1/orders/ord-1/cancel", b""
        )
        == "efoK67HrVtACKCC+WIEOLXOOilj8oZwmFtrFoLmJl38="
    )


async def test_prime_dialect_trades_on_the_advanced_trade_market() -> None:
    """Sharing a SimServer's exchange: a Prime bid is the best bid Advanced Trade shows."""
    frozen = time.time()  # the market stands still (the SDK signs with the real clock)
    async with (
        SimServer(seed=32, tick_interval=0, clock=lambda: frozen) as at,
        PrimeSimServer.sharing(at, clock=lambda: frozen) as prime,
    ):
        key = prime.add_key()
        pid = key.portfolio_ids[0]
        bid, _ask = at.exchange.best_bid_ask("BTC-USD")
        assert bid is not None
        price = str(bid[0] + Decimal("0.01"))  # improves the best bid by one tick
        await run(
            OrdersService(sdk(prime, key)).create_order,
            CreateOrderRequest(portfolio_id=pid, product_id="BTC-USD", side="BUY",
                               client_order_id="shared", type="LIMIT", base_quantity="0.001",
                               limit_price=price, post_only=True),
        )  # fmt: skip
        url = f"{at.rest_url}/market/product_book?product_id=BTC-USD&limit=1"
        async with aiohttp.ClientSession() as s, s.get(url) as resp:
            book = (await resp.json())["pricebook"]
        assert Decimal(book["bids"][0]["price"]) == Decimal(price)
        assert Decimal(book["bids"][0]["size"]) == Decimal("0.001")
