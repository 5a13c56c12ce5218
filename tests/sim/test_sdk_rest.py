"""The official SDK (coinbase-advanced-py 1.8.4, unmodified) works against botkit.sim over TLS."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from coinbase.rest import RESTClient

from botkit.sim.server import SimServer


def _client(sim: SimServer, kind: str) -> RESTClient:
    key = sim.add_key(kind)  # type: ignore[arg-type]
    client = RESTClient(
        api_key=key.name, api_secret=sim.secret_of(key), base_url=sim.authority, timeout=10
    )
    client.session.verify = str(sim.cert_path)  # TLS verification stays on
    client.session.trust_env = (
        False  # else REQUESTS_CA_BUNDLE from the environment wins over .verify
    )
    return client


@pytest.mark.parametrize("kind", ["ES256", "EdDSA"])
async def test_sdk_full_order_lifecycle(tls_sim: SimServer, kind: str) -> None:
    c = _client(tls_sim, kind)
    run = asyncio.to_thread

    accounts = (await run(c.get_accounts)).to_dict()["accounts"]
    assert {a["currency"] for a in accounts} >= {"USD", "BTC"}
    usd_before = Decimal(
        next(a for a in accounts if a["currency"] == "USD")["available_balance"]["value"]
    )

    products = (await run(c.get_products)).to_dict()["products"]
    assert "BTC-USD" in {p["product_id"] for p in products}
    book = (await run(c.get_product_book, product_id="BTC-USD", limit=5)).to_dict()["pricebook"]
    best_bid, best_ask = Decimal(book["bids"][0]["price"]), Decimal(book["asks"][0]["price"])
    assert best_bid < best_ask and len(book["bids"]) == 5

    market = (
        await run(
            c.market_order_buy,
            client_order_id=f"sdk-m-{kind}",
            product_id="BTC-USD",
            quote_size="250",
        )
    ).to_dict()
    assert market["success"] is True
    market_id = market["success_response"]["order_id"]
    filled = (await run(c.get_order, market_id)).to_dict()["order"]
    assert filled["status"] == "FILLED" and Decimal(filled["filled_size"]) > 0

    limit_price = str((best_bid * Decimal("0.9")).quantize(Decimal("0.01")))
    limit = (
        await run(
            c.limit_order_gtc_buy,
            client_order_id=f"sdk-l-{kind}",
            product_id="BTC-USD",
            base_size="0.001",
            limit_price=limit_price,
            post_only=True,
        )
    ).to_dict()
    assert limit["success"] is True
    limit_id = limit["success_response"]["order_id"]

    new_price = str((best_bid * Decimal("0.85")).quantize(Decimal("0.01")))
    edited = (await run(c.edit_order, order_id=limit_id, size="0.002", price=new_price)).to_dict()
    assert edited["success"] is True
    order = (await run(c.get_order, limit_id)).to_dict()["order"]
    assert order["order_configuration"]["limit_limit_gtc"]["limit_price"] == new_price
    assert order["order_configuration"]["limit_limit_gtc"]["base_size"] == "0.002"

    opened = (await run(c.list_orders, order_status=["OPEN"], product_ids=["BTC-USD"])).to_dict()[
        "orders"
    ]
    assert limit_id in {o["order_id"] for o in opened}

    cancel = (await run(c.cancel_orders, order_ids=[limit_id])).to_dict()["results"]
    assert cancel == [
        {"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": limit_id}
    ]
    tls_sim.step(tls_sim.clock() + 1.0)  # cancellation is asynchronous: let the queue drain
    assert (await run(c.get_order, limit_id)).to_dict()["order"]["status"] == "CANCELLED"

    fills = (await run(c.get_fills, order_ids=[market_id])).to_dict()["fills"]
    assert fills and all(f["order_id"] == market_id for f in fills)
    # a quote-sized order's fills are sized in quote (Coinbase's size_in_quote), before fees
    assert all(f["size_in_quote"] for f in fills)
    assert sum(Decimal(f["size"]) / Decimal(f["price"]) for f in fills) == Decimal(
        filled["filled_size"]
    )
    assert sum(Decimal(f["size"]) for f in fills) == Decimal(filled["filled_value"])

    accounts = (await run(c.get_accounts)).to_dict()["accounts"]
    usd_after = Decimal(
        next(a for a in accounts if a["currency"] == "USD")["available_balance"]["value"]
    )
    assert usd_after <= usd_before - Decimal("250") + Decimal("0.01")


async def test_sdk_public_and_misc_endpoints(tls_sim: SimServer) -> None:
    c = _client(tls_sim, "ES256")
    run = asyncio.to_thread
    now = int(tls_sim.clock())
    t = (await run(c.get_unix_time)).to_dict()
    assert abs(int(t["epoch_seconds"]) - now) <= 2
    candles = (
        await run(c.get_candles, "BTC-USD", str(now - 3600), str(now), "FIVE_MINUTE")
    ).to_dict()["candles"]
    assert 1 <= len(candles) <= 13 and all(
        set(k) >= {"start", "open", "high", "low", "close", "volume"} for k in candles
    )
    trades = (await run(c.get_market_trades, "BTC-USD", 5)).to_dict()
    assert "trades" in trades and len(trades["trades"]) <= 5
    bba = (await run(c.get_best_bid_ask, ["BTC-USD", "ETH-USD"])).to_dict()["pricebooks"]
    assert [b["product_id"] for b in bba] == ["BTC-USD", "ETH-USD"]
    perms = (await run(c.get_api_key_permissions)).to_dict()
    assert perms["can_view"] is True and perms["can_trade"] is True
    summary = (await run(c.get_transaction_summary)).to_dict()
    assert Decimal(summary["fee_tier"]["taker_fee_rate"]) > 0
