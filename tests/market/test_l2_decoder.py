"""The compiled l2_data decoder (``_l2kernel.parse_l2_frame``) against msgspec.

The decoder reads a *plain* level2 frame straight into C and the book applies it there;
anything else it declines (None) and the frame is decoded by msgspec as before. Its
contract, checked here on generated frames (escapes, exponents, odd whitespace,
duplicate, missing and extra keys, wrong types, bad numbers, other channels):

* a frame it takes, msgspec decodes to the same ``L2Data`` (sequence number, events,
  levels as wire strings);
* fed the same stream, a ``FeedProtocol`` with the decoder, one without it (msgspec +
  compiled level loop) and one with no extension at all give the same events, stats,
  requests and books (levels, heaps, scale, validity, update counts);
* the plain frames Coinbase sends are taken (so the tests above exercise it), and
  without the extension (``BOTKIT_NO_EXTENSIONS=1``) the feed runs on msgspec alone.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import botkit.market as core_package
from botkit.market import book as book_module
from botkit.market.book import L2Book
from botkit.market.book_levels import DEFAULT_LIMITS, WireLimits
from botkit.market.events import FeedEvent
from botkit.venues.advanced_trade import messages as m
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol, Subscription

KERNEL_BUILT = (
    importlib.util.find_spec("botkit.market._l2kernel") is not None
    and not core_package.NO_EXTENSIONS
)
pytestmark = pytest.mark.skipif(not KERNEL_BUILT, reason="kernel not built (or disabled)")

PIDS = ("BTC-USD", "ETH-USD")
SEEDS = st.integers(0, 2**32)
"""Frames are written by a seeded random.Random: each one makes hundreds of choices."""
MODES = ("decoder", "msgspec+kernel", "python")


@contextmanager
def mode(name: str) -> Iterator[None]:
    """The decoder on (default), off with the compiled level loop, or no extension."""
    book_module.use_kernel(name != "python", decoder=name == "decoder")
    try:
        yield
    finally:
        book_module.use_kernel(True)


def parse(data: str | bytes, books: dict[str, Any] | None = None) -> Any:
    parser = book_module.frame_parser
    assert parser is not None
    return parser(data, books if books is not None else {})


# -- a JSON writer that can spell the same value many ways --------------------------------

WS = ["", "", "", "", " ", "  ", "\n", "\t", "\r\n "]
BAD_WS = ["\x0b", "\x0c", "\xa0", "\u2003"]  # not JSON whitespace: msgspec refuses them


class Writer:
    """``json.dumps`` with random (valid, and rarely invalid) spellings."""

    def __init__(self, r: random.Random, odd: float) -> None:
        self.r = r
        self.odd = odd  # probability of an unusual spelling at each choice

    def chance(self, p: float = 1.0) -> bool:
        return self.r.random() < self.odd * p

    def ws(self) -> str:
        if self.chance(0.02):
            return self.r.choice(BAD_WS)
        return self.r.choice(WS) if self.chance(3) else ""

    def string(self, s: str) -> str:
        if s and self.chance(0.3):  # one character as an escape: the same string
            i = self.r.randrange(len(s))
            esc = self.r.choice([f"\\u{ord(s[i]):04x}", f"\\u{ord(s[i]):04X}"])
            return '"' + json.dumps(s[:i])[1:-1] + esc + json.dumps(s[i + 1 :])[1:-1] + '"'
        if self.chance(0.1):
            return json.dumps(s, ensure_ascii=False)
        return json.dumps(s)

    def value(self, v: Any) -> str:
        w = self.ws
        if isinstance(v, Raw):
            return v.text
        if isinstance(v, str):
            return self.string(v)
        if isinstance(v, dict):
            items = list(v.items())
            if self.chance(0.5):
                self.r.shuffle(items)
            if items and self.chance(0.1):  # a duplicate key, same or another value
                k, val = self.r.choice(items)
                items.insert(self.r.randrange(len(items) + 1), (k, self.r.choice([val, *ODD])))
            inner = ",".join(
                f"{w()}{self.string(k)}{w()}:{w()}{self.value(x)}{w()}" for k, x in items
            )
            return "{" + inner + w() + "}"
        if isinstance(v, list):
            return "[" + ",".join(f"{w()}{self.value(x)}{w()}" for x in v) + w() + "]"
        return json.dumps(v)


@dataclasses.dataclass(frozen=True)
class Raw:
    """A token written as is (numbers msgspec may or may not take as an int)."""

    text: str


ODD: list[Any] = [None, 1, -1, 1.5, True, [], {}, "x", "", [1], {"a": 1}]
PRICES = ["100", "100.5", "100.50", "99.99", "101", "100.25", "5.", "0.001", "100.123"]
BAD_PRICES = [
    "0", "0.00", "-5", "1e2", "١٠٠", " 100", ".5", "", "1" * 40, "12345678901234567890",
    "9999999999999999", "99.9.9", "100.1234567890123456789", "NaN", "0" * 20 + "1",
]  # fmt: skip
QTYS = ["0", "1", "0.5", "2.25", "0.00000001", "1.", ".5", "10", "123.456"]
BAD_QTYS = [
    "00", "0.0", ".0", "1e3", "-1", "", ".", "١", "NaN", " 1", "+1", "5.5.5", "0x1",
    "1" * 19, "1" * 25, "0." + "0" * 30 + "1", "inf",
]  # fmt: skip
SIDES = ["bid", "offer"]
BAD_SIDES = ["buy", "BUY", "ask", "sell", "SELL", "x", "", "Bid"]


def level(r: random.Random, odd: float, bad_prices: float = 0.0) -> dict[str, Any]:
    def pick(good: list[str], bad: list[str]) -> Any:
        roll = r.random()
        if roll < odd * 0.3:
            return r.choice(ODD)
        return r.choice(bad) if roll < odd else r.choice(good)

    lv: dict[str, Any] = {
        "side": pick(SIDES, BAD_SIDES),
        "event_time": "2026-01-01T12:00:00.500000000Z",
        "price_level": r.choice(BAD_PRICES)
        if r.random() < bad_prices
        else pick(PRICES, BAD_PRICES),
        "new_quantity": pick(QTYS, BAD_QTYS),
    }
    if r.random() < odd * 0.2:
        del lv[r.choice(list(lv))]
    if r.random() < odd * 0.1:
        lv[r.choice(["extra", "Side", "price"])] = r.choice(ODD)
    return lv


def l2_frame(
    r: random.Random, seq: int, odd: float, kind: str | None = None, bad_prices: float = 0.0
) -> str:
    """An l2_data frame (sometimes of another channel, or broken), as text.

    ``odd``: how often anything is spelled unusually or is wrong; ``bad_prices``: how
    often a price is one the book refuses, in an otherwise plain frame (the decoder
    takes it, and the book refuses it as it refuses a msgspec-decoded level).
    """
    w = Writer(r, odd)
    events = []
    for _ in range(1 if r.random() > odd else r.choice([0, 2, 3])):
        ev: dict[str, Any] = {
            "type": kind or r.choice(["update"] * 5 + ["snapshot"]),
            "product_id": r.choice(PIDS) if r.random() > odd * 0.2 else "XRP-USD",
            "updates": [level(r, odd, bad_prices) for _ in range(r.randrange(0, 12))],
        }
        if r.random() < odd * 0.1:
            ev["type"] = r.choice(["UPDATE", "delta", "", None, 1])
        if r.random() < odd * 0.1:
            del ev[r.choice(list(ev))]
        events.append(ev)
    seq_token: Any = seq
    if r.random() < odd * 0.1:
        seq_token = Raw(r.choice([f"{seq}.0", f"{seq}e0", f"{seq}E+0", f"-{seq}", f"0{seq}",
                                  "1" * 25, "true", f'"{seq}"', "null", f"{seq}.5"]))  # fmt: skip
    env: dict[str, Any] = {
        "channel": "l2_data" if r.random() > odd * 0.1 else r.choice(["heartbeats", "L2_data", "level2"]),
        "client_id": "",
        "timestamp": "2026-01-01T12:00:00.500000000Z",
        "sequence_num": seq_token,
        "events": events,
    }  # fmt: skip
    if r.random() < odd * 0.1:
        del env[r.choice(list(env))]
    if r.random() < odd * 0.05:
        env["extra"] = r.choice(ODD)
    text = w.ws() + w.value(env) + w.ws()
    if r.random() < odd * 0.03:
        text += r.choice(["x", "{}", ",", "]"])
    if r.random() < odd * 0.03:
        text = text[: r.randrange(len(text))]  # truncated
    return text


def as_levels(ev: m.L2DataEvent) -> list[tuple[str, str, str]]:
    return [(u.side, u.price_level, u.new_quantity) for u in ev.updates]


# -- the decoder alone ------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SEEDS, st.sampled_from([0.0, 0.05, 0.3, 1.0]))
def test_a_frame_the_decoder_takes_decodes_alike_with_msgspec(seed: int, odd: float) -> None:
    r = random.Random(seed)
    text = l2_frame(r, r.randrange(0, 10**6), odd)
    for data in (text, text.encode("utf-8", "surrogatepass")):
        raw = parse(data)
        if raw is None:
            continue  # declined: the feed decodes it with msgspec
        msg = m.decode_fast(data)  # a frame taken is one msgspec decodes
        assert type(msg) is m.L2Data
        assert raw.sequence_num == msg.sequence_num
        assert [(e.type, e.product_id, e.levels_as_tuples()) for e in raw.events] == [
            (e.type, e.product_id, as_levels(e)) for e in msg.events
        ]
        if odd == 0.0:
            continue
        for ev in raw.events:  # only "0" and plain positive quantities are taken
            for _, _, q in ev.levels_as_tuples():
                assert q == "0" or (q.replace(".", "", 1).isdigit() and q.strip("0."))


def test_plain_frames_are_taken_whatever_the_whitespace_and_key_order() -> None:
    r = random.Random(7)
    for i in range(200):
        text = l2_frame(r, i, 0.0)
        frame = json.loads(text)
        for variant in (
            text,
            json.dumps(frame),  # ", " and ": "
            json.dumps(frame, indent=2),
            json.dumps(frame, separators=(",", ":")),
            json.dumps(dict(reversed(list(frame.items())))),  # channel last
        ):
            raw = parse(variant.encode())
            assert raw is not None, variant[:300]
            assert raw.sequence_num == i


def test_the_bench_stream_is_taken_whole() -> None:
    """The simulator's frames (as Coinbase spells them) all go through the decoder."""
    from botkit.sim import ws_frames as f

    ups = [{"side": "bid", "price_level": "64999.50", "new_quantity": "0.05647941"}]
    text = f.dumps(f.envelope("l2_data", "2026-01-01T12:00:00Z", 3, [
        {"type": "update", "product_id": "BTC-USD",
         "updates": [{**u, "event_time": "2026-01-01T12:00:00Z"} for u in ups]},
    ]))  # fmt: skip
    assert parse(text) is not None and parse(text.encode()) is not None
    cached = Path("/tmp/botkit-bench-l2-15000-2500.jsonl.gz")  # present after a bench run
    if cached.exists():
        with gzip.open(cached, "rt", encoding="utf-8") as fh:
            for _, line in zip(range(500), fh, strict=False):
                assert parse(line.rstrip("\n").encode()) is not None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"null",
        b"[]",
        b"{}",
        b'{"channel":"l2_data","sequence_num":1}',  # no events
        b'{"channel":"l2_data","events":[]}',  # no sequence_num
        b'{"sequence_num":1,"events":[]}',  # no channel
        b'{"channel":"l2_data","sequence_num":1,"events":[]',  # truncated
        b'{"channel":"l2_data","sequence_num":1,"events":[]}}',
        b'{"channel":"l2_data","sequence_num":1,"events":[],}',  # trailing comma
        b'{"channel":"l2_data","sequence_num":1,"events":[{}]}',
        b'{"channel":"l2_data","sequence_num":1,"sequence_num":2,"events":[]}',
        b'{"channel":"l2_d\\u0061ta","sequence_num":1,"events":[]}',
        b'{"channel":"l2_data","sequence_num":1e0,"events":[]}',
        b'{"channel":"l2_data","sequence_num":9999999999999999999,"events":[]}',
        b'{"channel":"l2_data","sequence_num":1,"events":[]}\x00',
        b'\xef\xbb\xbf{"channel":"l2_data","sequence_num":1,"events":[]}',  # a BOM
        '{"channel":"l2_data","client_id":"€","sequence_num":1,"events":[]}'.encode(),
        b'{"channel":"l2_data","client_id":"\xff","sequence_num":1,"events":[]}',
        b'{"channel":"l2_data","client_id":"a\tb","sequence_num":1,"events":[]}',
        b'{"channel":"l2_data","client_id":"\x7f","sequence_num":1,"events":[]}',
    ],
)
def test_odd_frames_are_declined(data: bytes) -> None:
    assert parse(data) is None
    assert parse(data.decode("latin-1")) is None


