"""Five-minute candles from trades (venues without a candles channel: Exchange)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from botkit.market.candle_builder import CandleBuilder, trade_epoch
from botkit.market.types import MarketTrade

T0 = 1_796_000_100  # a bucket start (divisible by 300)


def trade(t: float, price: str, size: str = "0.5", pid: str = "BTC-USD") -> MarketTrade:
    iso = datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
    return MarketTrade(trade_id="1", product_id=pid, price=D(price), size=D(size), side="BUY",
                       time=iso)  # fmt: skip


def test_trades_of_one_bucket_make_one_candle_and_the_next_bucket_a_new_one() -> None:
    b = CandleBuilder()
    assert T0 % 300 == 0
    first = b.add(trade(T0 + 1, "100"))
    b.add(trade(T0 + 50, "105", "1"))
    c = b.add(trade(T0 + 299.9, "98", "0.25"))
    assert first is not None and c is not None
    assert (c.start, c.open, c.high, c.low, c.close) == (str(T0), D(100), D(105), D(98), D(98))
    assert c.volume == D("1.75")
    nxt = b.add(trade(T0 + 300, "99"))
    assert nxt is not None and nxt.start == str(T0 + 300) and nxt.open == D(99)
    assert b.add(trade(T0 + 10, "200")) is None and b.skipped == 1  # a closed bucket stays shut
    other = b.add(trade(T0 + 10, "7", pid="ETH-USD"))
    assert other is not None and other.product_id == "ETH-USD"  # per product


def test_unreadable_times_are_skipped_and_counted() -> None:
    b = CandleBuilder()
    bad = MarketTrade(trade_id="1", product_id="X", price=D(1), size=D(1), side="BUY", time="")
    assert b.add(bad) is None and b.skipped == 1
    assert trade_epoch("2026-12-06T00:00:00.123456Z") == 1796515200


@given(st.lists(st.tuples(st.integers(0, 899), st.integers(1, 10_000), st.integers(1, 100)),
                min_size=1, max_size=60))  # fmt: skip
def test_each_candle_is_the_ohlcv_of_its_buckets_trades(rows: list[tuple[int, int, int]]) -> None:
    b = CandleBuilder()
    rows.sort(key=lambda r: r[0])
    last = None
    for dt, price, size in rows:
        last = b.add(trade(T0 + dt, str(price), str(size)))
    assert last is not None
    bucket = [(p, s) for dt, p, s in rows if dt // 300 == rows[-1][0] // 300]
    assert last.start == str(T0 + rows[-1][0] // 300 * 300)
    assert last.open == bucket[0][0] and last.close == bucket[-1][0]
    assert last.high == max(p for p, _ in bucket) and last.low == min(p for p, _ in bucket)
    assert last.volume == sum(s for _, s in bucket)
