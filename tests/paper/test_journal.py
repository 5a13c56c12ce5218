"""The paper journal: exact round trips, idempotent saves, determinism, WAL, kill -9, bad files."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.errors import ConfigError
from botkit.orders.journal import OrderJournal
from botkit.paper.journal import APPLICATION_ID, SCHEMA_VERSION, PaperJournal
from botkit.paper.records import BalanceRecord, EquityPoint, FillRecord, OrderRecord, StateDelta

# Decimals whose text form must survive: trailing zeros, exponents, many digits, negatives.
AWKWARD = [D("0.10000000"), D("1E-8"), D("123456789.123456789123456789"), D("-0.00"), D("5E+3")]


def _order(oid: str, status: str = "OPEN", filled: D = D("0"), created: float = 1.0,
           price: D | None = D("100.10"), state: dict[str, object] | None = None) -> OrderRecord:  # fmt: skip
    return OrderRecord(
        order_id=oid, client_order_id=f"c-{oid}", product_id="BTC-USD", side="BUY",
        order_type="LIMIT", time_in_force="GOOD_UNTIL_CANCELLED", post_only=True, status=status,
        limit_price=price, base_size=D("0.50000000"), filled_size=filled,
        filled_value=filled * D("100.10"), total_fees=D("0.0004"), created_time=created,
        last_update_time=created + 0.5, reject_reason="", cancel_reason="",
        state=state if state is not None else {"queue_ahead": "1.5", "n": 3, "f": 0.25,
                                               "nested": {"a": [1, None, "x"]}},
    )  # fmt: skip


def _fill(fid: str, seq: int, price: D = D("100.10"), size: D = D("0.25")) -> FillRecord:
    return FillRecord(fid, f"t-{fid}", "o1", "c-o1", "BTC-USD", "BUY", price, size,
                      D("0.0001001"), "MAKER", 2.0 + seq, seq)  # fmt: skip


def _session(j: PaperJournal) -> None:
    """A small, fixed sequence of calls (used twice to check determinism)."""
    j.write_meta(mode="paper", strategy="grid", products=["BTC-USD"], quote="USD",
                 initial_balances={"USD": D("1000.00"), "BTC": D("0")}, start_time=1.0)  # fmt: skip
    j.save(
        StateDelta([_order("o1")], [], [BalanceRecord("USD", D("949.95"), D("50.05"), 1.0)]), 1.0
    )
    j.save(StateDelta([_order("o1", filled=D("0.25"))], [_fill("f1", 1)],
                      [BalanceRecord("USD", D("949.95"), D("25.025"), 3.0),
                       BalanceRecord("BTC", D("0.25"), D("0"), 3.0)]), 3.0)  # fmt: skip
    j.record_equity(EquityPoint(3.0, D("1000.0000"), "USD", {"BTC-USD": D("100.105")}))


def test_round_trip_is_exact(tmp_path: Path) -> None:
    with PaperJournal(tmp_path / "j.sqlite") as j:
        _session(j)
        orders, fills, balances = j.load()
        assert orders == [_order("o1", filled=D("0.25"))]  # the latest state, state dict intact
        assert fills == [_fill("f1", 1)]
        assert balances == [BalanceRecord("BTC", D("0.25"), D("0"), 3.0),
                            BalanceRecord("USD", D("949.95"), D("25.025"), 3.0)]  # fmt: skip
        assert str(orders[0].base_size) == "0.50000000"  # trailing zeros kept, not just equal
        assert j.equity() == [EquityPoint(3.0, D("1000.0000"), "USD", {"BTC-USD": D("100.105")})]
        assert str(j.equity()[0].equity) == "1000.0000"
        meta = j.meta()
        assert meta["initial_balances"] == {"USD": "1000.00", "BTC": "0"}  # Decimal -> exact text
        assert meta["products"] == ["BTC-USD"] and meta["start_time"] == 1.0
        assert j.last_save_time() == 3.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.decimals(allow_nan=False, allow_infinity=False), min_size=1, max_size=6))
def test_any_decimal_round_trips_with_its_exact_text(tmp_path_factory: pytest.TempPathFactory,
                                                    values: list[D]) -> None:  # fmt: skip
    path = tmp_path_factory.mktemp("dec") / "j.sqlite"
    fills = [_fill(f"f{i}", i, price=v, size=v) for i, v in enumerate(values + AWKWARD)]
    with PaperJournal(path, durable=False) as j:
        j.save(StateDelta([], fills, []), 0.0)
        back = j.fills()
    assert [(str(f.price), str(f.size)) for f in back] == [(str(f.price), str(f.size))
                                                          for f in fills]  # fmt: skip


def test_duplicate_fill_is_ignored_and_order_upsert_keeps_creation_order(tmp_path: Path) -> None:
    with PaperJournal(tmp_path / "j.sqlite") as j:
        j.save(StateDelta([_order("o2", created=5.0), _order("o1", created=1.0)], [], []), 5.0)
        j.save(StateDelta([], [_fill("f1", 1)], []), 6.0)
        j.save(StateDelta([], [_fill("f1", 1, price=D("1"), size=D("9"))], []), 7.0)  # same id
        j.save(StateDelta([_order("o2", status="FILLED", created=5.0, state={"k": "v"})], [], []),
               8.0)  # fmt: skip
        assert j.fills() == [_fill("f1", 1)]  # the first write of a fill id wins
        orders = j.orders()
        assert [o.order_id for o in orders] == ["o1", "o2"]  # by created_time, not save order
        assert orders[1].status == "FILLED" and orders[1].state == {"k": "v"}
        assert j.last_save_time() == 8.0


def test_balance_history_appends_changes_but_not_replays(tmp_path: Path) -> None:
    usd = [BalanceRecord("USD", D("100"), D("0"), 1.0), BalanceRecord("USD", D("60"), D("40"), 2.0)]
    with PaperJournal(tmp_path / "j.sqlite") as j:
        j.save(StateDelta(balances=[usd[0]]), 1.0)
        j.save(StateDelta(balances=[usd[1]]), 2.0)
        j.save(StateDelta(balances=[usd[1]]), 2.0)  # the same delta again: not a change
        assert j.balances() == [usd[1]]
        assert j.balance_history() == usd
        rows = (
            sqlite3.connect(j.path)
            .execute(
                "SELECT currency, available, hold, total, time FROM balance_history ORDER BY id"
            )
            .fetchall()
        )
    assert rows == [("USD", "100", "0", "100", 1.0), ("USD", "60", "40", "100", 2.0)]


def test_identical_sessions_dump_identically(tmp_path: Path) -> None:
    dumps = []
    for name, durable in (("a.sqlite", True), ("b.sqlite", False)):
        with PaperJournal(tmp_path / name, durable=durable) as j:
            _session(j)
            dumps.append(j.dump())
    assert dumps[0] == dumps[1]
    assert "[fills]" in dumps[0] and '"100.10"' in dumps[0]
    with PaperJournal(tmp_path / "c.sqlite") as j:
        _session(j)
        j.record_equity(EquityPoint(4.0, D("1000.0001"), "USD", {}))
        assert j.dump() != dumps[0]


def test_wal_mode_and_synchronous_setting(tmp_path: Path) -> None:
    with PaperJournal(tmp_path / "d.sqlite") as j:
        assert j.pragmas() == {"journal_mode": "wal", "synchronous": "full"}
    with PaperJournal(tmp_path / "f.sqlite", durable=False) as j:
        assert j.pragmas() == {"journal_mode": "wal", "synchronous": "off"}
    raw = sqlite3.connect(tmp_path / "d.sqlite")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    assert raw.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()


def test_a_paper_order_writes_under_twenty_kib_of_wal(tmp_path: Path) -> None:
    """1 KiB pages (a new journal): an order saved open, then filled with its balances,
    writes ~14 KiB of WAL, each byte fsynced in paper mode and SD-card wear on a Pi; with
    SQLite's default 4 KiB pages it was ~50 KiB."""
    n = 20  # few enough that no automatic checkpoint restarts the WAL
    with PaperJournal(tmp_path / "p.sqlite") as j:
        for i in range(n):
            oid = f"o{i}"
            j.save(StateDelta([_order(oid, created=i)], [],
                              [BalanceRecord("USD", D("949.95"), D("50.05"), i)]), i)  # fmt: skip
            done = replace(_order(oid, "FILLED", D("0.5"), created=i), client_order_id=f"c-{i}")
            j.save(StateDelta([done], [replace(_fill(f"f{i}", i), order_id=oid)],
                              [BalanceRecord("USD", D("949.95"), D("0"), i + 0.5),
                               BalanceRecord("BTC", D(i + 1), D("0"), i + 0.5)]), i + 0.5)  # fmt: skip
        per_order = (tmp_path / "p.sqlite-wal").stat().st_size / n
        assert j._db.execute("PRAGMA page_size").fetchone()[0] == 1024
    assert per_order < 20 * 1024, f"{per_order / 1024:.1f} KiB of WAL per paper order"


