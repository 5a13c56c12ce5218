"""The REST client against botkit.sim over real loopback sockets: typed results and transport."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from botkit import __version__
from botkit.errors import ConfigError, InsufficientFunds, NotFound, OrderRejected
from botkit.orders.intents import OrderIntent, limit_gtc, market_ioc
from botkit.sim.server import SimServer
from botkit.venues.advanced_trade.rest_client import RestClient
from tests.orders.conftest import ClientFactory, RecordingSim


async def test_typed_market_data_and_account_endpoints(
    sim: RecordingSim, make_client: ClientFactory
) -> None:
    c = make_client()
    accounts = [a async for a in c.iter_accounts(limit=1)]  # one per page: pagination followed
    assert {a.currency for a in accounts} >= {"USD", "BTC"}
    usd = next(a for a in accounts if a.currency == "USD")
    assert isinstance(usd.available_balance.value, Decimal)
    assert (await c.get_account(usd.uuid)).uuid == usd.uuid
    products = await c.products()
    assert "BTC-USD" in {p.product_id for p in products}
    assert (await c.product("BTC-USD")).base_increment == Decimal("0.00000001")
    book = await c.product_book("BTC-USD", limit=3)
    assert (
        len(book.pricebook.bids) == 3
        and book.pricebook.bids[0].price < book.pricebook.asks[0].price
    )
    (bba,) = await c.best_bid_ask(["BTC-USD"])
    assert isinstance(bba.bids[0].size, Decimal)
    now = int(time.time())
    candles = await c.candles("BTC-USD", start=now - 3600, end=now, granularity="ONE_MINUTE")
    assert candles and isinstance(candles[0].close, Decimal) and isinstance(candles[0].start, int)
    trades = await c.market_trades("BTC-USD", limit=5)
    assert trades.best_bid
    t = await c.server_time()
    assert abs(t.seconds - time.time()) < 5
    fees = await c.transaction_summary()
    assert fees.fee_tier.taker_fee_rate == Decimal("0.006")
    perms = await c.key_permissions()
    assert perms.can_view and perms.can_trade


async def test_order_endpoints_roundtrip(sim: RecordingSim, make_client: ClientFactory) -> None:
    c = make_client()
    book = await c.product_book("BTC-USD", limit=1)
    low = (book.pricebook.bids[0].price * Decimal("0.8")).quantize(Decimal("0.01"))
    preview = await c.preview_order("BTC-USD", "BUY", limit_gtc(Decimal("0.001"), low))
    assert preview.errs == [] and isinstance(preview.commission_total, Decimal)
    created = await c.create_order(
        OrderIntent("rt-1", "BTC-USD", "BUY", limit_gtc(Decimal("0.001"), low, post_only=True))
    )
    assert created.success_response is not None
    oid = created.success_response.order_id
    edited = await c.edit_order(oid, price=low - 1, size=Decimal("0.002"))
    assert edited.success
    order = await c.get_order(oid)
    assert order.status == "OPEN" and order.client_order_id == "rt-1"
    assert [o.order_id async for o in c.iter_orders(order_status=["OPEN"], limit=1)] == [oid]
    (cancel,) = await c.cancel_orders([oid])
    assert cancel.success
    m = await c.create_order(
        OrderIntent("rt-2", "BTC-USD", "BUY", market_ioc(quote_size=Decimal(50)))
    )
    assert m.success_response is not None
    fills = [f async for f in c.iter_fills(order_ids=[m.success_response.order_id], limit=1)]
    assert fills and all(isinstance(f.price, Decimal) for f in fills)
    with pytest.raises(NotFound):
        await c.get_order("00000000-0000-0000-0000-000000000000")
    with pytest.raises(InsufficientFunds) as info:
        await c.create_order(
            OrderIntent("rt-3", "BTC-USD", "BUY", market_ioc(quote_size=Decimal(150000)))
        )
    assert info.value.status == 200
    with pytest.raises(OrderRejected):
        await c.create_order(
            OrderIntent("rt-4", "BTC-USD", "BUY", limit_gtc(Decimal("0.0000000001"), low))
        )


async def test_user_agent_and_one_session(sim: RecordingSim, make_client: ClientFactory) -> None:
    c = make_client()
    await c.server_time()
    await c.key_permissions()
    uas = {h.get("User-Agent") for _, _, h in sim.seen}
    assert uas == {f"botkit/{__version__}"}
    # private on purpose: one pooled session is an internal invariant, no API exposes it
    session = c.transport._session  # type: ignore[attr-defined]
    await c.server_time()
    assert c.transport._session is session  # type: ignore[attr-defined]


async def test_public_client_without_key_uses_market_mirror(sim: RecordingSim) -> None:
    async with RestClient(sim.rest_url, None) as c:
        assert (await c.product("ETH-USD")).product_id == "ETH-USD"
        with pytest.raises(ConfigError):
            await c.key_permissions()
    assert sim.seen[0][1].endswith("/market/products/ETH-USD")


async def test_tls_verified_with_ca_file_and_refused_without() -> None:
    async with SimServer(seed=5, tls=True) as tls:
        assert tls.cert_path is not None
        async with RestClient(tls.rest_url, None, ca_file=tls.cert_path) as ok:
            assert (await ok.server_time()).epochSeconds
        async with RestClient(tls.rest_url, None) as untrusting:
            with pytest.raises(ConfigError, match="did not verify"):
                await untrusting.server_time()
