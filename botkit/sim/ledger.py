"""Per-user balances: available funds and holds, with fee helpers.

Coinbase reports ``available_balance`` *excluding* ``hold`` (§2.9), and every
open order reserves funds until it is done. The simulator mirrors that exactly:
placing an order moves funds from available to hold, a fill consumes hold and
credits the other currency, and a terminal order releases whatever hold is
left. Keeping all of that in one small class makes the invariant
"hold == sum of open orders' outstanding holds" checkable in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

__all__ = ["FEE_QUANTUM", "Balance", "InsufficientFunds", "Ledger", "fee_for"]

_ZERO = Decimal(0)
#: Fees are truncated to this many quote units. Truncation (never rounding up)
#: guarantees a fill can never consume more than the order's reserved hold.
FEE_QUANTUM = Decimal("0.00000001")


def fee_for(notional: Decimal, rate: Decimal) -> Decimal:
    """Commission on ``notional`` at ``rate``, truncated to :data:`FEE_QUANTUM`."""
    return (notional * rate).quantize(FEE_QUANTUM, rounding=ROUND_DOWN)


class InsufficientFunds(Exception):
    """A hold or debit would take ``available`` below zero."""


@dataclass(slots=True)
class Balance:
    """One user's funds in one currency. ``uuid`` is the Coinbase account uuid."""

    uuid: str
    currency: str
    available: Decimal = _ZERO
    hold: Decimal = _ZERO
    created_at: float = 0.0
    updated_at: float = 0.0


class Ledger:
    """All users' balances. Pure bookkeeping; it knows nothing about orders."""

    def __init__(self) -> None:
        self._balances: dict[str, dict[str, Balance]] = {}
        self._by_uuid: dict[str, Balance] = {}
        self.version = 0  # bumped by every change: lets a reader skip an unchanged ledger

    def has_user(self, user_id: str) -> bool:
        """Whether accounts exist for ``user_id``."""
        return user_id in self._balances

    def open_account(
        self, user_id: str, currency: str, uuid: str, amount: Decimal, now: float
    ) -> None:
        """Create a funded account (no-op if it already exists)."""
        accounts = self._balances.setdefault(user_id, {})
        if currency in accounts:
            return
        bal = Balance(uuid, currency, amount, _ZERO, now, now)
        accounts[currency] = bal
        self._by_uuid[uuid] = bal
        self.version += 1

    def users(self) -> list[str]:
        """User ids in creation order."""
        return list(self._balances)

    def balances(self, user_id: str) -> list[Balance]:
        """A user's accounts in creation order (empty if unknown)."""
        return list(self._balances.get(user_id, {}).values())

    def by_uuid(self, user_id: str, uuid: str) -> Balance | None:
        """The account with ``uuid`` if it belongs to ``user_id``."""
        bal = self._by_uuid.get(uuid)
        if bal is None or self._balances.get(user_id, {}).get(bal.currency) is not bal:
            return None
        return bal

    def get(self, user_id: str, currency: str) -> Balance:
        """The live balance record; raises ``KeyError`` if absent."""
        return self._balances[user_id][currency]

    def available(self, user_id: str, currency: str) -> Decimal:
        """Spendable amount (zero for unknown users/currencies)."""
        bal = self._balances.get(user_id, {}).get(currency)
        return _ZERO if bal is None else bal.available

    def place_hold(self, user_id: str, currency: str, amount: Decimal, now: float) -> None:
        """Reserve ``amount``; raises :class:`InsufficientFunds` and changes nothing if short."""
        bal = self._balances.get(user_id, {}).get(currency)
        if bal is None or bal.available < amount:
            raise InsufficientFunds(currency)
        bal.available -= amount
        bal.hold += amount
        bal.updated_at = now
        self.version += 1

    def release_hold(self, user_id: str, currency: str, amount: Decimal, now: float) -> None:
        """Return ``amount`` of hold to available (order cancelled, expired, done)."""
        if not amount:
            return
        bal = self._balances[user_id][currency]
        bal.hold -= amount
        bal.available += amount
        bal.updated_at = now
        self.version += 1

    def consume_hold(self, user_id: str, currency: str, amount: Decimal, now: float) -> None:
        """Spend ``amount`` out of hold (a fill paying from its order's reservation)."""
        bal = self._balances[user_id][currency]
        bal.hold -= amount
        bal.updated_at = now
        self.version += 1

    def set_balance(
        self, user_id: str, currency: str, available: Decimal, hold: Decimal, now: float
    ) -> None:
        """Overwrite one existing account's funds (restoring a journaled paper session).

        Raises:
            KeyError: the account does not exist (open it first).
        """
        bal = self._balances[user_id][currency]
        bal.available = available
        bal.hold = hold
        bal.updated_at = now
        self.version += 1

    def credit(self, user_id: str, currency: str, amount: Decimal, now: float) -> None:
        """Add ``amount`` to available (fill proceeds)."""
        bal = self._balances[user_id][currency]
        bal.available += amount
        bal.updated_at = now
        self.version += 1
