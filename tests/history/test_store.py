"""The on-disk layout of docs/data.md: exact round trips, the coverage index, crash safety."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest

from botkit.history.store import (
    iter_rows,
    list_series,
    load_candles,
    parquet_available,
    read_coverage,
    read_month,
    series_dir,
    store_candles,
)

JAN = 1767225600  # 2026-01-01T00:00Z
FEB = 1769904000  # 2026-02-01T00:00Z


def rows(start: int, n: int, g: int = 60) -> list[tuple[int, str, str, str, str, str]]:
    # decimal strings with trailing zeros and tiny values: kept as sent, never floated
    return [
        (
            start + i * g,
            f"{100 + i}.10",
            f"{101 + i}.00",
            f"{99 + i}.5",
            f"{100 + i}.25",
            "0.00000001",
        )
        for i in range(n)
    ]


def test_jsonl_month_files_hold_exact_decimal_strings_and_coverage(tmp_path: Path) -> None:
    d = series_dir(tmp_path, "BTC-USD", "ONE_MINUTE")
    # one page across the month edge; a bucket without trades at FEB - 60 is simply absent
    page = [r for r in rows(FEB - 300, 10) if r[0] != FEB - 60]
    assert store_candles(d, "ONE_MINUTE", [((FEB - 300, FEB + 300), page)]) == 9
    assert sorted(p.name for p in d.iterdir()) == [
        "2026-01.jsonl.gz",
        "2026-02.jsonl.gz",
        "coverage.json",
    ]
    line = gzip.decompress((d / "2026-01.jsonl.gz").read_bytes()).splitlines()[0]
    assert json.loads(line) == {
        "start": FEB - 300, "open": "100.10", "high": "101.00", "low": "99.5",
        "close": "100.25", "volume": "0.00000001",
    }  # fmt: skip
    assert read_coverage(d) == {"2026-01": [(FEB - 300, FEB)], "2026-02": [(FEB, FEB + 300)]}
    candles = list(load_candles(tmp_path, "BTC-USD", "ONE_MINUTE", FEB - 300, FEB + 300))
    assert [int(c.start) for c in candles] == [r[0] for r in page]
    assert candles[0].high == Decimal("101.00") and str(candles[0].volume) == "1E-8"
    assert all(c.product_id == "BTC-USD" for c in candles)
    # the window is half-open and crosses files
    assert [r[0] for r in iter_rows(tmp_path, "BTC-USD", "ONE_MINUTE", FEB - 120, FEB + 60)] == [
        FEB - 120, FEB,
    ]  # fmt: skip


def test_a_refetched_bucket_replaces_the_stored_one_and_rows_outside_the_page_are_dropped(
    tmp_path: Path,
) -> None:
    d = series_dir(tmp_path, "BTC-USD", "ONE_MINUTE")
    store_candles(d, "ONE_MINUTE", [((JAN, JAN + 180), rows(JAN, 3))])
    late = (JAN + 60, "1", "2", "0.5", "1.5", "7")
    outside = (JAN + 600, "1", "1", "1", "1", "1")  # a server answering beyond the asked end
    assert store_candles(d, "ONE_MINUTE", [((JAN + 60, JAN + 120), [late, outside])]) == 0
    assert read_month(d, "2026-01") == [rows(JAN, 3)[0], late, rows(JAN, 3)[2]]


def test_rows_written_without_their_coverage_entry_are_fetched_again_not_lost(
    tmp_path: Path,
) -> None:
    """The crash window between the month file and the index: the index never claims more."""
    d = series_dir(tmp_path, "BTC-USD", "ONE_MINUTE")
    store_candles(d, "ONE_MINUTE", [((JAN, JAN + 600), rows(JAN, 10))])
    (d / "coverage.json").unlink()  # as if the process died right after the rows
    assert read_coverage(d) == {}  # nothing is claimed, so a download plans the whole range
    [info] = list_series(tmp_path)  # listed: rows on disk, nothing covered
    assert (info.rows, info.buckets, info.first) == (10, 0, None)
    store_candles(d, "ONE_MINUTE", [((JAN, JAN + 600), rows(JAN, 10))])
    assert len(read_month(d, "2026-01")) == 10  # merged, not duplicated


def test_list_series_reports_range_holes_rows_and_empty_buckets(tmp_path: Path) -> None:
    d = series_dir(tmp_path, "ETH-USD", "ONE_HOUR", "sim")
    store_candles(d, "ONE_HOUR", [((JAN, JAN + 5 * 3600), rows(JAN, 4, 3600))])
    store_candles(
        d, "ONE_HOUR", [((JAN + 8 * 3600, JAN + 10 * 3600), rows(JAN + 8 * 3600, 2, 3600))]
    )
    [info] = list_series(tmp_path)
    assert info.doc() == {
        "source": "sim", "product": "ETH-USD", "granularity": "ONE_HOUR",
        "start": JAN, "end": JAN + 10 * 3600, "rows": 6, "covered_buckets": 7,
        "empty_buckets": 1, "holes": [[JAN + 5 * 3600, JAN + 8 * 3600]],
        "formats": ["jsonl"], "files": 1,
    }  # fmt: skip


@pytest.mark.skipif(not parquet_available(), reason="the parquet extra (pyarrow) is not installed")
def test_parquet_round_trip_is_exact_and_replaces_the_jsonl_month(tmp_path: Path) -> None:
    d = series_dir(tmp_path, "BTC-USD", "ONE_MINUTE")
    store_candles(d, "ONE_MINUTE", [((JAN, JAN + 300), rows(JAN, 5))])
    as_jsonl = list(load_candles(tmp_path, "BTC-USD", "ONE_MINUTE", JAN, FEB))
    store_candles(d, "ONE_MINUTE", [((JAN + 300, JAN + 600), rows(JAN + 300, 5))], "parquet")
    assert sorted(p.name for p in d.iterdir()) == ["2026-01.parquet", "coverage.json"]
    got = list(load_candles(tmp_path, "BTC-USD", "ONE_MINUTE", JAN, FEB))
    assert got[:5] == as_jsonl and [int(c.start) for c in got] == [JAN + 60 * i for i in range(10)]
    assert [str(c.open) for c in got[:2]] == ["100.10", "101.10"]  # strings kept as sent
    [info] = list_series(tmp_path)
    assert info.formats == {"parquet"} and info.rows == 10
