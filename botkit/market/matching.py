"""Price-time-priority limit order book, free of any exchange's wire format.

The simulator and (later) the paper-trading broker both need the same thing: a
book where resting size queues FIFO per price level and an aggressive order
walks the opposite side level by level, filling at the *resting* price. Keeping
it generic (no Coinbase JSON, no fees, no accounts) lets both reuse it and lets
it be tested exhaustively on its own.

Levels live in a ``dict[price, deque[Lot]]`` plus an ascending list of prices per
side maintained with :mod:`bisect`; books near a fair price hold tens to
hundreds of levels, where this beats a tree and needs no extra dependency.

Every mutation records which levels it touched. :meth:`OrderBook.take_changes`
reports each touched level whose aggregated size differs from the last report,
which is exactly what an L2 feed (absolute ``new_quantity`` updates) needs.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Literal

__all__ = ["Fill", "LevelChange", "LevelWalker", "Lot", "OrderBook", "Side", "opposite"]

Side = Literal["BUY", "SELL"]
_ZERO = Decimal(0)


def opposite(side: Side) -> Side:
    """Return the other side; the side a taker of ``side`` trades against."""
    return "SELL" if side == "BUY" else "BUY"


@dataclass(slots=True)
class Lot:
    """One resting order's remaining size at one price.

    ``owner`` is opaque to the book (the simulator uses ``None`` for synthetic
    participants and the user id for user orders) and is echoed in fills so the
    caller can settle them without a second lookup.
    """

    order_id: str
    side: Side
    price: Decimal
    size: Decimal
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """One taker-versus-resting-lot execution, always at the resting price."""

    maker_order_id: str
    maker_owner: str | None
    maker_side: Side
    price: Decimal
    size: Decimal
    maker_remaining: Decimal


@dataclass(frozen=True, slots=True)
class LevelChange:
    """A level's aggregated size is now ``size`` (absolute; zero means removed)."""

    side: Side
    price: Decimal
    size: Decimal


class _BookSide:
    """One side of the book: FIFO lots per level, an ascending price index, cached sizes."""

    __slots__ = ("is_bid", "levels", "prices", "sizes")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.prices: list[Decimal] = []
        self.levels: dict[Decimal, deque[Lot]] = {}
        self.sizes: dict[Decimal, Decimal] = {}

    def best(self) -> Decimal | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.is_bid else self.prices[0]

    def best_first(self) -> Iterator[Decimal]:
        return reversed(self.prices) if self.is_bid else iter(self.prices)

    def push(self, lot: Lot) -> None:
        queue = self.levels.get(lot.price)
        if queue is None:
            queue = deque()
            self.levels[lot.price] = queue
            self.sizes[lot.price] = _ZERO
            bisect.insort(self.prices, lot.price)
        queue.append(lot)
        self.sizes[lot.price] += lot.size

    def drop_level_if_empty(self, price: Decimal) -> None:
        if self.levels[price]:
            return
        del self.levels[price]
        del self.sizes[price]
        del self.prices[bisect.bisect_left(self.prices, price)]


class LevelWalker:
    """Read-only taker arithmetic over any book that can walk its levels best first.

    Shared by :class:`OrderBook` and the paper broker's book so that "how much would a
    taker get" has one implementation; subclasses provide :meth:`_walk`.
    """

    def _walk(self, taker_side: Side, limit: Decimal | None) -> Iterator[tuple[Decimal, Decimal]]:
        """``(price, size)`` of the levels a taker on ``taker_side`` meets, best first."""
        raise NotImplementedError

    def fillable(self, taker_side: Side, limit: Decimal | None, want: Decimal) -> Decimal:
        """Size a taker could fill now, up to ``want``, without trading beyond ``limit``."""
        got = _ZERO
        for _price, size in self._walk(taker_side, limit):
            got += size
            if got >= want:
                return want
        return got

    def cost(self, taker_side: Side, size: Decimal) -> tuple[Decimal, Decimal]:
        """``(fillable size, notional)`` a taker of ``size`` would get, without trading."""
        left, notional = size, _ZERO
        for price, level in self._walk(taker_side, None):
            take = min(left, level)
            notional += take * price
            left -= take
            if not left:
                break
        return size - left, notional

    def size_for_budget(
        self, taker_side: Side, budget: Decimal, fee_rate: Decimal, increment: Decimal
    ) -> Decimal:
        """Largest size (multiple of ``increment``) whose notional plus fee fits ``budget``.

        Used for quote-sized market buys: walking levels here rather than inside
        ``match`` keeps the matcher free of fee logic.
        """
        left, size = budget, _ZERO
        mult = 1 + fee_rate
        for price, level in self._walk(taker_side, None):
            affordable = (left / (price * mult)).quantize(increment, rounding=ROUND_DOWN)
            take = min(level, affordable)
            if take <= 0:
                break
            size += take
            left -= take * price * mult
            if take < level:
                break
        return size


