"""Sign a real Advanced Trade request with botkit and send it to the embedded simulator.

Run:  .venv/bin/python examples/signed_request_against_sim.py

No keys, no network: the simulator generates a key, botkit signs a fresh JWT for each
request exactly as it would for api.coinbase.com, and the simulator verifies it.
"""

from __future__ import annotations

import asyncio
import json
import secrets

import aiohttp

from botkit import JwtSigner, SimServer, SystemClock


async def main() -> None:
    async with SimServer(seed=7) as sim, aiohttp.ClientSession() as http:
        key = sim.add_key("EdDSA")
        signer = JwtSigner(key, clock=SystemClock(), nonce=secrets.token_hex)

        async def call(
            method: str, path: str, body: dict[str, object] | None = None
        ) -> dict[str, object]:
            url = sim.rest_url + path
            data = json.dumps(body).encode() if body is not None else b""
            headers = {"Content-Type": "application/json", **signer.sign(method, url, data)}
            async with http.request(method, url, data=data, headers=headers) as resp:
                resp.raise_for_status()
                result: dict[str, object] = await resp.json()
                return result

        book = await call("GET", "/product_book?product_id=BTC-USD&limit=1")
        print("BTC-USD top of book:", book["pricebook"])  # type: ignore[index]
        order = await call(
            "POST",
            "/orders",
            {
                "client_order_id": secrets.token_hex(8),
                "product_id": "BTC-USD",
                "side": "BUY",
                "order_configuration": {"market_market_ioc": {"quote_size": "100"}},
            },
        )
        order_id = order["success_response"]["order_id"]  # type: ignore[index]
        filled = await call("GET", f"/orders/historical/{order_id}")
        o: dict[str, str] = filled["order"]  # type: ignore[assignment]
        size, avg, status = o["filled_size"], o["average_filled_price"], o["status"]
        print(f"bought {size} BTC at avg {avg} (status {status})")


if __name__ == "__main__":
    asyncio.run(main())
