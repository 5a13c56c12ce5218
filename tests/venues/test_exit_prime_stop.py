"""Stop-limit exits on Coinbase Prime: the translation, the simulator's Prime dialect, the
official prime-sdk-py (unmodified) and botkit's Prime client, over loopback.

Prime's ``STOP_LIMIT`` takes ``limit_price`` and ``stop_price`` and triggers on Coinbase
Exchange's last trade (reference exchange-prime-api.md §2.B.1). Its body has no
direction: botkit sends only a SELL stop below the market (a long's stop-loss) and a BUY
stop above it, the two whose direction follows from the side, and refuses the rest before
sending. The simulator's reading of the direction (``stop_direction``) and the status of
an untriggered stop (``untriggered_stop_status``) are settings (UNCERTAIN); botkit must read
the stop back as a live ``stop_limit_stop_limit_gtc/gtd`` under each.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp import web
from prime_sdk.client import Client
from prime_sdk.credentials import Credentials
from prime_sdk.exceptions import PrimeAPIError
from prime_sdk.services.orders import (
    CancelOrderRequest,
    CreateOrderRequest,
    GetOrderRequest,
    ListOpenOrdersRequest,
    OrdersService,
)
from pydantic import SecretStr

from botkit.auth.clock import SystemClock
from botkit.errors import OrderRejected
from botkit.market.events import FillEvent, OrderUpdate, UserSnapshotDone
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, stop_limit, trigger_bracket
from botkit.orders.journal import IntentState, OrderJournal
from botkit.orders.state import OrderStatus
from botkit.sim.exchange import SimMarketConfig
from botkit.sim.prime_auth import PrimeKey
from botkit.sim.prime_dialect import PrimeDialectConfig
from botkit.sim.prime_rest import PrimeSimServer
from botkit.venues.prime.models import PrimeOrder, neutral_order, prime_create_body
from botkit.venues.prime.rest_client import PrimeRestClient
from botkit.venues.prime.settings import PrimeVenueSettings
from botkit.venues.prime.ws_protocol import PrimeWsAuth, prime_session_factory
from tests.executor_feed import executor_feed

pytestmark = pytest.mark.timeout(60)

BTC = "BTC-USD"
SIZE = Decimal("0.01")
TICK = Decimal("0.01")
PRIME = "https://api.prime.coinbase.com/v1"
RICH = SimMarketConfig(
    cancel_latency_steps=0,
    initial_balances={"USD": Decimal(10_000_000), "BTC": Decimal(100)},
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- the translation (pure) ----------------------------------------------------------------


def test_sell_stop_loss_gtc_and_buy_stop_gtd_translate_in_the_sdks_field_order() -> None:
    sell = OrderIntent(
        "c1",
        BTC,
        "SELL",
        stop_limit(Decimal("0.5"), Decimal("95"), Decimal("96"), "STOP_DIRECTION_STOP_DOWN"),
    )
    body = prime_create_body(sell.body())
    assert body == (
        b'{"product_id": "BTC-USD", "side": "SELL", "client_order_id": "c1", "type": '
        b'"STOP_LIMIT", "base_quantity": "0.5", "limit_price": "95", "time_in_force": '
        b'"GOOD_UNTIL_CANCELLED", "stop_price": "96"}'
    )
    buy = OrderIntent(
        "c2",
        BTC,
        "BUY",
        stop_limit(
            Decimal("1"),
            Decimal("106"),
            Decimal("105"),
            "STOP_DIRECTION_STOP_UP",
            end_time="2027-01-01T00:00:00Z",
        ),
    )
    assert json.loads(prime_create_body(buy.body())) == {
        "product_id": BTC,
        "side": "BUY",
        "client_order_id": "c2",
        "type": "STOP_LIMIT",
        "base_quantity": "1",
        "limit_price": "106",
        "expiry_time": "2027-01-01T00:00:00Z",
        "time_in_force": "GOOD_UNTIL_DATE_TIME",
        "stop_price": "105",
    }


@pytest.mark.parametrize(
    ("side", "direction"),
    [("SELL", "STOP_DIRECTION_STOP_UP"), ("BUY", "STOP_DIRECTION_STOP_DOWN")],
)
def test_a_stop_prime_cannot_express_is_refused_with_the_fix(side: str, direction: str) -> None:
    config = stop_limit(Decimal(1), Decimal(100), Decimal(100), direction)  # type: ignore[arg-type]
    intent = OrderIntent("c1", BTC, side, config)  # type: ignore[arg-type]
    with pytest.raises(OrderRejected, match="no direction") as refused:
        prime_create_body(intent.body())
    assert refused.value.reason == "UNSUPPORTED_ORDER_CONFIGURATION"
    bracket = OrderIntent("c2", BTC, "SELL", trigger_bracket(Decimal(1), Decimal(2), Decimal(1)))
    with pytest.raises(OrderRejected, match="emulated"):
        prime_create_body(bracket.body())


@pytest.mark.parametrize(("status", "neutral"), [("OPEN", "OPEN"), ("PENDING", "OPEN")])
def test_neutral_stop_order(status: str, neutral: str) -> None:
    order = neutral_order(
        PrimeOrder(
            id="o1",
            product_id=BTC,
            side="SELL",
            client_order_id="c1",
            type="STOP_LIMIT",
            base_quantity="0.5",
            limit_price="95",
            stop_price="96",
            time_in_force="GOOD_UNTIL_CANCELLED",
            status=status,
        )
    )
    assert order.status == neutral and order.order_type == "STOP_LIMIT"
    assert order.order_configuration == {
        "stop_limit_stop_limit_gtc": {
            "base_size": "0.5",
            "limit_price": "95",
            "stop_price": "96",
            "stop_direction": "STOP_DIRECTION_STOP_DOWN",
        }
    }


# -- against the simulator -------------------------------------------------------------------


@dataclass
class Prime:
    sim: PrimeSimServer
    key: PrimeKey
    bodies: list[tuple[str, bytes]] = field(default_factory=list)  # (path, body) of POSTs
    t: float = 0.0

    @property
    def pid(self) -> str:
        return self.key.portfolio_ids[0]

    def sell_through(self, price: Decimal) -> None:
        """Another portfolio sells every bid at or above ``price``: prints down through it."""
        self.sim.exchange.add_user("other")
        bids, _ = self.sim.exchange.book(BTC)
        size = sum((s for p, s in bids if p >= price), Decimal(0))
        body = {
            "client_order_id": "",
            "product_id": BTC,
            "side": "SELL",
            "order_configuration": {"market_market_ioc": {"base_size": str(size)}},
        }
        self.t = max(self.t, self.sim.clock()) + 0.3
        assert self.sim.exchange.create_order("other", body, self.t)["success"]
        self.sim.step(self.t)


class BodyRecordingPrime(PrimeSimServer):
    """The Prime simulator noting every POST body as it arrives."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.posts: list[tuple[str, bytes]] = []

    def make_app(self) -> web.Application:
        app = super().make_app()

        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.method == "POST":
                self.posts.append((request.path, await request.read()))
            return await handler(request)

        app.middlewares.insert(0, record)
        return app


