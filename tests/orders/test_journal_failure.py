"""A journal that cannot be written (full disk, I/O error, a foreign lock) stops the bot.

The failure is simulated the way SQLite reports a full disk: ``PRAGMA max_page_count``
caps the database at its current size, so the next write fails with "database or disk
is full" (SQLITE_FULL), through the real journal code.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from botkit.errors import BotkitError, JournalError
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, limit_gtc
from botkit.orders.journal import IntentState, OrderJournal
from tests.orders.test_local_transport import _bid_ask, _paper


def fill_up(db: sqlite3.Connection) -> None:
    """Make the database 'full': no page may be added from now on."""
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")


async def test_an_intent_that_cannot_be_journalled_is_never_sent(tmp_path: Path) -> None:
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


def test_a_journal_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    from botkit.errors import ConfigError

    not_a_db = tmp_path / "journal.sqlite"
    not_a_db.write_bytes(b"this is not an SQLite database, it is " + b"x" * 200)
    with pytest.raises(ConfigError, match="order journal .* cannot open it"):
        OrderJournal(not_a_db)
