"""The paper broker's book of one product: real liquidity, virtual queue positions.

It implements the engine's book seam (:class:`~botkit.sim.market.MatchBook`), so
order entry, holds, fees and settlement are the simulator's code; only *where
liquidity comes from* and *when a resting order fills* change (docs/paper.md,
"Fill model"):

* **Taking liquidity.** The liquidity is the client's live
  :class:`~botkit.market.book.L2Book` (kept by the level2 feed), read best level
  first, so market and crossing limit orders slip through real levels. The real
  book does not know about our virtual trades, so each level we take from is
  remembered as ``(real size when taken, size we took)`` until the real level
  changes (its next update): until then the level counts as ``real - taken``, so
  two quick orders cannot both take the same liquidity. An absent or invalid
  book has no liquidity at all.
* **Resting orders** never enter the real book. Each joins *behind* the size
  already at its price (``queue_ahead``) and fills only from trade prints: a
  print at its price whose aggressor hits its side first consumes
  ``queue_ahead``, then fills it; a print strictly through its price fills it
  with no queue (it was better priced). Our orders share one print in price-time
  priority and never get more than the printed size. Book updates never fill
  anything; a level shrinking below ``queue_ahead`` (cancellations) caps it,
  growth never moves us back.
* **Print lag.** Coinbase batches ``market_trades`` over 250 ms but sends level2
  at once, so the level usually shrinks *before* the print that caused it
  arrives. A cap that bit within ``print_lag`` seconds before a print at our
  price is taken to be that print's consumption and is not counted twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

from botkit.market.book import L2Book
from botkit.market.matching import Fill, LevelChange, LevelWalker, Lot, Side, opposite

__all__ = ["PaperBook", "QueuedOrder"]

_ZERO = Decimal(0)


@dataclass(slots=True)
class QueuedOrder:
    """One resting user order in the paper book.

    ``queue_ahead`` is the real size ahead of it at its price (``None`` until a
    valid book has been seen: an order restored before the feed is up joins the
    queue when the book arrives). ``credit`` is how much book caps reduced
    ``queue_ahead`` lately (at ``credit_time``) that no print has explained yet.
    """

    order_id: str
    side: Side
    price: Decimal
    size: Decimal
    owner: str | None
    seq: int
    queue_ahead: Decimal | None
    credit: Decimal = _ZERO
    credit_time: float = 0.0


class PaperBook(LevelWalker):
    """Real L2 liquidity less our own consumption, plus our queued resting orders.

    Args:
        product_id: the product; its book is looked up in ``books`` on every read.
        books: the live mapping of the client's books (a book may appear later).
        print_lag: see :attr:`botkit.paper.config.PaperConfig.print_lag`.
        tick: the product's price increment; real prices are written with its
            exponent (``100.00``, as Coinbase prints them), whatever scale the
            L2 book happens to keep them in.
    """

    def __init__(
        self,
        product_id: str,
        books: Mapping[str, L2Book],
        *,
        print_lag: float,
        tick: Decimal | None = None,
    ) -> None:
        self.product_id = product_id
        self._books = books
        self._print_lag = print_lag
        self._tick = tick
        self._lots: dict[str, QueuedOrder] = {}
        self._seq = 0
        # (maker side, price) -> (real size when we took from it, size we took)
        self._used: dict[tuple[Side, Decimal], tuple[Decimal, Decimal]] = {}
        self._book_taken: dict[tuple[Side, Decimal], Decimal] = {}
        """``crossed``: what our resting orders took from a real level, until it leaves."""

    # ------------------------------------------------------------- the L2 book
    def live(self) -> L2Book | None:
        """The product's L2 book if present and valid, else ``None`` (no liquidity)."""
        book = self._books.get(self.product_id)
        return book if book is not None and book.valid else None

    @property
    def valid(self) -> bool:
        """Whether there is a valid real book to trade against."""
        return self.live() is not None

    def _effective(self, side: Side, price: Decimal, real: Decimal) -> Decimal:
        key = (side, price)
        used = self._used.get(key)
        if used is None:
            return real
        if used[0] != real:  # the level changed since we took from it: forget
            del self._used[key]
            return real
        return max(real - used[1], _ZERO)

    def _levels(self, side: Side, hint: int | None = 8) -> Iterator[tuple[Decimal, Decimal]]:
        """``(price, effective size)`` of ``side`` best first, skipping emptied levels."""
        l2 = self.live()
        if l2 is None:
            return
        start, n = 0, hint
        while True:
            bids, asks = l2.depth(n)
            levels = bids if side == "BUY" else asks
            tick = self._tick
            for price, size in levels[start:]:
                if tick is not None and price.quantize(tick) == price:
                    price = price.quantize(tick)
                eff = self._effective(side, price, size)
                if eff > 0:
                    yield price, eff
            if n is None or len(levels) < n:
                return
            start, n = n, n * 4

    def _walk(self, taker_side: Side, limit: Decimal | None) -> Iterator[tuple[Decimal, Decimal]]:
        buy = taker_side == "BUY"
        for price, size in self._levels(opposite(taker_side)):
            if limit is not None and (price > limit if buy else price < limit):
                return
            yield price, size

    # ------------------------------------------------------- MatchBook: reads
    def best(self, side: Side) -> tuple[Decimal, Decimal] | None:
        """Best effective ``(price, size)`` on ``side``."""
        return next(self._levels(side, 4), None)

    def depth(self, side: Side, limit: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """Effective levels best first (what an order could trade against now)."""
        out: list[tuple[Decimal, Decimal]] = []
        for level in self._levels(side, None if limit is None else max(limit, 1)):
            if limit is not None and len(out) >= limit:
                break
            out.append(level)
        return out

    def level_size(self, side: Side, price: Decimal) -> Decimal:
        """Effective size at one real level (zero when absent or no valid book)."""
        l2 = self.live()
        if l2 is None:
            return _ZERO
        return self._effective(side, price, l2.size_at(side, price))

    def crosses(self, side: Side, price: Decimal) -> bool:
        """Whether a ``side`` order at ``price`` would take real liquidity now."""
        best = self.best(opposite(side))
        if best is None:
            return False
        return price >= best[0] if side == "BUY" else price <= best[0]

    def take_changes(self) -> list[LevelChange]:
        """Always empty: the public book is Coinbase's, our orders are not in it."""
        return []

    # ---------------------------------------------------- MatchBook: changes
    def match(self, taker_side: Side, size: Decimal, limit: Decimal | None = None) -> list[Fill]:
        """Take real liquidity best level first (at the level's price), remembering it."""
        l2 = self.live()
        if l2 is None:
            return []
        maker = opposite(taker_side)
        fills: list[Fill] = []
        left = size
        for price, eff in self._walk(taker_side, limit):
            take = min(left, eff)
            real = l2.size_at(maker, price)
            before = self._used.get((maker, price))
            taken = before[1] if before is not None and before[0] == real else _ZERO
            self._used[(maker, price)] = (real, taken + take)
            left -= take
            fills.append(Fill("", None, maker, price, take, eff - take))
            if not left:
                break
        return fills

    def add(self, lot: Lot) -> None:
        """Rest one of our orders at the back of the real queue at its price."""
        self._seq += 1
        queue = self.level_size(lot.side, lot.price) if self.valid else None
        self._lots[lot.order_id] = QueuedOrder(
            lot.order_id, lot.side, lot.price, lot.size, lot.owner, self._seq, queue
        )

    def cancel(self, order_id: str) -> QueuedOrder | None:
        """Remove one of our resting orders (``None`` if it is not resting)."""
        return self._lots.pop(order_id, None)

    def reduce(self, order_id: str, new_size: Decimal) -> None:
        """Shrink a resting order in place; it keeps its queue position.

        Raises:
            KeyError: the order is not resting.
            ValueError: ``new_size`` is not in ``(0, current size]``.
        """
        lot = self._lots[order_id]
        if not _ZERO < new_size <= lot.size:
            raise ValueError("reduce needs 0 < new_size <= current size")
        lot.size = new_size

    # ----------------------------------------------------------- our orders
    def queued(self, order_id: str) -> QueuedOrder | None:
        """The live record of a resting order (for inspection; do not mutate)."""
        return self._lots.get(order_id)

    def __len__(self) -> int:
        """Number of our resting orders."""
        return len(self._lots)

    # ------------------------------------------------------ market data inputs
    def on_book(self, now: float) -> None:
        """The real book changed: forget stale consumption, cap queues, join waiting orders."""
        if not self._lots and not self._used and not self._book_taken:
            return  # the hot path of a replay: nothing of ours at any level
        l2 = self.live()
        if l2 is None:
            return
        used = self._used
        size_at = l2.size_at
        taken_at = self._book_taken
        if taken_at:  # a level that left the book: what comes back there is new
            for key in [k for k in taken_at if not size_at(k[0], k[1])]:
                del taken_at[key]
        if used:
            for (side, price), (seen, _taken) in list(used.items()):
                if size_at(side, price) != seen:
                    del used[(side, price)]
        levels: dict[tuple[Side, Decimal], Decimal] = {}  # one lookup per price we rest at
        for lot in self._lots.values():
            key = (lot.side, lot.price)
            level = levels.get(key)
            if level is None:
                level = size_at(lot.side, lot.price)
                if used:
                    level = self._effective(lot.side, lot.price, level)
                levels[key] = level
            queue = lot.queue_ahead
            if queue is None:
                lot.queue_ahead = level
            elif level < queue:
                if now - lot.credit_time > self._print_lag:
                    lot.credit = _ZERO
                lot.credit += queue - level
                lot.credit_time = now
                lot.queue_ahead = level

    def crossed(self) -> list[tuple[QueuedOrder, Decimal]]:
        """Fills from the book alone, for a venue with no public trade tape (Prime):
        a resting buy fills when the real best ask reaches its price (a seller offers
        at or below it, and would have traded with it), a sell when the best bid does;
        at most the size at that best level, shared oldest first. Taken off the orders
        as :meth:`allocate` does. Without it a resting order on such a venue never
        filled (found by a venue QA pass). What we take from a level is remembered for as
        long as the level exists (``_book_taken``): only the size beyond it can fill us
        again. Reviews found a 0.25 level filling a 1.0 order over unrelated updates,
        then over a size flickering 0.25 → 0.26 → 0.25."""
        lots = self._lots
        l2 = self.live() if lots else None
        if l2 is None:
            return []
        tops = {"BUY": l2.best_ask(), "SELL": l2.best_bid()}  # the level a resting side meets
        budget: dict[str, Decimal] = {}
        taken_at = self._book_taken
        for side, top in tops.items():
            if top is not None:
                maker = opposite(side)  # type: ignore[arg-type]
                # what an order took on arrival (match: _used) is gone from the level too:
                # a 1.0 bid filled a sell's 1.0 as taker, then its resting rest again (a review)
                left = self._effective(maker, top[0], top[1])
                budget[side] = max(left - taken_at.get((maker, top[0]), _ZERO), _ZERO)
        out: list[tuple[QueuedOrder, Decimal]] = []
        for lot in sorted(lots.values(), key=lambda o: o.seq):
            top = tops[lot.side]
            if top is None or (top[0] > lot.price if lot.side == "BUY" else top[0] < lot.price):
                continue
            take = min(lot.size, budget[lot.side])
            if take <= 0:
                continue
            budget[lot.side] -= take
            lot.size -= take
            out.append((lot, take))
            key = (opposite(lot.side), top[0])
            taken_at[key] = taken_at.get(key, _ZERO) + take
        for lot, _ in out:
            if not lot.size:
                lots.pop(lot.order_id, None)
        return out

    def allocate(
        self, price: Decimal, size: Decimal, maker_side: Side | None, now: float
    ) -> list[tuple[QueuedOrder, Decimal]]:
        """Share one trade print among our resting orders; returns ``(order, fill size)``.

        ``maker_side`` is the side the print's aggressor hit (``None`` when the
        print's side is unknown: then only orders it went through can fill).
        Filled sizes are already taken off the orders; fully filled ones leave
        the book. The total never exceeds ``size``.
        """
        lots = self._lots
        if not lots:
            return []  # the hot path of a replay: no resting order of ours here
        # one pass each, no sort, for the common print away from all our orders; a lot
        # is through the print or at its price, never both, and sizes do not matter here
        better = [
            lot
            for lot in lots.values()
            if (lot.price > price if lot.side == "BUY" else lot.price < price)
        ]
        at = [
            lot
            for lot in lots.values()
            if lot.side == maker_side and lot.price == price and lot.queue_ahead is not None
        ]
        if not better and not at:
            return []
        budget = size
        out: list[tuple[QueuedOrder, Decimal]] = []
        if better:
            better.sort(
                key=lambda o: (
                    o.side != maker_side,
                    -o.price if o.side == "BUY" else o.price,
                    o.seq,
                )
            )
            for lot in better:
                if not budget:
                    break
                take = min(lot.size, budget)
                budget -= take
                out.append((lot, take))
                lot.size -= take
        if at:
            budget = self._at_price(sorted(at, key=lambda o: o.seq), size, budget, now, out)
        for lot, _ in out:
            if not lot.size:
                lots.pop(lot.order_id, None)
        return out

    def _at_price(
        self,
        lots: list[QueuedOrder],
        size: Decimal,
        budget: Decimal,
        now: float,
        out: list[tuple[QueuedOrder, Decimal]],
    ) -> Decimal:
        """FIFO at the print's own price: the real queue ahead first, then our orders."""
        consumed = _ZERO  # real size this print took from ahead of our orders
        before: list[Decimal] = []
        for lot in lots:
            assert lot.queue_ahead is not None
            fresh = now - lot.credit_time <= self._print_lag
            applied = min(lot.credit, size) if fresh else _ZERO
            lot.credit = lot.credit - applied if fresh else _ZERO
            ahead = lot.queue_ahead + applied  # undo a cap that was this print, early
            before.append(ahead)
            take = min(max(ahead - consumed, _ZERO), budget)
            consumed += take
            budget -= take
            fill = min(lot.size, budget)
            if fill:
                budget -= fill
                lot.size -= fill
                out.append((lot, fill))
        for lot, ahead in zip(lots, before, strict=True):
            lot.queue_ahead = max(ahead - consumed, _ZERO)
        return budget