@pytest.fixture(
    params=[("by_side", "OPEN"), ("by_last_trade", "PENDING")], ids=["by_side", "by_last_trade"]
)
async def prime(request: pytest.FixtureRequest) -> AsyncIterator[tuple[BodyRecordingPrime, Prime]]:
    direction, status = request.param
    config = PrimeDialectConfig(stop_direction=direction, untriggered_stop_status=status)
    async with BodyRecordingPrime(seed=41, market=RICH, tick_interval=0, config=config) as sim:
        yield sim, Prime(sim, sim.add_key())


def _client(p: Prime) -> PrimeRestClient:
    settings = PrimeVenueSettings(
        access_key=p.key.access_key,
        signing_key=SecretStr(p.key.signing_key),
        passphrase=SecretStr(p.key.passphrase),
        portfolio_id=p.pid,
        entity_id=p.key.entity_id,
        service_account_id=p.key.svc_account_id,
        rest_url=p.sim.rest_url,
    )
    return PrimeRestClient.from_settings(
        settings,
        clock=SystemClock(),
        policy=RetryPolicy().scaled(0.001),
        rng=random.Random(5),
        limiter=RateLimiter(float("inf"), float("inf")),
        read_timeout=5.0,
    )


def _stop_prices(p: Prime, below: str = "0.0002") -> tuple[Decimal, Decimal]:
    """(stop, limit) of a sell stop ``below`` (a fraction) under the last trade; 0.02 % is
    inside the simulator's book, so selling the bids down prints through it."""
    last = p.sim.exchange.last_trade_price(BTC)
    stop = (last * (1 - Decimal(below))).quantize(TICK)
    return stop, (stop * Decimal("0.99")).quantize(TICK)


