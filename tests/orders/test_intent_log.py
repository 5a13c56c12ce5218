"""The intent log: a new intent logged before its POST, its row written once answered.

A process that dies in between (``os._exit`` in a child: nothing closed, nothing flushed
beyond what was written) leaves the intent in ``<journal>-intents``; the next open merges
it as PENDING, exactly as written. A record whose row was pruned never comes back, and the
log is emptied once every record in it has a durable row. The framing survives a torn
tail; the id filter has no false negatives.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.errors import JournalError
from botkit.orders import journal as journal_module
from botkit.orders.coid_filter import FALSE_POSITIVES, CoidFilter
from botkit.orders.intent_log import (
    HALF_BYTES,
    LOG_BYTES,
    IntentLog,
    LoggedIntent,
    decode_records,
    encode_record,
    read_log,
)
from botkit.orders.journal import IntentState, OrderJournal
from tests.orders.journal_disk import intent_states, salt_of

ROOT = Path(__file__).resolve().parents[2]
SALT = 0x5EED
BODY = b'{"client_order_id":"%s","product_id":"BTC-USD","side":"BUY","order_configuration":{}}'


def body(coid: str) -> bytes:
    return BODY % coid.encode()


# -- framing ----------------------------------------------------------------------------------


def _rec(seq: int, coid: str = "c") -> LoggedIntent:
    return LoggedIntent(seq, coid, "BTC-USD", "BUY", body(coid), 1_700_000_000.25 + seq)


@given(
    st.lists(
        st.builds(
            LoggedIntent,
            st.integers(1, 2**40),  # a step: seqs only grow
            st.text(max_size=40),
            st.text(max_size=12),
            st.sampled_from(["BUY", "SELL"]),
            st.binary(max_size=600),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        max_size=8,
    ),
    st.data(),
)
@settings(max_examples=300, deadline=None)
def test_records_round_trip_and_a_cut_keeps_the_whole_ones_before_it(
    steps: list[LoggedIntent], data: st.DataObject
) -> None:
    records, seq = [], 0
    for r in steps:
        seq += r.seq
        records.append(r._replace(seq=seq))
    blob = b"".join(encode_record(r, SALT) for r in records)
    assert decode_records(blob, SALT) == (records, len(blob))
    cut = data.draw(st.integers(0, len(blob)))
    got, good = decode_records(blob[:cut], SALT)
    assert got == records[: len(got)] and good <= cut
    assert good == len(b"".join(encode_record(r, SALT) for r in got))
    if records and cut < len(blob):
        assert len(got) < len(records)  # a cut record is never read


def test_a_bad_checksum_ends_the_log_there(tmp_path: Path) -> None:
    blob = bytearray(encode_record(_rec(0, "a"), SALT) + encode_record(_rec(1, "b"), SALT))
    first = len(encode_record(_rec(0, "a"), SALT))
    blob[first + 12] ^= 0xFF  # a byte of the second record's payload
    assert decode_records(bytes(blob), SALT) == ([_rec(0, "a")], first)


def test_an_older_record_after_the_newest_ends_the_log_there() -> None:
    """An emptied log is written over from its start: the older records behind the new
    ones are not the log."""
    new = encode_record(_rec(7, "n"), SALT)
    old = encode_record(_rec(3, "o"), SALT) + encode_record(_rec(4, "p"), SALT)
    assert decode_records(new + old + b"\0" * 64, SALT) == ([_rec(7, "n")], len(new))
    assert decode_records(b"\0" * 64, SALT) == ([], 0)


def test_a_torn_record_ends_the_log_and_a_reset_zeroes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "j-intents"
    log = IntentLog(path, SALT)  # new: LOG_BYTES of zeros, made durable
    try:
        assert log.recovered == [] and not log.dirty
        assert path.stat().st_size == LOG_BYTES
        log.append(_rec(0, "a"))
    finally:
        log.close()
    whole = len(encode_record(_rec(0, "a"), SALT))
    torn = encode_record(_rec(1, "b"), SALT)[:-3]  # a power cut mid-write
    with path.open("r+b") as f:
        f.seek(whole)
        f.write(torn)
    log = IntentLog(path, SALT)
    try:
        assert log.recovered == [_rec(0, "a")] and log.dirty
        log.reset()
        assert not path.read_bytes().strip(b"\0") and path.stat().st_size == LOG_BYTES
        log.append(_rec(3, "d"))
    finally:
        log.close()
    assert read_log(path, SALT) == [_rec(3, "d")]
    assert path.stat().st_size == LOG_BYTES  # written in place: the inode's size never moves


def test_a_switch_copies_what_is_kept_and_never_writes_over_the_originals(
    tmp_path: Path,
) -> None:
    """Records go to the active half; a switch writes the kept ones at the start of the
    other half. Until the next switch the old half is untouched, so a record being copied
    has an intact (fsynced) original even if the copy is lost."""
    path = tmp_path / "j-intents"
    log = IntentLog(path, SALT)
    try:
        for i in range(10):
            log.append(_rec(i, f"r{i}"))
        log.switch([_rec(9, "r9"), _rec(5, "r5")])  # in seq order, whatever the order given
        data = path.read_bytes()
        assert decode_records(data[:HALF_BYTES], SALT)[0] == [_rec(i, f"r{i}") for i in range(10)]
        assert decode_records(data[HALF_BYTES:], SALT)[0] == [_rec(5, "r5"), _rec(9, "r9")]
        log.append(_rec(10, "r10"))
        assert decode_records(path.read_bytes()[HALF_BYTES:], SALT)[0] == [
            _rec(5, "r5"), _rec(9, "r9"), _rec(10, "r10"),
        ]  # fmt: skip
        log.switch([_rec(10, "r10")])  # back: the first half is written over
        data = path.read_bytes()
        assert decode_records(data[:HALF_BYTES], SALT)[0] == [_rec(10, "r10")]
        assert [r.seq for r in read_log(path, SALT)] == [5, 9, 10]  # the union of both halves
    finally:
        log.close()


def test_a_full_half_refuses_the_record(tmp_path: Path) -> None:
    log = IntentLog(tmp_path / "j-intents", SALT)
    big = b"x" * 100_000
    try:
        for i in range(5):  # 500 KB of the 512 KiB half
            log.append(LoggedIntent(i, f"c{i}", "BTC-USD", "BUY", big, 1.0))
        with pytest.raises(OSError, match="half is full"):
            log.append(LoggedIntent(5, "c5", "BTC-USD", "BUY", big, 1.0))
    finally:
        log.close()


def test_one_process_at_a_time(tmp_path: Path) -> None:
    log = IntentLog(tmp_path / "j-intents", SALT)
    try:
        with pytest.raises(BlockingIOError):
            IntentLog(tmp_path / "j-intents", SALT)  # flock: another open file description
    finally:
        log.close()
    IntentLog(tmp_path / "j-intents", SALT).close()  # released with its descriptor


# -- the id filter ------------------------------------------------------------------------------


@given(st.lists(st.text(min_size=1, max_size=40), max_size=300), st.integers(0, 50))
@settings(max_examples=200, deadline=None)
def test_the_filter_never_forgets_an_id(ids: list[str], expected: int) -> None:
    known = CoidFilter(expected)
    for i, coid in enumerate(ids):
        known.add(coid)
        assert all(c in known for c in ids[: i + 1])
    assert len(known) == len(ids)


def test_the_filter_grows_and_keeps_its_false_positive_rate() -> None:
    known = CoidFilter(0)
    added = [f"in-{i}" for i in range(60_000)]  # 4096 + 8192 + ... : several filters
    for coid in added:
        known.add(coid)
    assert all(coid in known for coid in added)
    false = sum(f"out-{i}" in known for i in range(20_000))
    assert false / 20_000 < 3 * FALSE_POSITIVES  # the rate at capacity, with room for chance
    assert known.nbytes < 200_000


# -- the journal ---------------------------------------------------------------------------------


def record_fdatasyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record which file each ``os.fdatasync`` is for ("log" or "wal"); the real ones run."""
    synced: list[str] = []
    real = os.fdatasync

    def recording(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        synced.append("log" if name.endswith("-intents") else "wal")
        real(fd)

    monkeypatch.setattr(os, "fdatasync", recording)
    return synced


_CHILD = """
import os, sys
from pathlib import Path
from botkit.orders.journal import IntentState, OrderJournal
from tests.orders.test_intent_log import body
j = OrderJournal(Path(sys.argv[1]))
j.defer_sync()
assert j.start_log()
for step in sys.argv[2:]:
    op, _, coid = step.partition(":")
    if op == "log":
        j.log_intent(coid, "BTC-USD", "BUY", body(coid))
    elif op == "absorb":
        j.absorb(coid)
    elif op == "placed":
        j.mark(coid, IntentState.PLACED, order_id="o-" + coid)
    elif op == "prune":
        print("pruned", j.prune(4e9)[0], flush=True)
    elif op == "sync":
        j.sync()
    elif op == "close":
        j.close()
        sys.exit(0)
os._exit(0)  # as kill -9 leaves it: nothing closed, nothing flushed by us
"""


def run_child(path: Path, *steps: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), *steps],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_an_intent_logged_by_a_process_that_died_is_merged_as_pending(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "journal.sqlite"
    run_child(path, "log:a", "absorb:a", "placed:a", "log:b")  # died with b's POST in flight
    assert intent_states(path) == {"a": ("PLACED", "o-a"), "b": ("PENDING", None)}
    journal = OrderJournal(path)
    try:
        b = journal.get("b")
        assert b is not None and b.state is IntentState.PENDING and b.body == body("b")
        assert b.attempts == 0 and b.created_at == b.updated_at > 0
        assert journal.get("a").state is IntentState.PLACED  # type: ignore[union-attr]
        assert "1 order intent(s) logged before their POST" in caplog.text
        assert read_log(journal.log_path, salt_of(journal.path)) == []  # merged: emptied
        assert [r.client_order_id for r in journal.pending()] == ["b"]
    finally:
        journal.close()
    assert intent_states(path)["b"] == ("PENDING", None)  # again: nothing merged twice


def test_a_pruned_row_never_comes_back_from_the_log(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    # a finished and pruned while the log still holds its record (not emptied: small log)
    out = run_child(path, "log:a", "absorb:a", "placed:a", "sync", "prune")
    assert out.split() == ["pruned", "1"]
    assert len(read_log(Path(f"{path}-intents"), salt_of(path))) == 1  # still there
    assert intent_states(path) == {}  # settled: the next open does not merge it
    journal = OrderJournal(path)
    try:
        assert journal.get("a") is None and journal.pending() == []
    finally:
        journal.close()


def test_prune_keeps_rows_logged_after_an_intent_still_waiting_for_its_row(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"
    out = run_child(path, "log:a", "log:b", "absorb:b", "placed:b", "prune")
    assert out.split() == ["pruned", "0"]  # b is newer than a, whose POST is in flight
    assert intent_states(path) == {"a": ("PENDING", None), "b": ("PLACED", "o-b")}


def test_past_the_switch_size_the_log_moves_to_its_other_half_with_what_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "SWITCH_AT", 2000)  # a few records, not ~700
    journal = OrderJournal(tmp_path / "journal.sqlite")
    journal.defer_sync()
    assert journal.start_log()
    synced = record_fdatasyncs(monkeypatch)

    def halves() -> tuple[list[str], list[str]]:
        data = journal.log_path.read_bytes()
        first, second = data[:HALF_BYTES], data[HALF_BYTES:]
        return (
            [r.client_order_id for r in decode_records(first, salt_of(journal.path))[0]],
            [r.client_order_id for r in decode_records(second, salt_of(journal.path))[0]],
        )

    try:
        journal.sync()
        for i in range(20):
            journal.log_intent(f"c{i}", "BTC-USD", "BUY", body(f"c{i}"))
        for i in range(17):
            journal.absorb(f"c{i}")
        journal.sync()  # the WAL covers c0..c16's rows: c17..c19 (no row yet) are copied
        assert halves() == ([f"c{i}" for i in range(20)], ["c17", "c18", "c19"])
        assert synced[-3:] == ["log", "wal", "log"]  # the rows first, the copies after
        journal.absorb("c17")  # a row no WAL fsync has covered: still needed in the log
        journal.log_intent("d", "BTC-USD", "BUY", body("d"))
        monkeypatch.setattr(journal_module, "SWITCH_AT", 0)
        journal.absorb("c18")
        journal.sync()  # switches back: c19 and d wait for rows; c17, c18 got theirs now
        assert halves() == (["c19", "d"], ["c17", "c18", "c19", "d"])
        assert {r.client_order_id for r in journal.pending()} == {f"c{i}" for i in range(19)}
    finally:
        journal.close()
    assert (
        read_log(journal.log_path, salt_of(journal.path)) == []
    )  # closed: every row power-safe, the log zeroed


def test_a_second_open_leaves_a_running_journals_log_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "journal.sqlite"
    journal = OrderJournal(path)
    journal.defer_sync()
    assert journal.start_log()
    try:
        journal.log_intent("a", "BTC-USD", "BUY", body("a"))  # POST in flight
        other = OrderJournal(path)  # a tool opening the same journal meanwhile
        try:
            assert "in use by another process; not merged" in caplog.text
            assert other.get("a") is None
            with pytest.raises(JournalError, match="in use by another process"):
                other.start_log()
        finally:
            other.close()
        assert [r.client_order_id for r in read_log(journal.log_path, salt_of(journal.path))] == [
            "a"
        ]
        journal.absorb("a")
    finally:
        journal.close()


def test_can_log_knows_every_row_and_logged_intent(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = OrderJournal(path)
    journal.record("old", "BTC-USD", "BUY", body("old"))
    journal.adopt("adopted", "BTC-USD", "SELL", "o-1", note="test")
    assert not journal.can_log("new")  # no log in use: never "surely"
    journal.close()
    journal = OrderJournal(path)
    journal.defer_sync()
    try:
        assert journal.start_log()
        assert not journal.can_log("old") and not journal.can_log("adopted")
        assert journal.can_log("new")
        journal.log_intent("new", "BTC-USD", "BUY", body("new"))
        assert not journal.can_log("new")
        journal.record("other", "BTC-USD", "BUY", body("other"))
        assert not journal.can_log("other")
    finally:
        journal.close()


def test_no_log_for_a_journal_that_does_not_fsync(tmp_path: Path) -> None:
    journal = OrderJournal(tmp_path / "journal.sqlite", synchronous="OFF")
    try:
        assert not journal.start_log() and not journal.can_log("x")
        assert not journal.log_path.exists()
    finally:
        journal.close()


def test_a_journal_from_before_the_log_gains_its_column(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with sqlite3.connect(path) as db:
        old = journal_module._SCHEMA.replace(",\n    log_seq         INTEGER", "")
        db.executescript(old.split("DROP INDEX")[0])  # no log_seq column, no meta table
        db.execute(
            "INSERT INTO intents VALUES ('x','BTC-USD','BUY',x'7b7d','d','PLACED','o',NULL,0,1,1)"
        )
    journal = OrderJournal(path)
    journal.defer_sync()
    try:
        assert journal.start_log() and not journal.can_log("x")
        journal.log_intent("y", "BTC-USD", "BUY", body("y"))
        journal.absorb("y")
        assert journal.get("y").state is IntentState.PENDING  # type: ignore[union-attr]
        assert journal.prune(4e9)[0] == 1  # the old row (no log_seq) goes as before
    finally:
        journal.close()


def test_with_the_log_the_wal_is_fsynced_only_for_commits_that_need_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A logged intent's row and a PLACED outcome can wait for a later WAL fsync (the log
    holds the intent; a lost PLACED is a lookup); a row written the SQLite way, and a
    REJECTED/FAILED outcome, cannot: the next sync fsyncs the WAL. The fdatasync calls
    are recorded (the real ones run)."""
    path = tmp_path / "journal.sqlite"
    run_child(path, "log:a", "absorb:a", "placed:a")  # killed: its WAL in the OS only
    journal = OrderJournal(path)
    journal.defer_sync()
    assert journal.start_log()
    synced = record_fdatasyncs(monkeypatch)
    try:
        journal.sync()
        assert synced == ["wal"]  # the first sync: whatever the OS holds
        synced.clear()
        journal.sync()
        assert synced == []  # nothing new

        def log_and_absorb() -> None:
            journal.log_intent("x1", "BTC-USD", "BUY", body("x1"))
            journal.absorb("x1")

        steps: list[tuple[Callable[[], object], list[str]]] = [
            (log_and_absorb, ["log"]),
            (lambda: journal.mark("x1", IntentState.PLACED, order_id="o-x1"), []),
            (lambda: journal.record("first", "BTC-USD", "BUY", body("first")), ["wal"]),
            (lambda: journal.record("b", "BTC-USD", "BUY", body("b")), ["wal"]),
            (lambda: journal.mark("b", IntentState.REJECTED, error="x"), ["wal"]),
            (lambda: journal.adopt("c", "BTC-USD", "SELL", "o-c", note="n"), ["wal"]),
            (lambda: journal.count_attempt("a"), []),
        ]  # fmt: skip
        for step, expected in steps:
            synced.clear()
            step()
            journal.sync()
            assert synced == expected, (expected, synced)
    finally:
        journal.close()


def test_a_commit_waits_for_its_wal_fsync_at_most_wal_max_age(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = OrderJournal(tmp_path / "journal.sqlite")
    journal.defer_sync()
    assert journal.start_log()
    synced = record_fdatasyncs(monkeypatch)
    try:
        journal.record("first", "BTC-USD", "BUY", body("first"))
        journal.sync()
        journal.log_intent("a", "BTC-USD", "BUY", body("a"))
        journal.absorb("a")
        synced.clear()
        journal.sync()
        assert synced == ["log"]  # within WAL_MAX_AGE of the last WAL fsync
        monkeypatch.setattr(journal_module, "WAL_MAX_AGE", -1.0)  # any age is too old now
        journal.mark("a", IntentState.PLACED, order_id="o-a")
        synced.clear()
        journal.sync()
        assert synced == ["wal"]
    finally:
        journal.close()


def test_a_row_written_while_the_switch_syncs_keeps_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal thread switches halves after the WAL fsync; a row written on the loop
    meanwhile is not covered by that fsync, so its record is copied too (held inside the
    WAL's fdatasync by events, no timing)."""
    monkeypatch.setattr(journal_module, "SWITCH_AT", 0)
    journal = OrderJournal(tmp_path / "journal.sqlite")
    journal.defer_sync()
    assert journal.start_log()
    try:
        journal.sync()
        for i in range(3):
            journal.log_intent(f"c{i}", "BTC-USD", "BUY", body(f"c{i}"))
        journal.absorb("c0")
        journal.absorb("c1")
        in_wal, go_on = threading.Event(), threading.Event()
        real = os.fdatasync

        def held(fd: int) -> None:
            if not os.readlink(f"/proc/self/fd/{fd}").endswith("-intents") and not in_wal.is_set():
                in_wal.set()
                go_on.wait(10)
            real(fd)

        monkeypatch.setattr(os, "fdatasync", held)
        syncing = threading.Thread(target=journal.sync)
        syncing.start()
        assert in_wal.wait(10)
        journal.absorb("c2")  # during the WAL fsync
        go_on.set()
        syncing.join(10)
        assert not syncing.is_alive()
        second = decode_records(journal.log_path.read_bytes()[HALF_BYTES:], salt_of(journal.path))[
            0
        ]
        assert [r.client_order_id for r in second] == ["c2"]
    finally:
        journal.close()


def test_close_makes_the_rows_power_safe_before_the_log_lets_them_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection to the database keeps SQLite's close from checkpointing (and
    fsyncing): the journal fsyncs the WAL itself before it zeroes the log."""
    path = tmp_path / "journal.sqlite"
    journal = OrderJournal(path)
    journal.defer_sync()
    assert journal.start_log()
    journal.sync()
    journal.log_intent("a", "BTC-USD", "BUY", body("a"))
    journal.absorb("a")  # a row the WAL has not been fsynced for (the log holds "a")
    order = record_wal_then_log_zeroed(monkeypatch)
    other = sqlite3.connect(path)
    try:
        assert other.execute("SELECT COUNT(*) FROM intents").fetchone() == (1,)
        journal.close()
    finally:
        other.close()
    assert order[:2] == ["wal", "log zeroed"], order
    assert read_log(journal.log_path, salt_of(journal.path)) == []


def record_wal_then_log_zeroed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the WAL's fdatasyncs ("wal") and the log's fsyncs ("log zeroed": only its
    zeroing fsyncs it; records are fdatasynced), in order; the real ones run."""
    order: list[str] = []
    real_fdatasync, real_fsync = os.fdatasync, os.fsync

    def fdatasync(fd: int) -> None:
        if not os.readlink(f"/proc/self/fd/{fd}").endswith("-intents"):
            order.append("wal")
        real_fdatasync(fd)

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("-intents"):
            order.append("log zeroed")
        real_fsync(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "fsync", fsync)
    return order


def test_a_failed_journal_still_makes_the_log_power_safe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row of a logged intent could not be written: the journal refuses everything,
    but the log's record (the order may be at the exchange) is still fdatasynced for the
    merge at the next start."""
    journal = OrderJournal(tmp_path / "journal.sqlite")
    journal.defer_sync()
    assert journal.start_log()
    try:
        journal.sync()
        pages = journal._db.execute("PRAGMA page_count").fetchone()[0]  # private on purpose
        journal._db.execute(f"PRAGMA max_page_count = {pages}")  # full from now on
        journal.log_intent("big", "BTC-USD", "BUY", body("x" * 50_000))
        with pytest.raises(JournalError, match="could not record the order intent"):
            journal.absorb("big")
        synced = record_fdatasyncs(monkeypatch)
        with pytest.raises(JournalError, match="not used after an earlier failure"):
            journal.sync()
        assert synced == ["log"]
    finally:
        journal.close()
    assert [r.client_order_id for r in read_log(journal.log_path, salt_of(journal.path))] == [
        "big"
    ]  # kept


def test_the_log_of_a_deleted_journal_is_not_merged_into_a_new_one(tmp_path: Path) -> None:
    """The log is bound to its database (its journal id seeds every checksum): a journal
    deleted and started afresh (sim mode does it every run) never re-places old intents."""
    path = tmp_path / "journal.sqlite"
    run_child(path, "log:old-1")  # killed with a logged intent
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    assert Path(f"{path}-intents").exists()
    journal = OrderJournal(path)
    try:
        assert journal.pending() == [] and journal.get("old-1") is None
    finally:
        journal.close()


def test_close_after_many_rows_checkpoints_and_zeroes_the_log(tmp_path: Path) -> None:
    journal = OrderJournal(tmp_path / "journal.sqlite")
    journal.defer_sync()
    assert journal.start_log()
    for i in range(401):
        journal.record(f"a{i}", "BTC-USD", "BUY", body(f"a{i}"))
    journal.sync()  # a checkpoint (on its own connection)
    for i in range(401):
        journal.log_intent(f"b{i}", "BTC-USD", "BUY", body(f"b{i}"))
        journal.absorb(f"b{i}")
    journal.close()  # checkpoints again: 401 more rows
    assert read_log(journal.log_path, salt_of(journal.path)) == []
    again = OrderJournal(journal.path)
    try:
        assert len(again.pending()) == 802
    finally:
        again.close()


def test_a_log_short_of_room_sends_new_intents_the_sqlite_way(tmp_path: Path) -> None:
    """A sync that stalls for long (no switch) fills the active half: new intents then take
    the SQLite path instead of failing the journal."""
    journal = OrderJournal(tmp_path / "journal.sqlite")
    journal.defer_sync()
    assert journal.start_log()
    try:
        big = b"x" * 40_000
        i = 0
        while journal.can_log(f"c{i}"):
            journal.log_intent(f"c{i}", "BTC-USD", "BUY", big)
            i += 1
        assert 10 <= i <= 13  # 512 KiB of 40 KB records, less the room kept
        assert not journal.can_log("fresh")
        journal.record("fresh", "BTC-USD", "BUY", body("fresh"))  # the way it goes now
        assert journal.get("fresh").state is IntentState.PENDING  # type: ignore[union-attr]
    finally:
        journal.close()


def test_start_log_merges_a_log_the_open_could_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "journal.sqlite"
    run_child(path, "log:a")
    holder = IntentLog(Path(f"{path}-intents"), salt_of(path))  # the lock, held elsewhere
    journal = OrderJournal(path)
    try:
        assert "not merged" in caplog.text and journal.get("a") is None
        holder.close()
        journal.defer_sync()
        assert journal.start_log()
        a = journal.get("a")
        assert a is not None and a.state is IntentState.PENDING and a.body == body("a")
        assert not journal.can_log("a")
        journal.log_intent("b", "BTC-USD", "BUY", body("b"))
        assert [r.client_order_id for r in read_log(journal.log_path, salt_of(path))] == ["b"]
    finally:
        journal.close()


def test_a_failed_journal_still_closes_at_the_configured_level(tmp_path: Path) -> None:
    """SQLite checkpoints the WAL into the database at the last close and deletes it; at
    the deferred level (OFF) that copy is not fsynced, so a power cut could lose rows the
    WAL held durably. The level is restored before the close, also after a failure."""
    journal = OrderJournal(tmp_path / "journal.sqlite")
    journal.defer_sync()
    assert journal.start_log()
    statements: list[str] = []
    journal._db.set_trace_callback(statements.append)  # private on purpose: SQLite's trace
    journal.sync()
    pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
    journal._db.execute(f"PRAGMA max_page_count = {pages}")
    journal.log_intent("big", "BTC-USD", "BUY", body("x" * 50_000))
    with pytest.raises(JournalError):
        journal.absorb("big")
    statements.clear()
    journal.close()
    assert "PRAGMA synchronous=FULL" in statements, statements


def test_a_journal_that_does_not_own_the_log_prunes_only_settled_rows(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    owner = OrderJournal(path)
    owner.defer_sync()
    assert owner.start_log()
    try:
        owner.log_intent("u", "BTC-USD", "BUY", body("u"))  # in flight: no row yet
        owner.log_intent("r", "BTC-USD", "BUY", body("r"))
        owner.absorb("r")
        owner.mark("r", IntentState.PLACED, order_id="o-r")
        owner.sync()
        other = OrderJournal(path)  # a tool: the log is held by the owner
        try:
            assert other.prune(4e9) == (0, None)  # "r" is newer than the unsettled "u"
        finally:
            other.close()
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT value FROM meta WHERE key='merged_below'").fetchone() in (
                None,
                (0,),
            )
        assert intent_states(path)["u"] == ("PENDING", None)
        owner.absorb("u")
    finally:
        owner.close()


def test_the_merge_makes_rows_power_safe_before_it_zeroes_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.sqlite"
    run_child(path, "log:a")
    order = record_wal_then_log_zeroed(monkeypatch)
    journal = OrderJournal(path, synchronous="NORMAL")  # its commits do not fsync the WAL
    try:
        assert order[:2] == ["wal", "log zeroed"], order
        assert journal.get("a").state is IntentState.PENDING  # type: ignore[union-attr]
    finally:
        journal.close()
