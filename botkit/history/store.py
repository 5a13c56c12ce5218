"""Adapter ring: the on-disk history layout (docs/data.md), its coverage index and readers.

Layout under a history root (default ``botkit-data/history``)::

    <root>/<source>/<PRODUCT>/<GRANULARITY>/<YYYY-MM>.jsonl.gz   (or .parquet)
    <root>/<source>/<PRODUCT>/<GRANULARITY>/coverage.json
    <root>/<source>/<PRODUCT>/trades/<YYYY-MM>.jsonl.gz

A month file holds that month's candles (UTC, by bucket start), oldest first, one per
bucket, Decimal values as strings (exact; no float ever touches a price). The coverage
index records, per month file, which ``[start, end)`` ranges of bucket starts were
*fetched* — rows alone cannot say, because Coinbase omits buckets without trades. A month
file is rewritten whole (temporary file, then an atomic rename) and the index after it,
so a crash between the two only means a range is fetched again, never that one is lost.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from botkit.errors import ConfigError
from botkit.history.ranges import (
    Interval,
    granularity_seconds,
    missing,
    month_of,
    month_range,
    normalize,
    split_by_month,
)
from botkit.market.types import Candle

__all__ = [
    "COVERAGE_FILE",
    "DEFAULT_SOURCE",
    "FORMATS",
    "Row",
    "SeriesInfo",
    "iter_rows",
    "list_series",
    "load_candles",
    "load_trades",
    "parquet_available",
    "read_coverage",
    "read_month",
    "series_dir",
    "store_candles",
    "store_trades",
    "write_coverage",
]

DEFAULT_SOURCE = "coinbase"
"""The source folder for Coinbase's public Advanced Trade market data."""
COVERAGE_FILE = "coverage.json"
FORMATS = ("jsonl", "parquet")
_EXT = {"jsonl": ".jsonl.gz", "parquet": ".parquet"}
_COLUMNS = ("start", "open", "high", "low", "close", "volume")

Row = tuple[int, str, str, str, str, str]
"""One candle as stored: ``(start, open, high, low, close, volume)``, values as strings."""


def parquet_available() -> bool:
    """Whether the optional ``parquet`` extra (pyarrow) is installed."""
    return importlib.util.find_spec("pyarrow") is not None


def _need_parquet() -> None:
    if not parquet_available():
        raise ConfigError(
            "Parquet needs pyarrow: pip install 'botkit[parquet]' "
            "(or use the default --format jsonl)"
        )


def series_dir(root: Path, product: str, granularity: str, source: str = DEFAULT_SOURCE) -> Path:
    """The folder of one product's candles at one granularity."""
    granularity_seconds(granularity)  # a typo is a ValueError naming the good ones
    return root / source / product / granularity


# -- the coverage index -------------------------------------------------------------------------


def read_coverage(directory: Path) -> dict[str, list[Interval]]:
    """The fetched ranges of each month file (empty when nothing was fetched yet)."""
    path = directory / COVERAGE_FILE
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text())
    files: dict[str, list[list[int]]] = doc.get("files", {})
    return {month: normalize((int(a), int(b)) for a, b in spans) for month, spans in files.items()}


def write_coverage(directory: Path, granularity: str, coverage: dict[str, list[Interval]]) -> None:
    """Replace the index atomically (version 1, months sorted, ranges normalized)."""
    doc = {
        "version": 1,
        "granularity": granularity,
        "seconds": granularity_seconds(granularity),
        "files": {m: [list(i) for i in normalize(coverage[m])] for m in sorted(coverage)},
    }
    _atomic_write(directory / COVERAGE_FILE, json.dumps(doc, indent=1).encode())


# -- month files --------------------------------------------------------------------------------


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _month_path(directory: Path, month: str, fmt: str) -> Path:
    return directory / f"{month}{_EXT[fmt]}"


def _existing(directory: Path, month: str) -> Path | None:
    for fmt in ("parquet", "jsonl"):
        path = _month_path(directory, month, fmt)
        if path.is_file():
            return path
    return None


def _read_jsonl(path: Path) -> list[Row]:
    rows: list[Row] = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)
                rows.append(
                    (int(d["start"]), d["open"], d["high"], d["low"], d["close"], d["volume"])
                )
    return rows


