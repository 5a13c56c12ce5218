"""A strategy end to end through its Context: orders signed and accepted by the simulator,
updates dispatched back, state and timers, and a kill switch that cancels at the exchange."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from botkit.clock import ManualClock
from botkit.errors import OrderRejected
from botkit.market.events import FillEvent, TickersReceived
from botkit.orders.executor import OrderExecutor
from botkit.orders.state import OrderState, OrderStatus
from botkit.risk.engine import RiskLimits, RiskRejected
from botkit.risk.gate import RiskGate, reset_kill_switch
from botkit.sim.server import SimServer
from botkit.strategy.context import BotContext
from botkit.strategy.exits import limits_from_rules
from botkit.strategy.loader import create_strategy, load_strategy
from botkit.strategy.state import JsonState
from botkit.venues.advanced_trade.messages import Ticker
from tests.strategy.conftest import PRODUCT, ContextFactory, book_event, order_update
from tests.strategy.fixture_strategy import Quoter

D = Decimal


def order_of(ctx: BotContext, coid: str) -> OrderState:
    state = ctx.orders.get(coid)
    assert state is not None, coid
    return state


async def test_limit_order_reaches_the_simulator_and_updates_come_back(
    sim: SimServer, executor: OrderExecutor, make_context: ContextFactory, manual_clock: ManualClock
) -> None:
    gate = RiskGate(
        RiskLimits(max_order_notional=D("1000"), price_band_pct=D("5"), max_open_orders=2),
        None,
        wall=manual_clock.time,
    )
    ctx = make_context(risk=gate)
    cls = load_strategy("tests.strategy.fixture_strategy:Quoter")
    strategy = create_strategy(cls, ctx, {"size": "0.001", "offset_pct": "1"})
    assert isinstance(strategy, Quoter)
    await ctx.start()
    await ctx.dispatch(book_event(sim))
    coid = await strategy.quote()
    state = ctx.orders.get(coid)
    assert state is not None and state.status is OrderStatus.OPEN
    at_sim = sim.exchange.get_order("default", state.order_id)
    assert at_sim["client_order_id"] == coid and at_sim["status"] == "OPEN"
    assert [o.client_order_id for o in ctx.open_orders(PRODUCT)] == [coid]
    # the user channel would report it; the context routes it to the strategy
    await ctx.dispatch(await order_update(executor, state.order_id))
    assert [u.client_order_id for u in strategy.updates] == [coid]
    assert await ctx.cancel(coid)
    await ctx.dispatch(await order_update(executor, state.order_id))
    assert strategy.updates[-1].status in ("CANCEL_QUEUED", "CANCELLED")
    assert ctx.open_orders() == []
    # an update for someone else's order is not this strategy's business
    other = await order_update(executor, state.order_id)
    await ctx.dispatch(replace(other, client_order_id="someone-else"))
    assert len(strategy.updates) == 2
    # risk refuses before anything is sent
    sent = len(sim.exchange.list_orders("default", {}))
    with pytest.raises(RiskRejected) as info:
        await ctx.buy_limit(PRODUCT, D("0.001"), D("1"))
    assert info.value.reason == "RISK_PRICE_BAND"
    assert len(sim.exchange.list_orders("default", {})) == sent
    # timers fire on the context's clock
    manual_clock.advance(5)
    assert await ctx.fire_timers() == 1 and strategy.seen[-1] == "timer:requote"
    await ctx.stop()
    assert strategy.seen[0] == "start" and strategy.seen[-1] == "stop"


async def test_kill_switch_trips_on_loss_cancels_at_the_simulator_and_survives_restart(
    sim: SimServer, executor: OrderExecutor, make_context: ContextFactory, tmp_path: Path
) -> None:
    path = tmp_path / "kill_switch.json"
    clock = ManualClock(20_000 * 86_400.0 + 60)
    limits = RiskLimits(max_order_notional=D("1000"), daily_loss_limit=D("5"))
    gate = RiskGate(limits, path, wall=clock.time)
    ctx = make_context(risk=gate, state=JsonState(tmp_path / "quoter.json"))
    strategy = create_strategy(Quoter, ctx, {})
    assert isinstance(strategy, Quoter)
    await ctx.dispatch(book_event(sim))
    resting = await strategy.quote()
    bought = await ctx.buy_market(PRODUCT, quote_size=D("100"))
    order_id = order_of(ctx, bought).order_id
    filled = await order_update(executor, order_id)
    assert filled.status == "FILLED"
    await ctx.dispatch(filled)
    await ctx.dispatch(
        FillEvent(
            fill_id=f"{order_id}:{filled.cumulative_quantity}",
            order_id=order_id,
            client_order_id=bought,
            product_id=PRODUCT,
            side="BUY",
            size=filled.cumulative_quantity,
            price=filled.avg_price,
            fee=filled.total_fees,
            cumulative_quantity=filled.cumulative_quantity,
        )
    )
    assert ctx.position(PRODUCT) == filled.cumulative_quantity and strategy.fills
    assert gate.engine.kill_switch.tripped is False
    crash = (filled.avg_price * D("0.9")).quantize(D("0.01"))  # -10 % on ~100 USD: > 5 USD
    await ctx.dispatch(TickersReceived("update", (Ticker(product_id=PRODUCT, price=crash),), False))
    assert gate.tripped
    resting_id = order_of(ctx, resting).order_id
    assert sim.exchange.get_order("default", resting_id)["status"] in ("CANCEL_QUEUED", "CANCELLED")
    with pytest.raises(RiskRejected) as info:
        await strategy.quote()
    assert info.value.reason == "RISK_KILL_SWITCH"
    ctx.state.set("last_mark", crash)
    # restart: a new gate and context over the same files
    gate2 = RiskGate(limits, path, wall=clock.time)
    ctx2 = make_context(risk=gate2, state=JsonState(tmp_path / "quoter.json"))
    strategy2 = create_strategy(Quoter, ctx2, {})
    assert isinstance(strategy2, Quoter)
    assert ctx2.state.get("last_mark") == crash  # strategy state survived too
    await ctx2.dispatch(book_event(sim))
    with pytest.raises(RiskRejected, match="kill switch"):
        await strategy2.quote()
    assert reset_kill_switch(path)
    ctx3 = make_context(risk=RiskGate(limits, path, wall=clock.time))
    strategy3 = create_strategy(Quoter, ctx3, {})
    assert isinstance(strategy3, Quoter)
    await ctx3.dispatch(book_event(sim))
    coid = await strategy3.quote()
    assert order_of(ctx3, coid).status is OrderStatus.OPEN


async def test_amounts_the_venue_would_refuse_are_refused_before_anything_is_sent(
    sim: SimServer, make_context: ContextFactory
) -> None:
    """A negative size went to the venue (refused as "below 1E-8"), sizes and prices off
    the product's increments too: a request each, and a message that did not say why."""
    ctx = make_context(product_limits=limits_from_rules([sim.exchange.product_wire(PRODUCT)]))
    create_strategy(Quoter, ctx, {"size": "0.001", "offset_pct": "1"})
    await ctx.start()
    await ctx.dispatch(book_event(sim))
    bid = sim.exchange.best_bid_ask(PRODUCT)[0]
    assert bid is not None
    price = bid[0] - 100
    cases = [
        (D("-0.001"), price, "INVALID_ORDER_AMOUNT"),
        (D("0.0000000001"), price, "INVALID_SIZE_PRECISION"),
        (D("0.001"), price + D("0.001"), "INVALID_PRICE_PRECISION"),
        # one increment of BTC: the venue refused its value, each venue in its own words
        (D("0.00000001"), price, "INVALID_QUOTE_SIZE_TOO_SMALL"),
    ]
    for size, px, reason in cases:
        with pytest.raises(OrderRejected) as info:
            await ctx.buy_limit(PRODUCT, size, px)
        assert info.value.reason == reason, info.value
    with pytest.raises(ValueError, match="must be positive"):
        await ctx.sell_market(PRODUCT, D("-0.001"))
    with pytest.raises(OrderRejected) as info:  # InvalidOperation escaped: found by a review
        await ctx.buy_limit(PRODUCT, D("1E+40") + D("0.1"), price)
    assert info.value.reason == "INVALID_SIZE_PRECISION"
    with pytest.raises(OrderRejected) as info:  # the price is too long, not the size
        await ctx.buy_limit(PRODUCT, D("0.001"), D("1E+40") + D("0.001"))
    assert info.value.reason == "INVALID_PRICE_PRECISION"
    with pytest.raises(ValueError, match="not a finite decimal"):
        await ctx.buy_limit(PRODUCT, D("NaN"), price)
    assert sim.exchange.list_orders("default", {}) == []  # nothing reached the venue
    with pytest.raises(OrderRejected, match="not one of this bot's products") as info:
        await ctx.buy_limit("ETH-USD", D("0.01"), D("1000"))  # said: no best bid/ask
    assert info.value.reason == "PRODUCT_NOT_TRADED"
    await ctx.buy_limit(PRODUCT, D("0.001"), price)  # on the grid: placed
    assert len(sim.exchange.list_orders("default", {})) == 1
