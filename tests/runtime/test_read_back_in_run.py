"""A working order that finished while the user channel was down is read back in the run.

A user (re)subscription's snapshot lists open orders only: an order that filled while the
channel was down is in no snapshot and its update is lost with the connection. In a QA
outage of two minutes such orders stayed OPEN in the bot (their cancels "not accepted" every
2 s, the strategy's open-order cap full for good) and their fills were never counted. The
feed's read-back hook asks about every order the fill ledger has as working, as at
start-up (botkit/runtime/resume.py). Real feed, real REST client, the simulator over
loopback; the update is lost by dropping the connection that was to carry it.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.errors import OrderOutcomeUnknown
from botkit.market.config import FeedConfig
from botkit.market.events import FeedEvent, FillEvent, OrderUpdate
from botkit.market.feed import MarketDataFeed
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.net.ws import make_connector
from botkit.orders.executor import OrderExecutor
from botkit.orders.fills import FillTracker, MemoryHwmStore
from botkit.orders.journal import OrderJournal
from botkit.orders.ledger import FillLedger
from botkit.runtime.resume import ReadBackInRun, mark_placed
from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig
from botkit.strategy.ports import ExecutorSink
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol
from tests.strategy.conftest import book_event, sim_client
from tests.strategy.exit_helpers import PRODUCT
from tests.strategy.test_exit_sim import context
from tests.strategy.test_exit_sim import sim as sim  # noqa: F401 - the frozen market fixture

SIZE = Decimal("0.002")


def _limit(sim: SimServer, user: str, side: str, price: Decimal, coid: str) -> str:
    body = {
        "client_order_id": coid,
        "product_id": "BTC-USD",
        "side": side,
        "order_configuration": {
            "limit_limit_gtc": {"base_size": format(SIZE, "f"), "limit_price": format(price, "f")}
        },
    }
    resp = sim.exchange.create_order(user, body, sim.clock())
    sim.publish()
    assert resp["success"], resp
    return str(resp["success_response"]["order_id"])


async def test_an_order_filled_while_the_user_channel_was_down_is_read_back(
    tmp_path: Path,
) -> None:
    async with SimServer(  # no heartbeats, a frozen market: the fill's update is the next frame
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=3600)
    ) as sim:
        sim.exchange.add_user("b")
        signer = JwtSigner(sim.add_key("ES256"), clock=SystemClock(), nonce=secrets.token_hex)
        client = RestClient(
            sim.rest_url,
            signer,
            clock=SystemClock(),
            policy=RetryPolicy().scaled(0.001),
            limiter=RateLimiter(float("inf"), float("inf")),
        )
        ledger = FillLedger(tmp_path / "fills.sqlite")
        events: list[FeedEvent] = []
        arrived = asyncio.Event()

        def deliver(event: FeedEvent) -> None:
            events.append(event)
            arrived.set()

        feed = MarketDataFeed(
            FeedConfig(
                market_url=sim.ws_market_url,
                user_url=sim.ws_user_url,
                products=("BTC-USD",),
                channels=(),
                user=True,
                stale_after=30.0,
                backoff_initial=0.01,
                backoff_max=0.05,
            ),
            protocol=FeedProtocol,
            connector=make_connector("aiohttp"),
            on_event=deliver,
            rng=random.Random(1),
            signer=signer,
        )
        assert feed.fills is not None
        settled: list[int] = []

        async def after() -> int:  # the runtime's: BotContext.settle_unknown
            settled.append(len(events))
            return 0

        read_back = ReadBackInRun(
            ledger, feed.fills, client.backfill_fills, client.get_order, dict, deliver, after
        )
        feed.read_back = lambda reason, listed: read_back.request(listed)
        await feed.start()
        try:
            await feed.wait_ready(10)
            top, ask = sim.exchange.best_bid_ask("BTC-USD")
            assert top is not None and ask is not None and ask[0] - top[0] > Decimal("0.01")
            price = top[0] + Decimal("0.01")  # the best bid, alone at it
            coid = str(uuid.uuid4())
            oid = _limit(sim, "default", "BUY", price, coid)  # the bot's bid, resting
            ledger.opened(oid, coid, "BTC-USD", "BUY", "OPEN")  # its mark (on_placed)

            async def until(pred: object, within: float = 10.0) -> None:
                async with asyncio.timeout(within):
                    while not pred():  # type: ignore[operator]
                        arrived.clear()
                        await arrived.wait()

            await until(lambda: any(isinstance(e, OrderUpdate) and e.order_id == oid
                                    and e.status == "OPEN" for e in events))  # fmt: skip
            runs = read_back.runs
            sim.ws_faults.drop_next(1006)  # the connection goes down with the fill's update
            _limit(sim, "b", "SELL", price, secrets.token_hex(8))  # another user fills it
            assert sim.exchange.get_order("default", oid)["status"] == "FILLED"
            await until(lambda: any(isinstance(e, FillEvent) and e.order_id == oid
                                    for e in events))  # fmt: skip
            update = [e for e in events if isinstance(e, OrderUpdate) and e.order_id == oid][-1]
            (fill,) = [e for e in events if isinstance(e, FillEvent) and e.order_id == oid]
            assert update.status == "FILLED" and update.client_order_id == coid
            assert fill.source == "rest" and fill.size == SIZE and fill.client_order_id == coid
            assert read_back.runs > runs  # the reconnect's snapshot asked
            assert settled and settled[0] > 0  # after its events: the orders of unknown outcome
        finally:
            await feed.stop()
            await read_back.close()
            await client.close()
            ledger.close()


async def test_an_order_of_unknown_outcome_taken_and_filled_in_the_outage_is_counted(
    sim: SimServer, tmp_path: Path
) -> None:
    """The create-order ended unknown, the venue took the order and filled it while the
    user channel was down. The read-back did not know it (no ledger mark yet); the settle
    found it and made it OPEN, and nothing asked again: OPEN in the bot, FILLED at the
    venue, its fill never counted (a review). A settle that found orders reads back again.
    The runtime's wiring: on_placed writes the mark, settle_unknown runs after."""
    client = sim_client(sim)
    executor = OrderExecutor(client, OrderJournal(tmp_path / "journal.sqlite"))
    ledger = FillLedger(tmp_path / "fills.sqlite")
    executor.on_placed = partial(mark_placed, ledger)
    tracker = FillTracker(MemoryHwmStore(ledger.seed()))
    try:
        ctx, _ = context(sim, ExecutorSink(executor), tmp_path, ledger=ledger)
        await ctx.dispatch(book_event(sim))
        top, ask = sim.exchange.best_bid_ask(PRODUCT)
        assert top is not None and ask is not None
        price = top[0] + Decimal("0.01")
        sim.faults.fail_after_accept(500, count=20)  # taken, every answer lost
        sim.faults.fail_next(503, count=60, path=r"/orders/historical", method="GET")
        with pytest.raises(OrderOutcomeUnknown):
            await ctx.buy_limit(PRODUCT, SIZE, price)
        sim.faults.clear()
        (coid,) = [o.client_order_id for o in ctx.open_orders()]
        sim.exchange.add_user("c")
        _limit(sim, "c", "SELL", price, secrets.token_hex(8))  # filled while it was down
        delivered: list[FeedEvent] = []
        read_back = ReadBackInRun(
            ledger, tracker, client.backfill_fills, client.get_order, dict,
            delivered.append, ctx.settle_unknown,
        )  # fmt: skip
        read_back.request()  # the user channel is back
        await read_back.wait()
        for event in delivered:  # what the runtime's driver does with them
            await ctx.dispatch(event)
        state = ctx.orders.get(coid)
        assert state is not None and state.status == "FILLED"
        assert ctx.position(PRODUCT) == SIZE and ctx.unknown_outcomes() is None
        assert read_back.runs == 2  # the settle found it: asked again at once
    finally:
        await executor.close()
        await client.close()
        ledger.close()


