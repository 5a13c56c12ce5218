"""The in-run read-back takes the working orders the latest ``user`` snapshot listed as listed.

``ReadBackInRun`` runs after every user (re)subscription's snapshot and every gap. It used to
look up by id every order the fill ledger has as working, including the ones the snapshot
had just listed open: a market maker with 100 quotes did 100 GETs per reconnect, in the REST
rate limit its new orders share. Now an order listed, and not filled beyond its counted
mark, costs nothing; one listed filled beyond it has its fills read back (one REST call for
all); one not listed (it ended while the channel was down) is looked up as before; a gap
voids the listing (botkit/runtime/resume.py, ``ReadBackInRun``).

The venue is faked at its seam only (``get_order``, ``backfill_fills``) or is the simulator
over loopback with the real feed and REST client; the tracker and the ledger are real.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.errors import NotFound
from botkit.market.config import FeedConfig
from botkit.market.events import FeedEvent, FillEvent, OrderUpdate, UserSnapshotDone
from botkit.market.feed import MarketDataFeed
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.net.ws import make_connector
from botkit.orders.fills import FillTracker, MemoryHwmStore
from botkit.orders.ledger import FillLedger
from botkit.orders.model import Order, UserEvent, UserOrder
from botkit.runtime.resume import ReadBackInRun
from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol
from tests.runtime.test_read_back_in_run import _limit

PID = "BTC-USD"
SIZE = Decimal("0.002")
PRICE = Decimal(100)
WITHIN = 10.0


# -- the venue, faked at its seam -----------------------------------------------------------


@dataclass
class Venue:
    """What the exchange has, behind the two calls the read-back makes; counts them."""

    orders: dict[str, Order] = field(default_factory=dict)
    fills: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    gets: list[str] = field(default_factory=list)
    backfills: list[list[str]] = field(default_factory=list)

    async def get_order(self, order_id: str) -> Order:
        self.gets.append(order_id)
        if order_id not in self.orders:
            raise NotFound(f"no order {order_id}")
        return self.orders[order_id]

    async def backfill_fills(self, order_ids: Sequence[str]) -> list[dict[str, Any]]:
        self.backfills.append(list(order_ids))
        return [f for oid in order_ids for f in self.fills.get(oid, [])]

    def has(self, oid: str, status: str, filled: Decimal) -> None:
        """The order at the venue: ``status``, ``filled`` in all, in one fill at PRICE."""
        self.orders[oid] = Order(
            order_id=oid, product_id=PID, side="BUY", client_order_id=f"c-{oid}",
            status=status, filled_size=filled, average_filled_price=PRICE if filled else Decimal(0),
        )  # fmt: skip
        self.fills[oid] = [
            {
                "order_id": oid, "trade_id": f"t-{oid}", "product_id": PID, "side": "BUY",
                "price": str(PRICE), "size": str(filled), "commission": "0",
                "size_in_quote": False,
            }
        ] if filled else []  # fmt: skip


def _listed(oid: str, filled: Decimal, status: str = "OPEN") -> UserOrder:
    """A ``user`` snapshot's row of the order (cumulative state, base quantity)."""
    return UserOrder(
        order_id=oid, client_order_id=f"c-{oid}", product_id=PID, order_side="BUY",
        order_type="LIMIT", status=status, cumulative_quantity=str(filled),
        leaves_quantity=str(SIZE - filled), avg_price=str(PRICE if filled else 0),
        filled_value=str(PRICE * filled) if filled else "", total_fees="0",
    )  # fmt: skip


@dataclass
class NoBackOff:
    """The read-back's back-off: none of these read-backs has reason to ask again (a lookup
    failed, REST lagging); one that did is recorded and ends there (with a fake venue that
    never suspends, a retry would loop without yielding to the event loop)."""

    asked: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        raise AssertionError(f"the read-back asked again (after {seconds} s)")


@dataclass
class Bot:
    """The read-back over a faked venue, the real ledger and tracker. ``delivered``: what
    reaches the strategy (the tests add the channel's events, as the feed's callback does)."""

    venue: Venue
    ledger: FillLedger
    tracker: FillTracker
    read_back: ReadBackInRun
    delivered: list[Any]
    back_off: NoBackOff

    def snapshot(self, *rows: UserOrder) -> UserSnapshotDone:
        """The tracker reads a ``user`` snapshot; its events go where the feed's would."""
        out = self.tracker.on_user_event(UserEvent(type="snapshot", orders=list(rows)))
        done = out.pop()
        assert isinstance(done, UserSnapshotDone)
        self.delivered.extend(out)
        return done

    async def read_back_now(self, listed: Sequence[OrderUpdate] | None) -> None:
        """``request(listed)`` (a snapshot's listing, ``()`` a gap, None a retry), until done."""
        async with asyncio.timeout(WITHIN):
            self.read_back.request(listed)
            await self.read_back.wait()
        assert self.back_off.asked == []


