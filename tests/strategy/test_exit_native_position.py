"""A native exit never sells more than the strategy holds, end to end (the simulator).

A native exit rests at the exchange at its armed size. When the strategy's position shrinks
another way (its own ``sell_market``, another exit's fill), the exit is checked at that fill
and on every print, and acted on once it has been so for ``SETTLE_SECONDS`` (a fill may be
on its way): flat (or the other way) → cancelled; smaller → re-sized (cancel, then the new order);
an exit attached to an entry cannot be placed again → a WARNING only. Found by a QA run:
the bracket filled after the strategy had closed by hand and the strategy ended short.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from botkit.market.events import FillEvent, OrderUpdate
from botkit.orders.executor import OrderExecutor
from botkit.orders.ledger import FillLedger
from botkit.risk.engine import RiskLimits
from botkit.risk.gate import RiskGate
from botkit.runtime.resume import resume_positions
from botkit.sim.server import SimServer
from botkit.strategy.context import BotContext
from botkit.strategy.exit_sizing import SETTLE_SECONDS
from botkit.strategy.exits import ExitFilled, Offset
from botkit.strategy.ports import ExecutorSink
from botkit.strategy.state import JsonState
from tests.strategy.conftest import book_event, order_update
from tests.strategy.exit_helpers import (
    PRODUCT,
    UserChannel,
    bid,
    buy_up_to,
    frozen_sim,
    open_at_sim,
    sell_down_to,
    ticker,
    trade_print,
)
from tests.strategy.test_exit_sim import SIZE, context, long_position, sold_by_bot

D = Decimal
HALF = SIZE / 2
WALL = 1_800_000_000.0


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with frozen_sim(cancel_latency_steps=0) as server:  # a cancel takes effect at once
        server.exchange.add_user("b")
        yield server


def warnings_of(caplog: pytest.LogCaptureFixture, exit_id: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and f"native exit {exit_id}" in r.getMessage()
    ]


async def settled_print(ctx: BotContext, price: Decimal, n: int = 1) -> None:
    """SETTLE_SECONDS on the context's clock (the test's ManualClock), then a print."""
    ctx._clock.advance(SETTLE_SECONDS)  # type: ignore[attr-defined]
    await ctx.dispatch(trade_print(price, n=n))


def resting(sim: SimServer) -> list[tuple[str, Decimal]]:
    """The bot's open orders at the simulator: (type, size)."""
    out = []
    for o in open_at_sim(sim.exchange):
        (conf,) = o["order_configuration"].values()
        out.append((o["order_type"], D(conf["base_size"])))
    return out


@pytest.mark.parametrize("kind", ["bracket", "stop_loss"])
async def test_a_native_exit_of_a_position_closed_by_hand_is_cancelled(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path, kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """The QA run's case: the exit armed without side=, the position sold by the strategy
    without cancel_exit; the exchange's order later sold coins the strategy no longer held
    and it ended short, with no word."""
    ctx, strategy = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    if kind == "bracket":
        exit_id = await ctx.bracket(
            PRODUCT, SIZE, take_profit=Offset.pct(1), stop_loss=Offset.bps(2)
        )
    else:
        exit_id = await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2))
    (rec,) = ctx.open_exits()
    assert rec.native and len(open_at_sim(sim.exchange)) == 1
    await ctx.sell_market(PRODUCT, SIZE)  # closed by hand, the exit left armed
    await user.sync(ctx)
    assert ctx.position(PRODUCT) == 0
    await ctx.dispatch(trade_print(last))  # found at the fill: left while a fill may come
    assert len(open_at_sim(sim.exchange)) == 1 and rec.live
    await settled_print(ctx, last, n=4)
    assert open_at_sim(sim.exchange) == [] and ctx.open_exits() == []
    assert rec.status == "cancelled"
    (line,) = warnings_of(caplog, exit_id)
    assert f"would still SELL {SIZE}, more than the strategy's position (0" in line
    assert line.endswith("cancelled")
    await user.sync(ctx)  # its CANCELLED update: nothing more
    assert rec.stop is not None
    bid(sim.exchange, rec.stop - 5)
    await ctx.dispatch(trade_print(sell_down_to(sim.exchange, rec.stop), n=2))
    await user.sync(ctx)
    assert sold_by_bot(sim.exchange) == SIZE and ctx.position(PRODUCT) == 0
    assert strategy.exits == []