def test_empty_and_minimal_frames_are_taken_like_msgspec() -> None:
    for data in (
        b'{"channel":"l2_data","sequence_num":0,"events":[]}',
        b' {"events":[ ],"sequence_num":7,"channel":"l2_data"} ',
        b'{"channel":"l2_data","sequence_num":1,"events":[{"type":"update",'
        b'"product_id":"BTC-USD","updates":[]}]}',
    ):
        raw, msg = parse(data), m.decode_fast(data)
        assert raw is not None and type(msg) is m.L2Data
        assert raw.sequence_num == msg.sequence_num
        assert [(e.type, e.product_id, len(e)) for e in raw.events] == [
            (e.type, e.product_id, len(e.updates)) for e in msg.events
        ]


def test_long_quantities_are_left_to_the_exact_check_of_their_book() -> None:
    """A quantity longer than a book's quantity_fast_len: the frame goes to msgspec."""
    text = json.dumps({"channel": "l2_data", "sequence_num": 1, "events": [{
        "type": "update", "product_id": "BTC-USD",
        "updates": [{"side": "bid", "price_level": "1", "new_quantity": "12345.6"}]}]})  # fmt: skip
    tight = L2Book("BTC-USD", limits=WireLimits(max_quantity=10**4))  # fast length 4
    assert parse(text, {"BTC-USD": L2Book("BTC-USD")}) is not None
    assert parse(text, {"BTC-USD": tight}) is None
    assert parse(text, {"ETH-USD": tight}) is not None  # not this connection's book


