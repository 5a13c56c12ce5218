"""Guard: a raising hook is isolated and logged; repeated errors halt the strategy and cancel
its orders at the simulator; slow hooks are reported (manual clock, no sleeps)."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest

from botkit.clock import ManualClock
from botkit.errors import StrategyError
from botkit.market.events import TickersReceived, TradesReceived
from botkit.runtime.health import HealthInputs, assess
from botkit.sim.server import SimServer
from botkit.strategy.guard import GuardConfig, HookGuard
from botkit.strategy.loader import create_strategy
from botkit.venues.advanced_trade.messages import MarketTrade, Ticker
from tests.strategy.conftest import PRODUCT, ContextFactory, book_event
from tests.strategy.fixture_strategy import Quoter


def tickers(price: str = "100") -> TickersReceived:
    return TickersReceived("update", (Ticker(product_id=PRODUCT, price=Decimal(price)),), False)


def trades(trade_id: str) -> TradesReceived:
    trade = MarketTrade(
        trade_id=trade_id, product_id=PRODUCT, price=Decimal("1"), size=Decimal("1"), side="BUY"
    )
    return TradesReceived("update", (trade,))


async def test_exception_is_logged_with_strategy_event_traceback_and_bot_keeps_going(
    make_context: ContextFactory, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = make_context(guard=GuardConfig(max_errors=3))
    strategy = create_strategy(Quoter, ctx, {"fail_on_ticker": True})
    assert isinstance(strategy, Quoter)
    with caplog.at_level(logging.ERROR, logger="botkit.strategy.guard"):
        await ctx.dispatch(tickers())
    await ctx.dispatch(trades("t1"))  # the next event is still delivered
    assert strategy.seen == ["ticker:100", "trade:t1"]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "quoter" in record.getMessage() and "on_ticker" in record.getMessage()
    assert record.exc_info is not None and "boom in on_ticker" in str(record.exc_info[1])
    assert not ctx.guard.halted and isinstance(ctx.guard.errors[0].error, StrategyError)


async def test_errors_in_window_halt_and_cancel_orders_at_the_simulator(
    sim: SimServer, make_context: ContextFactory, manual_clock: ManualClock
) -> None:
    ctx = make_context(guard=GuardConfig(max_errors=3, window_seconds=60))
    strategy = create_strategy(Quoter, ctx, {"fail_on_ticker": True})
    assert isinstance(strategy, Quoter)
    await ctx.dispatch(book_event(sim))
    coid = await strategy.quote()
    order = ctx.orders.get(coid)
    assert order is not None and order.order_id
    assert sim.exchange.get_order("default", order.order_id)["status"] == "OPEN"
    await ctx.dispatch(tickers())
    manual_clock.advance(61)  # the first error leaves the window
    await ctx.dispatch(tickers())
    await ctx.dispatch(tickers())
    assert not ctx.guard.halted
    await ctx.dispatch(tickers())  # three errors within 60 s
    assert ctx.guard.halted and "3 errors within 60 s" in ctx.guard.halt_reason
    assert sim.exchange.get_order("default", order.order_id)["status"] in (
        "CANCEL_QUEUED",
        "CANCELLED",
    )
    assert ctx.open_orders() == []
    before = len(strategy.seen)
    await ctx.dispatch(trades("after-halt"))
    assert len(strategy.seen) == before  # a halted strategy gets no more events
    with pytest.raises(StrategyError, match="halted"):
        await strategy.quote()
    await ctx.stop()
    assert strategy.seen[-1] == "stop"  # on_stop still runs, to save state


async def test_slow_hook_is_timed_and_warned(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    guard = HookGuard("slowpoke", GuardConfig(slow_hook_seconds=0.05), clock=clock)

    def fast() -> None:
        clock.advance(0.01)

    async def slow() -> None:
        clock.advance(0.25)

    with caplog.at_level(logging.WARNING, logger="botkit.strategy.guard"):
        assert await guard.call("on_book", fast)
        assert await guard.call("on_candle", slow)
    assert list(guard.slow) == [("on_candle", 0.25)] and guard.slow_count == 1
    [record] = caplog.records
    assert "slowpoke" in record.getMessage() and "on_candle took 250.0 ms" in record.getMessage()


async def test_async_hook_timeout_counts_as_an_error() -> None:
    never = asyncio.Event()
    halted: list[bool] = []

    async def on_halt() -> None:
        halted.append(True)

    guard = HookGuard(
        "stuck", GuardConfig(hook_timeout=0.01, max_errors=1), clock=ManualClock(), on_halt=on_halt
    )
    assert not await guard.call("on_ticker", never.wait)
    assert guard.halted and halted == [True]
    assert isinstance(guard.errors[0].error.__cause__, TimeoutError)


async def test_a_long_run_of_slow_and_failing_hooks_keeps_bounded_records(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A week of a market maker whose every requote is just over the slow threshold.

    The guard used to append one record per slow call for ever (+1 MB/hour in the soak):
    only the latest ``keep_records`` stay, the counters keep the totals.
    """
    clock = ManualClock()
    guard = HookGuard(
        "week", GuardConfig(slow_hook_seconds=0.05, max_errors=5), clock=clock, keep_records=50
    )

    async def requote() -> None:
        clock.advance(0.06)

    def broken() -> None:
        clock.advance(400.0)  # one error per window: never halts
        raise ValueError("bad tick")

    with caplog.at_level(logging.CRITICAL, logger="botkit.strategy.guard"):
        for i in range(20_000):
            assert await guard.call(f"on_timer:{i % 3}", requote)
            if i % 100 == 0:
                assert not await guard.call("on_ticker", broken)
    assert not guard.halted
    assert guard.slow_count == 20_000 + 200 and len(guard.slow) == 50
    assert [event for event, _ in guard.slow][-2:] == ["on_timer:0", "on_timer:1"]  # the latest
    assert guard.error_count == 200 and len(guard.errors) == 50
    last_error_at = clock.time() - 99 * 0.06  # 99 requotes followed the last error
    assert guard.errors[-1].at == pytest.approx(last_error_at)


