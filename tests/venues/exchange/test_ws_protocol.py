"""The Exchange WebSocket protocol and decoder, driven synchronously (no sockets, no clock).

Includes a Hypothesis fuzz of the decoder (garbage in: a typed frame, an UnknownFrame, or
``DecodeFailed``, nothing else) and of the protocol (``receive`` never raises, garbage never
reaches a book or a strategy).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botkit.auth.hmac_sign import ExchangeHmacSigner
from botkit.clock import ManualClock
from botkit.market.events import (
    BookChanged,
    CandlesReceived,
    FeedEvent,
    FillEvent,
    OrderUpdate,
    SequenceGapDetected,
    TickersReceived,
    TradesReceived,
    UserSnapshotDone,
)
from botkit.market.requests import ResyncLevel2, Subscription
from botkit.orders.fills import FillTracker
from botkit.venues.exchange import ws_messages as m
from botkit.venues.exchange.ws_protocol import ExchangeFeedProtocol, ExchangeWsAuth

SECRET = base64.b64encode(bytes(range(64))).decode()


def proto(*subs: Subscription, **kw: Any) -> ExchangeFeedProtocol:
    p = ExchangeFeedProtocol("market-0", subs, **kw)
    p.connection_opened()
    return p


def j(**frame: Any) -> str:
    return json.dumps(frame)


def snapshot(pid: str = "BTC-USD") -> str:
    return j(type="snapshot", product_id=pid, bids=[["100.00", "1.5"]], asks=[["100.50", "2"]])


def match(pid: str, tid: int, seq: int, **extra: Any) -> str:
    return j(type="match", product_id=pid, trade_id=tid, sequence=seq, price="100.25",
             size="0.5", side="buy", maker_order_id="a", taker_order_id="b", **extra)  # fmt: skip


def test_subscribes_map_channels_and_sign_only_level2_and_user() -> None:
    signer = ExchangeHmacSigner("k1", SECRET, "pp", clock=ManualClock(1_760_000_000))
    auth = ExchangeWsAuth(signer)
    p = proto(
        Subscription("level2", ("BTC-USD",)),
        Subscription("market_trades", ("ETH-USD",)),
        Subscription("ticker", ("BTC-USD",)),
        Subscription("futures_balance_summary", ("BTC-USD",)),
        auth=auth,
    )
    msgs = [json.loads(s) for s in p.subscribe_messages(lambda: None)]
    by = {msg["channels"][0]: msg for msg in msgs}
    assert set(by) == {"heartbeat", "level2", "ticker", "matches"}
    assert by["heartbeat"]["product_ids"] == ["BTC-USD", "ETH-USD"]
    assert by["matches"]["product_ids"] == ["BTC-USD", "ETH-USD"]  # the book's + trades'
    assert "signature" in by["level2"] and "signature" not in by["ticker"]
    prehash = b"1760000000GET/users/self/verify"
    want = base64.b64encode(hmac.new(bytes(range(64)), prehash, hashlib.sha256).digest())
    assert by["level2"]["signature"] == want.decode() and by["level2"]["passphrase"] == "pp"
    assert p.stats.extra["unsupported_channel"] == 1
    assert "pp" not in repr(auth) and SECRET not in repr(auth)
    public = proto(Subscription("level2", ("BTC-USD",)))
    assert public.level2_channel == "level2_batch"


def test_candles_are_built_from_matches_on_exchange() -> None:
    p = proto(Subscription("candles", ("SOL-USD",)))
    [sub] = [json.loads(s) for s in p.subscribe_messages(lambda: None) if "matches" in s]
    assert sub["product_ids"] == ["SOL-USD"] and "unsupported_channel" not in p.stats.extra
    t = "2026-12-06T01:02:03.000000Z"
    [first] = p.receive(match("SOL-USD", 1, 5, time=t))
    frame = json.loads(match("SOL-USD", 2, 6, time=t))
    [second] = p.receive(json.dumps({**frame, "price": "99", "size": "2"}))
    assert isinstance(second, CandlesReceived) and isinstance(first, CandlesReceived)
    [c] = second.candles
    assert (c.open, c.low, c.close) == (Decimal("100.25"), Decimal(99), Decimal(99))
    assert c.volume == Decimal("2.5")
    assert int(c.start) % 300 == 0


def test_book_snapshot_update_and_a_trade_id_gap_resyncs_that_product_only() -> None:
    p = proto(Subscription("level2", ("BTC-USD", "ETH-USD")))
    for pid in ("BTC-USD", "ETH-USD"):
        [ev] = p.receive(snapshot(pid))
        assert isinstance(ev, BookChanged) and ev.snapshot
    [ev] = p.receive(j(type="l2update", product_id="BTC-USD", changes=[["buy", "100.10", "3"]]))
    assert isinstance(ev, BookChanged) and ev.book.best_bid() == (Decimal("100.10"), Decimal(3))
    assert p.receive(match("ETH-USD", 10, 50)) == []  # no market_trades asked: no event
    assert p.receive(match("ETH-USD", 11, 55)) == []  # a sequence jump alone is no gap
    events = p.receive(match("ETH-USD", 13, 60))  # trade 12 was lost
    assert [type(e).__name__ for e in events] == ["SequenceGapDetected", "BookInvalidated"]
    assert p.take_requests() == [ResyncLevel2(("ETH-USD",))]
    assert p.books["BTC-USD"].valid and not p.books["ETH-USD"].valid
    assert p.receive(j(type="l2update", product_id="ETH-USD", changes=[["sell", "101", "1"]])) == []
    assert [json.loads(s)["type"] for s in p.resync_messages(["ETH-USD"], lambda: None)] == [
        "unsubscribe",
        "subscribe",
    ]
    [ev] = p.receive(snapshot("ETH-USD"))
    assert isinstance(ev, BookChanged) and p.books["ETH-USD"].valid


def test_heartbeat_ahead_of_the_last_match_is_a_gap_and_duplicates_are_dropped() -> None:
    p = proto(Subscription("level2", ("BTC-USD",)), Subscription("market_trades", ("BTC-USD",)))
    p.receive(snapshot())
    [ev] = p.receive(match("BTC-USD", 7, 100))
    assert isinstance(ev, TradesReceived) and ev.trades[0].side == "BUY"
    assert p.receive(match("BTC-USD", 7, 100)) == [] and p.stats.duplicates == 1
    hb = j(type="heartbeat", product_id="BTC-USD", sequence=120, last_trade_id=7, time="t")
    assert [type(e).__name__ for e in p.receive(hb)] == ["Heartbeat"]
    assert [type(e).__name__ for e in p.receive(hb)] == ["Heartbeat"]  # same number: kept
    ahead = j(type="heartbeat", product_id="BTC-USD", sequence=130, last_trade_id=9, time="t")
    events = p.receive(ahead)
    assert any(isinstance(e, SequenceGapDetected) for e in events)
    assert p.take_requests() == [ResyncLevel2(("BTC-USD",))]


def test_ticker_and_errors() -> None:
    p = proto(Subscription("ticker", ("BTC-USD",)))
    frame = j(type="ticker", product_id="BTC-USD", sequence=5, price="110", open_24h="100",
              best_bid="109.5", best_ask="110.5", volume_24h="12.5")  # fmt: skip
    [ev] = p.receive(frame)
    assert isinstance(ev, TickersReceived)
    t = ev.tickers[0]
    assert (t.price, t.price_percent_chg_24_h, t.best_bid) == (
        Decimal(110),
        Decimal(10),
        Decimal("109.5"),
    )
    assert p.receive(frame) == []  # the same number again: a duplicate
    err = j(type="error", message="Authentication Failed", reason='{"message":"invalid signature"}')
    [ev2] = p.receive(err)
    assert "BOTKIT_EXCHANGE__" in str(ev2.error)  # type: ignore[union-attr]


def test_user_deltas_become_cumulative_orders_and_fills() -> None:
    fills = FillTracker()
    p = ExchangeFeedProtocol("user", (Subscription("user", ("BTC-USD",)),), fills=fills)
    p.connection_opened()
    ack = j(type="subscriptions", channels=[{"name": "user", "product_ids": ["BTC-USD"]}])
    assert any(isinstance(e, UserSnapshotDone) for e in p.receive(ack))
    assert not any(isinstance(e, UserSnapshotDone) for e in p.receive(ack))  # a barrier's
    out: list[FeedEvent] = []
    base = {"product_id": "BTC-USD", "order_id": "o1", "side": "buy", "user_id": "u"}
    out += p.receive(j(type="received", sequence=1, order_type="limit", size="1", price="100",
                       client_oid="c-1", **base))  # fmt: skip
    out += p.receive(j(type="open", sequence=2, price="100", remaining_size="1", **base))
    out += p.receive(
        j(type="match", product_id="BTC-USD", trade_id=5, sequence=3, price="100", size="0.4",
          side="buy", maker_order_id="o1", taker_order_id="x", user_id="u", profile_id="u",
          maker_fee_rate="0.004")
    )  # fmt: skip
    out += p.receive(
        j(type="match", product_id="BTC-USD", trade_id=6, sequence=4, price="99", size="0.6",
          side="buy", maker_order_id="o1", taker_order_id="y", user_id="u", profile_id="u",
          maker_fee_rate="0.004")
    )  # fmt: skip
    out += p.receive(j(type="done", sequence=5, reason="filled", price="100",
                       remaining_size="0", **base))  # fmt: skip
    statuses = [e.status for e in out if isinstance(e, OrderUpdate)]
    assert statuses == ["PENDING", "OPEN", "OPEN", "OPEN", "FILLED"]
    got = [e for e in out if isinstance(e, FillEvent)]
    assert [(f.size, f.price, f.fee) for f in got] == [
        (Decimal("0.4"), Decimal(100), Decimal("0.16")),
        (Decimal("0.6"), Decimal(99), Decimal("0.2376")),
    ]
    assert all(f.client_order_id == "c-1" for f in got)


# -- fuzz ----------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
TYPES = st.sampled_from(
    ["snapshot", "l2update", "match", "last_match", "ticker", "heartbeat", "received", "open",
     "done", "change", "status", "subscriptions", "error", "activate", "weird"]
)  # fmt: skip
FIELDS = st.sampled_from(
    ["product_id", "trade_id", "sequence", "price", "size", "side", "changes", "bids", "asks",
     "last_trade_id", "order_id", "reason", "maker_fee_rate", "channels", "products"]
)  # fmt: skip
VALUES = JSON | st.sampled_from(
    ["BTC-USD", "NaN", "-1", "1e400", "0", "100.5", "Infinity", [["buy", "1", "NaN"]],
     [["sell", "-1", "1"]], [["x", "1", "1"]], 2**70, -5]
)  # fmt: skip
FRAMES = (
    st.builds(lambda t, d: json.dumps({"type": t, **d}), TYPES, st.dictionaries(FIELDS, VALUES))
    | st.binary(max_size=64)
    | st.text(max_size=64)
    | JSON.map(json.dumps)
    | st.integers(1, 3000).map(lambda n: "[" * n + "]" * n)
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FRAMES)
def test_decoder_raises_nothing_but_decode_failed(data: str | bytes) -> None:
    try:
        frame = m.decode(data)
    except m.DecodeFailed:
        return
    assert isinstance(frame, (*m.Frame.__args__, m.UnknownFrame))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FRAMES, max_size=12))
def test_protocol_never_raises_and_garbage_reaches_no_book(frames: list[str | bytes]) -> None:
    p = proto(Subscription("level2", ("BTC-USD",)), Subscription("market_trades", ("BTC-USD",)))
    p.receive(snapshot())
    before = p.books["BTC-USD"].depth()
    touched = False  # a valid book frame for BTC-USD came through
    for data in frames:
        try:
            frame = m.decode(data)
        except m.DecodeFailed:
            frame = None
        events = p.receive(data)  # never raises
        if frame is None:
            assert not any(isinstance(e, BookChanged | TradesReceived) for e in events)
        elif isinstance(frame, m.L2Snapshot | m.L2UpdateFrame):
            touched = touched or frame.product_id == "BTC-USD"
    book = p.books["BTC-USD"]
    assert not book.valid or not book.crossed
    if not touched:  # garbage only: the book is as it was, or invalid awaiting its resync
        assert not book.valid or book.depth() == before


@pytest.mark.parametrize(
    "bad",
    [
        j(type="match", product_id="X", trade_id=1, price="NaN", size="1", side="buy"),
        j(type="match", product_id="X", trade_id=1, price="1", size="-1", side="buy"),
        j(type="match", product_id="X", trade_id=-1, price="1", size="1", side="buy"),
        j(type="ticker", product_id="X", price="0"),
        j(type="heartbeat", product_id="X", sequence="1", last_trade_id=1),
        j(type="snapshot", product_id="X", bids=[["1"]], asks=[]),
        "{",
        "[]",
    ],
)
def test_values_exchange_never_sends_are_decode_failures(bad: str) -> None:
    with pytest.raises(m.DecodeFailed):
        m.decode(bad)


def test_unknown_types_are_ignored_not_refused() -> None:
    assert m.decode(j(type="auction", product_id="X")) == m.UnknownFrame(type="auction")
    p = proto(Subscription("level2", ("BTC-USD",)))
    assert p.receive(j(type="rfq_match")) == [] and p.stats.unknown == 1 and p.stats.malformed == 0