# -- the feed protocol with and without it ------------------------------------------------


def norm(events: list[FeedEvent]) -> list[tuple[Any, ...]]:
    """Events without the live book objects, errors by type and text."""
    out = []
    for ev in events:
        fields = []
        for fld in dataclasses.fields(ev):
            v = getattr(ev, fld.name)
            if isinstance(v, L2Book):
                v = ("book", v.product_id)
            elif isinstance(v, BaseException):
                v = (type(v).__name__, str(v))
            fields.append((fld.name, v))
        out.append((type(ev).__name__, *fields))
    return out


def book_state(b: L2Book) -> tuple[Any, ...]:
    """Everything but the price caches (which only the Python-object paths fill)."""
    return (
        list(b._bids.items()),  # insertion order too: compaction rebuilds heaps from it
        list(b._asks.items()),
        list(b._bid_heap),
        list(b._ask_heap),
        b._decimals,
        b.updates,
        b.valid,
        b.invalid_reason,
        b.crossed,
        b.best_bid(),
        b.best_ask(),
    )


def protocol_state(p: FeedProtocol) -> tuple[Any, ...]:
    return (
        dataclasses.astuple(p.stats),
        p.last_seq,
        p.take_requests(),
        {pid: book_state(b) for pid, b in p.books.items()},
    )


