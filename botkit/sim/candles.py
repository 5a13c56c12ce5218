"""One-minute OHLCV buckets, aggregated on demand to any Coinbase granularity.

The simulator stores only 1-minute candles (seeded history plus every live
trade) and aggregates them when asked, so every granularity is consistent with
every other and with the trade tape. Buckets without trades simply do not exist,
which is also how Coinbase answers (§2.9: empty buckets are omitted).

Before the seeded history, :class:`DeepHistory` makes up minutes for *any* past
time, deterministically (the same store answers the same range with the same
candles, whatever was asked before), so ``botkit download`` can be tested over
months without the simulator holding them: each UTC day is a Brownian bridge
between two day anchors, generated from its own seeded RNG when asked.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["Candle", "CandleStore", "DeepHistory"]

_MINUTE = 60
_DAY = 86_400


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


class DeepHistory:
    """Made-up, deterministic minute candles for every minute before ``until``.

    Why: the seeded history covers a day; a download test needs months, and must get the
    same candles when it asks again (hole filling compares against the first answer).
    Each UTC day is generated on its own from ``Random(f"{key}:{day}")``, so any range
    costs only its days, and a day's candles never depend on what was asked before.

    The log price at a day boundary is a sum of slow sines (a year, a month, a week) with
    seeded phases; inside a day it is a Brownian bridge between the two boundaries, in
    ``sigma``-sized minute steps. The last (partial) day ends at ``until`` on ``anchor``,
    the open of the first seeded candle, so the history joins it without a jump. Every
    minute has a candle (a liquid market), high/low a little beyond open/close.

    Args:
        key: the seed text (the product and the simulator's start make it unique).
        until: the first minute that is *not* made up (the first seeded candle).
        anchor: the price at ``until``.
        sigma: one minute's log-price standard deviation.
        volume: the mean volume of one minute (base units).
        price_q / size_q: the quanta prices and volumes are rounded to.
    """

    _CACHE_DAYS = 16

    def __init__(
        self,
        key: str,
        until: int,
        anchor: Decimal,
        *,
        sigma: float,
        volume: Decimal,
        price_q: Decimal,
        size_q: Decimal,
    ) -> None:
        self.key = key
        self.until = until - until % _MINUTE
        self._anchor = float(anchor)
        self._sigma = sigma
        self._volume = float(volume)
        self._price_q = price_q
        self._size_q = size_q
        phases = random.Random(f"{key}:phases")
        self._waves = [
            (amp, period, phases.uniform(0.0, 2 * math.pi))
            for amp, period in ((0.25, 365.0), (0.08, 29.5), (0.03, 7.0))
        ]
        self._last_day = (self.until - 1) // _DAY
        self._ref = self._wave(self._last_day)
        self._days: OrderedDict[int, list[tuple[int, int, int, int, int, int]]] = OrderedDict()
        self._aggs: dict[tuple[int, int], list[Candle]] = {}

    def _wave(self, day: int) -> float:
        return sum(a * math.sin(2 * math.pi * day / p + ph) for a, p, ph in self._waves)

    def _day_open(self, day: int) -> float:
        """The price at the start of ``day`` (the anchor for the day of ``until``)."""
        return self._anchor * math.exp(self._wave(day) - self._ref)

    def _day(self, day: int) -> list[tuple[int, int, int, int, int, int]]:
        """The made-up minutes of ``day``: ``(start, open, high, low, close, volume)``,
        prices in ``price_q`` units and volume in ``size_q`` units (integers: exact sums
        and maxima, so an aggregated bucket equals the sum of its minutes)."""
        cached = self._days.get(day)
        if cached is not None:
            self._days.move_to_end(day)
            return cached
        start = day * _DAY
        end = min(start + _DAY, self.until)
        n = (end - start) // _MINUTE
        p0 = self._day_open(day)
        p1 = self._anchor if end == self.until else self._day_open(day + 1)
        rng = random.Random(f"{self.key}:{day}")
        gauss, uniform, sigma = rng.gauss, rng.uniform, self._sigma
        walk = [0.0]
        for _ in range(n):
            walk.append(walk[-1] + gauss(0.0, sigma))
        drift = (math.log(p1 / p0) - walk[-1]) / max(n, 1)
        pq, sq, exp = float(self._price_q), float(self._size_q), math.exp
        units = [round(p0 * exp(w + drift * i) / pq) for i, w in enumerate(walk)]
        out: list[tuple[int, int, int, int, int, int]] = []
        for i in range(n):
            o, c = units[i], units[i + 1]
            hi = max(round(max(o, c) * (1.0 + abs(gauss(0.0, sigma / 2)))), o, c)
            lo = min(round(min(o, c) * (1.0 - abs(gauss(0.0, sigma / 2)))), o, c)
            vol = int(self._volume * uniform(0.3, 1.7) / sq)
            out.append((start + i * _MINUTE, o, hi, lo, c, vol))
        self._days[day] = out
        if len(self._days) > self._CACHE_DAYS:
            self._days.popitem(last=False)
        return out

    def _candle(self, start: int, o: int, h: int, lo: int, c: int, v: int) -> Candle:
        q, sq = self._price_q, self._size_q
        return Candle(start, o * q, h * q, lo * q, c * q, v * sq)

    def minutes(self, start: float, end: float) -> list[Candle]:
        """Made-up minutes with ``start <= candle.start < min(end, until)``, oldest first."""
        return self.buckets(start, end, _MINUTE)

    def buckets(self, start: float, end: float, granularity_s: int) -> list[Candle]:
        """Made-up ``granularity_s`` buckets (a divisor of a day) starting in
        ``[start, min(end, until))``, oldest first, each aggregated from its minutes."""
        lo, hi = max(int(start), 0), min(int(math.ceil(end)), self.until)
        out: list[Candle] = []
        if hi <= lo:
            return out
        for day in range(lo // _DAY, (hi - 1) // _DAY + 1):
            key = (day, granularity_s)
            agg = self._aggs.get(key)
            if agg is None:
                agg = self._aggregate(self._day(day), granularity_s)
                if granularity_s >= 3600:  # a few per day: cheap to keep, costly to redo
                    self._aggs[key] = agg
            # copies: a caller aggregating or editing them must not change the cache
            out += [
                Candle(c.start, c.open, c.high, c.low, c.close, c.volume)
                for c in agg
                if lo <= c.start < hi
            ]
        return out

    def _aggregate(
        self, minutes: list[tuple[int, int, int, int, int, int]], g: int
    ) -> list[Candle]:
        if g == _MINUTE:
            return [self._candle(*m) for m in minutes]
        if not minutes:
            return []
        # a made-up day has every minute from the day's start: a bucket is a slice of them
        starts, opens, highs, lows, closes, vols = zip(*minutes, strict=True)
        k = g // _MINUTE
        return [
            self._candle(
                starts[i],
                opens[i],
                max(highs[i : i + k]),
                min(lows[i : i + k]),
                closes[min(i + k, len(minutes)) - 1],
                sum(vols[i : i + k]),
            )
            for i in range(0, len(minutes), k)
        ]


_TRIM_STEP = 256
"""Minutes beyond ``CandleStore.max_minutes`` held before the oldest are dropped at once."""


class CandleStore:
    """Minute candles for one product, kept sorted by start time.

    With ``deep`` (the default) and a seeded history (:meth:`put`), every minute before the
    first stored one is answered too, made up by :class:`DeepHistory` from the seeded
    candles; ``deep=False``, or a store without seeded history (``history_minutes = 0``:
    the past is empty on purpose), answers only what was stored.
    """

    def __init__(self, deep: bool = True) -> None:
        self._starts: list[int] = []
        self._by_start: dict[int, Candle] = {}
        self._deep_on = deep
        self._seeded = False
        self._deep: DeepHistory | None = None
        self.max_minutes: int | None = None
        """When set, only the latest minutes are kept (the oldest leave in steps of
        :data:`_TRIM_STEP`): a paper exchange runs for weeks in the bot's process."""

    def deep(self) -> DeepHistory | None:
        """The made-up history before the first stored minute (None when off or empty).

        Built on first use from the first stored candles: its open is the anchor, their
        mean volume the volume, their spread of returns the volatility, their decimals the
        quanta; the seed text is that first candle, so the same simulator (seed and start
        time) makes up the same past.
        """
        if not self._deep_on or not self._seeded or not self._starts:
            return None
        first = self._by_start[self._starts[0]]
        if self._deep is None or self._deep.until != first.start:
            head = [self._by_start[s] for s in self._starts[:120]]
            moves = [math.log(c.close / c.open) for c in head if c.open > 0 and c.close > 0]
            mean = sum(moves) / len(moves) if moves else 0.0
            var = sum((m - mean) ** 2 for m in moves) / max(len(moves) - 1, 1)
            volume = sum((c.volume for c in head), Decimal(0)) / len(head)

            def quantum(values: list[Decimal]) -> Decimal:
                exp = min(int(v.as_tuple().exponent) for v in values)
                return Decimal(1).scaleb(exp)

            self._deep = DeepHistory(
                f"{first.start}:{first.open}:{first.volume}",
                first.start,
                first.open,
                sigma=math.sqrt(var) or 0.0005,
                volume=volume,
                price_q=quantum([c.open for c in head] + [c.close for c in head]),
                size_q=quantum([c.volume for c in head]),
            )
        return self._deep

    def put(self, candle: Candle) -> None:
        """Insert or replace a whole minute candle (used for seeded history)."""
        self._seeded = True
        self._insert(candle)

    def _insert(self, candle: Candle) -> None:
        new = candle.start not in self._by_start
        self._by_start[candle.start] = candle
        if new:
            bisect.insort(self._starts, candle.start)
            cap = self.max_minutes
            if cap is not None and len(self._starts) > cap + _TRIM_STEP:
                drop = len(self._starts) - cap  # (a late print's minute among them too)
                for start in self._starts[:drop]:
                    self._by_start.pop(start, None)
                del self._starts[:drop]

    def record_trade(self, time: float, price: Decimal, size: Decimal) -> None:
        """Fold one trade into its minute bucket."""
        start = int(time // _MINUTE) * _MINUTE
        candle = self._by_start.get(start)
        if candle is None:
            self._insert(Candle(start, price, price, price, price, size))
            return
        if price > candle.high:
            candle.high = price
        if price < candle.low:
            candle.low = price
        candle.close = price
        candle.volume += size

    def minutes(self, start: float, end: float) -> list[Candle]:
        """Minute candles with ``start <= candle.start < end``, oldest first.

        Minutes before the first stored one come from :meth:`deep` (when on).
        """
        lo = bisect.bisect_left(self._starts, start)
        hi = bisect.bisect_left(self._starts, end)
        stored = [self._by_start[s] for s in self._starts[lo:hi]]
        deep = self.deep()
        if deep is not None and start < deep.until:
            return deep.minutes(start, min(end, deep.until)) + stored
        return stored

    def first(self) -> Candle | None:
        """The oldest *stored* candle, if any (the made-up history is not counted)."""
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
        deep = self.deep()
        if deep is not None and first_bucket < deep.until and _DAY % granularity_s == 0:
            # whole made-up buckets straight from the made-up day (integers, fast); the
            # bucket holding the first stored minute is aggregated below, minute by minute
            cut = min(deep.until - deep.until % granularity_s, end)
            for c in deep.buckets(first_bucket, cut, granularity_s):
                out[c.start] = c
            first_bucket = max(first_bucket, cut)
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
