"""What the REST client says the venue refuses of its key (read by the health model and
the ``api-key`` alert), against botkit.sim over real loopback sockets."""

from __future__ import annotations

from decimal import Decimal

import pytest

from botkit.errors import AuthError, NotFound, PermissionDenied
from botkit.orders.intents import OrderIntent, market_ioc
from botkit.sim.faults import RestFault
from tests.orders.conftest import ClientFactory, RecordingSim


def _order(coid: str) -> OrderIntent:
    return OrderIntent(coid, "BTC-USD", "BUY", market_ioc(quote_size=Decimal(10)))


async def test_a_key_without_trade_is_refused_for_orders_until_an_order_gets_through(
    sim: RecordingSim, make_client: ClientFactory
) -> None:
    """A key with View but not Trade fails every order while its reads work: one refusal
    per route, so a read must not clear the orders' (a review: the alert flapped, a
    failure and an "accepted again" per order)."""
    viewer = make_client(key=sim.add_key("ES256", can_trade=False))
    assert viewer.refusal() == ""
    with pytest.raises(PermissionDenied):
        await viewer.create_order(_order("v-1"))
    said = viewer.refusal()
    assert said.startswith("POST /orders: HTTP 403") and "Missing required scopes" in said
    await viewer.server_time()  # public
    [a async for a in viewer.iter_accounts()]  # a private read that works
    assert viewer.refusal() == said
    with pytest.raises(NotFound):  # a route with an id: blanked, and a 404 is accepted
        await viewer.get_order("00000000-0000-0000-0000-000000000000")
    assert viewer.refusal() == said
    trader = make_client()
    await trader.create_order(_order("t-1"))
    assert trader.refusal() == ""


async def test_a_refused_key_is_said_until_a_private_call_gets_past_authentication(
    sim: RecordingSim, make_client: ClientFactory
) -> None:
    key = sim.add_key("ES256")
    client = make_client(key=key)
    record = sim.registry.keys[key.name]
    assert sim.registry.revoke(key.name)
    with pytest.raises(AuthError):
        [a async for a in client.iter_accounts()]
    assert client.refusal().startswith("HTTP 401")
    await client.server_time()  # a public call proves nothing about the key
    assert client.refusal().startswith("HTTP 401")
    sim.registry.register(record)
    with pytest.raises(NotFound):  # answered: the key got past authentication
        await client.get_order("00000000-0000-0000-0000-000000000000")
    assert client.refusal() == ""


async def test_a_bare_403_from_a_gateway_is_not_a_refusal_of_the_key(
    sim: RecordingSim, make_client: ClientFactory
) -> None:
    client = make_client()
    page = "<html><title>Attention Required! | Cloudflare</title></html>"
    sim.faults.add(RestFault("status", count=10, path="/accounts", status=403, body=page))
    with pytest.raises(PermissionDenied):
        [a async for a in client.iter_accounts()]
    assert client.refusal() == ""