def test_keep_records_must_be_positive() -> None:
    with pytest.raises(ValueError, match="keep_records"):
        HookGuard("x", keep_records=0)


async def _stuck_in(guard: HookGuard) -> asyncio.Future[bool]:
    """A guard call of an on_ticker that never returns, once the hook is running."""
    started = asyncio.Event()

    async def stuck() -> None:
        started.set()
        await asyncio.Event().wait()

    call = asyncio.ensure_future(guard.call("on_ticker", stuck))
    await started.wait()
    return call


async def test_a_stuck_hook_is_cancelled_by_the_default_timeout_and_named_while_it_runs() -> None:
    """hook_timeout was off by default: a hook awaiting for ever froze every later event
    (the emulated exits' triggers too) while the health said ready. 60 s now, and the
    guard says which hook runs and for how long (the health model's input)."""
    clock = ManualClock()
    guard = HookGuard("stuck", GuardConfig(), clock=clock)
    assert guard.config.hook_timeout == 60.0 and guard.running() is None
    call = await _stuck_in(guard)
    clock.advance(12.0)
    assert guard.running() == ("on_ticker", 12.0)
    health = assess(HealthInputs(started=True, hook_running=guard.running()))
    assert health.verdict == "degraded"
    assert "strategy hook on_ticker running for 12 s" in health.reasons[0]
    call.cancel()  # the real 60 s is not waited for here; a short one below
    with pytest.raises(asyncio.CancelledError):
        await call
    assert guard.running() is None


async def test_the_guards_timeout_says_what_it_is_and_a_hooks_own_timeout_passes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = HookGuard("stuck", GuardConfig(hook_timeout=0.01), clock=ManualClock())
    assert not await guard.call("on_ticker", asyncio.Event().wait)
    message = str(guard.errors[0].error.__cause__)
    assert "on_ticker did not finish within 0.01 s ([guard] hook_timeout)" in message

    async def own_timeout() -> None:
        raise TimeoutError("GET https://example.invalid timed out")

    assert not await guard.call("on_timer", own_timeout)
    assert str(guard.errors[1].error.__cause__) == "GET https://example.invalid timed out"


async def test_on_start_and_on_stop_are_not_cut_by_the_hook_timeout() -> None:
    """They run once (loading a model may take minutes); the 60 s default stopped a bot
    whose on_start was merely slow. Found by a review."""
    guard = HookGuard("slow", GuardConfig(hook_timeout=0.01), clock=ManualClock())

    async def slow() -> None:
        await asyncio.sleep(0.05)  # the hook's own work, longer than the timeout

    assert await guard.call("on_start", slow) and await guard.call("on_stop", slow)
    assert not await guard.call("on_ticker", slow) and guard.error_count == 1


async def test_one_timer_serves_every_hook_and_a_shutdown_cancel_is_not_a_timeout() -> None:
    """The timeout is one re-arming timer, not asyncio.timeout per call (~8 µs of the
    tick-to-order path): it must still cut each stuck hook, let quick ones pass, and leave
    a cancellation that is not its own (a shutdown) to propagate."""
    guard = HookGuard("t", GuardConfig(hook_timeout=0.02, max_errors=10), clock=ManualClock())

    async def quick() -> None:
        await asyncio.sleep(0)

    for _ in range(3):
        assert await guard.call("on_ticker", quick)
        assert not await guard.call("on_ticker", asyncio.Event().wait)  # cut at 20 ms
    assert guard.error_count == 3
    call = await _stuck_in(guard)
    call.cancel()  # the shutdown, before the hook's deadline
    with pytest.raises(asyncio.CancelledError):
        await call
    assert guard.error_count == 3