@asynccontextmanager
async def _bot(tmp_path: Path, working: Sequence[str]) -> AsyncIterator[Bot]:
    """A ledger with ``working`` orders' marks at zero, the tracker seeded from it."""
    venue = Venue()
    ledger = FillLedger(tmp_path / "fills.sqlite")
    for oid in working:
        ledger.opened(oid, f"c-{oid}", PID, "BUY", "OPEN")
    tracker = FillTracker(MemoryHwmStore(ledger.seed()))
    delivered: list[Any] = []
    back_off = NoBackOff()
    read_back = ReadBackInRun(
        ledger, tracker, venue.backfill_fills, venue.get_order, dict, delivered.append,
        sleep=back_off,
    )  # fmt: skip
    try:
        yield Bot(venue, ledger, tracker, read_back, delivered, back_off)
    finally:
        await read_back.close()
        ledger.close()


def _filled(events: Sequence[Any], oid: str) -> list[Decimal]:
    return [e.size for e in events if isinstance(e, FillEvent) and e.order_id == oid]


# -- the rules, one case each ------------------------------------------------------------------


async def test_working_orders_the_snapshot_listed_open_are_not_looked_up(tmp_path: Path) -> None:
    """N working orders, all listed open, none filled: no GET, no fills call, no news (it
    was one GET each)."""
    ids = [f"o{i}" for i in range(20)]
    async with _bot(tmp_path, ids) as bot:
        for oid in ids:
            bot.venue.has(oid, "OPEN", Decimal(0))
        done = bot.snapshot(*[_listed(oid, Decimal(0)) for oid in ids])
        bot.delivered.clear()  # the snapshot's own OPEN updates (news to the tracker)
        await bot.read_back_now(done.listed)
        assert bot.venue.gets == [] and bot.venue.backfills == []
        assert bot.delivered == [] and bot.read_back.runs == 1


async def test_an_order_listed_filled_beyond_its_mark_is_counted_once_without_a_lookup(
    tmp_path: Path,
) -> None:
    """Filled while the channel was down and still open: the snapshot's update made its
    fill (not counted yet: queued for the strategy). The read-back reads its fills back,
    finds nothing the tracker did not report, and does not ask again (it did, 1 s later,
    with every order looked up: REST "lagging" behind a fill already reported)."""
    async with _bot(tmp_path, ["x", "y"]) as bot:
        bot.venue.has("x", "OPEN", SIZE / 2)
        bot.venue.has("y", "OPEN", Decimal(0))
        done = bot.snapshot(_listed("x", SIZE / 2), _listed("y", Decimal(0)))
        assert _filled(bot.delivered, "x") == [SIZE / 2]  # the channel's (source ws)
        news = len(bot.delivered)
        await bot.read_back_now(done.listed)
        assert bot.venue.gets == [] and bot.venue.backfills == [["x"]]
        assert len(bot.delivered) == news  # no second fill, no update: the snapshot's stand
        assert bot.read_back.runs == 1


async def test_an_order_listed_that_filled_more_since_gets_only_the_rest(tmp_path: Path) -> None:
    """REST is ahead of the snapshot (the order filled again, its update not read yet):
    the read-back counts the difference, the channel's late update counts nothing."""
    async with _bot(tmp_path, ["x"]) as bot:
        done = bot.snapshot(_listed("x", SIZE / 2))
        bot.venue.has("x", "FILLED", SIZE)
        await bot.read_back_now(done.listed)
        assert bot.venue.gets == [] and bot.venue.backfills == [["x"]]
        rest = [e for e in bot.delivered if isinstance(e, FillEvent) and e.source == "rest"]
        assert [f.size for f in rest] == [SIZE / 2]
        late = UserEvent(type="update", orders=[_listed("x", SIZE, "FILLED")])
        bot.delivered.extend(bot.tracker.on_user_event(late))
        assert _filled(bot.delivered, "x") == [SIZE / 2, SIZE / 2]  # SIZE in all, once


async def test_an_order_not_listed_is_looked_up_and_its_fill_delivered(tmp_path: Path) -> None:
    """Filled and ended while the channel was down: in no snapshot (open orders only). It
    is looked up, the strategy gets its FILLED update and then its fill; the listed one is
    not looked up."""
    async with _bot(tmp_path, ["x", "y"]) as bot:
        bot.venue.has("x", "FILLED", SIZE)
        bot.venue.has("y", "OPEN", Decimal(0))
        done = bot.snapshot(_listed("y", Decimal(0)))
        bot.delivered.clear()
        await bot.read_back_now(done.listed)
        assert bot.venue.gets == ["x"] and bot.venue.backfills == [["x"]]
        update, fill = bot.delivered
        assert isinstance(update, OrderUpdate) and update.status == "FILLED"
        assert update.order_id == "x" and update.client_order_id == "c-x"
        assert isinstance(fill, FillEvent) and fill.size == SIZE and fill.source == "rest"
        assert fill.client_order_id == "c-x"


