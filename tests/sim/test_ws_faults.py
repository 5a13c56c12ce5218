"""WebSocket hub frame faults on a live connection: stall, skipped and duplicated sequence numbers, malformed frames, an oversize snapshot.

Harness and conventions: tests/sim/ws_harness.py."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from aiohttp import WSMsgType

from tests.sim.ws_harness import apply_l2, book_of, chan


async def test_stall_keeps_pong_but_stops_data_then_resumes(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url, autoping=False)
    await c.sub("heartbeats")
    before = await c.until(chan("heartbeats"))
    loop = asyncio.get_running_loop()
    stalled_at = loop.time()
    sim.faults.stall(0.8)
    # drain whatever was already on the wire before the stall took effect
    await c.ws.ping(b"probe")
    while (msg := await c.next_msg()).type == WSMsgType.TEXT:
        c.frames.append(json.loads(msg.data))
    assert msg.type == WSMsgType.PONG and msg.data == b"probe"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(c.ws.receive(), 0.3)  # nothing at all while stalled
    resumed = await c.until(chan("heartbeats"))
    assert loop.time() - stalled_at >= 0.7
    gap = int(resumed["events"][0]["heartbeat_counter"]) - int(
        before["events"][0]["heartbeat_counter"]
    )
    assert gap <= 3  # heartbeats were not generated during the stall
    seqs = [fr["sequence_num"] for fr in c.frames if "sequence_num" in fr]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_skip_sequence_makes_one_gap(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    first = await c.until(chan("heartbeats"))
    sim.faults.skip_sequence(5)
    frames = [await c.recv() for _ in range(3)]
    seqs = [first["sequence_num"]] + [fr["sequence_num"] for fr in frames]
    gaps = [b - a for a, b in zip(seqs, seqs[1:], strict=False)]
    assert sorted(gaps) == [1, 1, 6]


async def test_duplicate_next_resends_same_sequence(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    first = await c.until(chan("heartbeats"))
    sim.faults.duplicate_next(2)
    frames = [await c.recv() for _ in range(7)]
    seqs = [fr["sequence_num"] - first["sequence_num"] for fr in frames]
    # one beat may already have been on the wire when the fault was armed
    assert seqs[:5] in ([1, 1, 2, 2, 3], [1, 2, 2, 3, 3])
    texts = c.raw[-7:]
    twins = [i for i in range(6) if texts[i] == texts[i + 1]]
    assert len(twins) == 2  # exactly n=2 envelopes were doubled, byte for byte
    assert sorted(set(seqs)) == list(range(1, len(set(seqs)) + 1))


async def test_malformed_frames_then_valid_resumes(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    first = await c.until(chan("heartbeats"))
    sim.faults.malformed_next(2)
    texts = []
    for _ in range(4):
        msg = await c.next_msg()
        assert msg.type == WSMsgType.TEXT
        texts.append(msg.data)
    bad = []
    for text in texts:
        try:
            json.loads(text)
        except ValueError:
            bad.append(text)
    assert len(bad) == 2
    good = [json.loads(t) for t in texts if t not in bad]
    assert [fr["sequence_num"] for fr in good] == [
        first["sequence_num"] + 1,
        first["sequence_num"] + 2,
    ]


async def test_oversize_snapshot_is_huge_and_book_stays_exact(make_sim, connect):
    sim = await make_sim()
    sim.faults.oversize_snapshot(30_000)
    c = await connect(sim.url)
    await c.sub("level2", "BTC-USD")
    await c.until(chan("l2_data"))
    assert len(c.raw[-1]) > 2 * 1024 * 1024
    assert all(Decimal(u["new_quantity"]) > 0 for u in c.frames[-1]["events"][0]["updates"])
    sim.step(20)
    await c.barrier()
    assert apply_l2(c.frames, "BTC-USD") == book_of(sim.exchange, "BTC-USD")
    await c.sub("level2", "BTC-USD")  # fired once: the next snapshot is normal
    snap = await c.until(
        lambda fr: fr["channel"] == "l2_data" and fr["events"][0]["type"] == "snapshot"
    )
    assert len(json.dumps(snap)) < 200_000
