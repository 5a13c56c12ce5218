"""The official SDK (coinbase-advanced-py 1.8.4, unmodified) creates and lists native exits
(stop-limit, bracket, TP/SL attached to an entry) on botkit.sim over TLS (issue 17)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from coinbase.rest import RESTClient

from botkit.sim.server import SimServer

CENT = Decimal("0.01")


def _client(sim: SimServer) -> RESTClient:
    key = sim.add_key("ES256")
    client = RESTClient(
        api_key=key.name, api_secret=sim.secret_of(key), base_url=sim.authority, timeout=10
    )
    client.session.verify = str(sim.cert_path)
    client.session.trust_env = False
    return client


async def test_sdk_creates_and_lists_a_bracket_a_stop_limit_and_an_attached_exit(
    tls_sim: SimServer,
) -> None:
    c = _client(tls_sim)
    run = asyncio.to_thread
    last = Decimal((await run(c.get_product, "BTC-USD")).price)
    up, down = (last * Decimal("1.03")).quantize(CENT), (last * Decimal("0.97")).quantize(CENT)

    made = await run(
        c.trigger_bracket_order_gtc_sell,
        client_order_id="sdk-bracket",
        product_id="BTC-USD",
        base_size="0.01",
        limit_price=str(up),
        stop_trigger_price=str(down),
    )
    assert made.success is True, made.to_dict()
    bracket_id = made.success_response["order_id"]
    stop = await run(
        c.stop_limit_order_gtc_sell,
        client_order_id="sdk-stop",
        product_id="BTC-USD",
        base_size="0.01",
        limit_price=str(down - 10),
        stop_price=str(down),
        stop_direction="STOP_DIRECTION_STOP_DOWN",
    )
    assert stop.success is True, stop.to_dict()
    entry = await run(
        c.limit_order_gtc_buy,
        client_order_id="sdk-entry",
        product_id="BTC-USD",
        base_size="0.01",
        limit_price=str((last * Decimal("0.99")).quantize(CENT)),
        attached_order_configuration={
            "trigger_bracket_gtc": {"limit_price": str(up), "stop_trigger_price": str(down)}
        },  # an SDK keyword argument goes into the request body as is
    )
    assert entry.success is True, entry.to_dict()
    exit_id = entry.success_response["attached_order_id"]

    order = (await run(c.get_order, bracket_id)).order
    assert (order.order_type, order.trigger_status, order.status) == (
        "BRACKET",
        "STOP_PENDING",
        "OPEN",
    )
    cfg = order.order_configuration.trigger_bracket_gtc
    assert (cfg.base_size, cfg.limit_price, cfg.stop_trigger_price) == ("0.01", str(up), str(down))
    stop_order = (await run(c.get_order, stop.success_response["order_id"])).order
    assert (stop_order.order_type, stop_order.trigger_status) == ("STOP_LIMIT", "STOP_PENDING")
    stop_cfg = stop_order.order_configuration.stop_limit_stop_limit_gtc
    assert (stop_cfg.stop_price, stop_cfg.stop_direction) == (
        str(down),
        "STOP_DIRECTION_STOP_DOWN",
    )
    child = (await run(c.get_order, exit_id)).order
    assert child.originating_order_id == entry.success_response["order_id"]
    assert child.order_type == "BRACKET" and child.side == "SELL"
    parent = (await run(c.get_order, entry.success_response["order_id"])).order
    assert parent.attached_order_id == exit_id

    listed = (await run(c.list_orders, order_types=["BRACKET"], product_ids=["BTC-USD"])).orders
    assert {o.order_id for o in listed} == {bracket_id, exit_id}
    listed = (await run(c.list_orders, order_types=["STOP_LIMIT"])).orders
    assert [o.order_id for o in listed] == [stop.success_response["order_id"]]

    bad = await run(
        c.trigger_bracket_order_gtc_sell,
        client_order_id="sdk-bad",
        product_id="BTC-USD",
        base_size="0.01",
        limit_price=str(down),
        stop_trigger_price=str(up),
    )
    assert bad.success is False
    assert bad.error_response["preview_failure_reason"] == "PREVIEW_INVALID_BRACKET_PRICES"

    cancelled = await run(c.cancel_orders, order_ids=[bracket_id])
    assert cancelled.results[0]["success"] is True
