"""A restarted live bot resumes its position, counts what filled while it was down, once.

A real ``BotRuntime`` in live mode against the simulator over 127.0.0.1, three runs on one
data directory:

1. the strategy buys through the best ask for more than it holds: part fills at once, the
   rest rests alone at the new best bid. Stopped (no cancel on exit).
2. while the bot is down, the same account sells into that bid (an order that is not
   botkit's): the resting rest fills. On restart the strategy starts from the first run's
   position, then gets the missed fill (read back from REST) and its position is the
   exchange's; ``max_position``, set to exactly that, refuses one more buy.
3. a plain restart: the position is resumed and nothing is reported twice.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from botkit.auth.clock import SystemClock
from botkit.auth.factory import make_jwt_signer, resolve_cdp_key
from botkit.errors import JournalError
from botkit.market.events import FillEvent, OrderUpdate
from botkit.orders.executor import OrderExecutor
from botkit.orders.fills import FillTracker, MemoryHwmStore
from botkit.orders.intents import attached_bracket
from botkit.orders.journal import IntentState, OrderJournal
from botkit.orders.ledger import FillLedger
from botkit.orders.positions import Positions
from botkit.orders.types import PlacedOrder, ReconcileReport
from botkit.runtime.api import RunOptions
from botkit.runtime.bot import BotRuntime
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.health import Health
from botkit.runtime.resume import mark_placed, read_back_fills
from botkit.runtime.settings import load_settings
from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig
from botkit.venues.advanced_trade.rest_client import RestClient
from tests.strategy.exit_helpers import quiet_market

REST = Decimal("0.001")
QUIET = quiet_market()  # no walk, no prints of its own
ONE = Decimal(1)
STRATEGY = '''
from decimal import Decimal
from botkit import FillEvent, OrderRejected, Strategy


class Opener(Strategy):
    """Opens once (a buy through the best ask, part of it resting); later runs only watch."""

    start_position = None  # set by on_start
    refused = ""

    async def on_start(self) -> None:
        self.start_position = self.ctx.position("BTC-USD")
        self.fills: list[FillEvent] = []
        if self.start_position == 0:
            book = self.ctx.book("BTC-USD")
            price, qty = book.best_ask()
            await self.ctx.buy_limit("BTC-USD", qty + Decimal("0.001"), price)

    async def on_fill(self, fill: FillEvent) -> None:
        self.fills.append(fill)
        if self.start_position:  # a later run: one more buy must be refused
            try:
                await self.ctx.buy_limit("BTC-USD", Decimal("0.001"), fill.price)
            except OrderRejected as exc:
                self.refused = exc.reason
'''


def _config(strategy: Path, max_position: Decimal) -> dict[str, Any]:
    return {
        "bot": {"mode": "live", "products": ["BTC-USD"], "channels": ["level2"]},
        "strategy": {"name": f"{strategy}:Opener"},
        "risk": {"max_order_notional": "10000000", "max_position": str(max_position)},
    }


async def _run(config: dict[str, Any], env: Path, data: Path, done: Any) -> tuple[BotRuntime, Any]:
    def on_health(_: Health) -> None:
        if runtime.ctx is not None and runtime.ctx.strategy is not None and done(runtime):
            runtime.request_stop()

    options = RunOptions(
        mode="live", duration=40.0, data_dir=data, install_signals=False, on_health=on_health
    )
    runtime = BotRuntime(parse_bot_config(config), load_settings(env_file=env), options)
    async with asyncio.timeout(50):
        result = await runtime.run()
    assert result.error is None, result.error
    assert runtime.ctx is not None
    return runtime, runtime.ctx.strategy


def _position(runtime: BotRuntime) -> Decimal:
    assert runtime.ctx is not None
    return runtime.ctx.position("BTC-USD")


@pytest.mark.timeout(150)
async def test_a_restarted_bot_resumes_its_position_and_counts_fills_made_while_down(
    tmp_path: Path,
) -> None:
    strategy = tmp_path / "opener.py"
    strategy.write_text(STRATEGY)
    data = tmp_path / "data"
    async with SimServer(  # a quiet market: its walk moved the ask away on a busy box
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.2), market=QUIET
    ) as sim:
        env = tmp_path / "sim.env"
        env.write_text(sim.env_text(sim.add_key("ES256")))
        ex = sim.exchange

        # 1. open: part fills now, the rest rests
        first, _ = await _run(
            _config(strategy, Decimal(100)), env, data, lambda rt: _position(rt) > 0
        )
        (order,) = [o for o in ex.list_orders("default", {}) if o["status"] == "OPEN"]
        filled = Decimal(order["filled_size"])
        assert filled > 0 and _position(first) == filled
        price = Decimal(order["order_configuration"]["limit_limit_gtc"]["limit_price"])

        # 2. while down: the account sells into the bid until the bot's rest has filled
        for _ in range(20):
            if ex.get_order("default", order["order_id"])["status"] == "FILLED":
                break
            top, _ask = ex.best_bid_ask("BTC-USD")
            assert top is not None and top[0] >= price, (top, price)
            bid, bid_qty = top
            body = {
                "client_order_id": secrets.token_hex(8),  # not botkit's id format
                "product_id": "BTC-USD",
                "side": "SELL",
                "order_configuration": {"limit_limit_gtc": {
                    "base_size": format(bid_qty, "f"), "limit_price": format(bid, "f"),
                }},
            }  # fmt: skip
            assert ex.create_order("default", body, sim.clock())["success"]
            sim.publish()
        assert ex.get_order("default", order["order_id"])["status"] == "FILLED"
        total = filled + REST

        second, opener = await _run(
            _config(strategy, total), env, data, lambda rt: bool(rt.ctx.strategy.refused)
        )
        assert opener.start_position == filled  # resumed, not zero
        (missed,) = opener.fills
        assert missed.order_id == order["order_id"] and missed.size == REST
        assert missed.source == "rest"
        assert _position(second) == total
        assert opener.refused == "RISK_MAX_POSITION"  # the limit counts the carried position
        assert second.gate is not None
        assert second.gate.engine.positions.quantity("BTC-USD") == total

        # 3. a plain restart: resumed, nothing reported twice
        third, watcher = await _run(
            _config(strategy, total), env, data, lambda rt: rt.ctx.strategy.start_position
        )
        assert watcher.start_position == total and watcher.fills == []
        assert _position(third) == total

    ledger = FillLedger(data / "fills.sqlite")  # live: the data directory itself
    try:
        mark = ledger.mark(order["order_id"])
        assert mark is not None and mark.terminal and mark.cumulative_quantity == total
        assert ledger.positions()["BTC-USD"].quantity == total
    finally:
        ledger.close()


def _limit_body(side: str, price: Decimal, size: Decimal, coid: str) -> dict[str, Any]:
    return {
        "client_order_id": coid,
        "product_id": "BTC-USD",
        "side": side,
        "order_configuration": {
            "limit_limit_gtc": {"base_size": format(size, "f"), "limit_price": format(price, "f")}
        },
    }


def _limit(sim: SimServer, side: str, price: Decimal, size: Decimal, coid: str) -> str:
    body = _limit_body(side, price, size, coid)
    resp = sim.exchange.create_order("default", body, sim.clock())
    sim.publish()
    assert resp["success"], resp
    return str(resp["success_response"]["order_id"])


def _live_config(tmp_path: Path, source: str, cls: str) -> dict[str, Any]:
    """A live bot's config running strategy ``cls`` from ``source`` (written to a file)."""
    strategy = tmp_path / f"{cls.lower()}.py"
    strategy.write_text(source)
    return {
        "bot": {"mode": "live", "products": ["BTC-USD"], "channels": ["level2"]},
        "strategy": {"name": f"{strategy}:{cls}"},
        "risk": {"max_order_notional": "10000000", "max_position": "100"},
    }


