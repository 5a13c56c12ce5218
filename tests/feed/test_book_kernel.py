"""The compiled level loop (botkit.core._l2kernel) against the Python one it speeds up.

The kernel must be an exact stand-in: for any stream of levels, including the ones it
hands back to Python (side aliases, zero spellings, exponents, junk, non-strings,
rescaling prices), both loops leave identical books and fail on the same levels.
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.core import book as book_module
from botkit.core.book import L2Book
from botkit.core.messages import L2Update


@contextmanager
def loop(kernel: bool) -> Iterator[None]:
    book_module.use_kernel(kernel)
    try:
        yield
    finally:
        book_module.use_kernel(True)


def test_kernel_is_built_where_a_compiler_is() -> None:
    """`pip install -e .` compiles it; an installation without a C compiler may not."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on this machine: the book runs its Python loop")
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        pytest.skip("no Python headers (python3-dev): the book runs its Python loop")
    assert book_module.use_kernel(True), (
        "botkit.core._l2kernel did not build or is stale: reinstall with `pip install -e .` "
        "(needs Cython from the build requirements and a C compiler)"
    )
    assert book_module.kernel_in_use()


def test_no_extensions_switch_is_honoured() -> None:
    with loop(False):
        assert not book_module.kernel_in_use()


def state(b: L2Book) -> tuple[object, ...]:
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


@pytest.mark.skipif(not book_module.use_kernel(True), reason="kernel not built")
@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(LEVEL, max_size=12), min_size=1, max_size=8))
def test_kernel_equals_python_loop(batches: list[list[L2Update]]) -> None:
    assert run(True, batches) == run(False, batches)


@pytest.mark.skipif(not book_module.use_kernel(True), reason="kernel not built")
def test_kernel_equals_python_on_a_long_valid_stream() -> None:
    """A churn-heavy stream of only well-formed levels: the kernel's own path, end to end."""
    import random

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


def test_non_level_items_fail_alike() -> None:
    if not book_module.use_kernel(True):
        pytest.skip("kernel not built")
    bad: list[object] = [L2Update(side="bid", price_level="1", new_quantity="1"), object()]
    results = []
    for kernel in (True, False):
        with loop(kernel):
            b = L2Book("X")
            with pytest.raises(ValueError, match="bad level in X update"):
                b.apply_wire_updates(bad)  # type: ignore[arg-type]
            results.append(state(b))
    assert results[0] == results[1]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


class SlotLevel:
    """A ``__slots__`` level type, to bind the kernel's slot reads to something else."""

    __slots__ = ("new_quantity", "price_level", "side")

    def __init__(self, side: str, price: str, qty: str | None) -> None:
        self.side, self.price_level = side, price
        if qty is not None:
            self.new_quantity = qty


def test_slot_reads_bind_only_to_slot_classes_and_unset_slots_fail_like_getattr() -> None:
    _l2kernel = pytest.importorskip("botkit.core._l2kernel")

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
                assert not b.apply_wire_updates(ok)  # type: ignore[arg-type]
                with pytest.raises(ValueError, match="new_quantity"):
                    b.apply_wire_updates([SlotLevel("bid", "10", None)])  # type: ignore[list-item]
                outcomes.append(state(b))
        assert outcomes[0] == outcomes[1]
    finally:
        assert book_module.use_kernel(True)  # binds L2Update again
        assert _l2kernel.bind_level_type(L2Update)
