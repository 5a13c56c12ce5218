"""Core ring: positions, average cost, realised/unrealised PnL and balances, from fills.

Strategies ask "how much do I hold?" and the risk engine asks "how much have I lost
today?". Both answers come from the same arithmetic over fills, so it lives here once,
pure and Decimal-exact. Average cost (not FIFO) is used because it needs O(1) state per
product and is what exchanges' own PnL displays use; the difference only matters for
tax lots, which are not botkit's business.

Fees are charged in the quote currency (Coinbase charges Advanced Trade fees in quote)
and count against realised PnL when they are paid, so a churn of break-even round trips
shows up as the loss it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Position", "Positions", "split_product"]

_ZERO = Decimal(0)


def split_product(product_id: str) -> tuple[str, str]:
    """``"BTC-USD"`` → ``("BTC", "USD")``.

    Raises:
        ValueError: not a ``BASE-QUOTE`` product id.
    """
    base, sep, quote = product_id.partition("-")
    if not sep or not base or not quote or "-" in quote:
        raise ValueError(f"product id must look like BASE-QUOTE, got {product_id!r}")
    return base, quote


@dataclass(slots=True)
class Position:
    """One product's signed position (base units) and its average entry price."""

    quantity: Decimal = _ZERO
    avg_price: Decimal = _ZERO
    realised: Decimal = _ZERO

    def unrealised(self, mark: Decimal) -> Decimal:
        """Quote-currency PnL of the open quantity if it were closed at ``mark``."""
        return (mark - self.avg_price) * self.quantity


class Positions:
    """Positions per product and balances per currency, moved only by fills.

    Args:
        balances: starting balances per currency (e.g. read once from the accounts
            endpoint); fills move them from there.
    """

    def __init__(self, balances: Mapping[str, Decimal] | None = None) -> None:
        self._positions: dict[str, Position] = {}
        self._balances: dict[str, Decimal] = dict(balances or {})

    def apply_fill(
        self, product_id: str, side: str, size: Decimal, price: Decimal, fee: Decimal = _ZERO
    ) -> Decimal:
        """Apply one fill; return the realised PnL it caused (after its fee).

        Args:
            side: ``BUY`` or ``SELL`` (our side).
            size: base quantity filled (positive).
            price: fill price.
            fee: fee paid, in quote currency.
        """
        if size <= 0:
            raise ValueError(f"fill size must be positive, got {size}")
        signed = size if side.upper() == "BUY" else -size
        pos = self._positions.setdefault(product_id, Position())
        realised = -fee
        if pos.quantity == 0 or (pos.quantity > 0) == (signed > 0):
            total = abs(pos.quantity) + size
            pos.avg_price = (pos.avg_price * abs(pos.quantity) + price * size) / total
            pos.quantity += signed
        else:
            closed = min(size, abs(pos.quantity))
            direction = 1 if pos.quantity > 0 else -1
            realised += closed * (price - pos.avg_price) * direction
            pos.quantity += signed
            if pos.quantity == 0:
                pos.avg_price = _ZERO
            elif (pos.quantity > 0) != (direction > 0):  # flipped: the rest opens at price
                pos.avg_price = price
        pos.realised += realised
        base, quote = split_product(product_id)
        self._balances[base] = self._balances.get(base, _ZERO) + signed
        self._balances[quote] = self._balances.get(quote, _ZERO) - signed * price - fee
        return realised

    def restore(self, product_id: str, position: Position) -> None:
        """Start ``product_id`` from a persisted position (a restart; see
        :mod:`botkit.orders.ledger`). Balances are not moved: they are read afresh."""
        self._positions[product_id] = Position(
            position.quantity, position.avg_price, position.realised
        )

    def get(self, product_id: str) -> Position:
        """The product's position (a zero position when never traded)."""
        return self._positions.get(product_id) or Position()

    def quantity(self, product_id: str) -> Decimal:
        """The product's signed position (zero when never traded). Read by the risk engine
        at every mark, so a product never traded makes no zero :class:`Position` here."""
        pos = self._positions.get(product_id)
        return _ZERO if pos is None else pos.quantity

    def products(self) -> list[str]:
        return list(self._positions)

    def unrealised(self, marks: Mapping[str, Decimal]) -> Decimal:
        """Total unrealised PnL at ``marks``; products without a mark count as zero."""
        return sum(
            (p.unrealised(marks[pid]) for pid, p in self._positions.items() if pid in marks),
            _ZERO,
        )

    def balances(self) -> dict[str, Decimal]:
        """A copy of the balances per currency."""
        return dict(self._balances)
