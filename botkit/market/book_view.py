"""Core ring: the read side of :class:`~botkit.market.book.L2Book` (best prices, depth, mid).

Split from ``book.py`` so that each half stays small: this one turns int-tick keys and
wire-string quantities back into ``Decimal`` (money leaving the book is never float)
and walks the heaps best-first; ``book.py`` keeps them up to date.
"""

from __future__ import annotations

from decimal import Decimal
from heapq import heappop, heappush

__all__ = ["BookView", "Level"]

Level = tuple[Decimal, Decimal]
"""(price, quantity)."""


class BookView:
    """Queries over the book's tables; :class:`~botkit.market.book.L2Book` owns and fills them."""

    __slots__ = ()
    _decimals: int | None
    _bids: dict[int, str]
    _asks: dict[int, str]
    _bid_heap: list[int]
    _ask_heap: list[int]

    def _price(self, tick: int) -> Decimal:
        return Decimal(tick).scaleb(-(self._decimals or 0))

    @property
    def best_bid_tick(self) -> int | None:
        """Best bid in ticks (fast path for strategies comparing prices)."""
        heap = self._bid_heap
        return -heap[0] if heap else None

    @property
    def best_ask_tick(self) -> int | None:
        """Best ask in ticks."""
        heap = self._ask_heap
        return heap[0] if heap else None

    def best_bid(self) -> Level | None:
        """(price, quantity) of the highest bid, or None when the side is empty."""
        if not self._bid_heap:
            return None
        key = self._bid_heap[0]
        return self._price(-key), Decimal(self._bids[key])

    def best_ask(self) -> Level | None:
        """(price, quantity) of the lowest ask, or None when the side is empty."""
        if not self._ask_heap:
            return None
        key = self._ask_heap[0]
        return self._price(key), Decimal(self._asks[key])

    def size_at(self, side: str, price: Decimal) -> Decimal:
        """Quantity resting at ``price`` on ``side`` (``"bid"``/``"BUY"``, ``"offer"``/``"SELL"``).

        Zero when the level is absent or ``price`` is finer than the book's tick (no level
        can exist there). The paper broker reads queue sizes with this.
        """
        scaled = price.scaleb(self._decimals or 0)
        if scaled != scaled.to_integral_value():
            return Decimal(0)
        if side in ("bid", "BUY"):
            qty = self._bids.get(-int(scaled))
        else:
            qty = self._asks.get(int(scaled))
        return Decimal(qty) if qty is not None else Decimal(0)

    def mid(self) -> Decimal | None:
        """Midpoint of best bid and ask; None unless both sides have levels.

        Reads the heaps' tops itself (best bid + best ask = ask top - bid top, the bid
        heap holding negated ticks) instead of through the two properties and
        :meth:`_price`: the risk engine marks at the mid on every book update of a run
        or replay (~0.15 us of ~0.55).
        """
        bids, asks = self._bid_heap, self._ask_heap
        if not bids or not asks:
            return None
        return Decimal(asks[0] - bids[0]).scaleb(-(self._decimals or 0)) / 2

    def spread(self) -> Decimal | None:
        """Best ask minus best bid (negative when crossed); None if a side is empty."""
        bid, ask = self.best_bid_tick, self.best_ask_tick
        if bid is None or ask is None:
            return None
        return self._price(ask - bid)

    @property
    def crossed(self) -> bool:
        """True when best bid >= best ask: impossible on a correct book, so a resync is due."""
        bheap, aheap = self._bid_heap, self._ask_heap
        return bool(bheap) and bool(aheap) and -bheap[0] >= aheap[0]

    def depth(self, n: int | None = None) -> tuple[list[Level], list[Level]]:
        """Top ``n`` levels per side (all when None): bids descending, asks ascending.

        The same shape as ``SimExchange.book()``, so tests compare them directly.
        Costs O(n log n) for small ``n`` (a best-first walk of the heap), a sort otherwise.
        """
        price, bids, asks = self._price, self._bids, self._asks
        return (
            [(price(-k), Decimal(bids[k])) for k in _top(self._bid_heap, bids, n)],
            [(price(k), Decimal(asks[k])) for k in _top(self._ask_heap, asks, n)],
        )

    def __len__(self) -> int:
        """Number of price levels on both sides."""
        return len(self._bids) + len(self._asks)


def _top(heap: list[int], live: dict[int, str], n: int | None) -> list[int]:
    """The ``n`` smallest live keys of ``heap``, in order (all live keys when None)."""
    if n is None or n * 8 >= len(live):
        keys = sorted(live)
        return keys if n is None else keys[: max(n, 0)]
    out: list[int] = []
    seen: set[int] = set()
    frontier = [(heap[0], 0)] if heap else []
    size = len(heap)
    while frontier and len(out) < n:
        key, i = heappop(frontier)
        if key not in seen and key in live:
            seen.add(key)
            out.append(key)
        for child in (2 * i + 1, 2 * i + 2):
            if child < size:
                heappush(frontier, (heap[child], child))
    return out
