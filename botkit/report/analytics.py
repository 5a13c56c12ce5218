"""Per-trade analytics of a backtest or paper session (pure; docs/research.md "Analytics").

From the fills and the equity curve a report already holds:

* **round trips** (:func:`round_trips`): a trade opens when a product's position
  (from fills, relative to where the session started) leaves zero and closes when it
  returns to zero; a fill that flips the position closes one trade and opens the next
  with the rest. PnL is what the trade's sells brought minus what its buys cost, fees
  included, in quote (``Decimal``);
* **win rate**, **profit factor** (gross profit / gross loss);
* from the equity curve resampled to a fixed period (:func:`resample`): **Sharpe**,
  **Sortino** (annualised from per-period simple returns, 365-day year: crypto trades
  every day), **Calmar** (annualised return / max drawdown), **max drawdown** and its
  **duration** (peak to recovery, or to the end when it never recovered);
* **exposure**: the fraction of the session with an open trade.

Ratios are ``float`` (statistics, not money); money stays ``Decimal``. A ratio that
cannot be computed (no trades, no losing period, a flat curve) is ``None``, never a
made-up 0 or infinity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

__all__ = [
    "Analytics",
    "DrawdownSpan",
    "RoundTrip",
    "analyse",
    "calmar",
    "exposure",
    "max_drawdown_span",
    "profit_factor",
    "resample",
    "returns",
    "round_trips",
    "sharpe",
    "sortino",
    "win_rate",
]

YEAR = 365 * 86_400.0
_ZERO = Decimal(0)


class FillLike(Protocol):
    """What :func:`round_trips` reads from a fill (``paper.records.FillRecord`` has it)."""

    @property
    def product_id(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def size(self) -> Decimal: ...
    @property
    def fee(self) -> Decimal: ...
    @property
    def time(self) -> float: ...


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One trade, flat to flat: ``direction`` is ``long`` or ``short``."""

    product_id: str
    direction: str
    entry_time: float
    exit_time: float | None  # None: still open at the end of the session
    size: Decimal  # the largest absolute position reached
    entry_price: Decimal  # size-weighted average of the fills that opened it
    exit_price: Decimal | None  # size-weighted average of the fills that closed it
    pnl: Decimal  # sells - buys - fees, quote; for an open trade: realised part only
    fees: Decimal
    fills: int

    @property
    def closed(self) -> bool:
        """Whether the position came back to zero."""
        return self.exit_time is not None


@dataclass
class _Open:
    direction: str
    entry_time: float
    position: Decimal = _ZERO
    peak: Decimal = _ZERO
    cash: Decimal = _ZERO
    fees: Decimal = _ZERO
    in_size: Decimal = _ZERO
    in_value: Decimal = _ZERO
    out_size: Decimal = _ZERO
    out_value: Decimal = _ZERO
    fills: int = 0


def _close(o: _Open, pid: str, t: float | None) -> RoundTrip:
    return RoundTrip(
        pid,
        o.direction,
        o.entry_time,
        t,
        o.peak,
        o.in_value / o.in_size if o.in_size else _ZERO,
        o.out_value / o.out_size if o.out_size else None,
        o.cash - o.fees if t is not None else o.out_value - o.fees,
        o.fees,
        o.fills,
    )


