"""The official SDK's WSClient (ES256 and Ed25519 keys) against the WebSocket hub: level2, ticker, user and heartbeats parse.

Harness and conventions: tests/sim/ws_harness.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from tests.sim.ws_harness import GO_TIME, WAIT, Sim


async def _sdk_run(sim: Sim, api_key: str, api_secret: str, user: str) -> None:
    from coinbase.websocket import WSClient
    from coinbase.websocket.types.websocket_response import WebsocketResponse

    inbox: asyncio.Queue[WebsocketResponse] = asyncio.Queue()

    def on_message(msg: str) -> None:
        data = json.loads(msg)
        if data.get("type") != "error":
            inbox.put_nowait(WebsocketResponse(data))

    client = WSClient(
        api_key=api_key,
        api_secret=api_secret,
        base_url=sim.url.rstrip("/"),
        on_message=on_message,
        retry=False,
    )
    await client.open_async()
    try:
        await client.subscribe_async(
            product_ids=["BTC-USD"], channels=["heartbeats", "level2", "ticker", "user"]
        )
        seen: dict[str, list[WebsocketResponse]] = {}

        async def want(channel: str, pred: Callable[[WebsocketResponse], bool]) -> Any:
            async def loop() -> WebsocketResponse:
                while True:
                    r = await inbox.get()
                    seen.setdefault(r.channel, []).append(r)
                    if r.channel == channel and pred(r):
                        return r

            for r in seen.get(channel, []):
                if pred(r):
                    return r
            return await asyncio.wait_for(loop(), WAIT)

        snap = await want("l2_data", lambda r: r.events[0].type == "snapshot")
        assert snap.events[0].updates[0].side in ("bid", "offer")
        await want("user", lambda r: r.events[0].type == "snapshot")
        sim.step(30)
        resp = sim.order(user, "BUY", "60000.00", "0.001")
        oid = resp["success_response"]["order_id"]
        tick = await want("ticker", lambda r: r.events[0].type == "update")
        assert tick.events[0].tickers[0].product_id == "BTC-USD"
        await want("l2_data", lambda r: r.events[0].type == "update")
        upd = await want("user", lambda r: r.events[0].type == "update")
        assert upd.events[0].orders[0].order_id == oid
        hb = await want("heartbeats", lambda r: True)
        assert GO_TIME.match(hb.events[0].current_time)
    finally:
        await client.close_async()


async def test_official_sdk_wsclient_es256(make_sim):
    sim = await make_sim(heartbeat_interval=0.05)
    await _sdk_run(sim, sim.keys.ec_kid, sim.keys.ec_pem(), "user-ec")


async def test_official_sdk_wsclient_ed25519(make_sim):
    sim = await make_sim(heartbeat_interval=0.05)
    await _sdk_run(sim, sim.keys.ed_kid, sim.keys.ed_b64(), "user-ed")
