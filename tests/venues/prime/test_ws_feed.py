"""botkit's MarketDataFeed with the Prime protocol against botkit.sim's Prime feed, over loopback.

Real sockets and generated credentials; every subscribe is signed by botkit's
:class:`PrimeWsAuth` and verified by the simulator's own (independent) code. The market moves
only when a test calls ``market.step()``, and ``feed.sync()`` (a repeated heartbeats
subscribe whose ack follows every earlier frame on the connection) proves every frame
published before it was processed, so books are compared exactly with the exchange's own,
with no sleeps. Orders are placed through botkit's PrimeRestClient and through the official
prime-sdk-py (unmodified; it has no WebSocket client of its own).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from prime_sdk.client import Client
from prime_sdk.credentials import Credentials
from prime_sdk.services.orders import CreateOrderRequest, OrdersService
from pydantic import SecretStr

from botkit.auth.clock import SystemClock
from botkit.market.config import FeedConfig
from botkit.market.events import (
    BookInvalidated,
    FeedErrorReceived,
    FeedEvent,
    FillEvent,
    OrderUpdate,
    SequenceGapDetected,
    TickersReceived,
    UserSnapshotDone,
)
from botkit.market.feed import MarketDataFeed
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, limit_gtc, market_ioc
from botkit.orders.journal import OrderJournal
from botkit.sim.exchange import SimMarketConfig
from botkit.sim.prime_auth import PrimeKey
from botkit.sim.prime_rest import PrimeSimServer
from botkit.sim.prime_ws import PrimeWsConfig
from botkit.venues.prime.rest_client import PrimeRestClient
from botkit.venues.prime.settings import PrimeVenueSettings
from botkit.venues.prime.ws_protocol import PrimeFeedProtocol, PrimeWsAuth, prime_session_factory

pytestmark = pytest.mark.timeout(60)
PIDS = ("BTC-USD", "ETH-USD")
PRIME = "https://api.prime.coinbase.com/v1"


class Market:
    """The simulator with a clock that moves only with :meth:`step` (REST requests advance
    the market to the server clock: with real time it would drift between two requests)."""

    def __init__(self) -> None:
        self.t = time.time()
        self.sim = PrimeSimServer(
            seed=13,
            market=SimMarketConfig(cancel_latency_steps=0),
            tick_interval=0,
            ws_config=PrimeWsConfig(heartbeat_interval=0.1),
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


def auth_for(key: PrimeKey, *, clock_offset: float = 0.0, **over: str) -> PrimeWsAuth:
    return PrimeWsAuth(
        over.get("access_key", key.access_key),
        over.get("signing_key", key.signing_key),
        over.get("passphrase", key.passphrase),
        over.get("svc", key.svc_account_id),
        clock=SystemClock(clock_offset),
    )


@dataclass
class Feeds:
    started: list[MarketDataFeed] = field(default_factory=list)


@pytest.fixture
async def make_feed() -> AsyncIterator[Callable[..., Any]]:
    feeds = Feeds()

    async def start(
        sim: PrimeSimServer,
        events: list[FeedEvent],
        auth: PrimeWsAuth,
        *,
        portfolio_id: str = "",
        derive_ticker: bool = False,
        **kw: Any,
    ) -> MarketDataFeed:
        opts: dict[str, Any] = {
            "market_url": sim.ws_url,
            "user_url": sim.ws_url,
            "products": PIDS,
            "stale_after": 2.0,
            "backoff_initial": 0.01,
            "backoff_max": 0.05,
        }
        opts.update(kw)
        feed = MarketDataFeed(
            FeedConfig(**opts),
            protocol=prime_session_factory(
                auth=auth, portfolio_id=portfolio_id, derive_ticker=derive_ticker
            ),
            signer=auth,
            on_event=events.append,
            rng=random.Random(1),
        )
        feeds.started.append(feed)
        return await feed.start()

    yield start
    for feed in feeds.started:
        await feed.stop()


async def assert_books_match(feed: MarketDataFeed, sim: PrimeSimServer) -> None:
    await feed.wait_ready(10)
    await feed.sync(10)
    for pid in PIDS:
        book = feed.books[pid]
        assert book.valid, book
        assert book.depth() == sim.exchange.book(pid), pid


async def test_books_follow_the_exchange(market: Market, make_feed: Any) -> None:
    key = market.sim.add_key()
    events: list[FeedEvent] = []
    feed = await make_feed(market.sim, events, auth_for(key), channels=("level2",))
    await assert_books_match(feed, market.sim)
    proto = feed.conns[0].protocol
    assert isinstance(proto, PrimeFeedProtocol)
    for _ in range(3):
        market.step(10)
        await assert_books_match(feed, market.sim)
    await feed.wait_for(lambda: proto.stats.heartbeats > 2, 10)  # 0.1 s each
    s = proto.stats
    assert (s.gaps, s.malformed, s.duplicates, s.errors) == (0, 0, 0, 0), s
    assert market.sim.ws.refused == 0


async def test_derived_ticker_is_the_top_of_the_book(market: Market, make_feed: Any) -> None:
    """Prime has no ticker channel: with derive_ticker the book's top is served as one."""
    key = market.sim.add_key()
    events: list[FeedEvent] = []
    feed = await make_feed(
        market.sim, events, auth_for(key), channels=("ticker",), derive_ticker=True
    )
    await assert_books_match(feed, market.sim)
    market.step(5)
    await feed.sync(10)
    for pid in PIDS:
        last = [t for e in events if isinstance(e, TickersReceived) for t in e.tickers][::-1]
        ticker = next(t for t in last if t.product_id == pid)
        (bid, bid_qty), (ask, ask_qty) = market.sim.exchange.best_bid_ask(pid)  # type: ignore[misc]
        assert ticker.type == "book"
        assert (ticker.best_bid, ticker.best_bid_quantity) == (bid, bid_qty)
        assert (ticker.best_ask, ticker.best_ask_quantity) == (ask, ask_qty)
        assert ticker.price == (bid + ask) / 2 and ticker.volume_24_h is None


