"""A strategy context that trades for a long (virtual) time keeps bounded order tracking (issue 20).

The context's order states, its ``_mine`` set (this strategy's ids) and its live-order
index used to keep every order ever placed. Here a requoting strategy runs for hours of
virtual time (thousands of orders, each cancelled or filled) against an in-test exchange
behind the :class:`~botkit.strategy.ports.OrderSink` seam, and every structure stays
bounded; late updates for orders already released neither resurrect them nor reach the
strategy, and a late fill still moves the position.
"""

from __future__ import annotations

from decimal import Decimal

from botkit.clock import ManualClock
from botkit.market.events import FillEvent, OrderUpdate
from botkit.orders.intents import OrderIntent
from botkit.orders.state import OrderStatus
from botkit.strategy.base import Strategy
from botkit.strategy.context import BotContext
from botkit.strategy.loader import create_strategy
from botkit.strategy.timers import TimerFired

PRODUCT = "BTC-USD"


class TinyExchange:
    """An order sink that accepts everything and numbers the orders (the test's exchange)."""

    def __init__(self) -> None:
        self.placed: list[tuple[str, str, str]] = []  # (client_order_id, order_id, side)
        self.cancelled: list[str] = []  # order ids

    async def place(self, intent: OrderIntent) -> str:
        order_id = f"x{len(self.placed)}"
        self.placed.append((intent.client_order_id, order_id, intent.side))
        return order_id

    async def cancel(self, order_id: str) -> bool:
        self.cancelled.append(order_id)
        return True


class Requoter(Strategy):
    """Every second: cancel its quotes, then quote a bid and an ask."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.updates = 0
        self.fills = 0

    async def on_start(self) -> None:
        self.ctx.set_timer("requote", 1.0)

    async def on_timer(self, timer: TimerFired) -> None:
        await self.ctx.cancel_all(PRODUCT)
        await self.ctx.buy_limit(PRODUCT, Decimal("0.001"), Decimal(100))
        await self.ctx.sell_limit(PRODUCT, Decimal("0.001"), Decimal(101))

    async def on_order_update(self, update: OrderUpdate) -> None:
        self.updates += 1

    async def on_fill(self, fill: FillEvent) -> None:
        self.fills += 1


def update(coid: str, oid: str, side: str, status: str, filled: Decimal) -> OrderUpdate:
    return OrderUpdate(
        order_id=oid,
        client_order_id=coid,
        product_id=PRODUCT,
        side=side,
        order_type="LIMIT",
        status=status,
        cumulative_quantity=filled,
        leaves_quantity=Decimal(0),
        avg_price=Decimal(100) if filled else Decimal(0),
        total_fees=Decimal(0),
        snapshot=False,
    )


def fill(coid: str, oid: str, side: str) -> FillEvent:
    size = Decimal("0.001")
    return FillEvent(
        f"{oid}:{size}", oid, coid, PRODUCT, side, size, Decimal(100), Decimal(0), size
    )


async def run(
    rounds: int, *, keep: int = 200, keep_seconds: float = 60.0
) -> tuple[BotContext, Requoter, TinyExchange, ManualClock]:
    """``rounds`` seconds of virtual time: every order is acknowledged, then cancelled or
    (every tenth) filled, as the user channel would report it."""
    clock = ManualClock(1_760_000_000.0)
    ex = TinyExchange()
    ctx = BotContext(
        "requoter",
        ex,
        clock=clock,
        guard_clock=clock,
        monotonic=clock.time,
        keep_finished=keep,
        keep_seconds=keep_seconds,
    )
    strategy = create_strategy(Requoter, ctx, {})
    assert isinstance(strategy, Requoter)
    await ctx.start()
    seen = 0
    n = 0
    for _ in range(rounds):
        clock.advance(1.0)
        assert await ctx.fire_timers() == 1
        for coid, oid, side in ex.placed[seen:]:
            await ctx.dispatch(update(coid, oid, side, "OPEN", Decimal(0)))
        seen = len(ex.placed)
        for oid in ex.cancelled:
            n += 1
            coid, _, side = ex.placed[int(oid[1:])]
            if n % 10 == 0:  # filled before the cancel landed
                await ctx.dispatch(update(coid, oid, side, "FILLED", Decimal("0.001")))
                await ctx.dispatch(fill(coid, oid, side))
            else:
                await ctx.dispatch(update(coid, oid, side, "CANCELLED", Decimal(0)))
        ex.cancelled.clear()
    return ctx, strategy, ex, clock


async def test_hours_of_requoting_keep_order_tracking_bounded() -> None:
    ctx, strategy, ex, _ = await run(3000, keep=200, keep_seconds=60.0)
    assert len(ex.placed) == 6000
    # 60 s of finished orders (120) < keep: the last 200 finished + 2 live remain
    assert len(ctx.orders) == 202
    # private on purpose: the context's own id indexes must be bounded too (memory invariant)
    assert len(ctx._mine) == 202
    assert len(ctx._live) <= 4
    assert ctx.orders.sizes()["order_ids"] == 202
    assert len(ctx.open_orders()) == 2
    # every tenth cancel was a fill (always an ask here): all counted
    assert strategy.fills == 599 and ctx.position(PRODUCT) == Decimal("-0.599")


async def test_late_updates_for_released_orders_do_not_come_back() -> None:
    ctx, strategy, ex, _ = await run(500, keep=50, keep_seconds=10.0)
    first_coid, first_oid, side = ex.placed[0]
    assert ctx.orders.get(first_coid) is None and ctx.orders.released(first_coid)
    size, updates = len(ctx.orders), strategy.updates
    # the user channel replays it after a reconnect: nothing is tracked, the hook not called
    await ctx.dispatch(update(first_coid, first_oid, side, "OPEN", Decimal(0)))
    assert ctx.orders.get(first_coid) is None and len(ctx.orders) == size
    assert strategy.updates == updates and first_coid not in ctx._mine  # private: see above
    assert all(
        o.status is not OrderStatus.OPEN or o.order_id != first_oid for o in ctx.open_orders()
    )


async def test_a_late_fill_of_a_released_order_still_moves_the_position() -> None:
    """Money first: a fill is this strategy's even after its order left memory."""
    ctx, strategy, ex, _ = await run(300, keep=20, keep_seconds=5.0)
    coid, oid, side = ex.placed[1]  # an ask, cancelled long ago
    assert ctx.orders.get(coid) is None
    before, fills = ctx.position(PRODUCT), strategy.fills
    await ctx.dispatch(fill(coid, oid, side))
    assert ctx.position(PRODUCT) == before - Decimal("0.001")
    assert strategy.fills == fills + 1