def new_protocol(limits: WireLimits) -> FeedProtocol:
    p = FeedProtocol("market-0", [Subscription("level2", PIDS)], limits=limits)
    p.connection_opened()
    return p


def check_same(stream: list[str | bytes], limits: WireLimits = DEFAULT_LIMITS) -> None:
    protos = {name: new_protocol(limits) for name in MODES}
    for i, data in enumerate(stream):
        seen = {}
        for name, p in protos.items():
            with mode(name):
                seen[name] = norm(p.receive(data))
        assert seen["decoder"] == seen["msgspec+kernel"] == seen["python"], (i, data[:300])
        states = {name: protocol_state(p) for name, p in protos.items()}
        assert states["decoder"] == states["msgspec+kernel"] == states["python"], (i, data[:300])


def stream_of(r: random.Random, n: int, odd: float, bad_prices: float = 0.0) -> list[str | bytes]:
    seq = 0
    out: list[str | bytes] = []
    for pid in PIDS:  # valid books to work on
        snap = l2_frame(random.Random(r.random()), seq, 0.0, kind="snapshot")
        out.append(snap.replace('"ETH-USD"', f'"{pid}"').replace('"BTC-USD"', f'"{pid}"'))
        seq += 1
    for _ in range(n):
        roll = r.random()
        seq += 1 if roll > 0.1 else r.choice([0, -1, 2, 5])  # duplicates, gaps
        text = l2_frame(r, max(seq, 0), odd, bad_prices=bad_prices)
        out.append(text.encode("utf-8", "surrogatepass") if r.random() < 0.8 else text)
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    SEEDS,
    st.integers(1, 30),
    st.sampled_from([0.0, 0.02, 0.1, 0.5]),
    st.sampled_from([0.0, 0.0, 0.01, 0.05]),
)
def test_the_feed_gives_the_same_events_and_books_with_and_without_the_decoder(
    seed: int, n: int, odd: float, bad_prices: float
) -> None:
    check_same(stream_of(random.Random(seed), n, odd, bad_prices))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    SEEDS,
    st.builds(
        WireLimits,
        max_quantity=st.sampled_from([1, 10, 10**4, 10**18, 10**40]),
        max_price=st.sampled_from([1, 100, 101, 10**15, 10**30]),
        max_fraction_digits=st.sampled_from([1, 2, 3, 18, 30]),
    ),
)
def test_the_same_under_any_limits(seed: int, limits: WireLimits) -> None:
    check_same(stream_of(random.Random(seed), 15, 0.02, 0.02), limits)


