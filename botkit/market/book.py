"""Core ring: a level-2 order book per product, kept from Coinbase snapshots and updates.

Why this shape (measured in docs/benchmarks.md and the perf reference):

* Prices are **integer ticks** (the price with its decimal point removed at a fixed
  scale). Integer keys hash and compare faster than ``Decimal`` and are exact. Price
  strings repeat constantly, so ``str -> key`` goes through a bounded cache per side
  instead of parsing each time.
* Each side is a ``dict`` (key -> quantity) plus a **heap with lazy deletion** of
  its keys (best price at ``heap[0]``; asks keyed by tick, bids by negated tick, the
  same int object in the dict and the heap). An added level is pushed (O(1) on average
  away from the top); a removed level only
  leaves the dict, and its heap entry is dropped when it surfaces at the top or at a
  compaction (when stale entries outnumber live ones). A sorted key list was 1.5x
  slower end to end: a real stream changes the *far* end of the book as often as the
  top (levels enter and leave the depth window), and each of those moved the whole
  list. The top is cleaned at the end of every batch, so the best price is an O(1)
  read; ``depth(n)`` walks the heap best-first in O(n log n).
* Quantities are kept as received: the **wire string** (from the feed's hot path,
  :class:`~botkit.market.types.L2Update`) or a ``Decimal``. A string is checked
  when applied (``"0"`` removes; short ASCII digits with one ``"."`` and a non-zero
  digit are positive, by a few C string calls; anything else goes through the exact
  check of :func:`~botkit.market.book_levels.positive_quantity`, which refuses signs,
  exponents, non-finite values and anything beyond the :class:`WireLimits`) and
  becomes a ``Decimal`` only when a level is read, so money leaving the book is
  always ``Decimal``, never float.
* The scale is inferred from the prices seen; a price with more decimals rescales
  the book once, so no product configuration is needed.

The book never decides what to do about a problem: it reports (``crossed``,
``valid``) and the venue's feed session (:mod:`botkit.market.session`) resynchronises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING, Any, TypeVar

import botkit.market as core_package
from botkit.market.book_levels import (
    DEFAULT_LIMITS,
    LevelChange,
    WireLevel,
    WireLevelChange,
    WireLimits,
    positive_quantity,
)
from botkit.market.book_view import BookView, Level
from botkit.market.types import L2Update

if TYPE_CHECKING:
    from botkit.market._l2kernel import L2RawEvent, L2RawFrame

__all__ = [
    "L2Book",
    "Level",
    "LevelChange",
    "WireLevelChange",
    "WireLimits",
    "compiled_event_constructor",
    "decoder_in_use",
    "frame_parser",
    "kernel_in_use",
    "use_kernel",
]

_BID_SIDES = frozenset({"bid", "buy", "BUY"})
_MAX_DECIMALS = 18
"""Decimals a price may have (Coinbase quotes at most 8-10); more is corrupt data."""
_MAX_WHOLE_DIGITS = 18
"""Digits before the point a price may have."""
_SNAPSHOT_CACHED = 1024
"""Prices per side cached from a big snapshot (see ``L2Book.apply_snapshot_batches``)."""
_ASK_SIDES = frozenset({"offer", "ask", "sell", "SELL"})


_E = TypeVar("_E")

_KERNEL_VERSION = 7
"""The ``botkit.market._l2kernel`` behaviour this module expects (a stale build is ignored)."""
_KERNEL_CROSSED = -2
"""The kernel's ``DONE_CROSSED``: every level applied, and the book is crossed."""


def _plain(qty: object) -> str:
    """A ``Decimal`` quantity as the wire would spell it (no exponent), else ``str``."""
    return format(qty, "f") if isinstance(qty, Decimal) else str(qty)


FrameParser = Callable[[bytes | str, dict[str, Any]], "L2RawFrame | None"]
"""The kernel's ``parse_l2_frame``: a plain ``l2_data`` frame read without per-level
objects, or None (then the caller decodes it with msgspec)."""


