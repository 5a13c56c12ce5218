"""The tick-to-order shortcuts change nothing a strategy or the risk limits can observe.

* the context checks a limit order from its Decimals (no re-parse of the body's strings):
  it must refuse exactly what the engine refuses for the parsed order;
* (the engine's own precomputation against the per-order formula: tests/risk/test_engine_formula.py);
* ``new_client_order_id`` must be a real uuid4 string.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.clock import ManualClock
from botkit.market.events import TickersReceived
from botkit.orders.intents import OrderIntent, limit_gtc
from botkit.risk.engine import OrderCheck, RiskEngine, RiskLimits, RiskRejected
from botkit.risk.gate import RiskGate
from botkit.strategy.base import Strategy
from botkit.strategy.context import BotContext, new_client_order_id
from botkit.strategy.loader import create_strategy
from botkit.strategy.ports import MarketState
from botkit.venues.advanced_trade.messages import Ticker
from tests.risk.strategies import engine_says, limits_st, money, sizes

D = Decimal
PRODUCT = "BTC-USD"


class _Sent:
    """The order port, recording what passed the risk gate (the exchange is not the point)."""

    def __init__(self) -> None:
        self.intents: list[OrderIntent] = []
        self.cancelled: list[str] = []

    async def place(self, intent: OrderIntent) -> str:
        self.intents.append(intent)
        return f"o-{len(self.intents)}"

    async def cancel(self, order_id: str) -> bool:
        self.cancelled.append(order_id)
        return True


async def test_a_ticker_mark_trips_the_kill_switch_through_the_sync_mark_path() -> None:
    """dispatch marks with ``RiskGate.mark`` (no coroutine per tick); a trip still cancels
    every open order and refuses new ones."""
    clock = ManualClock()
    market = MarketState()
    market.tickers[PRODUCT] = Ticker(product_id=PRODUCT, price=D(100), best_bid=D(100))
    gate = RiskGate(RiskLimits(daily_loss_limit=D("5")), None, wall=clock.time)
    sink = _Sent()
    ctx = BotContext("trip", sink, market, clock=clock, risk=gate)
    create_strategy(Strategy, ctx, {})
    await ctx.buy_limit(PRODUCT, D(1), D(99))
    await gate.on_fill(PRODUCT, "BUY", D(1), D(100), D(0))
    assert gate.tripped is False
    crash = Ticker(product_id=PRODUCT, price=D(90), best_bid=D(90), best_ask=D("90.01"))
    await ctx.dispatch(TickersReceived("update", (crash,), False))
    assert gate.tripped is True and sink.cancelled == ["o-1"]
    with pytest.raises(RiskRejected) as info:
        await ctx.buy_limit(PRODUCT, D(1), D(90))
    assert info.value.reason == "RISK_KILL_SWITCH"


@settings(max_examples=200, deadline=None)
@given(
    lim=limits_st,
    side=st.sampled_from(["BUY", "SELL"]),
    size=sizes,
    price=money,
    bid=money,
    spread=st.decimals(min_value=D(0), max_value=D(5), places=2),
    held=st.decimals(min_value=D(0), max_value=D(30), places=3),
    resting=st.integers(0, 3),
)
async def test_context_refuses_exactly_what_the_engine_refuses_for_the_body(
    lim: RiskLimits,
    side: str,
    size: Decimal,
    price: Decimal,
    bid: Decimal,
    spread: Decimal,
    held: Decimal,
    resting: int,
) -> None:
    clock = ManualClock()
    market = MarketState()
    market.tickers[PRODUCT] = Ticker(
        product_id=PRODUCT, price=bid, best_bid=bid, best_ask=bid + spread
    )
    sink = _Sent()
    unlimited = RiskGate(RiskLimits(), None, wall=clock.time)
    ctx = BotContext("prop", sink, market, clock=clock, risk=unlimited)
    if held:
        ctx.positions.apply_fill(PRODUCT, "BUY", held, D(1), D(0))
    for _ in range(resting):  # open orders, placed while no limit applied
        await ctx.buy_limit(PRODUCT, D("0.001"), bid)
    ctx.risk = RiskGate(lim, None, wall=clock.time)
    # what the engine says about the order as it will be sent (parsed from the body)
    body_order = OrderCheck.from_intent(OrderIntent("x", PRODUCT, side, limit_gtc(size, price)))  # type: ignore[arg-type]
    want = engine_says(
        RiskEngine(lim), body_order, market.quote(PRODUCT), position=held, open_orders=resting
    )
    place = ctx.buy_limit if side == "BUY" else ctx.sell_limit
    try:
        await place(PRODUCT, size, price)
        got = "OK"
    except RiskRejected as exc:
        got = exc.reason
    assert got == want
    assert len(sink.intents) == resting + (got == "OK")


def test_client_order_ids_are_uuid4_strings() -> None:
    ids = [new_client_order_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for coid in ids[:200]:
        parsed = uuid.UUID(coid)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == coid


@pytest.mark.parametrize("status", ["OPEN", "open", "QUEUED", "EDIT_QUEUED", "NONSENSE"])
def test_status_names_normalise_as_before(status: str) -> None:
    from botkit.orders.state import OrderStatus, normalise_status

    want = {"OPEN": OrderStatus.OPEN, "QUEUED": OrderStatus.PENDING}.get(status.upper())
    if status == "EDIT_QUEUED":
        want = OrderStatus.OPEN
    assert normalise_status(status, None) == want
