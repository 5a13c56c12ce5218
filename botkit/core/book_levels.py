"""Core ring: what the order book takes as a level update, and the exact quantity check.

Split from :mod:`botkit.core.book` (which re-exports the protocols): the shapes a level
may come in (the feed's wire-string ``L2Update``, the exact ``L2Level`` with a
``Decimal``, or the book's own tuple) and the one ``Decimal`` check that decides, for
any quantity the fast paths do not recognise, whether it is zero, positive, or junk.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import NamedTuple, Protocol

__all__ = ["LevelChange", "WireLevel", "WireLevelChange", "positive_quantity"]


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


def positive_quantity(qty: str) -> bool:
    """Exact check of a quantity that is not plainly positive: False for zero, else raise."""
    try:
        d = Decimal(qty)
    except InvalidOperation:
        raise ValueError(f"bad quantity {qty!r}") from None
    if d.is_finite() and not d.is_signed():
        return not d.is_zero()
    if d.is_zero():  # -0
        return False
    raise ValueError(f"negative or non-finite quantity {qty!r}")
