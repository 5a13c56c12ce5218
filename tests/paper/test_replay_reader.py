"""Reading a recording for a replay: the zlib block reader.

The reference is :func:`botkit.market.recorder.read_recording` (``gzip.open`` + ``json``):
whatever the block size, a replay must see exactly the records that reader sees, in the
same order, including across appended gzip members.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.backtest.runner import read_record_blocks, read_records
from botkit.errors import ConfigError
from botkit.market.recorder import Recorder, read_recording


def write_session(path: Path, start: float, frames: int) -> None:
    """One ``botkit record``-style session appended to ``path`` (a gzip member of its own)."""
    now = start
    rec = Recorder(path, clock=lambda: now)
    rec.meta("products", [{"product_id": "BTC-USD"}])
    rec.event("market-0", "connected")
    for i in range(frames):
        now = start + i * 0.01
        # varied, partly incompressible text so that members span several blocks
        rec.frame("market-0", now, f'{{"channel":"l2_data","sequence_num":{i},"x":"{i * 7919:x}"}}')
    rec.frame("market-0", now, b"\x00\x01binary")
    rec.event("market-0", "closed", code=1006, detail="gone")
    rec.close()


def as_dicts(path: Path, **kw: Any) -> list[tuple[float, str, str, Any]]:
    return [(r.t, r.kind, r.conn, r.data) for r, _ in read_records(path, **kw)]


@pytest.fixture(scope="module")
def two_sessions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "two.jsonl.gz"
    write_session(path, 100.0, 3000)
    write_session(path, 200.0, 500)  # appended: a second gzip member
    return path


def test_every_block_size_gives_the_reference_records(two_sessions: Path) -> None:
    ref = [(r["t"], r["kind"], r["conn"]) for r in read_recording(two_sessions)]
    assert len(ref) == 2 * 3 + 3000 + 500 + 2
    base = as_dicts(two_sessions)
    assert [x[:3] for x in base] == ref
    assert [x[3] for x in base if x[1] == "frame"] == [
        r["data"] for r in read_recording(two_sessions) if r["kind"] == "frame"
    ]
    for chunk in (7, 1000, 1 << 22):
        assert as_dicts(two_sessions, chunk=chunk) == base, chunk
        blocks = list(read_record_blocks(two_sessions, chunk=chunk))  # what the replay reads
        flat = [(r.t, r.kind, r.conn, r.data) for records, _ in blocks for r in records]
        assert flat == base and [pos for _, pos in blocks] == sorted(pos for _, pos in blocks)


@settings(max_examples=25, deadline=None)
@given(cut=st.floats(min_value=0.05, max_value=0.99))
def test_a_cut_off_file_gives_its_complete_records(
    two_sessions: Path, tmp_path_factory: pytest.TempPathFactory, cut: float
) -> None:
    """A recorder killed mid-write: the complete records are a prefix of the whole file's."""
    data = two_sessions.read_bytes()
    path = tmp_path_factory.mktemp("cut") / "cut.jsonl.gz"
    path.write_bytes(data[: max(30, int(len(data) * cut))])
    whole = as_dicts(two_sessions)
    got = as_dicts(path, chunk=4096)
    assert got == whole[: len(got)]
    assert len(got) < len(whole)


def test_a_recorder_killed_without_closing_leaves_its_last_second_replayable(
    tmp_path: Path,
) -> None:
    """Nothing closes the recorder (as after kill -9): the file on disk already holds
    every frame up to the last flush, at most FLUSH_EVERY seconds of receive time back."""
    from botkit.market.recorder import FLUSH_EVERY, Recorder

    path = tmp_path / "killed.jsonl.gz"
    rec = Recorder(path, clock=lambda: 0.0)
    frames = [(i * 0.1, f'{{"channel":"heartbeats","n":{i}}}') for i in range(50)]
    for t, data in frames:
        rec.frame("market-0", t, data)
    on_disk = [r.data for r, _ in read_records(path)]  # a cut-off member, as a kill leaves it
    last_t = frames[-1][0]
    expected = [d for t, d in frames if t <= last_t - FLUSH_EVERY]
    assert on_disk[: len(expected)] == expected and len(on_disk) < len(frames)
    rec.close()
    assert [r.data for r, _ in read_records(path)] == [d for _, d in frames]
    # the wall clock stepped back (NTP): the next frame is flushed, not held for the gap
    stepped = Recorder(tmp_path / "stepped.jsonl.gz", clock=lambda: 0.0)
    for t in (100.0, 70.0):
        stepped.frame("market-0", t, f'{{"t":{t}}}')
    assert len(list(read_records(tmp_path / "stepped.jsonl.gz"))) == 2
    stepped.close()


def test_zero_padding_between_members_is_skipped(two_sessions: Path, tmp_path: Path) -> None:
    padded = tmp_path / "padded.jsonl.gz"
    padded.write_bytes(two_sessions.read_bytes() + b"\0" * 100)
    assert as_dicts(padded) == as_dicts(two_sessions)


def test_not_gzip_or_corrupt_is_a_config_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jsonl.gz"
    junk.write_bytes(b"not gzip at all")
    with pytest.raises(ConfigError, match="not a readable gzip"):
        list(read_records(junk))
    good = gzip.compress(b'{"v":1,"t":1.0,"kind":"connected"}\n' * 1000)
    corrupt = tmp_path / "corrupt.jsonl.gz"
    corrupt.write_bytes(good[:-8] + bytes(b ^ 0xFF for b in good[-8:]))  # CRC and size wrong
    with pytest.raises(ConfigError, match="not a readable gzip"):
        list(read_records(corrupt))


def test_a_line_that_is_not_a_record_is_named_by_its_number(tmp_path: Path) -> None:
    good = '{"v":1,"t":1.0,"conn":"market-0","kind":"connected"}\n'
    path = tmp_path / "bad.jsonl.gz"
    # blank lines are skipped, but counted in the line numbers
    path.write_bytes(gzip.compress((good * 500 + "\n" + good * 99 + "{oops\n" + good).encode()))
    for chunk in (100, 1 << 22):  # the bad line in a later block, or in the only one
        with pytest.raises(ConfigError, match="line 601 is not a botkit record"):
            list(read_records(path, chunk=chunk))
    path.write_bytes(gzip.compress((good * 3 + "\n\n" + good).encode()))
    assert len(list(read_records(path, chunk=50))) == 4