class ToSim(requests.Session):
    """Sends the SDK's production URLs to the simulator (path, so signature, unchanged)."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.trust_env = False

    def request(self, method: str, url: str | bytes, *a: Any, **kw: Any) -> Any:
        assert isinstance(url, str) and url.startswith(PRIME), url
        kw.setdefault("timeout", 10)
        return super().request(method, self.base + url[len(PRIME) :], *a, **kw)


async def test_botkit_stop_limit_lives_triggers_and_fills_through_the_executor(
    prime: tuple[BodyRecordingPrime, Prime], tmp_path: Path
) -> None:
    sim, p = prime
    client = _client(p)
    executor = OrderExecutor(client, OrderJournal(tmp_path / "j.sqlite"))
    try:
        assert executor.native_exits == frozenset({"stop_limit"})
        stop, limit = _stop_prices(p)
        intent = OrderIntent(
            str(uuid.uuid4()),
            BTC,
            "SELL",
            stop_limit(SIZE, limit, stop, "STOP_DIRECTION_STOP_DOWN"),
        )
        placed = await executor.place(intent)
        engine = sim.exchange.get_order(p.pid, placed.order_id)
        assert engine["trigger_status"] == "STOP_PENDING"
        assert engine["order_configuration"]["stop_limit_stop_limit_gtc"]["stop_direction"] == (
            "STOP_DIRECTION_STOP_DOWN"
        )
        order = await client.get_order(placed.order_id)
        assert (order.status, order.order_type) == ("OPEN", "STOP_LIMIT")
        assert order.order_configuration == intent.order_configuration  # the same stop back
        recon = await executor.reconcile([BTC])  # an open-orders listing finds it
        assert [o.order_id for o in recon.open_orders] == [placed.order_id]

        p.sell_through(stop)
        order = await client.get_order(placed.order_id)
        assert (order.status, order.filled_size) == ("FILLED", SIZE)
        assert order.average_filled_price <= stop
        await executor.refresh(intent.client_order_id)
        state = executor.orders.get(intent.client_order_id)
        assert state is not None and state.status is OrderStatus.FILLED
        record = executor.journal.get(intent.client_order_id)
        assert record is not None and record.state is IntentState.PLACED
        [(path, body)] = [(path, b) for path, b in sim.posts if path.endswith("/order")]
        assert json.loads(body)["type"] == "STOP_LIMIT"
    finally:
        await executor.close()
        await client.close()


async def test_official_sdk_creates_lists_and_cancels_a_stop_limit_like_botkit(
    prime: tuple[BodyRecordingPrime, Prime], tmp_path: Path
) -> None:
    """prime-sdk-py (unmodified) sends the same bytes as botkit for the same stop, and its
    order model reads the simulator's STOP_LIMIT back with ``stop_price``."""
    sim, p = prime
    creds = Credentials(
        access_key=p.key.access_key,
        passphrase=p.key.passphrase,
        signing_key=p.key.signing_key,
        portfolio_id=p.pid,
        entity_id=p.key.entity_id,
        svc_account_id=p.key.svc_account_id,
    )
    session = ToSim(sim.rest_url)
    orders = OrdersService(Client(creds, session))
    stop, limit = _stop_prices(p, below="0.01")  # far: it must stay untriggered
    coid = str(uuid.uuid4())
    try:
        made = await asyncio.to_thread(
            orders.create_order,
            CreateOrderRequest(
                portfolio_id=p.pid,
                product_id=BTC,
                side="SELL",
                client_order_id=coid,
                type="STOP_LIMIT",
                base_quantity=str(SIZE),
                limit_price=str(limit),
                time_in_force="GOOD_UNTIL_CANCELLED",
                stop_price=str(stop),
            ),
        )
        got = await asyncio.to_thread(
            orders.get_order, GetOrderRequest(portfolio_id=p.pid, order_id=made.order_id)
        )
        want_status = sim.dialect.config.untriggered_stop_status
        assert (got.order.type, got.order.status) == ("STOP_LIMIT", want_status)
        assert (got.order.stop_price, got.order.limit_price) == (str(stop), str(limit))
        assert got.order.client_order_id == coid
        opened = await asyncio.to_thread(
            orders.list_open_orders, ListOpenOrdersRequest(portfolio_id=p.pid)
        )
        assert [o.id for o in opened.orders] == [made.order_id]
        # botkit's translation of the same stop is byte for byte what the SDK sent
        intent = OrderIntent(
            coid, BTC, "SELL", stop_limit(SIZE, limit, stop, "STOP_DIRECTION_STOP_DOWN")
        )
        [(_, sdk_body)] = [(path, b) for path, b in sim.posts if path.endswith("/order")]
        assert prime_create_body(intent.body()) == sdk_body
        # botkit's client reads the SDK's order as the same stop-limit
        client = _client(p)
        try:
            order = await client.get_order(made.order_id)
            assert order.order_configuration == intent.order_configuration
            assert order.status == "OPEN"
        finally:
            await client.close()
        await asyncio.to_thread(
            orders.cancel_order, CancelOrderRequest(portfolio_id=p.pid, order_id=made.order_id)
        )
        got = await asyncio.to_thread(
            orders.get_order, GetOrderRequest(portfolio_id=p.pid, order_id=made.order_id)
        )
        assert got.order.status == "CANCELLED"
    finally:
        session.close()


