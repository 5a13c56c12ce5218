"""The hole arithmetic behind resumable downloads, checked against a set-of-seconds model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botkit.history.ranges import (
    GRANULARITIES,
    add,
    align,
    closed_end,
    covered,
    granularity_seconds,
    missing,
    month_of,
    month_range,
    normalize,
    pages,
    split_by_month,
    warmup_window,
)

# small integer intervals: a brute-force model (the set of covered points) stays cheap
point = st.integers(0, 200)
interval = st.tuples(point, point).map(lambda t: (min(t), max(t)))
intervals = st.lists(interval, max_size=8)


def points(spans: list[tuple[int, int]]) -> set[int]:
    return {x for a, b in spans for x in range(a, b)}


@given(intervals)
def test_normalize_keeps_the_points_and_leaves_disjoint_sorted_spans(spans) -> None:
    out = normalize(spans)
    assert points(out) == points(spans)
    assert all(a < b for a, b in out)
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(out, out[1:], strict=False))  # not touching


@given(intervals, point, point)
def test_missing_is_exactly_the_uncovered_part_of_the_window(spans, a, b) -> None:
    start, end = min(a, b), max(a, b)
    holes = missing(spans, start, end)
    assert points(holes) == set(range(start, end)) - points(spans)
    assert holes == normalize(holes)  # disjoint, sorted, no empty piece
    assert covered(add(spans, (start, end)), start, end)
    assert missing([*spans, *holes], start, end) == []  # fetching the holes completes it


@given(intervals, st.sampled_from([60, 300, 3600]), st.integers(1, 7))
def test_pages_cover_the_holes_in_whole_buckets_of_at_most_per_page(spans, g, per_page) -> None:
    holes = [(a * 97, b * 97) for a, b in spans]  # not aligned to g on purpose
    got = pages(holes, g, per_page)
    for lo, hi in got:
        assert lo % g == 0 and hi % g == 0 and 0 < (hi - lo) // g <= per_page
    assert got == sorted(got)
    assert points(normalize(got)) >= points(holes)  # nothing missing after aligning
    # no page overlaps another (no bucket fetched twice in one run)
    assert all(h1 <= l2 for (_, h1), (l2, _) in zip(got, got[1:], strict=False))


@given(st.integers(0, 4_000_000_000), st.sampled_from(sorted(GRANULARITIES.values())))
def test_align_and_closed_end(t, g) -> None:
    lo, hi = align(t, t + 1, g)
    assert lo <= t < hi and lo % g == 0 and hi - lo == g
    end = closed_end(t + 0.5, g)
    assert end % g == 0 and end <= t < end + g


@given(st.integers(0, 4_000_000_000), st.integers(0, 100 * 86400))
def test_split_by_month_tiles_the_interval_at_utc_month_starts(start, length) -> None:
    parts = split_by_month((start, start + length))
    spans = [p[1] for p in parts]
    assert all(b == a2 for (_, b), (a2, _) in zip(spans, spans[1:], strict=False))  # contiguous
    assert len({m for m, _ in parts}) == len(parts)  # one piece per month
    assert sum(b - a for _, (a, b) in parts) == length
    for month, (a, b) in parts:
        m_lo, m_hi = month_range(month)
        assert m_lo <= a < b <= m_hi and month_of(a) == month


def test_month_edges_are_utc() -> None:
    jan = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    assert month_of(jan - 1) == "2025-12" and month_of(jan) == "2026-01"
    assert month_range("2025-12") == (jan - 31 * 86400, jan)


def test_warmup_window_is_the_last_closed_buckets() -> None:
    assert warmup_window(1000.5, 3, 60) == (960 - 180, 960)  # 960..1020 is still open
    assert warmup_window(960, 2, 60) == (840, 960)


def test_unknown_granularity_names_the_good_ones() -> None:
    assert granularity_seconds("FOUR_HOUR") == 14400
    with pytest.raises(ValueError, match="ONE_MINUTE"):
        granularity_seconds("1m")
