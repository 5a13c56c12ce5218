"""botkit.sim's Prime WebSocket feed over loopback, driven by a bare aiohttp client.

The subscribes are signed here by hand (HMAC over channel + access key + service account +
timestamp + portfolio + products, reference §2.C), not with botkit's signer or the
simulator's, so the wire format itself is what is checked: the ack and snapshot order, the
per-connection ``sequence_num``, ``l2_data`` levels that rebuild the exchange's own book,
the portfolio-scoped ``orders`` script of §2.6 (OPEN with cum 0, growing ``cum_qty`` with
``avg_px``/``fees``, a terminal status with ``user_context``), the refusals (an error frame,
then a 1008 close) and the faults. The market moves only when a test steps it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any, Literal

import aiohttp
import pytest
from pydantic import SecretStr

from botkit.auth.clock import SystemClock
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.intents import OrderIntent, limit_gtc, market_ioc
from botkit.sim.exchange import SimMarketConfig
from botkit.sim.prime_auth import PrimeKey
from botkit.sim.prime_rest import PrimeSimServer
from botkit.sim.prime_ws import PrimeWsConfig
from botkit.venues.prime.rest_client import PrimeRestClient
from botkit.venues.prime.settings import PrimeVenueSettings

pytestmark = pytest.mark.timeout(60)
WAIT = 5.0


class Market:
    """The simulator with a clock that moves only with :meth:`step`."""

    def __init__(self, **ws: Any) -> None:
        self.t = time.time()
        self.sim = PrimeSimServer(
            seed=21,
            market=SimMarketConfig(cancel_latency_steps=0),
            tick_interval=0,
            ws_config=PrimeWsConfig(**({"heartbeat_interval": 3600.0} | ws)),
            clock=lambda: self.t,
        )

    def step(self, n: int = 5) -> None:
        for _ in range(n):
            self.t += 0.3
            self.sim.step(self.t)


@pytest.fixture
async def market() -> AsyncIterator[Market]:
    m = Market()
    async with m.sim:
        yield m


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def signed(
    key: PrimeKey,
    channel: str,
    pids: Sequence[str] = (),
    *,
    portfolio: str = "",
    kind: str = "subscribe",
    ts: int | None = None,
    secret: str | None = None,
    svc: str | None = None,
    **over: Any,
) -> dict[str, Any]:
    stamp = str(int(time.time()) if ts is None else ts)
    svc = key.svc_account_id if svc is None else svc
    prehash = channel + key.access_key + svc + stamp + portfolio + "".join(pids)
    digest = hmac.new((secret or key.signing_key).encode(), prehash.encode(), hashlib.sha256)
    msg = {
        "type": kind,
        "channel": channel,
        "access_key": key.access_key,
        "api_key_id": svc,
        "timestamp": stamp,
        "passphrase": key.passphrase,
        "signature": base64.b64encode(digest.digest()).decode(),
        "portfolio_id": portfolio,
        "product_ids": list(pids),
    }
    return msg | over


async def recv(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), WAIT)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    frame: dict[str, Any] = json.loads(msg.data)
    return frame


async def recv_channel(ws: aiohttp.ClientWebSocketResponse, channel: str) -> dict[str, Any]:
    for _ in range(1000):
        frame = await recv(ws)
        if frame.get("channel") == channel:
            return frame
    raise AssertionError(f"no {channel} frame")


def levels(book: dict[tuple[str, Decimal], Decimal], event: dict[str, Any]) -> None:
    if event["type"] == "snapshot":
        book.clear()
    for u in event["updates"]:
        assert u["side"] in ("bid", "offer") and set(u) == {"side", "event_time", "px", "qty"}
        if Decimal(u["qty"]):
            book[(u["side"], Decimal(u["px"]))] = Decimal(u["qty"])
        else:
            book.pop((u["side"], Decimal(u["px"])), None)


def as_exchange(book: dict[tuple[str, Decimal], Decimal]) -> Any:
    bids = sorted(((p, q) for (s, p), q in book.items() if s == "bid"), reverse=True)
    asks = sorted((p, q) for (s, p), q in book.items() if s == "offer")
    return bids, asks


async def test_l2_data_snapshot_then_updates_rebuild_the_exchange_book(
    market: Market, http: aiohttp.ClientSession
) -> None:
    key = market.sim.add_key()
    async with http.ws_connect(market.sim.ws_url) as ws:
        await ws.send_json(signed(key, "l2_data", ["BTC-USD", "ETH-USD"]))
        ack = await recv(ws)
        assert (ack["channel"], ack["sequence_num"]) == ("subscriptions", 0)
        assert ack["events"] == [{"subscriptions": {"l2_data": ["BTC-USD", "ETH-USD"]}}]
        assert ack["timestamp"].endswith("Z") and len(ack["timestamp"].split(".")[1]) == 10
        books: dict[str, dict[tuple[str, Decimal], Decimal]] = {"BTC-USD": {}, "ETH-USD": {}}
        seq = 0
        for _ in range(2):
            snap = await recv(ws)
            seq += 1
            assert (snap["channel"], snap["sequence_num"]) == ("l2_data", seq)
            [event] = snap["events"]
            assert event["type"] == "snapshot"
            levels(books[event["product_id"]], event)
        for pid, book in books.items():
            assert as_exchange(book) == market.sim.exchange.book(pid)
        market.step(10)
        await ws.send_json(signed(key, "heartbeats"))  # its ack follows every update
        while True:
            frame = await recv(ws)
            seq += 1
            assert frame["sequence_num"] == seq  # one counter for the connection
            if frame["channel"] == "subscriptions":
                break
            [event] = frame["events"]  # one product per frame (Coinbase's sample reads [0])
            assert event["type"] == "update"
            levels(books[event["product_id"]], event)
        for pid, book in books.items():
            assert as_exchange(book) == market.sim.exchange.book(pid)


async def test_heartbeats_under_both_names_with_an_integer_counter(
    http: aiohttp.ClientSession,
) -> None:
    m = Market(heartbeat_interval=0.05)
    async with m.sim:
        key = m.sim.add_key()
        for name in ("heartbeats", "heartbeat"):
            async with http.ws_connect(m.sim.ws_url) as ws:
                await ws.send_json(signed(key, name, ["BTC-USD"]))
                assert (await recv(ws))["events"] == [{"subscriptions": {name: []}}]
                counters = []
                for _ in range(3):
                    frame = await recv_channel(ws, name)
                    [event] = frame["events"]
                    assert set(event) == {"current_time", "heartbeat_counter"}
                    assert " +0000 UTC m=+" in event["current_time"]
                    counters.append(event["heartbeat_counter"])
                assert counters == [1, 2, 3]


async def test_an_integer_timestamp_is_accepted(
    market: Market, http: aiohttp.ClientSession
) -> None:
    key = market.sim.add_key()
    async with http.ws_connect(market.sim.ws_url) as ws:
        msg = signed(key, "l2_data", ["BTC-USD"])
        msg["timestamp"] = int(msg["timestamp"])
        await ws.send_json(msg)
        assert (await recv(ws))["channel"] == "subscriptions"


@pytest.fixture
async def rest(market: Market) -> AsyncIterator[Any]:
    clients: list[PrimeRestClient] = []

    def make(key: PrimeKey) -> PrimeRestClient:
        settings = PrimeVenueSettings(
            access_key=key.access_key,
            signing_key=SecretStr(key.signing_key),
            passphrase=SecretStr(key.passphrase),
            portfolio_id=key.portfolio_ids[0],
            service_account_id=key.svc_account_id,
            rest_url=market.sim.rest_url,
        )
        client = PrimeRestClient.from_settings(
            settings,
            clock=SystemClock(),
            policy=RetryPolicy().scaled(0.001),
            rng=random.Random(5),
            limiter=RateLimiter(float("inf"), float("inf")),
            read_timeout=5.0,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def place(
    client: PrimeRestClient, coid: str, pid: str, side: Literal["BUY", "SELL"], config: Any
) -> str:
    body = OrderIntent(coid, pid, side, config).body()
    answer = await client.submit_order_body(body, client_order_id=coid)
    assert answer.success_response is not None
    return answer.success_response.order_id


async def test_orders_channel_follows_the_prime_order_script(
    market: Market, http: aiohttp.ClientSession, rest: Any
) -> None:
    key, other = market.sim.add_key(), market.sim.add_key()
    pf, other_pf = key.portfolio_ids[0], other.portfolio_ids[0]
    async with http.ws_connect(market.sim.ws_url) as ws, http.ws_connect(market.sim.ws_url) as spy:
        await ws.send_json(signed(key, "orders", portfolio=pf))
        ack = await recv(ws)
        assert ack["events"] == [{"subscriptions": {"orders": [pf]}}]
        snap = await recv(ws)
        assert (snap["channel"], snap["sequence_num"]) == ("orders", 1)
        assert snap["events"] == [{"type": "snapshot", "orders": []}]
        await spy.send_json(signed(other, "orders", portfolio=other_pf))
        await recv(spy)
        await recv(spy)

        (bid, _), (ask, _) = market.sim.exchange.best_bid_ask("ETH-USD")  # type: ignore[misc]
        price = ask - Decimal("0.01")
        assert price > bid
        oid = await place(
            rest(key), "prime-coid-1", "ETH-USD", "SELL", limit_gtc(Decimal("0.5"), price)
        )
        [opened] = (await recv_channel(ws, "orders"))["events"][0]["orders"]
        assert opened == {
            "order_id": oid, "client_order_id": "prime-coid-1", "cum_qty": "0",
            "leaves_qty": "0.5", "avg_px": "0", "net_avg_px": "0", "fees": "0",
            "status": "OPEN", "product_id": "ETH-USD", "side": "sell", "order_type": "limit",
            "limit_px": str(price),
            "fee_details": {"client_fee": "0", "financing_fee": "0", "trading_desk_fee": "0"},
        }  # fmt: skip

        await place(rest(other), "taker-1", "ETH-USD", "BUY", market_ioc(base_size=Decimal("0.2")))
        [partial] = (await recv_channel(ws, "orders"))["events"][0]["orders"]
        assert (partial["status"], partial["cum_qty"], partial["leaves_qty"]) == (
            "OPEN",
            "0.2",
            "0.3",
        )
        assert Decimal(partial["avg_px"]) == price
        [fill] = market.sim.exchange.list_fills(pf, {"order_ids": [oid]})
        assert Decimal(partial["fees"]) == Decimal(fill["commission"]) > 0
        net = (Decimal("0.2") * price - Decimal(partial["fees"])) / Decimal("0.2")
        assert Decimal(partial["net_avg_px"]) == net.quantize(Decimal("1e-10"))  # a sell: less

        [cancel] = await rest(key).cancel_orders([oid])
        assert cancel.success
        [done] = (await recv_channel(ws, "orders"))["events"][0]["orders"]
        assert (done["status"], done["cum_qty"], done["leaves_qty"]) == ("CANCELLED", "0.2", "0")
        assert done["user_context"]

        # the other portfolio's subscriber saw only its own (filled) market order
        frame = await recv_channel(spy, "orders")
        assert {o["order_id"] for e in frame["events"] for o in e["orders"]} != {oid}
        assert all(o["client_order_id"] == "taker-1" for o in frame["events"][0]["orders"])

        # a fresh subscription's snapshot lists open orders only (this one is done)
        await ws.send_json(signed(key, "orders", portfolio=pf))
        await recv_channel(ws, "subscriptions")
        assert (await recv_channel(ws, "orders"))["events"] == [{"type": "snapshot", "orders": []}]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("bad_signature", "invalid signature"),
        ("expired", "request timestamp expired"),
        ("unknown_key", "invalid api key"),
        ("bad_passphrase", "invalid passphrase"),
        ("wrong_service_account", "invalid api key"),
        ("foreign_portfolio", "not authorized for portfolio"),
        ("no_portfolio", "portfolio_id"),
        ("decimal_timestamp", "integer seconds"),
    ],
)
async def test_refused_subscribes_get_an_error_frame_then_a_close(
    market: Market, http: aiohttp.ClientSession, case: str, message: str
) -> None:
    key, other = market.sim.add_key(), market.sim.add_key()
    pf = key.portfolio_ids[0]
    msg = {
        "bad_signature": lambda: signed(key, "orders", portfolio=pf, secret="wrong"),
        "expired": lambda: signed(key, "orders", portfolio=pf, ts=int(time.time()) - 60),
        "unknown_key": lambda: signed(key, "orders", portfolio=pf, access_key="nobody"),
        "bad_passphrase": lambda: signed(key, "orders", portfolio=pf, passphrase="wrong"),
        "wrong_service_account": lambda: signed(
            key, "orders", portfolio=pf, svc=other.svc_account_id
        ),
        "foreign_portfolio": lambda: signed(key, "orders", portfolio=other.portfolio_ids[0]),
        "no_portfolio": lambda: signed(key, "orders"),
        "decimal_timestamp": lambda: signed(key, "l2_data", ["BTC-USD"], timestamp="1733385600.5"),
    }[case]()
    async with http.ws_connect(market.sim.ws_url) as ws:
        await ws.send_json(msg)
        frame = await recv(ws)
        assert set(frame) == {"type", "message"} and frame["type"] == "error"
        assert message in frame["message"], frame
        assert key.signing_key not in frame["message"]
        closing = await asyncio.wait_for(ws.receive(), WAIT)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1008
    assert market.sim.ws.refused == 1


async def test_without_close_on_auth_failure_the_connection_stays(
    http: aiohttp.ClientSession,
) -> None:
    m = Market(close_on_auth_failure=False)
    async with m.sim:
        key = m.sim.add_key()
        async with http.ws_connect(m.sim.ws_url) as ws:
            await ws.send_json(signed(key, "l2_data", ["BTC-USD"], secret="wrong"))
            assert (await recv(ws))["message"] == "invalid signature"
            await ws.send_json(signed(key, "l2_data", ["BTC-USD"]))
            assert (await recv(ws))["channel"] == "subscriptions"


@pytest.mark.parametrize(
    ("msg", "text"),
    [
        ({"type": "subscribe", "channels": ["l2_data"]}, 'exactly one "channel"'),
        ({"type": "subscribe", "channel": "level2"}, "unknown channel"),
        ({"type": "hello", "channel": "l2_data"}, "unknown message type"),
        ([1, 2], "JSON object"),
    ],
)
async def test_malformed_messages_get_an_error_and_the_connection_stays(
    market: Market, http: aiohttp.ClientSession, msg: Any, text: str
) -> None:
    key = market.sim.add_key()
    async with http.ws_connect(market.sim.ws_url) as ws:
        await ws.send_json(msg)
        frame = await recv(ws)
        assert frame["type"] == "error" and text in frame["message"]
        await ws.send_json(signed(key, "l2_data", ["NOPE-USD"]))
        assert "NOPE-USD is not a valid product" in (await recv(ws))["message"]
        await ws.send_json(signed(key, "l2_data", ["BTC-USD"]))
        assert (await recv(ws))["channel"] == "subscriptions"


async def test_no_subscribe_within_the_deadline_closes_1008(http: aiohttp.ClientSession) -> None:
    m = Market(subscribe_deadline=0.2)
    async with m.sim, http.ws_connect(m.sim.ws_url) as ws:
        closing = await asyncio.wait_for(ws.receive(), WAIT)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1008


async def test_faults_skip_sequence_error_frame_close_and_drop(
    market: Market, http: aiohttp.ClientSession
) -> None:
    key = market.sim.add_key()
    faults = market.sim.ws_faults
    async with http.ws_connect(market.sim.ws_url) as ws:
        faults.skip_sequence(4)
        faults.error_next("injected trouble")
        await ws.send_json(signed(key, "l2_data", ["BTC-USD"]))
        assert await recv(ws) == {"type": "error", "message": "injected trouble"}
        ack = await recv(ws)
        assert (ack["channel"], ack["sequence_num"]) == ("subscriptions", 4)  # 0..3 skipped
        assert (await recv(ws))["sequence_num"] == 5
        faults.close_next(1011)
        market.step(3)
        closing = await asyncio.wait_for(ws.receive(), WAIT)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1011
    async with http.ws_connect(market.sim.ws_url) as ws:
        faults.drop_next()
        await ws.send_json(signed(key, "l2_data", ["BTC-USD"]))
        closing = await asyncio.wait_for(ws.receive(), WAIT)
        assert closing.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        )
        assert ws.close_code != 1000
    assert faults.pending["disconnects"] == []
