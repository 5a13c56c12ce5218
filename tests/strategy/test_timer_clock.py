"""Strategy timers run on a monotonic clock; wall-clock corrections do not move them (issue 20).

The wall clock (:class:`~botkit.auth.clock.SystemClock`, corrected from the exchange's
``GET /time``) is what the strategy reads as "now" and what signs requests; when a
correction moved it back by minutes, a timer set on it was left minutes in the future
and the market maker placed nothing until it came due. Timers must follow a clock that
only moves forward at the rate of real time.
"""

from __future__ import annotations

import time

from botkit.auth.clock import SystemClock
from botkit.clock import ManualClock
from botkit.orders.intents import OrderIntent
from botkit.strategy.base import Strategy
from botkit.strategy.context import BotContext
from botkit.strategy.loader import create_strategy
from botkit.strategy.timers import TimerFired


class _NoSink:
    """An :class:`~botkit.strategy.ports.OrderSink` that is never reached (no orders here)."""

    async def place(self, intent: OrderIntent) -> str:
        raise AssertionError("no order expected")

    async def cancel(self, order_id: str) -> bool:
        raise AssertionError("no cancel expected")


class Ticking(Strategy):
    """Sets one repeating timer on start and records every firing."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.fired: list[TimerFired] = []

    async def on_start(self) -> None:
        self.ctx.set_timer("requote", 2.0)

    async def on_timer(self, timer: TimerFired) -> None:
        self.fired.append(timer)


async def _ticking(wall: ManualClock, mono: ManualClock) -> tuple[BotContext, Ticking]:
    ctx = BotContext("tick", _NoSink(), clock=wall, guard_clock=ManualClock(), monotonic=mono.time)
    strategy = create_strategy(Ticking, ctx, {})
    assert isinstance(strategy, Ticking)
    await ctx.start()
    return ctx, strategy


async def test_a_backwards_wall_correction_does_not_delay_timers() -> None:
    wall, mono = ManualClock(1_760_000_000.0), ManualClock(100.0)
    ctx, strategy = await _ticking(wall, mono)
    wall.set(wall.time() - 300)  # the exchange's clock is 5 minutes behind ours
    mono.advance(2.0)
    assert await ctx.fire_timers() == 1
    # the strategy still reads the (corrected) wall clock as its timestamp
    assert strategy.fired == [TimerFired("requote", wall.time())]
    for _ in range(10):  # and keeps firing every 2 s of real time
        mono.advance(2.0)
        wall.advance(2.0)
        assert await ctx.fire_timers() == 1
    assert len(strategy.fired) == 11


async def test_a_forwards_wall_correction_does_not_bunch_timers() -> None:
    wall, mono = ManualClock(1_760_000_000.0), ManualClock(100.0)
    ctx, strategy = await _ticking(wall, mono)
    mono.advance(1.0)
    wall.set(wall.time() + 3600)  # an hour ahead
    assert await ctx.fire_timers() == 0  # not due: only 1 s of real time went by
    mono.advance(0.5)
    assert await ctx.fire_timers() == 0
    mono.advance(0.5)
    assert await ctx.fire_timers() == 1
    mono.advance(1.0)
    wall.set(wall.time() - 7200)  # and back again, further
    assert await ctx.fire_timers() == 0
    mono.advance(1.0)
    assert await ctx.fire_timers() == 1
    assert [t.at for t in strategy.fired] == [1_760_003_600.0, 1_759_996_400.0]


async def test_a_corrected_system_clock_does_not_stall_the_default_timer_clock() -> None:
    """The production pairing: a SystemClock corrected by -300 s, the default timer clock.

    A timer of one microsecond is due as soon as the real clock has moved on; on the
    corrected wall clock it would be due only five minutes from now.
    """
    wall = SystemClock()
    ctx = BotContext("tick", _NoSink(), clock=wall)
    create_strategy(Ticking, ctx, {})
    ctx.set_timer("soon", 1e-6, repeat=False)
    wall.correct(server_time=time.time() - 300, local_time=time.time())
    fired = 0
    for _ in range(100_000):  # bounded: each pass takes well over a microsecond
        fired = await ctx.fire_timers()
        if fired:
            break
    assert fired == 1
    assert ctx.now() < time.time() - 290  # the strategy's "now" is the corrected clock


async def test_one_virtual_clock_for_both_keeps_replays_exact() -> None:
    """A backtest passes its virtual clock as both: timers follow the recording's time."""
    virtual = ManualClock(1_700_000_000.0)
    ctx = BotContext("tick", _NoSink(), clock=virtual, guard_clock=virtual, monotonic=virtual.time)
    strategy = create_strategy(Ticking, ctx, {})
    assert isinstance(strategy, Ticking)
    await ctx.start()
    virtual.advance(1.9)
    assert await ctx.fire_timers() == 0
    virtual.advance(0.1)
    assert await ctx.fire_timers() == 1
    assert strategy.fired == [TimerFired("requote", 1_700_000_002.0)]
