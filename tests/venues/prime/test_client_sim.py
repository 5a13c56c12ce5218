"""botkit's Prime client (and the executor on it) against botkit.sim's Prime dialect, over loopback.

Real sockets, generated credentials, botkit's own signer; the faults are the simulator's
fault plan (a reset after the order was accepted, a shifted server clock...).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from botkit.auth.clock import SystemClock
from botkit.errors import InvalidPassphrase, PermissionDenied
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, limit_gtc, market_ioc
from botkit.orders.journal import OrderJournal
from botkit.orders.venue_api import OrderVenue
from botkit.sim.exchange import SimMarketConfig
from botkit.sim.prime_auth import PrimeKey
from botkit.sim.prime_rest import PrimeSimServer
from botkit.venues.prime.rest_client import PrimeRestClient
from botkit.venues.prime.settings import PrimeVenueSettings

FAST = RetryPolicy().scaled(0.001)
Factory = Callable[..., PrimeRestClient]


@pytest.fixture
async def prime() -> AsyncIterator[PrimeSimServer]:
    market = SimMarketConfig(cancel_latency_steps=0)
    async with PrimeSimServer(seed=41, market=market, tick_interval=0.05) as server:
        yield server


@pytest.fixture
async def make_client(prime: PrimeSimServer) -> AsyncIterator[Factory]:
    clients: list[PrimeRestClient] = []

    def factory(key: PrimeKey, **kw: Any) -> PrimeRestClient:
        settings = PrimeVenueSettings(
            access_key=key.access_key,
            signing_key=SecretStr(key.signing_key),
            passphrase=SecretStr(kw.pop("passphrase", key.passphrase)),
            portfolio_id=key.portfolio_ids[0],
            entity_id=key.entity_id,
            service_account_id=key.svc_account_id,
            rest_url=prime.rest_url,
        )
        kw.setdefault("policy", FAST)
        kw.setdefault("rng", random.Random(5))
        kw.setdefault("limiter", RateLimiter(float("inf"), float("inf")))
        kw.setdefault("read_timeout", 5.0)
        client = PrimeRestClient.from_settings(settings, clock=kw.pop("clock", SystemClock()), **kw)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
def journal(tmp_path: Path) -> OrderJournal:
    return OrderJournal(tmp_path / "journal.sqlite")


def _orders_with(prime: PrimeSimServer, pid: str, coid: str) -> list[dict[str, Any]]:
    """The exchange's own record (not the client's view) of the orders with this client id."""
    return [o for o in prime.exchange.list_orders(pid, {}) if o["client_order_id"] == coid]


async def test_client_reads_portfolio_balances_products(
    prime: PrimeSimServer, make_client: Factory
) -> None:
    key = prime.add_key()
    client = make_client(key)
    venue: OrderVenue = client  # the protocol the executor types against
    assert venue.last_offset is None
    assert [p.id for p in await client.portfolios()] == list(key.portfolio_ids)
    balances = {b.currency: b for b in await client.balances()}
    assert balances["USD"].available == Decimal(100_000) and balances["BTC"].hold == 0
    products = {p.id: p for p in await client.products(limit=1)}  # two pages
    assert set(products) == {"BTC-USD", "ETH-USD"} and products["BTC-USD"].tradable


async def test_executor_places_looks_up_and_cancels(
    prime: PrimeSimServer, make_client: Factory, journal: OrderJournal
) -> None:
    key = prime.add_key()
    pid = key.portfolio_ids[0]
    client = make_client(key)
    ex = OrderExecutor(client, journal)
    intent = OrderIntent(
        "6f0d3c1e-8f9b-4c2a-9d1e-0a1b2c3d4e5f",
        "BTC-USD",
        "BUY",
        limit_gtc(Decimal("0.002"), Decimal("1000.00"), post_only=True),
    )
    placed = await ex.place(intent)
    assert placed.resolved_by == "response"
    order = await client.get_order(placed.order_id)
    assert (order.status, order.client_order_id, order.order_type) == (
        "OPEN",
        intent.client_order_id,
        "LIMIT",
    )
    assert order.order_configuration["limit_limit_gtc"]["limit_price"] == "1000.00"
    page = await client.list_orders(product_ids=["BTC-USD"], order_status=["OPEN"])
    assert [o.order_id for o in page.orders] == [placed.order_id]
    again = await ex.place(intent)  # a repeat is answered from the journal, not re-sent
    assert (again.order_id, again.resolved_by) == (placed.order_id, "journal")

    [result] = await client.cancel_orders([placed.order_id])
    assert result.success and result.order_id == placed.order_id
    assert (await client.get_order(placed.order_id)).status == "CANCELLED"
    [done] = await client.cancel_orders([placed.order_id])  # already done: refused, typed
    assert not done.success and done.failure_reason == "INVALID_CANCEL_REQUEST"
    [unknown] = await client.cancel_orders(["no-such-order"])
    assert unknown.failure_reason == "UNKNOWN_CANCEL_ORDER"
    assert len(_orders_with(prime, pid, intent.client_order_id)) == 1
    assert journal.counts() == {"PLACED": 1}
    await ex.close()


async def test_accepted_then_dropped_market_order_is_found_not_duplicated(
    prime: PrimeSimServer, make_client: Factory, journal: OrderJournal
) -> None:
    """The exactly-once case Prime makes hardest: the market order fills at once, so a blind
    re-send of its client id would be accepted as a second order. The client does not
    re-send an unknown outcome; the executor finds the order by its client id."""
    key = prime.add_key()
    pid = key.portfolio_ids[0]
    client = make_client(key)
    ex = OrderExecutor(client, journal)
    prime.faults.drop_after_accept(path=r"/order$", method="POST")
    intent = OrderIntent(
        "0c6b1d2e-3f4a-4b5c-8d6e-7f8091a2b3c4",
        "BTC-USD",
        "BUY",
        market_ioc(quote_size=Decimal("50")),
    )
    placed = await ex.place(intent)
    assert placed.resolved_by == "lookup"
    [order] = _orders_with(prime, pid, intent.client_order_id)
    assert order["order_id"] == placed.order_id and order["status"] == "FILLED"
    assert [kind for kind, _, _ in prime.faults.history] == ["drop_after_accept"]
    assert journal.counts() == {"PLACED": 1}
    fills = await client.order_fills(placed.order_id)
    spent = sum(Decimal(f.filled_value) + Decimal(f.commission) for f in fills)
    assert Decimal("49.99") < spent <= 50  # the quote budget, less base-increment rounding
    await ex.close()


async def test_duplicate_refusal_resolves_to_the_active_order(
    prime: PrimeSimServer, make_client: Factory
) -> None:
    key = prime.add_key()
    client = make_client(key)
    body = OrderIntent(
        "dup-1", "ETH-USD", "SELL", limit_gtc(Decimal("0.1"), Decimal("900000"))
    ).body()
    first = await client.submit_order_body(body, client_order_id="dup-1")
    second = await client.submit_order_body(body, client_order_id="dup-1")
    assert first.success_response is not None and second.success_response is not None
    assert second.success_response.order_id == first.success_response.order_id
    assert len(_orders_with(prime, key.portfolio_ids[0], "dup-1")) == 1


async def test_clock_skew_is_corrected_from_the_date_header(
    prime: PrimeSimServer, make_client: Factory, journal: OrderJournal
) -> None:
    key = prime.add_key()
    client = make_client(key)
    prime.faults.clock_offset = 90.0  # the exchange's clock is 90 s ahead: every signature expired
    ex = OrderExecutor(client, journal)
    placed = await ex.place(
        OrderIntent("skew-1", "BTC-USD", "BUY", limit_gtc(Decimal("0.002"), Decimal("1000.00")))
    )
    assert placed.resolved_by == "response" and client.resyncs == 1
    assert client.last_offset is not None and abs(client.last_offset - 90.0) < 2.0
    await ex.close()


async def test_missing_trade_permission_is_typed_final_and_places_nothing(
    prime: PrimeSimServer, make_client: Factory, journal: OrderJournal
) -> None:
    key = prime.add_key(can_trade=False)
    client = make_client(key)
    ex = OrderExecutor(client, journal)
    before = prime.rest.requests
    with pytest.raises(PermissionDenied) as refused:
        await ex.place(
            OrderIntent("perm-1", "BTC-USD", "BUY", market_ioc(base_size=Decimal("0.001")))
        )
    assert refused.value.status == 403 and "Trade permission" in refused.value.hint
    assert prime.rest.requests - before == 1  # PERMISSION_DENIED is not retried
    assert journal.counts() == {"FAILED": 1}
    assert prime.exchange.list_orders(key.portfolio_ids[0], {}) == []
    await ex.close()


async def test_bad_passphrase_is_typed_and_not_retried(
    prime: PrimeSimServer, make_client: Factory
) -> None:
    key = prime.add_key()
    client = make_client(key, passphrase="not-the-passphrase")
    before = prime.rest.requests
    with pytest.raises(InvalidPassphrase) as refused:
        await client.balances()
    assert "BOTKIT_PRIME__PASSPHRASE" in str(refused.value)
    assert key.passphrase not in str(refused.value) and key.signing_key not in str(refused.value)
    assert prime.rest.requests - before == 1
