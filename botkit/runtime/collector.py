"""The cyclic garbage collector after start-up: what was built until then is frozen.

Why: a full collection scans every container object the process holds, and a live bot
holds ~60 000 at start (its modules, classes, functions, the venue's models, the first
book). On a live bot with a BTC-USD-sized book (``bench/bench_collector.py``) one full
collection — Python runs one every few minutes — stopped the event loop for ~24-30 ms: a
tick, a fill, an order held that long. :func:`gc.freeze` moves what exists after start-up
to a generation no collection scans again: the same full collection then took ~0.3-0.5 ms.
Nothing else changes: reference counting frees what it always freed, and new objects are
collected as before.

The cost: an object alive at the freeze that later becomes part of unreachable cycles is
never reclaimed. What start-up builds either lives for the whole run or is freed by
reference counting, so that is bounded by the start-up set, once; and the run thaws them
when it ends (:func:`thaw`), so a process that runs bots one after another (an embedder, the
test suite) does not keep every run's objects frozen. ``[bot] gc_freeze = false`` leaves
the collector as Python sets it.
"""

from __future__ import annotations

import gc
import logging
import time

__all__ = ["freeze_after_start", "thaw"]

log = logging.getLogger("botkit.runtime")


def freeze_after_start() -> int:
    """Collect once, then freeze every object left; how many were frozen."""
    t0 = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug(
        "collector: %d start-up objects frozen (%.1f ms)", frozen, (time.perf_counter() - t0) * 1e3
    )
    return frozen


def thaw() -> None:
    """Give what :func:`freeze_after_start` froze back to the collector (at the end of a run;
    a no-op when nothing is frozen)."""
    if gc.get_freeze_count():
        gc.unfreeze()
