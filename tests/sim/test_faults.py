"""Every REST fault knob fires, does what it says, and stops after its count."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from botkit.sim.server import SimServer
from tests.sim.conftest import Caller

ORDER = {
    "client_order_id": "drop-1",
    "product_id": "BTC-USD",
    "side": "BUY",
    "order_configuration": {"market_market_ioc": {"quote_size": "20"}},
}


@pytest.mark.parametrize("status", [401, 403, 500, 503])
async def test_status_faults_fire_then_stop(call: Caller, sim: SimServer, status: int) -> None:
    fault = sim.faults.fail_next(status, count=2, path="/accounts")
    assert [(await call("GET", "/accounts"))[0] for _ in range(3)] == [status, status, 200]
    assert fault.fired == 2 and not sim.faults.faults
    assert (await call("GET", "/time", sign=False))[0] == 200  # path filter: others untouched


async def test_401_fault_body_is_plain_unauthorized(call: Caller, sim: SimServer) -> None:
    sim.faults.fail_next(401)
    status, body, _ = await call("GET", "/accounts")
    assert (status, body) == (401, "Unauthorized")


async def test_429_with_retry_after(call: Caller, sim: SimServer) -> None:
    sim.faults.fail_next(429, retry_after=2)
    status, body, headers = await call("GET", "/accounts")
    assert status == 429 and headers["Retry-After"] == "2"
    assert body["errors"][0]["id"] == "rate_limit_exceeded"
    assert (await call("GET", "/accounts"))[0] == 200


async def test_delay_fault(call: Caller, sim: SimServer) -> None:
    fault = sim.faults.delay_next(0.4, path="/accounts")
    t0 = time.monotonic()
    assert (await call("GET", "/accounts"))[0] == 200
    # a lower bound only: the server really slept; no machine is too slow for it
    assert time.monotonic() - t0 >= 0.4
    assert fault.fired == 1 and fault not in sim.faults.faults  # disarmed after one
    assert (await call("GET", "/accounts"))[0] == 200
    assert fault.fired == 1 and sim.faults.history == [
        ("delay", "GET", "/api/v3/brokerage/accounts")
    ]


async def test_accept_then_drop_records_the_order(call: Caller, sim: SimServer) -> None:
    sim.faults.drop_after_accept()
    with pytest.raises(aiohttp.ClientError):
        await call("POST", "/orders", ORDER)
    _, listed, _ = await call("GET", "/orders/historical/batch")
    assert [o["client_order_id"] for o in listed["orders"]].count("drop-1") == 1
    status, again, _ = await call("POST", "/orders", ORDER)  # the retry with the same id is safe
    assert status == 200 and again["success"]
    _, listed, _ = await call("GET", "/orders/historical/batch")
    assert [o["client_order_id"] for o in listed["orders"]].count("drop-1") == 1


async def test_reset_does_not_process(call: Caller, sim: SimServer) -> None:
    sim.faults.reset_next(path="/orders$")
    with pytest.raises(aiohttp.ClientError):
        await call("POST", "/orders", {**ORDER, "client_order_id": "reset-1"})
    _, listed, _ = await call("GET", "/orders/historical/batch")
    assert "reset-1" not in [o["client_order_id"] for o in listed["orders"]]


@pytest.mark.parametrize(("offset", "reason"), [(300, "expired"), (-300, "not yet valid")])
async def test_server_clock_offset(
    call: Caller, sim: SimServer, offset: float, reason: str
) -> None:
    sim.faults.clock_offset = offset
    status, _, headers = await call("GET", "/accounts")
    assert status == 401 and reason in headers["x-botkit-sim-reason"]
    _, t, _ = await call("GET", "/time", sign=False)
    assert abs(int(t["epochSeconds"]) - (time.time() + offset)) <= 2
    sim.faults.clear()
    assert (await call("GET", "/accounts"))[0] == 200


async def test_admin_endpoint_needs_token_and_arms_faults(call: Caller, sim: SimServer) -> None:
    base = f"http://{sim.authority}/_sim"
    async with call.session.post(f"{base}/faults", json={"kind": "status", "status": 503}) as r:
        assert r.status == 401
    hdr = {"X-Sim-Admin-Token": sim.admin_token}
    async with call.session.post(
        f"{base}/faults", json={"kind": "status", "status": 503, "count": 1}, headers=hdr
    ) as r:
        assert r.status == 200
    async with call.session.post(f"{base}/faults", json={"kind": "nonsense"}, headers=hdr) as r:
        assert r.status == 400
    assert (await call("GET", "/accounts"))[0] == 503
    async with call.session.post(f"{base}/clock", json={"offset": 500}, headers=hdr) as r:
        assert r.status == 200
    assert (await call("GET", "/accounts"))[0] == 401
    async with call.session.delete(f"{base}/faults", headers=hdr) as r:
        assert r.status == 200
    async with call.session.get(f"{base}/state", headers=hdr) as r:
        state = await r.json()
    assert (
        state["clock_offset"] == 0
        and state["faults"] == []
        and "offset" not in state["last_auth_failure"]
    )
    async with call.session.post(
        f"{base}/ws_faults", json={"action": "stall", "seconds": 0.5}, headers=hdr
    ) as r:
        assert r.status == 200
    async with call.session.post(f"{base}/ws_faults", json={"action": "rm -rf"}, headers=hdr) as r:
        assert r.status == 400


async def test_market_keeps_moving_on_its_own(sim: SimServer, call: Caller) -> None:
    """The server's own tick loop drives the market: a level2 update arrives with no help."""
    async with call.session.ws_connect(sim.ws_market_url) as ws:
        await ws.send_json({"type": "subscribe", "channel": "level2", "product_ids": ["BTC-USD"]})

        async def first_update() -> dict[str, object]:
            async for msg in ws:
                data = msg.json()
                if data.get("channel") == "l2_data" and data["events"][0]["type"] == "update":
                    return data  # type: ignore[no-any-return]
            raise AssertionError("socket closed before any update")

        update = await asyncio.wait_for(first_update(), timeout=10)
    assert update["events"][0]["updates"]  # type: ignore[index]
