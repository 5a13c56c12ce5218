"""L2Book: snapshot/updates with absolute quantities, queries, rescaling, crossed detection."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.market import book as book_module
from botkit.market.book import L2Book
from botkit.venues.advanced_trade.messages import L2Level, L2Update

D = Decimal


@pytest.fixture(autouse=True, params=["kernel", "python"])
def level_loop(request: pytest.FixtureRequest):
    """Every test here runs on the compiled level loop and on the Python one."""
    before = book_module.kernel_in_use()
    if not book_module.use_kernel(request.param == "kernel") and request.param == "kernel":
        book_module.use_kernel(before)
        pytest.skip("botkit.market._l2kernel is not built (see tests/market/test_book_kernel.py)")
    yield request.param
    book_module.use_kernel(before)


def lv(side: str, price: str, qty: str) -> L2Level:
    return L2Level(side=side, price_level=price, new_quantity=D(qty))


def test_snapshot_then_updates_absolute_and_zero_removes():
    b = L2Book("BTC-USD")
    assert not b.valid and b.best_bid() is None
    b.apply_snapshot(
        [
            lv("bid", "100.00", "1"),
            lv("bid", "99.50", "2"),
            lv("offer", "100.50", "3"),
            lv("offer", "101", "4"),
        ]
    )
    assert b.valid
    assert b.best_bid() == (D("100"), D("1")) and b.best_ask() == (D("100.5"), D("3"))
    assert b.mid() == D("100.25") and b.spread() == D("0.5")
    b.apply_updates(
        [lv("bid", "100.00", "5"), lv("offer", "100.50", "0"), lv("bid", "99.75", "0.1")]
    )
    assert b.best_bid() == (D("100"), D("5")) and b.best_ask() == (D("101"), D("4"))
    assert b.depth(2) == ([(D("100"), D("5")), (D("99.75"), D("0.1"))], [(D("101"), D("4"))])
    b.apply_updates([lv("offer", "555", "0")])  # removing an absent level is a no-op
    assert len(b) == 4 and not b.crossed


def test_snapshot_replaces_everything():
    b = L2Book("X")
    b.apply_snapshot([lv("bid", "1.0", "1"), lv("offer", "2.0", "1")])
    b.apply_snapshot([lv("bid", "5", "1"), lv("offer", "6", "1")])
    assert b.depth() == ([(D(5), D(1))], [(D(6), D(1))])


def test_rescale_when_more_decimals_appear():
    b = L2Book("X")
    b.apply_snapshot([lv("bid", "100", "1"), lv("offer", "101", "1")])
    b.apply_updates([lv("bid", "100.125", "2"), lv("offer", "100.5", "1")])
    assert b.best_bid() == (D("100.125"), D(2)) and b.best_ask() == (D("100.5"), D(1))
    assert b.depth()[0] == [(D("100.125"), D(2)), (D(100), D(1))]


def test_crossed_and_invalidate():
    b = L2Book("X")
    b.apply_snapshot([lv("bid", "10", "1"), lv("offer", "11", "1")])
    b.apply_updates([lv("bid", "11", "1")])
    assert b.crossed and b.spread() == 0
    b.invalidate("gap")
    assert not b.valid and b.invalid_reason == "gap"


@pytest.mark.parametrize(
    "bad",
    [lv("bid", "abc", "1"), lv("middle", "1", "1"), lv("bid", "-1", "1"), lv("bid", "1", "-2")],
)
def test_bad_levels_raise_value_error(bad):
    b = L2Book("X")
    with pytest.raises(ValueError):
        b.apply_snapshot([bad])


def test_cache_is_bounded_and_big_snapshots_are_cached_near_the_top_only():
    # private reads on purpose: the price cache's bound is a memory invariant, not API
    b = L2Book("X", cache_limit=10)
    b.apply_snapshot([lv("bid", f"{i}.5", "1") for i in range(1, 100)])
    assert set(b._bid_cache) == {f"{i}.5" for i in range(1, 11)} and len(b) == 99
    b.apply_updates([lv(s, f"{i}.5", "2") for i in range(1, 100) for s in ("bid", "offer")])
    assert 0 < len(b._bid_cache) <= 10 and 0 < len(b._ask_cache) <= 10
    assert b.size_at("bid", D("42.5")) == 2 and b.size_at("SELL", D("42.5")) == 2
    b = L2Book("X")
    b.apply_snapshot([lv("bid", "1.5", "1"), lv("offer", "2.5", "1")])  # small: all cached
    assert b._bid_cache == {"1.5": -15} and b._ask_cache == {"2.5": 25}
    b.apply_snapshot([lv("offer", f"{i}.5", "1") for i in range(3, 20_000)])
    assert len(b._ask_cache) == 1024 and "1026.5" not in b._ask_cache  # the top 1024 only


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 400), st.integers(0, 3)), max_size=300))
def test_matches_a_reference_dict_book(ops):
    b = L2Book("X")
    b.apply_snapshot([])
    ref: dict[bool, dict[Decimal, Decimal]] = {True: {}, False: {}}
    for is_bid, p, q in ops:
        price = D(p) / 4
        b.apply_updates([lv("bid" if is_bid else "offer", format(price, "f"), str(q))])
        if q:
            ref[is_bid][price] = D(q)
        else:
            ref[is_bid].pop(price, None)
    bids, asks = b.depth()
    assert bids == sorted(ref[True].items(), reverse=True)
    assert asks == sorted(ref[False].items())
    if bids and asks:  # mid() reads the heaps itself: the same Decimal, digit for digit
        bid, ask = b.best_bid_tick, b.best_ask_tick
        assert bid is not None and ask is not None
        before = b._price(bid + ask) / 2  # mid() as it was
        assert str(b.mid()) == str(before) and b.mid() == (bids[0][0] + asks[0][0]) / 2
    else:
        assert b.mid() is None


def test_btc_sized_book_random_walk():
    rng = random.Random(3)
    b = L2Book("BTC-USD")
    b.apply_snapshot(
        [lv("bid", f"{65000 - i * 0.01:.2f}", "1") for i in range(1, 5001)]
        + [lv("offer", f"{65000 + i * 0.01:.2f}", "1") for i in range(5000)]
    )
    assert len(b) == 10_000
    for _ in range(20_000):
        i = rng.randint(1, 300)
        side = rng.choice(("bid", "offer"))
        px = 65000 - i * 0.01 if side == "bid" else 65000 + (i - 1) * 0.01
        b.apply_updates([lv(side, f"{px:.2f}", rng.choice(("0", "0.5", "2")))])
    assert not b.crossed


def wire(side: str, price: str, qty: str) -> L2Update:
    return L2Update(side=side, price_level=price, new_quantity=qty)


def test_wire_string_quantities_are_checked_and_read_as_decimal():
    b = L2Book("X")
    b.apply_snapshot([wire("bid", "10.00", "1.50000000"), wire("offer", "11.00", "2")])
    best_bid = b.best_bid()
    assert best_bid == (D("10"), D("1.5")) and isinstance(best_bid[1], Decimal)
    b.apply_updates([wire("bid", "10.00", "0.00000000"), wire("offer", "11.00", "0.00000001")])
    assert b.best_bid() is None and b.best_ask() == (D("11"), D("1e-8"))
    for bad in ("abc", "-1", "nan", "inf", "1.2.3", "", "1e-8", "1E3", "-0", "+1", "١", "1" * 400):
        with pytest.raises(ValueError):
            b.apply_updates([wire("offer", "12.00", bad)])
    assert b.best_ask() == (D("11"), D("1e-8"))  # the book is intact after a bad update
    b.apply_updates([lv("offer", "12.00", "1e-8")])  # a Decimal is spelled plainly for the book
    assert b.best_ask() == (D("11"), D("1e-8")) and b.size_at("offer", D(12)) == D("1e-8")


def test_depth_n_and_rescale_with_stale_heap_entries():
    rng = random.Random(5)
    b = L2Book("X")
    b.apply_snapshot([wire("bid", f"{p}.5", "1") for p in range(1, 400)])
    for _ in range(3000):
        p = rng.randint(1, 400)
        b.apply_updates([wire("bid", f"{p}.5", rng.choice(("0", "3")))])
    b.apply_updates([wire("offer", "500.25", "1")])  # a second decimal: rescale
    full = b.depth()
    for n in (1, 3, 10):
        assert b.depth(n) == (full[0][:n], full[1][:n])
    assert full[0] == sorted(full[0], reverse=True) and b.best_ask() == (D("500.25"), D(1))


def test_snapshot_in_batches_equals_one_snapshot_and_bids_share_keys_with_the_heap():
    levels = [wire("bid", f"{100 - i}.25", "1") for i in range(50)]
    levels += [wire("offer", f"{101 + i}.75", "2") for i in range(50)]
    whole, batched = L2Book("X"), L2Book("X")
    whole.apply_snapshot(levels)
    assert not batched.apply_snapshot_batches(levels[i : i + 7] for i in range(0, 100, 7))
    assert batched.valid and batched.depth() == whole.depth() and len(batched) == 100
    assert batched.best_bid() == (D("100.25"), D(1)) and batched.best_bid_tick == 10025
    # private on purpose: heap and level map must hold the same keys (an internal invariant)
    assert all(k in batched._bids for k in batched._bid_heap)  # the same keys, negated ticks
    batched.apply_updates([wire("bid", f"{100 - i}.25", "0") for i in range(50)])
    assert batched.best_bid() is None and len(batched._bid_heap) == 0


def test_book_changed_fast_constructor_builds_an_ordinary_frozen_event():
    import dataclasses

    from botkit.market.events import BookChanged, book_changed

    b = L2Book("X")
    ev = book_changed("X", b, True, 9)
    assert type(ev) is BookChanged and ev == BookChanged("X", b, True, 9)
    assert hash(ev) == hash(BookChanged("X", b, True, 9)) and dataclasses.replace(ev).book is b
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.sequence_num = 10  # type: ignore[misc]
