"""A journal that cannot be written (full disk, I/O error, a foreign lock) stops the bot.

The failure is simulated the way SQLite reports a full disk: ``PRAGMA max_page_count``
caps the database at its current size, so the next write fails with "database or disk
is full" (SQLITE_FULL), through the real journal code; the intent log's write is refused
by the kernel (``RLIMIT_FSIZE``, in a child process).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from botkit.errors import BotkitError, JournalError
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, limit_gtc
from botkit.orders.journal import IntentState, OrderJournal
from tests.orders.journal_disk import intent_states
from tests.orders.test_local_transport import _bid_ask, _paper

ROOT = Path(__file__).resolve().parents[2]


def fill_up(db: sqlite3.Connection) -> None:
    """Make the database 'full': no page may be added from now on."""
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")


async def test_an_intent_whose_row_cannot_be_written_stays_in_the_intent_log(
    tmp_path: Path,
) -> None:
    """A new intent is logged (crash-safe) before its POST and gets its row once answered:
    a database that refuses the row then stops the bot with the intent in the log, and the
    next start (space freed) merges it and resolves it with the exchange — nothing lost."""
    paper = _paper()
    failures: list[JournalError] = []
    journal = OrderJournal(tmp_path / "journal.sqlite", on_failure=failures.append)
    executor = OrderExecutor(paper.client, journal)
    try:
        bid, _ = await _bid_ask(paper.client)
        config = limit_gtc(Decimal("0.001"), (bid * Decimal("0.9")).quantize(Decimal("0.01")))
        placed = await executor.place(OrderIntent("ok-1", "BTC-USD", "BUY", config))
        assert journal.get("ok-1").state is IntentState.PLACED  # type: ignore[union-attr]

        fill_up(journal._db)  # private on purpose: the journal's own connection hits the cap
        # a row larger than the free space left in the existing pages
        big = OrderIntent("full-1", "BTC-USD", "BUY", config, extra={"note": "x" * 50_000})
        with pytest.raises(JournalError) as info:
            await executor.place(big)
        err = info.value
        assert isinstance(err, BotkitError) and err.path == str(journal.path)
        assert "could not record the order intent" in str(err)
        assert "disk space" in str(err) and "full" in str(err)
        assert failures == [err]  # the runtime hears of it wherever the write happened
        assert intent_states(journal.path)["full-1"] == ("PENDING", None)  # in the log

        # latched: nothing more is sent or recorded, and the failure is reported once
        small = OrderIntent("after-1", "BTC-USD", "BUY", config)
        with pytest.raises(JournalError, match="not used after an earlier failure"):
            await executor.place(small)
        assert paper.orders_with("after-1") == [] and failures == [err]
    finally:
        await executor.close()
    assert intent_states(journal.path)["full-1"] == ("PENDING", None)  # a failed close keeps it

    # space freed, the next start: the logged intent is merged and resolved first
    journal = OrderJournal(tmp_path / "journal.sqlite")
    executor = OrderExecutor(paper.client, journal)
    try:
        await executor.start()
        at_exchange = paper.orders_with("full-1")
        row = journal.get("full-1")
        assert row is not None and row.state is not IntentState.PENDING
        # the exchange took it before the row failed: found by lookup, once
        assert len(at_exchange) == 1 and row.state is IntentState.PLACED
        assert row.order_id == at_exchange[0]["order_id"]
        assert journal.get("ok-1").order_id == placed.order_id  # type: ignore[union-attr]
        assert journal.get("after-1") is None
    finally:
        await executor.close()
        await paper.client.close()


_LOG_FULL = """
import asyncio, resource, signal, sys
from decimal import Decimal
from pathlib import Path
from botkit.errors import JournalError
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, limit_gtc
from botkit.orders.journal import OrderJournal
from tests.orders.test_local_transport import _bid_ask, _paper

async def main() -> None:
    paper = _paper()
    failures = []
    journal = OrderJournal(Path(sys.argv[1]), on_failure=failures.append)
    executor = OrderExecutor(paper.client, journal)
    bid, _ = await _bid_ask(paper.client)
    config = limit_gtc(Decimal("0.001"), (bid * Decimal("0.9")).quantize(Decimal("0.01")))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))  # no write at or past offset 0
    try:
        await executor.place(OrderIntent("full-1", "BTC-USD", "BUY", config))
        print("placed")
    except JournalError as exc:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        print("refused", str(exc))
        print("reported", failures == [exc])
        print("at the exchange", len(paper.orders_with("full-1")))
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    await executor.close()
    await paper.client.close()

asyncio.run(main())
"""


def test_an_intent_that_cannot_be_logged_is_never_sent(tmp_path: Path) -> None:
    """The intent log's write fails (the kernel refuses it: RLIMIT_FSIZE 0, as a full disk
    or an I/O error would): the order is refused before its POST and the bot is told. In
    a child process, so the limit cannot touch the test runner's own files."""
    path = tmp_path / "journal.sqlite"
    done = subprocess.run(
        [sys.executable, "-c", _LOG_FULL, str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("refused ") and "could not log the order intent" in lines[0]
    assert "(the order was not sent)" in lines[0] and "disk space" in lines[0]
    assert lines[1:] == ["reported True", "at the exchange 0"]
    assert "full-1" not in intent_states(path)  # nothing to resolve: it was never sent


def test_a_journal_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    from botkit.errors import ConfigError

    not_a_db = tmp_path / "journal.sqlite"
    not_a_db.write_bytes(b"this is not an SQLite database, it is " + b"x" * 200)
    with pytest.raises(ConfigError, match="order journal .* cannot open it") as info:
        OrderJournal(not_a_db)
    assert "damaged: restore it from a backup" in str(info.value)