@pytest.mark.parametrize("tripped", [False, True])
async def test_a_native_stop_of_a_position_halved_by_hand_is_re_sized(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path, tripped: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Half sold by hand: the stop is re-sized to the half held (cancel, then the new
    order once the cancel is confirmed), and still protects it: under a tripped kill switch
    too (its cancel-all leaves exits, and an exit order that reduces the position goes)."""
    gate = RiskGate(RiskLimits(), None, wall=lambda: WALL)
    ctx, strategy = context(sim, ExecutorSink(executor), tmp_path, risk=gate)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    exit_id = await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2))
    (rec,) = ctx.open_exits()
    first = rec.order_coid
    await ctx.sell_market(PRODUCT, HALF)
    await user.sync(ctx)
    if tripped:  # the new order goes under a tripped kill switch (it reduces the position)
        await gate.trip("test")
        assert resting(sim) == [("STOP_LIMIT", SIZE)]  # the kill switch left the exit
    await settled_print(ctx, last)
    assert open_at_sim(sim.exchange) == []  # cancelled: the new one follows its update
    (line,) = warnings_of(caplog, exit_id)
    assert f"position ({HALF})" in line and f"re-sized to {HALF}" in line
    await user.sync(ctx)  # CANCELLED: the stop for the half held is placed
    assert resting(sim) == [("STOP_LIMIT", HALF)] and rec.order_coid != first
    assert rec.live and rec.status == "armed" and rec.remaining == HALF
    await ctx.dispatch(trade_print(last, n=2))  # nothing more to do
    assert resting(sim) == [("STOP_LIMIT", HALF)] and len(warnings_of(caplog, exit_id)) == 1
    assert rec.stop is not None
    bid(sim.exchange, rec.stop - 5)
    await ctx.dispatch(trade_print(sell_down_to(sim.exchange, rec.stop), n=3))
    await user.sync(ctx)
    assert sold_by_bot(sim.exchange) == SIZE and ctx.position(PRODUCT) == 0
    done = strategy.exits[-1]
    assert rec.status == "done" and isinstance(done, ExitFilled) and done.remaining == 0


async def test_a_native_stop_part_filled_then_closed_by_hand_is_cancelled(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The stop's own fills lower the position and what it still sells alike: nothing is
    touched. The rest then sold by hand: the rest of its order is cancelled."""
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    stop = last - 10
    await ctx.stop_loss(PRODUCT, SIZE, stop, limit=stop)  # its limit rests at the stop
    (rec,) = ctx.open_exits()
    coid = rec.order_coid
    sell_down_to(sim.exchange, stop)  # triggered: its limit rests, no bid left at it
    bid(sim.exchange, stop, HALF)  # half of it sells
    await user.sync(ctx)
    assert ctx.position(PRODUCT) == HALF and rec.filled == HALF and rec.status == "triggered"
    await settled_print(ctx, stop)  # its own fill: nothing is cancelled or re-sized
    assert rec.order_coid == coid and resting(sim) == [("STOP_LIMIT", SIZE)]
    await ctx.sell_market(PRODUCT, HALF)  # the rest sold by hand
    await user.sync(ctx)
    assert ctx.position(PRODUCT) == 0
    await settled_print(ctx, stop, n=2)
    assert open_at_sim(sim.exchange) == [] and rec.status == "cancelled"
    buy_up_to(sim.exchange, stop, extra=D("1"))  # a buyer at the stop: the rest would sell
    await user.sync(ctx)
    assert sold_by_bot(sim.exchange) == SIZE and ctx.position(PRODUCT) == 0


async def test_a_native_stop_left_by_another_exit_s_fill_is_cancelled(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """Two stops each armed for the whole position: the tight one sells it; the deeper
    one, resting for a position that no longer exists, is cancelled."""
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    await long_position(sim, ctx, user)
    await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2))
    await ctx.stop_loss(PRODUCT, SIZE, Offset.pct(2))
    tight, deep = ctx.open_exits()
    assert tight.stop is not None and deep.stop is not None
    bid(sim.exchange, tight.stop - 5)
    low = sell_down_to(sim.exchange, tight.stop)
    await user.sync(ctx)  # the tight stop filled
    assert tight.status == "done" and ctx.position(PRODUCT) == 0 and deep.live
    await settled_print(ctx, low)
    assert deep.status == "cancelled" and open_at_sim(sim.exchange) == []
    bid(sim.exchange, deep.stop - 5)
    sell_down_to(sim.exchange, deep.stop)
    await user.sync(ctx)
    assert sold_by_bot(sim.exchange) == SIZE and ctx.position(PRODUCT) == 0


