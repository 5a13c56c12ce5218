"""Core ring: a Bloom filter of client_order_ids — "surely not in the journal" in about 1 µs.

Why: the executor writes a new intent to an append-only log before the POST instead of
inserting it into SQLite first (docs/executor.md, "The intent log"). That is safe only for
an id the journal cannot already hold: a reused id must be checked against its row (the
same body: the same order; another body: refused) before anything is sent. A SQLite
lookup costs ~25 µs on a cold tick, about what the insert it replaces costs; this filter
answers "certainly absent" (it has no false negatives) for almost every new id, and
"maybe present" sends the intent down the SQLite path as before.

Grows by adding a filter twice as large when the newest one is full (a check asks each).
Ids are never removed from a filter (a pruned row's id only costs a false positive); the
journal builds a new one from the rows left after each retention prune
(``OrderJournal.rebuild_filter_step``), so a bot placing orders for months keeps one
filter near :data:`FALSE_POSITIVES` sized for its journal, not for every id of the run.
"""

from __future__ import annotations

__all__ = ["FALSE_POSITIVES", "CoidFilter"]

_BITS_PER_ID = 10
_MIN_CAPACITY = 4096
_MASK64 = (1 << 64) - 1
FALSE_POSITIVES = 0.012
"""The false-positive rate of a full filter: 10 bits per id, 4 probes (1 - e^-0.4)^4."""


class _Bits:
    """One fixed-size filter: ``capacity`` ids at :data:`FALSE_POSITIVES`, 4 probes."""

    __slots__ = ("bits", "capacity", "count", "mask")

    def __init__(self, capacity: int) -> None:
        size = 1 << max(3, (capacity * _BITS_PER_ID - 1).bit_length())  # bits, a power of 2
        self.bits = bytearray(size >> 3)
        self.mask = size - 1
        self.capacity = capacity
        self.count = 0


class CoidFilter:
    """The ids a journal holds, as a Bloom filter (no false negatives).

    Args:
        expected: ids about to be added (the journal's rows at open): the first filter
            is sized for twice as many, at least 4096.

    Probes come from Python's ``hash`` of the string: stable within a process, which is
    all a filter rebuilt at every start needs.
    """

    __slots__ = ("_filters",)

    def __init__(self, expected: int = 0) -> None:
        self._filters = [_Bits(max(_MIN_CAPACITY, 2 * expected))]

    def add(self, coid: str) -> None:
        f = self._filters[-1]
        if f.count >= f.capacity:
            f = _Bits(2 * f.capacity)
            self._filters.append(f)
        f.count += 1
        h = hash(coid) & _MASK64
        step = (h >> 32) | 1
        bits, mask = f.bits, f.mask
        pos = h & mask  # the 4 probes h + i*step, written out (on the tick -> order path)
        bits[pos >> 3] |= 1 << (pos & 7)
        pos = (h + step) & mask
        bits[pos >> 3] |= 1 << (pos & 7)
        pos = (h + 2 * step) & mask
        bits[pos >> 3] |= 1 << (pos & 7)
        pos = (h + 3 * step) & mask
        bits[pos >> 3] |= 1 << (pos & 7)

    def __contains__(self, coid: object) -> bool:
        """True when ``coid`` may have been added; False only when it certainly was not."""
        h = hash(coid) & _MASK64
        step = (h >> 32) | 1
        for f in self._filters:
            bits, mask = f.bits, f.mask
            for i in range(4):
                pos = (h + i * step) & mask
                if not bits[pos >> 3] & (1 << (pos & 7)):
                    break
            else:
                return True
        return False

    def __len__(self) -> int:
        """Ids added (with repeats)."""
        return sum(f.count for f in self._filters)

    @property
    def nbytes(self) -> int:
        """Memory held by the bit arrays."""
        return sum(len(f.bits) for f in self._filters)