def _load_kernel() -> Callable[[L2Book, list[WireLevelChange], int], int] | None:
    global _apply_raw, apply_raw_frame, frame_parser
    frame_parser = None
    if core_package.NO_EXTENSIONS:  # BOTKIT_NO_EXTENSIONS: never load it
        return None
    try:
        from botkit.market import _l2kernel
    except ImportError:  # not built: no C compiler, or Cython missing at install time
        return None
    if getattr(_l2kernel, "KERNEL_VERSION", None) != _KERNEL_VERSION:
        return None  # built from another version of the source: reinstall to rebuild
    _l2kernel.bind_level_type(L2Update)  # the feed's decoded levels: read by slot offset
    if "L2Book" in globals():  # at import, bound below once the class exists
        _l2kernel.bind_book_type(L2Book)
    fn: Callable[[L2Book, list[WireLevelChange], int], int] = _l2kernel.apply_levels
    _apply_raw = _l2kernel.apply_raw_event
    apply_raw_frame = _l2kernel.apply_raw_frame
    frame_parser = _l2kernel.parse_l2_frame
    return fn


_apply_raw: Callable[[L2Book, L2RawEvent], int] | None = None
"""The kernel's ``apply_raw_event`` once loaded (kept by ``use_kernel(False)``: an event
read before the switch can still be applied)."""
apply_raw_frame: Callable[[Any, L2RawFrame], list[Any]] | None = None
"""The kernel's ``apply_raw_frame`` once loaded: Advanced Trade's ``FeedProtocol._apply_l2``
for an in-sequence frame of ``frame_parser``, its common case compiled (kept by
``use_kernel(False)``, as ``_apply_raw``)."""
frame_parser: FrameParser | None = None
"""The kernel's frame decoder while the kernel is in use, else None (read per frame by
the Advanced Trade feed protocol)."""
_kernel = _load_kernel()


def use_kernel(enabled: bool = True, *, decoder: bool = True) -> bool:
    """Use the compiled level loop and frame decoder when built (default), or Python.

    For comparisons and tests. ``decoder=False`` keeps the level loop but leaves every
    frame to msgspec (the feed before the decoder existed). ``BOTKIT_NO_EXTENSIONS``
    (read by ``botkit`` at import) keeps the kernel from ever being loaded, and then
    this cannot turn it on. Returns whether the kernel is now in use.
    """
    global _kernel, frame_parser
    _kernel = _load_kernel() if enabled else None
    if _kernel is None or not decoder:
        frame_parser = None
    return _kernel is not None


def compiled_event_constructor(cls: type[_E]) -> Callable[[str, L2Book, bool, int], _E] | None:
    """The kernel's constructor of ``cls`` (``events.BookChanged``), or None.

    A feed protocol builds one ``BookChanged`` per level2 frame; the kernel's
    ``book_changed`` writes its four slots in C (~0.05 us instead of ~0.35 us through
    the slot descriptors). None when the kernel is not built, is stale, is disabled by
    ``BOTKIT_NO_EXTENSIONS``, or cannot bind ``cls`` (not a plain slots class with
    those four fields): the caller keeps ``events.book_changed`` then.
    """
    if core_package.NO_EXTENSIONS:
        return None
    try:
        from botkit.market import _l2kernel
    except ImportError:
        return None
    if getattr(_l2kernel, "KERNEL_VERSION", None) != _KERNEL_VERSION:
        return None
    if not _l2kernel.bind_event_type(cls):
        return None
    make: Callable[[str, L2Book, bool, int], _E] = _l2kernel.book_changed
    return make


def decoder_in_use() -> bool:
    """True when the Advanced Trade feed reads plain level2 frames with the kernel's decoder."""
    return frame_parser is not None


def kernel_in_use() -> bool:
    """True when :meth:`L2Book.apply_wire_updates` runs the compiled kernel."""
    return _kernel is not None