def test_a_long_valid_stream_with_rescales_and_crossings_is_the_same() -> None:
    """Churn on a few prices (stale heap entries, compactions), finer prices from the
    middle on (rescales, big ticks), now and then a bid above the asks (crossed)."""
    r = random.Random(11)
    stream: list[str | bytes] = []
    bids = ["99", "99.5", "98", "97.5", "96", "95.5"]
    asks = ["101", "100.5", "102", "103.5", "104", "105.5"]
    for i in range(1500):
        if i == 750:
            bids += ["99.25", "98.125", "97.0625"]
            asks += ["101.75", "102.375"]
        if i == 1100:  # ticks beyond one CPython digit (2**30) next to small ones
            bids += ["99.123456789", "0.000000001"]
            asks += ["101.000000003"]
        kind = "snapshot" if i % 211 == 0 else "update"
        ups = []
        for _ in range(r.randrange(1, 20)):
            side = r.choice(SIDES)
            price = r.choice(bids if side == "bid" else asks)
            if r.random() < 0.001:
                price = "150"  # crosses (or, as an ask, sits far away)
            qty = r.choice(["0", "0", "0", "1", "2.5", "0.001"])
            ups.append({"side": side, "event_time": "t", "price_level": price, "new_quantity": qty})
        env = {"channel": "l2_data", "client_id": "", "timestamp": "t", "sequence_num": i,
               "events": [{"type": kind, "product_id": r.choice(PIDS), "updates": ups}]}  # fmt: skip
        stream.append(json.dumps(env, separators=(",", ":")).encode())
    check_same(stream)


def test_the_feed_takes_plain_frames_through_the_decoder() -> None:
    """Not a no-op: the frames above really go through it (the book's caches tell)."""
    p = new_protocol(WireLimits())
    snap: dict[str, Any] = {"channel": "l2_data", "client_id": "", "timestamp": "", "sequence_num": 0,
            "events": [{"type": "snapshot", "product_id": "BTC-USD", "updates": [
                {"side": "bid", "price_level": "100", "new_quantity": "1"},
                {"side": "offer", "price_level": "101", "new_quantity": "1"}]}]}  # fmt: skip
    p.receive(json.dumps(snap).encode())
    book = p.books["BTC-USD"]
    assert book.valid and book.best_bid() is not None
    upd = dict(snap, sequence_num=1, events=[dict(snap["events"][0], type="update")])
    p.receive(json.dumps(upd).encode())
    # The decoder converts prices at the book's scale in C and never fills the price
    # cache; msgspec-decoded levels do (a cache miss caches its price).
    assert book._bid_cache == {"100": -100}  # only the first price (it set the scale)
    with mode("msgspec+kernel"):
        p.receive(json.dumps(dict(upd, sequence_num=2)).encode())
    assert book._ask_cache == {"101": 101}


