"""Adapter ring: the paper session's journal (SQLite, WAL): orders, fills, balances, equity.

The paper exchange hands over a :class:`~botkit.paper.records.StateDelta` after each
change; :meth:`PaperJournal.save` writes it in **one** transaction, so a resumed session
never sees a fill without the order and balance change it produced. ``botkit report``
reads the same file (read-only, even while the session runs: WAL readers never block
the writer).

Durability, and why:

* ``journal_mode=WAL``: one sequential append per commit, readers don't block it.
* ``durable=True`` (paper trading): ``synchronous=FULL`` fsyncs the WAL at every commit,
  so once :meth:`save` returns the rows survive ``kill -9`` *and* a power cut. The paper
  session's state is the user's only record of what their strategy would have done.
* ``durable=False`` (backtests): ``synchronous=OFF``. A backtest is re-runnable from its
  data file, so it trades crash safety for speed. Its equity points are also kept in
  memory and written in batches (with the next :meth:`~PaperJournal.save`, every
  :data:`EQUITY_BATCH` points, and on reading or closing): a transaction per point was
  a tenth of a trivial replay's time. The rows and their ids are the same.

Determinism: the journal adds no wall-clock time, random id or pid to any row. Two
sessions that make the same calls produce the same rows, and :meth:`PaperJournal.dump`
renders them as the same text, which is what the replay tests compare.

Identity: ``PRAGMA application_id`` ("bkpj") and ``user_version`` (the schema version)
make a wrong file (an executor journal, a recording, a newer botkit's) a ConfigError.
One writer at a time: an exclusive ``flock`` on ``<journal>.lock`` (released if the
process dies). The format and the record <-> row codecs are in the pure
:mod:`botkit.paper.journal_schema`; this adapter opens, locks, writes and reads the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from botkit.errors import ConfigError, JournalError
from botkit.orders.journal import CACHE_SIZE, PAGE_SIZE
from botkit.orders.storage_errors import storage_failure
from botkit.paper.journal_schema import (
    APPLICATION_ID,
    DUMP_ORDER,
    FILL_COLS,
    META_KEYS,
    ORDER_COLS,
    ORDER_UPDATE,
    SCHEMA,
    SCHEMA_VERSION,
    TABLES,
    balance_from_row,
    balance_to_row,
    equity_from_row,
    equity_to_row,
    fill_from_row,
    fill_to_row,
    order_from_row,
    order_to_row,
    to_json,
)
from botkit.paper.records import (
    BalanceRecord,
    EquityPoint,
    FillRecord,
    OrderRecord,
    StateDelta,
)

# APPLICATION_ID, META_KEYS and SCHEMA_VERSION are defined in journal_schema and
# re-exported here, where callers have always imported them from.
__all__ = ["APPLICATION_ID", "META_KEYS", "SCHEMA_VERSION", "PaperJournal"]

#: Equity points a non-durable journal holds before writing them (see the module docstring).
EQUITY_BATCH = 1024

_EQUITY_INSERT = "INSERT INTO equity (t, equity, quote, marks) VALUES (?,?,?,?)"

_HOW_TO_GET_ONE = (
    "pass the paper.sqlite of a paper session (<data_dir>/paper/paper.sqlite, by default "
    "botkit-data/paper/paper.sqlite) or of a backtest (<--out>/paper.sqlite, by default "
    "botkit-data/backtest/paper.sqlite)"
)


class PaperJournal:
    """A paper session's durable record. Blocking: call it off the event loop if that matters.

    Args:
        path: the SQLite file (created with its directory unless ``readonly``).
        durable: ``synchronous=FULL`` (survives kill -9 and power loss once a call
            returns) or, when False, ``synchronous=OFF`` for fast backtests.
        readonly: open an existing journal for reading only (the report); takes no lock.

    Attributes:
        on_failure: called with the :class:`~botkit.errors.JournalError` of a failed
            write before it is raised (the runtime stops on it); also an argument, so
            writes made while opening are covered.
        failed: the first write failure; later writes are refused at once (the lost
            delta must not be followed by others: docs/paper.md, "Journal").

    Raises:
        ConfigError: the file is not a botkit paper journal, was written by a newer
            botkit, is missing (``readonly``), or is locked by another session.
    """

    def __init__(
        self,
        path: Path,
        *,
        durable: bool = True,
        readonly: bool = False,
        on_failure: Callable[[JournalError], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.on_failure: Callable[[JournalError], None] | None = on_failure
        self.failed: JournalError | None = None
        self._lock_fd: int | None = None
        self._buffer_equity = not durable and not readonly
        self._equity: list[tuple[float, str, str, str]] = []  # rows not yet written
        if readonly and not self.path.is_file():
            raise ConfigError(f"{self.path}: no such journal file; {_HOW_TO_GET_ONE}")
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._take_lock()
        try:
            if readonly:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None,
                                           check_same_thread=False)  # fmt: skip
            else:
                self._db = sqlite3.connect(self.path, isolation_level=None,
                                           check_same_thread=False)  # fmt: skip
            self._db.execute("PRAGMA busy_timeout=2000")
            # bounded like the order journal's (orders.journal.CACHE_SIZE: why)
            self._db.execute(f"PRAGMA cache_size={CACHE_SIZE}")
            self._open(durable)
        except sqlite3.DatabaseError as exc:  # OperationalError too: unopenable, locked
            self._close()
            raise self._config_error(exc) from exc
        except JournalError as exc:  # a write while opening (the schema): cannot start
            self._close()
            cause = exc.__cause__
            if isinstance(cause, sqlite3.DatabaseError):
                raise self._config_error(cause) from cause
            raise
        except BaseException:
            self._close()
            raise

    # ------------------------------------------------------------------ opening

    def _take_lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ConfigError(
                f"{self.path} is in use by another running botkit session (pid {holder}); "
                "stop that session first, or give this one another journal path "
                "('botkit report' can read a journal while its session runs)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _open(self, durable: bool) -> None:
        app_id = int(self._db.execute("PRAGMA application_id").fetchone()[0])
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        tables = [r[0] for r in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]  # fmt: skip
        if app_id == 0 and version == 0 and not tables and not self.readonly:
            # 1 KiB pages, like the order journal's (orders.journal.PAGE_SIZE: why): an order
            # placed and filled writes ~12 KiB of WAL instead of ~50 KiB
            self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._set_sync(durable)
            with self._tx():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            return
        if app_id != APPLICATION_ID:
            what = f"an SQLite database with tables {', '.join(tables)}" if tables else "empty"
            raise ConfigError(f"{self.path} is not a botkit paper journal ({what}); "
                              f"{_HOW_TO_GET_ONE}")  # fmt: skip
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"{self.path} was written by a newer botkit (journal schema {version}; this "
                f"botkit reads up to {SCHEMA_VERSION}): upgrade botkit (pip install -U botkit)"
            )
        if version < 1:
            raise ConfigError(f"{self.path} is an unfinished botkit paper journal (schema 0); "
                              f"delete it or {_HOW_TO_GET_ONE}")  # fmt: skip
        if not self.readonly:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._set_sync(durable)

    def _set_sync(self, durable: bool) -> None:
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")

    def _config_error(self, exc: sqlite3.DatabaseError) -> ConfigError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return ConfigError(
                f"{self.path} is locked by another process ({text}); stop the session "
                "writing it, or copy the file and open the copy"
            )
        if "not a database" in text or "malformed" in text:
            return ConfigError(f"{self.path} is not a botkit paper journal (not an SQLite "
                               f"database: {text}); {_HOW_TO_GET_ONE}")  # fmt: skip
        return ConfigError(f"{self.path}: cannot open the paper journal ({text})")

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        """One IMMEDIATE transaction: all of it is committed, or none of it."""
        if self.readonly:
            raise ConfigError(f"{self.path} was opened read-only; it cannot be written")
        if self.failed is not None:  # latched: see on_failure
            raise JournalError(
                f"paper journal {self.path}: not written after an earlier failure ({self.failed})",
                path=str(self.path),
            )
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:  # one mapping for every write (disk full, I/O, locked)
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            if not storage_failure(exc):
                raise
            err = self.failed = JournalError(
                f"paper journal {self.path}: a write failed: {exc}. Check free disk space, "
                "permissions, and that no other process holds the database; the journal "
                "is consistent up to its last completed write, and restarting resumes from it",
                path=str(self.path),
            )
            if self.on_failure is not None:
                self.on_failure(err)
            raise err from exc

    def close(self) -> None:
        """Write buffered equity points, close the database, release the lock (idempotent).

        Raises:
            JournalError: the buffered points could not be written (the file is closed
                and unlocked all the same).
        """
        db = getattr(self, "_db", None)
        try:
            if db is not None and self._equity and self.failed is None:
                self._write_equity()
        finally:
            self._close()

    def _close(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def write_meta(self, **values: Any) -> None:
        """Set session facts (see :data:`META_KEYS`); values are stored as canonical JSON."""
        rows = [(key, to_json(value)) for key, value in sorted(values.items())]
        with self._tx():
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                rows,
            )

    def save(self, delta: StateDelta, t: float) -> None:
        """Write one delta atomically and durably (when ``durable``), stamped as of ``t``.

        Orders are upserted by ``order_id`` (first save fixes their place in creation
        order), a fill whose ``fill_id`` is already stored is ignored (a replayed delta
        is harmless), balances are upserted and each one that differs from the stored
        row is also appended to ``balance_history``. ``t`` is kept as the progress mark.
        """
        orders = [order_to_row(o) for o in delta.orders]
        fills = [fill_to_row(f) for f in delta.fills]
        balances = [balance_to_row(b) for b in delta.balances]
        with self._tx():
            db = self._db
            current = {r[0]: tuple(r) for r in db.execute(
                "SELECT currency, available, hold, time FROM balances")}  # fmt: skip
            history = []
            for row in balances:  # a replayed (identical) record is not a change
                if current.get(row[0]) != row:
                    history.append((*row[:3], str(Decimal(row[1]) + Decimal(row[2])), row[3]))
                    current[row[0]] = row
            if orders:
                db.executemany(
                    f"INSERT INTO orders ({ORDER_COLS}) VALUES ({', '.join('?' * 18)}) "
                    f"ON CONFLICT(order_id) DO UPDATE SET {ORDER_UPDATE}",
                    orders,
                )
            if fills:
                db.executemany(
                    f"INSERT OR IGNORE INTO fills ({FILL_COLS}) VALUES ({', '.join('?' * 12)})",
                    fills,
                )
            if balances:
                db.executemany(
                    "INSERT INTO balances (currency, available, hold, time) VALUES (?,?,?,?) "
                    "ON CONFLICT(currency) DO UPDATE SET available = excluded.available, "
                    "hold = excluded.hold, time = excluded.time",
                    balances,
                )
            if history:
                db.executemany(
                    "INSERT INTO balance_history (currency, available, hold, total, time) "
                    "VALUES (?,?,?,?,?)",
                    history,
                )
            if self._equity:
                db.executemany(_EQUITY_INSERT, self._equity)
                self._equity.clear()
            db.execute(
                "INSERT INTO progress (id, last_save_t, saves) VALUES (1, ?, 1) "
                "ON CONFLICT(id) DO UPDATE SET last_save_t = excluded.last_save_t, "
                "saves = saves + 1",
                (float(t),),
            )

    def record_equity(self, point: EquityPoint) -> None:
        """Append one point of the equity curve (with the marks it was computed from).

        Written at once when durable; otherwise buffered (module docstring).
        """
        row = equity_to_row(point)
        if self._buffer_equity:
            self._equity.append(row)
            if len(self._equity) >= EQUITY_BATCH:
                self._write_equity()
            return
        with self._tx():
            self._db.execute(_EQUITY_INSERT, row)

    def _write_equity(self) -> None:
        """Write the buffered equity points in one transaction."""
        with self._tx():
            self._db.executemany(_EQUITY_INSERT, self._equity)
        self._equity.clear()

    # ------------------------------------------------------------------ reading

    def meta(self) -> dict[str, Any]:
        """Every meta value, decoded from JSON (Decimals come back as strings)."""
        rows = self._db.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
        return {str(k): json.loads(v) for k, v in rows}

    def orders(self) -> list[OrderRecord]:
        """Every order's latest state, in creation order (then first-journalled order)."""
        rows = self._db.execute(
            f"SELECT {ORDER_COLS} FROM orders ORDER BY created_time, seq"
        ).fetchall()
        return [order_from_row(r) for r in rows]

    def fills(self) -> list[FillRecord]:
        """Every fill, in ``seq`` order."""
        rows = self._db.execute(f"SELECT {FILL_COLS} FROM fills ORDER BY seq, fill_id").fetchall()
        return [fill_from_row(r) for r in rows]

    def balances(self) -> list[BalanceRecord]:
        """Current balance of every currency seen, by currency."""
        rows = self._db.execute(
            "SELECT currency, available, hold, time FROM balances ORDER BY currency"
        ).fetchall()
        return [balance_from_row(r) for r in rows]

    def balance_history(self) -> list[BalanceRecord]:
        """Every balance change in the order it was saved (``total = available + hold``)."""
        rows = self._db.execute(
            "SELECT currency, available, hold, time FROM balance_history ORDER BY id"
        ).fetchall()
        return [balance_from_row(r) for r in rows]

    def equity(self) -> list[EquityPoint]:
        """The equity curve, in the order it was recorded."""
        if self._equity:
            self._write_equity()
        rows = self._db.execute("SELECT t, equity, quote, marks FROM equity ORDER BY id").fetchall()
        return [equity_from_row(r) for r in rows]

    def last_save_time(self) -> float | None:
        """``t`` of the last :meth:`save`, or None before the first one."""
        row = self._db.execute("SELECT last_save_t FROM progress WHERE id = 1").fetchone()
        return None if row is None else float(row[0])

    def load(self) -> tuple[list[OrderRecord], list[FillRecord], list[BalanceRecord]]:
        """What a resumed session restores: orders, fills and current balances."""
        return self.orders(), self.fills(), self.balances()

    def pragmas(self) -> dict[str, str]:
        """The connection's durability settings: ``journal_mode`` (``wal``) and
        ``synchronous`` (``full`` when durable, ``off`` otherwise), for tests and diagnosis."""
        mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
        sync = int(self._db.execute("PRAGMA synchronous").fetchone()[0])
        return {"journal_mode": str(mode).lower(),
                "synchronous": {0: "off", 1: "normal", 2: "full", 3: "extra"}[sync]}  # fmt: skip

    def dump(self) -> str:
        """All tables as canonical text (one JSON array per row, tables in a fixed order).

        Two journals with the same content dump to the same string, whatever their
        page layout on disk; the replay tests compare journals this way.
        """
        if self._equity:
            self._write_equity()
        lines = [f"# botkit paper journal, schema {SCHEMA_VERSION}"]
        for table in TABLES:
            cols = [r[1] for r in self._db.execute(f"PRAGMA table_info({table})")]
            lines.append(f"[{table}] " + ",".join(cols))
            for row in self._db.execute(f"SELECT * FROM {table} ORDER BY {DUMP_ORDER[table]}"):
                lines.append(json.dumps(list(row), separators=(",", ":"), ensure_ascii=False))
        return "\n".join(lines) + "\n"
