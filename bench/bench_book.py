"""Benchmark: the L2 book alone, botkit's heap book vs a sorted-list book and ``SortedDict``.

Run:  .venv/bin/python bench/bench_book.py      (also printed by bench/bench_feed.py)

Two synthetic streams, 200 000 level updates in frames of 10, the best bid and ask read
after every frame, at 1 000 and 20 000 levels per side (prices in ticks of 0.01):

* **BTC-like**: most updates change the size of one of the top 50 levels;
* **churn** (like the simulator stream of bench_feed.py): levels enter and leave at both
  ends of the depth window, so half the updates touch the *far* end of the book.

All variants use the same int-tick price cache and keep wire-string quantities, so only
the ordered structure differs. For each stream the variants are interleaved round by round
(``--rounds``, the first variant rotating), the median of the rounds is printed.

Run:  .venv/bin/python bench/bench_book.py [--rounds 3] [--updates 200000] [--summary FILE]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from bisect import bisect_left, insort
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botkit.market import book as book_module
from botkit.market.book import L2Book
from botkit.venues.advanced_trade.messages import L2Update

sys.path.insert(0, str(Path(__file__).parent))
from _summary import Row, add_summary_argument, command_line, emit, version  # noqa: E402

PID = "BTC-USD"


class BisectTickBook:
    """The previous botkit structure: int ticks, dict + sorted key list (best at the tail)."""

    def __init__(self) -> None:
        self.cache: dict[str, int] = {}
        self.sides: dict[str, tuple[dict[int, str], list[int], int]] = {
            "bid": ({}, [], 1),
            "offer": ({}, [], -1),
        }

    def apply(self, levels: list[Any]) -> None:
        cache, sides = self.cache, self.sides
        for lv in levels:
            price = lv.price_level
            tick = cache.get(price)
            if tick is None:
                tick = cache[price] = int(price.replace(".", ""))  # fixed scale here
            book, keys, sign = sides[lv.side]
            qty = lv.new_quantity
            # the same quantity check as L2Book (the exact fallback never runs here)
            if qty != "0" and (
                qty.replace(".", "", 1).isdecimal() and (qty[-1] != "0" or qty.strip("0."))
            ):
                if tick not in book:
                    insort(keys, sign * tick)
                book[tick] = qty
            elif book.pop(tick, None) is not None:
                del keys[bisect_left(keys, sign * tick)]

    def best(self) -> tuple[int, int]:
        return self.sides["bid"][1][-1], -self.sides["offer"][1][-1]


def timed(fn: Callable[[], object], n: int = 3) -> float:
    """Median seconds of ``n`` runs of ``fn`` back to back (bench_feed.py uses it too)."""
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def interleaved(fns: list[tuple[str, Callable[[], object]]], rounds: int = 3) -> dict[str, float]:
    """Median seconds of each variant over ``rounds`` interleaved rounds (each round runs
    every variant once, the first one rotating), so load on a shared box hits them alike."""
    samples: dict[str, list[float]] = {name: [] for name, _ in fns}
    for r in range(rounds):
        for name, fn in fns[r % len(fns) :] + fns[: r % len(fns)]:
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(xs) for name, xs in samples.items()}


# -- the book alone ---------------------------------------------------------------------------


def walk(levels: int, n: int, churn: bool, seed: int = 7) -> list[list[L2Update]]:
    """Frames of 10 updates on a book of ``levels`` per side around 65 000.00 (ticks of 0.01).

    ``churn=False`` (BTC-like): 80 % change the size of one of the top 50 levels, 10 %
    remove one, 10 % re-add a missing one. ``churn=True`` (like the simulator stream): the
    mid drifts and every update removes or adds a level at either end of the depth window.
    """
    rng = random.Random(seed)
    mid = 6_500_000
    out: list[list[L2Update]] = []
    frame: list[L2Update] = []
    for _ in range(n):
        bid = rng.random() < 0.5
        if churn:
            mid += rng.choice((-1, 1))
            near = rng.random() < 0.5
            off = rng.randint(1, 5) if near else levels + rng.randint(-3, 3)
            qty = "0" if rng.random() < 0.5 else f"{rng.randint(1, 99_999_999) / 1e8:.8f}"
        else:
            off = rng.randint(1, 50)
            r = rng.random()
            qty = "0" if r < 0.1 else f"{rng.randint(1, 99_999_999) / 1e8:.8f}"
        tick = mid - off if bid else mid + off
        price = f"{tick // 100}.{tick % 100:02d}"
        frame.append(L2Update(side="bid" if bid else "offer", price_level=price, new_quantity=qty))
        if len(frame) == 10:
            out.append(frame)
            frame = []
    return out


def snapshot(levels: int) -> list[L2Update]:
    mid, q = 6_500_000, "1.00000000"
    ups = []
    for i in range(1, levels + 1):
        for side, t in (("bid", mid - i), ("offer", mid + i)):
            ups.append(L2Update(side=side, price_level=f"{t // 100}.{t % 100:02d}", new_quantity=q))
    return ups


def book_alone(rounds: int = 3, updates: int = 200_000) -> list[tuple[str, int, str, float, float]]:
    """(stream, levels/side, book, seconds, updates/s): apply 10 updates, read the best."""
    try:
        from sortedcontainers import SortedDict  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - optional reference
        SortedDict = None  # noqa: N806

    rows: list[tuple[str, int, str, float, float]] = []
    for churn in (False, True):
        for levels in (1_000, 20_000):
            frames = walk(levels, updates, churn)
            snap = snapshot(levels)
            n = sum(len(x) for x in frames)

            def heap_book(
                snap: list[L2Update] = snap, frames: list[list[L2Update]] = frames
            ) -> None:
                b = L2Book(PID)
                b.apply_snapshot(snap)
                for fr in frames:
                    b.apply_updates(fr)
                    b.best_bid_tick, b.best_ask_tick  # noqa: B018

            def bisect_book(
                snap: list[L2Update] = snap, frames: list[list[L2Update]] = frames
            ) -> None:
                b = BisectTickBook()
                b.apply(snap)
                for fr in frames:
                    b.apply(fr)
                    b.best()

            def sorted_dict(
                snap: list[L2Update] = snap, frames: list[list[L2Update]] = frames
            ) -> None:
                bids: Any = SortedDict()
                asks: Any = SortedDict()
                cache: dict[str, int] = {}
                for fr in [snap, *frames]:
                    for u in fr:
                        tick = cache.get(u.price_level)
                        if tick is None:
                            tick = cache[u.price_level] = int(u.price_level.replace(".", ""))
                        book = bids if u.side == "bid" else asks
                        qty = u.new_quantity
                        if qty != "0" and (
                            qty.replace(".", "", 1).isdecimal()
                            and (qty[-1] != "0" or qty.strip("0."))
                        ):
                            book[tick] = qty
                        else:
                            book.pop(tick, None)
                    bids.peekitem(-1), asks.peekitem(0)

            def heap_book_python(heap_book: Callable[[], None] = heap_book) -> None:
                book_module.use_kernel(False)
                try:
                    heap_book()
                finally:
                    book_module.use_kernel(True)

            stream = "churn" if churn else "BTC-like"
            variants = [("botkit heap", heap_book), ("bisect list", bisect_book)]
            if book_module.kernel_in_use():  # the default: also show the Python loop
                variants[0] = ("botkit heap, kernel", heap_book)
                variants.insert(1, ("botkit heap, Python", heap_book_python))
            if SortedDict is not None:
                variants.append(("SortedDict", sorted_dict))
            for name, dt in interleaved(variants, rounds).items():
                rows.append((stream, levels, name, dt, n / dt))
    return rows


def summary_row(rows: list[tuple[str, int, str, float, float]], rounds: int) -> Row:
    """botkit's book (the default build) against ``SortedDict`` at 20 000 levels per side."""
    rate = {(stream, levels, name): ups for stream, levels, name, _, ups in rows}
    ours = "botkit heap, kernel" if book_module.kernel_in_use() else "botkit heap"
    parts = []
    for stream in ("BTC-like", "churn"):
        b = rate[(stream, 20_000, ours)]
        ref = rate.get((stream, 20_000, "SortedDict"))
        vs = f" = {b / ref:.2f}× SortedDict ({ref / 1e6:.2f} M)" if ref else ""
        parts.append(f"{stream}: {b / 1e6:.2f} M updates/s{vs}")
    return Row(
        key="book.alone_vs_sorteddict",
        target="the L2 book alone, 20 000 levels per side, vs SortedDict (feed; no target)",
        measured="; ".join(parts) + f" (median of {rounds} interleaved rounds, {ours})",
        met=None,
        command=command_line(),
        competitor=f"sortedcontainers {version('sortedcontainers')} SortedDict (same int-tick "
        "cache, same quantity check); a bisect sorted list",
        note="ratio reported",
    )


def main(argv: list[str] | None = None) -> None:
    """``argv`` None: the defaults (bench_feed.py prints this table after its own)."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per stream")
    ap.add_argument("--updates", type=int, default=200_000, help="level updates per stream")
    add_summary_argument(ap)
    args = ap.parse_args([] if argv is None else argv)
    print(
        f"the book alone: {args.updates // 1000}k updates in frames of 10, best bid/ask read per "
        f"frame, median of {args.rounds}"
    )
    print(
        f"{'stream':9} {'levels/side':>11} {'book':12} {'seconds':>8} {'updates/s':>12} {'µs/upd':>7}"
    )
    rows = book_alone(args.rounds, args.updates)
    for stream, levels, name, dt, ups in rows:
        print(f"{stream:9} {levels:11,} {name:12} {dt:8.3f} {ups:12,.0f} {1e6 / ups:7.2f}")
    emit([summary_row(rows, args.rounds)], args.summary)


if __name__ == "__main__":
    main(sys.argv[1:])