def _client(sim: SimServer, tmp_path: Path) -> RestClient:
    """A REST client of the simulator, as the bot's (an ES256 key of its own)."""
    env = tmp_path / "sim.env"
    env.write_text(sim.env_text(sim.add_key("ES256")))
    settings = load_settings(env_file=env)
    clock = SystemClock()
    signer = make_jwt_signer(resolve_cdp_key(settings), settings, clock=clock)
    return RestClient(settings.coinbase.rest_url, signer, clock=clock)


async def test_an_order_working_at_the_stop_is_asked_about_however_old(tmp_path: Path) -> None:
    """An order the bot had working when it stopped has a mark (at zero) in the ledger. Not
    listed by reconciliation (created before its window), it is looked up by id; its fills
    made while the bot was down come back once. A mark whose order the exchange does not
    know, and that counted nothing, is closed."""
    async with SimServer(seed=5, tick_interval=0) as sim:
        client = _client(sim, tmp_path)
        try:
            top = sim.exchange.best_bid_ask("BTC-USD")[1]
            assert top is not None
            price, qty = top
            coid = str(uuid.uuid4())
            oid = _limit(sim, "BUY", price, qty + REST, coid)  # part fills, REST rests
            ledger = FillLedger(tmp_path / "fills.sqlite")
            ledger.opened(oid, coid, "BTC-USD", "BUY", "OPEN")  # the bot saw it open
            ledger.opened("no-such-order", str(uuid.uuid4()), "BTC-USD", "SELL", "OPEN")
            _limit(sim, "SELL", price, REST, "not-botkit")  # the rest fills: bot is down
            assert sim.exchange.get_order("default", oid)["status"] == "FILLED"

            tracker = FillTracker(MemoryHwmStore(ledger.seed()))
            nothing_listed = ReconcileReport([], [])  # as if created before the window
            events = await read_back_fills(
                nothing_listed, ledger, tracker, client.backfill_fills, client.get_order
            )
            update, fill = events
            assert isinstance(update, OrderUpdate) and update.status == "FILLED"
            assert update.client_order_id == coid
            assert isinstance(fill, FillEvent) and fill.source == "rest"
            assert fill.client_order_id == coid and fill.size == qty + REST
            assert [m.order_id for m in ledger.unfinished()] == [oid]  # the unknown one closed
            assert tracker.open_order_ids() == []  # finished: later backfills do not ask

            # the context counts it (the runtime's driver): asked again, nothing comes back
            positions = Positions()
            positions.apply_fill("BTC-USD", "BUY", fill.size, fill.price, fill.fee)
            ledger.count(fill, positions.get("BTC-USD"), status="FILLED")
            tracker2 = FillTracker(MemoryHwmStore(ledger.seed()))
            again = await read_back_fills(
                nothing_listed, ledger, tracker2, client.backfill_fills, client.get_order
            )
            assert again == [] and ledger.unfinished() == []
            ledger.close()
        finally:
            await client.close()


