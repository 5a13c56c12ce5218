"""Hostile frames against the sans-I/O protocol: never raise, never apply, never hand on.

Each frame below is something Coinbase never sends (issue "Unattended I", item 2). The
protocol must count it (``stats.malformed`` or ``stats.sequence_faults``), log it at
WARNING with the connection and a short reason, recover (resync the books or ask for a
reconnect), and never let a bad value reach the book or an event.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import pytest

from botkit.market.book import L2Book
from botkit.market.events import (
    BookChanged,
    BookInvalidated,
    CandlesReceived,
    FeedEvent,
    Heartbeat,
    TickersReceived,
    TradesReceived,
)
from botkit.venues.advanced_trade import messages as m
from botkit.venues.advanced_trade.ws_protocol import (
    FeedProtocol,
    Reconnect,
    ResyncLevel2,
    Subscription,
    WireLimits,
)

PID = "BTC-USD"


def frame(seq: Any, channel: str, events: Any) -> str:
    return json.dumps(
        {
            "channel": channel,
            "client_id": "",
            "timestamp": "",
            "sequence_num": seq,
            "events": events,
        }
    )


def l2(seq: Any, kind: str, *levels: tuple[str, str, str], pid: str = PID) -> str:
    ups = [{"side": s, "event_time": "", "price_level": p, "new_quantity": q} for s, p, q in levels]
    return frame(seq, "l2_data", [{"type": kind, "product_id": pid, "updates": ups}])


def hb(seq: int) -> str:
    return frame(seq, "heartbeats", [{"current_time": "x", "heartbeat_counter": str(seq)}])


def ticker(seq: int, **fields: Any) -> str:
    t = {"type": "ticker", "product_id": PID, "price": "65000.01", **fields}
    return frame(seq, "ticker", [{"type": "update", "tickers": [t]}])


def live(**kw: Any) -> FeedProtocol:
    """A protocol with a valid BTC-USD book at sequence 1."""
    p = FeedProtocol(
        "market-0",
        [Subscription("level2", (PID,)), Subscription("ticker", (PID,))],
        **kw,
    )
    p.connection_opened()
    p.receive(hb(0))
    p.receive(l2(1, "snapshot", ("bid", "100", "1"), ("offer", "101", "2")))
    assert p.books[PID].valid and not p.take_requests()
    return p


def depth(p: FeedProtocol) -> object:
    return p.books[PID].depth()


DEEP = b"[" * 1000 + b"]" * 1000
DEEP_IN_ENVELOPE = (
    b'{"channel":"l2_data","client_id":"","timestamp":"","sequence_num":2,"events":'
    + b"[" * 5000
    + b"]" * 5000
    + b"}"
)


@pytest.mark.parametrize("data", [DEEP, DEEP_IN_ENVELOPE, b"{" * 3000, b'{"a":' * 3000])
def test_deep_nesting_is_a_malformed_frame_never_an_exception(data: bytes) -> None:
    assert isinstance(m.decode_frame(data), m.Malformed)
    assert isinstance(m.decode_frame(data, fast_l2=True), m.Malformed)
    p = live()
    assert p.receive(data) == []
    assert p.stats.malformed >= 1
    # the connection goes on: the next frame is handled (a gap, if the bad one had a number)
    events = p.receive(hb(3))
    assert all(not isinstance(e, BookChanged) for e in events)
    p.take_requests()
    p.receive(l2(4, "snapshot", ("bid", "99", "1"), ("offer", "101", "2")))
    assert p.books[PID].valid and p.books[PID].best_bid() == (Decimal(99), Decimal(1))


BAD_QUANTITIES = [
    "NaN",
    "nan",
    "inf",
    "Infinity",
    "-inf",
    "1e400",
    "1E3",
    "1e-3",
    "-1",
    "-0",
    "+1",
    "1" * 400,
    "0." + "1" * 400,
    "0." + "0" * 30,  # a zero with more fraction digits than any asset has
    "1" * 19,  # beyond the default max_quantity (10**18)
    "١",  # a non-ASCII digit: int() and Decimal() accept it, Coinbase never sends it
    " 1",
    "1 ",
    "",
    ".",
    "0x10",
    "1_000",
]


@pytest.mark.parametrize("qty", BAD_QUANTITIES)
@pytest.mark.parametrize("kind", ["update", "snapshot"])
def test_a_bad_quantity_is_refused_counted_and_resynced(qty: str, kind: str) -> None:
    p = live()
    before = depth(p)
    events = p.receive(l2(2, kind, ("bid", "100.5", qty), ("offer", "101", "3")))
    assert not any(isinstance(e, BookChanged) for e in events), qty
    assert any(isinstance(e, BookInvalidated) for e in events)
    assert p.stats.malformed == 1 and not p.books[PID].valid
    assert p.take_requests() == [ResyncLevel2((PID,))]
    if kind == "update":  # nothing of the bad level is in the book
        assert all(price != Decimal("100.5") for price, _ in p.books[PID].depth()[0]), before


BAD_PRICES = ["0", "0.0", "0.00000000", "-1", "-100.5", "NaN", "inf", "1e3", "١٠٠", "1" * 400, ""]


@pytest.mark.parametrize("price", BAD_PRICES)
def test_a_bad_or_non_positive_price_is_refused(price: str) -> None:
    p = live()
    events = p.receive(l2(2, "update", ("bid", price, "1")))
    assert not any(isinstance(e, BookChanged) for e in events), price
    assert p.stats.malformed == 1 and not p.books[PID].valid
    assert p.take_requests() == [ResyncLevel2((PID,))]
    p2 = live()  # a removal at that price is refused too
    assert not any(
        isinstance(e, BookChanged) for e in p2.receive(l2(2, "update", ("bid", price, "0")))
    )
    assert p2.stats.malformed == 1


def test_a_price_above_max_price_is_refused() -> None:
    p = live(limits=WireLimits(max_price=10**6))
    p.receive(l2(2, "update", ("offer", "999999.99", "1")))
    assert p.books[PID].valid
    p.receive(l2(3, "update", ("offer", "1000000.01", "1")))
    assert not p.books[PID].valid and p.stats.malformed == 1


@pytest.mark.parametrize("kind", ["mystery", "Snapshot", "UPDATE", "", "delete"])
def test_an_unknown_level2_event_type_is_never_applied(kind: str) -> None:
    p = live()
    before = depth(p)
    events = p.receive(l2(2, kind, ("bid", "100.5", "7")))
    assert not any(isinstance(e, BookChanged) for e in events)
    assert depth(p) == before  # not applied as an update (nor as a snapshot)
    assert p.stats.malformed == 1 and not p.books[PID].valid
    assert p.take_requests() == [ResyncLevel2((PID,))]


@pytest.mark.parametrize(
    "fields",
    [
        {"price": "NaN"},
        {"price": "1e400"},
        {"price": "0"},
        {"price": "-5"},
        {"price": "Infinity"},
        {"best_bid": "NaN"},
        {"best_ask": "-1"},
        {"best_bid_quantity": "-1"},
        {"volume_24_h": "1e400"},
        {"price_percent_chg_24_h": "NaN"},
        {"price": "1." + "1" * 40},
        {"price": "1" * 400},
        {"price": 10**400},  # a JSON number (checked by value: 65000.5 would pass)
    ],
)
def test_a_ticker_with_bad_values_never_reaches_the_strategy(fields: dict[str, Any]) -> None:
    p = live()
    events = p.receive(ticker(2, **fields))
    assert not any(isinstance(e, TickersReceived) for e in events), fields
    assert p.stats.malformed == 1
    assert p.books[PID].valid  # a ticker is not book data: nothing to resync
    (ev,) = p.receive(ticker(3))  # and the next good one goes through
    assert isinstance(ev, TickersReceived) and ev.tickers[0].price == Decimal("65000.01")


def test_trades_and_candles_with_bad_values_are_refused() -> None:
    p = live()
    trade = {"trade_id": "1", "product_id": PID, "price": "100", "size": "1", "side": "BUY"}
    candle = {
        "start": "1",
        "high": "2",
        "low": "1",
        "open": "1",
        "close": "2",
        "volume": "3",
        "product_id": PID,
    }
    seq = 2
    for bad in ({"price": "NaN"}, {"size": "-1"}, {"price": "0"}, {"size": "1e400"}):
        events = p.receive(
            frame(seq, "market_trades", [{"type": "update", "trades": [{**trade, **bad}]}])
        )
        seq += 1
        assert not any(isinstance(e, TradesReceived) for e in events), bad
    for badc in ({"high": "NaN"}, {"volume": "-1"}, {"close": "1e400"}, {"low": "0"}):
        events = p.receive(
            frame(seq, "candles", [{"type": "update", "candles": [{**candle, **badc}]}])
        )
        seq += 1
        assert not any(isinstance(e, CandlesReceived) for e in events), badc
    assert p.stats.malformed == 8
    events = p.receive(frame(seq, "market_trades", [{"type": "update", "trades": [trade]}]))
    assert isinstance(events[0], TradesReceived)


@pytest.mark.parametrize("channel", ["ticker", "market_trades", "candles", "status", "user"])
def test_unknown_event_types_of_other_channels_are_refused(channel: str) -> None:
    p = live()
    key = {"ticker": "tickers", "market_trades": "trades", "candles": "candles"}.get(
        channel, "products" if channel == "status" else "orders"
    )
    events = p.receive(frame(2, channel, [{"type": "mystery", key: []}]))
    assert events == [] and p.stats.malformed == 1


@pytest.mark.parametrize("seq", [2**62, 10**30, 1 + 10**6 + 2, -1, -(2**70)])
def test_an_absurd_sequence_number_asks_for_a_reconnect_not_a_wait(seq: int) -> None:
    p = live()
    events = p.receive(hb(seq))
    assert not any(isinstance(e, Heartbeat) for e in events)
    assert p.stats.sequence_faults == 1 and not p.books[PID].valid
    assert [type(r) for r in p.take_requests()] == [Reconnect]
    # a fresh connection (what Reconnect leads to) starts over with a snapshot
    p.connection_opened()
    p.receive(hb(0))
    p.receive(l2(1, "snapshot", ("bid", "100", "1"), ("offer", "101", "2")))
    assert p.books[PID].valid and p.stats.duplicates == 0


def test_the_first_frame_of_a_connection_must_start_near_zero() -> None:
    p = FeedProtocol("market-0", [Subscription("level2", (PID,))])
    p.connection_opened()
    p.receive(hb(2**62))
    assert p.stats.sequence_faults == 1 and [type(r) for r in p.take_requests()] == [Reconnect]
    assert p.last_seq is None


def test_a_jump_within_the_bound_is_a_gap_and_the_bound_is_configurable() -> None:
    p = live(limits=WireLimits(max_sequence_jump=100))
    p.receive(hb(50))  # a gap: resync, not a fault
    assert p.stats.gaps == 1 and p.stats.sequence_faults == 0
    assert p.take_requests() == [ResyncLevel2((PID,))]
    p.receive(hb(151))
    assert p.stats.sequence_faults == 1 and [type(r) for r in p.take_requests()] == [Reconnect]


def test_after_a_fault_the_old_connection_cannot_poison_later_frames() -> None:
    """Today a single 2**62 makes every later frame a duplicate, for good."""
    p = live()
    p.receive(hb(2**62))
    p.take_requests()
    assert p.last_seq == 1  # not moved by the absurd number
    events = p.receive(hb(2))
    assert p.stats.duplicates == 0 and any(isinstance(e, Heartbeat) for e in events)


def test_accepted_counts_only_frames_that_pass_the_sequence_check_and_decode() -> None:
    p = live()
    base = p.stats.accepted
    assert base == 2  # the heartbeat and the snapshot
    p.receive(hb(1))  # duplicate
    p.receive(b"junk")  # malformed
    p.receive(frame(2, "heartbeats", "junk"))  # malformed, in sequence
    assert p.stats.accepted == base
    p.receive(hb(3))
    p.receive(l2(4, "update", ("bid", "100", "2")))
    assert p.stats.accepted == base + 2


class ExplodingBook(L2Book):
    """A book whose apply fails in a way no level check foresees (a bug, MemoryError...)."""

    __slots__ = ()

    def apply_wire_updates(self, ups: Any) -> bool:
        if self.valid:  # snapshots go through; updates explode
            raise RuntimeError("boom inside the book")
        return super().apply_wire_updates(ups)


def test_any_exception_while_applying_is_a_malformed_frame() -> None:
    books: dict[str, L2Book] = {PID: ExplodingBook(PID)}
    p = FeedProtocol("market-0", [Subscription("level2", (PID,))], books=books)
    p.connection_opened()
    p.receive(l2(0, "snapshot", ("bid", "100", "1"), ("offer", "101", "2")))
    assert p.books[PID].valid
    events = p.receive(l2(1, "update", ("bid", "100", "2")))  # must not raise
    assert not any(isinstance(e, BookChanged) for e in events)
    assert p.stats.malformed == 1 and not p.books[PID].valid
    assert p.take_requests() == [ResyncLevel2((PID,))]
    assert "boom" in p.stats.last_problem


def test_refusals_are_logged_at_warning_with_the_connection_and_a_short_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = live()
    huge = l2(2, "update", ("bid", "100", "1" * 3_000_000))
    with caplog.at_level(logging.WARNING, logger="botkit.market.feed"):
        p.receive(huge)
        p.receive(DEEP)
        p.receive(ticker(4, price="NaN"))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) >= 3
    for r in warnings:
        text = r.getMessage()
        assert "market-0" in text and len(text) < 600, text[:300]
    assert any(PID in r.getMessage() for r in warnings)
    assert len(p.stats.last_problem) <= 200


def test_binary_invalid_utf8_and_truncated_frames_are_counted() -> None:
    p = live()
    good = l2(2, "update", ("bid", "100", "5")).encode()
    for data in (
        bytes(range(256)),
        b'{"channel":"l2_data","sequence_num":2,"ev',
        b"\xff\xfe" + good,
    ):
        assert not any(isinstance(e, BookChanged) for e in p.receive(data))
    assert p.stats.malformed == 3
    events: list[FeedEvent] = p.receive(good)
    assert isinstance(events[0], BookChanged) and p.books[PID].best_bid() == (
        Decimal(100),
        Decimal(5),
    )
