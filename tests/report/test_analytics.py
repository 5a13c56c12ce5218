"""Per-trade analytics: hand-computed small cases and Hypothesis invariants."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from botkit.report.analytics import (
    YEAR,
    analyse,
    calmar,
    exposure,
    max_drawdown_span,
    profit_factor,
    resample,
    returns,
    round_trips,
    sharpe,
    sortino,
    win_rate,
)

D = Decimal


@dataclass(frozen=True)
class F:
    side: str
    price: Decimal
    size: Decimal
    time: float
    fee: Decimal = D(0)
    product_id: str = "BTC-USD"


def test_round_trips_by_hand():
    fills = [
        F("BUY", D(100), D(1), 0, D("0.5")),
        F("BUY", D(110), D(1), 10),
        F("SELL", D(120), D(2), 20, D("1")),  # long 2 @ 105 -> sold @ 120: +30 - 1.5
        F("SELL", D(120), D(1), 30),  # short 1
        F("BUY", D(130), D(3), 40, D("0.3")),  # covers at 130 (-10 - 0.1), opens long 2
        F("SELL", D(125), D(2), 50),  # long 2 @ 130 -> 125: -10 - 0.2
    ]
    trips = round_trips(fills)
    assert [(t.direction, t.entry_time, t.exit_time, t.size) for t in trips] == [
        ("long", 0, 20, D(2)),
        ("short", 30, 40, D(1)),
        ("long", 40, 50, D(2)),
    ]
    assert [t.pnl for t in trips] == [D("28.5"), D("-10.1"), D("-10.2")]
    assert trips[0].entry_price == D(105) and trips[0].exit_price == D(120)
    assert win_rate(trips) == 1 / 3
    assert profit_factor(trips) == float(D("28.5") / D("20.3"))


def test_an_open_trade_is_reported_open_and_not_counted_as_a_win():
    trips = round_trips([F("BUY", D(100), D(1), 0)])
    assert len(trips) == 1 and not trips[0].closed and trips[0].exit_price is None
    assert win_rate(trips) is None and profit_factor(trips) is None


def test_exposure_is_the_time_with_a_trade_open():
    trips = round_trips([F("BUY", D(1), D(1), 10), F("SELL", D(1), D(1), 30),
                         F("SELL", D(1), D(1), 60)])  # fmt: skip
    assert exposure(trips, 0, 100) == (20 + 40) / 100


def test_drawdown_depth_and_duration_by_hand():
    curve = [(0.0, 100.0), (1, 120.0), (2, 90.0), (3, 100.0), (4, 121.0), (5, 110.0)]
    dd = max_drawdown_span(curve)
    assert dd is not None
    assert dd.depth == 0.25 and dd.peak_time == 1 and dd.trough_time == 2
    assert dd.recovery_time == 4 and dd.duration == 3
    never = max_drawdown_span([(0.0, 100.0), (5, 50.0), (9, 60.0)])
    assert never is not None and never.recovery_time is None and never.duration == 9


def test_sharpe_sortino_by_hand():
    rets = [0.01, -0.01, 0.02, 0.0]
    mu = 0.005
    sd = math.sqrt(((0.005**2) + (0.015**2) + (0.015**2) + (0.005**2)) / 3)
    assert math.isclose(sharpe(rets, 4) or 0, mu / sd * 2)
    down = math.sqrt(0.01**2 / 4)
    assert math.isclose(sortino(rets, 4) or 0, mu / down * 2)
    assert sharpe([0.01, 0.01, 0.01], 365) is None  # no variation: undefined, not infinite
    assert sortino([0.01, 0.02], 365) is None  # no losing period


def test_calmar_by_hand():
    # one year, +10 %, with a 20 % drawdown on the way
    curve = [(0.0, 100.0), (YEAR / 2, 80.0), (YEAR, 110.0)]
    assert math.isclose(calmar(curve) or 0, 0.10 / 0.20)


def test_resample_carries_the_last_value_forward():
    pts = [(0.0, 1.0), (5.0, 2.0), (25.0, 3.0), (31.0, 4.0)]
    assert resample(pts, 10) == [2.0, 2.0, 3.0, 4.0]
    assert returns([100.0, 110.0, 99.0]) == [0.10000000000000009, -0.09999999999999998]


def test_analyse_puts_it_together():
    fills = [F("BUY", D(100), D(1), 0), F("SELL", D(110), D(1), 600)]
    curve = [(float(t), 1000.0 + t / 60) for t in range(0, 1201, 60)]
    a = analyse(fills, curve, period=60)
    assert a.closed_trades == 1 and a.win_rate == 1.0 and a.exposure == 0.5
    assert a.pnl == 20.0 and a.max_drawdown == 0.0
    assert a.sharpe is not None and a.sharpe > 0 and a.sortino is None  # never lost


equities = st.lists(st.floats(min_value=1.0, max_value=1e6), min_size=1, max_size=40)


@given(equities)
def test_drawdown_is_a_fraction_and_its_span_is_ordered(values):
    curve = [(float(i), v) for i, v in enumerate(values)]
    dd = max_drawdown_span(curve)
    assert dd is not None and 0.0 <= dd.depth < 1.0
    assert dd.peak_time <= dd.trough_time
    assert 0 <= dd.duration <= curve[-1][0]
    if all(b >= a for a, b in zip(values, values[1:], strict=False)):
        assert dd.depth == 0.0


sides = st.sampled_from(["BUY", "SELL"])
sizes = st.integers(1, 5).map(D)
px = st.integers(50, 150).map(D)


@given(st.lists(st.tuples(sides, px, sizes), min_size=1, max_size=20))
def test_closed_trades_pnl_adds_up_to_cash_when_flat(rows):
    fills = [F(s, p, q, float(i), q / 10) for i, (s, p, q) in enumerate(rows)]
    trips = round_trips(fills)
    net = sum((q if s == "BUY" else -q for s, _, q in rows), D(0))
    assert sum(1 for t in trips if not t.closed) == (0 if net == 0 else 1)
    assert sum(t.fills for t in trips) >= len(fills)
    if net == 0:
        cash = sum(((-p * q) if s == "BUY" else p * q for s, p, q in rows), D(0))
        fees = sum((q / 10 for _, _, q in rows), D(0))
        assert sum((t.pnl for t in trips), D(0)) == cash - fees
    wr = win_rate(trips)
    assert wr is None or 0.0 <= wr <= 1.0
    e = exposure(trips, 0.0, float(len(rows)))
    assert e is not None and 0.0 <= e <= 1.0
