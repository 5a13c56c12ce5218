"""The sim's Coinbase Exchange dialect over loopback: refusals with Exchange's status and body,
client_oid policies, cursor paging. Requests are signed by a few lines written here from the
reference (not botkit's signer, not the dialect's verifier), so none of them checks itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from botkit.sim.exchange import SimMarketConfig
from botkit.sim.exchange_auth import ExchangeKey
from botkit.sim.exchange_dialect import ExchangeDialectConfig
from botkit.sim.exchange_rest import ExchangeSimServer

pytestmark = pytest.mark.timeout(60)
MARKET = SimMarketConfig(cancel_latency_steps=0)


def sign(secret: str, ts: str, method: str, target: str, body: bytes) -> str:
    """Exchange's signature as the reference states it (§1.A)."""
    key = base64.b64decode(secret)
    message = (ts + method + target).encode() + body
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


class Raw:
    """Signed requests with every part overridable, answers as (status, json, headers)."""

    def __init__(self, server: ExchangeSimServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session

    async def __call__(
        self,
        method: str,
        target: str,
        key: ExchangeKey | None,
        body: Any = None,
        *,
        ts: str | None = None,
        passphrase: str | None = None,
        secret: str | None = None,
        signed_target: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        raw = b"" if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if key is not None:
            stamp = ts or f"{time.time():.6f}"
            headers |= {
                "CB-ACCESS-KEY": key.key,
                "CB-ACCESS-SIGN": sign(
                    secret or key.secret, stamp, method, signed_target or target, raw
                ),  # fmt: skip
                "CB-ACCESS-TIMESTAMP": stamp,
                "CB-ACCESS-PASSPHRASE": key.passphrase if passphrase is None else passphrase,
            }
        url = self.server.rest_url + target
        async with self.session.request(method, url, data=raw or None, headers=headers) as resp:
            return resp.status, await resp.json(content_type=None), dict(resp.headers)


@pytest.fixture
async def raw() -> AsyncIterator[Raw]:
    server = ExchangeSimServer(seed=23, market=MARKET, tick_interval=0.05)
    async with server, aiohttp.ClientSession() as session:
        yield Raw(server, session)


async def test_refusals_have_exchange_statuses_and_bodies(raw: Raw) -> None:
    key = raw.server.add_key()
    other = raw.server.add_key()
    assert (await raw("GET", "/accounts", key))[0] == 200
    cases = {
        "bad signature": await raw("GET", "/accounts", key, secret=other.secret),
        "bad passphrase": await raw("GET", "/accounts", key, passphrase="wrong"),
        "expired": await raw("GET", "/accounts", key, ts=str(int(time.time()) - 31)),
        "unknown key": await raw("GET", "/accounts", ExchangeKey("nope", key.secret, "", "p")),
        "query not signed": await raw(
            "GET", "/fills?product_id=BTC-USD", key, signed_target="/fills"
        ),
    }
    got = {name: (status, body) for name, (status, body, _) in cases.items()}
    assert got == {
        "bad signature": (401, {"message": "invalid signature"}),
        "bad passphrase": (400, {"message": "Invalid Passphrase"}),
        "expired": (401, {"message": "request timestamp expired"}),
        "unknown key": (401, {"message": "Invalid API Key"}),
        "query not signed": (401, {"message": "invalid signature"}),
    }
    # within the window, and decimal timestamps, are fine
    assert (await raw("GET", "/accounts", key, ts=f"{time.time() - 29:.3f}"))[0] == 200
    public = await raw("GET", "/products", None)  # public routes need no key
    assert public[0] == 200 and [p["id"] for p in public[1]] == ["BTC-USD", "ETH-USD"]


async def test_server_clock_shift_expires_good_signatures(raw: Raw) -> None:
    key = raw.server.add_key()
    raw.server.faults.clock_offset = 45.0
    status, body, _ = await raw("GET", "/accounts", key)
    assert (status, body) == (401, {"message": "request timestamp expired"})
    _, clock, _ = await raw("GET", "/time", None)
    assert abs(clock["epoch"] - (time.time() + 45.0)) < 2
    assert clock["iso"].endswith("Z")


async def test_permissions_and_ip_allow_list(raw: Raw) -> None:
    view_only = raw.server.add_key(can_trade=False)
    order = {"type": "limit", "side": "buy", "product_id": "BTC-USD", "price": "1000",
             "size": "0.01"}  # fmt: skip
    status, body, _ = await raw("POST", "/orders", view_only, order)
    assert status == 403 and "trade permission" in body["message"]
    assert (await raw("GET", "/orders", view_only))[0] == 200  # reads still work
    assert raw.server.exchange.list_orders(view_only.profile_id, {}) == []

    elsewhere = raw.server.add_key(allowed_ips=("10.20.30.0/24",))
    status, body, _ = await raw("GET", "/accounts", elsewhere)
    assert status == 403 and body == {"message": "IP address 127.0.0.1 is not allowed for "
                                      "this API key"}  # fmt: skip
    here = raw.server.add_key(allowed_ips=("127.0.0.1",))
    assert (await raw("GET", "/accounts", here))[0] == 200


async def test_create_answers_pending_and_client_oid_rules(raw: Raw) -> None:
    key = raw.server.add_key()
    oid = str(uuid.uuid4())
    order = {"client_oid": oid, "type": "limit", "side": "buy", "product_id": "BTC-USD",
             "price": "1000.00", "size": "0.01", "post_only": True}  # fmt: skip
    status, first, _ = await raw("POST", "/orders", key, order)
    assert status == 200 and first["status"] == "pending" and first["filled_size"] == "0"
    assert first["client_oid"] == oid and "message" not in first
    # Exchange does not deduplicate client_oid: a repeat is a second order
    _, second, _ = await raw("POST", "/orders", key, order)
    assert second["id"] != first["id"]
    _, found, _ = await raw("GET", f"/orders/client:{oid}", key)
    assert found["id"] == second["id"] and found["status"] == "open"
    bad = dict(order, client_oid="my-order-1")
    assert (await raw("POST", "/orders", key, bad))[:2] == (400, {"message": "Invalid client_oid"})
    # cancel by client id answers the id as a JSON string; again: already done
    status, cancelled, _ = await raw("DELETE", f"/orders/client:{oid}", key)
    assert (status, cancelled) == (200, second["id"])
    again = await raw("DELETE", f"/orders/{second['id']}", key)
    assert again[:2] == (400, {"message": "Order already done"})
    assert (await raw("GET", f"/orders/{uuid.uuid4()}", key))[:2] == (404, {"message": "NotFound"})
    records = [o for o in raw.server.exchange.list_orders(key.profile_id, {})]
    assert len(records) == 2


@pytest.mark.parametrize("policy", ["reject_open", "return_existing"])
async def test_duplicate_client_oid_policies(policy: str) -> None:
    config = ExchangeDialectConfig(duplicate_client_oid=policy)  # type: ignore[arg-type]
    server = ExchangeSimServer(seed=5, market=MARKET, config=config)
    async with server, aiohttp.ClientSession() as session:
        raw = Raw(server, session)
        key = server.add_key()
        order = {"client_oid": str(uuid.uuid4()), "side": "sell", "product_id": "ETH-USD",
                 "price": "900000", "size": "0.1"}  # fmt: skip
        _, first, _ = await raw("POST", "/orders", key, order)
        status, second, _ = await raw("POST", "/orders", key, order)
        if policy == "reject_open":
            assert status == 400 and "duplicate client_oid" in second["message"]
        else:
            assert status == 200 and second["id"] == first["id"]
        assert len(server.exchange.list_orders(key.profile_id, {})) == 1


async def test_fills_page_with_cb_before_and_cb_after(raw: Raw) -> None:
    key = raw.server.add_key()
    for _ in range(3):
        body = {"type": "market", "side": "buy", "product_id": "BTC-USD", "size": "0.0003"}
        assert (await raw("POST", "/orders", key, body))[0] == 200
    _, every, _ = await raw("GET", "/fills?product_id=BTC-USD&limit=1000", key)
    ids = [f["trade_id"] for f in every]
    assert len(ids) >= 3 and ids == sorted(ids, reverse=True)  # newest first
    _, page1, h1 = await raw("GET", "/fills?product_id=BTC-USD&limit=2", key)
    assert [f["trade_id"] for f in page1] == ids[:2]
    assert (h1["CB-BEFORE"], h1["CB-AFTER"]) == (str(ids[0]), str(ids[1]))
    _, page2, h2 = await raw("GET", f"/fills?product_id=BTC-USD&limit=2&after={h1['CB-AFTER']}",
                             key)  # fmt: skip
    assert [f["trade_id"] for f in page2] == ids[2:4]
    _, newer, _ = await raw("GET", f"/fills?product_id=BTC-USD&before={h2['CB-BEFORE']}", key)
    assert [f["trade_id"] for f in newer] == ids[:2]
    status, body, _ = await raw("GET", "/fills", key)
    assert status == 400 and "order_id or product_id" in body["message"]