def test_without_the_extension_the_feed_runs_on_msgspec() -> None:
    probe = (
        "import json, botkit.market.book as b\n"
        "from botkit.venues.advanced_trade.ws_protocol import FeedProtocol, Subscription\n"
        "p = FeedProtocol('m', [Subscription('level2', ('BTC-USD',))]); p.connection_opened()\n"
        "ups = [{'side': 'bid', 'price_level': '100', 'new_quantity': '1'},"
        " {'side': 'offer', 'price_level': '101', 'new_quantity': '2'}]\n"
        "ev = lambda t, s: json.dumps({'channel': 'l2_data', 'sequence_num': s, 'events':"
        " [{'type': t, 'product_id': 'BTC-USD', 'updates': ups}]}).encode()\n"
        "p.receive(ev('snapshot', 0)); out = p.receive(ev('update', 1))\n"
        "print(b.kernel_in_use(), b.decoder_in_use(), len(out), p.books['BTC-USD'].best_ask())\n"
    )
    env = {**os.environ, "BOTKIT_NO_EXTENSIONS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split()[:3] == ["False", "False", "1"], out.stderr
    assert "Decimal('2')" in out.stdout


def test_use_kernel_switches_the_decoder() -> None:
    with mode("msgspec+kernel"):
        assert book_module.kernel_in_use() and not book_module.decoder_in_use()
    with mode("python"):
        assert not book_module.kernel_in_use() and not book_module.decoder_in_use()
    assert book_module.decoder_in_use()


class SubBook(L2Book):
    """A subclass: the kernel reads its slots through getattr, not by offset."""

    __slots__ = ()


def test_a_book_subclass_gets_msgspec_frames_and_reads_alike_through_getattr() -> None:
    """A subclass may override how it applies levels: the feed leaves its frames to
    msgspec. Applied directly, the kernel reads its slots by getattr, to the same books."""
    stream = stream_of(random.Random(5), 200, 0.02, 0.01)
    plain = new_protocol(DEFAULT_LIMITS)
    sub = FeedProtocol(
        "market-0",
        [Subscription("level2", PIDS)],
        books={pid: SubBook(pid) for pid in PIDS},
    )
    sub.connection_opened()
    for data in stream:
        raw = parse(data, sub.books)  # taken only when it touches none of its books
        assert raw is None or not any(ev.product_id in sub.books for ev in raw.events)
        assert norm(plain.receive(data)) == norm(sub.receive(data))
        assert protocol_state(plain) == protocol_state(sub)
    assert any(b.updates for b in sub.books.values())
    a, b = L2Book("BTC-USD"), SubBook("BTC-USD")
    for data in stream:
        raw = parse(data)
        for ev in raw.events if raw is not None else []:
            if ev.product_id != "BTC-USD":
                continue
            outcome: list[object] = []
            for book in (a, b):
                try:
                    if ev.type == "snapshot":
                        outcome.append(book.apply_raw_snapshot(ev))
                    elif book.valid:
                        outcome.append(book.apply_raw_updates(ev))
                    else:
                        outcome.append("waiting for a snapshot")
                except ValueError as exc:
                    outcome.append(str(exc))
                    book.invalidate("refused")
            assert outcome[0] == outcome[1]
            assert book_state(a) == book_state(b)
    assert b.updates


def test_bind_book_type_takes_only_a_class_with_those_slots() -> None:
    from botkit.market import _l2kernel

    class NoSlots:
        _bids: dict[int, str] = {}

    class Half:
        __slots__ = ("_asks", "_bids")

    assert not _l2kernel.bind_book_type(NoSlots)
    assert not _l2kernel.bind_book_type(Half)
    assert not _l2kernel.bind_book_type(SubBook)  # its slots are L2Book's own
    assert not _l2kernel.bind_book_type(object())  # type: ignore[arg-type]
    assert _l2kernel.bind_book_type(L2Book)
