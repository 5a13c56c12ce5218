"""Benchmark: what the fill ledger costs the event loop per order (docs/strategies.md,
"Positions across restarts").

Run:  .venv/bin/python bench/bench_ledger.py [--orders 2000] [--rounds 5] [--summary FILE]

Per order, the runtime's context makes three ledger calls on the loop: ``opened`` with the
order's first update (a mark at zero), ``count`` with its fill (mark, position and today's
PnL in one transaction), ``finished`` with its final update (a read: the fill already
finished the mark). Measured on a file in the temp directory, WAL with
``synchronous=NORMAL`` as the runtime opens it.

The alternative measured in the same rounds, interleaved: the same state kept the way the
bot's other small state files are (``protections.json``, the exits journal): the positions
and the working orders' marks rewritten as one JSON file per change (temp file, ``fsync``,
rename, directory ``fsync``) — durable against a power cut, which the ledger is not (it is
consistent after one: see the module docstring of ``botkit/orders/ledger.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from botkit.market.events import FillEvent
from botkit.orders.ledger import FillLedger
from botkit.orders.positions import Positions

sys.path.insert(0, str(Path(__file__).parent))
from _summary import Row, add_summary_argument, command_line, emit  # noqa: E402

SIZE, PRICE, FEE = Decimal("0.001"), Decimal("100000.00"), Decimal("0.12")


def _fill(i: int) -> FillEvent:
    return FillEvent(
        f"o{i}:{SIZE}", f"o{i}", f"c{i}", "BTC-USD", "BUY" if i % 2 else "SELL", SIZE, PRICE,
        FEE, SIZE, cumulative_value=SIZE * PRICE, cumulative_fees=FEE,
    )  # fmt: skip


def ledger_round(folder: Path, orders: int) -> float:
    """µs per order: opened + count + finished through the ledger."""
    ledger = FillLedger(folder / "fills.sqlite")
    positions = Positions()
    fills = [_fill(i) for i in range(orders)]
    began = time.perf_counter()
    for i, fill in enumerate(fills):
        ledger.opened(fill.order_id, fill.client_order_id, "BTC-USD", fill.side, "OPEN")
        positions.apply_fill("BTC-USD", fill.side, fill.size, fill.price, fill.fee)
        ledger.count(fill, positions.get("BTC-USD"), status="FILLED", today=(1, Decimal(i)))
        ledger.finished(fill.order_id, "FILLED", fill.size)
    elapsed = time.perf_counter() - began
    ledger.close()
    return elapsed / orders * 1e6


def _write_atomic(path: Path, doc: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(json.dumps(doc))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def json_round(folder: Path, orders: int) -> float:
    """µs per order: the same three changes as an atomic, fsynced JSON file each."""
    path = folder / "positions.json"
    positions = Positions()
    working: dict[str, list[str]] = {}
    fills = [_fill(i) for i in range(orders)]

    def save() -> None:
        pos = positions.get("BTC-USD")
        _write_atomic(path, {"positions": {"BTC-USD": [str(pos.quantity), str(pos.avg_price),
                      str(pos.realised)]}, "working": working})  # fmt: skip

    began = time.perf_counter()
    for fill in fills:
        working[fill.order_id] = [fill.client_order_id, "OPEN", "0"]
        save()
        positions.apply_fill("BTC-USD", fill.side, fill.size, fill.price, fill.fee)
        working[fill.order_id] = [fill.client_order_id, "FILLED", str(fill.cumulative_quantity)]
        save()
        del working[fill.order_id]
        save()
    elapsed = time.perf_counter() - began
    return elapsed / orders * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    add_summary_argument(ap)
    args = ap.parse_args()
    ours: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):  # interleaved, the order rotating round by round
            runs = [("ledger", ledger_round), ("json", json_round)]
            for name, fn in runs if r % 2 == 0 else runs[::-1]:
                folder = Path(tmp) / f"{name}{r}"
                folder.mkdir()
                (ours if name == "ledger" else theirs).append(fn(folder, args.orders))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(
        f"fill ledger: {a:.1f} µs per filled order (opened + count + finished; range "
        f"{min(ours):.1f}–{max(ours):.1f}); atomic fsynced JSON file per change: {b:.1f} µs "
        f"({b / a:.1f}× the ledger); medians of {args.rounds} interleaved rounds of "
        f"{args.orders} orders, temp dir {tempfile.gettempdir()}"
    )
    emit(
        [
            Row(
                key="ledger.per_order",
                target="fill ledger: event-loop cost per filled order (restarts; no target)",
                measured=f"{a:.1f} µs per order (opened + count + finished, range "
                f"{min(ours):.1f}–{max(ours):.1f}); the JSON-file way {b:.1f} µs = "
                f"{b / a:.1f}× (medians of {args.rounds} interleaved rounds of {args.orders})",
                met=None,
                command=command_line(),
                competitor="the same state as an atomic fsynced JSON file per change "
                "(how protections.json and the exits journal are kept)",
            )
        ],
        args.summary,
    )


if __name__ == "__main__":
    main()
