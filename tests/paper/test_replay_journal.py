"""A backtest's (non-durable) paper journal buffers its equity points: same rows, same dump.

A durable journal (paper trading) writes every point in its own transaction; a
non-durable one keeps them in memory and writes them with the next save, every
``EQUITY_BATCH`` points, and when read or closed. Whatever the interleaving of
saves, points and reads, both must hold and dump the same rows.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.paper.journal import EQUITY_BATCH, PaperJournal
from botkit.paper.records import BalanceRecord, EquityPoint, StateDelta

# one step: ("equity", n) n points; ("save", n) a balance save; ("read", 0) equity() mid-run
STEP = st.tuples(st.sampled_from(["equity", "save", "read"]), st.integers(0, 40))


def run(path: Path, durable: bool, steps: list[tuple[str, int]]) -> tuple[str, list[EquityPoint]]:
    t = 0.0
    seen: list[EquityPoint] = []
    journal = PaperJournal(path, durable=durable)
    try:
        for what, n in steps:
            if what == "equity":
                for _ in range(n):
                    t += 1.0
                    value = Decimal(10_000) + Decimal(int(t) % 97) / 100
                    journal.record_equity(EquityPoint(t, value, "USD", {"BTC-USD": value}))
            elif what == "save":
                t += 0.5
                usd = BalanceRecord("USD", Decimal(n), Decimal(0), t)
                journal.save(StateDelta(balances=[usd]), t)
            else:
                seen = journal.equity()
    finally:
        journal.close()
    with PaperJournal(path, readonly=True) as reader:
        return reader.dump(), seen


@settings(max_examples=30, deadline=None)
@given(steps=st.lists(STEP, max_size=12))
def test_buffered_equity_dumps_as_the_durable_journal(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int]]
) -> None:
    tmp = tmp_path_factory.mktemp("j")
    durable = run(tmp / "durable.sqlite", True, steps)
    buffered = run(tmp / "buffered.sqlite", False, steps)
    assert buffered == durable


def test_a_long_run_writes_in_batches_and_everything_on_close(tmp_path: Path) -> None:
    path = tmp_path / "paper.sqlite"
    journal = PaperJournal(path, durable=False)
    for i in range(EQUITY_BATCH + 5):
        journal.record_equity(EquityPoint(float(i), Decimal(i), "USD", {}))
    with PaperJournal(path, readonly=True) as reader:  # another connection: only what is written
        assert len(reader.equity()) == EQUITY_BATCH
    journal.close()
    with PaperJournal(path, readonly=True) as reader:
        points = reader.equity()
    assert [p.t for p in points] == [float(i) for i in range(EQUITY_BATCH + 5)]
