"""Core ring: a level-2 order book per product, kept from Coinbase snapshots and updates.

Why this shape (measured in docs/benchmarks-feed.md and the perf reference):

* Prices are **integer ticks** (the price with its decimal point removed at a fixed
  scale). Integer keys hash and compare faster than ``Decimal`` and are exact. Price
  strings repeat constantly, so ``str -> tick`` goes through a bounded cache instead
  of parsing each time.
* Each side is a ``dict`` (tick -> quantity) plus a sorted ``list`` of keys with the
  **best price at the tail**, maintained with :mod:`bisect`. Most changes happen near
  the top of the book, so inserts/deletes move few list items, and the best price is
  ``keys[-1]``. Asks are stored as negative ticks so both sides share the code.
  This beats ``SortedDict`` by ~3x and, unlike ``max()`` over a dict, does not slow
  down as the book grows to BTC-USD size (thousands of levels).
* Quantities are ``Decimal``: absolute on the wire, ``0`` removes the level (§3.5).
* The scale is inferred from the prices seen; a price with more decimals rescales
  the book once, so no product configuration is needed.

The book never decides what to do about a problem: it reports (``crossed``,
``valid``) and :mod:`botkit.core.feed_protocol` resynchronises.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from decimal import Decimal

from botkit.core.messages import L2Level

__all__ = ["L2Book", "Level"]

Level = tuple[Decimal, Decimal]
"""(price, quantity)."""

_ZERO = Decimal(0)
_BID_SIDES = frozenset({"bid", "buy", "BUY"})
_ASK_SIDES = frozenset({"offer", "ask", "sell", "SELL"})


class L2Book:
    """One product's book. Not thread-safe; owned by one feed connection.

    Args:
        product_id: e.g. ``"BTC-USD"``.
        decimals: price decimals (the tick scale); inferred when None.
        cache_limit: most price strings remembered for ``str -> tick``; the
            cache is cleared when full so memory stays bounded.

    Attributes:
        valid: True between a snapshot and an invalidation (gap, crossed book,
            reconnect). Strategies must not trade on an invalid book.
        invalid_reason: why the book was last invalidated ("" when valid).
        updates: price-level changes applied since construction (for stats).
    """

    __slots__ = (
        "_ask_keys",
        "_asks",
        "_bid_keys",
        "_bids",
        "_cache",
        "_cache_limit",
        "_decimals",
        "invalid_reason",
        "product_id",
        "updates",
        "valid",
    )

    def __init__(
        self, product_id: str, *, decimals: int | None = None, cache_limit: int = 200_000
    ) -> None:
        self.product_id = product_id
        self._decimals = decimals
        self._cache: dict[str, int] = {}
        self._cache_limit = cache_limit
        self._bids: dict[int, Decimal] = {}
        self._asks: dict[int, Decimal] = {}
        self._bid_keys: list[int] = []  # ascending ticks: best bid at the tail
        self._ask_keys: list[int] = []  # ascending negated ticks: best ask at the tail
        self.valid = False
        self.invalid_reason = "no snapshot yet"
        self.updates = 0

    # -- mutation ---------------------------------------------------------------------------

    def apply_snapshot(self, levels: Iterable[L2Level]) -> None:
        """Replace the whole book with a snapshot and mark it valid."""
        self._bids.clear()
        self._asks.clear()
        self._bid_keys.clear()
        self._ask_keys.clear()
        self.apply_updates(levels)
        self.valid = True
        self.invalid_reason = ""

    def apply_updates(self, levels: Iterable[L2Level]) -> None:
        """Apply absolute-quantity level changes; a zero quantity removes the level.

        Raises:
            ValueError: a price or side that cannot be understood (the caller
                treats the book as corrupt and resynchronises).
        """
        cache = self._cache
        bids, asks = self._bids, self._asks
        bid_keys, ask_keys = self._bid_keys, self._ask_keys
        n = 0
        zero = _ZERO
        for lv in levels:
            price = lv.price_level
            tick = cache.get(price)
            if tick is None:
                tick = self._to_tick(price)
                bids, asks = self._bids, self._asks  # a rescale rebuilt them
                bid_keys, ask_keys = self._bid_keys, self._ask_keys
            qty = lv.new_quantity
            side = lv.side
            if side == "bid":
                book, keys, key = bids, bid_keys, tick
            elif side == "offer":
                book, keys, key = asks, ask_keys, -tick
            elif side in _BID_SIDES:
                book, keys, key = bids, bid_keys, tick
            elif side in _ASK_SIDES:
                book, keys, key = asks, ask_keys, -tick
            else:
                raise ValueError(f"unknown book side {side!r}")
            if qty > zero:
                if tick not in book:
                    insort(keys, key)
                book[tick] = qty
            elif qty:
                raise ValueError(f"negative quantity {qty} at {price}")
            elif book.pop(tick, None) is not None:
                del keys[bisect_left(keys, key)]
            n += 1
        self.updates += n

    def invalidate(self, reason: str) -> None:
        """Mark the book unusable until the next snapshot (levels are kept for inspection)."""
        self.valid = False
        self.invalid_reason = reason

    def _to_tick(self, price: str) -> int:
        whole, _, frac = price.partition(".")
        if not whole.isdigit() or (frac and not frac.isdigit()):
            raise ValueError(f"bad price level {price!r}")
        frac = frac.rstrip("0")
        if self._decimals is None:
            self._decimals = len(frac)
        elif len(frac) > self._decimals:
            self._rescale(len(frac))
        tick = int(whole + frac.ljust(self._decimals, "0"))
        if len(self._cache) >= self._cache_limit:
            self._cache.clear()
        self._cache[price] = tick
        return tick

    def _rescale(self, decimals: int) -> None:
        old = self._decimals or 0
        factor = 10 ** (decimals - old)
        self._decimals = decimals
        self._cache.clear()
        self._bids = {t * factor: q for t, q in self._bids.items()}
        self._asks = {t * factor: q for t, q in self._asks.items()}
        self._bid_keys = [k * factor for k in self._bid_keys]
        self._ask_keys = [k * factor for k in self._ask_keys]

    # -- queries ----------------------------------------------------------------------------

    def _price(self, tick: int) -> Decimal:
        return Decimal(tick).scaleb(-(self._decimals or 0))

    @property
    def best_bid_tick(self) -> int | None:
        """Best bid in ticks (fast path for strategies comparing prices)."""
        return self._bid_keys[-1] if self._bid_keys else None

    @property
    def best_ask_tick(self) -> int | None:
        """Best ask in ticks."""
        return -self._ask_keys[-1] if self._ask_keys else None

    def best_bid(self) -> Level | None:
        """(price, quantity) of the highest bid, or None when the side is empty."""
        if not self._bid_keys:
            return None
        t = self._bid_keys[-1]
        return self._price(t), self._bids[t]

    def best_ask(self) -> Level | None:
        """(price, quantity) of the lowest ask, or None when the side is empty."""
        if not self._ask_keys:
            return None
        t = -self._ask_keys[-1]
        return self._price(t), self._asks[t]

    def mid(self) -> Decimal | None:
        """Midpoint of best bid and ask; None unless both sides have levels."""
        bid, ask = self.best_bid_tick, self.best_ask_tick
        if bid is None or ask is None:
            return None
        return self._price(bid + ask) / 2

    def spread(self) -> Decimal | None:
        """Best ask minus best bid (negative when crossed); None if a side is empty."""
        bid, ask = self.best_bid_tick, self.best_ask_tick
        if bid is None or ask is None:
            return None
        return self._price(ask - bid)

    @property
    def crossed(self) -> bool:
        """True when best bid >= best ask: impossible on a correct book, so a resync is due."""
        bid, ask = self.best_bid_tick, self.best_ask_tick
        return bid is not None and ask is not None and bid >= ask

    def depth(self, n: int | None = None) -> tuple[list[Level], list[Level]]:
        """Top ``n`` levels per side (all when None): bids descending, asks ascending.

        The same shape as ``SimExchange.book()``, so tests compare them directly.
        """
        bk = self._bid_keys if n is None else self._bid_keys[-n:]
        ak = self._ask_keys if n is None else self._ask_keys[-n:]
        bids = [(self._price(t), self._bids[t]) for t in reversed(bk)]
        asks = [(self._price(-k), self._asks[-k]) for k in reversed(ak)]
        return bids, asks

    def __len__(self) -> int:
        """Number of price levels on both sides."""
        return len(self._bids) + len(self._asks)

    def __repr__(self) -> str:
        state = "valid" if self.valid else f"invalid: {self.invalid_reason}"
        return (
            f"L2Book({self.product_id!r}, bids={len(self._bids)}, asks={len(self._asks)}, {state})"
        )
