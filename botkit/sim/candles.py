"""One-minute OHLCV buckets, aggregated on demand to any Coinbase granularity.

The simulator stores only 1-minute candles (seeded history plus every live
trade) and aggregates them when asked, so every granularity is consistent with
every other and with the trade tape. Buckets without trades simply do not exist,
which is also how Coinbase answers (§2.9: empty buckets are omitted).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["Candle", "CandleStore"]

_MINUTE = 60


@dataclass(slots=True)
class Candle:
    """OHLCV of one bucket starting at ``start`` (Unix seconds)."""

    start: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def wire(self) -> dict[str, Any]:
        """The §2.9 candle object: every value a string, ``start`` in Unix seconds."""
        return {
            "start": str(self.start),
            "low": format(self.low, "f"),
            "high": format(self.high, "f"),
            "open": format(self.open, "f"),
            "close": format(self.close, "f"),
            "volume": format(self.volume, "f"),
        }


class CandleStore:
    """Minute candles for one product, kept sorted by start time."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._by_start: dict[int, Candle] = {}

    def put(self, candle: Candle) -> None:
        """Insert or replace a whole minute candle (used for seeded history)."""
        if candle.start not in self._by_start:
            bisect.insort(self._starts, candle.start)
        self._by_start[candle.start] = candle

    def record_trade(self, time: float, price: Decimal, size: Decimal) -> None:
        """Fold one trade into its minute bucket."""
        start = int(time // _MINUTE) * _MINUTE
        candle = self._by_start.get(start)
        if candle is None:
            self.put(Candle(start, price, price, price, price, size))
            return
        if price > candle.high:
            candle.high = price
        if price < candle.low:
            candle.low = price
        candle.close = price
        candle.volume += size

    def minutes(self, start: float, end: float) -> list[Candle]:
        """Minute candles with ``start <= candle.start < end``, oldest first."""
        lo = bisect.bisect_left(self._starts, start)
        hi = bisect.bisect_left(self._starts, end)
        return [self._by_start[s] for s in self._starts[lo:hi]]

    def first(self) -> Candle | None:
        """The oldest candle, if any."""
        return self._by_start[self._starts[0]] if self._starts else None

    def query(self, start: int, end: int, granularity_s: int) -> list[Candle]:
        """Buckets of ``granularity_s`` overlapping ``[start, end)``, newest first.

        A bucket is aggregated from all of its minutes, so a window edge inside
        a bucket still reports the whole bucket, as Coinbase does.
        """
        if granularity_s < _MINUTE or granularity_s % _MINUTE:
            raise ValueError("granularity must be a positive multiple of 60 seconds")
        first_bucket = start - start % granularity_s
        out: dict[int, Candle] = {}
        for minute in self.minutes(first_bucket, end):
            bucket = minute.start - minute.start % granularity_s
            agg = out.get(bucket)
            if agg is None:
                out[bucket] = Candle(
                    bucket, minute.open, minute.high, minute.low, minute.close, minute.volume
                )
                continue
            agg.high = max(agg.high, minute.high)
            agg.low = min(agg.low, minute.low)
            agg.close = minute.close
            agg.volume += minute.volume
        return [out[b] for b in sorted(out, reverse=True)]
