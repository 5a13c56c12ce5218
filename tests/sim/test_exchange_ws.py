"""The sim's Coinbase Exchange WebSocket feed, spoken to with a bare aiohttp client over loopback.

The signatures here are computed by hand (hmac + base64), independently of botkit's signer
and of the simulator's verifier. The market moves only when a test steps it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from botkit.sim.exchange import SimMarketConfig
from botkit.sim.exchange_auth import ExchangeKey
from botkit.sim.exchange_rest import ExchangeSimServer
from botkit.sim.exchange_ws import ExchangeWsConfig

pytestmark = pytest.mark.timeout(60)
Frames = list[dict[str, Any]]


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimServer]:
    cfg = ExchangeWsConfig(heartbeat_interval=0.05, subscribe_deadline=1.0)
    market = SimMarketConfig(cancel_latency_steps=0)
    async with ExchangeSimServer(seed=21, market=market, tick_interval=0, ws_config=cfg) as s:
        yield s


class Client:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, msg: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(msg))

    async def next(self, pred: Callable[[dict[str, Any]], bool] = lambda f: True) -> dict[str, Any]:
        async with asyncio.timeout(5):
            while True:
                msg = await self.ws.receive()
                assert msg.type == aiohttp.WSMsgType.TEXT, msg
                frame: dict[str, Any] = json.loads(msg.data)
                if pred(frame):
                    return frame

    async def until(self, pred: Callable[[dict[str, Any]], bool], n: int) -> Frames:
        return [await self.next(pred) for _ in range(n)]


@pytest.fixture
async def connect(sim: ExchangeSimServer) -> AsyncIterator[Callable[..., Any]]:
    session = aiohttp.ClientSession()

    async def open_(suffix: str = "") -> Client:
        return Client(await session.ws_connect(sim.ws_url + suffix))

    yield open_
    await session.close()


def signed(
    sim_key: ExchangeKey, ts: float | int | str | None = None, **over: str
) -> dict[str, Any]:
    key = sim_key
    stamp = ts if ts is not None else int(time.time())
    secret = base64.b64decode(over.get("secret", key.secret))
    prehash = f"{stamp}GET/users/self/verify".encode()
    sig = base64.b64encode(hmac.new(secret, prehash, hashlib.sha256).digest()).decode()
    return {
        "signature": sig,
        "key": over.get("key", key.key),
        "passphrase": over.get("passphrase", key.passphrase),
        "timestamp": stamp,
    }


def kind(*types: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["type"] in types


async def test_both_channel_forms_and_the_full_set_reply(
    sim: ExchangeSimServer, connect: Any
) -> None:
    c = await connect()
    await c.send(
        {
            "type": "subscribe",
            "product_ids": ["BTC-USD"],
            "channels": ["heartbeat", {"name": "ticker", "product_ids": ["ETH-USD"]}],
        }
    )
    reply = await c.next(kind("subscriptions"))
    assert reply["channels"] == [
        {"name": "heartbeat", "product_ids": ["BTC-USD"]},
        {"name": "ticker", "product_ids": ["BTC-USD", "ETH-USD"]},
    ]
    await c.send({"type": "subscribe", "product_ids": ["ETH-USD"], "channels": ["heartbeat"]})
    reply = await c.next(kind("subscriptions"))
    assert reply["channels"][0] == {"name": "heartbeat", "product_ids": ["BTC-USD", "ETH-USD"]}
    await c.send({"type": "unsubscribe", "channels": ["ticker"]})  # a channel with no products
    reply = await c.next(kind("subscriptions"))
    assert [ch["name"] for ch in reply["channels"]] == ["heartbeat"]
    await c.send({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["level2_50"]})
    reply = await c.next(kind("subscriptions"))
    assert {"name": "level2_batch", "product_ids": ["BTC-USD"]} in reply["channels"]


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        ({"product_ids": ["DOGE-EUR"], "channels": ["ticker"]}, "DOGE-EUR is not a valid product"),
        ({"product_ids": ["BTC-USD"], "channels": ["heartbeats"]}, "heartbeats is not a valid"),
        ({"product_ids": ["BTC-USD"], "channels": ["full"]}, "full is not served"),
        ({"product_ids": ["BTC-USD"]}, "channels is required"),
        ({"channels": ["ticker"]}, "ticker requires product_ids"),
    ],
)
async def test_bad_subscribes_get_an_error_frame(
    connect: Any, msg: dict[str, Any], reason: str
) -> None:
    c = await connect()
    await c.send({"type": "subscribe", **msg})
    frame = await c.next()
    assert frame["type"] == "error" and frame["message"] == "Failed to subscribe"
    assert reason in frame["reason"]


@pytest.mark.parametrize(
    ("change", "rest_message"),
    [
        ({"secret": base64.b64encode(b"x" * 64).decode()}, "invalid signature"),
        ({"passphrase": "wrong"}, "Invalid Passphrase"),
        ({"key": "nobody"}, "Invalid API Key"),
        ({"ts": "expired"}, "request timestamp expired"),
        ({}, None),  # no auth fields at all
    ],
)
async def test_user_subscribe_refusals_are_the_reference_error_frame(
    sim: ExchangeSimServer, connect: Any, change: dict[str, str], rest_message: str | None
) -> None:
    key = sim.add_key()
    c = await connect("?")  # ccxt's private URL: an empty query string
    msg: dict[str, Any] = {"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["user"]}
    if rest_message is not None:
        over = {k: v for k, v in change.items() if k != "ts"}
        ts = int(time.time()) - 31 if "ts" in change else None
        msg.update(signed(key, ts, **over))
    await c.send(msg)
    frame = await c.next()
    assert frame["type"] == "error" and frame["message"] == "Authentication Failed"
    reason = json.loads(frame["reason"])  # a JSON string holding the REST error body
    if rest_message is not None:
        assert reason == {"message": rest_message}
    else:
        assert "sign the subscribe" in reason["message"]
    await c.send({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["heartbeat"]})
    reply = await c.next(kind("subscriptions"))  # nothing of the refused message was taken
    assert reply["channels"] == [{"name": "heartbeat", "product_ids": ["BTC-USD"]}]


async def test_level2_needs_auth_and_a_signed_one_gets_a_snapshot(
    sim: ExchangeSimServer, connect: Any
) -> None:
    key = sim.add_key()
    c = await connect()
    await c.send({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["level2"]})
    assert (await c.next())["message"] == "Authentication Failed"
    sub = {"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["level2"]}
    await c.send({**sub, **signed(key, f"{time.time():.6f}")})  # a decimal string, as cbpro
    await c.next(kind("subscriptions"))
    snap = await c.next(kind("snapshot"))
    bids, asks = sim.exchange.book("BTC-USD")
    assert [[Decimal(p), Decimal(s)] for p, s in snap["bids"]] == [[p, s] for p, s in bids]
    assert [[Decimal(p), Decimal(s)] for p, s in snap["asks"]] == [[p, s] for p, s in asks]
    assert "sequence" not in snap


async def test_sequence_is_per_product_and_shared_by_heartbeat_ticker_and_matches(
    sim: ExchangeSimServer, connect: Any
) -> None:
    c = await connect()
    await c.send(
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"],
         "channels": ["matches", "ticker", "heartbeat"]}
    )  # fmt: skip
    await c.next(kind("subscriptions"))
    first = await c.next(kind("last_match"))
    assert isinstance(first["trade_id"], int) and first["side"] in ("buy", "sell")
    t = sim.clock()
    frames: Frames = []
    while len([f for f in frames if f["type"] == "match"]) < 6:
        t += 0.3
        sim.step(t)
        frames += await _drain(c, ["BTC-USD", "ETH-USD"])
    frames += await c.until(kind("heartbeat"), 4)  # heartbeats after the last step
    for pid in ("BTC-USD", "ETH-USD"):
        mine = [f for f in frames if f.get("product_id") == pid]
        matches = [f for f in mine if f["type"] == "match"]
        ids = [f["trade_id"] for f in matches]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        for m in matches:  # each match has its ticker, with the same number
            tick = [f for f in mine if f["type"] == "ticker" and f["trade_id"] == m["trade_id"]]
            assert not tick or tick[0]["sequence"] == m["sequence"]
        seqs = [f["sequence"] for f in mine if f["type"] in ("match", "ticker", "heartbeat")]
        assert seqs == sorted(seqs)  # one counter, never backwards
        beats = [f for f in mine if f["type"] == "heartbeat"]
        tape = sim.exchange.recent_trades(pid, 1)[-1]
        assert beats[-1]["last_trade_id"] <= int(tape.trade_id)
    assert sim.ws.sequence["BTC-USD"] != sim.ws.sequence["ETH-USD"]


async def _drain(c: Client, pids: list[str], channel: str = "heartbeat") -> Frames:
    """Every frame sent before a barrier: a repeated subscribe, whose reply comes after them."""
    await c.send({"type": "subscribe", "product_ids": pids, "channels": [channel]})
    out: Frames = []
    while (frame := await c.next())["type"] != "subscriptions":
        out.append(frame)
    return out


async def test_user_channel_order_lifecycle(sim: ExchangeSimServer, connect: Any) -> None:
    key = sim.add_key()
    c = await connect("?")
    sub = {"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["user"]}
    await c.send({**sub, **signed(key)})
    await c.next(kind("subscriptions"))
    dialect = sim.dialect

    def post(body: dict[str, Any]) -> dict[str, Any]:
        raw = json.dumps(body).encode()
        ts = str(time.time())
        prehash = (ts + "POST/orders").encode() + raw
        sig = base64.b64encode(
            hmac.new(base64.b64decode(key.secret), prehash, hashlib.sha256).digest()
        ).decode()
        headers = {"CB-ACCESS-KEY": key.key, "CB-ACCESS-SIGN": sig, "CB-ACCESS-TIMESTAMP": ts,
                   "CB-ACCESS-PASSPHRASE": key.passphrase}  # fmt: skip
        answer = dialect.handle("POST", "/orders", raw, headers, sim.clock())
        sim.step()
        assert answer.status == 200, answer.body
        return dict(answer.body)

    coid = "9f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f"
    rest = post({"product_id": "BTC-USD", "side": "buy", "type": "limit", "price": "1000.00",
                 "size": "0.01", "client_oid": coid})  # fmt: skip
    received, opened = await c.until(kind("received", "open"), 2)
    assert (received["type"], opened["type"]) == ("received", "open")
    assert received["client_oid"] == coid and received["order_id"] == rest["id"]
    assert received["sequence"] < opened["sequence"] and opened["remaining_size"] == "0.01"
    taker = post({"product_id": "BTC-USD", "side": "buy", "type": "market", "size": "0.02"})
    frames = await c.until(lambda f: f.get("order_id", f.get("taker_order_id")) == taker["id"], 1)
    while frames[-1]["type"] != "done":
        frames.append(await c.next())
    types = [f["type"] for f in frames]
    assert types[0] == "received" and types[-1] == "done" and "open" not in types
    matches = [f for f in frames if f["type"] == "match"]
    fills = sim.exchange.list_fills(key.profile_id, {"order_ids": [taker["id"]]})
    assert sorted(m["trade_id"] for m in matches) == sorted(int(f["trade_id"]) for f in fills)
    for m in matches:
        assert m["taker_order_id"] == taker["id"] and "taker_fee_rate" in m
        fill = next(f for f in fills if int(f["trade_id"]) == m["trade_id"])
        fee = Decimal(m["price"]) * Decimal(m["size"]) * Decimal(m["taker_fee_rate"])
        assert abs(fee - Decimal(fill["commission"])) <= Decimal("0.01")
    assert frames[-1]["reason"] == "filled" and "price" not in frames[-1]
    seqs = [f["sequence"] for f in frames]
    assert seqs == sorted(seqs)


@pytest.mark.parametrize("fault", ["close", "drop", "error"])
async def test_fault_knobs_reach_the_connection(
    sim: ExchangeSimServer, connect: Any, fault: str
) -> None:
    c = await connect()
    await c.send({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["heartbeat"]})
    await c.next(kind("subscriptions"))
    if fault == "error":
        sim.ws_faults.error_next("Failed to subscribe", "injected")
        frame = await c.next(kind("error"))
        assert frame["reason"] == "injected"
        assert (await c.next())["type"] == "heartbeat"  # still open
        return
    if fault == "close":
        sim.ws_faults.close_next(1001)
    else:
        sim.ws_faults.drop_next(1006)
    async with asyncio.timeout(5):
        while True:
            msg = await c.ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
    assert c.ws.close_code == (1001 if fault == "close" else 1006)


async def test_skip_sequence_loses_one_trade_of_one_product(
    sim: ExchangeSimServer, connect: Any
) -> None:
    c = await connect()
    await c.send(
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channels": ["matches"]}
    )
    await c.next(kind("subscriptions"))
    sim.ws_faults.skip_sequence("BTC-USD", 1)
    t = sim.clock()
    frames: Frames = []
    while sim.ws_faults.pending["skip_sequence"]["BTC-USD"] or len(frames) < 10:
        t += 0.3
        sim.step(t)
        frames += await _drain(c, ["BTC-USD", "ETH-USD"], "matches")

    def ids(pid: str) -> list[int]:
        return [f["trade_id"] for f in frames if f["product_id"] == pid]  # last_match first

    eth, btc = ids("ETH-USD"), ids("BTC-USD")
    assert eth == list(range(eth[0], eth[0] + len(eth)))
    assert len(set(range(btc[0], btc[-1] + 1)) - set(btc)) == 1  # exactly the lost one
    assert sim.ws.last_trade["BTC-USD"] is not None
    assert btc[-1] == int(sim.ws.last_trade["BTC-USD"].trade_id) or btc[-1] + 1 == int(
        sim.ws.last_trade["BTC-USD"].trade_id
    )


async def test_no_subscribe_within_the_deadline_closes(connect: Any) -> None:
    c = await connect()
    async with asyncio.timeout(5):
        msg = await c.ws.receive()
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert c.ws.close_code == 1008