class OrderBook(LevelWalker):
    """A single product's price-time-priority book.

    The book never validates increments or funds; callers do that. It does
    enforce its own invariants: unique order ids and no resting order that
    crosses the opposite side (:meth:`add` raises instead).
    """

    def __init__(self) -> None:
        self._sides: dict[Side, _BookSide] = {"BUY": _BookSide(True), "SELL": _BookSide(False)}
        self._index: dict[str, Lot] = {}
        self._dirty: dict[tuple[Side, Decimal], Decimal] = {}

    # ----------------------------------------------------------------- queries
    def __contains__(self, order_id: object) -> bool:
        return order_id in self._index

    def get(self, order_id: str) -> Lot | None:
        """Return the live lot for ``order_id`` (mutating it corrupts the book)."""
        return self._index.get(order_id)

    def best(self, side: Side) -> tuple[Decimal, Decimal] | None:
        """Best ``(price, size)`` on ``side`` (highest bid / lowest ask)."""
        book_side = self._sides[side]
        price = book_side.best()
        return None if price is None else (price, book_side.sizes[price])

    def level_size(self, side: Side, price: Decimal) -> Decimal:
        """Aggregated resting size at ``price`` on ``side`` (zero when absent)."""
        return self._sides[side].sizes.get(price, _ZERO)

    def depth(self, side: Side, limit: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """Levels best-first as ``(price, size)``; bids descending, asks ascending."""
        book_side = self._sides[side]
        out: list[tuple[Decimal, Decimal]] = []
        for price in book_side.best_first():
            if limit is not None and len(out) >= limit:
                break
            out.append((price, book_side.sizes[price]))
        return out

    def lots_at(self, side: Side, price: Decimal) -> list[Lot]:
        """The FIFO queue at one level, front first (a copy)."""
        return list(self._sides[side].levels.get(price, ()))

    def crosses(self, side: Side, price: Decimal) -> bool:
        """Whether a ``side`` order at ``price`` would trade against resting liquidity."""
        best = self._sides[opposite(side)].best()
        if best is None:
            return False
        return price >= best if side == "BUY" else price <= best

    def _walk(self, taker_side: Side, limit: Decimal | None) -> Iterator[tuple[Decimal, Decimal]]:
        book_side = self._sides[opposite(taker_side)]
        for price in book_side.best_first():
            if limit is not None and (price > limit if taker_side == "BUY" else price < limit):
                return
            yield price, book_side.sizes[price]

    # --------------------------------------------------------------- mutations
    def add(self, lot: Lot) -> None:
        """Rest ``lot`` at the back of its level.

        Raises:
            ValueError: duplicate order id, non-positive size, or a crossing price.
        """
        if lot.order_id in self._index:
            raise ValueError(f"duplicate order id {lot.order_id}")
        if lot.size <= 0:
            raise ValueError("lot size must be positive")
        if self.crosses(lot.side, lot.price):
            raise ValueError(f"{lot.side} lot at {lot.price} would cross")
        self._touch(lot.side, lot.price)
        self._sides[lot.side].push(lot)
        self._index[lot.order_id] = lot

    def cancel(self, order_id: str) -> Lot | None:
        """Remove a resting lot; returns it, or ``None`` if it is not resting."""
        lot = self._index.pop(order_id, None)
        if lot is None:
            return None
        book_side = self._sides[lot.side]
        self._touch(lot.side, lot.price)
        book_side.levels[lot.price].remove(lot)
        book_side.sizes[lot.price] -= lot.size
        book_side.drop_level_if_empty(lot.price)
        return lot

    def reduce(self, order_id: str, new_size: Decimal) -> None:
        """Shrink a resting lot in place, keeping its queue position.

        Raises:
            KeyError: the order is not resting.
            ValueError: ``new_size`` is not in ``(0, current size]``.
        """
        lot = self._index[order_id]
        if not _ZERO < new_size <= lot.size:
            raise ValueError("reduce needs 0 < new_size <= current size")
        self._touch(lot.side, lot.price)
        self._sides[lot.side].sizes[lot.price] -= lot.size - new_size
        lot.size = new_size

    def match(self, taker_side: Side, size: Decimal, limit: Decimal | None = None) -> list[Fill]:
        """Trade a taker of ``size`` against the opposite side, best level first, FIFO.

        Stops when filled, when the next level is beyond ``limit`` (``None``
        means a market order) or when the opposite side is empty. The unfilled
        remainder is the caller's business (rest it, or cancel it for IOC).
        """
        fills: list[Fill] = []
        maker_side = opposite(taker_side)
        book_side = self._sides[maker_side]
        left = size
        while left > 0:
            price = book_side.best()
            if price is None:
                break
            if limit is not None and (price > limit if taker_side == "BUY" else price < limit):
                break
            self._touch(maker_side, price)
            queue = book_side.levels[price]
            while left > 0 and queue:
                lot = queue[0]
                take = min(left, lot.size)
                lot.size -= take
                left -= take
                book_side.sizes[price] -= take
                if not lot.size:
                    queue.popleft()
                    del self._index[lot.order_id]
                fills.append(Fill(lot.order_id, lot.owner, maker_side, price, take, lot.size))
            book_side.drop_level_if_empty(price)
        return fills

    def take_changes(self) -> list[LevelChange]:
        """Levels whose aggregated size changed since the previous call, in first-touch order."""
        out: list[LevelChange] = []
        for (side, price), before in self._dirty.items():
            now = self._sides[side].sizes.get(price, _ZERO)
            if now != before:
                out.append(LevelChange(side, price, now))
        self._dirty.clear()
        return out

    def _touch(self, side: Side, price: Decimal) -> None:
        key = (side, price)
        if key not in self._dirty:
            self._dirty[key] = self._sides[side].sizes.get(price, _ZERO)
