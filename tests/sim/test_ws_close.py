"""WebSocket hub: every way a connection ends (subscribe deadline, idle close, injected 1006/1001, hub shutdown, slow consumer) and with which close code.

Harness and conventions: tests/sim/ws_harness.py."""

from __future__ import annotations

from aiohttp import WSMsgType

from tests.sim.ws_harness import chan


async def test_subscribe_deadline_closes_idle_connection(make_sim, connect):
    sim = await make_sim(subscribe_deadline=0.3, heartbeat_interval=0.2)
    c = await connect(sim.url)
    d = await connect(sim.url)
    await d.sub("heartbeats")
    msg = await c.next_msg()
    assert msg.type == WSMsgType.CLOSE and msg.data == 1008
    # the one that subscribed in time outlives the deadline (4 beats = 0.8 s)
    beats = [await d.until(chan("heartbeats")) for _ in range(4)]
    assert beats[-1]["events"][0]["heartbeat_counter"] == "4"


async def test_idle_close_is_optional_and_bounded(make_sim, connect):
    sim = await make_sim(idle_close_seconds=0.3)
    c = await connect(sim.url)
    await c.sub("level2", "BTC-USD")
    await c.until(chan("l2_data"))
    msg = await c.next_msg()
    assert msg.type == WSMsgType.CLOSE and msg.data == 1000


async def test_drop_1006_is_abnormal_closure_and_fires_once(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    await c.until(chan("heartbeats"))
    sim.faults.drop_next(1006)
    while (msg := await c.next_msg()).type == WSMsgType.TEXT:
        pass
    assert msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR)
    assert c.ws.close_code == 1006
    assert sim.faults.pending["disconnects"] == []
    d = await connect(sim.url)  # bounded: the next connection is healthy
    await d.sub("heartbeats")
    await d.until(chan("heartbeats"))


async def test_close_next_sends_1001(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    await c.until(chan("heartbeats"))
    sim.faults.close_next()
    while (msg := await c.next_msg()).type == WSMsgType.TEXT:
        pass
    assert msg.type == WSMsgType.CLOSE and msg.data == 1001


async def test_hub_close_is_going_away(make_sim, connect):
    sim = await make_sim()
    c = await connect(sim.url)
    await c.sub("status")
    await c.until(chan("status"))
    assert sim.hub.connections == 1
    await sim.hub.close()
    while (msg := await c.next_msg()).type == WSMsgType.TEXT:
        pass
    assert msg.type == WSMsgType.CLOSE and msg.data == 1001
    assert sim.hub.connections == 0


async def test_slow_consumer_is_disconnected(make_sim, connect):
    sim = await make_sim(send_queue_max=5)
    c = await connect(sim.url)
    await c.sub("level2", "BTC-USD")
    await c.until(chan("l2_data"))
    await c.barrier()
    sim.step(200)  # synchronous burst: the writer cannot drain in between
    while (await c.next_msg()).type == WSMsgType.TEXT:
        pass
    assert c.ws.close_code == 1006
