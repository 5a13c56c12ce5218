"""Stop-limit exits on Coinbase Exchange, end to end through the simulator's Exchange dialect.

The executor journals an Advanced Trade ``stop_limit_stop_limit_gtc`` body; botkit's Exchange
client translates it (``type: limit`` + ``stop: loss|entry`` + ``stop_price``), the
simulator's Exchange dialect books it on the shared engine, and what comes back is mapped to
the neutral model: REST ``status`` of an untriggered stop (``active`` by default; ``open`` or
``pending`` are the other readings, UNCERTAIN in the reference, so each is a dialect setting
and each must read as a live ``OPEN`` order), the ``stop_limit_stop_limit_gtc``
configuration rebuilt with its direction, and on the signed ``user`` channel the
``activate`` of the untriggered stop (or ``received``, the other reading), then
``received``/``match``/``done`` with its ``client_oid`` once a print goes through the stop.
GTD stops and brackets have no Exchange form: refused before anything is sent.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from botkit.auth.clock import SystemClock
from botkit.auth.hmac_sign import ExchangeHmacSigner
from botkit.errors import OrderRejected
from botkit.market.events import FillEvent, OrderUpdate, UserSnapshotDone
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, stop_limit, trigger_bracket
from botkit.orders.journal import IntentState, OrderJournal
from botkit.orders.state import OrderStatus
from botkit.sim.exchange import SimMarketConfig
from botkit.sim.exchange_auth import ExchangeKey
from botkit.sim.exchange_dialect import ExchangeDialectConfig
from botkit.sim.exchange_rest import ExchangeSimServer
from botkit.sim.exchange_ws import ExchangeWsConfig
from botkit.sim.exchange_ws_frames import OrderFeed
from botkit.venues.exchange.rest_client import ExchangeRestClient
from botkit.venues.exchange.settings import ExchangeVenueSettings
from botkit.venues.exchange.ws_protocol import ExchangeWsAuth, exchange_session_factory
from tests.executor_feed import executor_feed

pytestmark = pytest.mark.timeout(60)

BTC = "BTC-USD"
SIZE = Decimal("0.01")
TICK = Decimal("0.01")
RICH = SimMarketConfig(
    cancel_latency_steps=0,
    initial_balances={"USD": Decimal(10_000_000), "BTC": Decimal(100)},
)


@dataclass
class Venue:
    sim: ExchangeSimServer
    key: ExchangeKey
    client: ExchangeRestClient
    t: float

    def step(self) -> None:
        self.t += 0.3
        self.sim.step(self.t)

    def sell_through(self, price: Decimal) -> None:
        """Another profile sells every bid at or above ``price``: prints down through it."""
        self.sim.exchange.add_user("other")
        bids, _ = self.sim.exchange.book(BTC)
        size = sum((s for p, s in bids if p >= price), Decimal(0))
        body = {
            "client_order_id": "",
            "product_id": BTC,
            "side": "SELL",
            "order_configuration": {"market_market_ioc": {"base_size": str(size)}},
        }
        assert self.sim.exchange.create_order("other", body, self.t)["success"]
        self.step()


def _client(sim: ExchangeSimServer, key: ExchangeKey) -> ExchangeRestClient:
    settings = ExchangeVenueSettings(
        api_key=key.key,
        api_secret=SecretStr(key.secret),
        passphrase=SecretStr(key.passphrase),
        rest_url=sim.rest_url,
    )
    return ExchangeRestClient.from_settings(
        settings,
        clock=SystemClock(),
        policy=RetryPolicy().scaled(0.001),
        rng=random.Random(5),
        limiter=RateLimiter(float("inf"), float("inf")),
        read_timeout=5.0,
    )


@pytest.fixture(params=["active", "open", "pending"])
async def venue(request: pytest.FixtureRequest) -> AsyncIterator[Venue]:
    async with ExchangeSimServer(
        seed=11,
        market=RICH,
        tick_interval=0,
        config=ExchangeDialectConfig(untriggered_stop_status=request.param),
        ws_config=ExchangeWsConfig(heartbeat_interval=0.1),
    ) as sim:
        key = sim.add_key()
        client = _client(sim, key)
        try:
            yield Venue(sim, key, client, sim.clock())
        finally:
            await client.close()


def _stop_loss(venue: Venue, coid: str, below: str = "0.0002") -> OrderIntent:
    """A sell stop ``below`` (a fraction) under the last trade: 0.02 % is inside the
    simulator's book, so selling the bids down prints through it."""
    last = venue.sim.exchange.last_trade_price(BTC)
    stop = (last * (1 - Decimal(below))).quantize(TICK)
    limit = (stop * Decimal("0.99")).quantize(TICK)
    return OrderIntent(coid, BTC, "SELL", stop_limit(SIZE, limit, stop, "STOP_DIRECTION_STOP_DOWN"))