async def test_sim_refuses_stop_limit_bodies_prime_would_not_take(
    prime: tuple[BodyRecordingPrime, Prime],
) -> None:
    """Through the SDK: each malformed STOP_LIMIT is a 400 naming what is wrong."""
    sim, p = prime
    creds = Credentials(
        access_key=p.key.access_key,
        passphrase=p.key.passphrase,
        signing_key=p.key.signing_key,
        portfolio_id=p.pid,
        entity_id=p.key.entity_id,
        svc_account_id=p.key.svc_account_id,
    )
    session = ToSim(sim.rest_url)
    orders = OrdersService(Client(creds, session))
    stop, limit = _stop_prices(p, below="0.01")
    base: dict[str, Any] = {
        "portfolio_id": p.pid,
        "product_id": BTC,
        "side": "SELL",
        "type": "STOP_LIMIT",
        "base_quantity": "0.01",
        "limit_price": str(limit),
        "stop_price": str(stop),
    }
    try:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"stop_price": None}, "stop_price is required"),
            ({"time_in_force": "IMMEDIATE_OR_CANCEL"}, "time_in_force of a STOP_LIMIT"),
            ({"time_in_force": "GOOD_UNTIL_DATE_TIME"}, "expiry_time is required"),
            ({"post_only": True}, "post_only"),
        ]
        for change, why in cases:
            request = CreateOrderRequest(**(base | change | {"client_order_id": str(uuid.uuid4())}))
            with pytest.raises(PrimeAPIError, match=why):
                await asyncio.to_thread(orders.create_order, request)
        assert sim.exchange.list_orders(p.pid, {}) == []
    finally:
        session.close()


async def test_orders_channel_follows_the_stop_to_its_fill(
    prime: tuple[BodyRecordingPrime, Prime], tmp_path: Path
) -> None:
    """The signed ``orders`` channel: the untriggered stop in the configured status (as
    REST), then its fill under its client id; the executor's state follows."""
    sim, p = prime
    auth = PrimeWsAuth(
        p.key.access_key, p.key.signing_key, p.key.passphrase, p.key.svc_account_id,
        clock=SystemClock(),
    )  # fmt: skip
    client = _client(p)
    executor = OrderExecutor(client, OrderJournal(tmp_path / "j.sqlite"))
    try:
        async with executor_feed(
            executor,
            market_url=sim.ws_url,
            user_url=sim.ws_url,
            protocol=prime_session_factory(auth=auth, portfolio_id=p.pid),
            signer=auth,
            channels=(),
            user_products=(BTC,),
        ) as (feed, events):
            await feed.wait_for(lambda: any(isinstance(e, UserSnapshotDone) for e in events), 10)
            stop, limit = _stop_prices(p)
            intent = OrderIntent(
                str(uuid.uuid4()),
                BTC,
                "SELL",
                stop_limit(SIZE, limit, stop, "STOP_DIRECTION_STOP_DOWN"),
            )
            placed = await executor.place(intent)

            def updates() -> list[OrderUpdate]:
                return [
                    e
                    for e in events
                    if isinstance(e, OrderUpdate) and e.order_id == placed.order_id
                ]

            await feed.wait_for(lambda: bool(updates()), 10)
            first = updates()[0]
            assert first.client_order_id == intent.client_order_id
            assert first.status == sim.dialect.config.untriggered_stop_status
            assert first.order_type == "STOP_LIMIT"
            p.sell_through(stop)
            await feed.wait_for(lambda: any(u.status == "FILLED" for u in updates()), 10)
            fills = [
                e for e in events if isinstance(e, FillEvent) and e.order_id == placed.order_id
            ]
            assert sum(f.size for f in fills) == SIZE
            assert {f.client_order_id for f in fills} == {intent.client_order_id}
            state = executor.orders.get(intent.client_order_id)
            assert state is not None and state.status is OrderStatus.FILLED
            assert not executor.orders.illegal
    finally:
        await executor.close()
        await client.close()