async def test_a_gap_voids_the_listing_a_retry_keeps_it(tmp_path: Path) -> None:
    """A retry (the monitor's ``request()``) trusts the latest listing; a gap (the feed
    passes ``()``: a message was lost after the snapshot) voids it until the next snapshot."""
    ids = ["x", "y", "z"]
    async with _bot(tmp_path, ids) as bot:
        for oid in ids:
            bot.venue.has(oid, "OPEN", Decimal(0))
        done = bot.snapshot(*[_listed(oid, Decimal(0)) for oid in ids])
        await bot.read_back_now(done.listed)
        await bot.read_back_now(None)  # a retry: the listing stands
        assert bot.venue.gets == []
        await bot.read_back_now(())  # a gap
        assert sorted(bot.venue.gets) == ids
        bot.venue.gets.clear()
        await bot.read_back_now(None)  # a retry after the gap: still void
        assert sorted(bot.venue.gets) == ids
        bot.venue.gets.clear()
        done = bot.snapshot(*[_listed(oid, Decimal(0)) for oid in ids])
        await bot.read_back_now(done.listed)  # the next snapshot
        assert bot.venue.gets == []


# -- the real feed and REST client, the simulator over loopback -------------------------------


@dataclass
class Live:
    """The bot's side over the simulator: what was asked of REST and what was delivered."""

    sim: SimServer
    feed: MarketDataFeed
    read_back: ReadBackInRun
    gets: list[str]
    backfills: list[list[str]]
    hooks: list[tuple[str, int]]  # (reason, orders listed) per read-back hook call
    events: list[FeedEvent]
    changed: asyncio.Event
    back_off: NoBackOff

    async def until(self, pred: Any) -> None:
        async with asyncio.timeout(WITHIN):
            while not pred():
                self.changed.clear()
                await self.changed.wait()

    async def read_back_done(self, hooks: int) -> None:
        """Until the feed has called the read-back ``hooks`` times and that has ended."""
        await self.until(lambda: len(self.hooks) >= hooks)
        async with asyncio.timeout(WITHIN):
            await self.read_back.wait()
        assert self.back_off.asked == []


@asynccontextmanager
async def _live(tmp_path: Path, n: int) -> AsyncIterator[tuple[Live, list[str]]]:
    """``n`` bids of the bot resting at the simulator, each with its ledger mark (the
    first alone at the best bid), then the feed started: its first snapshot lists them."""
    async with SimServer(  # no heartbeats, a frozen market: the user frames are the orders'
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=3600)
    ) as sim:
        sim.exchange.add_user("b")
        signer = JwtSigner(sim.add_key("ES256"), clock=SystemClock(), nonce=secrets.token_hex)
        client = RestClient(
            sim.rest_url, signer, clock=SystemClock(), policy=RetryPolicy().scaled(0.001),
            limiter=RateLimiter(float("inf"), float("inf")),
        )  # fmt: skip
        ledger = FillLedger(tmp_path / "fills.sqlite")
        top, ask = sim.exchange.best_bid_ask(PID)
        assert top is not None and ask is not None and ask[0] - top[0] > Decimal("0.02")
        ids = []
        for i in range(n):
            coid = str(uuid.uuid4())
            oid = _limit(sim, "default", "BUY", top[0] + Decimal("0.01") - i * Decimal(5), coid)
            ledger.opened(oid, coid, PID, "BUY", "OPEN")  # its mark (on_placed)
            ids.append(oid)
        gets: list[str] = []
        backfills: list[list[str]] = []

        async def get_order(order_id: str) -> Order:  # the venue seam, counted
            gets.append(order_id)
            return await client.get_order(order_id)

        async def backfill_fills(order_ids: Sequence[str]) -> Sequence[Any]:
            backfills.append(list(order_ids))
            return await client.backfill_fills(order_ids)

        events: list[FeedEvent] = []
        changed = asyncio.Event()

        def deliver(event: FeedEvent) -> None:
            events.append(event)
            changed.set()

        feed = MarketDataFeed(
            FeedConfig(
                market_url=sim.ws_market_url, user_url=sim.ws_user_url, products=(PID,),
                channels=(), user=True, stale_after=30.0, backoff_initial=0.01,
                backoff_max=0.05,
            ),
            protocol=FeedProtocol, connector=make_connector("aiohttp"), on_event=deliver,
            rng=random.Random(1), signer=signer,
        )  # fmt: skip
        assert feed.fills is not None
        back_off = NoBackOff()  # the simulator answers every call: nothing to ask again
        read_back = ReadBackInRun(
            ledger, feed.fills, backfill_fills, get_order, dict, deliver, sleep=back_off
        )
        hooks: list[tuple[str, int]] = []

        def hook(reason: str, listed: Sequence[OrderUpdate]) -> None:  # the runtime's
            hooks.append((reason, len(listed)))
            read_back.request(listed)
            changed.set()

        feed.read_back = hook
        feed.listing_lost = read_back.forget_listing  # (the runtime's wiring too)
        live = Live(sim, feed, read_back, gets, backfills, hooks, events, changed, back_off)
        await feed.start()
        try:
            await feed.wait_ready(WITHIN)
            yield live, ids
        finally:
            await feed.stop()
            await read_back.close()
            await client.close()
            ledger.close()