def round_trips(fills: Sequence[FillLike]) -> list[RoundTrip]:
    """Flat-to-flat trades from fills (oldest first), per product, in order of entry.

    A fill that crosses zero is split in proportion: its fee too.
    """
    trips: list[RoundTrip] = []
    open_: dict[str, _Open] = {}
    for f in sorted(fills, key=lambda f: f.time):
        if f.size <= 0:
            continue
        sign = 1 if f.side.upper() == "BUY" else -1
        remaining = f.size
        while remaining > 0:
            cur = open_.get(f.product_id)
            if cur is None:
                cur = open_[f.product_id] = _Open("long" if sign > 0 else "short", f.time)
            closing = (cur.position > 0 and sign < 0) or (cur.position < 0 and sign > 0)
            take = min(remaining, abs(cur.position)) if closing else remaining
            share = take / f.size
            fee = f.fee * share
            cur.fills += 1
            cur.fees += fee
            cur.cash -= sign * take * f.price
            if closing:
                cur.out_size += take
                cur.out_value += take * f.price
            else:
                cur.in_size += take
                cur.in_value += take * f.price
            cur.position += sign * take
            cur.peak = max(cur.peak, abs(cur.position))
            remaining -= take
            if cur.position == 0:
                trips.append(_close(cur, f.product_id, f.time))
                del open_[f.product_id]
    trips.extend(_close(o, pid, None) for pid, o in open_.items())
    trips.sort(key=lambda r: r.entry_time)
    return trips


def win_rate(trips: Sequence[RoundTrip]) -> float | None:
    """Share of closed trades with a positive PnL (None without a closed trade)."""
    closed = [t for t in trips if t.closed]
    return sum(1 for t in closed if t.pnl > 0) / len(closed) if closed else None


def profit_factor(trips: Sequence[RoundTrip]) -> float | None:
    """Gross profit / gross loss of closed trades (None without a loss to divide by)."""
    closed = [t for t in trips if t.closed]
    gain = sum((t.pnl for t in closed if t.pnl > 0), _ZERO)
    loss = -sum((t.pnl for t in closed if t.pnl < 0), _ZERO)
    return float(gain / loss) if loss > 0 else None


def resample(points: Sequence[tuple[float, float]], period: float) -> list[float]:
    """The curve's last value in each ``period`` from the first point (carried forward
    over periods without a point): a regular series for per-period returns."""
    if not points or period <= 0:
        return []
    t0 = points[0][0]
    out: list[float] = []
    value = points[0][1]
    bucket = 0
    for t, v in points:
        k = int((t - t0) // period)
        while bucket < k:
            out.append(value)
            bucket += 1
        value = v
    out.append(value)
    return out


def returns(values: Sequence[float]) -> list[float]:
    """Simple returns between consecutive values (a zero or negative base ends the series:
    a return from nothing is undefined)."""
    out: list[float] = []
    for a, b in zip(values, values[1:], strict=False):
        if a <= 0:
            break
        out.append(b / a - 1.0)
    return out


def _mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs)


def sharpe(rets: Sequence[float], periods_per_year: float) -> float | None:
    """Mean / sample standard deviation of returns, times sqrt(periods per year)
    (risk-free rate 0). None with fewer than two returns or no variation."""
    if len(rets) < 2:
        return None
    mu = _mean(rets)
    var = math.fsum((r - mu) ** 2 for r in rets) / (len(rets) - 1)
    if var <= 1e-24:
        return None
    return mu / math.sqrt(var) * math.sqrt(periods_per_year)


def sortino(rets: Sequence[float], periods_per_year: float) -> float | None:
    """Mean / downside deviation (root mean square of the negative returns over all
    periods, target 0), times sqrt(periods per year). None without a losing period."""
    if len(rets) < 2:
        return None
    down = math.fsum(min(r, 0.0) ** 2 for r in rets) / len(rets)
    if down <= 1e-24:
        return None
    return _mean(rets) / math.sqrt(down) * math.sqrt(periods_per_year)


@dataclass(frozen=True, slots=True)
class DrawdownSpan:
    """The deepest fall below a running peak (fraction of the peak) and how long the
    equity stayed under that peak: until it got back to it, or to the end of the curve."""

    depth: float
    peak_time: float
    trough_time: float
    recovery_time: float | None  # None: never recovered
    duration: float  # seconds from the peak to recovery (or to the end)


