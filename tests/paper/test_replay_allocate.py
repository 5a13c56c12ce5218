"""``PaperBook.allocate``'s fast path (a print away from all our orders) against the reference.

The reference is the allocation as it was before the fast path: sort the lots the
print went through, fill them, then FIFO at the print's price. Two books with the same
real levels and the same resting orders see the same prints; every allocation and
every lot's state afterwards must match.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.market.book import L2Book
from botkit.market.matching import Lot, Side
from botkit.paper.book import PaperBook, QueuedOrder

from .harness import BTC, Lv

D = Decimal
PRICES = [D(p) for p in ("98", "98.5", "99", "99.5", "100", "100.5", "101", "101.5", "102")]


def reference_allocate(
    book: PaperBook, price: Decimal, size: Decimal, maker_side: Side | None, now: float
) -> list[tuple[QueuedOrder, Decimal]]:
    """The allocation before the fast path (kept verbatim but for the private reads)."""
    lots = book._lots
    if not lots:
        return []
    budget = size
    out: list[tuple[QueuedOrder, Decimal]] = []

    def through(lot: QueuedOrder) -> bool:
        return lot.price > price if lot.side == "BUY" else lot.price < price

    better = sorted(
        (lot for lot in lots.values() if through(lot)),
        key=lambda o: (o.side != maker_side, -o.price if o.side == "BUY" else o.price, o.seq),
    )
    for lot in better:
        if not budget:
            break
        take = min(lot.size, budget)
        budget -= take
        out.append((lot, take))
        lot.size -= take
    at = [
        lot
        for lot in lots.values()
        if lot.side == maker_side and lot.price == price and lot.queue_ahead is not None
    ]
    if at:
        budget = book._at_price(sorted(at, key=lambda o: o.seq), size, budget, now, out)
    for lot, _ in out:
        if not lot.size:
            lots.pop(lot.order_id, None)
    return out


def make_book() -> PaperBook:
    l2 = L2Book(BTC)
    l2.apply_snapshot(
        [Lv("bid", str(p), "3") for p in PRICES[:5]]
        + [Lv("offer", str(p), "2") for p in PRICES[5:]]
    )
    return PaperBook(BTC, {BTC: l2}, print_lag=0.2, tick=D("0.01"))


def state(book: PaperBook) -> list[tuple[object, ...]]:
    return [
        (q.order_id, q.side, q.price, q.size, q.queue_ahead, q.credit, q.credit_time)
        for q in book._lots.values()
    ]


LOT = st.tuples(st.sampled_from(["BUY", "SELL"]), st.sampled_from(PRICES), st.integers(1, 5).map(D))
PRINT = st.tuples(
    st.sampled_from(PRICES),
    st.integers(1, 8).map(D),
    st.sampled_from(["BUY", "SELL", None]),
)


@settings(max_examples=300, deadline=None)
@given(lots=st.lists(LOT, max_size=6), prints=st.lists(PRINT, min_size=1, max_size=12))
def test_allocate_matches_the_reference(
    lots: list[tuple[Side, Decimal, Decimal]],
    prints: list[tuple[Decimal, Decimal, Side | None]],
) -> None:
    fast, ref = make_book(), make_book()
    for i, (side, price, size) in enumerate(lots):
        for book in (fast, ref):
            book.add(Lot(f"o{i}", side, price, size, "paper"))
    assert state(fast) == state(ref)
    for t, (price, size, maker) in enumerate(prints):
        got = fast.allocate(price, size, maker, float(t))
        want = reference_allocate(ref, price, size, maker, float(t))
        assert [(q.order_id, n) for q, n in got] == [(q.order_id, n) for q, n in want]
        assert state(fast) == state(ref)