def _read_parquet(path: Path) -> list[Row]:
    _need_parquet()
    import pyarrow.parquet as pq

    cols = pq.read_table(path, columns=list(_COLUMNS)).to_pydict()
    return list(zip(*(cols[c] for c in _COLUMNS), strict=True))


def read_month(directory: Path, month: str) -> list[Row]:
    """One month's rows, oldest first (whichever format the file is in)."""
    path = _existing(directory, month)
    if path is None:
        return []
    return _read_parquet(path) if path.suffix == ".parquet" else _read_jsonl(path)


def _write_jsonl(path: Path, rows: list[Row]) -> None:
    buf = io.BytesIO()
    # mtime=0: the same rows give the same bytes (a re-download does not look changed)
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        for r in rows:
            line = dict(zip(_COLUMNS, r, strict=True))
            gz.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
    _atomic_write(path, buf.getvalue())


def _write_parquet(path: Path, rows: list[Row]) -> None:
    _need_parquet()
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("start", pa.int64())] + [(c, pa.string()) for c in _COLUMNS[1:]])
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(_COLUMNS)
    table = pa.table({c: list(v) for c, v in zip(_COLUMNS, columns, strict=True)}, schema=schema)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")  # strings: zstd is ~3x snappy here
    os.replace(tmp, path)


def _write_month(directory: Path, month: str, rows: list[Row], fmt: str) -> None:
    path = _month_path(directory, month, fmt)
    if fmt == "parquet":
        _write_parquet(path, rows)
    else:
        _write_jsonl(path, rows)
    for other in FORMATS:  # a month lives in one format: converting replaces the old file
        if other != fmt:
            _month_path(directory, month, other).unlink(missing_ok=True)


