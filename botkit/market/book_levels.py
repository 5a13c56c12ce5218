"""Core ring: what the order book takes as a level update, the bounds, and the exact check.

One responsibility: the contract between a decoder and the book, used by both sides (a
venue's decoder checks frames against :class:`WireLimits` without importing the book; the
book re-exports the protocols): the shapes a level may come in (the feed's wire-string
``L2Update``, the exact ``L2Level`` with a ``Decimal``, or the book's own tuple), the
:class:`WireLimits` that say what a sane frame may carry, and the one exact check that
decides, for any quantity the fast paths do not recognise, whether it is zero, positive,
or refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple, Protocol

__all__ = [
    "DEFAULT_LIMITS",
    "LevelChange",
    "WireLevel",
    "WireLevelChange",
    "WireLimits",
    "positive_quantity",
]


@dataclass(frozen=True, slots=True)
class WireLimits:
    """What a frame may carry; anything beyond is refused as malformed (never applied).

    Coinbase sends plain decimal strings: no sign, no exponent, no ``NaN``/``inf``, at
    most 8-10 fraction digits, and no asset has a level or a price anywhere near these
    bounds. A value beyond them is corrupt data or an attack (a 400-digit quantity costs
    the book and every reader of it), so it is refused and the book resynchronised.

    Attributes:
        max_quantity: largest quantity (level size, trade size, volume) accepted.
        max_price: largest price accepted; prices must also be > 0.
        max_fraction_digits: most digits after the point in a price or quantity.
        max_sequence_jump: how far ahead of the last ``sequence_num`` (or of 0, for a
            connection's first frame) a frame may be. Further is a protocol fault:
            the connection is replaced (a jump that size would otherwise make every
            later frame, the resync snapshot included, look like a duplicate).
    """

    max_quantity: int = 10**18
    max_price: int = 10**15
    max_fraction_digits: int = 18
    max_sequence_jump: int = 10**6

    def __post_init__(self) -> None:
        if min(self.max_quantity, self.max_price, self.max_fraction_digits) < 1:
            raise ValueError("WireLimits: every bound must be >= 1")
        if self.max_sequence_jump < 1:
            raise ValueError("WireLimits: max_sequence_jump must be >= 1")

    @property
    def quantity_fast_len(self) -> int:
        """Longest plain quantity string that is within every bound whatever its digits.

        An ``n``-character string of digits and one point is below ``10**n`` and has at
        most ``n - 1`` fraction digits; the book's fast checks (Python and the kernel)
        accept such strings without an exact check when ``n`` is at most this.
        """
        return min(len(str(self.max_quantity)) - 1, self.max_fraction_digits + 1)

    @property
    def price_fast_len(self) -> int:
        """:attr:`quantity_fast_len` for prices (bounded by ``max_price`` instead).

        Used by the ``market_trades`` value check to accept a plain, positive price
        string this short without an exact check (see ``messages.check_values``).
        """
        return min(len(str(self.max_price)) - 1, self.max_fraction_digits + 1)

    @property
    def quantity_max_len(self) -> int:
        """Longest quantity string the exact check looks at (longer: refused unread)."""
        return len(str(self.max_quantity)) + self.max_fraction_digits + 1


DEFAULT_LIMITS = WireLimits()


class LevelChange(Protocol):
    """What the book reads from a level update (``L2Level`` or ``L2Update``)."""

    @property
    def side(self) -> str: ...

    @property
    def price_level(self) -> str: ...

    @property
    def new_quantity(self) -> Decimal | str: ...


class WireLevelChange(Protocol):
    """A level update whose quantity is the wire string (``L2Update``)."""

    @property
    def side(self) -> str: ...

    @property
    def price_level(self) -> str: ...

    @property
    def new_quantity(self) -> str: ...


class WireLevel(NamedTuple):
    """A level with a wire-string quantity, built by the book from ``Decimal`` ones."""

    side: str
    price_level: str
    new_quantity: str


_PLAIN = re.compile(r"([0-9]*)\.?([0-9]*)")
"""A plain decimal: ASCII digits and at most one point (no sign, exponent or space)."""


def positive_quantity(qty: str, limits: WireLimits = DEFAULT_LIMITS) -> bool:
    """Exact check of a quantity the fast paths left: False for zero, True for positive.

    Raises:
        ValueError: not a plain decimal string (a sign, an exponent, ``NaN``, ``inf``,
            a space, a non-ASCII digit), more fraction digits than
            ``limits.max_fraction_digits``, or more than ``limits.max_quantity``.
    """
    if len(qty) > limits.quantity_max_len:
        raise ValueError(f"quantity {qty[:24]!r}... has {len(qty)} characters")
    match = _PLAIN.fullmatch(qty)
    if match is None or not (match[1] or match[2]):
        raise ValueError(f"bad quantity {qty[:40]!r}")
    whole, frac = match[1].lstrip("0"), match[2]
    if len(frac) > limits.max_fraction_digits:
        raise ValueError(f"quantity {qty[:40]!r} has too many fraction digits")
    if not whole and not frac.strip("0"):
        return False  # a zero ("0.0", "00", ".0"): removes the level
    if len(whole) >= len(str(limits.max_quantity)) and Decimal(qty) > limits.max_quantity:
        raise ValueError(f"quantity {qty[:40]!r} is above max_quantity {limits.max_quantity}")
    return True
