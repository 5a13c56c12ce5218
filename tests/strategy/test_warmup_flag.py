"""Warm-up: the declaration is validated, and while ``ctx.warming_up`` is set no order
leaves (nothing reaches the simulator); once cleared, the same call places."""

from __future__ import annotations

from decimal import Decimal

import pytest

from botkit.errors import StrategyError
from botkit.sim.server import SimServer
from botkit.strategy.base import Strategy
from botkit.strategy.loader import create_strategy
from botkit.strategy.warmup import Warmup
from tests.strategy.conftest import PRODUCT, ContextFactory, book_event
from tests.strategy.fixture_strategy import Quoter


def test_warmup_declaration_is_checked() -> None:
    assert Warmup(20).seconds == 60
    assert Warmup(3, "ONE_HOUR").seconds == 3600
    with pytest.raises(ValueError, match="FIVE_MINUTE"):
        Warmup(5, "5m")
    with pytest.raises(ValueError, match="0 or more"):
        Warmup(-1)
    assert Strategy.warmup is None


async def test_orders_are_refused_while_warming_up(
    sim: SimServer, make_context: ContextFactory
) -> None:
    ctx = make_context()
    create_strategy(Quoter, ctx, {})
    await ctx.dispatch(book_event(sim))
    ctx.warming_up = True
    with pytest.raises(StrategyError, match="warming up"):
        await ctx.buy_limit(PRODUCT, Decimal("0.01"), Decimal("1000"))
    assert ctx.open_orders() == [] and sim.exchange.list_orders("default", {}) == []
    ctx.warming_up = False
    coid = await ctx.buy_limit(PRODUCT, Decimal("0.01"), Decimal("1000"))
    assert [o.client_order_id for o in ctx.open_orders()] == [coid]
