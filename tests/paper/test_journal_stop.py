"""A paper bot whose journal can no longer be written stops, says why, and exits 1.

The strategy below plays "another process": on start it takes an exclusive lock on the
paper journal through its own SQLite connection, so the bot's next journal write waits
out the busy timeout (2 s) and fails with "database is locked", through the real code.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from botkit.cli.main import main
from botkit.errors import JournalError
from botkit.paper.journal import PaperJournal
from botkit.paper.records import BalanceRecord, StateDelta
from botkit.strategy.base import Strategy
from botkit.strategy.timers import TimerFired
from tests.orders.journal_disk import intent_states

HERE = Path(__file__)


class JournalLocker(Strategy):
    """Locks a journal (``params.journal``) on start and releases it on stop."""

    class Params(BaseModel):
        journal: str

    params: Params

    async def on_start(self) -> None:
        self._db = sqlite3.connect(self.params.journal, isolation_level=None)
        self._db.execute("BEGIN EXCLUSIVE")

    async def on_stop(self) -> None:
        self._db.rollback()
        self._db.close()


def test_a_journal_that_cannot_be_written_stops_the_bot_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "paper" / "paper.sqlite"
    cfg = tmp_path / "bot.toml"
    cfg.write_text(
        '[bot]\nmode = "paper"\nsim_seed = 3\n'
        f'[strategy]\nname = "{HERE}:JournalLocker"\n'
        f'[strategy.params]\njournal = "{journal}"\n'
        '[paper]\nsource = "sim"\nequity_interval = 0.2\n'
    )
    code = main(
        ["--env-file", str(tmp_path / "none.env"), "run", "--config", str(cfg),
         "--data-dir", str(tmp_path), "--duration", "40"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1, err[-2000:]
    assert "botkit: error: paper journal" in err and "database is locked" in err
    assert "no other process holds the database" in err
    with PaperJournal(journal, readonly=True) as j:  # consistent up to its last write
        assert j.meta()["mode"] == "paper" and j.equity()


def _delta(usd: str) -> StateDelta:
    return StateDelta(
        orders=[], fills=[], balances=[BalanceRecord("USD", Decimal(usd), Decimal(0), 1.0)]
    )


def test_after_a_failed_write_the_paper_journal_writes_nothing_more(tmp_path: Path) -> None:
    """A delta handed over and lost must not be followed by later ones: the journal would
    then hold a state that never existed, and a restart would resume a different account."""
    path = tmp_path / "paper.sqlite"
    reports: list[JournalError] = []
    journal = PaperJournal(path, on_failure=reports.append)
    journal.save(_delta("100"), 1.0)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # "another process" holds it past the busy timeout
    with pytest.raises(JournalError, match="database is locked"):
        journal.save(_delta("90"), 2.0)
    other.rollback()
    other.close()  # the cause went away, but the lost delta did not come back:
    with pytest.raises(JournalError, match="not written after an earlier failure"):
        journal.save(_delta("80"), 3.0)
    assert len(reports) == 1
    journal.close()
    with PaperJournal(path, readonly=True) as j:
        assert [b.available for b in j.balances()] == [Decimal("100")]


class IntentLocker(JournalLocker):
    """Locks the executor's intent journal on start, then places one order."""

    async def on_start(self) -> None:
        await super().on_start()
        self.ctx.set_timer("go", 0.2, repeat=False)

    async def on_timer(self, timer: TimerFired) -> None:
        book = self.ctx.book("BTC-USD")
        assert book is not None
        best = book.best_bid()
        assert best is not None
        price = (best[0] * Decimal("0.9")).quantize(Decimal("0.01"))
        await self.ctx.buy_limit("BTC-USD", Decimal("0.001"), price)


def test_an_intent_journal_failure_stops_the_bot_even_under_asyncio_debug(tmp_path: Path) -> None:
    """The intent journal fails on its own thread; the stop must still reach the loop
    (asyncio's debug mode turns a cross-thread Event.set into an error and a hang)."""
    cfg = tmp_path / "bot.toml"
    cfg.write_text(
        '[bot]\nmode = "sim"\nsim_seed = 3\n'
        f'[strategy]\nname = "{HERE}:IntentLocker"\n'
        f'[strategy.params]\njournal = "{tmp_path / "sim" / "journal.sqlite"}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
    out = subprocess.run(
        [sys.executable, "-m", "botkit", "--env-file", str(tmp_path / "none.env"), "run",
         "--config", str(cfg), "--data-dir", str(tmp_path), "--duration", "40"],
        env={**env, "PYTHONASYNCIODEBUG": "1", "PYTHONPATH": str(HERE.parents[2])},
        capture_output=True, text=True, timeout=50, cwd=HERE.parents[2],
    )  # fmt: skip
    assert out.returncode == 1, out.stderr[-3000:]
    assert "botkit: error: order journal" in out.stderr
    # a new intent is logged before its POST and gets its row once answered: the row is
    # what the lock refused, so the order was sent and its intent stays in the intent log
    assert "could not record the order intent" in out.stderr
    assert "Non-thread-safe operation" not in out.stderr
    assert "orders placed:     0" in out.stdout
    left = intent_states(tmp_path / "sim" / "journal.sqlite")
    assert [state for state, _ in left.values()] == ["PENDING"]  # resolved at the next start
