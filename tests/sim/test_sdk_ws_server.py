"""The official SDK WSClient against the full SimServer wiring, over wss (TLS), user channel included."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from coinbase.websocket import WSClient

from botkit.sim.server import SimServer


async def test_sdk_wsclient_over_wss_against_simserver(tls_sim: SimServer) -> None:
    key = tls_sim.add_key("EdDSA", user_id="ws-user")
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # decoded JSON frames
    client = WSClient(
        api_key=key.name,
        api_secret=tls_sim.secret_of(key),
        base_url=tls_sim.ws_market_url,
        on_message=lambda m: inbox.put_nowait(json.loads(m)),
        retry=False,
    )
    await client.open_async()
    try:
        await client.subscribe_async(
            product_ids=["BTC-USD"], channels=["heartbeats", "level2", "user"]
        )
        seen: set[str] = set()

        async def until(pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
            while True:
                msg = await inbox.get()
                assert msg.get("type") != "error", msg
                seen.add(str(msg.get("channel")))
                if pred(msg):
                    return msg

        await asyncio.wait_for(until(lambda m: m.get("channel") == "user"), 10)
        order = tls_sim.exchange.create_order(
            "ws-user",
            {
                "client_order_id": "ws-1",
                "product_id": "BTC-USD",
                "side": "BUY",
                "order_configuration": {"market_market_ioc": {"quote_size": "25"}},
            },
            tls_sim.clock(),
        )
        tls_sim.publish()
        oid = order["success_response"]["order_id"]
        update = await asyncio.wait_for(
            until(
                lambda m: (
                    m.get("channel") == "user"
                    and m["events"][0]["type"] == "update"
                    and any(o["order_id"] == oid for o in m["events"][0]["orders"])
                )
            ),
            10,
        )
        assert update["events"][0]["orders"][-1]["client_order_id"] == "ws-1"
        await asyncio.wait_for(until(lambda m: m.get("channel") == "heartbeats"), 10)
        assert {"l2_data", "subscriptions", "user", "heartbeats"} <= seen
    finally:
        await client.close_async()
