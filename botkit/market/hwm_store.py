"""Adapter ring: SQLite persistence of user-channel high-water marks (WAL mode).

The fill logic (:mod:`botkit.orders.fills`) deduplicates replayed cumulative updates
against a per-order high-water mark; persisting it makes dedup survive restarts, and
remembers which orders were open so the REST backfill knows what to ask about.
WAL mode lets a reader (e.g. an operator's sqlite3 shell) coexist with the bot, and
``synchronous=NORMAL`` keeps each save cheap while staying crash-consistent.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from botkit.orders.fills import OrderHwm

__all__ = ["SqliteHwmStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS order_hwm (
    order_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    side TEXT NOT NULL,
    status TEXT NOT NULL,
    cumulative_quantity TEXT NOT NULL,
    value TEXT NOT NULL,
    total_fees TEXT NOT NULL
)
"""


class SqliteHwmStore:
    """:class:`~botkit.orders.fills.HwmStore` over one SQLite file (Decimals stored as text).

    Args:
        path: database file (created when missing).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA cache_size=-256")  # bounded: see orders.journal.CACHE_SIZE
        self._db.execute(_SCHEMA)

    def load(self) -> dict[str, OrderHwm]:
        rows = self._db.execute(
            "SELECT order_id, client_order_id, product_id, side, status, cumulative_quantity,"
            " value, total_fees FROM order_hwm"
        ).fetchall()
        return {
            r[0]: OrderHwm(
                r[0], r[1], r[2], r[3], r[4], Decimal(r[5]), Decimal(r[6]), Decimal(r[7])
            )
            for r in rows
        }

    def save(self, hwm: OrderHwm) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO order_hwm VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                hwm.order_id,
                hwm.client_order_id,
                hwm.product_id,
                hwm.side,
                hwm.status,
                str(hwm.cumulative_quantity),
                str(hwm.value),
                str(hwm.total_fees),
            ),
        )

    def forget(self, order_id: str) -> None:
        self._db.execute("DELETE FROM order_hwm WHERE order_id = ?", (order_id,))

    @property
    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    def close(self) -> None:
        self._db.close()