async def test_an_order_posted_as_the_bot_stopped_is_asked_about_however_old(
    tmp_path: Path,
) -> None:
    """The POST was in flight at the stop: no answer, no update, so no mark, and its intent
    is PENDING in the order journal. The executor resolves it at start-up and, through
    ``on_placed`` (the runtime's wiring), gives it a mark *before* journalling it PLACED;
    down longer than the reconciliation window (nothing listed), the order is still asked
    about and what it filled meanwhile is counted once. A start that fails after the
    resolution (here: the read-back is never run) finds the mark at the next one."""
    async with SimServer(seed=5, tick_interval=0) as sim:
        client = _client(sim, tmp_path)
        try:
            top = sim.exchange.best_bid_ask("BTC-USD")[1]
            assert top is not None
            price, qty = top
            coid = str(uuid.uuid4())
            body = _limit_body("BUY", price, qty + REST, coid)
            journal = OrderJournal(tmp_path / "journal.sqlite")
            journal.record(coid, "BTC-USD", "BUY", json.dumps(body).encode())  # then killed
            oid = _limit(sim, "BUY", price, qty + REST, coid)  # it reached the exchange
            _limit(sim, "SELL", price, REST, "not-botkit")  # the rest fills: bot is down

            ledger = FillLedger(tmp_path / "fills.sqlite")
            executor = OrderExecutor(client, journal)
            seen: list[tuple[str, IntentState | None]] = []

            def on_placed(placed: PlacedOrder) -> None:  # what the runtime wires
                row = journal.get(placed.client_order_id)
                seen.append((placed.order_id, row.state if row else None))
                mark_placed(ledger, placed)

            executor.on_placed = on_placed
            assert [p.order_id for p in await executor.start()] == [oid]
            assert seen == [(oid, IntentState.PENDING)]  # marked before it was PLACED
            row = journal.get(coid)
            assert row is not None and row.state is IntentState.PLACED
            ledger.close()  # the start dies here: nothing read back, nothing counted

            ledger = FillLedger(tmp_path / "fills.sqlite")  # the next start
            tracker = FillTracker(MemoryHwmStore(ledger.seed()))
            nothing_listed = ReconcileReport([], [])  # created before the window
            events = await read_back_fills(
                nothing_listed, ledger, tracker, client.backfill_fills, client.get_order
            )
            update, fill = events
            assert isinstance(update, OrderUpdate) and update.status == "FILLED"
            assert update.client_order_id == coid
            assert isinstance(fill, FillEvent) and fill.source == "rest"
            assert fill.client_order_id == coid and fill.size == qty + REST
            ledger.close()
            await executor.close()
        finally:
            await client.close()


