"""Adapter ring: the durable order-intent journal (SQLite, WAL) behind exactly-once placement.

An intent is made durable **before** the first POST of a create-order: its row, or
(a new id, the overlap executor) its record in the intent log, which becomes its row
once the POST is answered. After a crash (even ``kill -9``, even a power cut) every
row still ``PENDING`` (and every record the table lacks, merged at the next open) is an
order whose outcome botkit does not know; the executor resolves each one by
``client_order_id`` at start-up before accepting anything new.

Durability settings, and why:

* ``journal_mode=WAL``: a writer never blocks readers, and a commit is one
  sequential append to the ``-wal`` file (cheap on SD cards).
* ``synchronous=FULL``: in WAL mode, ``NORMAL`` survives a process crash but
  may lose the last commits on power loss; ``FULL`` fsyncs the WAL at every
  commit. Losing an intent row would let a restarted bot forget an order that
  Coinbase may have, which is exactly the duplicate/loss we exist to prevent;
  one fsync (well under a millisecond on SSD, a few ms on an SD card) is small
  next to a 50–150 ms round trip to Coinbase. Configurable for benchmarks.
* **Deferred sync** (:meth:`OrderJournal.defer_sync`, the executor's default
  ``durability="overlap"``): the intent is committed *without* an fsync (the WAL
  frames are in the OS page cache, which survives a killed process), the POST
  leaves, and :meth:`OrderJournal.sync` (``fdatasync`` of the WAL, on the journal
  thread) runs while the request is in flight; the executor waits for it before it
  acts on the answer. Checkpoints then also run in :meth:`sync` (on a second
  connection; the committing connection runs at ``synchronous=OFF``), so no fsync is
  left on the committing thread. Only a power cut between the POST and the fsync can
  lose an intent whose order reached the exchange; start-up reconciliation adopts
  such an order (docs/executor.md).
* Outcome updates (PLACED/REJECTED/FAILED, attempt counts) are written with
  ``synchronous=NORMAL``: crash-safe, and made power-safe by the next intent's
  FULL commit (one WAL, synced in order). Losing a PLACED one to a power cut costs
  only a lookup at the next start, because the row is then still PENDING. A
  REJECTED/FAILED one is not left to chance: the executor fsyncs the WAL
  (:meth:`sync`) before it tells the caller, since a PENDING row would be re-POSTed
  at the next start into a market that may now accept it.
* **Small pages, one index** (new journals; :data:`PAGE_SIZE`): a commit writes every page
  it changed to the WAL whole. With SQLite's default 4 KiB pages and a partial index
  of the PENDING rows, an intent and its outcome wrote ~21.5 KiB of WAL (table page,
  primary-key index page, pending-index page, twice); with 1 KiB pages and no pending
  index, ~4.4 KiB — a fifth of the writes to wear an SD card and to fsync, and the
  INSERT on the tick → order path ~30 % cheaper (docs/benchmarks.md). The pending index
  served one query, the start-up scan for PENDING rows, which reads a pruned table once.
  A journal made by an older botkit keeps its page size (SQLite cannot change it in WAL
  mode without a rewrite) and loses the index at its next open.
* **The intent log** (:meth:`OrderJournal.start_log`, used by the overlap executor for an
  id the journal surely lacks): a new intent is written to ``<journal>-intents``
  (:mod:`botkit.orders.intent_log`, one ``pwrite()``, a few µs) before the POST instead of
  being inserted here (45-70 µs on a cold tick); :meth:`OrderJournal.absorb` inserts its
  row once the POST is answered, :meth:`sync` fdatasyncs the log, and an open after a
  crash merges what the log holds and the table lacks (as PENDING: resolved with the
  exchange at start-up, as any intent written before its POST). With the log in use the
  WAL is fsynced only for commits that need it (a row written the SQLite way, a
  REJECTED/FAILED outcome, an adoption), before the log lets records go, every
  :data:`CHECKPOINT_WRITES` rows and at least every :data:`WAL_MAX_AGE` seconds: a row
  whose record the log still holds, or a PLACED outcome (a lookup at the next start),
  can wait. Each logged row keeps its ``log_seq``; ``meta.merged_below`` says which log
  records are settled, so a stale record can never bring back a row that was pruned
  (:meth:`prune`).

Schema (``intents``)::

    client_order_id TEXT PRIMARY KEY   the idempotency key sent to Coinbase
    product_id      TEXT               copied out of the body, for lookups
    side            TEXT               BUY / SELL, to verify echoes and lookups
    body            BLOB               the exact bytes POSTed (re-POSTed on resolve)
    body_sha256     TEXT               to detect a reused id with a different order
    state           TEXT               PENDING | PLACED | REJECTED | FAILED
    order_id        TEXT               Coinbase's id once known
    error           TEXT               why REJECTED/FAILED (reason code + message)
    attempts        INTEGER            attempt series that may have reached the exchange
                                       beyond a first fresh one (an unknown outcome, a
                                       re-submission): > 0 forces a lookup before FAILED
    created_at      REAL               local Unix time the intent was written
    log_seq         INTEGER            its record in the intent log (NULL: never logged)
    updated_at      REAL               local Unix time of the last change
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from botkit.errors import ConfigError, JournalError
from botkit.orders.coid_filter import CoidFilter
from botkit.orders.intent_log import HALF_BYTES, IntentLog, LoggedIntent
from botkit.orders.storage_errors import storage_failure, storage_passing

__all__ = ["IntentRecord", "IntentState", "OrderJournal", "storage_failure"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
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
    updated_at      REAL NOT NULL,
    log_seq         INTEGER
);
DROP INDEX IF EXISTS intents_pending;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_COLUMNS = (
    "client_order_id, product_id, side, body, body_sha256, state, order_id, error, attempts, "
    "created_at, updated_at"
)


class IntentState(StrEnum):
    """Where an intent stands. Only PENDING is unresolved."""

    PENDING = "PENDING"  # written; the exchange may or may not have the order
    PLACED = "PLACED"  # the exchange has it (order_id known)
    REJECTED = "REJECTED"  # the exchange refused it (success:false), or the id was reused
    FAILED = "FAILED"  # never processed (e.g. 401/403/400 on every attempt)


@dataclass(frozen=True, slots=True)
class IntentRecord:
    """One journal row (or, from :meth:`OrderJournal.log_intent`, what its row will be:
    ``body_sha256`` is then "" until the row is written)."""

    client_order_id: str
    product_id: str
    side: str
    body: bytes
    body_sha256: str
    state: IntentState
    order_id: str | None
    error: str | None
    attempts: int
    created_at: float
    updated_at: float


PAGE_SIZE = 1024
"""Page size of a new journal, in bytes (SQLite's default is 4096). A row is ~300 bytes
(the order body dominates), so three fit a page; each commit writes only the pages it
changed, so smaller pages mean proportionally fewer bytes per order (module docstring)."""

CACHE_SIZE = -256
"""SQLite page cache of the journal, in KiB (negative: KiB, SQLite's convention).

Why bounded this low: the journal appends and updates rows by primary key, so a large
cache buys nothing, while SQLite's default (2 MB) fills one page at a time as the file
grows — about 1.8 MB over the first ~5 000 orders, which the hour-long soak measured
as a slow RSS slope long after warm-up. At 256 KiB it is full after a few hundred orders
(bench/bench_soak.py; the per-order cost did not change within noise)."""

SWITCH_AT = HALF_BYTES // 2
""":meth:`OrderJournal.sync` switches the intent log's halves once the active one holds
this many bytes (~700 intents), copying the records still needed (module
:mod:`~botkit.orders.intent_log`); the other half is then free to be written over."""

_LOG_ROOM = 16 * 1024  # bytes an intent may take in the log's active half (bodies ~300)

WAL_MAX_AGE = 2.0
"""With the intent log in use, seconds a commit may wait for its WAL fsync at most while
syncs run (one per order placed; an idle bot's last rows wait for its next order or its
close, their records still in the log). A power cut then rolls back at most this much of
finished orders' rows: each comes back from the log, PENDING, and is resolved by lookup
at the next start."""

CHECKPOINT_WRITES = 400
"""With deferred sync, :meth:`OrderJournal.sync` checkpoints the WAL once this many rows
were written since the last checkpoint (an intent and its outcome are ~4 pages of WAL:
~0.9 MB of WAL between checkpoints with 1 KiB pages, ~3.5 MB in an older 4 KiB journal)."""


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class OrderJournal:
    """A SQLite journal of order intents. Blocking; the executor calls it off the event loop.

    Args:
        path: database file (created with its directory).
        synchronous: ``FULL`` (default, power-loss safe), ``NORMAL`` (crash safe) or
            ``OFF`` (backtests: a replay is re-run, not recovered).
        wall: local clock for timestamps.
        on_failure: called with the :class:`~botkit.errors.JournalError` of any failed
            write (before it is raised to the caller): the runtime stops the bot on it.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        wall: Callable[[], float] = time.time,
        on_failure: Callable[[JournalError], None] | None = None,
    ) -> None:
        self.on_failure = on_failure
        self.failed: JournalError | None = None
        if synchronous not in ("FULL", "NORMAL", "EXTRA", "OFF"):
            raise ValueError("synchronous must be FULL, NORMAL, EXTRA or OFF")
        self.path = Path(path)
        self._wall = wall
        self._synchronous = synchronous
        self._level = synchronous  # the connection's current PRAGMA synchronous
        self._deferred = False
        self._changes = 0  # rows written by this connection (sqlite3 total_changes)
        self._checkpointed = 0
        self._wal_fd: int | None = None
        self._ckpt: sqlite3.Connection | None = None
        # the intent log (start_log): records appended, those fdatasynced, and the ones
        # whose row is not written yet; the lock orders appends against emptying the log
        self._log: IntentLog | None = None
        self._log_lock = threading.Lock()
        self._filter: CoidFilter | None = None
        self._fresh: tuple[CoidFilter, list[str]] | None = None  # a rebuild, ids added meanwhile
        self._unmerged: dict[str, LoggedIntent] = {}
        self._next_seq: int | None = None  # read from the table when first needed
        self._appends = 0
        self._log_synced = 0
        # absorbed records whose row's commit (the _changes value after it) no WAL fsync
        # has covered yet: copied too when the log switches halves
        self._undurable: dict[str, tuple[LoggedIntent, int]] = {}
        # with the log in use the WAL is fsynced only when a commit needs it (sync()):
        # _changes at the last commit that must be power-safe, and at the last WAL fsync
        # (-1: the first sync covers whatever a killed run left in the OS)
        self._wal_wanted = 0
        self._wal_synced = -1
        self._wal_synced_at = time.monotonic()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new file only: set before WAL
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute(f"PRAGMA cache_size={CACHE_SIZE}")
            self._db.executescript(_SCHEMA)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(intents)")}
            if "log_seq" not in columns:  # a journal made by an older botkit
                self._db.execute("ALTER TABLE intents ADD COLUMN log_seq INTEGER")
            row = self._db.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()
            if row is None:  # binds the intent log to this database (intent_log's salt)
                row = (int.from_bytes(os.urandom(4), "little"),)
                self._db.execute("INSERT INTO meta (key, value) VALUES ('journal_id', ?)", row)
            self._salt = int(row[0])
            if self.log_path.exists():
                try:
                    logfile = IntentLog(self.log_path, self._salt)
                except BlockingIOError:  # open in another process: its log, not ours
                    log.warning("%s is in use by another process; not merged", self.log_path)
                else:
                    try:
                        self._merge(logfile)
                    finally:
                        logfile.close()
        except (OSError, sqlite3.Error) as exc:
            if isinstance(exc, sqlite3.Error) and not storage_failure(exc):
                raise
            damaged = type(exc) is sqlite3.DatabaseError  # "malformed", "not a database"
            if storage_passing(exc):
                raise JournalError(
                    f"order journal {self.path}: cannot open it ({exc}). Free disk space or "
                    "mend the disk; the bot starts again on its own (exit 1)",
                    path=str(self.path),
                ) from exc
            raise ConfigError(
                f"order journal {self.path}: cannot open it ({exc}). "
                + (
                    "The file is damaged: restore it from a backup; or move it aside and "
                    "check the exchange for this bot's open orders first (the journal is how "
                    "a restart knows its orders: without it they are adopted by client id "
                    "format, and intents never sent are lost)"
                    if damaged
                    else "Check free disk space, permissions, and that the data directory "
                    "is on a local disk"
                )
            ) from exc

    def close(self) -> None:
        """Close; logged intents still without a row get one (PENDING) first, and the
        intent log is emptied once the close made every row power-safe. After a failure
        the log is left as it is (the next open merges it)."""
        logfile = self._log
        for coid in list(self._unmerged):
            if self.failed is None:
                with contextlib.suppress(JournalError):  # reported; the log keeps it
                    self.absorb(coid)
        try:
            settled = False
            if logfile is not None and self.failed is None and not self._unmerged:
                # every row power-safe first (another connection to the database would
                # keep the close below from checkpointing), then the log lets them go
                with contextlib.suppress(JournalError), self._writing("close the journal"):
                    self._sync_wal()
                    with self._log_lock:
                        logfile.reset()
                    settled = True
            if logfile is not None and not settled:  # whatever it holds, for the merge
                with contextlib.suppress(OSError):
                    logfile.sync()
        finally:
            if logfile is not None:
                logfile.close()
                self._log = None
            if self._ckpt is not None:
                self._ckpt.close()
                self._ckpt = None
        if self._deferred:  # the close checkpoints: at the configured level (fsynced), also
            with contextlib.suppress(sqlite3.Error):  # after a failure (a log-side one
                self._sync(self._synchronous)  # leaves the database fine, its WAL deleted)
        self._db.close()  # the last connection: checkpoints and removes the WAL
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None

    @property
    def log_path(self) -> Path:
        """The intent log beside the database (:mod:`botkit.orders.intent_log`)."""
        return Path(f"{self.path}-intents")

    @property
    def writes(self) -> int:
        """Writes made by this journal so far (rows changed + intents logged): what a
        :meth:`sync` started after reading it makes power-safe."""
        return self._changes + self._appends

    def _merge(self, logfile: IntentLog) -> None:
        """Give every unsettled record of the intent log (just opened) its row (PENDING),
        mark them settled, then zero the log. Raises OSError/sqlite3.Error."""
        records = logfile.recovered
        low = self._merged_below()
        settled = max([low, *(r.seq + 1 for r in records)])
        merged = 0
        with self._db:  # one transaction, committed at the configured level
            self._db.execute("BEGIN")
            for r in records:
                if r.seq >= low:
                    merged += self._insert_logged(r)
            self._set_merged_below(settled)
        self._changes = self._db.total_changes
        if logfile.dirty:  # zeros, durably: nothing it held (read or not) comes back
            self._sync_wal()  # the rows power-safe first (a NORMAL/OFF or deferred commit)
            logfile.reset()
        if merged:
            log.warning(
                "%s: %d order intent(s) logged before their POST by a run that did not close "
                "the journal were recovered; they are resolved with the exchange at start-up",
                logfile.path,
                merged,
            )

    def _insert_logged(self, rec: LoggedIntent) -> int:
        """The PENDING row of a logged intent, unless its id has one (inside a transaction
        of the caller's); 1 if written."""
        return int(
            self._db.execute(
                f"INSERT OR IGNORE INTO intents ({_COLUMNS}, log_seq) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (rec.client_order_id, rec.product_id, rec.side, rec.body, sha256(rec.body),
                 "PENDING", None, None, 0, rec.created_at, rec.created_at, rec.seq),
            ).rowcount
        )  # fmt: skip

    def _merged_below(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'merged_below'").fetchone()
        return 0 if row is None else int(row[0])

    def _set_merged_below(self, value: int) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('merged_below', ?) ON CONFLICT(key) "
            "DO UPDATE SET value = MAX(value, excluded.value)",
            (value,),
        )

    def _seq(self) -> int:
        """The next log sequence number: above every one ever used or settled."""
        if self._next_seq is None:
            top = self._db.execute("SELECT MAX(log_seq) FROM intents").fetchone()[0]
            self._next_seq = max(self._merged_below(), -1 if top is None else int(top) + 1)
        return self._next_seq

    def start_log(self) -> bool:
        """Take new intents through the intent log from now on (the overlap executor).

        Builds the filter of the ids the table holds (one scan) and creates the log
        file. False, and nothing changes, for a journal that does not fsync or lives in
        memory: its inserts are cheap, or durability is not asked for.

        Raises:
            JournalError: the log file cannot be created.
        """
        if not self.syncs or str(self.path) == ":memory:":
            return False
        if self._log is not None:
            return True
        with self._writing("create the intent log"):
            try:
                logfile = IntentLog(self.log_path, self._salt)
            except BlockingIOError:
                raise OSError(
                    f"{self.log_path} is in use by another process (is another bot running "
                    "on this data directory?)"
                ) from None
            try:
                if logfile.dirty:  # the open could not merge it (its lock was held then)
                    self._merge(logfile)
                self._next_seq = None  # read again under the lock (another owner may have
                self._seq()  # merged or pruned since)
            except BaseException:
                logfile.close()
                raise
            self._log = logfile
            rows = self._db.execute("SELECT COUNT(*) FROM intents").fetchone()[0]
            known = CoidFilter(int(rows))
            for (coid,) in self._db.execute("SELECT client_order_id FROM intents"):
                known.add(str(coid))
        self._filter = known
        return True

    def _remember(self, client_order_id: str) -> None:
        """The id is in the journal now: into the filter (and a rebuild's). Under
        ``_log_lock``: a rebuild swaps the filters under it."""
        assert self._filter is not None
        self._filter.add(client_order_id)
        if self._fresh is not None:
            self._fresh[1].append(client_order_id)

    def rebuild_filter_step(self, after_rowid: int = 0, batch: int = 5000) -> int | None:
        """One step of rebuilding the client-id filter from the rows left (after a prune):
        adds up to ``batch`` rows' ids from ``after_rowid``; returns where to go on from,
        or None once the new filter has replaced the old one.

        Why: the filter only ever grew; rows pruned after :meth:`prune`'s retention kept
        their ids in it for the whole run (~1.25 B an order, a new sub-filter each time one
        fills, each checked on every new order, false positives rising: an audit). Steps,
        so that a journal of millions never holds the event loop; ids written meanwhile go
        into both filters, the swap is under the log's lock (no id is ever missing)."""
        if self._filter is None:
            return None
        if after_rowid == 0:
            rows = self._db.execute("SELECT COUNT(*) FROM intents").fetchone()[0]
            with self._log_lock:  # logged intents have no row yet (their POST in flight)
                self._fresh = (CoidFilter(int(rows) + len(self._unmerged)), list(self._unmerged))
        building = self._fresh
        if building is None:  # abandoned meanwhile (a shutdown): the filter in use stays
            return None
        fresh = building[0]
        ids = self._db.execute(
            "SELECT rowid, client_order_id FROM intents WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after_rowid, batch),
        ).fetchall()
        for _, coid in ids:
            fresh.add(str(coid))
        if len(ids) == batch:
            return int(ids[-1][0])
        with self._log_lock:
            if self._fresh is not building:  # abandoned (or started anew) meanwhile
                return None
            for coid in building[1]:
                fresh.add(coid)
            self._filter, self._fresh = fresh, None
        return None

    def rebuild_filter_abandon(self) -> None:
        """A rebuild stopped half-way (cancelled, failed): the filter in use stays, and the
        ids written from now on stop being collected for the new one."""
        with self._log_lock:
            self._fresh = None

    def can_log(self, client_order_id: str) -> bool:
        """True when a new intent with this id may go through the intent log: the journal
        certainly holds no intent with this id (the filter never saw it) and the log's
        active half has room (a sync stalled for long: the SQLite path meanwhile)."""
        known, logfile = self._filter, self._log
        return (
            known is not None
            and logfile is not None
            and logfile.room > _LOG_ROOM
            and client_order_id not in known
        )

    def log_intent(
        self, client_order_id: str, product_id: str, side: str, body: bytes
    ) -> IntentRecord:
        """Append a new PENDING intent to the intent log (crash-safe once this returns;
        power-safe after the next :meth:`sync`); its row is written by :meth:`absorb`.

        Only for an id :meth:`can_log` accepted (the caller checks; a log record
        for an id the table holds would be ignored at the merge, not compared).
        """
        logfile = self._log
        assert logfile is not None and self._filter is not None, "start_log() first"
        # no _writing() here: its generator costs more than the write (tick -> order path)
        what = "log the order intent (the order was not sent)"
        if self.failed is not None:
            raise self._refused(what)
        now = self._wall()
        rec = LoggedIntent(self._seq(), client_order_id, product_id, side, body, now)
        try:
            with self._log_lock:
                logfile.append(rec)
                self._unmerged[client_order_id] = rec
                self._remember(client_order_id)
        except OSError as exc:
            raise self._failure(what, exc) from exc
        self._next_seq = rec.seq + 1
        self._appends += 1
        # body_sha256 "": the digest detects a reused id against an existing row, which a
        # logged id cannot have; its row gets the digest (absorb). ~8 µs on a cold tick.
        return IntentRecord(
            client_order_id, product_id, side, bytes(body), "", IntentState.PENDING,
            None, None, 0, now, now,
        )  # fmt: skip

    def absorb(self, client_order_id: str) -> None:
        """Write the row of a logged intent (a no-op for any other id, and once the journal
        failed). Called once its POST is answered, before any outcome is recorded;
        idempotent."""
        rec = self._unmerged.get(client_order_id)
        if rec is None or self.failed is not None:  # failed: the log keeps it for the merge
            return
        with self._writing("record the order intent"):
            self._sync(self._quiet)
            with self._db:
                inserted = self._insert_logged(rec)
            changes = self._db.total_changes
        with self._log_lock:  # moved as one: a switch copies it from one or the other
            self._changes = changes
            self._unmerged.pop(client_order_id, None)  # (close() may race a late absorb)
            self._undurable[client_order_id] = (rec, changes)
        if not inserted:  # only another process writing this journal can do that
            log.error(
                "client_order_id=%s was logged as new but the journal %s already had it; "
                "the journal's row is kept",
                client_order_id,
                self.path,
            )

    @property
    def syncs(self) -> bool:
        """True when :meth:`sync` does an fsync (``synchronous`` FULL or EXTRA)."""
        return self._synchronous in ("FULL", "EXTRA")

    def defer_sync(self) -> None:
        """From now on every commit is crash-safe only; the owner calls :meth:`sync`.

        Every commit of this connection is then made with ``synchronous=OFF``: the WAL
        frames are handed to the OS (a killed process loses nothing; a power cut may,
        until the next :meth:`sync`), and no fsync is left on the committing thread — at
        ``NORMAL`` SQLite would still fsync the WAL header each time the WAL restarts
        after a checkpoint (strace: one fsync on the loop every ~200 orders). ``OFF`` is
        safe here because this connection never checkpoints (the automatic checkpoint is
        turned off; :meth:`sync` checkpoints on a second, ``synchronous=FULL``
        connection, which syncs the WAL before and the database after copying) and
        :meth:`sync` fdatasyncs the whole WAL file, header and frames. :meth:`close`
        restores the configured level first (closing the last connection checkpoints).
        A no-op unless ``synchronous`` is FULL or EXTRA.
        """
        if not self.syncs:  # nothing to defer: commits never fsync, checkpoints stay automatic
            return
        with self._writing("turn off automatic checkpoints"):
            self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._deferred = True

    def sync(self) -> None:
        """Make every commit so far power-safe: ``fdatasync`` the WAL. Blocking.

        An fsync of the WAL after a commit is what ``synchronous=FULL`` does inside the
        commit (SQLite's WAL mode syncs only the WAL at a commit). The intent log's new
        records are fdatasynced first, and the WAL only when a commit needs it (module
        docstring); past :data:`SWITCH_AT` the log switches halves.
        Called by the executor's journal thread while the POST is in flight; calls made
        while one runs queue behind it, so one fsync covers every intent written before it
        started (group commit). With deferred sync it also checkpoints the WAL now and then, on
        a second connection (a passive checkpoint never blocks the writer). A no-op
        unless ``synchronous`` is FULL or EXTRA.
        """
        if not self.syncs:
            return
        if self.failed is not None and self._log is not None:  # logged intents, power-safe
            with contextlib.suppress(OSError):  # for the merge at the next start
                self._log.sync()
        with self._writing("make the order intents durable (fsync of the WAL)"):
            changes = self._changes  # every commit counted here is covered by the fsync below
            logfile, appends = self._log, self._appends
            if logfile is not None and appends > self._log_synced:
                logfile.sync()
                self._log_synced = appends
            switch = logfile is not None and logfile.size > SWITCH_AT
            now = time.monotonic()
            if (
                logfile is None  # every intent is a row: the WAL, always
                or switch  # the rows of the records the old half holds
                or self._wal_wanted > self._wal_synced  # a slow-path intent, a final outcome
                or changes - self._checkpointed >= CHECKPOINT_WRITES  # (checkpoints there)
                or now - self._wal_synced_at > WAL_MAX_AGE
            ):
                self._sync_wal()
                self._wal_synced, self._wal_synced_at = changes, now
                with self._log_lock:
                    self._undurable = {c: v for c, v in self._undurable.items() if v[1] > changes}
            if switch:
                assert logfile is not None
                with self._log_lock:  # no append meanwhile
                    keep = [*self._unmerged.values(), *(r for r, _ in self._undurable.values())]
                    logfile.switch(keep)
                logfile.sync()  # the copies, before a later switch writes over the originals

    def _sync_wal(self) -> None:
        """The WAL half of :meth:`sync` (inside its ``_writing``)."""
        if self._wal_fd is None:
            try:
                self._wal_fd = os.open(f"{self.path}-wal", os.O_RDONLY)
            except FileNotFoundError:  # nothing written since the last clean close
                return
            # the WAL's directory entry must survive a power cut too (once)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        (getattr(os, "fdatasync", None) or os.fsync)(self._wal_fd)
        writes = self._changes
        if self._deferred and writes - self._checkpointed >= CHECKPOINT_WRITES:
            if self._ckpt is None:
                self._ckpt = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False
                )
                self._ckpt.execute("PRAGMA busy_timeout=5000")
                self._ckpt.execute(f"PRAGMA synchronous={self._synchronous}")
            self._ckpt.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self._checkpointed = writes

    @staticmethod
    def _row(row: tuple[Any, ...]) -> IntentRecord:
        coid, product, side, body, digest, state, order_id, error, attempts, created, upd = row
        return IntentRecord(
            str(coid),
            str(product),
            str(side),
            bytes(body),
            str(digest),
            IntentState(str(state)),
            None if order_id is None else str(order_id),
            None if error is None else str(error),
            int(attempts),
            float(created),
            float(upd),
        )

    def record(
        self, client_order_id: str, product_id: str, side: str, body: bytes, *, durable: bool = True
    ) -> IntentRecord:
        """Write a new PENDING intent, or return the existing row for this id.

        ``durable=False`` (deferred sync) commits without the fsync: crash-safe at once,
        power-safe after the next :meth:`sync`.
        """
        now = self._wall()
        level = self._synchronous
        if not durable and level in ("FULL", "EXTRA"):
            level = self._quiet
        digest = sha256(body)
        with self._writing("record the order intent (the order was not sent)"):
            self._sync(level)
            with self._db:  # one autocommitted INSERT (fsync of the WAL with synchronous=FULL)
                inserted = self._db.execute(
                    f"INSERT OR IGNORE INTO intents ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (client_order_id, product_id, side, body, digest, "PENDING", None, None,
                     0, now, now),
                ).rowcount  # fmt: skip
            self._changes = self._wal_wanted = self._db.total_changes
        if self._filter is not None:
            with self._log_lock:
                self._remember(client_order_id)
        if inserted == 1:  # the row is what was just written: no need to read it back
            return IntentRecord(
                client_order_id, product_id, side, bytes(body), digest, IntentState.PENDING,
                None, None, 0, now, now,
            )  # fmt: skip
        record = self.get(client_order_id)
        assert record is not None
        return record

    @property
    def _quiet(self) -> str:
        """The level of a commit that must not fsync: NORMAL, or OFF with deferred sync."""
        return "OFF" if self._deferred else "NORMAL"

    def _sync(self, level: str) -> None:
        # only when it changes: the PRAGMA costs ~4 µs, and every intent (on the
        # tick -> order path) and outcome would set it to the level it already has
        if level != self._level:
            self._db.execute(f"PRAGMA synchronous={level}")
            self._level = level

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Map a storage failure to :class:`JournalError` (once, here) and report it.

        After the first failure the journal refuses everything (without touching the
        database again, and without a second report): the bot is stopping, and an
        order must not be placed, nor an outcome recorded, by a journal that may have
        lost the write before.
        """
        if self.failed is not None:
            raise self._refused(what)
        try:
            yield
        except (sqlite3.Error, OSError) as exc:  # OSError: the WAL's fsync (sync())
            if isinstance(exc, sqlite3.Error) and not storage_failure(exc):
                raise
            raise self._failure(what, exc) from exc

    def _refused(self, what: str) -> JournalError:
        return JournalError(
            f"order journal {self.path}: not used after an earlier failure "
            f"({self.failed}); could not {what}",
            path=str(self.path),
        )

    def _failure(self, what: str, exc: BaseException) -> JournalError:
        """The journal's first failure: recorded, reported, returned to be raised."""
        err = self.failed = JournalError(
            f"order journal {self.path}: could not {what}: {exc}. Check free disk space, "
            "permissions, and that no other process holds the database; restart botkit "
            "afterwards (pending intents are resolved with the exchange first)",
            path=str(self.path),
        )
        if self.on_failure is not None:
            self.on_failure(err)
        return err

    def get(self, client_order_id: str) -> IntentRecord | None:
        with self._writing("read an intent"):
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM intents WHERE client_order_id = ?", (client_order_id,)
            ).fetchone()
        return None if row is None else self._row(row)

    def count_attempt(self, client_order_id: str) -> None:
        """Note one more POST attempt series (kept for diagnosis across restarts)."""
        with self._writing("count an attempt"):
            self._sync(self._quiet)
            with self._db:
                self._db.execute(
                    "UPDATE intents SET attempts = attempts + 1, updated_at = ? "
                    "WHERE client_order_id = ?",
                    (self._wall(), client_order_id),
                )
            self._changes = self._db.total_changes

    def adopt(
        self, client_order_id: str, product_id: str, side: str, order_id: str, *, note: str
    ) -> bool:
        """Record an order found at the exchange as PLACED; True if the journal changed.

        For an order that carries botkit's client_order_id but has no intent row (a lost
        journal, or one restored from an older backup) a row is written with an empty
        body (the bytes are unknown), so the id can never be placed again as a new order.
        A REJECTED/FAILED row for an order the exchange does have becomes PLACED (``note``
        says why, in ``error``). A PLACED row is left as it is.
        """
        now = self._wall()
        if self._filter is not None:
            with self._log_lock:
                self._remember(client_order_id)
        with self._writing("adopt an order found at the exchange"):
            self._sync(self._quiet)
            with self._db:
                inserted = self._db.execute(
                    f"INSERT OR IGNORE INTO intents ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (client_order_id, product_id, side, b"", sha256(b""), "PLACED", order_id,
                     note, 0, now, now),
                ).rowcount  # fmt: skip
                if inserted:
                    self._changes = self._wal_wanted = self._db.total_changes
                    return True
                revived = self._db.execute(
                    "UPDATE intents SET state = 'PLACED', order_id = ?, error = ?, "
                    "updated_at = ? WHERE client_order_id = ? AND state != 'PLACED'",
                    (order_id, note, now, client_order_id),
                ).rowcount
            self._changes = self._wal_wanted = self._db.total_changes
        return bool(revived)

    def mark(
        self,
        client_order_id: str,
        state: IntentState,
        *,
        order_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record an outcome. A PLACED row never goes back (a stale answer cannot undo it)."""
        with self._writing(f"record the outcome {state}"):
            self._sync(self._quiet)
            with self._db:
                self._db.execute(
                    "UPDATE intents SET state = ?, order_id = COALESCE(?, order_id), error = ?, "
                    "updated_at = ? WHERE client_order_id = ? AND state != 'PLACED'",
                    (str(state), order_id, error, self._wall(), client_order_id),
                )
            self._changes = self._db.total_changes
            if state is not IntentState.PLACED:  # lost, the intent would be re-POSTed
                self._wal_wanted = self._changes

    def prune(
        self, before: float, *, after_rowid: int = 0, batch: int = 200
    ) -> tuple[int, int | None]:
        """Delete finished intents (PLACED, REJECTED, FAILED) last updated before ``before``.

        Why: the journal gains a row per order and a bot placing a few orders a minute for
        months would fill a Raspberry Pi's card; a finished intent is needed only while its
        client_order_id could come back (a retry, a restart's resolution: minutes to days).
        An order still resting at the exchange whose row was deleted is adopted again at
        the next start (:meth:`adopt`), as any botkit-format order without a row is.

        One short step, so a large backlog never holds the journal for long: scans up to
        ``batch`` rows in insertion order from ``after_rowid`` and returns how many it
        deleted and where to go on from — None once it reached a row created at or after
        ``before`` (everything later is newer) or the end. PENDING rows are never deleted.

        A row that came through the intent log is deleted only with its record settled:
        ``meta.merged_below`` is raised past it in the same transaction (never past a
        record still waiting for its row), so a log that still holds the record (not
        emptied yet, or its emptying lost to a power cut) cannot bring the row back.
        """
        with self._writing("forget old finished intents"):
            rows = self._db.execute(
                "SELECT rowid, state, created_at, updated_at, log_seq FROM intents "
                "WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after_rowid, batch),
            ).fetchall()
            unmerged = [r.seq for r in list(self._unmerged.values())]
            owner = self._log is not None or not self.log_path.exists()
            if not owner:  # another process may be logging: only what is settled already
                settled = self._merged_below()
            else:
                settled = min(unmerged) if unmerged else self._seq()
            old: list[int] = []
            resume: int | None = rows[-1][0] if len(rows) == batch else None
            for rowid, state, created_at, updated_at, log_seq in rows:
                if created_at >= before:
                    resume = None
                    break
                if (
                    state != "PENDING"
                    and updated_at < before
                    and (log_seq is None or log_seq < settled)
                ):
                    old.append(rowid)
            if old:
                self._sync(self._quiet)  # losing a deletion to a power cut costs nothing
                with self._db:  # one commit for the step (the connection autocommits)
                    self._db.execute("BEGIN")
                    if owner:
                        self._set_merged_below(settled)
                    self._db.executemany("DELETE FROM intents WHERE rowid = ?", [(r,) for r in old])
                self._changes = self._db.total_changes
        return len(old), resume

    def pending(self) -> list[IntentRecord]:
        """Unresolved intents, oldest first."""
        with self._writing("read the pending intents"):
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM intents WHERE state = 'PENDING' ORDER BY created_at"
            ).fetchall()
        return [self._row(r) for r in rows]

    def all(self) -> list[IntentRecord]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM intents ORDER BY created_at").fetchall()
        return [self._row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Rows per state."""
        rows = self._db.execute("SELECT state, COUNT(*) FROM intents GROUP BY state").fetchall()
        return {str(state): int(n) for state, n in rows}
