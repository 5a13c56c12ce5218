"""The Prime WebSocket protocol and decoder, driven synchronously (no sockets, no clock).

Signing is checked against the reference's vectors (§2.5, computed independently of botkit)
and against the simulator's verifier; sequence rules, the book, the cumulative ``orders``
rows → fills (each once, Decimal), refusals and error hints are driven frame by frame.
Ends with a Hypothesis fuzz of the decoder (garbage in: a typed frame, an UnknownMessage,
an ErrorFrame, or ``DecodeFailed``, nothing else) and of the protocol (``receive`` never
raises; garbage reaches no book and no strategy).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botkit.clock import ManualClock
from botkit.errors import ConfigError
from botkit.market.events import (
    BookChanged,
    BookInvalidated,
    FeedErrorReceived,
    FeedEvent,
    FillEvent,
    Heartbeat,
    OrderUpdate,
    SequenceGapDetected,
    Subscribed,
    TickersReceived,
    UserSnapshotDone,
)
from botkit.market.requests import Backfill, Reconnect, ResyncLevel2, Subscription
from botkit.orders.fills import FillTracker
from botkit.sim.prime_auth import PrimeKey, PrimeRefusals
from botkit.sim.prime_ws_frames import parse_subscribe, verify_subscribe
from botkit.venues.prime import ws_messages as m
from botkit.venues.prime.ws_protocol import (
    PrimeFeedProtocol,
    PrimeWsAuth,
    prime_session_factory,
    ws_signature,
)

VECTOR_KEY = "primeSigningKeyExample123"
T0 = 1_733_385_600.0


def auth(**over: Any) -> PrimeWsAuth:
    return PrimeWsAuth(
        over.get("access_key", "AK1"),
        over.get("signing_key", VECTOR_KEY),
        over.get("passphrase", "pp"),
        over.get("svc", "SVC1"),
        clock=ManualClock(T0),
    )


def proto(*subs: Subscription, **kw: Any) -> PrimeFeedProtocol:
    kw.setdefault("auth", auth())
    p = PrimeFeedProtocol("market-0", subs, **kw)
    p.connection_opened()
    return p


def env(channel: str, seq: int | str, *events: Any) -> str:
    return json.dumps(
        {"channel": channel, "timestamp": "2026-12-05T08:00:05.2Z", "sequence_num": seq,
         "events": list(events)}
    )  # fmt: skip


def lvl(side: str, px: str, qty: str) -> dict[str, str]:
    return {"side": side, "event_time": "2026-12-05T08:00:05.19Z", "px": px, "qty": qty}


def l2(seq: int, kind: str = "update", pid: str = "BTC-USD", *levels: dict[str, str]) -> str:
    return env("l2_data", seq, {"type": kind, "product_id": pid, "updates": list(levels)})


def snap(seq: int, pid: str = "BTC-USD") -> str:
    return l2(seq, "snapshot", pid, lvl("bid", "100.00", "1.5"), lvl("offer", "100.50", "2"))


def row(**over: Any) -> dict[str, Any]:
    base = {"order_id": "o-1", "client_order_id": "c-1", "cum_qty": "0", "leaves_qty": "1",
            "avg_px": "0", "net_avg_px": "0", "fees": "0", "status": "OPEN",
            "product_id": "BTC-USD", "side": "buy", "order_type": "limit", "limit_px": "100"}  # fmt: skip
    return base | over


def orders(seq: int, kind: str, *rows: dict[str, Any]) -> str:
    return env("orders", seq, {"type": kind, "orders": list(rows)})


# -- signing and subscribes ------------------------------------------------------------------


def test_signatures_match_the_reference_vectors() -> None:
    sig = ws_signature(
        VECTOR_KEY, "l2_data", "AK1", "SVC1", "1733385600", "", ["BTC-USD", "ETH-USD"]
    )
    assert sig == "4K2GDCLb8dCzq1R9c4pSmad607mzv2aKke8ZYcwrdQc="
    sig = ws_signature(VECTOR_KEY, "orders", "AK1", "SVC1", "1733385600", "pf-1", ["BTC-USD"])
    assert sig == "SnVxUVGHbCG0/fkJQR/lXmyVEzXkx40e12Csisywxb8="


def test_subscribes_are_signed_one_channel_each_and_the_simulator_accepts_them() -> None:
    p = proto(
        Subscription("level2", ("BTC-USD", "ETH-USD")),
        Subscription("user", ("BTC-USD",)),
        portfolio_id="pf-1",
    )
    msgs = [json.loads(x) for x in p.subscribe_messages(lambda: None)]
    assert [x["channel"] for x in msgs] == ["heartbeats", "l2_data", "orders"]
    l2msg, ordmsg = msgs[1], msgs[2]
    assert l2msg["signature"] == "4K2GDCLb8dCzq1R9c4pSmad607mzv2aKke8ZYcwrdQc="
    assert (l2msg["timestamp"], l2msg["api_key_id"], l2msg["portfolio_id"]) == (
        "1733385600",
        "SVC1",
        "",
    )
    assert ordmsg["portfolio_id"] == "pf-1" and ordmsg["product_ids"] == ["BTC-USD"]
    assert ordmsg["signature"] == "SnVxUVGHbCG0/fkJQR/lXmyVEzXkx40e12Csisywxb8="
    key = PrimeKey(access_key="AK1", signing_key=VECTOR_KEY, passphrase="pp",
                   portfolio_ids=("pf-1",), entity_id="e", svc_account_id="SVC1")  # fmt: skip
    for msg in msgs:  # the simulator's own verifier (written apart) accepts every one
        verify_subscribe({"AK1": key}, parse_subscribe(msg), T0 + 5, refusals=PrimeRefusals())
    resync = [json.loads(x) for x in p.resync_messages(["ETH-USD"], lambda: None)]
    assert [(x["type"], x["channel"], x["product_ids"]) for x in resync] == [
        ("unsubscribe", "l2_data", ["ETH-USD"]),
        ("subscribe", "l2_data", ["ETH-USD"]),
    ]
    assert json.loads(p.barrier_message(lambda: None))["channel"] == "heartbeats"


def test_credentials_are_required_named_and_never_shown() -> None:
    with pytest.raises(ConfigError, match="BOTKIT_PRIME__SERVICE_ACCOUNT_ID"):
        auth(svc="")
    a = auth(signing_key="very-secret-signing-key", passphrase="secret-pp")
    assert "very-secret" not in repr(a) and "secret-pp" not in repr(a)
    with pytest.raises(ConfigError, match="BOTKIT_PRIME__PORTFOLIO_ID"):
        proto(Subscription("user"))


def test_unsupported_channels_are_skipped_and_counted() -> None:
    p = proto(Subscription("market_trades", ("BTC-USD",)), Subscription("candles", ("BTC-USD",)))
    assert p.stats.extra["unsupported_channel"] == 2
    assert [json.loads(x)["channel"] for x in p.subscribe_messages(lambda: None)] == ["heartbeats"]


def test_factory_builds_sessions_with_the_credentials() -> None:
    factory = prime_session_factory(auth=auth(), portfolio_id="pf-1", heartbeat_channel="heartbeat")
    session = factory("user", [Subscription("user")], fills=FillTracker())
    assert isinstance(session, PrimeFeedProtocol)
    assert json.loads(session.subscribe_messages(lambda: None)[0])["channel"] == "heartbeat"


# -- sequence and book -----------------------------------------------------------------------


def test_book_snapshot_updates_and_removals() -> None:
    p = proto(Subscription("level2", ("BTC-USD",)))
    assert isinstance(
        p.receive(env("subscriptions", 0, {"subscriptions": {"l2_data": ["BTC-USD"]}}))[0],
        Subscribed,
    )
    [ev] = p.receive(snap(1))
    assert isinstance(ev, BookChanged) and ev.snapshot and ev.sequence_num == 1
    p.receive(l2(2, "update", "BTC-USD", lvl("offer", "100.50", "0"), lvl("offer", "100.75", "3")))
    book = p.books["BTC-USD"]
    assert book.best_ask() == (Decimal("100.75"), Decimal(3))
    assert book.best_bid() == (Decimal("100.00"), Decimal("1.5"))
    assert p.stats.accepted == 3 and p.stats.malformed == 0


def test_gap_invalidates_and_requests_a_resubscribe_and_a_backfill() -> None:
    p = proto(Subscription("level2", ("BTC-USD",)), Subscription("user"), portfolio_id="pf",
              fills=FillTracker())  # fmt: skip
    p.receive(snap(0))
    out = p.receive(l2(3, "update", "BTC-USD", lvl("bid", "99", "1")))
    gap = [e for e in out if isinstance(e, SequenceGapDetected)]
    assert gap and (gap[0].expected, gap[0].received) == (1, 3)
    assert any(isinstance(e, BookInvalidated) for e in out)
    assert not p.books["BTC-USD"].valid
    reqs = p.take_requests()
    assert ResyncLevel2(("BTC-USD",)) in reqs and any(isinstance(r, Backfill) for r in reqs)
    assert p.receive(l2(4, "update", "BTC-USD", lvl("bid", "98", "1"))) == []  # awaits snapshot
    assert p.receive(l2(4)) == [] and p.stats.duplicates == 1
    [ev] = p.receive(snap(5))
    assert isinstance(ev, BookChanged) and p.books["BTC-USD"].valid


def test_reconnect_policy_and_absurd_jumps() -> None:
    p = proto(Subscription("level2", ("BTC-USD",)), gap_policy="reconnect")
    p.receive(snap(0))
    p.receive(l2(2))
    assert any(isinstance(r, Reconnect) for r in p.take_requests())
    q = proto(Subscription("level2", ("BTC-USD",)))
    q.receive(snap(0))
    q.receive(l2(10**15))
    assert q.stats.sequence_faults == 1 and any(isinstance(r, Reconnect) for r in q.take_requests())


def test_crossed_or_refused_levels_resync_the_whole_frame() -> None:
    p = proto(Subscription("level2", ("BTC-USD",)))
    p.receive(snap(0))
    out = p.receive(l2(1, "update", "BTC-USD", lvl("bid", "101", "1")))  # crosses the ask
    assert not any(isinstance(e, BookChanged) for e in out) and not p.books["BTC-USD"].valid
    p.take_requests()
    p.receive(snap(2))
    out = p.receive(l2(3, "update", "BTC-USD", lvl("sideways", "99", "1")))
    assert p.stats.malformed == 1 and not any(isinstance(e, BookChanged) for e in out)
    assert ResyncLevel2(("BTC-USD",)) in p.take_requests()


def test_heartbeats_with_int_or_string_counters_and_skips() -> None:
    p = proto()
    hb = [e for e in p.receive(env("heartbeats", 0, {"current_time": "t", "heartbeat_counter": 7}))]
    hb += p.receive(env("heartbeat", 1, {"current_time": "t", "heartbeat_counter": "10"}))
    assert [(h.counter, h.missed) for h in hb if isinstance(h, Heartbeat)] == [(7, 0), (10, 2)]


def test_derived_ticker_is_the_top_of_the_book() -> None:
    p = proto(Subscription("ticker", ("BTC-USD",)), derive_ticker=True)
    assert "BTC-USD" in p.books
    out = p.receive(snap(0))
    [t] = [t for e in out if isinstance(e, TickersReceived) for t in e.tickers]
    assert (t.type, t.price, t.best_bid, t.best_ask) == (
        "book", Decimal("100.25"), Decimal("100.00"), Decimal("100.50"))  # fmt: skip

    def tickers(frame: str) -> list[Decimal | None]:
        return [t.best_bid for e in p.receive(frame) if isinstance(e, TickersReceived)
                for t in e.tickers]  # fmt: skip

    # a change below the top is no ticker (one per book change made ticker-counting
    # strategies trade 3x as often on Prime as elsewhere); the top moving is one
    assert tickers(l2(1, "update", "BTC-USD", lvl("bid", "99", "7"))) == []
    assert tickers(l2(2, "update", "BTC-USD", lvl("bid", "100.25", "1"))) == [Decimal("100.25")]
    # a size change at the top is one (its quantities were stale); a resync's snapshot
    # always is, even with the top unchanged (a review: ctx.ticker stayed stale after it)
    assert tickers(l2(3, "update", "BTC-USD", lvl("bid", "100.25", "2"))) == [Decimal("100.25")]
    p.receive(l2(4, "update", "BTC-USD", lvl("bid", "101", "1")))  # crosses: resync
    assert not p.books["BTC-USD"].valid
    assert tickers(snap(5)) == [Decimal("100.00")]


def test_error_frames_carry_a_hint_and_no_secret() -> None:
    p = proto()
    [ev] = p.receive(json.dumps({"type": "error", "message": "invalid signature"}))
    assert isinstance(ev, FeedErrorReceived) and "BOTKIT_PRIME__SIGNING_KEY" in str(ev.error)
    [ev2] = p.receive(json.dumps({"type": "error", "message": "not authorized for portfolio x"}))
    assert isinstance(ev2, FeedErrorReceived)
    assert "BOTKIT_PRIME__PORTFOLIO_ID" in str(ev2.error) and VECTOR_KEY not in str(ev2.error)


def test_wrapped_ack_and_unknown_channels() -> None:
    p = proto()
    ack = [
        {
            "channel": "subscriptions",
            "sequence_num": 0,
            "events": [{"subscriptions": {"heartbeats": []}}],
        }
    ]
    assert isinstance(p.receive(json.dumps(ack))[0], Subscribed)
    assert p.receive(env("products", 1, {"type": "snapshot"})) == []
    assert p.stats.unknown == 1 and p.stats.malformed == 0 and p.last_seq == 1


# -- orders → fills --------------------------------------------------------------------------


def test_cumulative_rows_become_each_fill_once() -> None:
    tracker = FillTracker()
    p = proto(Subscription("user"), portfolio_id="pf", fills=tracker)
    out: list[FeedEvent] = []
    out += p.receive(orders(0, "snapshot"))
    out += p.receive(orders(1, "update", row()))
    out += p.receive(
        orders(2, "update", row(cum_qty="0.4", leaves_qty="0.6", avg_px="100", fees="0.16"))
    )
    out += p.receive(
        orders(3, "update", row(cum_qty="0.4", leaves_qty="0.6", avg_px="100", fees="0.16"))
    )
    out += p.receive(orders(4, "update", row(cum_qty="1", leaves_qty="0", avg_px="99.4",
                                             fees="0.3976", status="FILLED")))  # fmt: skip
    assert sum(isinstance(e, UserSnapshotDone) for e in out) == 1
    assert [e.status for e in out if isinstance(e, OrderUpdate)] == ["OPEN", "OPEN", "FILLED"]
    fills = [e for e in out if isinstance(e, FillEvent)]
    assert [(f.size, f.price, f.fee) for f in fills] == [
        (Decimal("0.4"), Decimal(100), Decimal("0.16")),
        (Decimal("0.6"), Decimal(99), Decimal("0.2376")),
    ]
    assert all(f.side == "BUY" and f.client_order_id == "c-1" for f in fills)
    # a reconnect's snapshot replays the cumulative state: nothing new
    p.connection_opened()
    again = p.receive(orders(0, "snapshot", row(cum_qty="1", avg_px="99.4", status="FILLED")))
    assert not any(isinstance(e, FillEvent) for e in again)


def test_a_large_snapshot_ends_exactly_once() -> None:
    tracker = FillTracker(snapshot_batch=3)
    p = proto(Subscription("user"), portfolio_id="pf", fills=tracker)
    for n in (0, 3, 7):
        p.connection_opened()
        rows = [row(order_id=f"o-{n}-{i}") for i in range(n)]
        out = p.receive(orders(0, "snapshot", *rows))
        [done] = [e for e in out if isinstance(e, UserSnapshotDone)]
        assert done.open_orders == n


def test_cancel_context_becomes_the_cancel_reason() -> None:
    p = proto(Subscription("user"), portfolio_id="pf", fills=FillTracker())
    p.receive(orders(0, "update", row()))
    out = p.receive(orders(1, "update", row(status="CANCELLED", user_context="user requested")))
    [u] = [e for e in out if isinstance(e, OrderUpdate)]
    assert u.status == "CANCELLED" and u.leaves_quantity == Decimal(1)


@pytest.mark.parametrize(
    "bad",
    [
        orders(0, "update", row(cum_qty="NaN")),
        orders(0, "update", row(cum_qty="-1")),
        orders(0, "update", row(avg_px="1e5")),
        orders(0, "delta", row()),
        env("l2_data", -1, {"type": "snapshot", "product_id": "X", "updates": []}),
        env("l2_data", 0, {"type": "snapshot", "product_id": "X", "updates": [{"px": "1"}]}),
        env("heartbeats", "1", {"heartbeat_counter": 1}),
        "{",
        "[]",
        "[[]]",
    ],
)
def test_values_prime_never_sends_are_decode_failures(bad: str) -> None:
    with pytest.raises(m.DecodeFailed):
        m.decode(bad)


# -- fuzz ------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
CHANNELS = st.sampled_from(["l2_data", "orders", "heartbeats", "heartbeat", "subscriptions",
                            "products", "weird"])  # fmt: skip
LEVELS = st.lists(
    st.fixed_dictionaries({
        "side": st.sampled_from(["bid", "offer", "buy", "x"]),
        "px": st.sampled_from(["100.00", "99.5", "0", "-1", "NaN", "1e9", "", "100.001"]),
        "qty": st.sampled_from(["1", "0", "-2", "NaN", "1e400", "", "0.5"]),
    }),
    max_size=4,
)  # fmt: skip
EVENT = st.fixed_dictionaries(
    {"type": st.sampled_from(["snapshot", "update", "delta"]),
     "product_id": st.sampled_from(["BTC-USD", "ETH-USD", ""])},
    optional={"updates": LEVELS, "orders": st.lists(st.builds(row, cum_qty=st.sampled_from(
        ["0", "1", "-1", "NaN", "", "0.5"])), max_size=2), "x": JSON},
)  # fmt: skip
FRAMES = (
    st.builds(
        lambda c, s, evs: json.dumps({"channel": c, "sequence_num": s, "events": evs}),
        CHANNELS,
        st.integers(-3, 40) | st.sampled_from([2**70, 10**15]),
        st.lists(EVENT | JSON, max_size=3),
    )
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
    assert isinstance(frame, (*m.Frame.__args__, m.UnknownMessage, m.ErrorFrame))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FRAMES, max_size=12))
def test_protocol_never_raises_and_garbage_reaches_no_book(frames: list[str | bytes]) -> None:
    p = proto(Subscription("level2", ("BTC-USD",)), Subscription("user"), portfolio_id="pf",
              fills=FillTracker())  # fmt: skip
    p.receive(snap(0))
    before = p.books["BTC-USD"].depth()
    touched = False
    for data in frames:
        try:
            frame = m.decode(data)
        except m.DecodeFailed:
            frame = None
        events = p.receive(data)  # never raises
        if frame is None:
            assert not any(isinstance(e, BookChanged | FillEvent | OrderUpdate) for e in events)
        elif isinstance(frame, m.L2Message):
            touched = touched or any(e.product_id == "BTC-USD" for e in frame.events)
        for e in events:
            if isinstance(e, FillEvent):
                assert e.size > 0 and isinstance(e.price, Decimal)
    book = p.books["BTC-USD"]
    assert not book.valid or not book.crossed
    if not touched:  # garbage only: the book is as it was, or invalid awaiting its resync
        assert not book.valid or book.depth() == before