@pytest.mark.parametrize("policy", ["resubscribe", "reconnect"])
async def test_sequence_gap_invalidates_and_resyncs(
    market: Market, make_feed: Any, policy: str
) -> None:
    key = market.sim.add_key()
    events: list[FeedEvent] = []
    feed = await make_feed(
        market.sim, events, auth_for(key), channels=("level2",), gap_policy=policy
    )
    await assert_books_match(feed, market.sim)
    conn = feed.conns[0]
    proto = conn.protocol
    market.sim.ws_faults.skip_sequence(3)
    market.step(3)
    await feed.wait_for(lambda: proto.stats.gaps >= 1, 10)
    [gap] = [e for e in events if isinstance(e, SequenceGapDetected)]
    assert gap.received == gap.expected + 3
    assert {e.product_id for e in events if isinstance(e, BookInvalidated)} == set(PIDS)
    if policy == "resubscribe":
        await feed.wait_for(lambda: proto.stats.resyncs >= 1, 10)
        assert conn.connects == 1
    else:
        await feed.wait_for(lambda: conn.connects >= 2, 10)
    await assert_books_match(feed, market.sim)
    market.step(5)
    await assert_books_match(feed, market.sim)


@pytest.mark.parametrize("fault", ["close", "drop"])
async def test_dropped_connection_reconnects_and_resubscribes(
    market: Market, make_feed: Any, fault: str
) -> None:
    key = market.sim.add_key()
    events: list[FeedEvent] = []
    feed = await make_feed(market.sim, events, auth_for(key), channels=("level2",))
    await assert_books_match(feed, market.sim)
    conn = feed.conns[0]
    if fault == "close":
        market.sim.ws_faults.close_next(1001)
    else:
        market.sim.ws_faults.drop_next(1006)
    market.step(3)
    await feed.wait_for(lambda: conn.connects >= 2, 10)
    market.step(3)
    await assert_books_match(feed, market.sim)


async def test_error_frame_reaches_the_consumer_and_the_connection_stays(
    market: Market, make_feed: Any
) -> None:
    key = market.sim.add_key()
    events: list[FeedEvent] = []
    feed = await make_feed(market.sim, events, auth_for(key), channels=("level2",))
    await assert_books_match(feed, market.sim)
    market.sim.ws_faults.error_next("failure to subscribe: FOO-USD is not a valid product")
    market.step(3)
    await feed.wait_for(lambda: any(isinstance(e, FeedErrorReceived) for e in events), 10)
    [err] = [e for e in events if isinstance(e, FeedErrorReceived)]
    assert "FOO-USD" in str(err.error) and "Prime ids" in str(err.error)
    await assert_books_match(feed, market.sim)
    assert feed.conns[0].connects == 1


