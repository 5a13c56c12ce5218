"""Through a real strategy context, executor and simulator: during the cooldown after a
stop-loss a new entry is refused before anything is sent, while the exit of the open
position still reaches the exchange and fills. Fixtures: tests/risk/conftest.py."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from botkit.clock import ManualClock
from botkit.market.events import FillEvent
from botkit.orders.executor import OrderExecutor
from botkit.risk.engine import RiskLimits, RiskRejected
from botkit.risk.gate import RiskGate
from botkit.sim.server import SimServer
from botkit.strategy.context import BotContext
from botkit.strategy.loader import create_strategy
from tests.strategy.conftest import PRODUCT, ContextFactory, book_event, order_update
from tests.strategy.fixture_strategy import Quoter

D = Decimal


async def fill_through(ctx: BotContext, ex: OrderExecutor, coid: str) -> Decimal:
    """Report a filled order to the context as the user channel would; return its size."""
    state = ctx.orders.get(coid)
    assert state is not None and state.order_id
    update = await order_update(ex, state.order_id)
    assert update.status == "FILLED"
    await ctx.dispatch(update)
    await ctx.dispatch(
        FillEvent(
            fill_id=f"{update.order_id}:{update.cumulative_quantity}",
            order_id=update.order_id,
            client_order_id=coid,
            product_id=PRODUCT,
            side=update.side,
            size=update.cumulative_quantity,
            price=update.avg_price,
            fee=update.total_fees,
            cumulative_quantity=update.cumulative_quantity,
        )
    )
    return update.cumulative_quantity


async def test_cooldown_refuses_an_entry_but_the_exit_fills(
    sim: SimServer,
    executor: OrderExecutor,
    make_context: ContextFactory,
    manual_clock: ManualClock,
    tmp_path: Path,
) -> None:
    limits = RiskLimits(max_order_notional=D("1000"), cooldown_after_stop_loss=600)
    gate = RiskGate(limits, tmp_path / "kill_switch.json", wall=manual_clock.time)
    ctx = make_context(risk=gate)
    create_strategy(Quoter, ctx, {})  # attached; the test places the orders itself
    await ctx.dispatch(book_event(sim))
    held = await fill_through(ctx, executor, await ctx.buy_market(PRODUCT, quote_size=D("100")))
    assert ctx.position(PRODUCT) == held > 0
    await gate.on_stop_loss(PRODUCT)  # what the exit machinery reports
    sent = len(sim.exchange.list_orders("default", {}))
    with pytest.raises(RiskRejected) as info:
        await ctx.buy_market(PRODUCT, quote_size=D("50"))
    assert info.value.reason == "RISK_COOLDOWN" and "600 s" in str(info.value)
    assert len(sim.exchange.list_orders("default", {})) == sent  # nothing reached the exchange
    # the exit of what is held goes through and fills
    await fill_through(ctx, executor, await ctx.sell_market(PRODUCT, held))
    assert ctx.position(PRODUCT) == 0
    # flat now, so a sell would open a short: an entry, refused too
    with pytest.raises(RiskRejected, match="cooling down"):
        await ctx.sell_market(PRODUCT, D("0.001"))
    # a restart mid-cooldown keeps it; it lifts on time
    manual_clock.advance(599)
    ctx2 = make_context(
        risk=RiskGate(limits, tmp_path / "kill_switch.json", wall=manual_clock.time)
    )
    create_strategy(Quoter, ctx2, {})
    await ctx2.dispatch(book_event(sim))
    with pytest.raises(RiskRejected, match="1 s"):
        await ctx2.buy_market(PRODUCT, quote_size=D("50"))
    manual_clock.advance(1)
    await fill_through(ctx2, executor, await ctx2.buy_market(PRODUCT, quote_size=D("50")))
    assert ctx2.position(PRODUCT) > 0
