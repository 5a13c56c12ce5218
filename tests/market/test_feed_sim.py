"""MarketDataFeed against botkit.sim over loopback: books, faults, recovery, both connectors.

The market moves only when a test calls ``market.step()``; ``feed.sync()`` (an ack
barrier) proves every frame published before it was processed, so book comparisons
with ``sim.exchange.book()`` are exact, with no sleeps.
"""

from __future__ import annotations

import json

import pytest

from botkit.errors import FeedSubscriptionError
from botkit.market.events import (
    BookInvalidated,
    ConnectionState,
    FeedErrorReceived,
    FeedEvent,
    SequenceGapDetected,
)

from .conftest import PIDS, assert_books_match, signer_for


async def test_snapshot_and_updates_match_the_exchange(market, make_feed):
    feed = await make_feed(market.sim)
    await feed.wait_ready(10)
    for _ in range(3):
        market.step(10)
        await assert_books_match(feed, market.sim)
    assert feed.books["BTC-USD"].updates > 100


async def test_heartbeats_always_subscribed_and_jwt_per_message(market, make_feed):
    sent: list[str] = []
    signer = signer_for(market.sim)
    real = signer.ws_token

    def counting() -> str:
        sent.append(real())
        return sent[-1]

    signer.ws_token = counting  # type: ignore[method-assign]
    feed = await make_feed(
        market.sim, signer=signer, channels=("level2", "ticker", "market_trades")
    )
    await feed.wait_ready(10)
    await feed.wait_for(lambda: feed.conns[0].protocol.stats.heartbeats > 0, 10)
    assert len(sent) == 4 and len(set(sent)) == 4  # heartbeats, level2, ticker, market_trades
    market.step(10)
    await assert_books_match(feed, market.sim)


