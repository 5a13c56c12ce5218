"""Adapter ring: the fill ledger — positions that survive a restart, and what they counted.

A bot restarted by its supervisor (systemd, Docker, an operator) must know what it holds:
``max_position`` is checked against it, exits are sized from it, today's loss limit is
measured on it. A position kept only in memory starts from zero at every restart; one
persisted on its own drifts from the truth, because fills keep happening while the bot is
down and a fill counted just before a crash may be reported again after it.

So the ledger keeps, in **one SQLite transaction per counted fill**:

* the strategy's position in the product (signed quantity, average price, realised PnL);
* the order's **counted high-water mark** — its cumulative filled quantity, value and
  fees *as far as the position includes them* (not as far as the feed has decoded them:
  a fill still queued for the strategy is not counted yet). An order gets its mark (at
  zero) when the exchange answers its placement (or with its first update, if that comes
  first), so a restarted bot knows every order that was working when it stopped, however
  old, and asks the exchange about each one;
* the risk engine's UTC day and the PnL it realised that day, so a restart does not hand
  a losing bot a fresh daily loss limit.

Either all three move or none does. At start-up the feed's fill tracker is seeded with the
counted marks, so the ``user`` channel's replay of an open order reports only what the
position lacks, and the runtime asks REST for the fills of botkit's orders that filled
beyond their mark while the bot was down (docs/strategies.md, "Positions across
restarts"). Nothing is counted twice and nothing is lost, whichever moment a ``kill -9``
picks — tests/orders/test_kill9_run.py checks the final position against the exchange.

Pages of 1 KiB in a new ledger (:data:`~botkit.orders.journal.PAGE_SIZE`): a filled
order's three commits write ~6.4 KiB of WAL instead of ~24.8 KiB with SQLite's default
4 KiB pages, and cost ~20 % less on the event loop (bench/bench_ledger.py).

Durability: WAL with ``synchronous=NORMAL``. A commit is an append to the WAL in the OS
page cache: it survives a killed process. A power cut may roll back the last commits —
marks and positions together, so the fills are reported again by the exchange and
counted once. The order journal, which guards against *duplicate orders*, pays for
``FULL``; this ledger does not need to.

Schema::

    position(product_id PK, quantity, avg_price, realised)   Decimals as text
    counted(order_id PK, client_order_id, product_id, side, status,
            quantity, value, fees, updated_at)               one row per order
    today(id = 0, day, realised)                              the risk engine's UTC day
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from botkit.errors import ConfigError, JournalError
from botkit.market.events import FillEvent
from botkit.orders.fills import TERMINAL_STATUSES, OrderHwm
from botkit.orders.journal import CACHE_SIZE, PAGE_SIZE
from botkit.orders.positions import Position
from botkit.orders.storage_errors import storage_passing

__all__ = ["FILE_NAME", "FillLedger"]

FILE_NAME = "fills.sqlite"
"""The ledger's file in a mode's data directory (beside ``journal.sqlite``)."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS position (
        product_id TEXT PRIMARY KEY,
        quantity TEXT NOT NULL,
        avg_price TEXT NOT NULL,
        realised TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS counted (
        order_id TEXT PRIMARY KEY,
        client_order_id TEXT NOT NULL,
        product_id TEXT NOT NULL,
        side TEXT NOT NULL,
        status TEXT NOT NULL,
        quantity TEXT NOT NULL,
        value TEXT NOT NULL,
        fees TEXT NOT NULL,
        updated_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS today (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        day INTEGER NOT NULL,
        realised TEXT NOT NULL
    )""",
)
_TERMINAL = tuple(sorted(TERMINAL_STATUSES))
_IN_TERMINAL = f"({', '.join('?' * len(_TERMINAL))})"


class FillLedger:
    """Positions, counted marks and today's realised PnL in one SQLite file.

    Args:
        path: the database file (created with its directory when missing).
        wall: Unix time for ``updated_at`` (what :meth:`prune` ages rows by).

    Raises:
        ConfigError: the file cannot be opened or is not a ledger (the message names
            the file; the bot does not start without knowing its position: exit 2).
    """

    def __init__(
        self,
        path: Path,
        *,
        wall: Callable[[], float] = time.time,
        on_failure: Callable[[JournalError], None] | None = None,
    ) -> None:
        self.path = path
        self._wall = wall
        self.on_failure = on_failure
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new file only (the journal's why)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA cache_size={CACHE_SIZE}")
            for ddl in _SCHEMA:
                self._db.execute(ddl)
        except sqlite3.Error as exc:  # a restart cannot mend it: exit 2, as the order journal
            if storage_passing(exc):  # ... unless the disk is full (exit 1: restarted)
                raise _broken(path, exc) from exc
            raise ConfigError(str(_broken(path, exc))) from exc
        self._working = {m.order_id for m in self.unfinished()}
        """Orders with an unfinished mark (saves a write per update of a known order)."""

    # -- reading (start-up) ------------------------------------------------------------------

    def positions(self) -> dict[str, Position]:
        """Every product's persisted position (flat ones included: their realised PnL)."""
        rows = self._query("SELECT product_id, quantity, avg_price, realised FROM position")
        return {r[0]: Position(Decimal(r[1]), Decimal(r[2]), Decimal(r[3])) for r in rows}

    def today(self) -> tuple[int, Decimal] | None:
        """The risk engine's UTC day number and the PnL realised that day, if recorded."""
        rows = self._query("SELECT day, realised FROM today WHERE id = 0")
        return (int(rows[0][0]), Decimal(rows[0][1])) if rows else None

    def seed(self, keep_finished: int = 1000) -> dict[str, OrderHwm]:
        """The counted marks to start a fill tracker from: every unfinished order's, and
        the ``keep_finished`` most recently updated finished ones (a late replay of one of
        those is then recognised; older ones cannot be replayed)."""
        rows = self._query(
            "SELECT * FROM (SELECT order_id, client_order_id, product_id, side, status, "
            f"quantity, value, fees FROM counted WHERE status IN {_IN_TERMINAL} "
            "ORDER BY updated_at DESC LIMIT ?) UNION ALL SELECT order_id, client_order_id, "
            "product_id, side, status, quantity, value, fees FROM counted "
            f"WHERE status NOT IN {_IN_TERMINAL}",
            (*_TERMINAL, keep_finished, *_TERMINAL),
        )
        return {r[0]: _hwm(r) for r in rows}

    def unfinished(self) -> list[OrderHwm]:
        """Every order whose mark is not finished: working when the bot last saw it."""
        rows = self._query(
            "SELECT order_id, client_order_id, product_id, side, status, quantity, value, "
            f"fees FROM counted WHERE status NOT IN {_IN_TERMINAL}",
            _TERMINAL,
        )
        return [_hwm(r) for r in rows]

    def mark(self, order_id: str) -> OrderHwm | None:
        """The order's counted mark (None: no fill of it was ever counted)."""
        rows = self._query(
            "SELECT order_id, client_order_id, product_id, side, status, quantity, value, "
            "fees FROM counted WHERE order_id = ?",
            (order_id,),
        )
        return _hwm(rows[0]) if rows else None

    # -- writing (one transaction each) ------------------------------------------------------

    def count(
        self,
        fill: FillEvent,
        position: Position,
        *,
        status: str = "",
        today: tuple[int, Decimal] | None = None,
    ) -> None:
        """Record that ``position`` now includes ``fill`` (and ``today``'s realised PnL).

        The order's mark moves to the fill's cumulative quantity, value and fees; an order
        already marked finished keeps that status. ``status``: the order's final status when
        this fill completes what it filled (the caller checks), else "".
        """
        now = self._wall()
        with self._transaction():
            self._db.execute(
                "INSERT INTO counted VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(order_id) "
                "DO UPDATE SET quantity = excluded.quantity, value = excluded.value, "
                "fees = excluded.fees, updated_at = excluded.updated_at, status = CASE WHEN "
                f"status IN {_IN_TERMINAL} THEN status WHEN excluded.status != '' THEN "
                "excluded.status ELSE status END",
                (
                    fill.order_id, fill.client_order_id, fill.product_id, fill.side, status,
                    str(fill.cumulative_quantity), str(fill.cumulative_value),
                    str(fill.cumulative_fees), now, *_TERMINAL,
                ),
            )  # fmt: skip
            self._db.execute(
                "INSERT OR REPLACE INTO position VALUES (?, ?, ?, ?)",
                (
                    fill.product_id,
                    str(position.quantity),
                    str(position.avg_price),
                    str(position.realised),
                ),
            )
            if today is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO today VALUES (0, ?, ?)", (today[0], str(today[1]))
                )
        if status in TERMINAL_STATUSES:
            self._working.discard(fill.order_id)
        else:
            self._working.add(fill.order_id)

    def opened(
        self, order_id: str, client_order_id: str, product_id: str, side: str, status: str
    ) -> None:
        """A working order of the strategy: give it a mark at zero unless it has one, so a
        restart asks about it even when it filled and finished while the bot was down."""
        if order_id in self._working or not order_id:
            return
        with self._transaction():
            added = self._db.execute(
                "INSERT OR IGNORE INTO counted VALUES (?, ?, ?, ?, ?, '0', '0', '0', ?)",
                (order_id, client_order_id, product_id, side, status, self._wall()),
            ).rowcount
        if added:  # else a finished mark (an unfinished one is in _working already)
            self._working.add(order_id)

    def finished(self, order_id: str, status: str, filled: Decimal) -> None:
        """An order reached a final status having filled ``filled`` in all: its mark stops
        being asked about and becomes prunable — once it has counted all of that. A mark
        still short of it stays unfinished (the fill is on its way; if the bot dies first,
        the restart asks about the order again). No mark: nothing."""
        if status not in TERMINAL_STATUSES:
            return
        mark = self.mark(order_id)
        if mark is None or mark.terminal or mark.cumulative_quantity < filled:
            return
        with self._transaction():
            self._db.execute(
                "UPDATE counted SET status = ?, updated_at = ? WHERE order_id = ?",
                (status, self._wall(), order_id),
            )
        self._working.discard(order_id)

    def prune(self, older_than: float) -> int:
        """Forget finished orders' marks not updated for ``older_than`` seconds; return how
        many. Unfinished orders' marks and positions are never pruned.

        The caller keeps ``older_than`` well above the executor's reconciliation window:
        a finished order the exchange still lists at start-up must find its mark.
        """
        cutoff = self._wall() - older_than
        with self._transaction():
            cur = self._db.execute(
                f"DELETE FROM counted WHERE status IN {_IN_TERMINAL} AND updated_at < ?",
                (*_TERMINAL, cutoff),
            )
        return cur.rowcount

    def close(self) -> None:
        self._db.close()

    # -- internals ---------------------------------------------------------------------------

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[str, ...]]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc

    def _failed(self, exc: sqlite3.Error) -> JournalError:
        """The error to raise, reported first to ``on_failure`` (the runtime stops on it):
        a write made inside a strategy's hook (an order's mark, at placement) would
        otherwise end in the hook guard, which leaves journal failures to their reporter."""
        err = _broken(self.path, exc)
        if self.on_failure is not None:
            self.on_failure(err)
        return err


def _hwm(row: tuple[str, ...]) -> OrderHwm:
    return OrderHwm(
        row[0], row[1], row[2], row[3], row[4], Decimal(row[5]), Decimal(row[6]), Decimal(row[7])
    )


def _broken(path: Path, exc: sqlite3.Error) -> JournalError:
    """The error for a ledger that cannot be used. Deleting the file forgets every
    position, so that is offered only when the file itself is damaged: for a full or
    read-only disk it was advice to lose the positions over a disk problem (a QA pass)."""
    text = str(exc).lower()
    if storage_passing(exc) or "readonly" in text or "read-only" in text:
        fix = "free disk space or make the disk writable again; the file is fine, keep it"
    elif "malformed" in text or "not a database" in text or "corrupt" in text:
        fix = "restore the file from a backup, or delete it to start positions from zero"
    else:
        fix = "check the disk (full? read-only? permissions?) and the file"
    return JournalError(f"fill ledger {path} cannot be used ({exc}): {fix}", path=str(path))