async def test_an_order_whose_mark_fails_stays_pending(tmp_path: Path) -> None:
    """``on_placed`` raising ``JournalError`` (the ledger's disk failed): the intent is not
    journalled PLACED, so the next start resolves it, and marks it, again."""
    async with SimServer(seed=5, tick_interval=0) as sim:
        client = _client(sim, tmp_path)
        try:
            top = sim.exchange.best_bid_ask("BTC-USD")[0]
            assert top is not None
            coid = str(uuid.uuid4())
            body = _limit_body("BUY", top[0] - 100, REST, coid)
            journal = OrderJournal(tmp_path / "journal.sqlite")
            journal.record(coid, "BTC-USD", "BUY", json.dumps(body).encode())
            oid = _limit(sim, "BUY", top[0] - 100, REST, coid)
            executor = OrderExecutor(client, journal)

            def broken(placed: PlacedOrder) -> None:
                raise JournalError("fill ledger: disk full (test)")

            executor.on_placed = broken
            assert [p.order_id for p in await executor.start()] == [oid]
            row = journal.get(coid)
            assert row is not None and row.state is IntentState.PENDING
            await executor.close()
        finally:
            await client.close()


WATCHER = '''
from botkit import FillEvent, Strategy


class Watcher(Strategy):
    """Places nothing; records the fills it is told about."""

    async def on_start(self) -> None:
        self.fills: list[FillEvent] = []

    async def on_fill(self, fill: FillEvent) -> None:
        self.fills.append(fill)
'''


@pytest.mark.timeout(120)
async def test_a_bot_killed_during_a_post_counts_the_order_however_long_it_was_down(
    tmp_path: Path,
) -> None:
    """The runtime's wiring, end to end: a live bot's data directory as a kill during a
    POST leaves it (the intent PENDING in the journal, no mark in the fill ledger), the
    order at the exchange, created two hours ago (outside the reconciliation window: not
    listed) and filled since. The restarted bot resolves the intent, marks the order
    before journalling it PLACED, reads its fills back and holds the exchange's position.
    """
    config = _live_config(tmp_path, WATCHER, "Watcher")
    data = tmp_path / "data"
    async with SimServer(  # a quiet market: its walk moved the ask away on a busy box
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.2), market=QUIET
    ) as sim:
        env = tmp_path / "sim.env"
        env.write_text(sim.env_text(sim.add_key("ES256")))
        ex = sim.exchange
        top = ex.best_bid_ask("BTC-USD")[1]
        assert top is not None
        price, qty = top
        coid = str(uuid.uuid4())
        body = _limit_body("BUY", price, qty + REST, coid)
        two_hours_ago = sim.clock() - 7200
        journal = OrderJournal(data / "journal.sqlite", wall=lambda: two_hours_ago)
        journal.record(coid, "BTC-USD", "BUY", json.dumps(body).encode())  # then killed
        journal.close()
        resp = ex.create_order("default", body, two_hours_ago)  # the POST reached it
        assert resp["success"], resp
        oid = str(resp["success_response"]["order_id"])
        _limit(sim, "SELL", price, REST, "not-botkit")  # the rest fills: the bot is down
        assert ex.get_order("default", oid)["status"] == "FILLED"
        truth = qty + REST

        options = RunOptions(mode="live", duration=15.0, data_dir=data, install_signals=False)

        def on_health(_: Health) -> None:
            if runtime.ctx is not None and runtime.ctx.position("BTC-USD") == truth:
                runtime.request_stop()

        options.on_health = on_health
        runtime = BotRuntime(parse_bot_config(config), load_settings(env_file=env), options)
        async with asyncio.timeout(60):
            result = await runtime.run()
        assert result.error is None, result.error
        assert runtime.ctx is not None and runtime.ctx.position("BTC-USD") == truth
        watcher: Any = runtime.ctx.strategy  # the Watcher above, loaded from its file
        assert [(f.order_id, f.source, f.size) for f in watcher.fills] == [(oid, "rest", truth)]
        ledger = FillLedger(data / "fills.sqlite")
        try:
            mark = ledger.mark(oid)
            assert mark is not None and mark.cumulative_quantity == truth
        finally:
            ledger.close()


SLOW_BUYER = '''
import asyncio
from decimal import Decimal
from botkit import Strategy


class SlowBuyer(Strategy):
    """Bids once, far below the market, from a task of its own (the POST is slow)."""

    async def on_start(self) -> None:
        bid = self.ctx.book("BTC-USD").best_bid()[0]
        self.task = asyncio.ensure_future(
            self.ctx.buy_limit("BTC-USD", Decimal("0.001"), bid - Decimal(500))
        )
'''


