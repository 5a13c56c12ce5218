"""WebSocket hub protocol: envelopes and sequence numbers, subscribe/unsubscribe acks, heartbeats, and the errors a bad subscription gets.

Harness and conventions: tests/sim/ws_harness.py."""

from __future__ import annotations

import re

import pytest

from tests.sim.ws_harness import GO_TIME, chan


async def test_sequence_starts_at_zero_and_is_contiguous_across_channels(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    await c.sub("level2", "BTC-USD", "ETH-USD")
    await c.sub("ticker", "BTC-USD")
    await c.sub("market_trades", "BTC-USD")
    sim.step(30)
    await c.until(chan("heartbeats"))
    await c.barrier()
    seqs = [fr["sequence_num"] for fr in c.frames]
    assert seqs == list(range(len(seqs)))
    names = {fr["channel"] for fr in c.frames}
    assert {"subscriptions", "heartbeats", "l2_data", "ticker", "market_trades"} <= names
    for fr in c.frames:
        assert set(fr) == {"channel", "client_id", "timestamp", "sequence_num", "events"}
        assert fr["client_id"] == ""
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", fr["timestamp"])


async def test_acks_carry_the_full_subscription_map(make_sim, connect):
    sim = await make_sim()
    c = await connect(sim.url)
    await c.sub("level2", "BTC-USD")
    ack = await c.until(chan("subscriptions"))
    assert ack["events"] == [{"subscriptions": {"level2": ["BTC-USD"]}}]
    await c.sub("market_trades", "BTC-USD", "ETH-USD")
    ack = await c.until(chan("subscriptions"))
    assert ack["events"][0]["subscriptions"] == {
        "level2": ["BTC-USD"],
        "market_trades": ["BTC-USD", "ETH-USD"],
    }
    await c.send(type="unsubscribe", channel="market_trades", product_ids=["ETH-USD"])
    ack = await c.until(chan("subscriptions"))
    assert ack["events"][0]["subscriptions"]["market_trades"] == ["BTC-USD"]
    await c.send(type="unsubscribe", channel="level2", product_ids=[])
    await c.send(type="unsubscribe", channel="market_trades")
    await c.until(chan("subscriptions"))
    ack = await c.until(chan("subscriptions"))
    assert ack["events"] == [{"subscriptions": {}}]


async def test_heartbeats_use_go_time_and_string_counter(make_sim, connect):
    sim = await make_sim(heartbeat_interval=0.05)
    c = await connect(sim.url)
    await c.sub("heartbeats")
    beats = [await c.until(chan("heartbeats")) for _ in range(3)]
    counters = []
    for fr in beats:
        (event,) = fr["events"]
        assert set(event) == {"current_time", "heartbeat_counter"}
        assert GO_TIME.match(event["current_time"]), event["current_time"]
        assert event["current_time"].startswith("2026-01-01 12:00:00.")
        assert isinstance(event["heartbeat_counter"], str)
        counters.append(int(event["heartbeat_counter"]))
    assert counters == sorted(counters) and len(set(counters)) == 3


async def test_one_channel_per_message_and_bad_messages_keep_connection_open(make_sim, connect):
    sim = await make_sim()
    c = await connect(sim.url)
    await c.send(type="subscribe", product_ids=["BTC-USD"], channels=["level2", "ticker"])
    err = await c.recv()
    assert err["type"] == "error" and "sequence_num" not in err
    await c.ws.send_str("{not json")
    assert (await c.recv())["type"] == "error"
    await c.sub("level2", "NOPE-USD")
    assert (await c.recv()) == {
        "type": "error",
        "message": "failure to subscribe",
        "reason": "NOPE-USD is not a valid product",
    }
    await c.sub("heartbeats")
    ack = await c.recv()
    assert ack["channel"] == "subscriptions" and ack["sequence_num"] == 0


@pytest.mark.parametrize("bad", ["heartbeat", "full", "level3"])
async def test_unknown_channel_is_authentication_failure(make_sim, connect, bad):
    sim = await make_sim()
    c = await connect(sim.url)
    await c.sub(bad, "BTC-USD")
    assert await c.recv() == {"type": "error", "message": "authentication failure"}
    assert not c.ws.closed
    await c.sub("status")
    assert (await c.recv())["channel"] == "subscriptions"


async def test_level2_cap_per_connection(make_sim, connect):
    sim = await make_sim(max_level2_products=1)
    c = await connect(sim.url)
    await c.sub("level2", "BTC-USD", "ETH-USD")
    err = await c.recv()
    assert err == {
        "type": "error",
        "message": "too many L2 streams requested in a single session",
    }
    await c.sub("level2", "BTC-USD")
    await c.until(chan("l2_data"))
    await c.sub("level2", "ETH-USD")
    err = await c.until(lambda fr: fr.get("type") == "error")
    assert err["message"] == "too many L2 streams requested in a single session"
