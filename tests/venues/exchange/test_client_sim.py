"""botkit's Exchange client (and the executor on it) against botkit.sim's Exchange dialect, over
loopback.

Real sockets, generated credentials, botkit's own signer; the faults are the simulator's fault
plan (a reset after the order was accepted, a shifted server clock...). What the client reports
is checked against the exchange's own records.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from botkit.auth.clock import SystemClock
from botkit.errors import InvalidPassphrase, IpNotAllowed, OrderRejected, PermissionDenied
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, limit_gtc, market_ioc
from botkit.orders.journal import OrderJournal
from botkit.orders.venue_api import OrderVenue
from botkit.sim.exchange import SimMarketConfig
from botkit.sim.exchange_auth import ExchangeKey
from botkit.sim.exchange_rest import ExchangeSimServer
from botkit.venues.exchange.rest_client import ExchangeRestClient
from botkit.venues.exchange.settings import ExchangeVenueSettings

pytestmark = pytest.mark.timeout(60)
FAST = RetryPolicy().scaled(0.001)
Factory = Callable[..., ExchangeRestClient]


@pytest.fixture
async def ex() -> AsyncIterator[ExchangeSimServer]:
    market = SimMarketConfig(cancel_latency_steps=0)
    async with ExchangeSimServer(seed=43, market=market, tick_interval=0.05) as server:
        yield server


@pytest.fixture
async def make_client(ex: ExchangeSimServer) -> AsyncIterator[Factory]:
    clients: list[ExchangeRestClient] = []

    def factory(key: ExchangeKey, **kw: Any) -> ExchangeRestClient:
        settings = ExchangeVenueSettings(
            api_key=key.key,
            api_secret=SecretStr(key.secret),
            passphrase=SecretStr(kw.pop("passphrase", key.passphrase)),
            rest_url=ex.rest_url,
            decimal_timestamp=kw.pop("decimal_timestamp", False),
        )
        kw.setdefault("policy", FAST)
        kw.setdefault("rng", random.Random(5))
        kw.setdefault("limiter", RateLimiter(float("inf"), float("inf")))
        kw.setdefault("read_timeout", 5.0)
        client = ExchangeRestClient.from_settings(
            settings, clock=kw.pop("clock", SystemClock()), **kw
        )
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
def journal(tmp_path: Path) -> OrderJournal:
    return OrderJournal(tmp_path / "journal.sqlite")


def _orders_with(ex: ExchangeSimServer, profile: str, coid: str) -> list[dict[str, Any]]:
    """The exchange's own record of the orders with this client id (the dialect suffixes the
    engine's id for a repeated client_oid, so a duplicate would show here too)."""
    return [
        o
        for o in ex.exchange.list_orders(profile, {})
        if str(o["client_order_id"]).split("~")[0] == coid
    ]


async def test_client_reads_market_data_accounts_fees(
    ex: ExchangeSimServer, make_client: Factory
) -> None:
    key = ex.add_key()
    client = make_client(key, decimal_timestamp=True)
    venue: OrderVenue = client  # the protocol the executor types against
    assert venue.last_offset is None
    accounts = {a.currency: a for a in await client.accounts()}
    assert accounts["USD"].available == Decimal(100_000) and accounts["BTC"].hold == 0
    assert (await client.account(accounts["ETH"].id)).balance == Decimal(10)
    products = {p.id: p for p in await client.products()}
    assert set(products) == {"BTC-USD", "ETH-USD"} and products["BTC-USD"].tradable
    assert products["BTC-USD"].quote_increment == Decimal("0.01")
    book = await client.book("BTC-USD")
    assert book.bids[0][0] < book.asks[0][0] and len(book.bids) > 1
    top = await client.book("ETH-USD", level=1)
    assert len(top.bids) == len(top.asks) == 1
    ticker = await client.ticker("BTC-USD")
    assert ticker.trade_id > 0 and ticker.price > 0
    candles = await client.candles("BTC-USD", granularity=300)
    assert 1 < len(candles) <= 300 and candles[0].time > candles[-1].time
    assert all(c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high for c in candles)
    page = await client.trades("BTC-USD", limit=3)
    older = await client.trades("BTC-USD", limit=3, after=page.after)
    assert len(page.items) == len(older.items) == 3
    assert page.items[-1].trade_id > older.items[0].trade_id
    fees = await client.fees()
    assert (fees.maker_fee_rate, fees.taker_fee_rate) == (Decimal("0.004"), Decimal("0.006"))
    assert abs(await client.server_time() - ex.now()) < 2


