"""Core ring: interval arithmetic for candle history (pure; no I/O, no clock).

An interval is ``(start, end)`` in Unix seconds, half-open: it holds the candle buckets
whose *start* lies in ``[start, end)``. A coverage list is what has been fetched — not
what has rows, since Coinbase omits buckets without trades (reference §2.9), so a hole
in the rows is not a hole in the coverage. Keeping the two apart is what makes a
re-run fetch only what was never asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from botkit.strategy.warmup import GRANULARITY_SECONDS

__all__ = [
    "GRANULARITIES",
    "Interval",
    "add",
    "align",
    "closed_end",
    "covered",
    "granularity_seconds",
    "missing",
    "month_of",
    "month_range",
    "normalize",
    "pages",
    "split_by_month",
    "warmup_window",
]

Interval = tuple[int, int]
"""``[start, end)`` in Unix seconds."""

GRANULARITIES: dict[str, int] = dict(
    sorted({**GRANULARITY_SECONDS, "FOUR_HOUR": 14400}.items(), key=lambda kv: kv[1])
)
"""Every granularity the candles endpoint takes, shortest first (FOUR_HOUR is the newer one)."""


def granularity_seconds(name: str) -> int:
    """The length of one ``name`` bucket in seconds.

    Raises:
        ValueError: not an Advanced Trade granularity (the message lists them).
    """
    try:
        return GRANULARITIES[name]
    except KeyError:
        raise ValueError(
            f"unknown granularity {name!r}; use one of {', '.join(GRANULARITIES)}"
        ) from None


def normalize(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping and touching intervals merged and empty ones dropped."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def add(coverage: Iterable[Interval], interval: Interval) -> list[Interval]:
    """``coverage`` with ``interval`` added (normalized)."""
    return normalize([*coverage, interval])


def missing(coverage: Iterable[Interval], start: int, end: int) -> list[Interval]:
    """The parts of ``[start, end)`` that ``coverage`` does not hold, oldest first."""
    holes: list[Interval] = []
    cursor = start
    for lo, hi in normalize(coverage):
        if hi <= cursor:
            continue
        if lo >= end:
            break
        if lo > cursor:
            holes.append((cursor, lo))
        cursor = max(cursor, hi)
        if cursor >= end:
            break
    if cursor < end:
        holes.append((cursor, end))
    return holes


def covered(coverage: Iterable[Interval], start: int, end: int) -> bool:
    """Whether ``[start, end)`` is wholly inside ``coverage``."""
    return not missing(coverage, start, end)


def align(start: int, end: int, granularity_s: int) -> Interval:
    """``[start, end)`` widened to whole buckets: start floored, end ceiled."""
    lo = start - start % granularity_s
    hi = end if end % granularity_s == 0 else end + granularity_s - end % granularity_s
    return lo, hi


def closed_end(now: float, granularity_s: int) -> int:
    """The end of the last *closed* bucket at ``now`` (the open one is still changing)."""
    t = int(now)
    return t - t % granularity_s


def pages(holes: Iterable[Interval], granularity_s: int, per_page: int) -> list[Interval]:
    """The holes cut into requests of at most ``per_page`` buckets each, oldest first.

    Each hole is aligned to whole buckets first, so every page's ``start`` and ``end``
    are bucket boundaries and ``(end - start) / granularity`` is its bucket count.
    """
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    span = per_page * granularity_s
    out: list[Interval] = []
    for start, end in normalize(align(s, e, granularity_s) for s, e in holes):
        cursor = start
        while cursor < end:
            out.append((cursor, min(cursor + span, end)))
            cursor += span
    return out


def month_of(ts: int) -> str:
    """``YYYY-MM`` (UTC) of a Unix time: the name of the file its candle lives in."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


def month_range(month: str) -> Interval:
    """``[first second, first second of the next month)`` of ``YYYY-MM`` (UTC)."""
    year, mon = (int(x) for x in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=UTC)
    nxt = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp()), int(nxt.timestamp())


def split_by_month(interval: Interval) -> list[tuple[str, Interval]]:
    """``interval`` cut at month boundaries: ``(YYYY-MM, part)`` oldest first."""
    start, end = interval
    out: list[tuple[str, Interval]] = []
    while start < end:
        month = month_of(start)
        m_end = month_range(month)[1]
        out.append((month, (start, min(end, m_end))))
        start = m_end
    return out


def warmup_window(now: float, candles: int, granularity_s: int) -> Interval:
    """The last ``candles`` closed buckets at ``now``: what a warm-up replays."""
    end = closed_end(now, granularity_s)
    return end - candles * granularity_s, end