FAULTS = {
    "drop_1006": lambda f: f.drop_next(1006),
    "close_1001": lambda f: f.close_next(1001),
    "stall": lambda f: f.stall(1.0),
    "sequence_gap": lambda f: f.skip_sequence(3),
    "duplicate": lambda f: f.duplicate_next(3),
    "malformed": lambda f: f.malformed_next(2),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_fault_is_detected_and_recovered(market, make_feed, fault):
    feed = await make_feed(market.sim)
    await feed.wait_ready(10)
    market.step(5)
    await assert_books_match(feed, market.sim)
    conn = feed.conns[0]
    stats = conn.protocol.stats
    FAULTS[fault](market.sim.ws_faults)
    market.step(5)  # publish: the fault fires on the next envelope
    if fault in ("drop_1006", "close_1001"):
        await feed.wait_for(lambda: conn.connects >= 2, 10)
    elif fault == "stall":
        await feed.wait_for(lambda: conn.stale >= 1, 10)
    elif fault == "sequence_gap":
        await feed.wait_for(lambda: stats.gaps >= 1 and stats.resyncs >= 1, 10)
    elif fault == "duplicate":
        await feed.wait_for(lambda: stats.duplicates >= 1, 10)
    else:
        await feed.wait_for(lambda: stats.malformed >= 2, 10)
    market.step(5)
    await assert_books_match(feed, market.sim)
    market.step(5)
    await assert_books_match(feed, market.sim)
    if fault in ("drop_1006", "close_1001", "stall", "sequence_gap"):
        assert any(isinstance(e, BookInvalidated) for e in _events(feed))
    if fault == "drop_1006":
        codes = [
            e.code for e in _events(feed) if isinstance(e, ConnectionState) and e.state == "closed"
        ]
        assert 1006 in codes
    if fault == "sequence_gap":
        assert any(isinstance(e, SequenceGapDetected) for e in _events(feed))


def _events(feed):
    return feed.on_event.__self__  # the list the fixture appends to


async def test_tls_verified_with_ca_file(make_feed):
    from botkit.sim.server import SimServer

    async with SimServer(seed=3, tick_interval=0, tls=True) as sim:
        assert sim.ws_market_url.startswith("wss://")
        feed = await make_feed(sim)
        await feed.wait_ready(10)
        sim.step(sim.clock() + 2)
        await assert_books_match(feed, sim)


async def test_tls_without_ca_file_is_refused(make_feed):
    from botkit.sim.server import SimServer

    async with SimServer(seed=3, tick_interval=0, tls=True) as sim:
        events: list[FeedEvent] = []
        feed = await make_feed(sim, events=events, ca_file=None)
        await feed.wait_for(
            lambda: any(
                isinstance(e, ConnectionState) and e.state == "connect_failed" for e in events
            ),
            10,
        )
        assert not feed.ready()


async def test_oversize_snapshot_fits_the_default_limit(market, make_feed):
    market.sim.ws_faults.oversize_snapshot(30_000)
    feed = await make_feed(market.sim, products=("BTC-USD",))
    await feed.wait_ready(15)
    market.step(5)
    await assert_books_match(feed, market.sim, ("BTC-USD",))


async def test_level2_sharded_over_connections(make_feed):
    from botkit.sim.server import SimServer
    from botkit.sim.ws import WsConfig

    async with SimServer(seed=4, tick_interval=0, ws_config=WsConfig(max_level2_products=1)) as sim:
        feed = await make_feed(sim, max_level2_per_connection=1)
        assert [c.plan.name for c in feed.conns] == ["market-0", "market-1"]
        await feed.wait_ready(10)
        sim.step(sim.clock() + 3)
        await assert_books_match(feed, sim)


async def test_too_many_l2_streams_error_frame_has_the_fix(make_feed):
    from botkit.sim.server import SimServer
    from botkit.sim.ws import WsConfig

    async with SimServer(seed=4, tick_interval=0, ws_config=WsConfig(max_level2_products=1)) as sim:
        events: list[FeedEvent] = []
        feed = await make_feed(sim, events=events, max_level2_per_connection=2)
        await feed.wait_for(lambda: feed.conns[0].protocol.stats.errors >= 1, 10)
        err = next(e for e in events if isinstance(e, FeedErrorReceived)).error
        assert isinstance(err, FeedSubscriptionError)
        assert "too many L2 streams" in str(err) and "max_level2_per_connection" in str(err)


async def test_bad_key_is_authentication_failure_with_hint(market, make_feed):
    from botkit.auth.clock import SystemClock
    from botkit.auth.factory import generate_cdp_key
    from botkit.auth.jwt import JwtSigner

    unknown = JwtSigner(generate_cdp_key(), clock=SystemClock(), nonce=lambda: "ab" * 8)
    events: list[FeedEvent] = []
    feed = await make_feed(
        market.sim, events=events, signer=unknown, channels=("ticker",), user=True
    )
    await feed.wait_for(lambda: feed.conns[-1].protocol.stats.errors >= 1, 10)
    err = next(e for e in events if isinstance(e, FeedErrorReceived)).error
    assert "authentication failure" in str(err) and "CDP key" in str(err)
    assert json.dumps(str(err)).count("eyJ") == 0  # no token in the message


async def test_callback_exceptions_never_kill_the_feed(market, make_feed):
    feed = await make_feed(market.sim)

    def boom(_: object) -> None:
        raise KeyError("consumer bug")

    feed.on_event = boom
    await feed.wait_ready(10)
    market.step(5)
    await assert_books_match(feed, market.sim)
    assert feed.callback_errors > 0


async def test_market_data_works_without_keys_for_every_market_channel(market, make_feed):
    events: list[FeedEvent] = []
    feed = await make_feed(
        market.sim,
        events=events,
        channels=("level2", "ticker", "ticker_batch", "market_trades", "candles", "status"),
    )
    await feed.wait_ready(10)
    market.step(20)
    await assert_books_match(feed, market.sim)
    kinds = {type(e).__name__ for e in events}
    assert {
        "TickersReceived",
        "TradesReceived",
        "CandlesReceived",
        "StatusReceived",
        "Subscribed",
    } <= kinds
    assert set(feed.books) == set(PIDS)


def test_release_free_memory_is_glibc_malloc_trim_or_absent():
    import sys

    from botkit.market.feed import release_free_memory

    release = release_free_memory()
    if sys.platform.startswith("linux") and release is not None:
        release()  # returns memory to the OS; must simply not fail
    assert release is None or callable(release)


_MALLINFO_PROBE = """
import ctypes, sys
from botkit.market.connections import fix_mmap_threshold
libc = ctypes.CDLL(None)
class MI2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                "usmblks", "fsmblks", "uordblks", "fordblks",
                                                "keepcost")]
libc.mallinfo2.restype = MI2
if sys.argv[1] == "fix":
    assert fix_mmap_threshold()
big = bytearray(4 << 20); del big  # glibc raises its threshold after this free (unless fixed)
before = libc.mallinfo2().hblks
frame = bytearray(2 << 20)  # a BTC-USD-snapshot-sized buffer
print(libc.mallinfo2().hblks - before)
"""


def test_fixed_mmap_threshold_keeps_big_buffers_out_of_the_heap():
    """After `fix_mmap_threshold()`, a 2 MB buffer is its own mmap (returned on free).

    Without it glibc serves the same buffer from the heap once a bigger one was freed,
    and the heap rarely shrinks: the RSS `botkit run` keeps after a big snapshot.
    """
    import ctypes
    import subprocess
    import sys

    if not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("glibc >= 2.33 only")
    mmapped = {
        mode: subprocess.run(
            [sys.executable, "-c", _MALLINFO_PROBE, mode],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.split()[-1]
        for mode in ("default", "fix")
    }  # fmt: skip
    assert mmapped == {"default": "0", "fix": "1"}


async def test_books_are_flagged_stale_while_the_connection_is_silent(market, make_feed):
    feed = await make_feed(market.sim, products=("BTC-USD",))
    await feed.wait_ready(10)
    book = feed.books["BTC-USD"]
    assert not book.stale
    market.sim.ws_faults.stall(1.5)
    market.step(5)
    await feed.wait_for(lambda: book.stale, 10)  # silent for stale_after/2: flagged
    await feed.wait_for(lambda: feed.conns[0].stale >= 1, 10)  # then the watchdog reconnects
    market.step(5)
    await assert_books_match(feed, market.sim, ("BTC-USD",))
    await feed.wait_for(lambda: not book.stale, 10)
