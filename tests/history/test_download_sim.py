"""``botkit download`` as a user runs it (a child process) against a real simulator on
127.0.0.1: pages of <= 350, exactly what the server holds, holes filled on re-run, and a
stopped or killed run resumed without fetching again what is on disk."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from botkit.history.store import iter_rows as stored
from botkit.history.store import (
    load_trades,
    parquet_available,
    read_coverage,
    read_month,
    series_dir,
)
from botkit.sim.server import SimServer

BTC = "BTC-USD"
NOW = int(time.time()) // 60 * 60
END = NOW - 30 * 3600  # before the simulator's seeded day: its made-up (deterministic) past
START = END - 2000 * 60  # 2000 one-minute candles: 6 pages of <= 350


@dataclass
class Run:
    returncode: int
    stdout: str
    events: list[dict[str, Any]]  # the JSON progress lines

    @property
    def pages(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == "page"]


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=3, tick_interval=0.05) as server:
        yield server


async def botkit(
    sim: SimServer, data: Path, *args: str, kill_after_pages: int | None = None
) -> Run:
    """``python -m botkit download ...`` (or ``data list``) with JSON progress; SIGKILLed
    once ``kill_after_pages`` page lines were read, if given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
    if args[0] == "download":
        args = (*args, "--rest-url", sim.rest_url, "--source", "sim", "--progress", "json")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", *args, "--data-dir", str(data), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None and proc.stdout is not None
    events: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(60):
            while raw := await proc.stderr.readline():
                doc = json.loads(raw) if raw.startswith(b"{") else {}
                if "event" in doc:  # progress, not a log record
                    events.append(doc)
                if (
                    kill_after_pages is not None
                    and sum(e["event"] == "page" for e in events) >= kill_after_pages
                ):
                    proc.kill()
                    break
            out = await proc.stdout.read()
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), events)


def truth(sim: SimServer, start: int, end: int, g: int) -> list[tuple[Any, ...]]:
    """What the simulator answers for the window, as stored rows (oldest first)."""
    got = sim.exchange.candles(BTC, start, end, g)[::-1]
    return [(int(c["start"]), c["open"], c["high"], c["low"], c["close"], c["volume"]) for c in got]


COLUMNS = ("start", "open", "high", "low", "close", "volume")
WINDOW = ("--products", BTC, "--start", str(START), "--end", str(END))