@pytest.mark.parametrize(
    ("over", "offset", "reason"),
    [
        ({"signing_key": "not-the-signing-key"}, 0.0, "invalid signature"),
        ({}, -120.0, "request timestamp expired"),
        ({"access_key": "unknown-key"}, 0.0, "invalid api key"),
        ({"passphrase": "not-the-passphrase"}, 0.0, "invalid passphrase"),
    ],
)
async def test_bad_credentials_are_refused_with_an_error_frame(
    market: Market, make_feed: Any, over: dict[str, str], offset: float, reason: str
) -> None:
    key = market.sim.add_key()
    events: list[FeedEvent] = []
    feed = await make_feed(
        market.sim, events, auth_for(key, clock_offset=offset, **over), channels=("level2",)
    )
    await feed.wait_for(lambda: any(isinstance(e, FeedErrorReceived) for e in events), 10)
    text = str(next(e for e in events if isinstance(e, FeedErrorReceived)).error)
    assert reason in text and "BOTKIT_PRIME__SIGNING_KEY" in text, text
    assert key.signing_key not in text and key.passphrase not in text
    assert market.sim.ws.refused >= 1
    assert not any(b.valid for b in feed.books.values())


@pytest.fixture
async def rest_client(market: Market) -> AsyncIterator[Callable[[PrimeKey], PrimeRestClient]]:
    clients: list[PrimeRestClient] = []

    def make(key: PrimeKey) -> PrimeRestClient:
        settings = PrimeVenueSettings(
            access_key=key.access_key,
            signing_key=SecretStr(key.signing_key),
            passphrase=SecretStr(key.passphrase),
            portfolio_id=key.portfolio_ids[0],
            entity_id=key.entity_id,
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


def updates(events: list[FeedEvent], oid: str) -> list[OrderUpdate]:
    return [e for e in events if isinstance(e, OrderUpdate) and e.order_id == oid]


async def check_fills(
    market: Market, events: list[FeedEvent], pid: str, order_id: str, base: Decimal
) -> None:
    """The fills the feed derived from cumulative rows equal the exchange's own, once each."""
    fills = [e for e in events if isinstance(e, FillEvent) and e.order_id == order_id]
    truth = market.sim.exchange.list_fills(pid, {"order_ids": [order_id]})
    assert fills and sum(f.size for f in fills) == base
    assert sum(f.size for f in fills) == sum(Decimal(t["size"]) for t in truth)
    assert sum(f.fee for f in fills) == sum(Decimal(t["commission"]) for t in truth)
    notional = sum((Decimal(t["price"]) * Decimal(t["size"]) for t in truth), Decimal(0))
    derived = sum((f.price * f.size for f in fills), Decimal(0))
    # a fill's price comes from the change of cum_qty * avg_px (Prime sends no per-fill
    # price); avg_px is rounded to 1e-10, so the notional agrees to well under a cent
    assert abs(derived - notional) < Decimal("0.000001")
    assert len({f.fill_id for f in fills}) == len(fills)
    assert all(isinstance(f.size, Decimal) and isinstance(f.price, Decimal) for f in fills)


async def test_signed_orders_channel_reports_orders_placed_over_rest(
    market: Market, make_feed: Any, rest_client: Any, tmp_path: Path
) -> None:
    key = market.sim.add_key()
    pid = key.portfolio_ids[0]
    events: list[FeedEvent] = []
    feed = await make_feed(
        market.sim,
        events,
        auth_for(key),
        portfolio_id=pid,
        channels=("level2",),
        user=True,
        user_products=PIDS,
    )
    await assert_books_match(feed, market.sim)
    await feed.wait_for(lambda: any(isinstance(e, UserSnapshotDone) for e in events), 10)
    executor = OrderExecutor(rest_client(key), OrderJournal(tmp_path / "j.sqlite"))
    resting = OrderIntent(
        "6f0d3c1e-8f9b-4c2a-9d1e-0a1b2c3d4e5f",
        "BTC-USD",
        "BUY",
        limit_gtc(Decimal("0.002"), Decimal("1000.00"), post_only=True),
    )
    taker = OrderIntent(
        "7a1e4d2f-9a0c-4d3b-8e2f-1b2c3d4e5f60",
        "BTC-USD",
        "BUY",
        market_ioc(base_size=Decimal("0.05")),
    )
    placed = await executor.place(resting)
    filled = await executor.place(taker)
    await feed.wait_for(
        lambda: any(u.status == "OPEN" for u in updates(events, placed.order_id)), 10
    )
    await feed.wait_for(
        lambda: any(u.status == "FILLED" for u in updates(events, filled.order_id)), 10
    )
    await feed.sync(10)
    await check_fills(market, events, pid, filled.order_id, Decimal("0.05"))
    first = updates(events, filled.order_id)[0]
    assert first.client_order_id == taker.client_order_id and first.side == "BUY"
    assert not [e for e in events if isinstance(e, FillEvent) and e.order_id == placed.order_id]

    await executor.client.cancel_orders([placed.order_id])
    await feed.wait_for(
        lambda: any(u.status == "CANCELLED" for u in updates(events, placed.order_id)), 10
    )
    user = next(c for c in feed.conns if c.plan.name == "user").protocol
    assert (user.stats.gaps, user.stats.malformed) == (0, 0)
    await executor.close()


async def test_reconnect_replays_the_open_orders_without_a_second_fill(
    market: Market, make_feed: Any, rest_client: Any
) -> None:
    """The orders snapshot after a reconnect repeats a partly filled order's cumulative
    state: its fill is not reported twice."""
    key, other = market.sim.add_key(), market.sim.add_key()
    pid = key.portfolio_ids[0]
    events: list[FeedEvent] = []
    feed = await make_feed(
        market.sim, events, auth_for(key), portfolio_id=pid, channels=(), user=True
    )
    await feed.wait_for(lambda: any(isinstance(e, UserSnapshotDone) for e in events), 10)
    (bid, _), (ask, _) = market.sim.exchange.best_bid_ask("ETH-USD")  # type: ignore[misc]
    price = ask - Decimal("0.01")  # improves the ask: the next buyer meets this order first
    assert price > bid
    maker = rest_client(key)
    body = OrderIntent(
        "8b2f5e30-0b1d-4e4c-9f30-2c3d4e5f6071",
        "ETH-USD",
        "SELL",
        limit_gtc(Decimal("0.5"), price, post_only=True),
    ).body()
    answer = await maker.submit_order_body(body, client_order_id="8b2f5e30")
    assert answer.success_response is not None
    oid = answer.success_response.order_id
    taker = OrderIntent(
        "9c3a6f41-1c2e-4f5d-8a41-3d4e5f607182",
        "ETH-USD",
        "BUY",
        market_ioc(base_size=Decimal("0.2")),
    ).body()
    await rest_client(other).submit_order_body(taker, client_order_id="9c3a6f41")

    def cum() -> Decimal:
        return max((u.cumulative_quantity for u in updates(events, oid)), default=Decimal(0))

    await feed.wait_for(lambda: cum() == Decimal("0.2"), 10)
    before = [e for e in events if isinstance(e, FillEvent)]
    assert [(f.order_id, f.size, f.price) for f in before] == [(oid, Decimal("0.2"), price)]
    conn = next(c for c in feed.conns if c.plan.name == "user")
    market.sim.ws_faults.close_next(1011)  # at the next frame (a heartbeat, 0.1 s)
    await feed.wait_for(lambda: conn.connects >= 2, 10)
    await feed.wait_for(lambda: sum(isinstance(e, UserSnapshotDone) for e in events) >= 2, 10)
    await feed.sync(10)
    assert [e for e in events if isinstance(e, FillEvent)] == before
    await maker.cancel_orders([oid])


class ToSim(requests.Session):
    """A requests session that sends Prime's production URLs to the simulator."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.trust_env = False

    def request(self, method: str, url: str | bytes, *a: Any, **kw: Any) -> Any:
        assert isinstance(url, str) and url.startswith(PRIME), url
        kw.setdefault("timeout", 10)
        return super().request(method, self.base + url[len(PRIME) :], *a, **kw)


async def test_orders_placed_through_the_official_prime_sdk_reach_the_feed(
    market: Market, make_feed: Any
) -> None:
    key = market.sim.add_key()
    pid = key.portfolio_ids[0]
    events: list[FeedEvent] = []
    feed = await make_feed(
        market.sim, events, auth_for(key), portfolio_id=pid, channels=(), user=True
    )
    await feed.wait_for(lambda: any(isinstance(e, UserSnapshotDone) for e in events), 10)
    session = ToSim(market.sim.rest_url)
    creds = Credentials(
        access_key=key.access_key,
        passphrase=key.passphrase,
        signing_key=key.signing_key,
        portfolio_id=pid,
        entity_id=key.entity_id,
        svc_account_id=key.svc_account_id,
    )
    orders = OrdersService(Client(creds, session))
    request = CreateOrderRequest(
        portfolio_id=pid,
        product_id="ETH-USD",
        side="BUY",
        type="MARKET",
        client_order_id="sdk-order-1",
        base_quantity="0.3",
    )
    try:
        created = await asyncio.to_thread(orders.create_order, request)
    finally:
        session.close()
    oid = created.order_id
    await feed.wait_for(lambda: any(u.status == "FILLED" for u in updates(events, oid)), 10)
    ups = updates(events, oid)
    assert ups[0].client_order_id == "sdk-order-1" and ups[0].product_id == "ETH-USD"
    await check_fills(market, events, pid, oid, Decimal("0.3"))
