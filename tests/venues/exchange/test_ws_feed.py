"""botkit's MarketDataFeed with the Exchange protocol against botkit.sim's Exchange feed, over loopback.

Real sockets; the market moves only when a test calls ``market.step()`` and ``feed.sync()``
(a repeated heartbeat subscribe whose ``subscriptions`` reply follows every earlier frame)
proves every frame published before it was processed, so books are compared exactly with
the exchange's own, with no sleeps.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from botkit.auth.clock import SystemClock
from botkit.auth.hmac_sign import ExchangeHmacSigner
from botkit.market.config import FeedConfig
from botkit.market.events import (
    BookInvalidated,
    FeedErrorReceived,
    FeedEvent,
    FillEvent,
    OrderUpdate,
    SequenceGapDetected,
    TickersReceived,
    TradesReceived,
    UserSnapshotDone,
)
from botkit.market.feed import MarketDataFeed
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, limit_gtc, market_ioc
from botkit.orders.journal import OrderJournal
from botkit.sim.exchange import SimMarketConfig
from botkit.sim.exchange_auth import ExchangeKey
from botkit.sim.exchange_rest import ExchangeSimServer
from botkit.sim.exchange_ws import ExchangeWsConfig
from botkit.venues.exchange.rest_client import ExchangeRestClient
from botkit.venues.exchange.settings import ExchangeVenueSettings
from botkit.venues.exchange.ws_protocol import (
    ExchangeFeedProtocol,
    ExchangeWsAuth,
    exchange_session_factory,
)

pytestmark = pytest.mark.timeout(60)
PIDS = ("BTC-USD", "ETH-USD")


@dataclass
class Market:
    sim: ExchangeSimServer
    t: float

    def step(self, n: int = 5) -> None:
        for _ in range(n):
            self.t += 0.3
            self.sim.step(self.t)


@pytest.fixture
async def market() -> AsyncIterator[Market]:
    cfg = ExchangeWsConfig(heartbeat_interval=0.1)
    async with ExchangeSimServer(
        seed=11,
        market=SimMarketConfig(cancel_latency_steps=0),
        tick_interval=0,
        ws_config=cfg,
    ) as sim:
        yield Market(sim, sim.clock())


def auth_for(sim_key: ExchangeKey, **over: str) -> ExchangeWsAuth:
    key = sim_key
    signer = ExchangeHmacSigner(
        over.get("key", key.key),
        over.get("secret", key.secret),
        over.get("passphrase", key.passphrase),
        clock=SystemClock(),
    )
    return ExchangeWsAuth(signer)


@dataclass
class Feeds:
    started: list[MarketDataFeed] = field(default_factory=list)


@pytest.fixture
async def make_feed() -> AsyncIterator[Callable[..., Any]]:
    feeds = Feeds()

    async def start(
        sim: ExchangeSimServer,
        events: list[FeedEvent],
        *,
        auth: ExchangeWsAuth | None = None,
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
            protocol=exchange_session_factory(auth=auth),
            signer=auth,
            on_event=events.append,
            rng=random.Random(1),
        )
        feeds.started.append(feed)
        return await feed.start()

    yield start
    for feed in feeds.started:
        await feed.stop()


async def assert_books_match(feed: MarketDataFeed, sim: ExchangeSimServer) -> None:
    await feed.wait_ready(10)
    await feed.sync(10)
    for pid in PIDS:
        book = feed.books[pid]
        assert book.valid, book
        assert book.depth() == sim.exchange.book(pid), pid


async def test_books_trades_and_tickers_follow_the_exchange(market: Market, make_feed: Any) -> None:
    events: list[FeedEvent] = []
    feed = await make_feed(market.sim, events, channels=("level2", "market_trades", "ticker"))
    await feed.wait_ready(10)
    proto = feed.conns[0].protocol
    assert isinstance(proto, ExchangeFeedProtocol) and proto.level2_channel == "level2_batch"
    for _ in range(3):
        market.step(10)
        await assert_books_match(feed, market.sim)
    trades = [t for ev in events if isinstance(ev, TradesReceived) for t in ev.trades]
    tickers = [t for ev in events if isinstance(ev, TickersReceived) for t in ev.tickers]
    assert {t.product_id for t in trades} == set(PIDS)
    for pid in PIDS:  # every trade of the tape since the subscription, in order, none twice
        ids = [int(t.trade_id) for t in trades if t.product_id == pid]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
        tape = market.sim.exchange.recent_trades(pid, 1)[-1]
        last = [t for t in trades if t.product_id == pid][-1]
        assert (last.trade_id, last.price, last.size) == (tape.trade_id, tape.price, tape.size)
        ticker = [t for t in tickers if t.product_id == pid][-1]
        assert ticker.price == tape.price and isinstance(ticker.price, Decimal)
    await feed.wait_for(lambda: proto.stats.heartbeats > 2 * len(PIDS), 10)  # 0.1 s each
    assert proto.stats.gaps == 0 and proto.stats.malformed == 0 and proto.stats.duplicates == 0


async def test_lost_trade_triggers_a_resync_of_that_product_only(
    market: Market, make_feed: Any
) -> None:
    events: list[FeedEvent] = []
    feed = await make_feed(market.sim, events, channels=("level2",))
    await assert_books_match(feed, market.sim)
    proto = feed.conns[0].protocol
    market.sim.ws_faults.skip_sequence("ETH-USD", 1)
    while market.sim.ws_faults.pending["skip_sequence"]["ETH-USD"]:
        market.step(1)  # until an ETH-USD trade was lost (with its step's book changes)
    market.step(5)
    await feed.wait_for(lambda: proto.stats.gaps >= 1 and proto.stats.resyncs >= 1, 10)
    gaps = [ev for ev in events if isinstance(ev, SequenceGapDetected)]
    invalidated = {ev.product_id for ev in events if isinstance(ev, BookInvalidated)}
    assert gaps and invalidated == {"ETH-USD"}, (gaps, invalidated)
    await assert_books_match(feed, market.sim)
    market.step(5)
    await assert_books_match(feed, market.sim)


@pytest.mark.parametrize("fault", ["close", "drop"])
async def test_dropped_connection_reconnects_and_resubscribes(
    market: Market, make_feed: Any, fault: str
) -> None:
    events: list[FeedEvent] = []
    feed = await make_feed(market.sim, events, channels=("level2",))
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


async def test_error_frame_reaches_the_consumer_with_a_hint(market: Market, make_feed: Any) -> None:
    events: list[FeedEvent] = []
    feed = await make_feed(market.sim, events, channels=("level2",))
    await assert_books_match(feed, market.sim)
    market.sim.ws_faults.error_next("Failed to subscribe", "FOO-USD is not a valid product")
    market.step(3)
    await feed.wait_for(lambda: any(isinstance(e, FeedErrorReceived) for e in events), 10)
    [err] = [e for e in events if isinstance(e, FeedErrorReceived)]
    assert "FOO-USD is not a valid product" in str(err.error) and "Exchange ids" in str(err.error)
    await assert_books_match(feed, market.sim)  # the connection stays


@pytest.fixture
async def rest_client(market: Market) -> AsyncIterator[Callable[[ExchangeKey], ExchangeRestClient]]:
    clients: list[ExchangeRestClient] = []

    def make(key: ExchangeKey) -> ExchangeRestClient:
        settings = ExchangeVenueSettings(
            api_key=key.key,
            api_secret=SecretStr(key.secret),
            passphrase=SecretStr(key.passphrase),
            rest_url=market.sim.rest_url,
        )
        client = ExchangeRestClient.from_settings(
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


async def test_signed_user_channel_reports_orders_and_fills_placed_over_rest(
    market: Market, make_feed: Any, rest_client: Any, tmp_path: Path
) -> None:
    key = market.sim.add_key()
    events: list[FeedEvent] = []
    auth = auth_for(key)
    feed = await make_feed(
        market.sim, events, auth=auth, channels=("level2",), user=True, user_products=PIDS
    )
    await assert_books_match(feed, market.sim)  # level2 signed on this connection
    assert feed.conns[0].protocol.level2_channel == "level2"
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
        market_ioc(base_size=Decimal("0.01")),
    )
    placed = await executor.place(resting)
    filled = await executor.place(taker)
    market.step(1)

    def updates(oid: str) -> list[OrderUpdate]:
        return [e for e in events if isinstance(e, OrderUpdate) and e.order_id == oid]

    await feed.wait_for(lambda: any(u.status == "OPEN" for u in updates(placed.order_id)), 10)
    await feed.wait_for(lambda: any(u.status == "FILLED" for u in updates(filled.order_id)), 10)
    fills = [e for e in events if isinstance(e, FillEvent) and e.order_id == filled.order_id]
    truth = market.sim.exchange.list_fills(key.profile_id, {"order_ids": [filled.order_id]})
    assert sum(f.size for f in fills) == Decimal("0.01")
    assert sum(f.fee for f in fills) == sum(Decimal(t["commission"]) for t in truth)
    notional = sum(Decimal(t["price"]) * Decimal(t["size"]) for t in truth)
    assert sum(f.price * f.size for f in fills) == notional
    assert updates(filled.order_id)[0].client_order_id == taker.client_order_id
    await executor.client.cancel_orders([placed.order_id])
    market.step(1)
    await feed.wait_for(lambda: any(u.status == "CANCELLED" for u in updates(placed.order_id)), 10)
    await executor.close()


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"secret": "c2VjcmV0" * 11}, "invalid signature"),
        ({"passphrase": "not-the-passphrase"}, "Invalid Passphrase"),
        ({"key": "unknown-key"}, "Invalid API Key"),
    ],
)
async def test_bad_credentials_on_the_user_subscribe_are_refused(
    market: Market, make_feed: Any, over: dict[str, str], reason: str
) -> None:
    key = market.sim.add_key()
    events: list[FeedEvent] = []
    feed = await make_feed(
        market.sim, events, auth=auth_for(key, **over), channels=(), user=True, user_products=PIDS
    )
    await feed.wait_for(lambda: any(isinstance(e, FeedErrorReceived) for e in events), 10)
    errors = [e for e in events if isinstance(e, FeedErrorReceived)]
    assert "Authentication Failed" in str(errors[0].error) and reason in str(errors[0].error)
    assert "BOTKIT_EXCHANGE__" in str(errors[0].error)
    assert key.secret not in str(errors[0].error)
    assert not any(isinstance(e, OrderUpdate | UserSnapshotDone) for e in events)
