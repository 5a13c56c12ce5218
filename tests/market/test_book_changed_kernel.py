"""The kernel's ``book_changed`` (the feed's per-frame event built in C) against the dataclass.

It must give an ordinary ``BookChanged``: equal, same hash, immutable, tracked by the
cycle collector, no reference leaked or stolen; and it must refuse to bind any class it
cannot fill exactly (then the protocol keeps ``events.book_changed``).
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import json
import os
import subprocess
import sys
import weakref
from dataclasses import dataclass
from typing import Any

import pytest

import botkit.market as core_package
from botkit.market import book as book_module
from botkit.market.book import L2Book, WireLimits
from botkit.market.events import BookChanged, book_changed
from botkit.market.requests import Subscription
from botkit.venues.advanced_trade import ws_protocol
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol

KERNEL_BUILT = (
    importlib.util.find_spec("botkit.market._l2kernel") is not None
    and not core_package.NO_EXTENSIONS
)
pytestmark = pytest.mark.skipif(not KERNEL_BUILT, reason="kernel not built (or disabled)")


def make() -> object:
    fn = book_module.compiled_event_constructor(BookChanged)
    assert fn is not None, "the kernel is built but refused to bind BookChanged"
    return fn


def test_the_feed_protocol_builds_its_events_with_the_kernel() -> None:
    assert ws_protocol._book_changed is make()


def test_equal_to_the_dataclass_and_as_immutable() -> None:
    fn = make()
    book = L2Book("BTC-USD")
    for snapshot, seq in [(False, 0), (True, 7), (False, 2**62)]:
        ev = fn("BTC-USD", book, snapshot, seq)  # type: ignore[operator]
        ref = BookChanged("BTC-USD", book, snapshot, seq)
        assert type(ev) is BookChanged
        assert ev == ref == book_changed("BTC-USD", book, snapshot, seq)
        assert hash(ev) == hash(ref)
        assert (ev.product_id, ev.book, ev.snapshot, ev.sequence_num) == (
            "BTC-USD",
            book,
            snapshot,
            seq,
        )
        assert dataclasses.replace(ev, sequence_num=seq + 1).sequence_num == seq + 1
        with pytest.raises(dataclasses.FrozenInstanceError):
            ev.sequence_num = 1  # type: ignore[misc]


def test_tracked_by_the_collector_and_no_reference_leaked() -> None:
    fn = make()
    book = L2Book("ETH-USD")
    pid = "ETH-" + "USD"  # a str of its own, to count its references
    seq = 10**15 + 3
    before = (sys.getrefcount(pid), sys.getrefcount(book), sys.getrefcount(seq))
    events = [fn(pid, book, True, seq) for _ in range(1000)]  # type: ignore[operator]
    assert gc.is_tracked(events[0])
    assert sys.getrefcount(book) == before[1] + 1000
    del events
    gc.collect()
    assert (sys.getrefcount(pid), sys.getrefcount(book), sys.getrefcount(seq)) == before


def test_a_cycle_through_an_event_is_collected() -> None:
    fn = make()

    class Holder:
        ev: object = None

    h = Holder()
    h.ev = fn("X", h, False, 1)  # type: ignore[operator]  # the event refers back to h
    alive = weakref.ref(h)
    del h
    gc.collect()
    assert alive() is None, "a cycle through a kernel-built event was not collected"


@dataclass(frozen=True)
class NoSlots:
    product_id: str
    book: object
    snapshot: bool
    sequence_num: int


@dataclass(frozen=True, slots=True)
class OtherFields:
    product_id: str
    book: object
    snapshot: bool
    seq: int


@dataclass(frozen=True, slots=True)
class Sub(BookChanged):
    extra: int = 0


class OwnNew:
    __slots__ = ("product_id", "book", "snapshot", "sequence_num")

    def __new__(cls) -> OwnNew:  # a class that must be built its own way
        return super().__new__(cls)


@pytest.mark.parametrize("cls", [NoSlots, OtherFields, Sub, OwnNew, int, tuple])
def test_refuses_classes_it_cannot_fill_exactly(cls: type) -> None:
    assert book_module.compiled_event_constructor(cls) is None
    # a refusal leaves the earlier binding in place
    fn = make()
    assert type(fn("A", None, False, 1)) is BookChanged  # type: ignore[operator]


def test_no_constructor_without_the_kernel() -> None:
    probe = (
        "import sys\n"
        "from botkit.market import book\n"
        "from botkit.market.events import BookChanged\n"
        "from botkit.venues.advanced_trade import ws_protocol as w\n"
        "print(book.compiled_event_constructor(BookChanged), w._book_changed.__module__,"
        " 'botkit.market._l2kernel' in sys.modules)\n"
    )
    env = {**os.environ, "BOTKIT_NO_EXTENSIONS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split() == ["None", "botkit.market.events", "False"], out.stderr


# -- the compiled common case of FeedProtocol._apply_l2 (apply_raw_frame) -----------------


def frame(seq: int, kind: str, pid: str, levels: list[tuple[str, str, str]]) -> bytes:
    ups = [{"side": s, "event_time": "", "price_level": p, "new_quantity": q} for s, p, q in levels]
    env = {
        "channel": "l2_data",
        "client_id": "",
        "timestamp": "",
        "sequence_num": seq,
        "events": [{"type": kind, "product_id": pid, "updates": ups}],
    }
    return json.dumps(env, separators=(",", ":")).encode()


def outcome(p: FeedProtocol, data: bytes) -> tuple[Any, ...]:
    """The events (books by product id, errors by type and text) and the protocol's state."""
    events = []
    for ev in p.receive(data):
        fields = []
        for fld in dataclasses.fields(ev):
            v = getattr(ev, fld.name)
            if isinstance(v, L2Book):
                v = ("book", v.product_id, v.valid, v.best_bid(), v.best_ask())
            elif isinstance(v, BaseException):
                v = (type(v).__name__, str(v))
            fields.append((fld.name, v))
        events.append((type(ev).__name__, *fields))
    books = {
        pid: (b.valid, b.invalid_reason, sorted(b._bids.items()), sorted(b._asks.items()))
        for pid, b in p.books.items()
    }
    return events, dataclasses.astuple(p.stats), p.last_seq, p.take_requests(), books