@pytest.mark.timeout(120)
async def test_a_stop_during_a_slow_post_marks_the_order_and_exits_cleanly(
    tmp_path: Path,
) -> None:
    """The stop comes while a POST is in flight: the executor waits for its answer at
    close, and the answer's ledger mark (``on_placed``) must find the ledger still open —
    a closed one made the stop a fatal error (exit 1, an alert telling the operator to
    delete the ledger) and left the order without its mark."""
    config = _live_config(tmp_path, SLOW_BUYER, "SlowBuyer")
    data = tmp_path / "data"
    async with SimServer(  # a quiet market: its walk moved the ask away on a busy box
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.2), market=QUIET
    ) as sim:
        env = tmp_path / "sim.env"
        env.write_text(sim.env_text(sim.add_key("ES256")))
        slow = sim.faults.delay_next(3.0, path=r"/orders$", method="POST")

        def on_health(_: Health) -> None:
            if slow.fired:  # the POST is at the exchange, its answer held back
                runtime.request_stop()

        options = RunOptions(
            mode="live", duration=30.0, data_dir=data, install_signals=False,
            on_health=on_health,
        )  # fmt: skip
        runtime = BotRuntime(parse_bot_config(config), load_settings(env_file=env), options)
        async with asyncio.timeout(60):
            result = await runtime.run()
        assert slow.fired == 1
        assert result.error is None, result.error
        (order,) = sim.exchange.list_orders("default", {})
        ledger = FillLedger(data / "fills.sqlite")
        try:
            assert ledger.mark(order["order_id"]) is not None
        finally:
            ledger.close()


async def test_an_adopted_order_gets_its_mark_before_it_is_journalled(tmp_path: Path) -> None:
    """An order in botkit's id format with no journal row (a lost journal) is adopted at
    reconciliation; like a placed one, it gets its ledger mark (``on_placed``) first."""
    async with SimServer(seed=5, tick_interval=0) as sim:
        client = _client(sim, tmp_path)
        try:
            top = sim.exchange.best_bid_ask("BTC-USD")[0]
            assert top is not None
            coid = str(uuid.uuid4())
            oid = _limit(sim, "BUY", top[0] - 100, REST, coid)  # rests; no journal row
            journal = OrderJournal(tmp_path / "journal.sqlite")
            ledger = FillLedger(tmp_path / "fills.sqlite")
            executor = OrderExecutor(client, journal)
            seen: list[tuple[str, str, IntentState | None]] = []

            def on_placed(placed: PlacedOrder) -> None:
                row = journal.get(placed.client_order_id)
                seen.append((placed.order_id, placed.resolved_by, row.state if row else None))
                mark_placed(ledger, placed)

            executor.on_placed = on_placed
            await executor.start()
            recon = await executor.reconcile(["BTC-USD"])
            assert [o.order_id for o in recon.adopted] == [oid]
            assert seen == [(oid, "adopted", None)]
            mark = ledger.mark(oid)
            assert mark is not None and not mark.terminal and mark.client_order_id == coid
            ledger.close()
            await executor.close()
        finally:
            await client.close()


@pytest.mark.timeout(120)
async def test_a_fresh_data_dir_counts_an_adopted_entrys_attached_exit_too(
    tmp_path: Path,
) -> None:
    """A bot on a fresh (or lost) data directory adopts botkit's orders of the last hour
    and counts their fills: it counted an entry's buy but not the sell of the exit Coinbase
    attached to it, and held a position the account did not (found by an exits QA pass)."""
    async with SimServer(
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.2)
    ) as sim:
        env = _env_of(sim, tmp_path)
        tp = _adopted_entry(sim)
        _buy_through(sim, tp, Decimal("0.002"))  # the whole take-profit fills while down
        statuses = sorted(o["status"] for o in sim.exchange.list_orders("default", {}))
        assert statuses == ["FILLED", "FILLED"]  # the entry and its exit: the account is flat

        config = _live_config(tmp_path, WATCHER, "Watcher")
        runtime, watcher = await _run(
            config, env, tmp_path / "fresh", lambda rt: len(rt.ctx.strategy.fills) >= 2
        )
        assert sorted(f.side for f in watcher.fills) == ["BUY", "SELL"]
        assert _position(runtime) == 0