async def test_an_entrys_attached_exit_is_cancelled_when_flat_and_only_warned_when_smaller(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The exit Coinbase attached to a filled entry (kind "entry"): cancelling it cancels
    both legs (the entry is done); it cannot be placed again, so a smaller position only
    gets a WARNING (once per position, not per print), until the position is gone."""
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    await ctx.dispatch(book_event(sim))
    last = sim.exchange.last_trade_price(PRODUCT)
    await ctx.dispatch(ticker(last))
    await ctx.buy(PRODUCT, SIZE, stop_loss=Offset.bps(2), take_profit=Offset.pct(1))
    await user.sync(ctx)
    (rec,) = ctx.open_exits()
    assert rec.kind == "entry" and rec.native and rec.status == "armed"
    assert resting(sim) == [("BRACKET", SIZE)]
    await ctx.sell_market(PRODUCT, HALF)
    await user.sync(ctx)
    await settled_print(ctx, last)
    await settled_print(ctx, last, n=2)
    (line,) = warnings_of(caplog, rec.exit_id)
    assert "not re-sized" in line and f"sell {HALF} more than held" in line
    assert rec.live and resting(sim) == [("BRACKET", SIZE)]
    await ctx.sell_market(PRODUCT, HALF)  # now flat
    await user.sync(ctx)
    await settled_print(ctx, last, n=3)
    assert rec.status == "cancelled" and open_at_sim(sim.exchange) == []
    assert warnings_of(caplog, rec.exit_id)[-1].endswith("cancelled")
    assert rec.stop is not None
    bid(sim.exchange, rec.stop - 5)
    sell_down_to(sim.exchange, rec.stop)
    await user.sync(ctx)
    assert sold_by_bot(sim.exchange) == SIZE and ctx.position(PRODUCT) == 0


@pytest.mark.parametrize("restored", [False, True])
async def test_a_resumed_native_exit_is_judged_once_positions_are_restored(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path, restored: bool
) -> None:
    """A native stop resumed from the exit state: in a context whose positions were not
    restored it stays (the position would read zero); once the ledger's are (flat: as if
    the position was closed while the bot was down) it is cancelled on the first print."""
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2))
    del ctx
    again, _ = context(sim, ExecutorSink(executor), tmp_path)
    if restored:
        resume_positions(again, None, FillLedger(tmp_path / "fills.sqlite"))  # a flat ledger
    (rec,) = again.open_exits()
    assert rec.order_coid is not None and rec.stop is not None
    again.adopt(rec.order_coid, product_id=PRODUCT, side="SELL")  # the reconciliation's
    await UserChannel(sim.exchange).sync(again)  # its update (the buy is not this run's)
    await again.start()
    await again.dispatch(book_event(sim))
    await again.dispatch(trade_print(last))
    await settled_print(again, last, n=2)
    assert rec.live != restored and len(open_at_sim(sim.exchange)) == (0 if restored else 1)
    bid(sim.exchange, rec.stop - 5)
    sell_down_to(sim.exchange, rec.stop)
    assert sold_by_bot(sim.exchange) == (0 if restored else SIZE)


async def test_a_native_stop_whose_fill_the_exit_state_missed_is_not_judged(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """A kill between the fill ledger's commit of the stop's part fill and the exit state's
    save: restarted, the position is lower by that fill and the exit not yet. That is not
    a position closed another way: the stop is left as it rests (re-sized, it would have
    been short of the half still held once its end brings the missed fill in)."""
    ledger = FillLedger(tmp_path / "fills.sqlite")
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path, ledger=ledger)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    stop = last - 10
    await ctx.stop_loss(PRODUCT, SIZE, stop, limit=stop)
    state = JsonState(tmp_path / "exits.json")
    before = state.get("exits")  # what the exit state held before the fill (the kill)
    sell_down_to(sim.exchange, stop)
    bid(sim.exchange, stop, HALF)  # half of the stop sells
    await user.sync(ctx)
    (rec,) = ctx.open_exits()
    assert rec.filled == HALF and ctx.position(PRODUCT) == HALF
    coid = rec.order_coid
    assert coid is not None
    order_id = ctx.orders.get(coid).order_id  # type: ignore[union-attr]
    del ctx
    state.set("exits", before)
    again, _ = context(sim, ExecutorSink(executor), tmp_path, ledger=ledger)
    resume_positions(again, None, ledger)
    (resumed,) = again.open_exits()
    assert resumed.filled == 0 and again.position(PRODUCT) == HALF
    again.adopt(coid, product_id=PRODUCT, side="SELL")  # the reconciliation's, and its update
    await again.dispatch(await order_update(executor, order_id))
    await again.start()
    await again.dispatch(trade_print(stop, n=2))
    await settled_print(again, stop, n=3)
    assert resumed.live and resumed.order_coid == coid
    assert resting(sim) == [("STOP_LIMIT", SIZE)]  # the rest of it (HALF) still rests


def _update_and_fill(sim: SimServer, coid: str) -> tuple[OrderUpdate, FillEvent]:
    """The venue's FILLED update of ``coid`` and its fill, as two events (a read-back whose
    REST fills lag delivers the first alone)."""
    (o,) = [o for o in sim.exchange.list_orders("default", {}) if o["client_order_id"] == coid]
    filled, value = D(o["filled_size"]), D(o["filled_value"])
    update = OrderUpdate(
        order_id=o["order_id"], client_order_id=coid, product_id=PRODUCT, side=o["side"],
        order_type=o["order_type"], status=o["status"], cumulative_quantity=filled,
        leaves_quantity=D(0), avg_price=D(o["average_filled_price"]),
        total_fees=D(o["total_fees"]), snapshot=False,
    )  # fmt: skip
    fill = FillEvent(
        fill_id=f"{o['order_id']}:{filled}", order_id=o["order_id"], client_order_id=coid,
        product_id=PRODUCT, side=o["side"], size=filled, price=value / filled,
        fee=D(o["total_fees"]), cumulative_quantity=filled,
    )  # fmt: skip
    return update, fill


async def test_an_entrys_stop_survives_a_print_between_the_update_and_the_fill(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """The entry's FILLED update arms its stop; the fill comes later (REST listing no fill
    yet). A print in between saw a flat position and cancelled the stop for good: the fill
    then opened a position with nothing resting (a review). Now a fill may come first."""
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    await ctx.dispatch(book_event(sim))
    last = sim.exchange.last_trade_price(PRODUCT)
    await ctx.dispatch(ticker(last))
    coid = await ctx.buy(PRODUCT, SIZE, stop_loss=Offset.bps(20))
    update, fill = _update_and_fill(sim, coid)
    await ctx.dispatch(update)
    assert len(open_at_sim(sim.exchange)) == 1  # the entry's stop rests
    await ctx.dispatch(trade_print(last))  # a print before the fill
    await ctx.dispatch(fill)
    await settled_print(ctx, last, n=2)  # and long after
    assert ctx.position(PRODUCT) == SIZE and len(ctx.open_exits()) == 1
    assert resting(sim) == [("STOP_LIMIT", SIZE)]


@pytest.mark.parametrize("sell_first", [False, True])
async def test_one_frame_s_sell_and_buy_leave_the_stop_whichever_comes_first(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path, sell_first: bool
) -> None:
    """A SELL and a BUY of the strategy filled in one frame: applied SELL first, the
    position read flat for a moment and the stop was cancelled for good (a review)."""
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(20))
    if sell_first:
        await ctx.sell_market(PRODUCT, SIZE)
        await ctx.buy_market(PRODUCT, base_size=SIZE)
    else:
        await ctx.buy_market(PRODUCT, base_size=SIZE)
        await ctx.sell_market(PRODUCT, SIZE)
    await user.sync(ctx)  # both orders' updates and fills
    await settled_print(ctx, last)
    assert ctx.position(PRODUCT) == SIZE and len(ctx.open_exits()) == 1
    assert resting(sim) == [("STOP_LIMIT", SIZE)]


async def test_a_re_size_below_the_minimum_order_value_cancels_instead(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """Re-sized below the product's minimum order value, the new order was refused locally
    and the exit emulated for ever, every trigger refused again (a review): what is left
    is dust, the exit is cancelled."""
    ctx, _ = context(sim, ExecutorSink(executor), tmp_path)
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    limits = ctx.product_limits[PRODUCT]
    value = (SIZE / 4) * last  # a quarter of the position is worth less than the minimum
    ctx.product_limits[PRODUCT] = replace(limits, quote_min_size=value * 2)
    await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(20))
    (rec,) = ctx.open_exits()
    await ctx.sell_market(PRODUCT, SIZE - SIZE / 4)
    await user.sync(ctx)
    await settled_print(ctx, last)
    assert rec.status == "cancelled" and open_at_sim(sim.exchange) == []
