"""The kernel's ``book_changed`` (the feed's per-frame event built in C) against the dataclass.

It must give an ordinary ``BookChanged``: equal, same hash, immutable, tracked by the
cycle collector, no reference leaked or stolen; and it must refuse to bind any class it
cannot fill exactly (then the protocol keeps ``events.book_changed``).
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import os
import subprocess
import sys
import weakref
from dataclasses import dataclass

import pytest

import botkit.market as core_package
from botkit.market import book as book_module
from botkit.market.book import L2Book
from botkit.market.events import BookChanged, book_changed
from botkit.venues.advanced_trade import ws_protocol

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
