"""WebSocket hub user channel: JWT required, snapshot in batches of 50, then only the user's own order updates with cumulative fills.

Harness and conventions: tests/sim/ws_harness.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.sim.ws_harness import chan


async def test_user_channel_requires_valid_jwt(make_sim, connect):
    sim = await make_sim()
    c = await connect(sim.url)
    auth_failure = {"type": "error", "message": "authentication failure"}
    await c.sub("user")
    assert await c.recv() == auth_failure
    await c.sub("user", jwt_=sim.keys.token(age=600))  # expired
    assert await c.recv() == auth_failure
    await c.sub("user", jwt_=sim.keys.token()[:-4] + "AAAA")  # bad signature
    assert await c.recv() == auth_failure
    await c.sub("ticker", "BTC-USD", jwt_="garbage")  # a jwt on any channel is verified
    assert await c.recv() == auth_failure
    await c.sub("user", jwt_=sim.keys.token(ed=True))
    ack = await c.recv()
    assert ack["events"][0]["subscriptions"] == {"user": []}


@pytest.mark.parametrize(("count", "batches"), [(109, [50, 50, 9]), (100, [50, 50, 0])])
async def test_user_snapshot_batches_then_updates(make_sim, connect, count, batches):
    sim = await make_sim()
    for i in range(count):
        sim.order("user-ec", "BUY", f"{60000 - i}.00", "0.0001")
    sim.order("user-ed", "BUY", "60000.00", "0.0001")  # someone else's order
    c = await connect(sim.url)
    await c.sub("user", jwt_=sim.keys.token())
    await c.until(chan("subscriptions"))
    sizes = []
    for _ in batches:
        fr = await c.until(chan("user"))
        (ev,) = fr["events"]
        assert ev["type"] == "snapshot"
        assert ev["positions"] == {
            "perpetual_futures_positions": [],
            "expiring_futures_positions": [],
        }
        sizes.append(len(ev["orders"]))
    assert sizes == batches
    resp = sim.order("user-ec", "SELL", "99000.00", "0.0002")
    order_id = resp["success_response"]["order_id"]
    sim.order("user-ed", "SELL", "99000.00", "0.0002")  # must not reach user-ec
    sim.exchange.cancel_orders("user-ec", [order_id], sim.t)
    sim.hub.publish(sim.exchange.drain_events())
    sim.step(3)
    await c.barrier()
    updates = [
        o
        for fr in c.frames[-20:]
        if fr["channel"] == "user"
        for ev in fr["events"]
        if ev["type"] == "update"
        for o in ev["orders"]
    ]
    assert updates and {o["order_id"] for o in updates} == {order_id}
    assert updates[-1]["status"] == "CANCELLED"
    assert isinstance(updates[-1]["cumulative_quantity"], str)


async def test_user_updates_are_cumulative_fills(make_sim, connect):
    sim = await make_sim()
    c = await connect(sim.url)
    await c.sub("user", "BTC-USD", jwt_=sim.keys.token())
    await c.until(chan("user"))  # empty snapshot
    (_, _), (ask, _) = sim.exchange.best_bid_ask("BTC-USD")
    resp = sim.order("user-ec", "BUY", str(ask + Decimal("50")), "0.5")
    sim.step(5)
    await c.barrier()
    mine = [
        o
        for fr in c.frames
        if fr["channel"] == "user"
        for ev in fr["events"]
        if ev["type"] == "update"
        for o in ev["orders"]
    ]
    assert mine[-1]["order_id"] == resp["success_response"]["order_id"]
    assert Decimal(mine[-1]["cumulative_quantity"]) > 0
    got = sim.exchange.get_order("user-ec", resp["success_response"]["order_id"])
    assert Decimal(mine[-1]["cumulative_quantity"]) == Decimal(got["filled_size"])