async def test_executor_places_looks_up_by_client_id_and_cancels(
    ex: ExchangeSimServer, make_client: Factory, journal: OrderJournal
) -> None:
    key = ex.add_key()
    client = make_client(key)
    executor = OrderExecutor(client, journal)
    intent = OrderIntent(
        "6f0d3c1e-8f9b-4c2a-9d1e-0a1b2c3d4e5f",
        "BTC-USD",
        "BUY",
        limit_gtc(Decimal("0.002"), Decimal("1000.00"), post_only=True),
    )
    placed = await executor.place(intent)
    assert placed.resolved_by == "response"
    order = await client.get_order(placed.order_id)
    assert (order.status, order.client_order_id, order.order_type, order.side) == (
        "OPEN",
        intent.client_order_id,
        "LIMIT",
        "BUY",
    )
    assert order.order_configuration == {
        "limit_limit_gtc": {"base_size": "0.002", "limit_price": "1000.00", "post_only": True}
    }
    by_client = await client.order_by_client_oid(intent.client_order_id)
    assert by_client is not None and by_client.id == placed.order_id
    page = await client.list_orders(product_ids=["BTC-USD"], order_status=["OPEN"])
    assert [o.order_id for o in page.orders] == [placed.order_id]
    again = await executor.place(intent)  # answered from the journal, not re-sent
    assert (again.order_id, again.resolved_by) == (placed.order_id, "journal")

    [result] = await client.cancel_orders([placed.order_id])
    assert result.success and result.order_id == placed.order_id
    assert (await client.get_order(placed.order_id)).status == "CANCELLED"
    [done] = await client.cancel_orders([placed.order_id])
    assert not done.success and done.failure_reason == "INVALID_CANCEL_REQUEST"
    [unknown] = await client.cancel_orders(["00000000-0000-4000-8000-000000000000"])
    assert unknown.failure_reason == "UNKNOWN_CANCEL_ORDER"
    assert len(_orders_with(ex, key.profile_id, intent.client_order_id)) == 1
    assert journal.counts() == {"PLACED": 1}
    await executor.close()


@pytest.mark.parametrize("fault", ["drop_after_accept", "status_after_accept"])
async def test_accepted_then_lost_market_order_is_found_not_duplicated(
    ex: ExchangeSimServer, make_client: Factory, journal: OrderJournal, fault: str
) -> None:
    """Exchange does not deduplicate client_oid: a blind re-send of a filled market order
    would be a second order. The client does not re-send an unknown outcome; the executor
    finds the order by its client id, with the lookup's date window signed in the query."""
    key = ex.add_key()
    client = make_client(key)
    executor = OrderExecutor(client, journal)
    if fault == "drop_after_accept":
        ex.faults.drop_after_accept(path=r"^/orders$", method="POST")
    else:
        ex.faults.fail_after_accept(502, path=r"^/orders$", method="POST")
    intent = OrderIntent(
        "0c6b1d2e-3f4a-4b5c-8d6e-7f8091a2b3c4",
        "BTC-USD",
        "BUY",
        market_ioc(quote_size=Decimal("50")),
    )
    placed = await executor.place(intent)
    assert placed.resolved_by == "lookup"
    [order] = _orders_with(ex, key.profile_id, intent.client_order_id)
    assert order["order_id"] == placed.order_id and order["status"] == "FILLED"
    assert [kind for kind, _, _ in ex.faults.history] == [fault]
    assert journal.counts() == {"PLACED": 1}
    fills = [f async for f in client.iter_fills(order_id=placed.order_id, limit=1)]
    spent = sum(f.price * f.size + f.fee for f in fills)
    assert Decimal("49.99") < spent <= 50
    await executor.close()


async def test_clock_skew_is_corrected_from_the_time_endpoint(
    ex: ExchangeSimServer, make_client: Factory, journal: OrderJournal
) -> None:
    key = ex.add_key()
    client = make_client(key)
    ex.faults.clock_offset = 90.0  # the exchange's clock is 90 s ahead: every signature expired
    executor = OrderExecutor(client, journal)
    placed = await executor.place(
        OrderIntent(
            "5b7c9d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e",
            "BTC-USD",
            "BUY",
            limit_gtc(Decimal("0.002"), Decimal("1000.00")),
        )
    )
    assert placed.resolved_by == "response" and client.resyncs == 1
    assert client.last_offset is not None and abs(client.last_offset - 90.0) < 2.0
    await executor.close()


