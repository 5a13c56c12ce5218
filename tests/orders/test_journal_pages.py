"""The order journal writes few bytes per order (small pages, one index), and a journal
made by an older botkit still opens, keeps its rows and loses only the pending index.

Why it matters: every commit writes each page it changed to the WAL whole; on a
Raspberry Pi's SD card those bytes are wear, and each is fsynced. With 4 KiB pages and
the old partial index an intent and its outcome wrote ~21.5 KiB (botkit before this).
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from botkit.orders.journal import PAGE_SIZE, IntentState, OrderJournal

BODY = b'{"client_order_id":"x","product_id":"BTC-USD","side":"BUY",' + b'"pad":"' + b"0" * 200 + b'"}'

OLD_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE intents (
    client_order_id TEXT PRIMARY KEY,
    product_id      TEXT NOT NULL,
    side            TEXT NOT NULL,
    body            BLOB NOT NULL,
    body_sha256     TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('PENDING','PLACED','REJECTED','FAILED')),
    order_id        TEXT,
    error           TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);
CREATE INDEX intents_pending ON intents(state) WHERE state = 'PENDING';
"""


def _indexes(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
        return {str(r[0]) for r in rows}
    finally:
        db.close()


def test_an_order_writes_under_six_kib_of_wal(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = OrderJournal(path, synchronous="FULL")
    journal.defer_sync()  # as the executor's default (overlap): no checkpoint resets the WAL
    try:
        n = 200
        for _ in range(n):
            coid = str(uuid.uuid4())
            journal.record(coid, "BTC-USD", "BUY", BODY, durable=False)
            journal.mark(coid, IntentState.PLACED, order_id=coid)
        per_order = (tmp_path / "journal.sqlite-wal").stat().st_size / n
        page = journal._db.execute("PRAGMA page_size").fetchone()[0]
    finally:
        journal.close()
    assert page == PAGE_SIZE
    # ~4.4 KiB today; 4 KiB pages with the pending index wrote ~21.5 KiB
    assert per_order < 6 * 1024, f"{per_order / 1024:.1f} KiB of WAL per order"
    assert "intents_pending" not in _indexes(path)


def test_a_journal_from_an_older_botkit_opens_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(OLD_SCHEMA)
    db.execute(
        "INSERT INTO intents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        ("old-1", "BTC-USD", "BUY", BODY, "digest", "PENDING", None, None, 0, 1.0, 1.0),
    )
    db.close()
    assert "intents_pending" in _indexes(path)

    journal = OrderJournal(path, synchronous="FULL")
    try:
        assert [r.client_order_id for r in journal.pending()] == ["old-1"]
        assert journal._db.execute("PRAGMA page_size").fetchone()[0] == 4096  # kept
        journal.record("new-1", "BTC-USD", "SELL", BODY)
        journal.mark("old-1", IntentState.PLACED, order_id="o-1")
        pending = journal.pending()
    finally:
        journal.close()
    assert [(r.client_order_id, r.state) for r in pending] == [("new-1", IntentState.PENDING)]
    assert "intents_pending" not in _indexes(path)