async def test_a_reconnect_looks_up_none_of_the_orders_its_snapshot_listed_open(
    tmp_path: Path,
) -> None:
    """Five working bids, the user channel drops and comes back: its snapshot lists them
    open, the read-back after it asks REST nothing (it was five GETs, at every reconnect)."""
    async with _live(tmp_path, 5) as (live, ids):
        await live.read_back_done(1)  # the first snapshot's
        assert live.hooks[0][1] == len(ids) and live.gets == []
        top, _ = live.sim.exchange.best_bid_ask(PID)
        assert top is not None
        live.sim.ws_faults.drop_next(1006)  # the connection goes down with the next frame
        _limit(live.sim, "default", "BUY", top[0] - 1000, secrets.token_hex(8))  # not the bot's
        await live.read_back_done(2)  # the reconnect's snapshot
        (user,) = [c for c in live.feed.conns if c.plan.name == "user"]
        assert user.connects == 2
        assert live.hooks[1][1] == len(ids) + 1  # (the foreign order is no working order)
        assert live.gets == [] and live.backfills == []
        assert live.read_back.runs == 2


async def test_a_gap_looks_up_every_working_order_and_counts_a_fill_once(tmp_path: Path) -> None:
    """A message lost after the snapshot (a sequence gap): the listing no longer tells
    what the orders are, each is looked up; the order the gap's frame filled is counted
    once (the channel's fill; REST adds nothing) and gets its FILLED update."""
    async with _live(tmp_path, 3) as (live, ids):
        await live.read_back_done(1)
        assert live.gets == []
        first = ids[0]  # alone at the best bid
        live.sim.ws_faults.skip_sequence(1)  # the next frame comes after a gap
        top, _ = live.sim.exchange.best_bid_ask(PID)
        assert top is not None
        _limit(live.sim, "b", "SELL", top[0], secrets.token_hex(8))  # another user fills it
        await live.read_back_done(2)  # the gap's
        assert live.hooks[1][1] == 0  # a gap: no listing
        assert sorted(live.gets) == sorted(ids)
        assert _filled(live.events, first) == [SIZE]
        statuses = [e.status for e in live.events if isinstance(e, OrderUpdate)
                    and e.order_id == first]  # fmt: skip
        assert statuses[-1] == "FILLED"
        assert live.read_back.runs == 2


async def test_a_retry_while_the_user_channel_is_down_looks_the_orders_up(
    tmp_path: Path,
) -> None:
    """The listing answers for its orders only while its connection reports them: the user
    channel keeps dropping before a new snapshot completes, one bid fills meanwhile, and a
    retry (the monitor's, every 30 s while orders of unknown outcome wait) must look them
    up — trusting the dead connection's listing left the filled bid OPEN and its fill
    uncounted until some snapshot completed (a review's finding)."""
    async with _live(tmp_path, 3) as (live, ids):
        await live.read_back_done(1)  # the first snapshot: the three bids listed open
        (user,) = [c for c in live.feed.conns if c.plan.name == "user"]
        live.sim.ws_faults.drop_next(1006, count=10_000)  # every frame drops its connection
        top, _ = live.sim.exchange.best_bid_ask(PID)
        assert top is not None
        _limit(live.sim, "b", "SELL", top[0], secrets.token_hex(8))  # ids[0] fills meanwhile
        before = user.connects
        await live.until(lambda: user.connects >= before + 3)  # reconnecting, no snapshot
        live.events.clear()
        live.read_back.request()  # the monitor's retry
        async with asyncio.timeout(WITHIN):
            await live.read_back.wait()
        assert ids[0] in live.gets
        assert _filled(live.events, ids[0]) == [SIZE]
        statuses = [e.status for e in live.events if isinstance(e, OrderUpdate)
                    and e.order_id == ids[0]]  # fmt: skip
        assert statuses[-1] == "FILLED"
