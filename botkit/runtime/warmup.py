"""Adapter ring: replay a strategy's declared warm-up history before live events.

A strategy that declares ``warmup = Warmup(candles=N, granularity=G)`` gets, after its
``on_start`` and before the first live event, the last ``N`` *closed* ``G`` candles of each
of the bot's products through ``on_candle`` — the same hook, the same
:class:`~botkit.market.events.CandlesReceived` event as live candles — with
``ctx.warming_up`` true, so any order it tries meanwhile is refused (a decision made on
old prices must not trade now). Live events that arrived meanwhile wait in the event
buffer and follow the replay, so the strategy sees one ordered stream.

Where the history comes from is the wiring's choice (``fetch``): Advanced Trade's public
candles endpoint in paper and live, the simulator's same endpoint in sim, a dataset in a
backtest. The window arithmetic is pure (:func:`botkit.history.ranges.warmup_window`).

A failure to fetch (after the REST client's own retries) is retried ``attempts`` times with
a doubling delay; if it still fails the bot starts **without** the history: the error is
logged as a WARNING with its cause, and the strategy warms up on live data as it would
without a declaration. Starting late is safe (no order is made on missing data — the
strategy still counts its own samples); refusing to start because a public market-data
endpoint hiccuped would take a live bot down for nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from botkit.errors import BotkitError
from botkit.history.ranges import pages, warmup_window
from botkit.history.store import DEFAULT_SOURCE, load_candles
from botkit.market.events import CandlesReceived
from botkit.market.types import Candle
from botkit.strategy.context import BotContext
from botkit.strategy.warmup import Warmup

__all__ = [
    "CandleHistory",
    "WarmupReport",
    "dataset_history",
    "fetch_warmup",
    "replay_warmup",
    "warm_up",
]

log = logging.getLogger("botkit.runtime.warmup")

CandleHistory = Callable[[str, str, int, int], Awaitable[Sequence[Candle]]]
"""``(product, granularity, start, end) -> candles`` starting in ``[start, end)``, any order."""

PAGE = 299  # buckets per request: under the "less than 300" Coinbase once enforced


def dataset_history(root: Path, *, source: str = DEFAULT_SOURCE) -> CandleHistory:
    """Warm-up candles from a downloaded dataset (``botkit download``) instead of REST:
    what a backtest passes, so its warm-up reads the same files as its replay."""

    async def fetch(product: str, granularity: str, start: int, end: int) -> list[Candle]:
        return list(load_candles(root, product, granularity, start, end, source=source))

    return fetch


@dataclass(frozen=True, slots=True)
class WarmupReport:
    """What a warm-up did: candles replayed per product, or why it was skipped."""

    candles: dict[str, int]
    seconds: float
    error: str | None = None


async def fetch_warmup(
    fetch: CandleHistory, products: Sequence[str], warmup: Warmup, *, now: float
) -> list[Candle]:
    """The last ``warmup.candles`` closed candles of every product, oldest first.

    Candles outside the window (a server answering the bucket at ``end``, or the current
    one) are dropped; duplicates keep the last answer.
    """
    start, end = warmup_window(now, warmup.candles, warmup.seconds)
    out: dict[tuple[int, str], Candle] = {}
    for product in products:
        for lo, hi in pages([(start, end)], warmup.seconds, PAGE):
            for candle in await fetch(product, warmup.granularity, lo, hi):
                t = int(candle.start)
                if start <= t < end and candle.product_id == product:
                    out[(t, product)] = candle
    return [out[k] for k in sorted(out)]


async def replay_warmup(ctx: BotContext, candles: Sequence[Candle]) -> None:
    """Each candle through the strategy's hooks with ``ctx.warming_up`` set, then cleared."""
    ctx.warming_up = True
    try:
        for candle in candles:
            await ctx.dispatch(CandlesReceived("snapshot", (candle,)))
    finally:
        ctx.warming_up = False


async def warm_up(
    ctx: BotContext,
    warmup: Warmup | None,
    products: Sequence[str],
    fetch: CandleHistory,
    *,
    now: Callable[[], float],
    attempts: int = 3,
    delay: float = 1.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> WarmupReport:
    """Fetch and replay ``warmup`` (nothing when None or 0 candles); never raises a
    fetch failure — after ``attempts`` it logs why and starts without (module docstring)."""
    t0 = time.perf_counter()
    if warmup is None or warmup.candles == 0:
        return WarmupReport({}, 0.0)
    error: BotkitError | None = None
    for attempt in range(attempts):
        try:
            candles = await fetch_warmup(fetch, products, warmup, now=now())
        except BotkitError as exc:
            error = exc
            if attempt + 1 < attempts:
                wait = delay * 2**attempt
                log.warning("warm-up history: %s; retrying in %.0f s", exc, wait)
                await sleep(wait)
            continue
        await replay_warmup(ctx, candles)
        counts = {p: sum(c.product_id == p for c in candles) for p in products}
        seconds = time.perf_counter() - t0
        short = {p: n for p, n in counts.items() if n < warmup.candles}
        log.info(
            "warm-up: replayed %d %s candle(s) of history in %.2f s (%s); live events follow",
            len(candles),
            warmup.granularity,
            seconds,
            ", ".join(f"{p} {n}" for p, n in counts.items()),
        )
        if short:
            log.info(
                "warm-up: fewer than %d candles for %s (buckets without trades are omitted, "
                "or the product is younger than the window)",
                warmup.candles,
                ", ".join(short),
            )
        return WarmupReport(counts, seconds)
    log.warning(
        "warm-up history could not be fetched after %d attempt(s) (%s): starting without it; "
        "the strategy warms up on live data instead. Fix: check the network or the REST URL",
        attempts,
        error,
    )
    return WarmupReport({}, time.perf_counter() - t0, str(error))