def _env_of(sim: SimServer, tmp_path: Path) -> Path:
    """A ``.env`` with a fresh key of the simulator's, as ``botkit sim`` prints it."""
    env = tmp_path / "sim.env"
    env.write_text(sim.env_text(sim.add_key("ES256")))
    return env


CANCELLER = '''
from botkit import FillEvent, Strategy


class Canceller(Strategy):
    """Records its fills; with ``cancel``, a cancel-all once two came (a halt's, say)."""

    fills: list[FillEvent] = []
    cancelled = -1
    cancel = True

    async def on_start(self) -> None:
        self.fills = []

    async def on_fill(self, fill: FillEvent) -> None:
        self.fills.append(fill)
        if self.cancel and len(self.fills) >= 2 and self.cancelled < 0:
            self.cancelled = await self.ctx.cancel_all()
'''


def _adopted_entry(sim: SimServer) -> Decimal:
    """An earlier bot's entry with TP/SL (its data directory gone): bought 0.002 at once;
    returns the take-profit's price (the second ask level)."""
    ex = sim.exchange
    last = ex.last_trade_price("BTC-USD")
    tp = ex.book("BTC-USD")[1][1][0]
    entry = {
        "client_order_id": str(uuid.uuid4()), "product_id": "BTC-USD", "side": "BUY",
        "order_configuration": {"market_market_ioc": {"base_size": "0.002"}},
        "attached_order_configuration": attached_bracket(tp, (last * 9 / 10).quantize(ONE)),
    }  # fmt: skip
    assert ex.create_order("default", entry, sim.clock())["success"]
    sim.publish()
    ex.add_user("b")
    return tp


def _buy_through(sim: SimServer, tp: Decimal, of_ours: Decimal) -> None:
    """Another account buys every ask up to ``tp`` but ``0.002 - of_ours`` of ours."""
    _, asks = sim.exchange.book("BTC-USD")
    size = sum((q for p, q in asks if p <= tp), Decimal(0)) - (Decimal("0.002") - of_ours)
    body = {"client_order_id": "", "product_id": "BTC-USD", "side": "BUY",
            "order_configuration": {"market_market_ioc": {"base_size": str(size)}}}  # fmt: skip
    assert sim.exchange.create_order("b", body, sim.clock())["success"]
    sim.publish()


@pytest.mark.timeout(120)
async def test_an_adopted_entrys_attached_exit_is_kept_by_cancel_all(tmp_path: Path) -> None:
    """Unknown to the exit state (a lost data directory), it was cancelled by a cancel-all
    (a halt, the kill switch, --cancel-on-exit): the position lost its TP/SL. Found by a
    review."""
    async with SimServer(  # a quiet market: its own walk filled the rest on a slow box
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.2), market=QUIET
    ) as sim:
        env = _env_of(sim, tmp_path)
        tp = _adopted_entry(sim)
        _buy_through(sim, tp, Decimal("0.001"))  # half the take-profit fills while down
        (attached,) = [o for o in sim.exchange.list_orders("default", {}) if o["status"] == "OPEN"]
        config = _live_config(tmp_path, CANCELLER, "Canceller")
        _, strategy = await _run(
            config, env, tmp_path / "fresh", lambda rt: rt.ctx.strategy.cancelled >= 0
        )
        assert strategy.cancelled == 0
        assert sim.exchange.get_order("default", attached["order_id"])["status"] == "OPEN"


@pytest.mark.timeout(120)
async def test_an_adopted_entrys_attached_exit_filling_in_the_run_is_counted(
    tmp_path: Path,
) -> None:
    """Untouched while the bot was down, it had no alias: its fill in the run carried no
    client id of the bot's and was dropped, the position stayed long. Found by a review."""
    async with SimServer(
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.2)
    ) as sim:
        env = _env_of(sim, tmp_path)
        tp = _adopted_entry(sim)
        sent: list[bool] = []

        def done(rt: BotRuntime) -> bool:
            if _position(rt) > 0 and not sent:
                sent.append(True)
                _buy_through(sim, tp, Decimal("0.002"))  # the take-profit fills now
            return len(rt.ctx.strategy.fills) >= 2  # type: ignore[union-attr]

        config = _live_config(
            tmp_path, CANCELLER.replace("cancel = True", "cancel = False"), "Canceller"
        )
        runtime, strategy = await _run(config, env, tmp_path / "fresh", done)
        assert sorted(o["status"] for o in sim.exchange.list_orders("default", {})) == [
            "FILLED",
            "FILLED",
        ]
        assert sorted(f.side for f in strategy.fills) == ["BUY", "SELL"]
        assert _position(runtime) == 0