class L2Book(BookView):
    """One product's book. Not thread-safe; owned by one feed connection.

    Args:
        product_id: e.g. ``"BTC-USD"``.
        decimals: price decimals (the tick scale); inferred when None.
        cache_limit: most price strings remembered per side for ``str -> key``; a
            cache is cleared when full so memory stays bounded (~2.5 MB per side at
            the default; the prices that move are re-cached within a few updates).
        limits: what a level may carry (:class:`WireLimits`): quantities and prices
            beyond them, and prices <= 0, are refused (``ValueError``).

    Attributes:
        valid: True between a snapshot and an invalidation (gap, crossed book,
            reconnect). Strategies must not trade on an invalid book.
        invalid_reason: why the book was last invalidated ("" when valid).
        stale: set by the feed while the connection carrying this book has been silent
            for over half its ``stale_after`` (heartbeats come every second, so a
            healthy one never is); cleared within ``stale_after/8`` of frames resuming
            and by a snapshot. Still ``valid``: the data may just be old. Strategies
            that quote should treat it like an invalid book.
        updates: price-level changes applied since construction (for stats).
    """

    __slots__ = (
        "_ask_cache",
        "_ask_heap",
        "_asks",
        "_bid_cache",
        "_bid_heap",
        "_bids",
        "_cache_limit",
        "_caching",
        "_decimals",
        "_limits",
        "_price_bounds",
        "_qty_fast",
        "invalid_reason",
        "product_id",
        "stale",
        "updates",
        "valid",
    )

    def __init__(
        self,
        product_id: str,
        *,
        decimals: int | None = None,
        cache_limit: int = 16_384,
        limits: WireLimits = DEFAULT_LIMITS,
    ) -> None:
        self.product_id = product_id
        self._decimals = decimals
        self._limits = limits
        self._price_bounds = (
            min(_MAX_DECIMALS, limits.max_fraction_digits),
            len(str(limits.max_price)),
            limits.max_price,
        )
        # quantities this long or shorter pass the fast checks when plain (read by the kernel)
        self._qty_fast = limits.quantity_fast_len
        # Keys: asks by tick, bids by *negated* tick, so that both heaps are min-heaps
        # holding the very int objects that key the dicts (one int per level, not two).
        self._bid_cache: dict[str, int] = {}  # price string -> bid key (-tick)
        self._ask_cache: dict[str, int] = {}  # price string -> ask key (tick)
        self._cache_limit = cache_limit
        self._caching = True
        self._bids: dict[int, str] = {}  # -tick -> wire quantity
        self._asks: dict[int, str] = {}  # tick -> wire quantity
        self._bid_heap: list[int] = []  # bid keys: best bid at [0]; may hold stale keys
        self._ask_heap: list[int] = []  # ask keys: best ask at [0]; may hold stale keys
        self.valid = False
        self.invalid_reason = "no snapshot yet"
        self.stale = False
        self.updates = 0

    # -- mutation ---------------------------------------------------------------------------

    def apply_snapshot(self, levels: Sequence[LevelChange]) -> bool:
        """Replace the whole book with a snapshot and mark it valid; returns :attr:`crossed`.

        Its prices are cached like those of updates when the snapshot is smaller than
        the cache; a larger one is not cached (see :meth:`apply_snapshot_batches`).
        """
        return self.apply_snapshot_batches((levels,), cache=len(levels) < self._cache_limit)

    def apply_snapshot_batches(
        self, batches: Iterable[Sequence[LevelChange]], *, cache: bool = False
    ) -> bool:
        """:meth:`apply_snapshot` of the batches' levels in order, one batch alive at a time.

        For very large snapshots decoded slice by slice
        (:meth:`botkit.venues.advanced_trade.messages.L2BulkEvent.batches`). Unless ``cache``, only
        the
        first thousand prices per side (the levels nearest the top: snapshots
        list them best first) enter the price caches: a BTC-USD snapshot has tens of
        thousands of levels, most far from the top and never updated, and caching
        all their strings would keep megabytes alive for nothing; updates cache the
        prices that move. Raises like :meth:`apply_updates`; the book is then
        half-built and must be resynchronised.
        """
        self._bids.clear()
        self._asks.clear()
        self._bid_heap.clear()
        self._ask_heap.clear()
        self._caching = cache
        try:
            for batch in batches:
                self.apply_updates(batch)
        finally:
            self._caching = True
        self.valid = True
        self.invalid_reason = ""
        self.stale = False
        return self.crossed

    def apply_update_batches(self, batches: Iterable[Sequence[WireLevelChange]]) -> bool:
        """:meth:`apply_wire_updates` of each batch in order (a huge update frame's slices).

        Returns :attr:`crossed` afterwards; raises like :meth:`apply_updates`, leaving
        the batches before the failing one applied (the book must then be resynced).
        """
        for batch in batches:
            self.apply_wire_updates(batch)
        return self.crossed

    def apply_updates(self, levels: Sequence[LevelChange]) -> bool:
        """Apply absolute-quantity level changes; a zero quantity removes the level.


        Quantities are all wire strings (:class:`~botkit.market.types.L2Update`)
        or
        all ``Decimal`` (:class:`~botkit.venues.advanced_trade.messages.L2Level`).

        Returns:
            :attr:`crossed` afterwards (saves the feed a second look).

        Raises:
            ValueError: a price, side or quantity that cannot be understood (the
                caller treats the book as corrupt and resynchronises).
        """
        if levels and type(levels[0].new_quantity) is not str:  # L2Level: Decimal quantities
            return self.apply_wire_updates(  # "f": plain digits, never an exponent ("1E-8")
                [WireLevel(lv.side, lv.price_level, _plain(lv.new_quantity)) for lv in levels]
            )
        return self.apply_wire_updates(levels)  # type: ignore[arg-type]

    def apply_wire_updates(self, ups: Sequence[WireLevelChange]) -> bool:
        """:meth:`apply_updates` for wire-string quantities only: the feed's hot
        path.

        :class:`~botkit.market.types.L2Update` levels, as decoded; saves the type
        test.
        A list goes through the compiled kernel when it is built (see
        :func:`kernel_in_use`); the levels it leaves to Python (side aliases, unusual
        quantities) are applied by :meth:`_apply_levels`, one at a time, and the
        kernel ends the batch (heap tops, compaction, crossed test) as below.
        """
        kernel = _kernel
        if kernel is not None and type(ups) is list:
            try:
                i = kernel(self, ups, 0)
                while i >= 0:  # a level left to Python; the kernel then ends the batch
                    self._apply_levels((ups[i],))
                    i = kernel(self, ups, i + 1)
            except (AttributeError, TypeError, ValueError) as exc:
                self._settle()
                raise ValueError(f"bad level in {self.product_id} update: {exc}") from None
            return i == _KERNEL_CROSSED
        try:
            self._apply_levels(ups)
        except (AttributeError, TypeError, ValueError) as exc:
            self._settle()
            raise ValueError(f"bad level in {self.product_id} update: {exc}") from None
        bids, asks = self._bids, self._asks
        bheap, aheap = self._bid_heap, self._ask_heap
        done = self.updates
        self.updates = total = done + len(ups)
        # Settle: drop removed levels from the heap tops, so the best price is heap[0],
        # and rebuild a heap once its stale entries outnumber the live ones 3 to 1
        # (amortised ~20 ns per removal), looked at every 256 updates (not per batch).
        # The kernel ends its batches the same way.
        if bheap and bheap[0] not in bids:
            pop = heappop
            while bheap and bheap[0] not in bids:
                pop(bheap)
        if aheap and aheap[0] not in asks:
            pop = heappop
            while aheap and aheap[0] not in asks:
                pop(aheap)
        if (done ^ total) >> 8 and (
            len(bheap) > 4 * len(bids) + 256 or len(aheap) > 4 * len(asks) + 256
        ):
            self._settle()
        if bheap and aheap:
            return -bheap[0] >= aheap[0]
        return False

    def apply_raw_updates(self, ev: L2RawEvent) -> bool:
        """:meth:`apply_wire_updates` of an event read by the kernel's frame decoder.

        Its levels never became Python objects (see ``parse_l2_frame`` in
        ``_l2kernel.pyx``); they are applied in C with the same rules, refused with the
        same errors, and the batch ends the same way. Returns :attr:`crossed`.
        """
        apply = _apply_raw
        if apply is None:  # pragma: no cover - no such event without the kernel
            raise RuntimeError("the compiled book kernel is not loaded")
        try:
            done = apply(self, ev)
        except (AttributeError, TypeError, ValueError) as exc:
            self._settle()
            raise ValueError(f"bad level in {self.product_id} update: {exc}") from None
        return done == _KERNEL_CROSSED

    def apply_raw_snapshot(self, ev: L2RawEvent) -> bool:
        """:meth:`apply_snapshot` of an event read by the kernel's frame decoder."""
        self._bids.clear()
        self._asks.clear()
        self._bid_heap.clear()
        self._ask_heap.clear()
        self._caching = len(ev) < self._cache_limit
        try:
            self.apply_raw_updates(ev)
        finally:
            self._caching = True
        self.valid = True
        self.invalid_reason = ""
        self.stale = False
        return self.crossed

    def _apply_levels(self, ups: Iterable[WireLevelChange]) -> None:
        """The level loop in Python: the reference for the compiled kernel, and its fallback.

        Does not settle the heaps (the caller does, once per batch).
        """
        bcache, acache = self._bid_cache, self._ask_cache
        bids, asks = self._bids, self._asks
        bheap, aheap = self._bid_heap, self._ask_heap
        push = heappush
        fast, limits = self._qty_fast, self._limits
        # One loop, each side written out: this is the feed's hottest code (~0.4 us per
        # level), and every attribute load, call or branch saved here shows end to end.
        # A quantity is "0" (remove), or plainly positive: at most `fast` characters,
        # ASCII digits with at most one "." and a non-zero digit (a last digit 1-9 is
        # one; "0.", "00" is not); anything else goes through the exact check (other
        # zeros remove; signs, exponents, non-ASCII digits, out-of-bounds values raise).
        # The kernel's rule is the same.
        for lv in ups:
            side = lv.side
            qty = lv.new_quantity
            if side == "bid":
                try:
                    key = bcache[lv.price_level]
                except KeyError:  # removals are not cached: their price just left
                    key = -self._to_tick(lv.price_level, bcache if qty != "0" else None, -1)
                    bids, asks = self._bids, self._asks  # a rescale rebuilt them
                    bheap, aheap = self._bid_heap, self._ask_heap
                if qty == "0":
                    bids.pop(key, None)
                elif (
                    len(qty) <= fast
                    and qty.replace(".", "", 1).isdecimal()
                    and qty.isascii()
                    and (qty[-1] in "123456789" or qty.strip("0."))
                ) or positive_quantity(qty, limits):
                    if key not in bids:
                        push(bheap, key)
                    bids[key] = qty
                else:
                    bids.pop(key, None)
            elif side == "offer":
                try:
                    key = acache[lv.price_level]
                except KeyError:
                    key = self._to_tick(lv.price_level, acache if qty != "0" else None, 1)
                    bids, asks = self._bids, self._asks
                    bheap, aheap = self._bid_heap, self._ask_heap
                if qty == "0":
                    asks.pop(key, None)
                elif (
                    len(qty) <= fast
                    and qty.replace(".", "", 1).isdecimal()
                    and qty.isascii()
                    and (qty[-1] in "123456789" or qty.strip("0."))
                ) or positive_quantity(qty, limits):
                    if key not in asks:
                        push(aheap, key)
                    asks[key] = qty
                else:
                    asks.pop(key, None)
            else:
                self._apply_alias(side, lv.price_level, qty)
                bids, asks = self._bids, self._asks
                bheap, aheap = self._bid_heap, self._ask_heap

    def _apply_alias(self, side: str, price: str, qty: str) -> None:
        """A level whose side is not spelled ``bid``/``offer`` (e.g. ``BUY``), or junk."""
        if side in _BID_SIDES:
            key = -self._to_tick(price, self._bid_cache, -1)
            book, heap = self._bids, self._bid_heap
        elif side in _ASK_SIDES:
            key = self._to_tick(price, self._ask_cache, 1)
            book, heap = self._asks, self._ask_heap
        else:
            raise ValueError(f"unknown book side {side!r}")
        if qty == "0" or not positive_quantity(qty, self._limits):
            book.pop(key, None)
            return
        if key not in book:
            heappush(heap, key)
        book[key] = qty

    def _settle(self) -> None:
        """Drop stale heap tops and compact a heap whose stale entries outnumber live ones."""
        for live, heap in ((self._bids, self._bid_heap), (self._asks, self._ask_heap)):
            while heap and heap[0] not in live:
                heappop(heap)
            if len(heap) > 4 * len(live) + 256:
                heap[:] = list(live)
                heapify(heap)

    def invalidate(self, reason: str) -> None:
        """Mark the book unusable until the next snapshot (levels are kept for inspection)."""
        self.valid = False
        self.invalid_reason = reason

    def _to_tick(self, price: str, cache: dict[str, int] | None, sign: int) -> int:
        """Parse ``price`` to ticks; remember ``sign * tick`` in ``cache`` (one side's)."""
        if len(price) > _MAX_WHOLE_DIGITS + _MAX_DECIMALS + 1:
            raise ValueError(f"price level {price[:40]!r}... has too many digits")
        whole, _, frac = price.partition(".")
        if not whole.isdigit() or (frac and not frac.isdigit()) or not price.isascii():
            raise ValueError(f"bad price level {price[:40]!r}")
        frac = frac.rstrip("0")
        max_frac, price_digits, max_price = self._price_bounds
        # all checked before any rescale: one absurd price must not leave the book at a
        # scale no later price (nor the resync snapshot) can be converted to
        if len(frac) > max_frac or len(whole) > _MAX_WHOLE_DIGITS:
            raise ValueError(f"price level {price[:40]!r} has too many digits")
        if not frac and not whole.strip("0"):
            raise ValueError(f"price level {price[:40]!r} is not positive")
        if len(whole) >= price_digits and (
            int(whole) > max_price or (int(whole) == max_price and frac)
        ):
            raise ValueError(f"price level {price[:40]!r} is above max_price {max_price}")
        if self._decimals is None:
            self._decimals = len(frac)
        elif len(frac) > self._decimals:
            self._rescale(len(frac))
        tick = int(whole + frac.ljust(self._decimals, "0"))
        if cache is None:
            pass
        elif self._caching:
            if len(cache) >= self._cache_limit:
                cache.clear()
            cache[price] = sign * tick
        elif len(cache) < min(_SNAPSHOT_CACHED, self._cache_limit):  # big snapshot: near the top
            cache[price] = sign * tick
        return tick

    def _rescale(self, decimals: int) -> None:
        old = self._decimals or 0
        factor = 10 ** (decimals - old)
        self._decimals = decimals
        self._bid_cache.clear()
        self._ask_cache.clear()
        self._bids = {k * factor: q for k, q in self._bids.items()}
        self._asks = {k * factor: q for k, q in self._asks.items()}
        self._bid_heap = [k * factor for k in self._bid_heap]  # order survives scaling
        self._ask_heap = [k * factor for k in self._ask_heap]

    def __repr__(self) -> str:
        state = "valid" if self.valid else f"invalid: {self.invalid_reason}"
        return (
            f"L2Book({self.product_id!r}, bids={len(self._bids)}, asks={len(self._asks)}, {state})"
        )


def _bind_book_type() -> None:
    """Let the kernel read ``L2Book``'s slots by offset (it falls back to getattr)."""
    if _kernel is not None:
        from botkit.market import _l2kernel

        _l2kernel.bind_book_type(L2Book)


_bind_book_type()
