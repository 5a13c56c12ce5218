"""Raw capture (gzip JSON lines) replays into the same book; a long faulty run keeps memory flat."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from botkit.market.recorder import Recorder, read_recording
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol

from .conftest import PIDS, assert_books_match

ROUNDS = 200  # forty cycles of the five faults, one memory sample after each (~8 s here)


async def test_recording_replays_to_the_same_book(market, make_feed, tmp_path):
    path = tmp_path / "session.jsonl.gz"
    feed = await make_feed(market.sim, recorder=Recorder(path))
    await feed.wait_ready(10)
    market.step(5)
    market.sim.ws_faults.drop_next(1006)
    market.step(5)
    await feed.wait_for(lambda: feed.conns[0].connects >= 2, 10)
    market.step(5)
    await assert_books_match(feed, market.sim)
    await feed.stop()

    records = list(read_recording(path))
    kinds = [r["kind"] for r in records]
    assert kinds.count("connected") == 2 and "closed" in kinds and kinds.count("frame") > 5
    assert all({"v", "t", "conn", "kind"} <= set(r) for r in records)
    assert "jwt" not in path.read_bytes().decode("latin-1")  # nothing secret-looking is stored
    # replay through the sans-I/O protocol: the same book as the live feed ended with
    replay = FeedProtocol("market-0", feed.conns[0].protocol.subscriptions)
    for r in records:
        if r["kind"] == "connected":
            replay.connection_opened()
        elif r["kind"] == "frame":
            replay.receive(r["data"])
    for pid in PIDS:
        assert replay.books[pid].depth() == market.sim.exchange.book(pid)


@pytest.mark.parametrize("connector_name", ["aiohttp"])
async def test_repeated_faults_memory_stays_flat(market, make_feed):
    faults = market.sim.ws_faults
    cycle = [
        lambda: faults.drop_next(1006),
        lambda: faults.close_next(1001),
        lambda: faults.skip_sequence(2),
        lambda: faults.duplicate_next(2),
        lambda: faults.malformed_next(1),
    ]
    feed = await make_feed(market.sim)
    conn = feed.conns[0]
    samples: list[int] = []
    # a fixed number of rounds (not "as many as fit in N seconds"): the same samples, at
    # the same points of the run, on any machine
    tracemalloc.start()
    try:
        for rounds in range(ROUNDS):
            await feed.wait_ready(10)
            before = (conn.connects, conn.protocol.stats.gaps)
            cycle[rounds % len(cycle)]()
            market.step(5)
            if rounds % len(cycle) in (0, 1, 2):
                await feed.wait_for(
                    lambda b=before: (conn.connects, conn.protocol.stats.gaps) != b, 10
                )
            await assert_books_match(feed, market.sim)
            if (rounds + 1) % len(cycle) == 0:  # one sample per full cycle of the five faults
                gc.collect()
                samples.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert len(samples) == ROUNDS // len(cycle) and conn.connects >= 2 * ROUNDS // len(cycle)
    warm = samples[1]
    growth = max(samples[2:]) - warm
    assert growth < 1_500_000, (samples, growth)
