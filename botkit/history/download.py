"""Adapter ring: fetch the candles that are missing on disk, page by page (venue-neutral).

The downloader plans first — for every product and granularity, the coverage index
subtracted from the asked range (:func:`botkit.history.ranges.missing`), cut into pages
of at most ``page`` buckets — then fetches the pages oldest first through ``fetch``
(the CLI passes the public REST client, whose rate limiter paces the requests and whose
retry table absorbs 429s and 5xx). Pages are written every ``flush_every`` requests and
when a series is done, so an interrupted run keeps nearly everything it fetched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botkit.errors import AuthError, RateLimited
from botkit.history.ranges import (
    Interval,
    align,
    closed_end,
    granularity_seconds,
    missing,
    normalize,
    pages,
)
from botkit.history.store import (
    DEFAULT_SOURCE,
    Row,
    read_coverage,
    series_dir,
    store_candles,
)

__all__ = ["DownloadResult", "FetchCandles", "SeriesPlan", "download_candles", "plan_downloads"]

FetchCandles = Callable[[str, str, int, int], Awaitable[Sequence[Row]]]
"""``(product, granularity, start, end) -> rows`` of the buckets starting in ``[start, end)``."""

Progress = Callable[[dict[str, Any]], None]


@dataclass
class SeriesPlan:
    """What one product at one granularity still needs."""

    product: str
    granularity: str
    directory: Path
    start: int
    end: int
    holes: list[Interval]
    pages: list[Interval]


@dataclass
class DownloadResult:
    """What a run did: requests sent, rows fetched, whether every page was fetched."""

    requests: int = 0
    candles: int = 0
    new_candles: int = 0
    planned: int = 0
    complete: bool = True
    seconds: float = 0.0
    series: list[SeriesPlan] = field(default_factory=list)

    def doc(self) -> dict[str, Any]:
        return {
            "event": "done",
            "requests": self.requests,
            "planned_requests": self.planned,
            "candles": self.candles,
            "new_candles": self.new_candles,
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
        }


def plan_downloads(
    root: Path,
    products: Sequence[str],
    granularities: Sequence[str],
    start: int,
    end: int,
    *,
    now: float,
    page: int = 299,
    source: str = DEFAULT_SOURCE,
    refetch: bool = False,
) -> list[SeriesPlan]:
    """Every series' holes in ``[start, end)`` (closed buckets only) and their pages."""
    plans: list[SeriesPlan] = []
    for product in products:
        for granularity in granularities:
            g = granularity_seconds(granularity)
            lo, hi = align(start, min(end, closed_end(now, g)), g)
            hi = min(hi, closed_end(now, g))
            directory = series_dir(root, product, granularity, source)
            covered: list[Interval] = []
            if not refetch:
                covered = normalize(i for p in read_coverage(directory).values() for i in p)
            holes = missing(covered, lo, hi) if hi > lo else []
            plans.append(
                SeriesPlan(product, granularity, directory, lo, hi, holes, pages(holes, g, page))
            )
    return plans


async def download_candles(
    plans: Sequence[SeriesPlan],
    fetch: FetchCandles,
    *,
    fmt: str = "jsonl",
    max_requests: int | None = None,
    flush_every: int = 20,
    on_progress: Progress | None = None,
    throttle_retries: int = 5,
    throttle_delay: float = 2.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> DownloadResult:
    """Fetch every planned page; stop cleanly after ``max_requests`` (the rest stays a hole).

    Throttling that outlasts the client's own retries — a 429, or a 401 on these public,
    unsigned requests, which is how Coinbase has throttled candles (reference §2.11) — is
    waited out ``throttle_retries`` more times, ``throttle_delay`` doubling (a
    ``throttled`` progress event each). Any other failure propagates; pages fetched
    before it are written first, so a re-run resumes right there.
    """
    result = DownloadResult(planned=sum(len(p.pages) for p in plans), series=list(plans))
    t0 = time.perf_counter()
    for plan in plans:
        buffer: list[tuple[Interval, Sequence[Row]]] = []
        try:
            for lo, hi in plan.pages:
                if max_requests is not None and result.requests >= max_requests:
                    result.complete = False
                    break
                rows = await _fetch_page(
                    fetch, plan, lo, hi, throttle_retries, throttle_delay, sleep, on_progress
                )
                result.requests += 1
                result.candles += len(rows)
                buffer.append(((lo, hi), rows))
                if len(buffer) >= flush_every:
                    _flush(plan, buffer, fmt, result)
                if on_progress is not None:
                    on_progress(
                        {
                            "event": "page",
                            "product": plan.product,
                            "granularity": plan.granularity,
                            "start": lo,
                            "end": hi,
                            "rows": len(rows),
                            "requests": result.requests,
                            "planned_requests": result.planned,
                            "candles": result.candles,
                            "seconds": round(time.perf_counter() - t0, 3),
                        }
                    )
        finally:
            _flush(plan, buffer, fmt, result)
        if not result.complete:
            break
    result.seconds = time.perf_counter() - t0
    return result


def _flush(
    plan: SeriesPlan, buffer: list[tuple[Interval, Sequence[Row]]], fmt: str, result: DownloadResult
) -> None:
    """Write the buffered pages (rows, then coverage) and empty the buffer."""
    if buffer:
        result.new_candles += store_candles(plan.directory, plan.granularity, buffer, fmt)
        buffer.clear()


async def _fetch_page(
    fetch: FetchCandles,
    plan: SeriesPlan,
    lo: int,
    hi: int,
    retries: int,
    delay: float,
    sleep: Callable[[float], Awaitable[None]],
    on_progress: Progress | None,
) -> Sequence[Row]:
    for attempt in range(retries + 1):
        try:
            return await fetch(plan.product, plan.granularity, lo, hi)
        except (AuthError, RateLimited) as exc:
            if attempt == retries:
                raise
            wait = delay * 2**attempt
            if on_progress is not None:
                on_progress(
                    {
                        "event": "throttled",
                        "product": plan.product,
                        "granularity": plan.granularity,
                        "start": lo,
                        "wait": wait,
                        "error": type(exc).__name__,
                    }
                )
            await sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