async def test_a_read_back_that_failed_is_asked_again_after_a_back_off(
    sim: SimServer, tmp_path: Path
) -> None:
    """The venue still flaky as the channel comes back: one 503 ended the read-back for
    good, and a snapshot queued meanwhile was dropped (a review)."""
    client = sim_client(sim)
    ledger = FillLedger(tmp_path / "fills.sqlite")
    try:
        top, _ = sim.exchange.best_bid_ask(PRODUCT)
        assert top is not None
        coid = str(uuid.uuid4())
        oid = _limit(sim, "default", "BUY", top[0] + Decimal("0.01"), coid)
        ledger.opened(oid, coid, PRODUCT, "BUY", "OPEN")
        sim.exchange.add_user("c")
        _limit(sim, "c", "SELL", top[0] + Decimal("0.01"), secrets.token_hex(8))
        waits: list[float] = []

        async def no_wait(seconds: float) -> None:  # the back-off, without the wall clock
            waits.append(seconds)

        delivered: list[FeedEvent] = []
        read_back = ReadBackInRun(
            ledger, FillTracker(MemoryHwmStore(ledger.seed())), client.backfill_fills,
            client.get_order, dict, delivered.append, sleep=no_wait,
        )  # fmt: skip
        sim.faults.fail_next(503, count=5, path=r"/orders/historical/", method="GET")  # one lookup
        read_back.request()
        await read_back.wait()
        assert read_back.runs == 2 and waits == [ReadBackInRun.RETRY_FIRST]
        assert [type(e).__name__ for e in delivered] == ["OrderUpdate", "FillEvent"]
        assert delivered[0].status == "FILLED"  # type: ignore[union-attr]
    finally:
        await client.close()
        ledger.close()