def test_reader_sees_a_running_writer(tmp_path: Path) -> None:
    with PaperJournal(tmp_path / "j.sqlite") as writer:
        _session(writer)
        with PaperJournal(tmp_path / "j.sqlite", readonly=True) as reader:
            assert reader.fills() == writer.fills()
            with pytest.raises(ConfigError, match="read-only"):
                reader.save(StateDelta(), 1.0)


_KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from decimal import Decimal as D
    from pathlib import Path
    from botkit.paper.journal import PaperJournal
    from botkit.paper.records import BalanceRecord, FillRecord, StateDelta
    j = PaperJournal(Path(sys.argv[1]))
    for i in range(50):
        f = FillRecord(f"f{i}", f"t{i}", "o1", "c1", "BTC-USD", "BUY", D("100.01"), D("0.001"),
                       D("0.0000004"), "TAKER", float(i), i)
        j.save(StateDelta([], [f], [BalanceRecord("BTC", D("0.001") * (i + 1), D(0), float(i))]),
               float(i))
    os.kill(os.getpid(), signal.SIGKILL)  # right after save() returned: no close, no checkpoint
    """
)


def test_kill_minus_9_after_save_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite"
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(path)], timeout=60,
                          capture_output=True)  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert path.with_name("killed.sqlite-wal").stat().st_size > 0  # the rows live in the WAL
    with PaperJournal(path) as j:  # the writer lock died with the process
        fills = j.fills()
        assert [f.fill_id for f in fills] == [f"f{i}" for i in range(50)]
        assert fills[-1].fee == D("0.0000004")
        assert j.balances() == [BalanceRecord("BTC", D("0.050"), D("0"), 49.0)]
        assert len(j.balance_history()) == 50 and j.last_save_time() == 49.0


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    with (
        PaperJournal(tmp_path / "j.sqlite"),
        pytest.raises(ConfigError, match=r"j\.sqlite is in use by another running botkit"),
    ):
        PaperJournal(tmp_path / "j.sqlite")
    PaperJournal(tmp_path / "j.sqlite").close()  # released on close


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not SQLite at all " * 100)
    with pytest.raises(
        ConfigError, match=r"notes\.txt is not a botkit paper journal.*paper/paper\.sqlite"
    ):
        PaperJournal(text)
    executor = tmp_path / "journal.sqlite"  # the executor's intent journal: a real mix-up
    OrderJournal(executor).close()
    with pytest.raises(ConfigError, match=r"journal\.sqlite is not a botkit paper journal "
                                          r"\(an SQLite database with tables intents, meta\)"):  # fmt: skip
        PaperJournal(executor, readonly=True)
    with pytest.raises(ConfigError, match="no such journal file"):
        PaperJournal(tmp_path / "missing.sqlite", readonly=True)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    PaperJournal(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(ConfigError, match=r"newer botkit \(journal schema 2; this botkit reads up "
                                          r"to 1\): upgrade botkit"):  # fmt: skip
        PaperJournal(path)


def test_a_database_locked_by_another_program_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    PaperJournal(path).close()
    other = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")  # e.g. someone's sqlite3 shell in the middle of a change
    try:
        with pytest.raises(ConfigError, match=r"j\.sqlite is locked by another process"):
            PaperJournal(path, readonly=True)
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_non_json_state_is_a_clear_error(tmp_path: Path) -> None:
    with PaperJournal(tmp_path / "j.sqlite") as j:
        with pytest.raises(TypeError, match="not JSON-serialisable in a paper journal: object"):
            j.save(StateDelta([_order("o1", state={"x": object()})]), 1.0)
        j.save(StateDelta([_order("o1", state={"x": D("1.10"), "t": (1, 2)})]), 1.0)
        assert j.orders()[0].state == {"x": "1.10", "t": [1, 2]}  # documented conversions


def test_an_unopenable_path_is_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for _ in range(2):  # the second time proves the writer lock was released, not leaked
        with pytest.raises(ConfigError, match=r"a-folder: cannot open the paper journal"):
            PaperJournal(folder)
