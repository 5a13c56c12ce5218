"""WebSocket side of the simulator, over real loopback sockets, against a real SimExchange.

The market is driven by the test (virtual clock, ``exchange.advance`` then
``hub.publish(exchange.drain_events())``). Waits are on frames with bounded
timeouts; a "barrier" (an unsubscribe of an unused channel, answered by an ack
queued behind everything published before it) proves that all earlier frames
have arrived.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import WSMsgType, web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from botkit.sim.events import TradePrint
from botkit.sim.exchange import SimExchange, SimMarketConfig
from botkit.sim.ws import SimWsHub, WsAuthError, WsConfig, WsFaults

T0 = 1_767_268_800.0  # 2026-01-01T12:00:00Z
WAIT = 10.0
GO_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} \+0000 UTC m=\+\d+\.\d{9}$")


# -- keys and JWTs -------------------------------------------------------------


@dataclass
class Keys:
    """Two CDP-style keys (ES256 and Ed25519) registered for one user each."""

    ec_kid: str = "organizations/org-1/apiKeys/key-ec"
    ed_kid: str = "d2efa49a-369c-43d7-a60e-ae26e28853c2"
    ec_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    ed_key: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)

    def users(self) -> dict[str, tuple[Any, str]]:
        return {
            self.ec_kid: (self.ec_key.public_key(), "user-ec"),
            self.ed_kid: (self.ed_key.public_key(), "user-ed"),
        }

    def ec_pem(self) -> str:
        return self.ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()

    def ed_b64(self) -> str:
        seed = self.ed_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        pub = self.ed_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(seed + pub).decode()

    def token(self, *, ed: bool = False, age: float = 0.0) -> str:
        kid, key, alg = (
            (self.ed_kid, self.ed_key, "EdDSA") if ed else (self.ec_kid, self.ec_key, "ES256")
        )
        nbf = int(time.time() - age)
        claims = {"sub": kid, "iss": "cdp", "nbf": nbf, "exp": nbf + 120}
        headers = {"kid": kid, "nonce": secrets.token_hex()}
        return jwt.encode(claims, key, algorithm=alg, headers=headers)


def make_verifier(keys: Keys) -> Callable[[str], str]:
    """Stand-in for botkit.sim.auth: verify signature, nbf/exp; map kid to user."""
    users = keys.users()

    def verify(token: str) -> str:
        try:
            kid = jwt.get_unverified_header(token)["kid"]
            pub, user_id = users[kid]
            claims = jwt.decode(
                token, pub, algorithms=["ES256", "EdDSA"], options={"require": ["exp", "nbf"]}
            )
        except (jwt.PyJWTError, KeyError) as exc:
            raise WsAuthError(str(exc)) from exc
        if claims.get("sub") != kid:
            raise WsAuthError("sub does not match kid")
        return user_id

    return verify


# -- harness -------------------------------------------------------------------


@dataclass
class Sim:
    """A running hub on 127.0.0.1 plus the virtual clock that drives the market."""

    exchange: SimExchange
    hub: SimWsHub
    faults: WsFaults
    keys: Keys
    url: str
    t: float = T0

    def now(self) -> float:
        return self.t

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.t += 0.1
            self.exchange.advance(self.t)
            self.hub.publish(self.exchange.drain_events())

    def order(self, user: str, side: str, price: str, size: str, **kw: Any) -> dict[str, Any]:
        body = {
            "client_order_id": secrets.token_hex(8),
            "product_id": kw.get("product_id", "BTC-USD"),
            "side": side,
            "order_configuration": {
                "limit_limit_gtc": {"base_size": size, "limit_price": price, "post_only": False}
            },
        }
        resp = self.exchange.create_order(user, body, self.t)
        self.hub.publish(self.exchange.drain_events())
        assert resp["success"], resp
        return resp


@pytest.fixture
async def make_sim() -> AsyncIterator[Callable[..., Any]]:
    started: list[tuple[SimWsHub, web.AppRunner]] = []

    async def start(**cfg: Any) -> Sim:
        keys = Keys()
        exchange = SimExchange(SimMarketConfig(), seed=7, start_time=T0)
        for _, user in keys.users().values():
            exchange.add_user(user)
        exchange.drain_events()
        faults = WsFaults()
        box: list[Sim] = []
        hub = SimWsHub(
            exchange,
            # prints sent per step unless a test asks for Coinbase's 250 ms batching
            config=WsConfig(**{"market_trades_interval": 0.0, **cfg}),
            now=lambda: box[0].t,
            verify_jwt=make_verifier(keys),
            faults=faults,
        )
        app = web.Application()
        app.router.add_get("/", hub.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, host="127.0.0.1", port=0)
        await site.start()
        port = runner.addresses[0][1]
        started.append((hub, runner))
        box.append(Sim(exchange, hub, faults, keys, f"ws://127.0.0.1:{port}/"))
        return box[0]

    yield start
    for hub, runner in started:
        await hub.close()
        await runner.cleanup()


class Client:
    """aiohttp WS client that records every frame (parsed) for later assertions."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.raw: list[str] = []

    async def send(self, **msg: Any) -> None:
        await self.ws.send_str(json.dumps(msg))

    async def sub(self, channel: str, *pids: str, jwt_: str | None = None) -> None:
        msg: dict[str, Any] = {"type": "subscribe", "channel": channel, "product_ids": list(pids)}
        if jwt_ is not None:
            msg["jwt"] = jwt_
        await self.send(**msg)

    async def next_msg(self) -> aiohttp.WSMessage:
        return await asyncio.wait_for(self.ws.receive(), WAIT)

    async def recv(self) -> dict[str, Any]:
        msg = await self.next_msg()
        assert msg.type == WSMsgType.TEXT, msg
        self.raw.append(msg.data)
        frame: dict[str, Any] = json.loads(msg.data)
        self.frames.append(frame)
        return frame

    async def until(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async def loop() -> dict[str, Any]:
            while True:
                frame = await self.recv()
                if pred(frame):
                    return frame

        return await asyncio.wait_for(loop(), WAIT)

    async def find(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first frame already received that matches, else the next one to arrive."""
        for frame in self.frames:
            if pred(frame):
                return frame
        return await self.until(pred)

    async def barrier(self) -> None:
        """Every frame queued before this call has arrived once this returns."""
        await self.send(type="unsubscribe", channel="status", product_ids=["ETH-USD"])
        await self.until(lambda fr: fr.get("channel") == "subscriptions")


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Any]]:
    session = aiohttp.ClientSession()

    async def open_(url: str, **kw: Any) -> Client:
        ws = await session.ws_connect(url, max_msg_size=64 * 1024 * 1024, **kw)
        return Client(ws)

    yield open_
    await session.close()


def chan(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda fr: fr.get("channel") == name


def apply_l2(frames: list[dict[str, Any]], pid: str) -> tuple[dict[Decimal, Decimal], ...]:
    """A client's book: snapshot then updates; quantity 0 deletes."""
    sides: dict[str, dict[Decimal, Decimal]] = {"bid": {}, "offer": {}}
    for fr in frames:
        if fr.get("channel") != "l2_data":
            continue
        for ev in fr["events"]:
            if ev["product_id"] != pid:
                continue
            if ev["type"] == "snapshot":
                sides = {"bid": {}, "offer": {}}
            for u in ev["updates"]:
                qty, price = Decimal(u["new_quantity"]), Decimal(u["price_level"])
                if qty == 0:
                    sides[u["side"]].pop(price, None)
                else:
                    sides[u["side"]][price] = qty
    return sides["bid"], sides["offer"]


def book_of(ex: SimExchange, pid: str) -> tuple[dict[Decimal, Decimal], ...]:
    bids, asks = ex.book(pid)
    return dict(bids), dict(asks)


# -- protocol basics -----------------------------------------------------------


async def test_sequence_starts_at_zero_and_is_contiguous_across_channels(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    await c.sub("level2", "BTC-USD", "ETH-USD")
    await c.sub("ticker", "BTC-USD")
    await c.sub("market_trades", "BTC-USD")
    sim.step(30)
    await c.until(chan("heartbeats"))
    await c.barrier()
    seqs = [fr["sequence_num"] for fr in c.frames]
    assert seqs == list(range(len(seqs)))
    names = {fr["channel"] for fr in c.frames}
    assert {"subscriptions", "heartbeats", "l2_data", "ticker", "market_trades"} <= names
    for fr in c.frames:
        assert set(fr) == {"channel", "client_id", "timestamp", "sequence_num", "events"}
        assert fr["client_id"] == ""
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", fr["timestamp"])


async def test_market_trades_are_batched_per_interval_like_coinbase(make_sim, connect):
    """§3.5: trades batched over 250 ms. Every print arrives once, in order, in few frames."""
    sim = await make_sim(market_trades_interval=0.25)
    c = await connect(sim.url)
    await c.sub("market_trades", "BTC-USD")
    await c.until(chan("market_trades"))  # the snapshot
    c.frames.clear()
    printed: list[str] = []
    for _ in range(40):  # 40 market steps published at once: well inside one interval
        sim.t += 0.1
        sim.exchange.advance(sim.t)
        events = sim.exchange.drain_events()
        printed += [
            str(e.trade_id)
            for e in events
            if isinstance(e, TradePrint) and e.product_id == "BTC-USD"
        ]
        sim.hub.publish(events)
    assert len(printed) >= 5, "the seeded market printed too little to test batching"
    got: list[str] = []
    while len(got) < len(printed):
        fr = await c.until(chan("market_trades"))
        assert fr["events"][0]["type"] == "update"
        got += [t["trade_id"] for t in fr["events"][0]["trades"]]
    updates = [fr for fr in c.frames if fr["channel"] == "market_trades"]
    assert got == printed  # none lost, none twice, in order
    assert len(updates) <= 2  # one flush (two if the steps straddled a flush)


async def test_prints_pending_for_an_unsubscribed_product_are_dropped(make_sim, connect):
    """Re-subscribing within one batching interval must not replay old prints as updates."""
    sim = await make_sim(market_trades_interval=0.25)
    c = await connect(sim.url)
    await c.sub("market_trades", "BTC-USD", "ETH-USD")
    await c.until(chan("market_trades"))  # the snapshot
    sim.step(20)  # prints for both products, pending until the next flush
    await c.send(type="unsubscribe", channel="market_trades", product_ids=["ETH-USD"])
    await c.sub("market_trades", "ETH-USD")
    snapshot = await c.until(
        lambda fr: chan("market_trades")(fr) and fr["events"][0]["type"] == "snapshot"
    )
    old = {t["trade_id"] for t in snapshot["events"][0]["trades"]}
    await c.until(lambda fr: chan("market_trades")(fr) and fr["events"][0]["type"] == "update")
    updates = [fr for fr in c.frames if fr["channel"] == "market_trades"]
    replayed = [
        t
        for fr in updates
        if fr["events"][0]["type"] == "update"
        for t in fr["events"][0]["trades"]
        if t["product_id"] == "ETH-USD" and t["trade_id"] in old
    ]
    assert replayed == []


async def test_acks_carry_the_full_subscription_map(make_sim, connect):
    sim = await make_sim()
    c = await connect(sim.url)
    await c.sub("level2", "BTC-USD")
    ack = await c.until(chan("subscriptions"))
    assert ack["events"] == [{"subscriptions": {"level2": ["BTC-USD"]}}]
    await c.sub("market_trades", "BTC-USD", "ETH-USD")
    ack = await c.until(chan("subscriptions"))
    assert ack["events"][0]["subscriptions"] == {
        "level2": ["BTC-USD"],
        "market_trades": ["BTC-USD", "ETH-USD"],
    }
    await c.send(type="unsubscribe", channel="market_trades", product_ids=["ETH-USD"])
    ack = await c.until(chan("subscriptions"))
    assert ack["events"][0]["subscriptions"]["market_trades"] == ["BTC-USD"]
    await c.send(type="unsubscribe", channel="level2", product_ids=[])
    await c.send(type="unsubscribe", channel="market_trades")
    await c.until(chan("subscriptions"))
    ack = await c.until(chan("subscriptions"))
    assert ack["events"] == [{"subscriptions": {}}]


async def test_heartbeats_use_go_time_and_string_counter(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    beats = [await c.until(chan("heartbeats")) for _ in range(3)]
    counters = []
    for fr in beats:
        (event,) = fr["events"]
        assert set(event) == {"current_time", "heartbeat_counter"}
        assert GO_TIME.match(event["current_time"]), event["current_time"]
        assert event["current_time"].startswith("2026-01-01 12:00:00.")
        assert isinstance(event["heartbeat_counter"], str)
        counters.append(int(event["heartbeat_counter"]))
    assert counters == sorted(counters) and len(set(counters)) == 3


async def test_one_channel_per_message_and_bad_messages_keep_connection_open(make_sim, connect):
    sim = await make_sim()
    c = await connect(sim.url)
    await c.send(type="subscribe", product_ids=["BTC-USD"], channels=["level2", "ticker"])
    err = await c.recv()
    assert err["type"] == "error" and "sequence_num" not in err
    await c.ws.send_str("{not json")
    assert (await c.recv())["type"] == "error"
    await c.sub("level2", "NOPE-USD")
    assert (await c.recv()) == {
        "type": "error",
        "message": "failure to subscribe",
        "reason": "NOPE-USD is not a valid product",
    }
    await c.sub("heartbeats")
    ack = await c.recv()
    assert ack["channel"] == "subscriptions" and ack["sequence_num"] == 0


@pytest.mark.parametrize("bad", ["heartbeat", "full", "level3"])
async def test_unknown_channel_is_authentication_failure(make_sim, connect, bad):
    sim = await make_sim()
    c = await connect(sim.url)
    await c.sub(bad, "BTC-USD")
    assert await c.recv() == {"type": "error", "message": "authentication failure"}
    assert not c.ws.closed
    await c.sub("status")
    assert (await c.recv())["channel"] == "subscriptions"


async def test_level2_cap_per_connection(make_sim, connect):
    sim = await make_sim(max_level2_products=1)
    c = await connect(sim.url)
    await c.sub("level2", "BTC-USD", "ETH-USD")
    err = await c.recv()
    assert err == {
        "type": "error",
        "message": "too many L2 streams requested in a single session",
    }
    await c.sub("level2", "BTC-USD")
    await c.until(chan("l2_data"))
    await c.sub("level2", "ETH-USD")
    err = await c.until(lambda fr: fr.get("type") == "error")
    assert err["message"] == "too many L2 streams requested in a single session"


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


# -- market channels -----------------------------------------------------------


async def test_level2_rebuild_equals_exchange_book(make_sim, connect):
    sim = await make_sim()
    c = await connect(sim.url)
    sim.step(20)  # changes before the subscription must not matter
    await c.sub("level2", "BTC-USD", "ETH-USD")
    snap = await c.until(chan("l2_data"))
    assert snap["events"][0]["type"] == "snapshot"
    sides = {u["side"] for u in snap["events"][0]["updates"]}
    assert sides == {"bid", "offer"}
    for i in range(300):
        sim.step()
        if i % 50 == 10:
            (bid, _), (ask, _) = sim.exchange.best_bid_ask("BTC-USD")
            sim.order("user-ec", "BUY", str(bid), "0.01")
            sim.order("user-ec", "SELL", str(ask + Decimal("1.00")), "0.02")
            sim.order("user-ec", "BUY", str(ask + Decimal("5.00")), "0.001")  # crosses
    await c.barrier()
    for pid in ("BTC-USD", "ETH-USD"):
        assert apply_l2(c.frames, pid) == book_of(sim.exchange, pid)
    updates = [fr for fr in c.frames if fr["channel"] == "l2_data"][2:]
    assert updates and all(ev["type"] == "update" for fr in updates for ev in fr["events"])


async def test_ticker_trades_batch_candles_status(make_sim, connect):
    sim = await make_sim(ticker_batch_interval=0.05, candles_interval=0.05, status_interval=0.05)
    c = await connect(sim.url)
    sim.step(50)
    for channel in ("ticker", "ticker_batch", "market_trades", "candles"):
        await c.sub(channel, "BTC-USD")
    await c.sub("status", "BTC-USD")
    snaps = {}
    while len(snaps) < 5:
        fr = await c.until(lambda fr: fr["channel"] not in ("subscriptions",))
        snaps.setdefault(fr["channel"], fr)
    tick = snaps["ticker"]["events"][0]
    assert tick["type"] == "snapshot" and tick["tickers"][0]["product_id"] == "BTC-USD"
    assert {"best_bid", "best_ask", "price"} <= set(tick["tickers"][0])
    batch = snaps["ticker_batch"]["events"][0]["tickers"][0]
    assert "best_bid" not in batch and "price" in batch
    trades = snaps["market_trades"]["events"][0]
    assert trades["type"] == "snapshot" and trades["trades"]
    assert all(isinstance(t["trade_id"], str) for t in trades["trades"])
    candle = snaps["candles"]["events"][0]["candles"][0]
    assert candle["product_id"] == "BTC-USD" and int(candle["start"]) % 300 == 0
    assert isinstance(candle["start"], str)
    product = snaps["status"]["events"][0]["products"][0]
    assert product["id"] == "BTC-USD" and product["status"] == "online"
    sim.step(30)
    await c.barrier()
    last_trade = sim.exchange.recent_trades("BTC-USD", 1)[0]
    ticks = [fr for fr in c.frames if fr["channel"] == "ticker"][1:]
    assert ticks and all(fr["events"][0]["type"] == "update" for fr in ticks)
    assert ticks[-1]["events"][0]["tickers"][0]["price"] == str(last_trade.price)
    await c.find(lambda fr: fr["channel"] == "ticker_batch" and fr["events"][0]["type"] == "update")
    mt = await c.find(
        lambda fr: fr["channel"] == "market_trades" and fr["events"][0]["type"] == "update"
    )
    assert mt["events"][0]["trades"][0]["side"] in ("BUY", "SELL")
    await c.find(lambda fr: fr["channel"] == "status" and fr["events"][0]["type"] == "update")


# -- user channel --------------------------------------------------------------


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


# -- faults --------------------------------------------------------------------


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


async def test_stall_keeps_pong_but_stops_data_then_resumes(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url, autoping=False)
    await c.sub("heartbeats")
    before = await c.until(chan("heartbeats"))
    loop = asyncio.get_running_loop()
    stalled_at = loop.time()
    sim.faults.stall(0.8)
    # drain whatever was already on the wire before the stall took effect
    await c.ws.ping(b"probe")
    while (msg := await c.next_msg()).type == WSMsgType.TEXT:
        c.frames.append(json.loads(msg.data))
    assert msg.type == WSMsgType.PONG and msg.data == b"probe"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(c.ws.receive(), 0.3)  # nothing at all while stalled
    resumed = await c.until(chan("heartbeats"))
    assert loop.time() - stalled_at >= 0.7
    gap = int(resumed["events"][0]["heartbeat_counter"]) - int(
        before["events"][0]["heartbeat_counter"]
    )
    assert gap <= 3  # heartbeats were not generated during the stall
    seqs = [fr["sequence_num"] for fr in c.frames if "sequence_num" in fr]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_skip_sequence_makes_one_gap(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    first = await c.until(chan("heartbeats"))
    sim.faults.skip_sequence(5)
    frames = [await c.recv() for _ in range(3)]
    seqs = [first["sequence_num"]] + [fr["sequence_num"] for fr in frames]
    gaps = [b - a for a, b in zip(seqs, seqs[1:], strict=False)]
    assert sorted(gaps) == [1, 1, 6]


async def test_duplicate_next_resends_same_sequence(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    first = await c.until(chan("heartbeats"))
    sim.faults.duplicate_next(2)
    frames = [await c.recv() for _ in range(7)]
    seqs = [fr["sequence_num"] - first["sequence_num"] for fr in frames]
    # one beat may already have been on the wire when the fault was armed
    assert seqs[:5] in ([1, 1, 2, 2, 3], [1, 2, 2, 3, 3])
    texts = c.raw[-7:]
    twins = [i for i in range(6) if texts[i] == texts[i + 1]]
    assert len(twins) == 2  # exactly n=2 envelopes were doubled, byte for byte
    assert sorted(set(seqs)) == list(range(1, len(set(seqs)) + 1))


async def test_malformed_frames_then_valid_resumes(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    first = await c.until(chan("heartbeats"))
    sim.faults.malformed_next(2)
    texts = []
    for _ in range(4):
        msg = await c.next_msg()
        assert msg.type == WSMsgType.TEXT
        texts.append(msg.data)
    bad = []
    for text in texts:
        try:
            json.loads(text)
        except ValueError:
            bad.append(text)
    assert len(bad) == 2
    good = [json.loads(t) for t in texts if t not in bad]
    assert [fr["sequence_num"] for fr in good] == [
        first["sequence_num"] + 1,
        first["sequence_num"] + 2,
    ]


async def test_oversize_snapshot_is_huge_and_book_stays_exact(make_sim, connect):
    sim = await make_sim()
    sim.faults.oversize_snapshot(30_000)
    c = await connect(sim.url)
    await c.sub("level2", "BTC-USD")
    await c.until(chan("l2_data"))
    assert len(c.raw[-1]) > 2 * 1024 * 1024
    assert all(Decimal(u["new_quantity"]) > 0 for u in c.frames[-1]["events"][0]["updates"])
    sim.step(20)
    await c.barrier()
    assert apply_l2(c.frames, "BTC-USD") == book_of(sim.exchange, "BTC-USD")
    await c.sub("level2", "BTC-USD")  # fired once: the next snapshot is normal
    snap = await c.until(
        lambda fr: fr["channel"] == "l2_data" and fr["events"][0]["type"] == "snapshot"
    )
    assert len(json.dumps(snap)) < 200_000


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


# -- official SDK --------------------------------------------------------------


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
