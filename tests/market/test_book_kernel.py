"""The compiled level loop (botkit.market._l2kernel) against the Python one it speeds up.

The kernel must be an exact stand-in: for any stream of levels, including the ones it
hands back to Python (side aliases, zero spellings, exponents, junk, non-strings,
rescaling prices), both loops leave identical books and fail on the same levels.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import botkit.market as core_package
from botkit.market import book as book_module
from botkit.market.book import L2Book, WireLevelChange, WireLimits
from botkit.venues.advanced_trade.messages import L2Update

KERNEL_BUILT = (
    importlib.util.find_spec("botkit.market._l2kernel") is not None
    and not core_package.NO_EXTENSIONS
)
needs_kernel = pytest.mark.skipif(not KERNEL_BUILT, reason="kernel not built (or disabled)")


@contextmanager
def loop(kernel: bool) -> Iterator[None]:
    before = book_module.kernel_in_use()
    book_module.use_kernel(kernel)
    try:
        yield
    finally:
        book_module.use_kernel(before)


def test_kernel_is_built_where_a_compiler_is() -> None:
    """`pip install -e .` compiles it; an installation without a C compiler may not."""
    if core_package.NO_EXTENSIONS:
        pytest.skip("BOTKIT_NO_EXTENSIONS is set")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on this machine: the book runs its Python loop")
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        pytest.skip("no Python headers (python3-dev): the book runs its Python loop")
    assert book_module.use_kernel(True), (
        "botkit.market._l2kernel did not build or is stale: reinstall with `pip install -e .` "
        "(needs Cython from the build requirements and a C compiler)"
    )
    assert book_module.kernel_in_use()


def test_no_extensions_switch_keeps_the_kernel_unloaded() -> None:
    probe = (
        "import sys, botkit.market.book as b\n"
        "from botkit.venues.advanced_trade.messages import L2Update as U\n"
        "book = b.L2Book('X')\n"
        "book.apply_wire_updates([U(side='bid', price_level='1', new_quantity='2')])\n"
        "print(b.kernel_in_use(), 'botkit.market._l2kernel' in sys.modules, b.use_kernel(True),"
        " book.best_bid())\n"
    )
    env = {**os.environ, "BOTKIT_NO_EXTENSIONS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split("(")[0].split() == ["False", "False", "False"], out.stderr
    assert "Decimal('2')" in out.stdout
    with loop(False):
        assert not book_module.kernel_in_use()


@needs_kernel
def test_the_build_is_of_this_source() -> None:
    """A .so compiled before the last edit of the .pyx is caught here (rebuild: make)."""
    from botkit.market import _l2kernel  # type: ignore[attr-defined, unused-ignore]

    pyx = Path(book_module.__file__).with_name("_l2kernel.pyx")
    assert hashlib.sha256(pyx.read_bytes()).hexdigest() == _l2kernel.SOURCE_SHA256, (
        "botkit/market/_l2kernel.pyx changed since the extension was built: run "
        "`pip install -e .` (or `make`, which does it when the .pyx changes)"
    )


@needs_kernel
def test_the_kernel_really_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A spy that calls through: the book must hand lists of levels to the kernel."""
    calls: list[int] = []
    real = book_module._kernel
    assert real is not None

    def spy(book: L2Book, ups: list[WireLevelChange], start: int) -> int:
        calls.append(start)
        return real(book, ups, start)

    monkeypatch.setattr(book_module, "_kernel", spy)
    b = L2Book("X")
    b.apply_wire_updates([L2Update(side="bid", price_level="1", new_quantity="1")])
    b.apply_wire_updates([L2Update(side="BUY", price_level="2", new_quantity="1")])  # alias
    assert calls == [0, 0, 1]  # the alias went to Python, then the kernel ended the batch


def state(b: L2Book) -> tuple[object, ...]:
    # private reads on purpose: kernel and Python loop must leave the same internal state
    live_bids = sorted(b._bids.items())
    live_asks = sorted(b._asks.items())
    return (
        live_bids,
        live_asks,
        b.best_bid(),
        b.best_ask(),
        b.crossed,
        b.depth(5),
        b.updates,
        b._decimals,
        dict(b._bid_cache),
        dict(b._ask_cache),
        sorted(b._bid_heap),  # stale entries and compactions too: the same rule
        sorted(b._ask_heap),
        b._bid_heap[:1],
        b._ask_heap[:1],
    )


SIDES = st.sampled_from(["bid", "offer", "bid", "offer", "buy", "SELL", "ask", "bogus"])
PRICES = st.one_of(
    st.integers(90, 110).map(str),
    st.integers(9000, 11000).map(lambda n: f"{n // 100}.{n % 100:02d}"),
    st.integers(90000, 110000).map(lambda n: f"{n // 1000}.{n % 1000:03d}"),  # rescales
    st.sampled_from(["100.", "abc", "-5", "1e2", "", "١٠٠"]),
)
QTYS = st.one_of(
    st.sampled_from(["0", "0", "0.0", "0.000", "00", ".", "1.2.3", "-1", "-0", "1e3", "NaN"]),
    st.sampled_from(["inf", "", " 1", "١", "0.10", "10", "007", ".5", "5."]),
    st.decimals(min_value=0, max_value=1000, places=8, allow_nan=False).map(str),
)
LEVEL = st.builds(L2Update, side=SIDES, price_level=PRICES, new_quantity=QTYS)