async def test_cancelling_a_released_order_is_a_no_op() -> None:
    ctx, _, ex, _ = await run(200, keep=10, keep_seconds=1.0)
    cancels = len(ex.cancelled)
    assert await ctx.cancel(ex.placed[0][0]) is False
    assert len(ex.cancelled) == cancels


async def test_aliases_of_released_orders_are_bounded_and_late_fills_still_routed() -> None:
    """An entry's attached exit is followed under an alias (order id → alias): the map
    kept every one for the whole run. Aliases of orders let go are forgotten once the
    state machine forgets their ids; a late fill of a recent one still moves the position."""
    clock = ManualClock(1_760_000_000.0)
    ctx = BotContext(
        "aliases", TinyExchange(), clock=clock, guard_clock=clock, monotonic=clock.time,
        keep_finished=5, keep_seconds=1.0,
    )  # fmt: skip
    create_strategy(Requoter, ctx, {})
    ctx.orders.remember_released = 40
    for i in range(300):
        alias, oid = f"attached:e{i}", f"att{i}"
        ctx.alias_order(oid, alias, PRODUCT, "SELL")
        await ctx.dispatch(update("", oid, "SELL", "OPEN", Decimal(0)))
        clock.advance(1.0)
        await ctx.dispatch(update("", oid, "SELL", "CANCELLED", Decimal(0)))
    assert len(ctx.orders) <= 6
    # private on purpose: the memory invariant is about the context's own map
    assert len(ctx._aliases) <= 40 + 6
    before = ctx.position(PRODUCT)
    await ctx.dispatch(fill("", "att290", "SELL"))  # released, still remembered
    assert ctx.position(PRODUCT) == before - Decimal("0.001")
