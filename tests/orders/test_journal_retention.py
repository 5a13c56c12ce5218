"""The order journal's retention: finished intents older than the cutoff leave it, in short
steps; PENDING rows and recent ones never do; a running bot prunes at start
(``[bot] journal_retention_days``)."""

from __future__ import annotations

import signal
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botkit.orders.journal import IntentState, OrderJournal
from botkit.orders.ledger import FillLedger
from botkit.runtime.bot_config import data_root
from botkit.sim.server import SimServer
from tests.runtime.test_exit_kill9_run import Bot

DAY = 86_400.0
NOW = 1_800_000_000.0


class Wall:
    """The journal's clock, set by the test (rows get the times it says)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def write(journal: OrderJournal, wall: Wall, coid: str, state: str, created: float,
          updated: float) -> None:  # fmt: skip
    wall.t = created
    journal.record(coid, "BTC-USD", "BUY", b"{}")
    if state != "PENDING":
        wall.t = updated
        journal.mark(coid, IntentState(state), order_id=f"o-{coid}" if state == "PLACED" else None)


def prune_all(journal: OrderJournal, before: float, batch: int) -> tuple[int, int]:
    """Run prune steps to the end; (deleted, steps)."""
    total, after, steps = 0, 0, 0
    while True:
        deleted, resume = journal.prune(before, after_rowid=after, batch=batch)
        total, steps = total + deleted, steps + 1
        if resume is None:
            return total, steps
        after = resume


def test_only_old_finished_intents_leave(tmp_path: Path) -> None:
    wall = Wall(NOW)
    journal = OrderJournal(tmp_path / "j.sqlite", wall=wall)
    old = NOW - 40 * DAY
    write(journal, wall, "placed-old", "PLACED", old, old + 60)
    write(journal, wall, "rejected-old", "REJECTED", old, old + 1)
    write(journal, wall, "failed-old", "FAILED", old, old + 1)
    write(journal, wall, "pending-old", "PENDING", old, old)
    write(journal, wall, "placed-old-touched", "PLACED", old, NOW - DAY)  # resolved lately
    write(journal, wall, "placed-new", "PLACED", NOW - DAY, NOW - DAY)
    assert prune_all(journal, NOW - 30 * DAY, batch=2)[0] == 3
    left = {r.client_order_id for r in journal.all()}
    assert left == {"pending-old", "placed-old-touched", "placed-new"}
    assert prune_all(journal, NOW - 30 * DAY, batch=2)[0] == 0  # nothing more, and no error
    journal.close()


def test_a_step_deletes_its_rows_in_one_commit(tmp_path: Path) -> None:
    """The journal's connection autocommits each statement: a step's deletions must be one
    transaction, or a step of 200 rows is 200 commits (200+ WAL frames written, on a
    Raspberry Pi's SD card) instead of a few pages."""
    wall = Wall(NOW)
    journal = OrderJournal(tmp_path / "j.sqlite", wall=wall, synchronous="NORMAL")
    old = NOW - 40 * DAY
    for i in range(200):
        write(journal, wall, f"old-{i:03d}", "PLACED", old, old + 1)
    with sqlite3.connect(tmp_path / "j.sqlite") as other:
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL starts empty
        assert journal.prune(NOW - 30 * DAY, batch=200)[0] == 200
        _, frames, _ = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert 0 < frames < 50, frames
    journal.close()


def test_a_step_stops_at_the_first_row_newer_than_the_cutoff(tmp_path: Path) -> None:
    """A backlog is walked in steps of ``batch`` rows; once a row created after the cutoff
    is reached, the rest (newer) is not read: a daily pass over a large journal is short."""
    wall = Wall(NOW)
    journal = OrderJournal(tmp_path / "j.sqlite", wall=wall)
    for i in range(10):
        write(journal, wall, f"old-{i}", "PLACED", NOW - 40 * DAY + i, NOW - 40 * DAY + i)
    for i in range(50):
        write(journal, wall, f"new-{i}", "PLACED", NOW - DAY + i, NOW - DAY + i)
    deleted, steps = prune_all(journal, NOW - 30 * DAY, batch=4)
    assert deleted == 10
    assert steps == 3  # 4 + 4 + (2 old, then the first new row ends it), not 60 / 4
    journal.close()


rows = st.lists(
    st.tuples(
        st.sampled_from(["PENDING", "PLACED", "REJECTED", "FAILED"]),
        st.floats(0, 60),  # created, days before NOW (rows are written oldest first)
        st.floats(0, 60),  # updated, days after created (capped at NOW)
    ),
    max_size=40,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows, st.floats(1, 50), st.integers(1, 7))
def test_prune_deletes_exactly_the_finished_rows_updated_before_the_cutoff(
    tmp_path: Path, spec: list[tuple[str, float, float]], keep_days: float, batch: int
) -> None:
    path = tmp_path / f"j{len(list(tmp_path.iterdir()))}.sqlite"
    wall = Wall(NOW)
    journal = OrderJournal(path, wall=wall, synchronous="OFF")
    created = sorted((NOW - c * DAY for _, c, _ in spec))  # insertion order = time order
    expect = set()
    before = NOW - keep_days * DAY
    for i, ((state, _, later), t) in enumerate(zip(spec, created, strict=True)):
        updated = min(NOW, t + later * DAY)
        write(journal, wall, f"c{i}", state, t, updated)
        if not (state != "PENDING" and updated < before):
            expect.add(f"c{i}")
    prune_all(journal, before, batch)
    assert {r.client_order_id for r in journal.all()} == expect
    journal.close()


async def test_a_running_bot_forgets_old_intents_at_start(tmp_path: Path) -> None:
    """A live bot (against the simulator, as the soak runs it) with
    ``journal_retention_days = 2``: the 9-day-old finished intent leaves at start, the
    hour-old one stays, and the bot trades on."""
    async with SimServer(seed=5, tick_interval=0.05) as sim:
        env_file = tmp_path / "sim.env"
        env_file.write_text(sim.env_text(sim.add_key("ES256")))
        config = tmp_path / "bot.toml"
        config.write_text(
            '[bot]\nmode = "live"\njournal_retention_days = 2\n\n'
            '[risk]\n\n[strategy]\nname = "market_maker"\n'
        )
        data = tmp_path / "data"
        path = data_root(data, "live") / "journal.sqlite"
        now = time.time()
        wall = Wall(now)
        journal = OrderJournal(path, wall=wall)
        write(journal, wall, "ancient", "PLACED", now - 9 * DAY, now - 9 * DAY)
        write(journal, wall, "recent", "PLACED", now - 3600, now - 3600)
        journal.close()
        # the fill ledger: finished marks leave after a day, whatever the journal keeps
        for name, age in (("ancient-mark", 1.5 * DAY), ("recent-mark", 3600.0)):
            ledger = FillLedger(path.with_name("fills.sqlite"), wall=Wall(now - age))
            ledger.opened(name, name, "BTC-USD", "BUY", "OPEN")
            ledger.finished(name, "CANCELLED", Decimal(0))
            ledger.close()
        bot = await Bot.start(env_file, config, data)
        try:
            line = await bot.until("order journal: forgot")
            await bot.until("placed ")  # and it trades on
        finally:
            assert await bot.stop(signal.SIGTERM) == 0, "\n".join(bot.log[-30:])
    assert "forgot 1 finished intent(s) older than 2 day(s)" in line
    with sqlite3.connect(path) as db:
        ids = {r[0] for r in db.execute("SELECT client_order_id FROM intents")}
    assert "ancient" not in ids and "recent" in ids
    ledger = FillLedger(path.with_name("fills.sqlite"))
    try:
        assert ledger.mark("ancient-mark") is None and ledger.mark("recent-mark") is not None
    finally:
        ledger.close()


def test_the_client_id_filter_forgets_pruned_ids_and_misses_none_added_meanwhile(
    tmp_path: Path,
) -> None:
    """The Bloom filter of client ids (the intent log's "surely new" check) only grew: the
    ids of pruned rows stayed in it for the run, a new sub-filter each time one filled,
    every one checked per order (an audit: 16.8 MB and 2.5 % false positives after 28
    days at 190 orders a minute). After a prune it is rebuilt from the rows left, in steps;
    ids written between two steps are in the new filter too (no false negative, ever)."""
    wall = Wall(NOW)
    journal = OrderJournal(tmp_path / "j.sqlite", wall=wall)
    journal.defer_sync()  # the overlap executor's journal (the one with the intent log)
    assert journal.start_log()
    old = NOW - 40 * DAY
    for i in range(13_000):  # old and finished: all pruned (a third sub-filter)
        write(journal, wall, f"old-{i}", "PLACED", old, old + 1)
    for i in range(300):  # recent: kept
        write(journal, wall, f"new-{i}", "PLACED", NOW - DAY, NOW - DAY)
    grown = len(journal._filter._filters)  # type: ignore[union-attr]  # (private: the invariant)
    assert grown >= 3 and "old-7" in journal._filter  # type: ignore[operator]
    assert prune_all(journal, NOW - 30 * DAY, batch=500)[0] == 13_000
    wall.t = NOW
    step: int | None = 0
    steps = 0
    while step is not None:  # what OrderExecutor.prune_journal does after the prune
        step = journal.rebuild_filter_step(step, batch=100)
        steps += 1
        if steps == 2:  # an order placed between two steps, through the intent log
            assert journal.can_log("meanwhile")
            journal.log_intent("meanwhile", "BTC-USD", "BUY", b"{}")
    assert steps > 3
    f = journal._filter
    assert f is not None and len(f._filters) == 1 < grown
    assert all(f"new-{i}" in f for i in range(300)) and "meanwhile" in f
    assert not journal.can_log("meanwhile") and not journal.can_log("new-5")
    false_positives = sum(f"old-{i}" in f for i in range(13_000))
    assert false_positives < 13_000 * 0.05  # the pruned ones: (nearly) all forgotten
    journal.close()


def test_a_rebuild_keeps_an_intent_whose_post_is_in_flight(tmp_path: Path) -> None:
    """An id logged through the intent log has no row until its POST is answered
    (``absorb``): a rebuild that started meanwhile must still have it, or a later
    ``place()`` of the same id would go out as a new order (a review's finding: on
    Exchange and Prime a second order). A rebuild abandoned half-way (shutdown) leaves the
    filter in use as it was and collects nothing more."""
    wall = Wall(NOW)
    journal = OrderJournal(tmp_path / "j.sqlite", wall=wall)
    journal.defer_sync()
    assert journal.start_log()
    for i in range(50):
        write(journal, wall, f"old-{i}", "PLACED", NOW - 40 * DAY, NOW - 40 * DAY)
    wall.t = NOW
    assert journal.can_log("in-flight")
    journal.log_intent("in-flight", "BTC-USD", "BUY", b"{}")  # its POST is on its way
    assert prune_all(journal, NOW - 30 * DAY, batch=500)[0] == 50
    assert journal.rebuild_filter_step(0) is None  # (one step: a small journal)
    assert not journal.can_log("in-flight")
    journal.absorb("in-flight")  # the answer came: its row is written
    assert not journal.can_log("in-flight")

    before = journal._filter  # (private: which filter is in use is the point)
    assert journal.rebuild_filter_step(0, batch=1) is not None  # one step of a rebuild...
    journal.rebuild_filter_abandon()  # ... cancelled at shutdown
    assert journal._filter is before and journal._fresh is None
    journal.log_intent("after", "BTC-USD", "BUY", b"{}")
    assert not journal.can_log("after") and journal._fresh is None
    journal.close()
