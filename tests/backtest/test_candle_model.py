"""The candle fill model's rules, case by case (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botkit.backtest.candle_model import (
    FillModel,
    intrabar_path,
    limit_fills,
    market_price,
    stop_triggers,
)

D = Decimal


def test_limits_fill_only_when_traded_through():
    assert not limit_fills("BUY", D(100), high=D(105), low=D(100))
    assert limit_fills("BUY", D(100), high=D(105), low=D("99.99"))
    assert not limit_fills("SELL", D(105), high=D(105), low=D(100))
    assert limit_fills("SELL", D(105), high=D("105.01"), low=D(100))


def test_stops_trigger_at_touch():
    assert stop_triggers("STOP_DIRECTION_STOP_DOWN", D(100), high=D(105), low=D(100))
    assert not stop_triggers("STOP_DIRECTION_STOP_DOWN", D(100), high=D(105), low=D("100.01"))
    assert stop_triggers("STOP_DIRECTION_STOP_UP", D(105), high=D(105), low=D(100))
    assert not stop_triggers("STOP_DIRECTION_STOP_UP", D(105), high=D("104.99"), low=D(100))


def test_market_price_moves_against_the_taker_and_rounds_against_it():
    tick = D("0.01")
    assert market_price("BUY", D(300), D(10), tick) == D("300.30")
    assert market_price("SELL", D(400), D(10), tick) == D("399.60")
    assert market_price("BUY", D("100.01"), D(1), tick) == D("100.03")  # 100.020001 -> up
    assert market_price("SELL", D("100.01"), D(1), tick) == D("99.99")  # 99.999999 -> down
    assert market_price("BUY", D(100), D(0), tick) == D(100)


def test_intrabar_order_by_direction_and_pessimistic_by_position():
    o, h, lo, c = D(100), D(110), D(90), D(105)
    assert intrabar_path(o, h, lo, c) == (o, h, lo, c)  # up candle: high first
    assert intrabar_path(o, h, lo, D(95)) == (o, lo, h, D(95))  # down candle: low first
    long_ = intrabar_path(o, h, lo, c, intrabar="pessimistic", position=D(1))
    short = intrabar_path(o, h, lo, D(95), intrabar="pessimistic", position=D(-1))
    assert long_ == (o, lo, h, c)  # long: the low (its stop) first, even on an up candle
    assert short == (o, h, lo, D(95))
    assert intrabar_path(o, h, lo, c, intrabar="pessimistic") == (o, h, lo, c)  # flat


def test_settings_are_checked_with_the_fix():
    with pytest.raises(ValueError, match="0.05 %"):
        FillModel(slippage_bps=D(-1))
    with pytest.raises(ValueError, match="pessimistic"):
        FillModel(intrabar="random")  # type: ignore[arg-type]


prices = st.decimals(min_value=D("0.01"), max_value=D(100000), places=2)


@given(prices, st.integers(0, 500))
def test_a_taker_never_gets_a_better_price_than_the_reference(ref, bps):
    tick = D("0.01")
    assert market_price("BUY", ref, D(bps), tick) >= ref
    assert market_price("SELL", ref, D(bps), tick) <= ref


@given(prices, prices, prices, prices)
def test_the_path_starts_at_the_open_ends_at_the_close_and_visits_both_extremes(a, b, c, d):
    lo, hi = min(a, b, c, d), max(a, b, c, d)
    o, cl = b, c
    for mode in ("ohlc", "pessimistic"):
        path = intrabar_path(o, hi, lo, cl, intrabar=mode, position=D(1))
        assert path[0] == o and path[-1] == cl and set(path[1:3]) == {hi, lo}
