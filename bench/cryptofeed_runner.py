"""cryptofeed's Coinbase handler on bench_feed.py's recorded stream; runs in cryptofeed's own venv.

Not imported by botkit. ``bench/bench_feed.py`` starts it with the interpreter of a separate
venv (cryptofeed 2.4.x needs websockets>=14, the official SDK pins websockets<14, so the two
cannot share the project's venv) and reads one JSON line from stdout.

Modes:

* ``--url ws://...`` (socket): cryptofeed's own machinery end to end — ``Coinbase`` feed,
  ``WSAsyncConn`` (websockets ``asyncio`` client, ``compression=None`` as cryptofeed
  configures Coinbase), ``ConnectionHandler`` read loop, ``Coinbase.subscribe`` (HMAC
  parameters with a dummy key; the bench server ignores them), ``message_handler``
  (``yapic.json.loads(parse_float=Decimal)``, ``Decimal`` price and quantity per level, the
  C ``order_book`` SortedDict book) and an ``L2_BOOK`` callback. The only change: the
  connection's address is set to the bench server's ``ws://`` URL after construction
  (``WSAsyncConn`` only accepts ``wss://``). Timed from the first book callback (the
  snapshot, called once it is applied) to the callback of the last frame, like the other
  clients; wall and thread CPU time.
* ``--file path.jsonl.gz`` (memory): ``message_handler`` called on every frame in a loop
  (no socket), median of ``--repeats`` passes.

What cryptofeed does *not* do here, and botkit does: ``sequence_num`` checks (ignored),
crossed-book detection (``cross_check`` is off by default), quantity validation (a
``Decimal`` is built but a negative/NaN value would be stored), and the Advanced Trade
snapshot's asks: its snapshot code keeps only ``side == "ask"`` while Coinbase (and this
stream) say ``"offer"``, so the ask side starts empty and is filled by updates only
(``"offer"`` updates are handled). Both sides build ``Decimal`` objects per level, which
botkit avoids.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import sys
import time
from importlib.metadata import version
from typing import Any

from cryptofeed.connection_handler import ConnectionHandler
from cryptofeed.defines import COINBASE, L2_BOOK
from cryptofeed.exchanges import Coinbase
from cryptofeed.symbols import Symbols

__all__ = ["main"]

PID = "BTC-USD"
CONFIG = {"coinbase": {"key_id": "bench", "key_secret": "bench"}, "log": {"disabled": True}}


def _seed_symbols() -> None:
    # Coinbase.symbol_mapping() would call the REST API (keys, internet): give it the one product.
    Symbols.set(
        COINBASE,
        {PID: PID},
        {"tick_size": {PID: "0.01"}, "instrument_type": {PID: "spot"}},
    )


def load(path: str) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


async def run_socket(url: str, events: int) -> dict[str, Any]:
    _seed_symbols()
    done = asyncio.Event()
    seen = [0]
    first: list[tuple[float, float]] = []
    last: list[tuple[float, float]] = []

    async def on_book(book: Any, receipt: float) -> None:
        if not first:  # called after the snapshot was applied, as in bench_feed.py
            first.append((time.perf_counter(), time.thread_time()))
        seen[0] += 1
        if seen[0] == events:
            last.append((time.perf_counter(), time.thread_time()))
            done.set()

    feed = Coinbase(
        symbols=[PID], channels=[L2_BOOK], callbacks={L2_BOOK: on_book}, config=CONFIG, timeout=-1
    )
    (conn, sub, handler, auth), *_ = feed.connect()
    conn.address = url  # WSAsyncConn insists on wss://; the bench server is plain ws://
    ch = ConnectionHandler(conn, sub, handler, auth, retries=0, timeout=-1)
    ch.start(asyncio.get_running_loop())
    await asyncio.wait_for(done.wait(), 600)
    ch.running = False
    book = feed._l2_book[PID].book
    result = {
        "seconds": last[0][0] - first[0][0],
        "cpu_seconds": last[0][1] - first[0][1],
        "book_callbacks": seen[0],
        "bids": len(book.bids),
        "asks": len(book.asks),
    }
    await conn.close()
    return result


async def run_memory(path: str, repeats: int) -> dict[str, Any]:
    _seed_symbols()
    frames = load(path)
    times = []
    n_bids = n_asks = 0
    for _ in range(repeats):
        feed = Coinbase(symbols=[PID], channels=[L2_BOOK], config=CONFIG, timeout=-1)
        handle = feed.message_handler
        t0 = time.perf_counter()
        for fr in frames:
            await handle(fr, None, 0.0)  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
        book = feed._l2_book[PID].book
        n_bids, n_asks = len(book.bids), len(book.asks)
    return {"seconds": statistics.median(times), "bids": n_bids, "asks": n_asks}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url")
    ap.add_argument("--events", type=int, default=0, help="l2_data events in the stream")
    ap.add_argument("--file")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.url:
        out = asyncio.run(run_socket(args.url, args.events))
    else:
        out = asyncio.run(run_memory(args.file, args.repeats))
    out["cryptofeed"] = version("cryptofeed")
    out["python"] = sys.version.split()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