STREAM = [
    frame(1, "snapshot", "BTC-USD", [("bid", "99", "1"), ("offer", "101", "2")]),
    frame(2, "update", "BTC-USD", [("bid", "99.5", "3"), ("offer", "101", "0")]),
    frame(3, "update", "ETH-USD", [("bid", "5", "1")]),  # not this connection's product
    frame(4, "update", "BTC-USD", [("bid", "98", "1"), ("bid", "150", "1")]),  # above the cap
    frame(5, "update", "BTC-USD", [("bid", "98", "2")]),  # the book is invalid: waits
    frame(6, "snapshot", "BTC-USD", [("bid", "99", "1"), ("offer", "101", "2")]),
    frame(7, "update", "BTC-USD", [("bid", "99", "0"), ("bid", "98", "4")]),
    frame(8, "update", "BTC-USD", [("bid", "102", "1")]),  # crosses the ask
    frame(9, "update", "BTC-USD", [("bid", "97", "1")]),
]


def test_compiled_apply_refuses_crosses_and_skips_exactly_like_apply_l2() -> None:
    """Every branch of apply_raw_frame against the msgspec route, which runs _apply_l2."""
    protos = []
    for _ in range(2):
        p = FeedProtocol(
            "market-0", [Subscription("level2", ("BTC-USD",))], limits=WireLimits(max_price=120)
        )
        p.connection_opened()
        protos.append(p)
    assert book_module.apply_raw_frame is not None
    expected = [["BookChanged"], ["BookChanged"], [], ["BookInvalidated"], []]
    expected += [["BookChanged"], ["BookChanged"], ["BookInvalidated"], []]
    try:
        for data, names in zip(STREAM, expected, strict=True):
            book_module.use_kernel(True, decoder=True)
            assert book_module.frame_parser is not None
            assert book_module.frame_parser(data, protos[0].books) is not None  # the raw route
            compiled = outcome(protos[0], data)
            assert [e[0] for e in compiled[0]] == names, data
            book_module.use_kernel(True, decoder=False)
            assert outcome(protos[1], data) == compiled, data
    finally:
        book_module.use_kernel(True)
    names = [e[0] for e in outcome(protos[0], frame(10, "update", "BTC-USD", []))[0]]
    assert names == []  # after the crossing the book waits for its resync snapshot