async def test_untriggered_stop_reads_back_as_a_live_stop_limit(
    venue: Venue, tmp_path: Path
) -> None:
    executor = OrderExecutor(venue.client, OrderJournal(tmp_path / "j.sqlite"))
    try:
        intent = _stop_loss(venue, str(uuid.uuid4()), below="0.01")
        placed = await executor.place(intent)
        raw = await venue.client.get_exchange_order(placed.order_id)
        want = venue.sim.dialect.config.untriggered_stop_status
        assert (raw.status, raw.stop, raw.type) == (want, "loss", "limit")
        order = await venue.client.get_order(placed.order_id)
        assert order.status == "OPEN" and order.order_type == "STOP_LIMIT"
        assert order.order_configuration == intent.order_configuration  # the same stop back
        assert order.client_order_id == intent.client_order_id
        # an open-orders listing (reconciliation's) finds it whatever Exchange calls it
        page = await venue.client.list_orders(product_ids=[BTC], order_status=["OPEN"])
        assert placed.order_id in {o.order_id for o in page.orders}
        recon = await executor.reconcile([BTC])
        assert [o.order_id for o in recon.open_orders] == [placed.order_id]
        await executor.refresh(intent.client_order_id)
        state = executor.orders.get(intent.client_order_id)
        assert state is not None and state.status is OrderStatus.OPEN
        record = executor.journal.get(intent.client_order_id)
        assert record is not None and record.state is IntentState.PLACED
    finally:
        await executor.close()


@pytest.mark.parametrize("activate", [True, False])
async def test_stop_triggers_and_the_user_channel_reports_it_with_its_client_oid(
    activate: bool, tmp_path: Path
) -> None:
    async with ExchangeSimServer(
        seed=11,
        market=RICH,
        tick_interval=0,
        ws_config=ExchangeWsConfig(heartbeat_interval=0.1, stop_activate=activate),
    ) as sim:
        key = sim.add_key()
        client = _client(sim, key)
        venue = Venue(sim, key, client, sim.clock())
        auth = ExchangeWsAuth(
            ExchangeHmacSigner(key.key, key.secret, key.passphrase, clock=SystemClock())
        )
        executor = OrderExecutor(client, OrderJournal(tmp_path / "j.sqlite"))
        try:
            async with executor_feed(
                executor,
                market_url=sim.ws_url,
                user_url=sim.ws_url,
                protocol=exchange_session_factory(auth=auth),
                signer=auth,
                channels=(),
                user_products=(BTC,),
            ) as (feed, events):
                await feed.wait_for(
                    lambda: any(isinstance(e, UserSnapshotDone) for e in events), 10
                )
                intent = _stop_loss(venue, str(uuid.uuid4()))
                placed = await executor.place(intent)
                venue.step()
                await feed.sync(10)  # every frame about the untriggered stop is in

                def updates() -> list[OrderUpdate]:
                    return [
                        e
                        for e in events
                        if isinstance(e, OrderUpdate) and e.order_id == placed.order_id
                    ]

                if activate:  # activate is not an order update: nothing until the trigger
                    assert updates() == []
                else:
                    assert [u.client_order_id for u in updates()] == [intent.client_order_id]
                proto = feed.conns[0].protocol
                assert proto.stats.malformed == 0

                stop = Decimal(
                    intent.order_configuration["stop_limit_stop_limit_gtc"]["stop_price"]
                )
                venue.sell_through(stop)
                await feed.wait_for(lambda: any(u.status == "FILLED" for u in updates()), 10)
                assert all(u.client_order_id == intent.client_order_id for u in updates())
                fills = [
                    e for e in events if isinstance(e, FillEvent) and e.order_id == placed.order_id
                ]
                assert sum(f.size for f in fills) == SIZE
                assert {f.client_order_id for f in fills} == {intent.client_order_id}
                truth = sim.exchange.list_fills(key.profile_id, {"order_ids": [placed.order_id]})
                assert sum(f.fee for f in fills) == sum(Decimal(t["commission"]) for t in truth)
                assert all(Decimal(t["price"]) <= stop for t in truth)  # sold at/after the trigger
                state = executor.orders.get(intent.client_order_id)
                assert state is not None and state.status is OrderStatus.FILLED
                assert not executor.orders.illegal
                assert len(executor.orders) == 1  # no second entry keyed by order id
                order = await client.get_order(placed.order_id)
                assert (order.status, order.filled_size) == ("FILLED", SIZE)
        finally:
            await executor.close()
            await client.close()