async def test_pages_of_at_most_350_give_exactly_what_the_server_holds(
    sim: SimServer, tmp_path: Path
) -> None:
    run = await botkit(
        sim, tmp_path, "download", *WINDOW, "--granularity", "ONE_MINUTE,ONE_HOUR",
        "--page", "350", "--trades", "20",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout
    minute_pages = [p for p in run.pages if p["granularity"] == "ONE_MINUTE"]
    assert [(p["end"] - p["start"]) // 60 for p in minute_pages] == [350] * 5 + [250]
    assert sum(p["rows"] for p in minute_pages) == 2000
    root = tmp_path / "history"
    assert list(stored(root, BTC, "ONE_MINUTE", 0, 2**40, source="sim")) == truth(
        sim, START, END, 60
    )
    hours = list(stored(root, BTC, "ONE_HOUR", 0, 2**40, source="sim"))
    assert hours == truth(sim, hours[0][0], END, 3600) and len(hours) >= 34  # starts < END
    trades = load_trades(root, BTC, source="sim")
    assert len(trades) == 20 and trades == sorted(trades, key=lambda t: t["ts"])
    assert all(Decimal(t["price"]) > 0 for t in trades)
    done = run.events[-1]
    assert done["event"] == "done" and done["complete"] and done["trades"] == 20
    assert "every asked range is on disk" in run.stdout
    again = await botkit(sim, tmp_path, "download", *WINDOW, "--granularity", "ONE_MINUTE")
    assert again.returncode == 0 and again.pages == []  # nothing missing: nothing fetched


async def test_a_hole_punched_in_a_file_is_listed_and_filled_by_the_next_run(
    sim: SimServer, tmp_path: Path
) -> None:
    assert (await botkit(sim, tmp_path, "download", *WINDOW)).returncode == 0
    d = series_dir(tmp_path / "history", BTC, "ONE_MINUTE", "sim")
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    # delete the middle of the data (rows and their coverage, as docs/data.md says)
    hole = (START + 600 * 60, START + 1300 * 60)
    cov = json.loads((d / "coverage.json").read_text())
    for month, spans in cov["files"].items():
        cut = []
        for a, b in spans:
            cut += [s for s in ((a, min(b, hole[0])), (max(a, hole[1]), b)) if s[0] < s[1]]
        cov["files"][month] = cut
        kept = [r for r in read_month(d, month) if not hole[0] <= r[0] < hole[1]]
        lines = [json.dumps(dict(zip(COLUMNS, r, strict=True))) for r in kept]
        (d / f"{month}.jsonl.gz").write_bytes(gzip.compress("\n".join(lines).encode() + b"\n"))
    (d / "coverage.json").write_text(json.dumps(cov))

    listed = await botkit(sim, tmp_path, "data", "list", "--json")
    [series] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert series["holes"] == [list(hole)] and series["rows"] == 2000 - 700
    table = (await botkit(sim, tmp_path, "data", "list")).stdout
    assert "BTC-USD" in table and "ONE_MINUTE" in table and ".." in table

    run = await botkit(sim, tmp_path, "download", *WINDOW)
    assert run.returncode == 0
    assert [(p["start"], p["end"]) for p in run.pages] == [
        (hole[0], hole[0] + 299 * 60), (hole[0] + 299 * 60, hole[0] + 598 * 60),
        (hole[0] + 598 * 60, hole[1]),
    ]  # only the hole, in pages of 299 (the default)  # fmt: skip
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before  # byte for byte
    listed = await botkit(sim, tmp_path, "data", "list", "--json")
    assert json.loads(listed.stdout)["holes"] == []


async def test_a_run_stopped_after_n_requests_resumes_where_it_stopped(
    sim: SimServer, tmp_path: Path
) -> None:
    first = await botkit(sim, tmp_path, "download", *WINDOW, "--max-requests", "2")
    assert first.returncode == 0 and len(first.pages) == 2
    assert "stopped after 2 request(s) as asked; 5 left: re-run to resume" in first.stdout
    second = await botkit(sim, tmp_path, "download", *WINDOW)
    assert second.returncode == 0 and len(second.pages) == 5
    assert second.pages[0]["start"] == first.pages[-1]["end"]  # nothing fetched twice
    root = tmp_path / "history"
    assert list(stored(root, BTC, "ONE_MINUTE", 0, 2**40, source="sim")) == truth(
        sim, START, END, 60
    )


async def test_a_killed_run_keeps_its_flushed_pages_and_the_rerun_fetches_the_rest(
    sim: SimServer, tmp_path: Path
) -> None:
    args = ("download", *WINDOW, "--page", "100", "--flush-every", "1")
    killed = await botkit(sim, tmp_path, *args, kill_after_pages=5)
    assert killed.returncode != 0 and len(killed.pages) >= 5  # SIGKILL: no clean exit
    d = series_dir(tmp_path / "history", BTC, "ONE_MINUTE", "sim")
    on_disk = sum(b - a for spans in read_coverage(d).values() for a, b in spans) // 60
    assert on_disk >= 5 * 100  # every page reported was written first
    rerun = await botkit(sim, tmp_path, *args)
    assert rerun.returncode == 0
    assert len(rerun.pages) == (2000 - on_disk) // 100 < 20 - 4
    root = tmp_path / "history"
    assert list(stored(root, BTC, "ONE_MINUTE", 0, 2**40, source="sim")) == truth(
        sim, START, END, 60
    )


@pytest.mark.skipif(not parquet_available(), reason="the parquet extra (pyarrow) is not installed")
async def test_parquet_format_stores_the_same_candles(sim: SimServer, tmp_path: Path) -> None:
    run = await botkit(sim, tmp_path, "download", *WINDOW, "--format", "parquet")
    assert run.returncode == 0
    d = series_dir(tmp_path / "history", BTC, "ONE_MINUTE", "sim")
    assert {p.suffix for p in d.iterdir()} == {".parquet", ".json"}
    root = tmp_path / "history"
    assert list(stored(root, BTC, "ONE_MINUTE", 0, 2**40, source="sim")) == truth(
        sim, START, END, 60
    )


async def test_bad_input_exits_2_with_the_fix(sim: SimServer, tmp_path: Path) -> None:
    run = await botkit(sim, tmp_path, "download", "--granularity", "1m", "--days", "1")
    assert run.returncode == 2
    run = await botkit(sim, tmp_path, "download", "--page", "400", "--days", "1")
    assert run.returncode == 2


async def test_throttling_401s_are_waited_out_and_a_lasting_one_exits_1(
    sim: SimServer, tmp_path: Path
) -> None:
    # Coinbase has throttled candles with 401 on public requests (reference §2.11)
    sim.faults.fail_next(401, 4, path="candles")
    run = await botkit(sim, tmp_path, "download", *WINDOW, "--throttle-delay", "0.01")
    assert run.returncode == 0
    assert any(e["event"] == "throttled" for e in run.events)
    root = tmp_path / "history"
    assert list(stored(root, BTC, "ONE_MINUTE", 0, 2**40, source="sim")) == truth(
        sim, START, END, 60
    )
    sim.faults.fail_next(401, 1000, path="candles")
    run = await botkit(sim, tmp_path / "b", "download", *WINDOW, "--throttle-delay", "0.01")
    assert run.returncode == 1
    assert sum(e["event"] == "throttled" for e in run.events) == 5
