"""The candle backtest's fast path changes nothing but speed: random candles and a
strategy placing random orders give identical orders, fills, balances and equity with it
on (the book placed only when read, steps skipped while no order is live, sync hooks
called without a coroutine) and off (every step of every candle, the book moved at once,
hooks through the context's dispatch)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botkit.backtest.candle_model import FillModel
from botkit.backtest.candles import CandleBacktest, CandleResult, CandleSeries
from botkit.paper.journal import PaperJournal
from botkit.runtime.settings import BotSettings
from botkit.strategy.context import BotContext
from tests.backtest.test_candles import STRATS, T0, config

D = Decimal


def _series(rows: list[tuple[int, int, int, int]]) -> CandleSeries:
    """Candles from (open, up, down, close) in cents around 100.00 USD."""
    o_, h_, l_, c_ = [], [], [], []
    for o, up, down, c in rows:
        o_.append(D(o) / 100)
        c_.append(D(c) / 100)
        h_.append(D(max(o, c) + up) / 100)
        l_.append(D(min(o, c) - down) / 100)
    n = len(rows)
    return CandleSeries("BTC-USD", 60, [T0 + 60 * i for i in range(n)], o_, h_, l_, c_,
                        [D("2.5")] * n)  # fmt: skip


def _run(
    strategy: str, params: dict[str, Any], data: CandleSeries, out: Path, fast: bool, **kw: Any
) -> tuple[CandleResult, dict[str, Any]]:
    cfg = config(f"{STRATS}:{strategy}", params, fees=True)
    bt = CandleBacktest(cfg, BotSettings(), data, out, fast_path=fast, equity_points=4, **kw)
    result = asyncio.run(bt.run())
    with PaperJournal(result.journal_path, readonly=True) as journal:
        seen = {
            "orders": journal.orders(),
            "fills": journal.fills(),
            "balances": journal.balances(),
            "equity": {p.t: p.equity for p in journal.equity()},  # the last one at each t
            "ids": result.client_order_ids,
        }
    return result, seen


def _compare(fast: dict[str, Any], full: dict[str, Any]) -> None:
    for key in ("orders", "fills", "balances", "ids"):
        assert fast[key] == full[key], key
    # the full run samples equity at more instants (its extra steps flush too), and may
    # sample one instant twice (before and after a fill at it); at every instant both
    # sampled — each fill, the sampled closes, the end — the last values agree
    times = set(fast["equity"]) & set(full["equity"])
    assert {t: fast["equity"][t] for t in times} == {t: full["equity"][t] for t in times}
    end = max(fast["equity"])
    assert end == max(full["equity"]) and fast["equity"][end] == full["equity"][end]
    assert {f.time for f in fast["fills"]} <= times


rows = st.lists(
    st.tuples(
        st.integers(9_000, 11_000),
        st.integers(0, 300),
        st.integers(0, 300),
        st.integers(9_000, 11_000),
    ),
    min_size=3,
    max_size=40,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows,
    st.integers(0, 10_000),
    st.sampled_from([0.2, 0.6, 1.0]),
    st.booleans(),
    st.sampled_from(["ohlc", "pessimistic"]),
)
def test_random_orders_fill_identically_with_the_fast_path_on_and_off(
    tmp_path, rows, seed, rate, read_book, intrabar
):
    data = _series(rows)
    params = {"seed": seed, "rate": rate, "read_book": read_book}
    model = FillModel(slippage_bps=D(3), intrabar=intrabar)
    out = tmp_path / f"r{len(list(tmp_path.iterdir()))}"
    fast_result, fast = _run("RandomOrders", params, data, out / "fast", True, model=model)
    full_result, full = _run("RandomOrders", params, data, out / "full", False, model=model)
    _compare(fast, full)
    assert fast_result.strategy is not None and full_result.strategy is not None
    # what the strategy saw (book mids, refusals) at the same instants
    assert fast_result.strategy.seen == full_result.strategy.seen  # type: ignore[attr-defined]


def test_the_differential_check_sees_orders_and_fills(tmp_path):
    """The property above is not vacuous: its strategy trades, and a run with another
    seed differs."""
    data = _series([(10_000 + 37 * (i % 7) - 90 * (i % 3), 150, 150, 10_000 + 41 * (i % 5))
                    for i in range(60)])  # fmt: skip
    _, a = _run("RandomOrders", {"seed": 1, "rate": 1.0}, data, tmp_path / "a", True)
    _, b = _run("RandomOrders", {"seed": 1, "rate": 1.0}, data, tmp_path / "b", False)
    _, c = _run("RandomOrders", {"seed": 2, "rate": 1.0}, data, tmp_path / "c", True)
    _compare(a, b)
    assert len(a["fills"]) >= 5 and {f.liquidity for f in a["fills"]} == {"MAKER", "TAKER"}
    assert a["fills"] != c["fills"]


def test_a_sync_hook_that_raises_is_counted_by_the_guard_as_through_dispatch(tmp_path):
    data = _series([(10_000, 10, 10, 10_000 + i) for i in range(10)])
    params = {"every": 4}
    fast, _ = _run("FailingHook", params, data, tmp_path / "fast", True)
    full, _ = _run("FailingHook", params, data, tmp_path / "full", False)
    for result in (fast, full):
        assert result.strategy is not None
        ctx = result.strategy.ctx
        assert isinstance(ctx, BotContext)
        guard = ctx.guard
        assert guard.error_count == 2 and not guard.halted
        assert [e.event for e in guard.errors] == ["on_candle", "on_candle"]
        assert "ValueError('candle 4')" in str(guard.errors[0].error)
    assert fast.strategy.closes == full.strategy.closes  # type: ignore[union-attr]
    assert len(fast.strategy.closes) == 10  # type: ignore[union-attr]


def test_a_strategy_trading_from_timers_fills_identically(tmp_path):
    """No hook: the fast path visits a close only for timers, equity samples and orders."""
    data = _series([(10_000 + 53 * (i % 9), 40, 40, 10_000 + 47 * (i % 11)) for i in range(90)])
    fast, a = _run("TimedOrders", {"seed": 4}, data, tmp_path / "a", True)
    full, b = _run("TimedOrders", {"seed": 4}, data, tmp_path / "b", False)
    _compare(a, b)
    assert len(a["fills"]) >= 5
    assert fast.strategy.fired == full.strategy.fired  # type: ignore[union-attr]
    assert len(fast.strategy.fired) >= 17  # type: ignore[union-attr]
