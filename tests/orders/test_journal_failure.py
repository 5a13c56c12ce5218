"""A journal that cannot be written (full disk, I/O error, a foreign lock) stops the bot.

The failure is simulated the way SQLite reports a full disk: ``PRAGMA max_page_count``
caps the database at its current size, so the next write fails with "database or disk
is full" (SQLITE_FULL), through the real journal code.
"""

from __future__ import annotations

import resource
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from botkit.errors import BotkitError, JournalError
from botkit.orders.executor import OrderExecutor
from botkit.orders.intent_log import IntentLog
from botkit.orders.intents import OrderIntent, limit_gtc
from botkit.orders.journal import IntentState, OrderJournal
from tests.orders.test_local_transport import _bid_ask, _paper


def fill_up(db: sqlite3.Connection) -> None:
    """Make the database 'full': no page may be added from now on."""
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")


async def test_an_intent_that_cannot_be_journalled_is_never_sent(tmp_path: Path) -> None:
    """Durability before_send: the intent's row is committed before the POST."""
    paper = _paper()
    failures: list[JournalError] = []
    journal = OrderJournal(tmp_path / "journal.sqlite", on_failure=failures.append)
    executor = OrderExecutor(paper.client, journal, durability="before_send")
    try:
        bid, _ = await _bid_ask(paper.client)
        config = limit_gtc(Decimal("0.001"), (bid * Decimal("0.9")).quantize(Decimal("0.01")))
        placed = await executor.place(OrderIntent("ok-1", "BTC-USD", "BUY", config))
        assert journal.get("ok-1").state is IntentState.PLACED  # type: ignore[union-attr]

        fill_up(journal._db)  # private on purpose: the journal's own connection hits the cap
        # a body larger than the free space left in the existing pages (never sent)
        big = OrderIntent("full-1", "BTC-USD", "BUY", config, extra={"note": "x" * 50_000})
        with pytest.raises(JournalError) as info:
            await executor.place(big)
        err = info.value
        assert isinstance(err, BotkitError) and err.path == str(journal.path)
        assert "could not record the order intent (the order was not sent)" in str(err)
        assert "disk space" in str(err) and "full" in str(err)
        assert failures == [err]  # the runtime hears of it wherever the write happened
        assert paper.orders_with("full-1") == []  # nothing reached the exchange

        # latched: nothing more is sent or recorded, and the failure is reported once
        small = OrderIntent("after-1", "BTC-USD", "BUY", config)
        with pytest.raises(JournalError, match="not used after an earlier failure"):
            await executor.place(small)
        assert paper.orders_with("after-1") == [] and failures == [err]

        reader = OrderJournal(journal.path)  # another connection: the file as it is
        try:
            assert reader.get("full-1") is None and reader.get("after-1") is None
            assert reader.get("ok-1").order_id == placed.order_id  # type: ignore[union-attr]
        finally:
            reader.close()
    finally:
        await executor.close()
        await paper.client.close()


async def test_an_intent_that_cannot_be_written_ahead_is_never_sent(tmp_path: Path) -> None:
    """Durability overlap (the default): the intent goes to the write-ahead file before the
    POST; a write the OS refuses (here: past the process's file size limit, EFBIG, as a
    full disk's ENOSPC) stops it there."""
    paper = _paper()
    failures: list[JournalError] = []
    journal = OrderJournal(tmp_path / "journal.sqlite", on_failure=failures.append)
    executor = OrderExecutor(paper.client, journal)
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        bid, _ = await _bid_ask(paper.client)
        config = limit_gtc(Decimal("0.001"), (bid * Decimal("0.9")).quantize(Decimal("0.01")))
        await executor.place(OrderIntent("ok-1", "BTC-USD", "BUY", config))
        # (Python ignores SIGXFSZ: the write fails with EFBIG instead of killing the process)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16, limit[1]))
        try:
            with pytest.raises(JournalError) as info:
                await executor.place(OrderIntent("ahead-1", "BTC-USD", "BUY", config))
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        err = info.value
        assert err.path == str(journal.path)
        assert "could not record the order intent (the order was not sent)" in str(err)
        assert failures == [err]
        assert paper.orders_with("ahead-1") == []  # nothing reached the exchange
        assert journal.failed is err
    finally:
        await executor.close()
        await paper.client.close()


async def test_a_write_ahead_file_that_cannot_be_opened_stops_the_start(tmp_path: Path) -> None:
    paper = _paper()
    failures: list[JournalError] = []
    journal = OrderJournal(tmp_path / "journal.sqlite", on_failure=failures.append)
    (tmp_path / "journal.sqlite-intents").mkdir()  # something that is not a file in its place
    executor = OrderExecutor(paper.client, journal)
    try:
        with pytest.raises(JournalError, match="write-ahead intents"):
            await executor.start()
        assert len(failures) == 1
    finally:
        await executor.close()
        await paper.client.close()


async def test_a_row_that_cannot_be_committed_after_the_post_is_recovered(
    tmp_path: Path,
) -> None:
    """Overlap: the intent was written ahead and POSTed, then SQLite refused its row (full).
    The bot hears of it once (the runtime stops) and the caller gets the order; the intent
    stays in the write-ahead file, and the next start (space freed) makes it a PENDING row and resolves it with the
    exchange: one order, journalled PLACED with its id."""
    paper = _paper()
    failures: list[JournalError] = []
    path = tmp_path / "journal.sqlite"
    journal = OrderJournal(path, on_failure=failures.append)
    executor = OrderExecutor(paper.client, journal)
    try:
        bid, _ = await _bid_ask(paper.client)
        config = limit_gtc(Decimal("0.001"), (bid * Decimal("0.9")).quantize(Decimal("0.01")))
        await executor.place(OrderIntent("ok-1", "BTC-USD", "BUY", config))
        fill_up(journal._db)  # private on purpose: the journal's own connection hits the cap
        big = OrderIntent("full-1", "BTC-USD", "BUY", config, extra={"note": "x" * 50_000})
        placed = await executor.place(big)  # it *is* placed: the caller is told so
        assert len(failures) == 1 and "full" in str(failures[0])  # and the runtime stops
        (sent,) = paper.orders_with("full-1")  # the POST had left: the order exists, once
        assert isinstance(sent, dict) and placed.order_id == sent["order_id"]
        await executor.close()

        again = OrderExecutor(paper.client, OrderJournal(path))  # space is back
        try:
            (resolved,) = await again.start()
            # found by lookup, or re-POSTed with its id (the exchange answers with the order)
            assert resolved.client_order_id == "full-1"
            row = again.journal.get("full-1")
            assert row is not None and row.state is IntentState.PLACED
            assert row.order_id == resolved.order_id == sent["order_id"]
            assert len(paper.orders_with("full-1")) == 1
            assert IntentLog(tmp_path / "journal.sqlite-intents").read() == ([], False)
        finally:
            await again.close()
    finally:
        await executor.close()
        await paper.client.close()


def test_a_journal_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    from botkit.errors import ConfigError

    not_a_db = tmp_path / "journal.sqlite"
    not_a_db.write_bytes(b"this is not an SQLite database, it is " + b"x" * 200)
    with pytest.raises(ConfigError, match="order journal .* cannot open it"):
        OrderJournal(not_a_db)
