"""What an order journal holds on disk, read as its next open will see it (test helper).

A new intent may be only in the intent log (``<journal>-intents``) until its POST is
answered; the next open merges every unsettled record (``seq >= meta.merged_below``)
whose id the table lacks, as PENDING. These helpers read both without opening the
journal (which would merge), and drop one intent from both (what a power cut before the
fsync does), for tests that kill a placing process.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from botkit.orders.intent_log import LOG_BYTES, encode_record, read_log


def salt_of(path: Path) -> int:
    """The journal's id (the intent log's checksum seed; 0 before the log existed)."""
    with sqlite3.connect(path) as db:
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()
        except sqlite3.OperationalError:
            return 0
    return 0 if row is None else int(row[0])


def _settled(db: sqlite3.Connection) -> int:
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'merged_below'").fetchone()
    except sqlite3.OperationalError:  # a journal made before the intent log
        return 0
    return 0 if row is None else int(row[0])


def intent_states(path: Path) -> dict[str, tuple[str, str | None]]:
    """client_order_id -> (state, order_id): the table's rows, and the log's unsettled
    records the table lacks as ("PENDING", None)."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT client_order_id, state, order_id FROM intents").fetchall()
        settled = _settled(db)
    out = {coid: (state, order_id) for coid, state, order_id in rows}
    log = Path(f"{path}-intents")
    if log.exists():
        for r in read_log(log, salt_of(path)):
            if r.seq >= settled:
                out.setdefault(r.client_order_id, ("PENDING", None))
    return out


def lose_intent(path: Path, client_order_id: str) -> None:
    """Remove an intent from the table and from the intent log (a lost un-fsynced write)."""
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM intents WHERE client_order_id = ?", (client_order_id,))
    log = Path(f"{path}-intents")
    if log.exists():
        salt = salt_of(path)
        records = read_log(log, salt)
        kept = b"".join(
            encode_record(r, salt) for r in records if r.client_order_id != client_order_id
        )
        log.write_bytes(kept + b"\0" * (LOG_BYTES - len(kept)))
