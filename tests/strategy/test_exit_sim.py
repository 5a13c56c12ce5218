"""Exits end to end: BotContext -> real executor -> botkit.sim over loopback, and back.

Each exit kind is placed through the strategy API, the market is moved by another user of
the simulator, and what the exchange did comes back as the user channel would report it.
Native exits (stop-limit, bracket) must be at the exchange; emulated ones must send
nothing until a print triggers them; bad exits must send nothing at all.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest

from botkit.errors import BotkitError
from botkit.market.events import FillEvent, OrderUpdate
from botkit.market.trading_status import TradingMode, TradingStatus
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent
from botkit.orders.ledger import FillLedger
from botkit.orders.state import OrderStatus
from botkit.orders.types import startup_updates
from botkit.risk.engine import RiskLimits, RiskRejected
from botkit.risk.gate import RiskGate
from botkit.runtime.resume import resume_positions
from botkit.runtime.ui import RunStats, refresh_stats, render_summary
from botkit.sim.server import SimServer
from botkit.strategy.context import BotContext
from botkit.strategy.exit_recovery import ATTACHED_GRACE
from botkit.strategy.exits import ExitFilled, ExitRejected, ExitTriggered, Offset, limits_from_rules
from botkit.strategy.loader import create_strategy
from botkit.strategy.ports import ExecutorSink, MarketState, OrderSink
from botkit.strategy.state import JsonState
from tests.strategy.conftest import book_event
from tests.strategy.exit_helpers import (
    PRODUCT,
    EmulatingSink,
    Recorder,
    StopOnlySink,
    UserChannel,
    bid,
    buy_up_to,
    frozen_sim,
    open_at_sim,
    sell_down_to,
    ticker,
    trade_print,
)

D = Decimal
SIZE = D("0.01")


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with frozen_sim() as server:
        server.exchange.add_user("b")
        yield server


def context(
    sim: SimServer,
    sink: OrderSink,
    tmp_path: Path,
    cls: type[Recorder] | None = None,
    **kw: object,
) -> tuple[BotContext, Recorder]:
    from botkit.clock import ManualClock

    clock = ManualClock(1_800_000_000.0)
    ctx = BotContext(
        "exits",
        sink,
        MarketState(),
        clock=clock,
        guard_clock=clock,
        monotonic=clock.time,
        exit_state=JsonState(tmp_path / "exits.json"),
        product_limits=limits_from_rules([sim.exchange.product_wire(PRODUCT)]),
        **kw,  # type: ignore[arg-type]
    )
    strategy = create_strategy(cls or Recorder, ctx, {})
    assert isinstance(strategy, Recorder)
    return ctx, strategy


async def long_position(sim: SimServer, ctx: BotContext, user: UserChannel) -> Decimal:
    """Buy SIZE at market through the context; the fill comes back; the last trade is known."""
    await ctx.dispatch(book_event(sim))
    await ctx.buy_market(PRODUCT, base_size=SIZE)
    await user.sync(ctx)
    assert ctx.position(PRODUCT) == SIZE
    last = sim.exchange.last_trade_price(PRODUCT)
    await ctx.dispatch(ticker(last))
    return last


def kinds(strategy: Recorder) -> list[tuple[str, str, str]]:
    return [(type(e).__name__, e.kind, e.leg) for e in strategy.exits]


async def test_native_stop_loss_rests_at_the_exchange_and_fills_through_it(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    gate = RiskGate(RiskLimits(cooldown_after_stop_loss=60), None, wall=lambda: 1_800_000_000.0)
    ctx, strategy = context(sim, ExecutorSink(executor), tmp_path, risk=gate)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    exit_id = await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2))
    (rec,) = ctx.open_exits()
    assert rec.native and rec.stop == (last * D("0.9998")).quantize(D("0.01"), ROUND_FLOOR)
    (at_sim,) = open_at_sim(sim.exchange)
    assert at_sim["order_type"] == "STOP_LIMIT" and at_sim["trigger_status"] == "STOP_PENDING"
    conf = at_sim["order_configuration"]["stop_limit_stop_limit_gtc"]
    assert (
        D(conf["stop_price"]) == rec.stop and conf["stop_direction"] == "STOP_DIRECTION_STOP_DOWN"
    )
    assert at_sim["client_order_id"] == rec.order_coid
    # a print above the stop: nothing; through it: the exchange sells
    await ctx.dispatch(trade_print(last - 1))
    assert strategy.exits == []
    assert rec.stop is not None
    bid(sim.exchange, rec.stop - 5)
    sell_down_to(sim.exchange, rec.stop)
    await user.sync(ctx)
    assert kinds(strategy) == [
        ("ExitTriggered", "stop_loss", "stop_loss"),
        ("ExitFilled", "stop_loss", "stop_loss"),
    ]
    filled = strategy.exits[-1]
    assert isinstance(filled, ExitFilled) and filled.remaining == 0 and filled.size == SIZE
    assert filled.exit_id == exit_id and filled.native and rec.stop - 5 <= filled.price <= rec.stop
    assert ctx.position(PRODUCT) == 0 and ctx.open_exits() == []
    assert JsonState(tmp_path / "exits.json").get("exits") == {}  # journaled as done
    # the risk gate was told: the post-stop-loss cooldown refuses a new entry
    with pytest.raises(RiskRejected) as info:
        await ctx.buy_market(PRODUCT, base_size=SIZE)
    assert info.value.reason == "RISK_COOLDOWN"


async def test_native_bracket_take_profit_fills_and_the_stop_leg_goes_with_it(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    ctx, strategy = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    await ctx.bracket(PRODUCT, SIZE, take_profit=Offset.ticks(200), stop_loss=Offset.pct(2))
    (rec,) = ctx.open_exits()
    assert rec.native and rec.take_profit == last + 2
    (at_sim,) = open_at_sim(sim.exchange)
    assert at_sim["order_type"] == "BRACKET"
    conf = at_sim["order_configuration"]["trigger_bracket_gtc"]
    assert (D(conf["limit_price"]), D(conf["stop_trigger_price"])) == (rec.take_profit, rec.stop)
    assert rec.take_profit is not None
    buy_up_to(sim.exchange, rec.take_profit, extra=D("5"))
    await user.sync(ctx)
    assert kinds(strategy) == [
        ("ExitTriggered", "bracket", "take_profit"),
        ("ExitFilled", "bracket", "take_profit"),
    ]
    assert strategy.exits[-1].price == rec.take_profit
    assert ctx.position(PRODUCT) == 0 and open_at_sim(sim.exchange) == []


async def test_emulated_bracket_sends_nothing_until_a_print_triggers_it(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    ctx, strategy = context(sim, EmulatingSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    await ctx.bracket(PRODUCT, SIZE, take_profit=Offset.pct(1), stop_loss=Offset.bps(2))
    (rec,) = ctx.open_exits()
    assert not rec.native and open_at_sim(sim.exchange) == []
    assert PRODUCT in ctx.exits.watch
    stats = RunStats()  # the operator is told: nothing protects it while the bot is down
    refresh_stats(stats, ctx, (PRODUCT,))
    assert (stats.exits, stats.exits_emulated) == (1, 1) and "exits 1, 1 EMULATED" in stats.line()
    assert "1 emulated: not protected while the bot is down" in render_summary(stats, 1.0)
    await ctx.dispatch(trade_print(last - D("0.5")))  # above the stop
    assert open_at_sim(sim.exchange) == [] and strategy.exits == []
    assert rec.stop is not None
    bid(sim.exchange, rec.stop - 5)
    low = sell_down_to(sim.exchange, rec.stop)  # the market really goes there
    await ctx.dispatch(trade_print(low))
    assert kinds(strategy) == [("ExitTriggered", "bracket", "stop_loss")]
    assert PRODUCT not in ctx.exits.watch  # nothing left to evaluate
    await user.sync(ctx)
    assert kinds(strategy)[-1] == ("ExitFilled", "bracket", "stop_loss")
    assert ctx.position(PRODUCT) == 0
    fill = strategy.exits[-1]
    assert rec.stop - 5 <= fill.price <= rec.stop  # a limit 5 % beyond: it crossed the bids


async def test_trailing_stop_ratchets_up_by_cancel_replace_and_fills_on_the_way_down(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    ctx, strategy = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    await ctx.trailing_stop(PRODUCT, SIZE, distance=D("20"))
    (rec,) = ctx.open_exits()
    assert rec.native and rec.trailing is not None and rec.trailing.stop == last - 20
    first = rec.order_coid
    high = buy_up_to(sim.exchange, last + 10)
    await ctx.dispatch(trade_print(high))
    assert rec.trailing.stop == high - 20
    # one cancel in flight; the new stop is placed once the exchange confirms it
    sim.exchange.advance(sim.now() + 5)
    await user.sync(ctx)
    assert rec.order_coid != first
    (at_sim,) = open_at_sim(sim.exchange)
    stop = D(at_sim["order_configuration"]["stop_limit_stop_limit_gtc"]["stop_price"])
    assert stop == high - 20
    await ctx.dispatch(trade_print(high - 5))  # a dip does not lower it
    assert rec.trailing.stop == high - 20 and len(open_at_sim(sim.exchange)) == 1
    bid(sim.exchange, stop - 5)
    sell_down_to(sim.exchange, stop)
    await user.sync(ctx)
    assert kinds(strategy)[-1] == ("ExitFilled", "trailing", "stop_loss")
    assert ctx.position(PRODUCT) == 0


async def test_a_restricted_product_keeps_its_resting_native_exits(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """While the venue takes no new order on the product (cancel only), a replacement would
    be refused after its resting order was cancelled, leaving the exit emulated (a review's
    finding): ``replace_exit`` is refused and a trailing stop's re-price waits, both
    keeping the order at the exchange; once trading resumes both work again."""
    gate = RiskGate(RiskLimits(), None, wall=lambda: 1_800_000_000.0)
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path, risk=gate)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    stop_id = await ctx.stop_loss(PRODUCT, SIZE / 2, Offset.pct(1))
    await ctx.trailing_stop(PRODUCT, SIZE / 2, distance=D("20"))
    stop, trail = ctx.open_exits()
    resting = {o["client_order_id"] for o in open_at_sim(sim.exchange)}
    assert resting == {stop.order_coid, trail.order_coid}
    gate.set_trading_status(TradingStatus(PRODUCT, TradingMode.CANCEL_ONLY, "online", "incident"))
    with pytest.raises(ExitRejected) as info:
        await ctx.replace_exit(stop_id, stop_loss=last - 10)
    assert info.value.reason == "EXIT_PRODUCT_RESTRICTED"
    assert "BTC-USD is cancel-only: incident" in str(info.value) and "Fix:" in str(info.value)
    assert trail.trailing is not None
    high = buy_up_to(sim.exchange, last + 10)
    await ctx.dispatch(trade_print(high))  # the ratchet moves; the resting stop stays
    assert trail.trailing.stop == high - 20
    sim.exchange.advance(sim.now() + 5)
    await user.sync(ctx)
    assert {o["client_order_id"] for o in open_at_sim(sim.exchange)} == resting
    assert stop.native and trail.native and ctx.exits.describe()[0]["how"] == "native"

    gate.set_trading_status(TradingStatus(PRODUCT, TradingMode.FULL))
    assert await ctx.replace_exit(stop_id, stop_loss=last - 10) == stop_id
    high = buy_up_to(sim.exchange, high + 10)
    await ctx.dispatch(trade_print(high))
    sim.exchange.advance(sim.now() + 10)  # (the simulator's clock is frozen: a later time)
    await user.sync(ctx)
    now_resting = {o["client_order_id"] for o in open_at_sim(sim.exchange)}
    assert now_resting == {stop.order_coid, trail.order_coid} and not now_resting & resting


async def test_exchange_like_venue_emulates_the_bracket_but_rests_a_native_stop(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    ctx, _ = context(sim, StopOnlySink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    await long_position(sim, ctx, user)
    await ctx.bracket(PRODUCT, SIZE / 2, take_profit=Offset.pct(1), stop_loss=Offset.pct(1))
    await ctx.stop_loss(PRODUCT, SIZE / 2, Offset.pct(1))
    bracket, stop = ctx.open_exits()
    assert not bracket.native and stop.native
    assert [o["order_type"] for o in open_at_sim(sim.exchange)] == ["STOP_LIMIT"]
    view = ctx.exits.describe()
    assert view[0]["how"] == "emulated: needs the bot running" and view[1]["how"] == "native"


async def test_bad_exits_are_refused_before_anything_is_sent(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    sent = len(sim.exchange.list_orders("default", {}))
    cases = [
        (ctx.stop_loss(PRODUCT, SIZE, last + 100), "EXIT_STOP_WRONG_SIDE", "below"),
        (ctx.bracket(PRODUCT, SIZE, take_profit=last - 100, stop_loss=Offset.pct(1)),
         "EXIT_TAKE_PROFIT_WRONG_SIDE", "above"),
        (ctx.stop_loss(PRODUCT, SIZE, last - 100, side="short"), "EXIT_STOP_WRONG_SIDE", "above"),
        (ctx.stop_loss(PRODUCT, D("0.000000001"), Offset.pct(1)), "EXIT_SIZE_TOO_SMALL", "at least"),
        (ctx.buy(PRODUCT, SIZE, last - 50, stop_loss=last - 40), "EXIT_STOP_WRONG_SIDE", "below"),
        (ctx.sell(PRODUCT, SIZE, last + 50, take_profit=last + 60),
         "EXIT_TAKE_PROFIT_WRONG_SIDE", "below"),
        (ctx.stop_loss(PRODUCT, SIZE, last - D("0.005")), "EXIT_PRICE_PRECISION", "tick"),
        (ctx.stop_loss(PRODUCT, SIZE * 2, Offset.pct(1)), "EXIT_SIZE_ABOVE_POSITION", "at most"),
    ]  # fmt: skip
    for call, reason, fix in cases:
        with pytest.raises(ExitRejected) as info:
            await call
        assert info.value.reason == reason and fix in str(info.value), info.value
    fresh, _ = context(sim, ExecutorSink(executor), tmp_path / "fresh")
    await fresh.dispatch(ticker(last))
    with pytest.raises(ExitRejected) as info:
        await fresh.bracket(PRODUCT, SIZE, take_profit=Offset.pct(1), stop_loss=Offset.pct(1))
    assert info.value.reason == "EXIT_NO_POSITION" and "side='long'" in str(info.value)
    assert len(sim.exchange.list_orders("default", {})) == sent
    assert ctx.open_exits() == []


class BracketSink(ExecutorSink):
    """A venue with native stop-limit and brackets but no attached TP/SL."""

    @property
    def native_exits(self) -> frozenset[str]:
        return frozenset({"stop_limit", "bracket"})


@pytest.mark.parametrize(
    ("sink_cls", "expect"),
    [(ExecutorSink, "attached"), (BracketSink, "bracket"), (EmulatingSink, "emulated")],
)
async def test_entry_with_exits_arms_them_sized_by_its_fill(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path, sink_cls: type, expect: str
) -> None:
    ctx, strategy = context(sim, sink_cls(executor), tmp_path)
    user = UserChannel(sim.exchange)
    await ctx.dispatch(book_event(sim))
    last = sim.exchange.last_trade_price(PRODUCT)
    await ctx.dispatch(ticker(last))
    entry = await ctx.buy(PRODUCT, SIZE, stop_loss=Offset.bps(2), take_profit=Offset.pct(1))
    (pending,) = ctx.open_exits()
    assert pending.kind == "entry" and pending.entry_coid == entry
    await user.sync(ctx)  # the market entry filled: its exits are armed for the fill
    assert ctx.position(PRODUCT) == SIZE
    (live,) = ctx.open_exits()
    assert live.size == SIZE and live.stop is not None
    orders = [o["order_type"] for o in open_at_sim(sim.exchange)]
    if expect == "attached":  # the venue created the exit itself, linked to the entry
        assert live.kind == "entry" and live.native and orders == ["BRACKET"]
        (exit_order,) = open_at_sim(sim.exchange)
        assert exit_order["client_order_id"] == "" and exit_order["originating_order_id"]
    elif expect == "bracket":
        assert live.kind == "bracket" and live.native and orders == ["BRACKET"]
    else:
        assert live.kind == "bracket" and not live.native and orders == []
    bid(sim.exchange, live.stop - 5)
    low = sell_down_to(sim.exchange, live.stop)
    await ctx.dispatch(trade_print(low))
    await user.sync(ctx)
    assert [type(e) for e in strategy.exits] == [ExitTriggered, ExitFilled]
    last_event = strategy.exits[-1]
    assert isinstance(last_event, ExitFilled) and last_event.leg == "stop_loss"
    assert last_event.remaining == 0
    assert ctx.position(PRODUCT) == 0 and ctx.open_exits() == []


async def test_restart_resumes_a_trailing_stop_and_an_emulated_exit(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    trail_id = await ctx.trailing_stop(PRODUCT, SIZE / 2, distance=D("20"))
    emu = EmulatingSink(executor)
    ctx.exits.native = emu.native_exits  # the second exit as a venue without brackets
    emu_id = await ctx.bracket(PRODUCT, SIZE / 2, take_profit=Offset.pct(5), stop_loss=last - 15)
    high = buy_up_to(sim.exchange, last + 10)
    await ctx.dispatch(trade_print(high))  # ratchet (journaled), cancel in flight
    sim.exchange.advance(sim.now() + 5)
    # the process dies here: the cancel is confirmed at the exchange, the new stop not sent
    del ctx
    ctx2, strategy2 = context(sim, ExecutorSink(executor), tmp_path)
    recon = await executor.reconcile([PRODUCT])  # what the runtime does before on_start
    for update in startup_updates(executor.startup, recon):
        ctx2.adopt(
            update.client_order_id, product_id=update.product_id, side=update.side, known=update
        )
    await ctx2.start()
    resumed = {r.exit_id: r for r in ctx2.open_exits()}
    assert set(resumed) == {trail_id, emu_id}
    trail, emulated = resumed[trail_id], resumed[emu_id]
    assert trail.trailing is not None and trail.trailing.stop == high - 20  # the ratchet held
    assert not emulated.native and PRODUCT in ctx2.exits.watch
    (at_sim,) = [o for o in open_at_sim(sim.exchange) if o["order_type"] == "STOP_LIMIT"]
    assert D(at_sim["order_configuration"]["stop_limit_stop_limit_gtc"]["stop_price"]) == high - 20
    assert at_sim["client_order_id"] == trail.order_coid
    # the market falls through both: the native stop fills, the emulated one is sent and fills
    await ctx2.dispatch(book_event(sim))
    bid(sim.exchange, last - 20)
    low = sell_down_to(sim.exchange, last - 15)
    await ctx2.dispatch(trade_print(low))
    await user.sync(ctx2)
    done = {
        (e.exit_id, e.leg) for e in strategy2.exits if isinstance(e, ExitFilled) and not e.remaining
    }
    assert done == {(trail_id, "stop_loss"), (emu_id, "stop_loss")}
    assert ctx2.open_exits() == [] and open_at_sim(sim.exchange) == []


async def _restarted_and_stopped_out(
    sim: SimServer, executor: OrderExecutor, ctx2: BotContext, strategy2: Recorder, exit_id: str
) -> list[ExitFilled]:
    """Start ``ctx2`` as the runtime does after a restart (reconciliation's updates adopted),
    check it resumed exit ``exit_id`` (an attached bracket), sell down through its stop and
    deliver every order's state: the exit fills it reported."""
    recon = await executor.reconcile([PRODUCT])
    for update in startup_updates(executor.startup, recon):
        ctx2.adopt(
            update.client_order_id, product_id=update.product_id, side=update.side, known=update
        )
    await ctx2.start()
    (again,) = ctx2.open_exits()
    assert again.exit_id == exit_id and again.stop is not None
    await ctx2.dispatch(book_event(sim))
    bid(sim.exchange, again.stop - 5)
    sell_down_to(sim.exchange, again.stop)
    await UserChannel(sim.exchange).sync(ctx2)  # a fresh user channel: every order's state
    return [e for e in strategy2.exits if isinstance(e, ExitFilled)]


async def test_restart_follows_an_attached_exit_again(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The exit Coinbase attached to an entry has no client_order_id, so reconciliation
    cannot adopt it: the restarted context looks it up by the order id it journaled."""
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    await ctx.dispatch(book_event(sim))
    await ctx.dispatch(ticker(sim.exchange.last_trade_price(PRODUCT)))
    await ctx.buy(PRODUCT, SIZE, stop_loss=Offset.bps(2), take_profit=Offset.pct(1))
    await user.sync(ctx)
    (rec,) = ctx.open_exits()
    assert rec.kind == "entry" and rec.extra["attached_order_id"]
    del ctx  # the process ends
    ctx2, strategy2 = context(sim, ExecutorSink(executor), tmp_path)
    filled = await _restarted_and_stopped_out(sim, executor, ctx2, strategy2, rec.exit_id)
    assert [(e.exit_id, e.leg, e.remaining) for e in filled] == [(rec.exit_id, "stop_loss", D(0))]
    assert ctx2.open_exits() == []


async def test_restart_follows_the_attached_exit_of_an_entry_resolved_at_start_up(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The bot died while the entry's POST was in flight: the exit state has the entry,
    pending, without the attached exit's id (the answer never came). The restart's
    executor resolves the intent and learns the attached id; the exit manager takes it
    (``entry_resolved``, as the runtime does) and follows the exit, instead of closing the
    record as an entry that finished with its exits unarmed."""
    exits_file = tmp_path / "exits.json"

    class DiesDuringPost(ExecutorSink):  # the exit state as the POST leaves
        saved = ""

        async def place(self, intent: OrderIntent) -> str:
            self.saved = exits_file.read_text()
            return await super().place(intent)

    sink = DiesDuringPost(executor)
    ctx, _ = context(sim, sink, tmp_path)
    await ctx.dispatch(book_event(sim))
    await ctx.dispatch(ticker(sim.exchange.last_trade_price(PRODUCT)))
    await ctx.buy(PRODUCT, SIZE, stop_loss=Offset.bps(2), take_profit=Offset.pct(1))
    (rec,) = ctx.open_exits()
    attached = str(rec.extra["attached_order_id"])
    assert attached and rec.entry_coid is not None
    del ctx  # the process ends; what reached the disk is the state before the answer
    exits_file.write_text(sink.saved)

    ledger = FillLedger(tmp_path / "fills.sqlite")  # the restart's (no mark of the exit)
    ctx2, strategy2 = context(sim, ExecutorSink(executor), tmp_path, ledger=ledger)
    (pending,) = ctx2.open_exits()
    assert pending.status == "pending" and "attached_order_id" not in pending.extra
    ctx2.exits.entry_resolved(rec.entry_coid, attached)  # the executor's resolution
    assert ctx2.exits.attached_aliases() == {attached: f"attached:{attached}"}
    mark = ledger.mark(attached)  # asked about at any later restart, however old
    assert mark is not None and mark.client_order_id == f"attached:{attached}"
    filled = await _restarted_and_stopped_out(sim, executor, ctx2, strategy2, rec.exit_id)
    assert [(e.exit_id, e.leg) for e in filled] == [(rec.exit_id, "stop_loss")]
    assert ctx2.open_exits() == []
    ledger.close()


async def test_an_attached_exit_gets_its_fill_ledger_mark_when_learned(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The venue's exit for an entry (no client id) gets a mark under its alias as soon as
    its id is known, like any working order: a restart asks about it by id however long
    the bot was down. (No mark must mean "pruned, all counted": never "never marked".)"""
    ledger = FillLedger(tmp_path / "fills.sqlite")
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path, ledger=ledger)
    await ctx.dispatch(book_event(sim))
    await ctx.dispatch(ticker(sim.exchange.last_trade_price(PRODUCT)))
    await ctx.buy(PRODUCT, SIZE, stop_loss=Offset.bps(2), take_profit=Offset.pct(1))
    (rec,) = ctx.open_exits()
    attached = str(rec.extra["attached_order_id"])
    mark = ledger.mark(attached)
    assert mark is not None and not mark.terminal
    assert (mark.client_order_id, mark.side) == (f"attached:{attached}", "SELL")
    ledger.close()


async def test_the_attached_exit_is_learned_from_the_answer_without_a_request(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The entry's create answer carried the attached exit's id (the executor linked it):
    the exit is followed even while the venue's order lookup fails (before, one failed
    GET left the exit unfollowed and its fills uncounted for good)."""
    broken = sim.faults.fail_next(500, 50, path=r"/orders/historical/[^/]+$", method="GET")
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    await ctx.dispatch(book_event(sim))
    await ctx.dispatch(ticker(sim.exchange.last_trade_price(PRODUCT)))
    await ctx.buy(PRODUCT, SIZE, stop_loss=Offset.bps(2), take_profit=Offset.pct(1))
    (rec,) = ctx.open_exits()
    assert rec.extra.get("attached_order_id")
    assert broken.fired == 0  # no lookup was needed


async def test_an_attached_exit_not_learned_at_placement_is_learned_when_the_entry_ends(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """If the id could not be learned when the entry was placed (the lookup failed), the
    entry's final update tries again, so the exit is followed and marked."""

    class LookupFailsOnce(ExecutorSink):
        failed = False

        async def attached_order_id(self, order_id: str) -> str:
            if not self.failed:
                self.failed = True
                raise BotkitError("venue unreachable (test)")
            return await super().attached_order_id(order_id)

    ledger = FillLedger(tmp_path / "fills.sqlite")
    ctx, _ = context(sim, LookupFailsOnce(executor), tmp_path, ledger=ledger)
    user = UserChannel(sim.exchange)
    await ctx.dispatch(book_event(sim))
    await ctx.dispatch(ticker(sim.exchange.last_trade_price(PRODUCT)))
    await ctx.buy(PRODUCT, SIZE, stop_loss=Offset.bps(2), take_profit=Offset.pct(1))
    (rec,) = ctx.open_exits()
    assert "attached_order_id" not in rec.extra  # the first try failed
    await user.sync(ctx)  # the entry's updates: it filled
    attached = str(rec.extra.get("attached_order_id") or "")
    assert attached and rec.status == "armed"
    mark = ledger.mark(attached)
    assert mark is not None and mark.client_order_id == f"attached:{attached}"
    ledger.close()


class PositionAtExit(Recorder):
    """Records the position it reads in each ``on_exit`` (ExitFilled promises it counts)."""

    def __init__(self, ctx: Any, params: Any) -> None:
        super().__init__(ctx, params)
        self.positions: list[Decimal] = []

    def on_exit(self, event: ExitTriggered | ExitFilled) -> None:
        super().on_exit(event)
        if isinstance(event, ExitFilled):
            self.positions.append(self.ctx.position(PRODUCT))


def _final_and_fill(
    order_id: str, coid: str, status: str, cum: Decimal, at: Decimal
) -> tuple[OrderUpdate, FillEvent]:
    """An order's final update at ``cum`` and the fill of ``cum`` (its first fill), in the
    order the fill tracker reports them: the update first."""
    update = OrderUpdate(
        order_id=order_id, client_order_id=coid, product_id=PRODUCT, side="SELL",
        order_type="LIMIT", status=status, cumulative_quantity=cum,
        leaves_quantity=D(0), avg_price=at, total_fees=D(0), snapshot=False,
    )  # fmt: skip
    fill = FillEvent(
        fill_id=f"{order_id}:{cum}", order_id=order_id, client_order_id=coid,
        product_id=PRODUCT, side="SELL", size=cum, price=at, fee=D(0), cumulative_quantity=cum,
    )  # fmt: skip
    return update, fill


async def _part_fill_then_end(ctx: BotContext, coid: str, status: str, at: Decimal) -> None:
    """The working order ``coid`` filled half and ended ``status``, reported as the fill
    tracker does: the final update first, then the fill."""
    order = ctx.orders.get(coid)
    assert order is not None
    for event in _final_and_fill(order.order_id, coid, status, SIZE / 2, at):
        await ctx.dispatch(event)


async def test_an_emulated_exit_cancelled_part_filled_is_re_armed_for_what_is_left(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """An emulated stop triggered; its working order filled half and was cancelled (update
    before fill). The exit is re-armed for the half that is left — not the whole size (the
    next trigger sold more than the position) — and the late fill is counted once, through
    the fill path: ExitFilled after the position includes it."""
    ctx, recorder = context(sim, EmulatingSink(executor), tmp_path, PositionAtExit)
    assert isinstance(recorder, PositionAtExit)
    user = UserChannel(sim.exchange)
    await long_position(sim, ctx, user)
    await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2))
    (rec,) = ctx.open_exits()
    assert not rec.native and rec.stop is not None
    await ctx.dispatch(trade_print(rec.stop - 1))  # triggers: its limit sell is sent
    coid = rec.order_coid
    assert rec.status == "triggered" and coid is not None
    await _part_fill_then_end(ctx, coid, "CANCELLED", rec.stop)
    half = SIZE / 2
    assert rec.status == "armed" and rec.remaining == half == ctx.position(PRODUCT)
    assert [e.size for e in recorder.exits if isinstance(e, ExitFilled)] == [half]
    assert recorder.positions == [half]  # the position counted the fill first
    await ctx.dispatch(trade_print(rec.stop - 1))  # triggers again: sells what is left
    assert rec.status == "triggered" and rec.order_coid not in (None, coid)
    intent = executor.journal.get(str(rec.order_coid))
    assert intent is not None
    body = json.loads(intent.body)
    assert D(body["order_configuration"]["limit_limit_gtc"]["base_size"]) == half


async def test_a_restart_between_the_final_update_and_the_late_fill_keeps_it_the_exits(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The bot dies after the CANCELLED update of a part-filled working order and before
    its fill: the restarted exit still owns that order (its late fill, read back at
    start-up, is the exit's), and once the rest is sold the exit is done, not stuck."""
    ctx, _ = context(sim, EmulatingSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    await long_position(sim, ctx, user)
    await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2))
    (rec,) = ctx.open_exits()
    assert rec.stop is not None
    await ctx.dispatch(trade_print(rec.stop - 1))
    first = rec.order_coid
    assert first is not None
    order = ctx.orders.get(first)
    assert order is not None
    half = SIZE / 2
    update, fill = _final_and_fill(order.order_id, first, "CANCELLED", half, rec.stop)
    await ctx.dispatch(update)  # ... and the process dies before the fill
    ctx2, strategy2 = context(sim, EmulatingSink(executor), tmp_path)
    await ctx2.start()
    (again,) = ctx2.open_exits()
    assert again.stop is not None
    ctx2.adopt(first, product_id=PRODUCT, side="SELL")  # the start-up read-back, as the runtime
    await ctx2.dispatch(update)
    await ctx2.dispatch(fill)
    assert again.filled == half and again.status == "armed"
    await ctx2.dispatch(book_event(sim))
    await ctx2.dispatch(trade_print(again.stop - 1))  # sells the rest
    second = again.order_coid
    assert second is not None and second != first
    order2 = ctx2.orders.get(second)
    assert order2 is not None
    for event in _final_and_fill(order2.order_id, second, "FILLED", half, again.stop):
        await ctx2.dispatch(event)
    assert ctx2.open_exits() == [] and again.status == "done"
    assert [e.size for e in strategy2.exits if isinstance(e, ExitFilled)] == [half, half]


async def test_a_native_stop_expired_part_filled_keeps_its_trigger_and_cooldown(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """A native stop-limit filled half and expired (update before fill): the late fill is
    the exit's, so the strategy still gets ExitTriggered and ExitFilled, and the risk
    gate's post-stop-loss cooldown starts (a guard: counting the late part at the update
    lost both)."""
    gate = RiskGate(RiskLimits(cooldown_after_stop_loss=600), None, wall=lambda: 1_800_000_000.0)
    ctx, strategy = context(sim, ExecutorSink(executor), tmp_path, risk=gate)
    user = UserChannel(sim.exchange)
    await long_position(sim, ctx, user)
    await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2))
    (rec,) = ctx.open_exits()
    assert rec.native and rec.order_coid is not None and rec.stop is not None
    await _part_fill_then_end(ctx, rec.order_coid, "EXPIRED", rec.stop)
    half = SIZE / 2
    assert [type(e).__name__ for e in strategy.exits] == ["ExitTriggered", "ExitFilled"]
    assert ctx.position(PRODUCT) == half and rec.filled == half
    assert PRODUCT in gate.engine.protection.cooldowns


async def test_a_fill_after_its_exit_ended_does_not_reopen_it(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """An attached exit partly filled and then cancelled, reported update first and fill
    second (as the fill tracker and the start-up read-back deliver them): the CANCELLED
    update ends the record; the late fill is reported to the strategy but must not make
    the record live again (a live record names its dead order to every later start)."""
    ctx, strategy = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    await ctx.dispatch(book_event(sim))
    await ctx.dispatch(ticker(sim.exchange.last_trade_price(PRODUCT)))
    await ctx.buy(PRODUCT, SIZE, stop_loss=Offset.bps(2), take_profit=Offset.pct(1))
    await user.sync(ctx)
    (rec,) = ctx.open_exits()
    attached = str(rec.extra["attached_order_id"])
    half = SIZE / 2
    await ctx.dispatch(OrderUpdate(
        order_id=attached, client_order_id="", product_id=PRODUCT, side="SELL",
        order_type="BRACKET", status="CANCELLED", cumulative_quantity=half,
        leaves_quantity=D(0), avg_price=D(100), total_fees=D(0), snapshot=False,
    ))  # fmt: skip
    assert not rec.live
    await ctx.dispatch(FillEvent(
        fill_id=f"{attached}:{half}", order_id=attached, client_order_id="",
        product_id=PRODUCT, side="SELL", size=half, price=D(100), fee=D(0),
        cumulative_quantity=half,
    ))  # fmt: skip
    assert not rec.live and ctx.open_exits() == []
    assert [e.size for e in strategy.exits if isinstance(e, ExitFilled)] == [half]
    restarted, _ = context(sim, ExecutorSink(executor), tmp_path)  # from the saved state
    assert restarted.open_exits() == [] and restarted.exits.attached_aliases() == {}


async def test_a_trailing_stop_refused_at_re_price_falls_back_to_emulation(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The market falls through the new stop while the old one's cancel is in flight: the
    exchange refuses the new stop (already through its price), and the exit is not lost:
    the bot emulates it and sells on the next print."""
    ctx, strategy = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    await ctx.trailing_stop(PRODUCT, SIZE, distance=D("20"))
    (rec,) = ctx.open_exits()
    high = buy_up_to(sim.exchange, last + 10)
    await ctx.dispatch(trade_print(high))  # ratchet to high - 20; the old stop's cancel goes
    assert rec.trailing is not None and rec.trailing.stop == high - 20
    low = sell_down_to(sim.exchange, high - 25)  # through the new stop, above the old one
    assert low > last - 20
    sim.exchange.advance(sim.now() + 5)  # the cancel completes
    await user.sync(ctx)  # -> the new stop is sent, and refused
    assert not rec.native and rec.status == "armed" and PRODUCT in ctx.exits.watch
    assert [o for o in open_at_sim(sim.exchange) if o["order_type"] == "STOP_LIMIT"] == []
    await ctx.dispatch(book_event(sim))
    await ctx.dispatch(trade_print(sim.exchange.last_trade_price(PRODUCT)))
    await user.sync(ctx)
    assert kinds(strategy)[-2:] == [
        ("ExitTriggered", "trailing", "stop_loss"),
        ("ExitFilled", "trailing", "stop_loss"),
    ]
    assert ctx.position(PRODUCT) == 0


async def test_replace_and_cancel_exits(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    ctx, strategy = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    exit_id = await ctx.stop_loss(PRODUCT, SIZE, last - 20)
    (old,) = open_at_sim(sim.exchange)
    # native replace: the old stop is cancelled, the new one placed once that is confirmed
    assert await ctx.replace_exit(exit_id, stop_loss=last - 10) == exit_id
    assert sim.exchange.get_order("default", old["order_id"])["status"] == "CANCEL_QUEUED"
    sim.exchange.advance(sim.now() + 5)
    await user.sync(ctx)
    (new,) = open_at_sim(sim.exchange)
    assert new["order_id"] != old["order_id"]
    assert D(new["order_configuration"]["stop_limit_stop_limit_gtc"]["stop_price"]) == last - 10
    (rec,) = ctx.open_exits()
    assert (
        rec.exit_id == exit_id
        and rec.stop == last - 10
        and rec.order_coid == new["client_order_id"]
    )
    with pytest.raises(ExitRejected) as info:  # checked like a new exit
        await ctx.replace_exit(exit_id, stop_loss=last + 10)
    assert info.value.reason == "EXIT_STOP_WRONG_SIDE"
    # cancel: the order goes, the exit is closed, and it says so only once
    assert await ctx.cancel_exit(exit_id)
    assert not await ctx.cancel_exit(exit_id)
    assert sim.exchange.get_order("default", new["order_id"])["status"] in (
        "CANCEL_QUEUED",
        "CANCELLED",
    )
    sim.exchange.advance(sim.now() + 10)
    await user.sync(ctx)
    assert ctx.open_exits() == [] and open_at_sim(sim.exchange) == [] and strategy.exits == []
    # emulated: nothing at the exchange either way
    ctx.exits.native = frozenset()
    emu = await ctx.bracket(PRODUCT, SIZE, take_profit=last + 50, stop_loss=last - 30)
    await ctx.replace_exit(emu, take_profit=last + 40)
    (rec,) = ctx.open_exits()
    assert (rec.take_profit, rec.stop) == (last + 40, last - 30) and not rec.native
    assert await ctx.cancel_exit(emu) and ctx.open_exits() == [] and PRODUCT not in ctx.exits.watch
    with pytest.raises(ExitRejected) as info:
        await ctx.cancel_exit("nope")
    assert info.value.reason == "EXIT_UNKNOWN"


def sold_by_bot(ex: Any) -> Decimal:
    """Base the bot's user sold at the simulator (every SELL order's fills)."""
    orders = ex.list_orders("default", {})
    return sum((D(o["filled_size"] or 0) for o in orders if o["side"] == "SELL"), D(0))


async def test_a_triggered_exit_sells_no_more_than_the_strategy_still_holds(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """Two stops armed for the whole position, half of it then sold by the strategy: the
    first stop sells the half left, the second (deeper) one, once it triggers, nothing (they
    sold 2.5x the position before: the account's other coins)."""
    ctx, strategy = context(sim, EmulatingSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    await long_position(sim, ctx, user)
    await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2))
    await ctx.stop_loss(PRODUCT, SIZE, Offset.pct(2))
    await ctx.sell_market(PRODUCT, SIZE / 2)  # half closed by the strategy itself
    await user.sync(ctx)
    assert ctx.position(PRODUCT) == SIZE / 2 and sold_by_bot(sim.exchange) == SIZE / 2
    first, second = ctx.open_exits()
    assert first.stop is not None and second.stop is not None
    bid(sim.exchange, first.stop - 5)
    await ctx.dispatch(trade_print(sell_down_to(sim.exchange, first.stop)))
    await user.sync(ctx)
    assert sold_by_bot(sim.exchange) == SIZE  # the half held, once
    assert ctx.position(PRODUCT) == 0 and first.size == SIZE / 2 and first.status == "done"
    assert second.live  # not reached yet
    bid(sim.exchange, second.stop - 5)
    await ctx.dispatch(trade_print(sell_down_to(sim.exchange, second.stop), n=2))
    await user.sync(ctx)
    assert sold_by_bot(sim.exchange) == SIZE and ctx.position(PRODUCT) == 0
    assert second.status == "done" and second.order_coid is None  # closed, nothing sent
    assert ctx.open_exits() == [] and kinds(strategy) == [
        ("ExitTriggered", "stop_loss", "stop_loss"),
        ("ExitFilled", "stop_loss", "stop_loss"),
    ]


async def test_a_deeper_stop_still_sells_when_a_tight_stop_s_order_rests_unfilled(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """A tight stop (its limit at its stop) and a deeper "disaster" stop, the market gapping
    through both on one print: the tight stop's limit rests above the market, and the deeper
    stop still sells (a first version counted the resting order as sure to sell and closed
    the deeper stop unsent: the position held with nothing that would close it)."""
    ctx, _ = context(sim, EmulatingSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    tight_stop = (last * D("0.999")).quantize(D("0.01"))
    await ctx.stop_loss(PRODUCT, SIZE, tight_stop, limit=tight_stop)
    await ctx.stop_loss(PRODUCT, SIZE, Offset.pct(2))
    tight, disaster = ctx.open_exits()
    assert disaster.stop is not None
    bid(sim.exchange, disaster.stop - 50)
    low = sell_down_to(sim.exchange, disaster.stop - 10)  # a gap: no bid left above the stops
    bid(sim.exchange, low - 5)
    await ctx.dispatch(trade_print(low))
    await user.sync(ctx)
    assert ctx.position(PRODUCT) == 0 and disaster.status == "done"
    assert tight.status == "triggered"  # its limit rests above the market


@pytest.mark.parametrize("side_first", [True, False])
async def test_a_side_exit_and_a_counted_exit_each_sell_their_lot(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path, side_first: bool
) -> None:
    """A side= stop for coins held from an earlier run and a stop for this run's position,
    triggered by one print: each sells its lot, whichever was armed first (a first version
    took the side= exit's order off the counted position: the lot bought here lost its
    stop when the side= exit had been armed first)."""
    ctx, _ = context(sim, EmulatingSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    await long_position(sim, ctx, user)
    for side in ("long", None) if side_first else (None, "long"):
        await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2), side=side)
    first, _ = ctx.open_exits()
    assert first.stop is not None
    bid(sim.exchange, first.stop - 5)
    await ctx.dispatch(trade_print(sell_down_to(sim.exchange, first.stop)))
    await user.sync(ctx)
    assert sold_by_bot(sim.exchange) == 2 * SIZE and ctx.open_exits() == []


@pytest.mark.parametrize("restored", [False, True])
async def test_a_resumed_exit_is_sized_once_positions_are_restored(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path, restored: bool
) -> None:
    """A resumed exit of the counted position: in a context whose positions were not
    restored (no ledger, as an embedder may run one) it sells what it was armed for (it
    would see zero); once the ledger's positions are (flat here: as if the position was
    closed while the bot was down) it is closed unsent."""
    ctx, _ = context(sim, EmulatingSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    await long_position(sim, ctx, user)
    exit_id = await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2))
    del ctx
    again, _ = context(sim, EmulatingSink(executor), tmp_path)
    if restored:
        resume_positions(again, None, FillLedger(tmp_path / "fills.sqlite"))  # a flat ledger
    (rec,) = again.open_exits()
    assert rec.exit_id == exit_id and rec.stop is not None
    await again.start()
    await again.dispatch(book_event(sim))
    bid(sim.exchange, rec.stop - 5)
    await again.dispatch(trade_print(sell_down_to(sim.exchange, rec.stop)))
    await user.sync(again)
    assert sold_by_bot(sim.exchange) == (0 if restored else SIZE)
    assert rec.status == "done" and (rec.order_coid is None) == restored


async def test_an_exit_of_a_position_closed_another_way_sends_nothing(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    ctx, strategy = context(sim, EmulatingSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    await long_position(sim, ctx, user)
    await ctx.bracket(PRODUCT, SIZE, take_profit=Offset.pct(1), stop_loss=Offset.bps(2))
    await ctx.sell_market(PRODUCT, SIZE)  # flat, the bracket left armed
    await user.sync(ctx)
    (rec,) = ctx.open_exits()
    assert rec.stop is not None and ctx.position(PRODUCT) == 0
    bid(sim.exchange, rec.stop - 5)
    await ctx.dispatch(trade_print(sell_down_to(sim.exchange, rec.stop)))
    await user.sync(ctx)
    assert sold_by_bot(sim.exchange) == SIZE and ctx.position(PRODUCT) == 0
    assert ctx.open_exits() == [] and strategy.exits == [] and rec.order_coid is None


async def test_an_exit_made_with_side_guards_coins_the_strategy_does_not_count(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """side=: a position held from an earlier run or elsewhere (the strategy counts 0): its
    exit is not sized by the strategy's count, it sells what it was armed for."""
    ctx, strategy = context(sim, EmulatingSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    await ctx.dispatch(book_event(sim))
    await ctx.dispatch(ticker(sim.exchange.last_trade_price(PRODUCT)))
    await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2), side="long")
    (rec,) = ctx.open_exits()
    assert rec.stop is not None and ctx.position(PRODUCT) == 0
    bid(sim.exchange, rec.stop - 5)
    await ctx.dispatch(trade_print(sell_down_to(sim.exchange, rec.stop)))
    await user.sync(ctx)
    assert sold_by_bot(sim.exchange) == SIZE and ctx.open_exits() == []
    assert kinds(strategy)[-1] == ("ExitFilled", "stop_loss", "stop_loss")


async def test_an_exit_of_a_position_below_the_minimum_size_is_closed_unsent(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """What is left is below the product's minimum: the venue would refuse the order and the
    exit would be re-armed and refused again, an ERROR line every 30 s, for ever."""
    ctx, _ = context(sim, EmulatingSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    await long_position(sim, ctx, user)
    minimum = D("0.001")  # Coinbase's BTC-USD minimum is one increment: a product with more
    ctx.product_limits[PRODUCT] = replace(ctx.product_limits[PRODUCT], base_min_size=minimum)
    await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2))
    await ctx.sell_market(PRODUCT, SIZE - minimum / 2)
    await user.sync(ctx)
    assert 0 < ctx.position(PRODUCT) < minimum
    (rec,) = ctx.open_exits()
    assert rec.stop is not None
    bid(sim.exchange, rec.stop - 5)
    await ctx.dispatch(trade_print(sell_down_to(sim.exchange, rec.stop)))
    assert rec.status == "done" and rec.order_coid is None and ctx.open_exits() == []


async def test_a_native_trailing_stop_is_re_priced_in_steps_of_a_tenth_of_its_distance(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """Re-priced at every tick of a trend it cost two requests a tick (a QA run on Prime:
    138 orders for 55 fills in 90 s); the resting stop may lag the ideal one by less than a
    tenth of the distance. The ratchet itself still follows every print."""
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    await ctx.trailing_stop(PRODUCT, SIZE, distance=D("20"))
    (rec,) = ctx.open_exits()
    assert rec.native and rec.trailing is not None
    first = rec.order_coid
    await ctx.dispatch(trade_print(last + 1, n=2))  # the stop moves 1: less than 20 / 10
    assert rec.trailing.stop == last - 19 and rec.order_coid == first
    assert "replace" not in rec.extra and len(open_at_sim(sim.exchange)) == 1
    await ctx.dispatch(trade_print(last + 3, n=3))  # 3 from the placed stop: re-priced
    assert rec.trailing.stop == last - 17 and rec.extra.get("replace")
    sim.exchange.advance(sim.now() + 5)
    await user.sync(ctx)  # the cancel confirmed: the new stop at the latest level
    (at_sim,) = open_at_sim(sim.exchange)
    assert D(at_sim["order_configuration"]["stop_limit_stop_limit_gtc"]["stop_price"]) == last - 17


async def test_the_attached_exit_of_an_entry_cancelled_unfilled_is_not_left_open(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """An entry ended with nothing filled: its attached exit protects nothing. If the
    venue never reports that exit's end (the reference does not say it does), it stayed
    PENDING for the whole run, one of ``max_open_orders``: once the venue had time to
    report it, the product's next print asks, and it ends here as the venue says (its
    fill-ledger mark too)."""
    ledger = FillLedger(tmp_path / "fills.sqlite")
    sink = CountingLookups(executor)
    ctx, entry, alias, rec = await _bracketed_entry_resting(sim, executor, tmp_path, ledger, sink)
    attached = alias.removeprefix("attached:")
    assert {o.client_order_id for o in ctx.open_orders()} == {entry, alias}
    assert attached in {m.order_id for m in ledger.unfinished()}
    assert await ctx.cancel(entry)
    sim.exchange.advance(sim.now() + 5)  # the cancel completes: the venue ends both
    # only the entry's end reaches the bot, as from a venue that does not report the exit's
    await ctx.dispatch(_ended(entry, str(ctx.orders.get(entry).order_id)))  # type: ignore[union-attr]
    assert rec.status == "cancelled"
    await _print_after(ctx, sim, ATTACHED_GRACE - 1)  # the venue still has time: not asked
    assert sink.lookups == 0 and [o.client_order_id for o in ctx.open_orders()] == [alias]
    await _print_after(ctx, sim, 2)
    assert sink.lookups == 1
    assert ctx.open_orders() == []
    assert attached not in {m.order_id for m in ledger.unfinished()}
    await _print_after(ctx, sim, 60)  # asked once
    assert sink.lookups == 1
    ledger.close()


async def test_the_attached_exit_whose_end_the_venue_reports_is_not_asked_about(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The venue reports the attached exit's end after its entry's (the simulator does):
    no request is made for it."""
    sink = CountingLookups(executor)
    ctx, entry, alias, _ = await _bracketed_entry_resting(sim, executor, tmp_path, sink=sink)
    attached = alias.removeprefix("attached:")
    assert await ctx.cancel(entry)
    sim.exchange.advance(sim.now() + 5)
    await ctx.dispatch(_ended(entry, str(ctx.orders.get(entry).order_id)))  # type: ignore[union-attr]
    o = sim.exchange.get_order("default", attached)
    assert o["status"] == "CANCELLED"
    zero = D(0)
    await ctx.dispatch(  # then its attached exit's, as the venue reports it (no client id)
        OrderUpdate(
            attached, "", PRODUCT, o["side"], o["order_type"], "CANCELLED", zero, zero,
            zero, zero, False,
        )
    )  # fmt: skip
    assert ctx.open_orders() == []
    assert PRODUCT not in ctx.exits.watch  # nothing left to ask: prints need not reach it
    await _print_after(ctx, sim, ATTACHED_GRACE + 1)
    assert sink.lookups == 0


class CountingLookups(ExecutorSink):
    """The executor's sink, counting the order lookups made through it."""

    lookups = 0

    async def order(self, order_id: str) -> Any:
        self.lookups += 1
        return await super().order(order_id)


async def _print_after(ctx: BotContext, sim: SimServer, seconds: float) -> None:
    """``seconds`` later on the context's clock, a print of the product."""
    ctx._clock.advance(seconds)  # type: ignore[attr-defined]
    await ctx.dispatch(trade_print(sim.exchange.last_trade_price(PRODUCT)))


async def _bracketed_entry_resting(
    sim: SimServer,
    executor: OrderExecutor,
    tmp_path: Path,
    ledger: FillLedger | None = None,
    sink: ExecutorSink | None = None,
) -> tuple[BotContext, str, str, Any]:
    """An entry resting 3 % under the market with an attached bracket; (ctx, entry, alias,
    its exit record)."""
    ctx, _ = context(sim, sink or ExecutorSink(executor), tmp_path, ledger=ledger)
    await ctx.dispatch(book_event(sim))
    last = sim.exchange.last_trade_price(PRODUCT)
    await ctx.dispatch(ticker(last))
    price = (last * D("0.97")).quantize(D("0.01"))
    entry = await ctx.buy(PRODUCT, SIZE, price, stop_loss=Offset.pct(2), take_profit=Offset.pct(2))
    (rec,) = ctx.open_exits()
    return ctx, entry, f"attached:{rec.extra['attached_order_id']}", rec


def _ended(entry: str, order_id: str) -> OrderUpdate:
    zero = D(0)
    return OrderUpdate(
        order_id, entry, PRODUCT, "BUY", "LIMIT", "CANCELLED", zero, zero, zero, zero, False
    )


async def test_the_attached_exit_the_venue_is_cancelling_is_not_left_open(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The venue is cancelling the exit when the bot asks (CANCEL_QUEUED): taken as it
    is, no second cancel (which the venue refuses as a duplicate)."""
    ctx, entry, alias, _ = await _bracketed_entry_resting(sim, executor, tmp_path)
    attached = alias.removeprefix("attached:")
    assert await ctx.cancel(entry)
    await ctx.dispatch(_ended(entry, str(ctx.orders.get(entry).order_id)))  # type: ignore[union-attr]
    assert await ExecutorSink(executor).cancel(attached)  # the venue's own, with the entry
    assert sim.exchange.get_order("default", attached)["status"] == "CANCEL_QUEUED"
    await _print_after(ctx, sim, ATTACHED_GRACE + 1)
    assert ctx.open_orders() == []
    state = ctx.orders.get(alias)
    assert state is not None and state.status is OrderStatus.CANCEL_QUEUED


async def test_an_attached_exit_still_working_when_its_entry_ended_unfilled_is_cancelled(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The entry's end reached the bot while the venue still had its attached exit working:
    the exit protects nothing (its entry bought nothing), so the bot cancels it there."""
    ctx, entry, alias, _ = await _bracketed_entry_resting(sim, executor, tmp_path)
    attached = alias.removeprefix("attached:")
    assert await ctx.cancel(entry)  # the venue queues it; the bot hears of its end first
    await ctx.dispatch(_ended(entry, str(ctx.orders.get(entry).order_id)))  # type: ignore[union-attr]
    assert sim.exchange.get_order("default", attached)["status"] == "PENDING"
    await _print_after(ctx, sim, ATTACHED_GRACE + 1)
    assert sim.exchange.get_order("default", attached)["status"] == "CANCEL_QUEUED"
    state = ctx.orders.get(alias)
    assert state is not None and state.status is OrderStatus.CANCEL_QUEUED


async def test_an_attached_exit_ended_between_the_lookup_and_its_cancel_is_asked_again(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The lookup saw the exit working, the venue ended it before the bot's cancel came
    (refused: nothing to cancel): the bot asks once more and ends it as the venue says."""

    class EndsAfterTheLookup(CountingLookups):
        async def order(self, order_id: str) -> Any:
            found = await super().order(order_id)
            if self.lookups == 1:  # the venue finishes its cancels right after this answer
                sim.exchange.advance(sim.now() + 5)
            return found

    sink = EndsAfterTheLookup(executor)
    ctx, entry, alias, _ = await _bracketed_entry_resting(sim, executor, tmp_path, sink=sink)
    attached = alias.removeprefix("attached:")
    assert await ctx.cancel(entry)  # queued at the venue: the exit still PENDING there
    await ctx.dispatch(_ended(entry, str(ctx.orders.get(entry).order_id)))  # type: ignore[union-attr]
    await _print_after(ctx, sim, ATTACHED_GRACE + 1)
    assert sink.lookups == 2
    assert sim.exchange.get_order("default", attached)["status"] == "CANCELLED"
    assert ctx.open_orders() == []


async def test_an_attached_exit_whose_lookup_fails_when_its_entry_ended_is_kept(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The lookup fails: nothing is guessed; the exit stays listed (a restart asks about
    it by its mark) and nothing is cancelled."""
    ctx, entry, alias, rec = await _bracketed_entry_resting(sim, executor, tmp_path)
    attached = alias.removeprefix("attached:")
    assert await ctx.cancel(entry)  # queued at the venue: the exit still PENDING there
    broken = sim.faults.fail_next(500, 50, path=r"/orders/historical/[^/]+$", method="GET")
    await ctx.dispatch(_ended(entry, str(ctx.orders.get(entry).order_id)))  # type: ignore[union-attr]
    await _print_after(ctx, sim, ATTACHED_GRACE + 1)
    assert broken.fired >= 1 and rec.status == "cancelled"
    assert [o.client_order_id for o in ctx.open_orders()] == [alias]
    assert sim.exchange.get_order("default", attached)["status"] == "PENDING"


async def test_a_post_only_order_that_would_cross_is_logged_at_info_not_warning(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Post-only refusals are what post-only is for (a market maker meets them every few
    quotes): at WARNING they filled a first run with lines that looked like faults (QA)."""
    from botkit.errors import OrderRejected

    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    await ctx.dispatch(book_event(sim))
    _, ask = sim.exchange.best_bid_ask(PRODUCT)
    assert ask is not None
    caplog.set_level("INFO", logger="botkit")
    with pytest.raises(OrderRejected, match="POST_ONLY"):
        await ctx.buy_limit(PRODUCT, SIZE, ask[0] + 1, post_only=True)
    (line,) = [r for r in caplog.records if "not placed" in r.getMessage()]
    assert line.levelname == "INFO"
    caplog.clear()
    with pytest.raises(OrderRejected):  # any other refusal: still a WARNING
        await ctx.buy_limit(PRODUCT, D("1000"), ask[0] - 1)
    (line,) = [r for r in caplog.records if "not placed" in r.getMessage()]
    assert line.levelname == "WARNING"


async def test_without_prints_the_next_order_asks_about_a_due_attached_exit(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """No print of the product (no ticker or trades subscribed, a quiet market): the next
    order asks before its risk check, so the unreported exit does not hold a slot of
    ``max_open_orders`` (a review)."""
    sink = CountingLookups(executor)
    ctx, entry, alias, _ = await _bracketed_entry_resting(sim, executor, tmp_path, sink=sink)
    assert await ctx.cancel(entry)
    sim.exchange.advance(sim.now() + 5)
    await ctx.dispatch(_ended(entry, str(ctx.orders.get(entry).order_id)))  # type: ignore[union-attr]
    ctx._clock.advance(ATTACHED_GRACE + 1)  # type: ignore[attr-defined]
    bid, _ = sim.exchange.best_bid_ask(PRODUCT)
    assert bid is not None
    placed = await ctx.buy_limit(PRODUCT, SIZE, (bid[0] * D("0.9")).quantize(D("0.01")))
    assert sink.lookups == 1
    assert [o.client_order_id for o in ctx.open_orders()] == [placed]


async def test_a_plain_order_refused_for_a_post_only_mode_is_still_a_warning(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The venue's post-only mode refuses a plain limit order with the post-only reason
    code: that is not a post-only order meeting the book, so not INFO (a review)."""
    from botkit.errors import OrderRejected

    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    await ctx.dispatch(book_event(sim))
    sim.exchange.set_trading_mode(PRODUCT, "post_only")
    bid, _ = sim.exchange.best_bid_ask(PRODUCT)
    assert bid is not None
    caplog.set_level("INFO", logger="botkit")
    with pytest.raises(OrderRejected, match="POST_ONLY"):
        await ctx.buy_limit(PRODUCT, SIZE, bid[0] - 1)
    (line,) = [r for r in caplog.records if "not placed" in r.getMessage()]
    assert line.levelname == "WARNING"


async def test_an_order_whose_hook_was_cancelled_mid_placement_is_settled_in_the_run(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The hook was cancelled (its timeout during a venue hang, a stop) while the executor
    went on placing the order: the context never asked about it again, so it stayed
    PENDING and counted open for the whole run (a headless QA pass)."""
    import asyncio

    started = asyncio.Event()

    class Placing(ExecutorSink):
        async def place(self, intent: OrderIntent) -> str:
            started.set()  # the executor takes it on before this caller waits
            return await super().place(intent)

    await executor.start()  # (as the runtime's: started before any order)
    ctx, _ = context(sim, Placing(executor), tmp_path)
    await ctx.dispatch(book_event(sim))
    bid, _ = sim.exchange.best_bid_ask(PRODUCT)
    assert bid is not None
    slow = sim.faults.delay_next(0.5, path=r"/orders$", method="POST")
    hook = asyncio.create_task(ctx.buy_limit(PRODUCT, SIZE, bid[0] - 1))
    await started.wait()
    assert executor._inflight  # the placement is under way in the executor
    hook.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hook
    (coid,) = ctx._unknown
    assert await ctx.settle_unknown() == 1  # joins the placement still running
    assert slow.fired == 1 and ctx._unknown == {}
    state = ctx.orders.get(coid)
    assert state is not None and state.order_id
    assert sim.exchange.get_order("default", state.order_id)["status"] == "OPEN"


async def test_a_halted_strategys_unknown_order_is_not_sent_again(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """After a halt, settling an order whose create ended unknown re-sent it (a headless
    QA pass: three POSTs of a halted market maker's quotes). Halted: looked up only; not
    found, it ends NOT_RESENT, and nothing is posted."""
    from botkit.errors import OrderOutcomeUnknown

    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    await ctx.dispatch(book_event(sim))
    bid, _ = sim.exchange.best_bid_ask(PRODUCT)
    assert bid is not None
    sim.faults.fail_next(500, 20, path=r"/orders$", method="POST")  # unknown: maybe processed
    with pytest.raises(OrderOutcomeUnknown):
        await ctx.buy_limit(PRODUCT, SIZE, bid[0] - 1)
    (coid,) = ctx._unknown
    sim.faults.clear()
    await ctx.guard.halt("test")
    posts = sim.faults.fail_next(500, 5, path=r"/orders$", method="POST")  # counts any POST
    assert await ctx.settle_unknown() == 1
    assert posts.fired == 0  # nothing sent again
    state = ctx.orders.get(coid)
    assert state is not None and state.status == "REJECTED"
    assert open_at_sim(sim.exchange) == []


async def test_a_halted_strategys_unknown_order_is_not_sent_again_when_the_lookup_fails(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The lookup failing (the outage that made the outcome unknown), Advanced Trade's rule
    re-sent the order with its id: not for a halted strategy; it stays unknown (a review)."""
    from botkit.errors import OrderOutcomeUnknown

    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    await ctx.dispatch(book_event(sim))
    bid, _ = sim.exchange.best_bid_ask(PRODUCT)
    assert bid is not None
    sim.faults.fail_next(500, 20, path=r"/orders$", method="POST")
    with pytest.raises(OrderOutcomeUnknown):
        await ctx.buy_limit(PRODUCT, SIZE, bid[0] - 1)
    (coid,) = ctx._unknown
    sim.faults.clear()
    await ctx.guard.halt("test")
    sim.faults.fail_next(500, 50, path=r"/orders/historical", method="GET")
    posts = sim.faults.delay_next(0.0, 5, path=r"/orders$", method="POST")  # counts POSTs
    assert await ctx.settle_unknown() == 0  # still unknown: asked again later
    assert posts.fired == 0 and coid in ctx._unknown
    assert open_at_sim(sim.exchange) == []
