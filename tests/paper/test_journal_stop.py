"""A paper bot whose journal can no longer be written stops, says why, and exits 1.

The strategy below plays "another process": on start it takes an exclusive lock on the
paper journal through its own SQLite connection, so the bot's next journal write waits
out the busy timeout (2 s) and fails with "database is locked", through the real code.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pydantic import BaseModel

from botkit.cli import main
from botkit.paper.journal import PaperJournal
from botkit.strategy.base import Strategy

HERE = Path(__file__)


class JournalLocker(Strategy):
    """Locks the paper journal on start and releases it on stop."""

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