def max_drawdown_span(points: Sequence[tuple[float, float]]) -> DrawdownSpan | None:
    """The maximum drawdown of a ``(t, equity)`` curve and its duration (first wins ties)."""
    if not points:
        return None
    peak_t, peak = points[0]
    best = DrawdownSpan(0.0, peak_t, peak_t, peak_t, 0.0)
    level = peak
    for t, v in points:
        if v >= peak:
            peak_t, peak = t, v
            continue
        depth = (peak - v) / peak if peak > 0 else 0.0
        if depth > best.depth:
            best, level = DrawdownSpan(depth, peak_t, t, None, 0.0), peak
    if best.depth <= 0:
        return best
    recovery = next((t for t, v in points if t > best.trough_time and v >= level), None)
    end = recovery if recovery is not None else points[-1][0]
    return DrawdownSpan(best.depth, best.peak_time, best.trough_time, recovery,
                        end - best.peak_time)  # fmt: skip


def calmar(points: Sequence[tuple[float, float]]) -> float | None:
    """Annualised compound return / max drawdown (None without a drawdown or a span, or
    when annualising overflows a float: a few minutes' gain compounded over a year)."""
    if len(points) < 2:
        return None
    (t0, v0), (t1, v1) = points[0], points[-1]
    dd = max_drawdown_span(points)
    if dd is None or dd.depth <= 0 or t1 <= t0 or v0 <= 0 or v1 <= 0:
        return None
    years = (t1 - t0) / YEAR
    exponent = math.log(v1 / v0) / years
    if exponent > 700:  # a short session's gain compounded over a year: not a number
        return None
    return math.expm1(exponent) / dd.depth


def exposure(trips: Sequence[RoundTrip], start: float, end: float) -> float | None:
    """Fraction of ``[start, end]`` with a trade open (open trades run to ``end``)."""
    if end <= start:
        return None
    spans = sorted(
        (max(t.entry_time, start), min(t.exit_time if t.exit_time is not None else end, end))
        for t in trips
    )
    covered = 0.0
    cursor = start
    for a, b in spans:
        a = max(a, cursor)
        if b > a:
            covered += b - a
            cursor = b
    return covered / (end - start)


@dataclass(frozen=True, slots=True)
class Analytics:
    """Everything above for one session."""

    trades: list[RoundTrip]
    closed_trades: int
    win_rate: float | None
    profit_factor: float | None
    pnl: float | None  # equity end - start, quote (float for the objective)
    total_return: float | None  # fraction
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    exposure: float | None
    max_drawdown: float | None  # fraction of the peak
    max_drawdown_duration: float | None  # seconds
    period: float  # seconds of the resampling period


def analyse(
    fills: Sequence[FillLike],
    equity: Sequence[tuple[float, float]],
    *,
    period: float | None = None,
    start: float | None = None,
    end: float | None = None,
) -> Analytics:
    """All analytics of a session from its fills and ``(t, equity)`` curve.

    ``period`` defaults to the curve's span / 500, at least a minute (a curve sampled
    every few seconds would otherwise annualise noise).
    """
    trips = round_trips(fills)
    if equity:
        start = equity[0][0] if start is None else start
        end = equity[-1][0] if end is None else end
    span = (end - start) if start is not None and end is not None else 0.0
    if period is None:
        period = max(span / 500, 60.0)
    rets = returns(resample(equity, period))
    ppy = YEAR / period
    dd = max_drawdown_span(equity)
    first = equity[0][1] if equity else None
    last = equity[-1][1] if equity else None
    return Analytics(
        trades=trips,
        closed_trades=sum(1 for t in trips if t.closed),
        win_rate=win_rate(trips),
        profit_factor=profit_factor(trips),
        pnl=None if first is None or last is None else last - first,
        total_return=None if not first or last is None else last / first - 1.0,
        sharpe=sharpe(rets, ppy),
        sortino=sortino(rets, ppy),
        calmar=calmar(equity),
        exposure=exposure(trips, start, end) if start is not None and end is not None else None,
        max_drawdown=None if dd is None else dd.depth,
        max_drawdown_duration=None if dd is None else dd.duration,
        period=period,
    )