async def test_non_uuid_client_id_is_rejected_before_sending(
    ex: ExchangeSimServer, make_client: Factory, journal: OrderJournal
) -> None:
    client = make_client(ex.add_key())
    executor = OrderExecutor(client, journal)
    before = ex.rest.requests
    with pytest.raises(OrderRejected) as refused:
        await executor.place(
            OrderIntent("my-order-1", "BTC-USD", "BUY", market_ioc(base_size=Decimal("0.001")))
        )
    assert refused.value.reason == "INVALID_CLIENT_OID" and "UUID" in refused.value.message
    assert ex.rest.requests == before and journal.counts() == {"REJECTED": 1}
    await executor.close()


async def test_insufficient_funds_is_a_typed_final_rejection(
    ex: ExchangeSimServer, make_client: Factory, journal: OrderJournal
) -> None:
    client = make_client(ex.add_key())
    executor = OrderExecutor(client, journal)
    with pytest.raises(OrderRejected) as refused:
        await executor.place(
            OrderIntent(
                "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
                "BTC-USD",
                "BUY",
                limit_gtc(Decimal("50"), Decimal("60000.00")),
            )
        )
    assert refused.value.reason == "INSUFFICIENT_FUND" and refused.value.status == 400
    assert type(refused.value).__name__ == "InsufficientFunds"
    assert journal.counts() == {"REJECTED": 1}
    await executor.close()


async def test_missing_trade_permission_is_typed_final_and_places_nothing(
    ex: ExchangeSimServer, make_client: Factory, journal: OrderJournal
) -> None:
    key = ex.add_key(can_trade=False)
    client = make_client(key)
    executor = OrderExecutor(client, journal)
    before = ex.rest.requests
    with pytest.raises(PermissionDenied) as refused:
        await executor.place(
            OrderIntent(
                "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
                "BTC-USD",
                "BUY",
                market_ioc(base_size=Decimal("0.001")),
            )
        )
    assert refused.value.status == 403 and "Trade permission" in refused.value.hint
    assert ex.rest.requests - before == 1  # PERMISSION_DENIED is not retried
    assert journal.counts() == {"FAILED": 1}
    assert ex.exchange.list_orders(key.profile_id, {}) == []
    await executor.close()


async def test_bad_passphrase_and_ip_allow_list_are_typed_and_not_retried(
    ex: ExchangeSimServer, make_client: Factory
) -> None:
    key = ex.add_key()
    client = make_client(key, passphrase="not-the-passphrase")
    before = ex.rest.requests
    with pytest.raises(InvalidPassphrase) as refused:
        await client.accounts()
    assert refused.value.status == 400 and "BOTKIT_EXCHANGE__PASSPHRASE" in str(refused.value)
    assert key.passphrase not in str(refused.value) and key.secret not in str(refused.value)
    assert ex.rest.requests - before == 1

    fenced = ex.add_key(allowed_ips=("192.0.2.0/24",))
    before = ex.rest.requests
    with pytest.raises(IpNotAllowed) as blocked:
        await make_client(fenced).accounts()
    assert blocked.value.status == 403 and "allow-list" in blocked.value.hint
    assert ex.rest.requests - before == 1


async def test_a_cancel_whose_answer_was_lost_is_not_logged_as_given_up(
    ex: ExchangeSimServer,
    make_client: Factory,
    journal: OrderJournal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first DELETE cancels, its answer is lost (a 502), the retry hears "Order already done":
    that is the answer (the order is cancelled), not a failure to give up on at WARNING
    (a QA run read "giving up DELETE ... 400" as a cancel that failed)."""
    key = ex.add_key()
    client = make_client(key)
    executor = OrderExecutor(client, journal)
    intent = OrderIntent(
        "7a0d3c1e-8f9b-4c2a-9d1e-0a1b2c3d4e5f",
        "BTC-USD",
        "BUY",
        limit_gtc(Decimal("0.002"), Decimal("1000.00"), post_only=True),
    )
    placed = await executor.place(intent)
    ex.faults.fail_after_accept(502, path=r"^/orders/", method="DELETE")  # cancelled, then 502
    with caplog.at_level(logging.WARNING, logger="botkit"):
        [result] = await client.cancel_orders([placed.order_id])
    assert (await client.get_order(placed.order_id)).status == "CANCELLED"
    assert not result.success and result.failure_reason == "INVALID_CANCEL_REQUEST"
    assert "retry DELETE" in caplog.text  # the lost answer is still said
    assert "giving up" not in caplog.text
    await executor.close()
