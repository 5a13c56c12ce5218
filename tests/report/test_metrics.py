"""Report numbers on a hand-built journal, each worked out by hand (see sessions.py)."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botkit.paper.journal import PaperJournal
from botkit.paper.records import BalanceRecord, EquityPoint
from botkit.report import build_report
from botkit.report.metrics import compute, drawdown_series, max_drawdown, time_in_market
from tests.report.sessions import STRATEGY, T0, write_session


@pytest.fixture
def report_path(tmp_path: Path) -> Path:
    return write_session(tmp_path / "session.sqlite")


def test_hand_computed_numbers(report_path: Path) -> None:
    r = build_report(report_path)
    assert r.strategy == STRATEGY and r.quote == "USD" and r.products == ["BTC-USD"]
    assert (r.start_time, r.end_time) == (T0, T0 + 100)
    # equity 1000 -> 1020
    assert (r.initial_equity, r.final_equity, r.pnl, r.pnl_pct) == (D(1000), D(1020), D(20), D(2))
    assert r.fees == D("1.87")  # 0.4 + 0.4 + 0.44 + 0.63
    # 1015 (t=30) -> 990 (t=40) is 25 = 2.46 %; 1030 (t=80) -> 1000 (t=90) is 30 = 2.91 %: the max
    dd = r.max_drawdown
    assert dd is not None
    assert (dd.amount, dd.peak_time, dd.trough_time) == (D(30), T0 + 80, T0 + 90)
    assert (dd.peak_equity, dd.trough_equity) == (D(1030), D(1000))
    assert dd.pct == D(30) / D(1030) * 100
    assert r.orders_by_status == {"CANCELLED": 1, "FAILED": 1, "FILLED": 2, "OPEN": 1}
    assert (r.n_orders, r.n_fills) == (5, 4)
    # limit + market orders, the rejected (FAILED) post-only one left out: o1 2/2, o2 1/2,
    # o3 1/1, o5 0/1 -> 4 of 6; 3 of those 4 orders had a fill
    assert (r.ordered_size, r.filled_size, r.size_fill_ratio) == (D(6), D(4), D(4) / D(6))
    assert (r.orders_considered, r.orders_with_fill, r.order_fill_ratio) == (4, 3, D("0.75"))
    # BTC held from t=15 (first buy) to t=60 (market sell) of a 0..100 session
    assert r.time_in_market == pytest.approx(0.45)
    maker, taker = r.maker, r.taker
    assert (maker.fills, maker.size, maker.volume, maker.fees) == (3, D(3), D(310), D("1.24"))
    assert (taker.fills, taker.size, taker.volume, taker.fees) == (1, D(1), D(105), D("0.63"))
    assert r.notes == []


def test_an_empty_journal_gives_a_report_that_says_so(tmp_path: Path) -> None:
    PaperJournal(tmp_path / "empty.sqlite").close()
    r = build_report(tmp_path / "empty.sqlite")
    assert (r.n_orders, r.n_fills, r.fees) == (0, 0, D(0))
    assert r.final_equity is None and r.pnl is None and r.max_drawdown is None
    assert r.size_fill_ratio is None and r.order_fill_ratio is None and r.time_in_market is None
    assert any("No fills" in n for n in r.notes) and any("No equity" in n for n in r.notes)


def test_no_fills_but_an_equity_curve(tmp_path: Path) -> None:
    with PaperJournal(tmp_path / "j.sqlite") as j:
        j.write_meta(strategy="idle", products=["ETH-USD"], quote="USD")
        for t, e in ((0.0, "500"), (5.0, "500")):
            j.record_equity(EquityPoint(t, D(e), "USD", {"ETH-USD": D("2000")}))
    r = build_report(tmp_path / "j.sqlite")
    assert r.pnl == 0 and r.max_drawdown is not None and r.max_drawdown.amount == 0
    assert r.time_in_market == 0.0  # the session spans 0..5 from the equity points
    assert [n for n in r.notes if "No fills" in n]


def test_time_in_market_starts_from_the_initial_portfolio() -> None:
    hist = [BalanceRecord("ETH", D(0), D(0), 40.0), BalanceRecord("ETH", D("0.5"), D(0), 70.0)]
    # held from 0 (initial 1 ETH) to 40, then from 70 to the end (100)
    assert time_in_market(hist, {"ETH"}, {"ETH": D(1)}, 0.0, 100.0) == pytest.approx(0.7)
    assert time_in_market(hist, {"ETH"}, {}, 0.0, 100.0) == pytest.approx(0.3)
    assert time_in_market([], {"ETH"}, {}, 5.0, 5.0) is None  # an empty span
    # another currency (not a base of the traded products) does not count
    usd = [BalanceRecord("USD", D(1), D(0), 10.0)]
    assert time_in_market(usd, {"ETH"}, {}, 0.0, 100.0) == 0.0
    r = compute(journal="x", meta={"products": ["ETH-USD"], "initial_balances": {"ETH": "1"},
                                   "start_time": 0.0, "end_time": 100.0},
                orders=[], fills=[], history=hist, equity=[])  # fmt: skip
    assert r.time_in_market == pytest.approx(0.7)


def _points(values: list[int]) -> list[EquityPoint]:
    return [EquityPoint(float(i), D(v), "USD") for i, v in enumerate(values)]


@given(st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=40))
def test_max_drawdown_is_the_deepest_fall_after_a_peak(values: list[int]) -> None:
    dd = max_drawdown(_points(values))
    assert dd is not None
    falls = [(D(values[i] - values[j]) / values[i] * 100, D(values[i] - values[j]))
             for i in range(len(values)) for j in range(i, len(values))]  # fmt: skip
    assert dd.pct == max(f[0] for f in falls)
    assert dd.amount == dd.peak_equity - dd.trough_equity
    assert dd.peak_time <= dd.trough_time
    assert (dd.pct, dd.amount) in falls


def test_drawdown_series_and_pct() -> None:
    series = drawdown_series(_points([100, 120, 90, 130]))
    assert series == [(0.0, 0.0), (1.0, 0.0), (2.0, -25.0), (3.0, 0.0)]
    dd = max_drawdown(_points([100, 120, 90, 130]))
    assert dd is not None and dd.pct == D(25)
    negative = max_drawdown(_points([0, -10]))
    assert negative is not None and negative.amount == 10 and negative.pct is None
    # ranked by percent: 100 -> 50 (50 %) beats 1000 -> 600 (400 in amount, 40 %)
    deeper = max_drawdown(_points([100, 50, 1000, 600]))
    assert deeper is not None and (deeper.pct, deeper.amount) == (D(50), D(50))