def run(kernel: bool, batches: list[list[L2Update]]) -> list[object]:
    """Apply each batch to a fresh book; record the outcome of every batch."""
    out: list[object] = []
    with loop(kernel):
        b = L2Book("X")
        for batch in batches:
            try:
                crossed = b.apply_wire_updates(list(batch))
                out.append(("ok", crossed, state(b)))
            except ValueError as exc:
                out.append(("error", str(exc), state(b)))
    return out


@needs_kernel
@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(LEVEL, max_size=12), min_size=1, max_size=8))
def test_kernel_equals_python_loop(batches: list[list[L2Update]]) -> None:
    assert run(True, batches) == run(False, batches)


@needs_kernel
def test_kernel_equals_python_on_a_long_valid_stream() -> None:
    """A churn-heavy stream of only well-formed levels: the kernel's own path, end to end."""
    rng = random.Random(7)
    batches = []
    for _ in range(400):
        batch = []
        for _ in range(rng.randint(1, 20)):
            side = rng.choice(["bid", "offer"])
            base = 10_000 if side == "offer" else 9_000
            price = f"{rng.randint(base, base + 800) / 100:.2f}"
            qty = "0" if rng.random() < 0.45 else f"{rng.randint(1, 10**8) / 10**8:.8f}"
            batch.append(L2Update(side=side, price_level=price, new_quantity=qty))
        batches.append(batch)
    assert run(True, batches) == run(False, batches)


@needs_kernel
def test_non_level_items_fail_alike() -> None:
    bad: list[object] = [L2Update(side="bid", price_level="1", new_quantity="1"), object()]
    results = []
    for kernel in (True, False):
        with loop(kernel):
            b = L2Book("X")
            with pytest.raises(ValueError, match="bad level in X update"):
                # Deliberately not all levels: both loops must refuse the batch at runtime.
                b.apply_wire_updates(bad)  # type: ignore[arg-type]
            results.append(state(b))
    assert results[0] == results[1]


class SlotLevel:
    """A ``__slots__`` level type, to bind the kernel's slot reads to something else."""

    __slots__ = ("new_quantity", "price_level", "side")

    def __init__(self, side: str, price: str, qty: str | None) -> None:
        self.side, self.price_level = side, price
        if qty is not None:
            self.new_quantity = qty


@needs_kernel
def test_slot_reads_bind_only_to_slot_classes_and_unset_slots_fail_like_getattr() -> None:
    _l2kernel = pytest.importorskip("botkit.market._l2kernel")

    class Plain:
        side = price_level = new_quantity = "x"

    assert not _l2kernel.bind_level_type(Plain)  # class attributes, not slots
    try:
        assert _l2kernel.bind_level_type(SlotLevel)
        outcomes = []
        for kernel in (True, False):
            with loop(kernel):
                if kernel:
                    _l2kernel.bind_level_type(SlotLevel)  # use_kernel() re-binds L2Update
                b = L2Book("X")
                ok = [SlotLevel("bid", "10.5", "2"), SlotLevel("offer", "11", "1")]
                assert not b.apply_wire_updates(ok)
                with pytest.raises(ValueError, match="new_quantity"):
                    b.apply_wire_updates([SlotLevel("bid", "10", None)])
                outcomes.append(state(b))
        assert outcomes[0] == outcomes[1]
    finally:
        assert book_module.use_kernel(True)  # binds L2Update again
        assert _l2kernel.bind_level_type(L2Update)


@needs_kernel
def test_heavy_removal_streams_compact_the_heaps_alike() -> None:
    """~75 % removals in a narrow range: heaps fill with stale keys and get compacted."""
    rng = random.Random(11)
    batches = []
    for _ in range(300):
        batch = []
        for _ in range(rng.randint(20, 80)):
            side = rng.choice(["bid", "offer"])
            base = 1000 if side == "offer" else 900
            price = f"{rng.randint(base * 100, (base + 3) * 100) / 100:.2f}"
            qty = "0" if rng.random() < 0.75 else str(rng.randint(1, 9))
            batch.append(L2Update(side=side, price_level=price, new_quantity=qty))
        batches.append(batch)
    compactions = []
    for kernel in (True, False):
        with loop(kernel):
            b = L2Book("X")
            shrunk = 0  # heap sizes (private, on purpose): both loops compact at the same time
            for batch in batches:
                size = len(b._bid_heap) + len(b._ask_heap)
                b.apply_wire_updates(batch)
                shrunk += len(b._bid_heap) + len(b._ask_heap) < size - len(batch)
            compactions.append((shrunk, state(b)))
    assert compactions[0] == compactions[1]
    assert compactions[0][0] > 0, "the stream never triggered a compaction"


