"""Seeded synthetic candles: a random walk to try backtests and optimisation offline (pure).

Real studies run on downloaded history (``botkit download``); tests, benchmarks and the
first walk through the docs need data that is there on a fresh machine and identical
every time, which a seeded walk is.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

from botkit.backtest.candles import CandleSeries

__all__ = ["synthetic_series"]


def synthetic_series(
    n: int,
    *,
    seed: int = 1,
    product_id: str = "BTC-USD",
    granularity: int = 60,
    start: int = 1_700_000_000,
    price: float = 30_000.0,
    volatility: float = 0.002,
    drift: float = 0.0,
) -> CandleSeries:
    """``n`` candles of a geometric random walk (``volatility`` per candle), cents precision.

    A slow sine is added to the drift so that trend-following parameters have something
    to find: the best EMA lengths are not the default ones.
    """
    rng = random.Random(seed)
    cent = Decimal("0.01")
    starts: list[int] = []
    o_: list[Decimal] = []
    h_: list[Decimal] = []
    l_: list[Decimal] = []
    c_: list[Decimal] = []
    v_: list[Decimal] = []
    close = price
    for i in range(n):
        open_ = close
        trend = drift + volatility * 0.3 * math.sin(i / 150.0)
        close = open_ * math.exp(trend + volatility * rng.gauss(0.0, 1.0))
        high = max(open_, close) * (1.0 + abs(rng.gauss(0.0, volatility / 2)))
        low = min(open_, close) * (1.0 - abs(rng.gauss(0.0, volatility / 2)))
        op, cl = Decimal(round(open_, 2)).quantize(cent), Decimal(round(close, 2)).quantize(cent)
        hi = max(Decimal(round(high, 2)).quantize(cent), op, cl)
        lo = min(Decimal(round(low, 2)).quantize(cent), op, cl)
        starts.append(start + i * granularity)
        o_.append(op)
        h_.append(hi)
        l_.append(lo)
        c_.append(cl)
        v_.append(Decimal(round(rng.uniform(0.5, 5.0), 8)).quantize(Decimal("0.00000001")))
    return CandleSeries(product_id, granularity, starts, o_, h_, l_, c_, v_)
