"""The exit Coinbase creates for an entry's ``attached_order_configuration`` is followed.

That exit has an **empty** ``client_order_id`` (only ``originating_order_id`` → the entry,
on REST; nothing on the user channel but its order id). These tests drive it end to end
against the simulator over loopback: the user channel's updates for it land in the
executor's state machine under its order id and its fills come out as fill events with that
order id; after a restart, :meth:`~botkit.orders.executor.OrderExecutor.reconcile` links it
to its entry again (``attached_exits``, ``entry_of``) instead of counting it as a foreign
order, does not adopt it (no client id to journal), and survives the entry's GET failing.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.market.events import FillEvent, OrderUpdate
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.net.ws import make_connector
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, attached_bracket, limit_gtc, market_ioc
from botkit.orders.journal import OrderJournal
from botkit.orders.state import OrderStatus
from botkit.orders.types import startup_updates
from botkit.sim.exchange import SimMarketConfig
from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol
from tests.executor_feed import executor_feed

pytestmark = pytest.mark.timeout(60)

BTC = "BTC-USD"
SIZE = Decimal("0.01")
TICK = Decimal("0.01")


def _px(value: Decimal) -> Decimal:
    return value.quantize(TICK)


# every user (the other seller "b" too) holds enough BTC to sweep the book
MARKET = SimMarketConfig(initial_balances={"USD": Decimal(10_000_000), "BTC": Decimal(100)})


def _server() -> SimServer:
    # a still market (no ticks): only the test's own orders move it
    return SimServer(
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.1), market=MARKET
    )


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with _server() as server:
        yield server


def _signer(sim: SimServer) -> JwtSigner:
    return JwtSigner(sim.add_key("ES256"), clock=SystemClock(), nonce=secrets.token_hex)


def _client(sim: SimServer, signer: JwtSigner | None = None, **kw: Any) -> RestClient:
    return RestClient(
        sim.rest_url,
        signer or _signer(sim),
        clock=SystemClock(),
        policy=RetryPolicy().scaled(0.001),
        limiter=RateLimiter(float("inf"), float("inf")),
        **kw,
    )


def _attached_entry(
    sim: SimServer, *, market: bool, coid: str | None = None, away: str = "0.02"
) -> OrderIntent:
    """A BUY entry with TP/SL ``away`` (a fraction) above/below the last trade."""
    last = sim.exchange.last_trade_price(BTC)
    tp, sl = _px(last * (1 + Decimal(away))), _px(last * (1 - Decimal(away)))
    extra = {"attached_order_configuration": attached_bracket(tp, sl)}
    config = (
        market_ioc(base_size=SIZE) if market else limit_gtc(SIZE, _px(last * Decimal("0.9999")))
    )
    return OrderIntent(coid or str(uuid.uuid4()), BTC, "BUY", config, extra)


def _sell_down_through(sim: SimServer, price: Decimal) -> None:
    """Another user sells every bid at or above ``price`` (prints through it)."""
    sim.exchange.add_user("b")
    bids, _ = sim.exchange.book(BTC)
    size = sum((s for p, s in bids if p >= price), Decimal(0))
    body = {
        "client_order_id": "",
        "product_id": BTC,
        "side": "SELL",
        "order_configuration": {"market_market_ioc": {"base_size": str(size)}},
    }
    assert sim.exchange.create_order("b", body, sim.clock())["success"]
    sim.publish()


async def test_user_channel_follows_the_attached_exit_to_its_fill(tmp_path: Path) -> None:
    async with _server() as sim:
        signer = _signer(sim)
        client = _client(sim, signer)
        executor = OrderExecutor(client, OrderJournal(tmp_path / "journal.sqlite"))
        await executor.start()
        try:
            async with executor_feed(
                executor,
                market_url=sim.ws_market_url,
                user_url=sim.ws_user_url,
                protocol=FeedProtocol,
                signer=signer,
                connector=make_connector("aiohttp"),
            ) as (feed, events):
                await feed.wait_ready(10)
                intent = _attached_entry(sim, market=True, away="0.0002")  # SL inside the book
                placed = await executor.place(intent)
                exit_id = placed.attached_order_id
                assert exit_id and executor.entry_of(exit_id) == intent.client_order_id

                def status(order_id: str) -> OrderStatus | None:
                    state = executor.orders.by_order_id(order_id)
                    return None if state is None else state.status

                await feed.wait_for(lambda: status(exit_id) is OrderStatus.OPEN, 10)
                exit_state = executor.orders.by_order_id(exit_id)
                assert exit_state is not None
                assert (exit_state.side, exit_state.product_id) == ("SELL", BTC)

                sl = Decimal(intent.extra["attached_order_configuration"]["trigger_bracket_gtc"][
                    "stop_trigger_price"])  # fmt: skip
                _sell_down_through(sim, sl)
                await feed.wait_for(lambda: status(exit_id) is OrderStatus.FILLED, 10)

                fills = [e for e in events if isinstance(e, FillEvent) and e.order_id == exit_id]
                assert sum(f.size for f in fills) == SIZE  # the exit sold what the entry bought
                assert all(f.client_order_id == "" and f.side == "SELL" for f in fills)
                # an attached exit has no client id to give back: named() leaves it alone
                assert all(executor.named(f).client_order_id == "" for f in fills)
                entry_fills = [e for e in events if isinstance(e, FillEvent)
                               and e.client_order_id == intent.client_order_id]  # fmt: skip
                assert sum(f.size for f in entry_fills) == SIZE
                # one state per order: the exit is not tracked twice (by order id and as a link)
                keyed = [s for s in executor.orders.states() if s.order_id == exit_id]
                assert len(keyed) == 1
                assert not executor.orders.illegal
        finally:
            await executor.close()
            await client.close()


async def _restart(client: RestClient, path: Path, **kw: Any) -> OrderExecutor:
    executor = OrderExecutor(client, OrderJournal(path), **kw)
    await executor.start()
    return executor


async def test_restart_links_an_open_attached_exit_to_its_entry(
    sim: SimServer, tmp_path: Path
) -> None:
    path = tmp_path / "journal.sqlite"
    client = _client(sim)
    try:
        first = await _restart(client, path)
        intent = _attached_entry(sim, market=False)
        placed = await first.place(intent)
        # the entry fills: another user sells into our bid
        price = Decimal(intent.order_configuration["limit_limit_gtc"]["limit_price"])
        _sell_down_through(sim, price)
        assert sim.exchange.get_order("default", placed.order_id)["status"] == "FILLED"
        await first.close()

        second = await _restart(client, path)
        try:
            recon = await second.reconcile([BTC])
            assert recon.foreign_open == 0  # the exit is botkit's, not foreign
            assert recon.adopted == []  # and nothing to adopt: no client id to journal
            exits = {e.order_id: e for e in recon.attached_exits}
            assert set(exits) == {placed.attached_order_id}
            view = exits[placed.attached_order_id]
            assert (view.open, view.originating_order_id, view.client_order_id) == (
                True,
                placed.order_id,
                "",
            )
            assert second.entry_of(view.order_id) == intent.client_order_id
            state = second.orders.by_order_id(view.order_id)
            assert state is not None and state.status is OrderStatus.OPEN
            # the strategy is told about orders with a client id only (never adopts "")
            assert all(u.client_order_id for u in startup_updates(second.startup, recon))
            again = await second.place(intent)  # the journal answers, with the exit's id
            assert again.attached_order_id == view.order_id
            assert second.journal.counts() == {"PLACED": 1}
        finally:
            await second.close()
    finally:
        await client.close()


async def test_exit_of_an_entry_outside_the_window_is_linked_by_one_get(
    sim: SimServer, tmp_path: Path
) -> None:
    """A filled entry older than ``reconcile_window`` is not listed: its GET decides."""
    path = tmp_path / "journal.sqlite"
    client = _client(sim)
    try:
        first = await _restart(client, path)
        intent = _attached_entry(sim, market=True)
        placed = await first.place(intent)
        await first.close()
        second = await _restart(client, path, reconcile_window=0.0)
        try:
            recon = await second.reconcile([BTC])
            assert [e.order_id for e in recon.attached_exits] == [placed.attached_order_id]
            assert recon.foreign_open == 0
            assert second.entry_of(placed.attached_order_id) == intent.client_order_id
        finally:
            await second.close()
        # the entry's GET fails: the exit is left alone and reconciliation goes on
        sim.faults.fail_next(500, 50, path=rf"/orders/historical/{placed.order_id}$")
        third = await _restart(client, path, reconcile_window=0.0)
        try:
            recon = await asyncio.wait_for(third.reconcile([BTC]), 20)
            assert recon.attached_exits == [] and recon.foreign_open == 0
            assert third.entry_of(placed.attached_order_id) is None
        finally:
            sim.faults.clear()
            await third.close()
    finally:
        await client.close()


async def test_exit_of_a_foreign_entry_stays_foreign(sim: SimServer, tmp_path: Path) -> None:
    """An entry placed by another tool (not botkit's id, no journal row): its exit too."""
    client = _client(sim)
    executor = await _restart(client, tmp_path / "journal.sqlite")
    try:
        last = sim.exchange.last_trade_price(BTC)
        body = {
            "client_order_id": "manual-entry-1",
            "product_id": BTC,
            "side": "BUY",
            "order_configuration": {"market_market_ioc": {"base_size": "0.01"}},
            "attached_order_configuration": attached_bracket(
                _px(last * Decimal("1.02")), _px(last * Decimal("0.98"))
            ),
        }
        made = sim.exchange.create_order("default", body, sim.clock())
        assert made["success"], made
        recon = await executor.reconcile([BTC])
        assert recon.attached_exits == [] and recon.foreign_open == 1
        assert executor.entry_of(made["success_response"]["attached_order_id"]) is None
        assert executor.journal.counts() == {}
    finally:
        await executor.close()
        await client.close()


async def test_exit_links_are_released_with_their_finished_exits(
    sim: SimServer, tmp_path: Path
) -> None:
    """The links (exit -> entry) live as long as the state machine keeps the exit: a bot
    placing attached exits for weeks does not grow them without bound."""
    client = _client(sim)
    executor = await _restart(client, tmp_path / "journal.sqlite")
    executor.orders.keep_finished, executor.orders.keep_seconds = 0, 0.0
    try:
        exits = []
        for _ in range(5):
            placed = await executor.place(_attached_entry(sim, market=True))
            exits.append(placed.attached_order_id)
        assert set(executor.attached_exits) == set(exits)
        for exit_id in exits:  # each exit finishes (the user channel's last word on it)
            executor.on_order_update(
                OrderUpdate(
                    order_id=exit_id,
                    client_order_id="",
                    product_id=BTC,
                    side="SELL",
                    order_type="Bracket",
                    status="FILLED",
                    cumulative_quantity=SIZE,
                    leaves_quantity=Decimal(0),
                    avg_price=Decimal(1),
                    total_fees=Decimal(0),
                    snapshot=False,
                )
            )
        assert executor.attached_exits == {} and executor.entry_of(exits[0]) is None
        assert all(executor.orders.by_order_id(e) is None for e in exits)
    finally:
        await executor.close()
        await client.close()
