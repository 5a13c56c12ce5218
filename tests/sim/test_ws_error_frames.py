"""Coinbase WebSocket error frames, injected through the public fault controls (issue 15).

``WsFaults.error_next`` (also ``POST /_sim/ws_faults {"action": "error_next"}``) sends
Coinbase's flat ``{"type": "error", "message": ...}`` frame before the next envelope: no
``sequence_num`` is used and the connection stays open (reference §3.6). Read back by a raw
client and by the official SDK's WSClient, unmodified.

Harness and conventions: tests/sim/ws_harness.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.sim.ws_harness import WAIT, chan


async def test_error_next_sends_flat_frames_without_using_a_sequence(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    first = await c.until(chan("heartbeats"))
    sim.faults.error_next("authentication failure", count=2)
    assert sim.faults.pending["error_next"] == ["authentication failure"] * 2
    frames = [await c.recv() for _ in range(3)]
    assert frames[:2] == [{"type": "error", "message": "authentication failure"}] * 2
    assert frames[2]["channel"] == "heartbeats"
    assert frames[2]["sequence_num"] == first["sequence_num"] + 1  # errors took no number
    assert sim.faults.pending["error_next"] == []
    after = await c.until(chan("heartbeats"))  # the connection stayed open
    assert after["sequence_num"] == frames[2]["sequence_num"] + 1


async def test_error_next_carries_a_reason_and_refuses_bad_arguments(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    await c.until(chan("heartbeats"))
    sim.faults.error_next("failure to subscribe", reason="internal error")
    err = await c.until(lambda f: f.get("type") == "error")
    assert err == {"type": "error", "message": "failure to subscribe", "reason": "internal error"}
    with pytest.raises(ValueError, match="count"):
        sim.faults.error_next(count=-1)
    with pytest.raises(ValueError, match="message"):
        sim.faults.error_next("")


async def test_official_sdk_sees_the_error_frame_and_keeps_receiving(make_sim):
    from coinbase.websocket import WSClient

    sim = await make_sim(heartbeat_interval=0.05)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    client = WSClient(
        api_key=sim.keys.ec_kid,
        api_secret=sim.keys.ec_pem(),
        base_url=sim.url.rstrip("/"),
        on_message=lambda msg: inbox.put_nowait(json.loads(msg)),
        retry=False,
    )
    await client.open_async()
    try:
        await client.subscribe_async(product_ids=["BTC-USD"], channels=["heartbeats"])

        async def until(pred: Any) -> dict[str, Any]:
            while True:
                frame = await inbox.get()
                if pred(frame):
                    return frame

        await asyncio.wait_for(until(lambda f: f.get("channel") == "heartbeats"), WAIT)
        sim.faults.error_next("too many L2 streams requested in a single session")
        err = await asyncio.wait_for(until(lambda f: f.get("type") == "error"), WAIT)
        assert err["message"] == "too many L2 streams requested in a single session"
        hb = await asyncio.wait_for(until(lambda f: f.get("channel") == "heartbeats"), WAIT)
        assert hb["events"][0]["heartbeat_counter"]
        assert client.websocket is not None and client.websocket.open  # still connected
    finally:
        await client.close_async()


async def test_the_admin_api_arms_an_error_frame() -> None:
    import aiohttp

    from botkit.sim.server import SimServer

    async with SimServer(seed=2, tick_interval=0) as sim, aiohttp.ClientSession() as http:
        url = f"http://{sim.authority}/_sim/ws_faults"
        headers = {"X-Sim-Admin-Token": sim.admin_token}
        body = {"action": "error_next", "message": "authentication failure", "count": 2}
        async with http.post(url, json=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
        assert sim.ws_faults.pending["error_next"] == ["authentication failure"] * 2
        async with http.post(
            url, json={"action": "error_next", "count": -1}, headers=headers
        ) as resp:
            assert resp.status == 400  # a bad argument is refused, nothing armed
        assert len(sim.ws_faults.pending["error_next"]) == 2
