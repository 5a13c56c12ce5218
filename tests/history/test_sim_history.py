"""The simulator's made-up past: deterministic, consistent across granularities, joined
to the seeded day without a jump, and empty when the config asks for no history."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.sim.exchange import SimExchange
from botkit.sim.specs import SimMarketConfig

T0 = 1_765_000_000.0
BTC = "BTC-USD"
DAY = 86_400
EX = SimExchange(SimMarketConfig(), seed=7, start_time=T0)
FIRST = int(T0) // 60 * 60 - 24 * 60 * 60  # the first seeded minute (history_minutes = 1 day)


def test_the_same_simulator_makes_up_the_same_past_whatever_was_asked_before() -> None:
    window = (FIRST - 40 * DAY, FIRST - 40 * DAY + 300 * 60)
    other = SimExchange(SimMarketConfig(), seed=7, start_time=T0)
    other.candles(BTC, FIRST - 90 * DAY, FIRST - 89 * DAY, 3600)  # a different cache history
    assert EX.candles(BTC, *window, 60) == other.candles(BTC, *window, 60)
    assert len(EX.candles(BTC, *window, 60)) == 300  # every minute of a liquid market
    differs = SimExchange(SimMarketConfig(), seed=8, start_time=T0)
    assert differs.candles(BTC, *window, 60) != EX.candles(BTC, *window, 60)


def test_the_made_up_past_joins_the_seeded_day_without_a_jump() -> None:
    minutes = EX.candles(BTC, FIRST - 120, FIRST + 120, 60)[::-1]  # oldest first
    assert [int(c["start"]) for c in minutes] == [FIRST - 120, FIRST - 60, FIRST, FIRST + 60]
    assert all(a["close"] == b["open"] for a, b in zip(minutes, minutes[1:], strict=False))


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 200),  # days before the seeded day
    st.sampled_from([300, 900, 3600, 14400, 86400]),
)
def test_every_granularity_is_the_aggregate_of_its_minutes(days_back: int, g: int) -> None:
    start = (FIRST - days_back * DAY) // g * g
    [bucket] = EX.candles(BTC, start, start + g, g)
    minutes = EX.candles(BTC, start, start + g, 60)[::-1]
    assert len(minutes) == g // 60
    assert bucket["open"] == minutes[0]["open"] and bucket["close"] == minutes[-1]["close"]
    assert Decimal(bucket["high"]) == max(Decimal(m["high"]) for m in minutes)
    assert Decimal(bucket["low"]) == min(Decimal(m["low"]) for m in minutes)
    assert Decimal(bucket["volume"]) == sum(Decimal(m["volume"]) for m in minutes)
    for m in minutes:
        lo, hi = Decimal(m["low"]), Decimal(m["high"])
        assert lo <= min(Decimal(m["open"]), Decimal(m["close"]))
        assert hi >= max(Decimal(m["open"]), Decimal(m["close"]))


def test_the_bucket_holding_the_first_seeded_minute_spans_both() -> None:
    g = 3600
    start = FIRST // g * g
    [bucket] = EX.candles(BTC, start, start + g, g)
    minutes = EX.candles(BTC, start, start + g, 60)
    assert Decimal(bucket["volume"]) == sum(Decimal(m["volume"]) for m in minutes)
    assert any(int(m["start"]) < FIRST for m in minutes) and any(
        int(m["start"]) >= FIRST for m in minutes
    )


def test_no_seeded_history_means_no_made_up_past() -> None:
    empty = SimExchange(SimMarketConfig(history_minutes=0), seed=7, start_time=T0)
    assert empty.candles(BTC, int(T0) - 3 * 3600, int(T0), 60) == []