async def test_cancelled_untriggered_stop_is_done_for_the_executor(tmp_path: Path) -> None:
    """A stop cancelled before it triggers: ``done`` on the user channel for an order that
    was only ``activate``d (no ``client_oid`` on the wire): the executor maps it by order id."""
    async with ExchangeSimServer(
        seed=11, market=RICH, tick_interval=0, ws_config=ExchangeWsConfig(heartbeat_interval=0.1)
    ) as sim:
        key = sim.add_key()
        client = _client(sim, key)
        venue = Venue(sim, key, client, sim.clock())
        auth = ExchangeWsAuth(
            ExchangeHmacSigner(key.key, key.secret, key.passphrase, clock=SystemClock())
        )
        executor = OrderExecutor(client, OrderJournal(tmp_path / "j.sqlite"))
        try:
            async with executor_feed(
                executor,
                market_url=sim.ws_url,
                user_url=sim.ws_url,
                protocol=exchange_session_factory(auth=auth),
                signer=auth,
                channels=(),
                user_products=(BTC,),
            ) as (feed, events):
                await feed.wait_for(
                    lambda: any(isinstance(e, UserSnapshotDone) for e in events), 10
                )
                intent = _stop_loss(venue, str(uuid.uuid4()), below="0.01")
                placed = await executor.place(intent)
                [result] = await client.cancel_orders([placed.order_id])
                assert result.success
                venue.step()
                state_of = executor.orders.get
                await feed.wait_for(
                    lambda: (
                        (s := state_of(intent.client_order_id)) is not None
                        and s.status is OrderStatus.CANCELLED
                    ),
                    10,
                )
                assert len(executor.orders) == 1 and not executor.orders.illegal
                # the wire named the order by its exchange id only; the executor names it back
                [done] = [
                    e
                    for e in events
                    if isinstance(e, OrderUpdate) and e.order_id == placed.order_id
                ]
                assert (done.status, done.client_order_id) == ("CANCELLED", "")
                named = executor.named(done)
                assert (named.status, named.client_order_id) == (
                    "CANCELLED",
                    intent.client_order_id,
                )
        finally:
            await executor.close()
            await client.close()


def test_activate_frame_has_the_reference_fields() -> None:
    """The simulator's ``activate`` (reference §1.C field list), then ``received`` at trigger."""
    feed = OrderFeed(lambda oid: "c0ffee00-0000-4000-8000-000000000000")
    order: dict[str, Any] = {
        "order_id": "o1",
        "product_id": BTC,
        "order_side": "SELL",
        "order_type": "StopLimit",
        "status": "OPEN",
        "trigger_status": "STOP_PENDING",
        "stop_price": "64000.00",
        "limit_price": "63900.00",
        "cumulative_quantity": "0",
        "leaves_quantity": "0.5",
    }
    [msg] = feed.received_first("p1", order, 1_790_000_000.25)
    assert msg.frame == {
        "type": "activate",
        "product_id": BTC,
        "timestamp": "1790000000.250000",
        "user_id": "p1",
        "profile_id": "p1",
        "order_id": "o1",
        "stop_type": "loss",
        "side": "sell",
        "stop_price": "64000.00",
        "size": "0.5",
        "funds": "0",
        "private": True,
    }
    assert feed.received_first("p1", order, 1_790_000_001.0) == []  # said once
    triggered = order | {"trigger_status": "STOP_TRIGGERED"}
    [msg] = feed.received_first("p1", triggered, 1_790_000_002.0)
    assert msg.frame["type"] == "received"
    assert msg.frame["client_oid"] == "c0ffee00-0000-4000-8000-000000000000"
    assert feed.received_first("p1", triggered, 1_790_000_003.0) == []


async def test_exits_without_an_exchange_form_are_refused_before_sending(
    venue: Venue, tmp_path: Path
) -> None:
    executor = OrderExecutor(venue.client, OrderJournal(tmp_path / "j.sqlite"))
    try:
        before = len(venue.sim.exchange.list_orders(venue.key.profile_id, {}))
        last = venue.sim.exchange.last_trade_price(BTC)
        gtd = stop_limit(
            SIZE,
            (last * Decimal("0.98")).quantize(TICK),
            (last * Decimal("0.99")).quantize(TICK),
            "STOP_DIRECTION_STOP_DOWN",
            end_time="2030-01-01T00:00:00Z",
        )
        bracket = trigger_bracket(
            SIZE, (last * Decimal("1.01")).quantize(TICK), (last * Decimal("0.99")).quantize(TICK)
        )
        for config in (gtd, bracket):
            intent = OrderIntent(str(uuid.uuid4()), BTC, "SELL", config)
            with pytest.raises(OrderRejected, match="Exchange"):
                await executor.place(intent)
            record = executor.journal.get(intent.client_order_id)
            assert record is not None and record.state is IntentState.REJECTED
        assert len(venue.sim.exchange.list_orders(venue.key.profile_id, {})) == before
        assert "stop_limit" in executor.native_exits and "bracket" not in executor.native_exits
    finally:
        await executor.close()