def store_candles(
    directory: Path,
    granularity: str,
    fetched: Iterable[tuple[Interval, Iterable[Row]]],
    fmt: str = "jsonl",
) -> int:
    """Merge fetched pages into their month files, then mark them covered; new rows returned.

    Each item is a requested ``[start, end)`` and the rows it answered. Rows outside their
    request are dropped (a server may answer a bucket at ``end``); a bucket fetched again
    replaces the stored one (a late trade can change a candle Coinbase already served).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    directory.mkdir(parents=True, exist_ok=True)
    by_month: dict[str, dict[int, Row]] = {}
    spans: dict[str, list[Interval]] = {}
    for (start, end), rows in fetched:
        for month, (lo, hi) in split_by_month((start, end)):
            spans.setdefault(month, []).append((lo, hi))
            by_month.setdefault(month, {})
        for row in rows:
            if start <= row[0] < end:
                by_month.setdefault(month_of(row[0]), {})[row[0]] = row
    added = 0
    for month, new in sorted(by_month.items()):
        old = {r[0]: r for r in read_month(directory, month)}
        added += len(new.keys() - old.keys())
        old.update(new)
        path = _existing(directory, month)
        if new or path is None or not path.name.endswith(_EXT[fmt]):
            _write_month(directory, month, [old[k] for k in sorted(old)], fmt)
    coverage = read_coverage(directory)
    for month, parts in spans.items():
        coverage[month] = normalize([*coverage.get(month, []), *parts])
    write_coverage(directory, granularity, coverage)
    return added


# -- readers ------------------------------------------------------------------------------------


def _months_on_disk(directory: Path) -> list[str]:
    """The months that have a file, oldest first."""
    if not directory.is_dir():
        return []
    months = {
        p.name.removesuffix(ext)
        for p in directory.iterdir()
        for ext in _EXT.values()
        if p.name.endswith(ext)
    }
    return sorted(months)


def iter_rows(
    root: Path,
    product: str,
    granularity: str,
    start: int,
    end: int,
    *,
    source: str = DEFAULT_SOURCE,
) -> Iterator[Row]:
    """Stored rows with ``start <= row start < end``, oldest first, one month file at a time."""
    directory = series_dir(root, product, granularity, source)
    for month in _months_on_disk(directory):
        lo, hi = month_range(month)
        if hi <= start or lo >= end:
            continue
        for row in read_month(directory, month):
            if start <= row[0] < end:
                yield row


def load_candles(
    root: Path,
    product: str,
    granularity: str,
    start: int,
    end: int,
    *,
    source: str = DEFAULT_SOURCE,
) -> Iterator[Candle]:
    """botkit :class:`~botkit.market.types.Candle` objects for ``[start, end)``, oldest first.

    Only what is on disk: check :func:`list_series` (or ``botkit data list``) for holes,
    or compare with :func:`read_coverage`. Buckets without trades are absent, as on
    Coinbase.
    """
    for s, o, h, lo, c, v in iter_rows(root, product, granularity, start, end, source=source):
        yield Candle(
            start=str(s),
            open=Decimal(o),
            high=Decimal(h),
            low=Decimal(lo),
            close=Decimal(c),
            volume=Decimal(v),
            product_id=product,
        )


# -- trades -------------------------------------------------------------------------------------


def store_trades(
    root: Path, product: str, trades: Iterable[dict[str, Any]], *, source: str = DEFAULT_SOURCE
) -> int:
    """Merge public trades (``trade_id, time, price, size, side`` strings, ``ts`` seconds)
    into ``trades/<YYYY-MM>.jsonl.gz`` by trade id; the number of new ones."""
    directory = root / source / product / "trades"
    directory.mkdir(parents=True, exist_ok=True)
    by_month: dict[str, list[dict[str, Any]]] = {}
    for t in trades:
        by_month.setdefault(month_of(int(t["ts"])), []).append(t)
    added = 0
    for month, new in sorted(by_month.items()):
        path = directory / f"{month}.jsonl.gz"
        old = {t["trade_id"]: t for t in _read_trades(path)}
        added += len({t["trade_id"] for t in new} - old.keys())
        old.update((t["trade_id"], t) for t in new)
        rows = sorted(old.values(), key=lambda t: (float(t["ts"]), str(t["trade_id"])))
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            for t in rows:
                gz.write(json.dumps(t, separators=(",", ":")).encode() + b"\n")
        _atomic_write(path, buf.getvalue())
    return added


def _read_trades(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_trades(root: Path, product: str, *, source: str = DEFAULT_SOURCE) -> list[dict[str, Any]]:
    """Every stored public trade of ``product``, oldest first."""
    directory = root / source / product / "trades"
    out: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.jsonl.gz")):
        out += _read_trades(path)
    return out


# -- what is there ------------------------------------------------------------------------------


@dataclass
class SeriesInfo:
    """One product at one granularity, as ``botkit data list`` shows it."""

    source: str
    product: str
    granularity: str
    first: int | None = None
    end: int | None = None
    rows: int = 0
    buckets: int = 0
    holes: list[Interval] = field(default_factory=list)
    formats: set[str] = field(default_factory=set)
    files: int = 0

    def doc(self) -> dict[str, Any]:
        """A JSON-ready view (the ``--json`` output)."""
        return {
            "source": self.source,
            "product": self.product,
            "granularity": self.granularity,
            "start": self.first,
            "end": self.end,
            "rows": self.rows,
            "covered_buckets": self.buckets,
            "empty_buckets": self.buckets - self.rows,
            "holes": [list(h) for h in self.holes],
            "formats": sorted(self.formats),
            "files": self.files,
        }


def list_series(root: Path) -> list[SeriesInfo]:
    """Every stored series under ``root``: range covered, holes inside it, rows, formats."""
    out: list[SeriesInfo] = []
    for directory in sorted(p for p in root.glob("*/*/*") if p.is_dir()):
        granularity = directory.name
        try:
            g = granularity_seconds(granularity)
        except ValueError:
            continue
        if not (directory / COVERAGE_FILE).is_file() and not _months_on_disk(directory):
            continue
        # rows without an index (copied in, or a crash before the first index write) are
        # listed too, with no covered range: a download would fetch them all again
        info = SeriesInfo(directory.parent.parent.name, directory.parent.name, granularity)
        spans = normalize(i for parts in read_coverage(directory).values() for i in parts)
        if spans:
            info.first, info.end = spans[0][0], spans[-1][1]
            info.holes = missing(spans, info.first, info.end)
            info.buckets = sum((b - a) // g for a, b in spans)
        for path in sorted(directory.iterdir()):
            for fmt, ext in _EXT.items():
                if path.name.endswith(ext):
                    info.formats.add(fmt)
                    info.files += 1
                    info.rows += len(read_month(directory, path.name.removesuffix(ext)))
        out.append(info)
    return out