ZERO_SPELLINGS = ["0", "0.", "00.", "0.0", ".0", "00", "0.000", "0." + "0" * 18]
REFUSED_QUANTITIES = [  # what Coinbase never sends: refused by both loops, never stored
    "-0",
    "٠",
    "٠.٠",
    "١",
    "1٠",
    "1e2",
    "1E-8",
    "+1",
    "-1",
    "NaN",
    "inf",
    "Infinity",
    " 1",
    "1 ",
    ".",
    "",
    "1" * 19,
    "1" * 400,
    "0." + "0" * 19,
    "0." + "1" * 19,
    "1000000000000000001",  # above max_quantity (10**18)
]


@pytest.mark.parametrize("kernel", [True, False])
def test_every_zero_spelling_removes_and_every_stored_size_is_positive(kernel: bool) -> None:
    if kernel and not KERNEL_BUILT:
        pytest.skip("kernel not built")
    with loop(kernel):
        b = L2Book("X")
        b.apply_wire_updates([L2Update(side="bid", price_level="100", new_quantity="1")])
        for zero in ZERO_SPELLINGS:
            b.apply_wire_updates([L2Update(side="bid", price_level="100", new_quantity="3")])
            b.apply_wire_updates([L2Update(side="bid", price_level="100", new_quantity=zero)])
            assert b.best_bid() is None, zero
        sizes = ["0.5", "5.", ".5", "0.10", "10", "007", "1" * 18, "0." + "1" * 18]
        for i, size in enumerate(sizes):
            b.apply_wire_updates(
                [L2Update(side="offer", price_level=str(200 + i), new_quantity=size)]
            )
        assert all(q > 0 for _, q in b.depth()[1]) and len(b.depth()[1]) == len(sizes)
        assert all(Decimal(q) > 0 for q in b._asks.values())  # private: the stored strings


@pytest.mark.parametrize("kernel", [True, False])
def test_an_absurd_price_is_refused_without_poisoning_the_scale(kernel: bool) -> None:
    if kernel and not KERNEL_BUILT:
        pytest.skip("kernel not built")
    with loop(kernel):
        b = L2Book("X")
        b.apply_snapshot([L2Update(side="bid", price_level="100.25", new_quantity="1")])
        for price in ("1." + "1" * 4400, "1" * 30, "1." + "1" * 19):
            with pytest.raises(ValueError, match="too many digits"):
                b.apply_wire_updates([L2Update(side="bid", price_level=price, new_quantity="1")])
        assert b._decimals == 2  # private, on purpose: a refused price must not change the scale
        b.apply_snapshot([L2Update(side="offer", price_level="101.5", new_quantity="2")])
        assert b.best_ask() == (Decimal("101.5"), Decimal(2))


@pytest.mark.parametrize("kernel", [True, False])
def test_refused_quantities_raise_and_leave_the_book_as_it_was(kernel: bool) -> None:
    if kernel and not KERNEL_BUILT:
        pytest.skip("kernel not built")
    with loop(kernel):
        b = L2Book("X")
        b.apply_snapshot([L2Update(side="bid", price_level="100", new_quantity="1")])
        for qty in REFUSED_QUANTITIES:
            with pytest.raises(ValueError, match="bad level in X update"):
                b.apply_wire_updates([L2Update(side="bid", price_level="100", new_quantity=qty)])
            assert b.depth() == ([(Decimal(100), Decimal(1))], []), qty


@pytest.mark.parametrize("kernel", [True, False])
def test_non_positive_and_non_ascii_prices_are_refused(kernel: bool) -> None:
    if kernel and not KERNEL_BUILT:
        pytest.skip("kernel not built")
    with loop(kernel):
        b = L2Book("X")
        for price in ("0", "0.0", "00.000", "١٠٠", "1" * 16 + ".5"):
            for qty in ("1", "0"):
                with pytest.raises(ValueError):
                    b.apply_wire_updates(
                        [L2Update(side="bid", price_level=price, new_quantity=qty)]
                    )
        assert b.depth() == ([], []) and b._decimals is None


@needs_kernel
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(
            st.builds(
                L2Update,
                side=st.sampled_from(["bid", "offer"]),
                price_level=st.one_of(PRICES, st.sampled_from(["0", "0.00", "1" * 17])),
                new_quantity=st.one_of(QTYS, st.sampled_from(REFUSED_QUANTITIES)),
            ),
            max_size=10,
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([(10**18, 18), (10**6, 8), (5, 2), (10**3, 30)]),
)
def test_kernel_equals_python_loop_under_any_limits(
    batches: list[list[L2Update]], bounds: tuple[int, int]
) -> None:
    """The quantity and price bounds (WireLimits) are one rule for both loops."""
    limits = WireLimits(max_quantity=bounds[0], max_price=10**16, max_fraction_digits=bounds[1])

    def outcome(kernel: bool) -> list[object]:
        out: list[object] = []
        with loop(kernel):
            b = L2Book("X", limits=limits)
            for batch in batches:
                try:
                    out.append(("ok", b.apply_wire_updates(list(batch)), state(b)))
                except ValueError as exc:
                    out.append(("error", str(exc), state(b)))
        return out

    assert outcome(True) == outcome(False)
