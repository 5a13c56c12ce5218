"""Finished exits leave memory once nothing can reach them (botkit/strategy/exit_retention.py).

A bot runs for weeks; a strategy arming a bracket on every entry arms thousands of exits a
day. Every exit ever armed used to stay in ``ExitManager.records`` and ``by_coid``, and
every print looked at all of them. Here thousands of exits are armed and finished through
the simulator and both stay bounded; and an exit that ended before its order's last fill
(``cancel_exit`` accepted before the order filled; an attached exit's CANCELLED update
before the fill it includes) still gets that fill, however little is kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from botkit.market.events import FillEvent, OrderUpdate
from botkit.orders.executor import OrderExecutor
from botkit.sim.ratelimit import RateLimitConfig
from botkit.sim.server import SimServer
from botkit.strategy.context import BotContext
from botkit.strategy.exit_retention import KEEP_FINISHED
from botkit.strategy.exits import ExitFilled, ExitRejected, Offset
from botkit.strategy.ports import ExecutorSink
from tests.strategy.conftest import book_event
from tests.strategy.exit_helpers import (
    PRODUCT,
    EmulatingSink,
    UserChannel,
    bid,
    buy_up_to,
    frozen_sim,
    open_at_sim,
    sell_down_to,
    ticker,
    trade_print,
)
from tests.strategy.test_exit_sim import SIZE, _final_and_fill, context, long_position

D = Decimal
TINY = D("0.0001")  # 6.5 USD: hundreds of round trips leave the simulator's book deep enough
WAITING_BOUND = 64  # exit_retention._RECHECK: finished exits waiting for their orders


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    # a cancel takes effect at once; no request limit (thousands of orders in seconds)
    async with frozen_sim(RateLimitConfig(enabled=False), cancel_latency_steps=0) as server:
        server.exchange.add_user("b")
        yield server


async def report(ctx: BotContext, sim: SimServer, coid: str) -> None:
    """What the user channel says of the order ``coid``: its update, then its fill (the
    fill tracker's order). One order only: a sync of every order would cost the test
    quadratic time over thousands of them."""
    state = ctx.orders.get(coid)
    assert state is not None and state.order_id
    o = sim.exchange.get_order("default", state.order_id)
    filled, value = D(o["filled_size"] or 0), D(o["filled_value"] or 0)
    fees = D(o["total_fees"] or 0)
    await ctx.dispatch(OrderUpdate(
        order_id=o["order_id"], client_order_id=coid, product_id=PRODUCT, side=o["side"],
        order_type=o["order_type"], status=o["status"], cumulative_quantity=filled,
        leaves_quantity=D(0), avg_price=D(o["average_filled_price"] or 0), total_fees=fees,
        snapshot=False,
    ))  # fmt: skip
    if filled > 0:
        await ctx.dispatch(FillEvent(
            fill_id=f"{o['order_id']}:{filled}", order_id=o["order_id"], client_order_id=coid,
            product_id=PRODUCT, side=o["side"], size=filled, price=value / filled, fee=fees,
            cumulative_quantity=filled,
        ))  # fmt: skip


async def test_thousands_of_finished_exits_leave_memory_and_prints_see_the_live_ones(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """700 round trips, 2100 exits: each entry (``ctx.buy`` with a stop and a take-profit)
    fills and arms an emulated bracket; a second stop is armed beside it and cancelled,
    or left to close unsent once the bracket sold the position; the bracket's stop
    triggers on a print and its order fills at the simulator. Every exit is reported and
    counted, and what the manager holds stays bounded by the live exits and the history
    kept — it held all 2100, and every print looked at them."""
    ctx, strategy = context(sim, EmulatingSink(executor), tmp_path)
    m = ctx.exits
    assert m.keep_finished == KEEP_FINISHED
    m.keep_finished = 200  # (the default, 1000, would need as many more round trips)
    bound = m.keep_finished + WAITING_BOUND
    await ctx.dispatch(book_event(sim))
    last = sim.exchange.last_trade_price(PRODUCT)
    await ctx.dispatch(ticker(last))
    first = ""
    rounds, armed = 700, 0
    for i in range(rounds):
        entry = await ctx.buy(PRODUCT, TINY, stop_loss=last - 50, take_profit=last + 500)
        await report(ctx, sim, entry)  # filled: its bracket is armed (emulated)
        (bracket,) = ctx.open_exits()
        second = await ctx.stop_loss(PRODUCT, TINY, last - 100)
        first = first or bracket.exit_id
        armed += 3
        if i % 2:
            assert await ctx.cancel_exit(second)
        await ctx.dispatch(trade_print(last - 50, n=2 * i))  # the bracket's stop triggers
        assert bracket.status == "triggered" and bracket.order_coid is not None
        await report(ctx, sim, bracket.order_coid)  # ... and its order fills
        assert bracket.status == "done" and ctx.position(PRODUCT) == 0
        await ctx.dispatch(trade_print(last - 100, n=2 * i + 1))  # the second: nothing left
        assert ctx.open_exits() == [] and PRODUCT not in m.watch
        # an entry routes its order, the bracket its own, the second stop none
        assert len(m.records) <= bound and len(m.by_coid) <= bound
    assert armed > 2 * bound and 2 * rounds > 2 * bound  # exits armed, orders routed: ever
    sold = [e for e in strategy.exits if isinstance(e, ExitFilled)]
    assert len(sold) == rounds and sum(e.size for e in sold) == rounds * TINY
    # the latest finished exits are kept: cancelling one says it was done; the oldest left
    # memory, but its id is remembered: a late cancel_exit (e.g. in on_stop) is still a
    # plain False, not an error raised in a hook; a replace says it cannot be
    assert bracket.exit_id in m.records and await ctx.cancel_exit(bracket.exit_id) is False
    assert first not in m.records and await ctx.cancel_exit(first) is False
    with pytest.raises(ExitRejected) as err:
        await ctx.replace_exit(first, stop_loss=last - 10)
    assert err.value.reason == "EXIT_NOT_REPLACEABLE"
    with pytest.raises(ExitRejected) as err:
        await ctx.cancel_exit("no-such-exit")
    assert err.value.reason == "EXIT_UNKNOWN"


async def test_an_exit_cancelled_before_its_order_filled_still_gets_the_fill(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """``cancel_exit`` of a native stop ends the exit once the cancel is accepted; the
    order filled half before the cancel took, and its update and fill come after. Nothing
    kept for inspection: the exit must still be held until its order is over (released
    at the cancel, the fill was lost to it: no ExitFilled, its stop-loss cooldown gone)."""
    ctx, strategy = context(sim, ExecutorSink(executor), tmp_path)
    m = ctx.exits
    m.keep_finished = 0
    user = UserChannel(sim.exchange)
    await long_position(sim, ctx, user)
    exit_id = await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2))
    rec = m.records[exit_id]
    coid = rec.order_coid
    assert rec.native and coid is not None and rec.stop is not None
    assert await ctx.cancel_exit(exit_id) and not rec.live
    assert m.records.get(exit_id) is rec and m.by_coid.get(coid) == exit_id  # its order works
    order = ctx.orders.get(coid)
    assert order is not None
    half = SIZE / 2
    for event in _final_and_fill(order.order_id, coid, "CANCELLED", half, rec.stop):
        await ctx.dispatch(event)
    assert [(e.size, e.remaining) for e in strategy.exits if isinstance(e, ExitFilled)] == [
        (half, half)
    ]
    assert rec.filled == half and not rec.live and ctx.position(PRODUCT) == half


async def test_an_attached_exit_ended_before_its_fill_still_gets_it(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """An entry's attached exit partly filled and was cancelled, reported update first
    and fill second: the CANCELLED update ends the exit. Nothing kept for inspection, and
    an attached order has no per-order count: the exit's own fills stand for it, so the
    exit waits for the fill its order reported (it was released at the update before)."""
    ctx, strategy = context(sim, ExecutorSink(executor), tmp_path)
    ctx.exits.keep_finished = 0
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
    assert not rec.live and rec.exit_id in ctx.exits.records
    await ctx.dispatch(FillEvent(
        fill_id=f"{attached}:{half}", order_id=attached, client_order_id="",
        product_id=PRODUCT, side="SELL", size=half, price=D(100), fee=D(0),
        cumulative_quantity=half,
    ))  # fmt: skip
    assert [e.size for e in strategy.exits if isinstance(e, ExitFilled)] == [half]
    assert rec.filled == half and not rec.live


async def test_a_trailing_stop_re_priced_many_times_routes_only_its_working_order(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path
) -> None:
    """A native trailing stop re-priced again and again (cancel, then the new order) routes its
    working order only: an earlier order that owes nothing leaves ``by_coid`` (it kept
    one entry per re-price, for as long as the exit lived); once it fills and ends, with
    nothing kept, nothing of it stays."""
    ctx, strategy = context(sim, ExecutorSink(executor), tmp_path)
    m = ctx.exits
    m.keep_finished = 0
    user = UserChannel(sim.exchange)
    last = await long_position(sim, ctx, user)
    exit_id = await ctx.trailing_stop(PRODUCT, SIZE, distance=D("5"))
    rec = m.records[exit_id]
    coids = {rec.order_coid}
    for step in range(1, 16):
        high = buy_up_to(sim.exchange, last + step)
        await ctx.dispatch(trade_print(high, n=step))  # ratchet up: the old stop's cancel
        await user.sync(ctx)  # CANCELLED: the new stop is placed
        coids.add(rec.order_coid)
        assert [c for c in m.by_coid if m.by_coid[c] == exit_id] == [rec.order_coid]
    assert len(coids) >= 10 and len(open_at_sim(sim.exchange)) == 1
    assert rec.trailing is not None and rec.trailing.stop is not None
    await user.sync(ctx)  # the last stop's OPEN
    bid(sim.exchange, rec.trailing.stop - 5)
    sell_down_to(sim.exchange, rec.trailing.stop)
    await user.sync(ctx)  # the stop fills
    assert rec.status == "done" and ctx.position(PRODUCT) == 0
    assert exit_id not in m.records and exit_id not in m.by_coid.values()
    assert [e.size for e in strategy.exits if isinstance(e, ExitFilled)] == [SIZE]
