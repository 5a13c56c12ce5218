"""The journal's write-ahead intent log: an intent is crash-safe before its POST, whatever happens next.

A killed process is a child that ``os._exit``s without closing anything (what kill -9
leaves: the OS has every ``write``, nothing was flushed, closed or committed after).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.orders.intent_log import IntentLog, LoggedIntent, decode_records, encode_record
from botkit.orders.journal import IntentState, OrderJournal

BODY = b'{"client_order_id":"c","product_id":"BTC-USD","side":"BUY"}'

intents = st.builds(
    LoggedIntent,
    st.text(min_size=1, max_size=40),
    st.sampled_from(["BTC-USD", "ETH-USD"]),
    st.sampled_from(["BUY", "SELL"]),
    st.binary(max_size=300),
    st.floats(min_value=0, max_value=2e9, allow_nan=False),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(intents, max_size=8), st.data())
def test_a_torn_tail_keeps_exactly_the_whole_records_before_it(
    records: list[LoggedIntent], data: st.DataObject
) -> None:
    frames = [encode_record(r) for r in records]
    blob = b"".join(frames)
    cut = data.draw(st.integers(0, len(blob)), label="cut")
    got, used = decode_records(blob[:cut])
    ends = [sum(len(f) for f in frames[: i + 1]) for i in range(len(frames))]
    whole = sum(1 for end in ends if end <= cut)  # records that end at or before the cut
    assert got == records[:whole]
    assert used == sum(len(f) for f in frames[:whole])


def test_a_corrupt_record_ends_the_reading() -> None:
    a, b = (LoggedIntent(f"c-{i}", "BTC-USD", "BUY", BODY, 1.0) for i in range(2))
    blob = bytearray(encode_record(a) + encode_record(b))
    blob[-3] ^= 0xFF  # a flipped byte in the last payload: its CRC fails
    assert decode_records(bytes(blob)) == ([a], len(encode_record(a)))


def test_an_older_generation_after_the_records_ends_them() -> None:
    a, b, c = (LoggedIntent(f"c-{i}", "BTC-USD", "BUY", BODY, 1.0) for i in range(3))
    old = encode_record(a, 7) + encode_record(b, 7) + encode_record(c, 7)
    new = encode_record(c, 8)  # written at offset 0 after a restart there
    blob = new + old[len(new) :] + bytes(100)
    assert decode_records(blob)[0] == [c]


def _ids(path: Path) -> list[str]:
    """The client ids the write-ahead file holds (what a restart would recover)."""
    records, torn = IntentLog(path).read()
    assert not torn
    return [r.client_order_id for r in records]


def _journal(path: Path) -> OrderJournal:
    journal = OrderJournal(path)
    journal.defer_sync()  # as the executor's durability="overlap" sets it
    return journal


def test_intents_written_ahead_survive_a_kill_before_their_rows(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    child = textwrap.dedent(
        f"""
        import os
        from botkit.orders.journal import OrderJournal
        j = OrderJournal({str(path)!r})
        j.defer_sync()
        j.write_ahead("c-1", "BTC-USD", "BUY", {BODY!r})
        j.flush()  # this one has its row
        j.write_ahead("c-2", "BTC-USD", "SELL", {BODY!r})
        j.write_ahead("c-3", "ETH-USD", "BUY", b"other")
        os._exit(0)  # killed: no flush, no close
        """
    )
    subprocess.run([sys.executable, "-c", child], check=True, timeout=60)
    assert (tmp_path / "j.sqlite-intents").stat().st_size > 0

    journal = _journal(path)
    try:
        assert journal.recover() == 2  # c-1 had its row already
        pending = {r.client_order_id: r for r in journal.pending()}
        assert set(pending) == {"c-1", "c-2", "c-3"}
        assert pending["c-3"].body == b"other" and pending["c-3"].product_id == "ETH-USD"
        assert pending["c-2"].side == "SELL" and pending["c-2"].attempts == 0
        assert all(r.state is IntentState.PENDING for r in pending.values())
        assert _ids(tmp_path / "j.sqlite-intents") == []  # zeroed once committed
        assert journal.recover() == 0  # nothing twice
    finally:
        journal.close()


def test_a_written_ahead_intent_is_seen_by_every_reader_before_its_flush(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j.sqlite")
    try:
        first = journal.write_ahead("c-1", "BTC-USD", "BUY", BODY)
        assert first.state is IntentState.PENDING and journal.ahead
        again = journal.write_ahead("c-1", "BTC-USD", "BUY", BODY)
        assert again == first  # the same intent, not a second record
        assert journal.get("c-1") == first  # get flushes first: the row is there
        assert not journal.ahead
        journal.write_ahead("c-2", "BTC-USD", "BUY", BODY)
        journal.mark("c-2", IntentState.PLACED, order_id="o-2")  # flushes, then updates
        row = journal.get("c-2")
        assert row is not None and row.state is IntentState.PLACED and row.order_id == "o-2"
        assert [r.client_order_id for r in journal.pending()] == ["c-1"]
        # an id with a row is returned as it is (write_ahead appends nothing)
        assert _ids(tmp_path / "j.sqlite-intents") == ["c-1", "c-2"]
        assert journal.write_ahead("c-2", "BTC-USD", "BUY", BODY).state is IntentState.PLACED
        assert _ids(tmp_path / "j.sqlite-intents") == ["c-1", "c-2"]
    finally:
        journal.close()
    assert not (tmp_path / "j.sqlite-intents").exists()  # a clean close leaves no file


def test_the_file_is_emptied_only_once_every_record_has_a_durable_row(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j.sqlite")
    journal.wal_sync_every = 1  # every sync fsyncs the WAL too (default: every 64 records)
    log = tmp_path / "j.sqlite-intents"
    try:
        before = journal.writes
        journal.write_ahead("c-1", "BTC-USD", "BUY", BODY)
        assert journal.writes > before  # a sync target read now covers the record
        journal.sync()
        assert _ids(log) == ["c-1"]  # synced, but its row was not committed yet
        journal.flush()
        journal.sync()
        journal.write_ahead("c-2", "BTC-USD", "BUY", BODY)
        # row committed, then made durable: c-1's record went; c-2 starts a new generation
        # at offset 0 (its record overwrites c-1's, and nothing older is read after it)
        assert _ids(log) == ["c-2"]
        journal.flush()
        journal.write_ahead("c-3", "BTC-USD", "BUY", BODY)  # appended after c-2's flush
        journal.sync()
        assert _ids(log) == ["c-2", "c-3"]  # c-3 has no row yet: both records stay
        size = log.stat().st_size
        for i in range(4, 800):  # a busy stretch without a restart at offset 0 grows the file
            journal.write_ahead(f"c-{i}", "BTC-USD", "BUY", BODY)
        assert len(_ids(log)) == 798 and log.stat().st_size > size
    finally:
        journal.close()


def test_without_deferred_sync_write_ahead_is_a_row(tmp_path: Path) -> None:
    journal = OrderJournal(tmp_path / "j.sqlite", synchronous="NORMAL")
    try:
        journal.write_ahead("c-1", "BTC-USD", "BUY", BODY)
        assert not journal.ahead and not (tmp_path / "j.sqlite-intents").exists()
        row = journal.get("c-1")
        assert row is not None and row.state is IntentState.PENDING
    finally:
        journal.close()


def test_the_wal_is_synced_when_due_and_after_a_write_a_power_cut_must_not_lose(
    tmp_path: Path,
) -> None:
    journal = _journal(tmp_path / "j.sqlite")
    journal.wal_sync_every = 3
    log = tmp_path / "j.sqlite-intents"
    try:
        for i in range(2):
            journal.write_ahead(f"c-{i}", "BTC-USD", "BUY", BODY)
            journal.flush()
            journal.mark(f"c-{i}", IntentState.PLACED, order_id=f"o-{i}")
            journal.sync()
            assert len(_ids(log)) == i + 1  # only the file was synced: its records stay
        journal.write_ahead("c-2", "BTC-USD", "BUY", BODY)
        journal.flush()
        journal.sync()  # the third record: the WAL is synced, the file starts again
        journal.write_ahead("c-3", "BTC-USD", "BUY", BODY)
        assert _ids(log) == ["c-3"]
        journal.flush()
        journal.mark("c-3", IntentState.REJECTED, error="INSUFFICIENT_FUND: no")
        journal.sync()  # a rejection lost to a power cut could be re-POSTed: synced at once
        journal.write_ahead("c-4", "BTC-USD", "BUY", BODY)
        assert _ids(log) == ["c-4"]
    finally:
        journal.close()
