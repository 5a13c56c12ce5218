"""Core ring: the records a paper session persists (orders, fills, balances, equity).

The paper exchange produces them (:meth:`PaperExchange.take_delta`), the paper
journal stores them in SQLite, the report reads them back. Plain frozen
dataclasses with ``Decimal`` money and float epoch-second times, so the three
parts agree on one shape and none imports another's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["BalanceRecord", "EquityPoint", "FillRecord", "OrderRecord", "StateDelta"]


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order's latest state.

    ``state`` is the exchange's complete internal dump of the order (JSON-able:
    strings, numbers, None, lists, dicts), enough to restore it on resume; the
    named fields are what reports and queries need.
    """

    order_id: str
    client_order_id: str
    product_id: str
    side: str  # BUY | SELL
    order_type: str  # MARKET | LIMIT | STOP_LIMIT
    time_in_force: str  # IMMEDIATE_OR_CANCEL | GOOD_UNTIL_CANCELLED | ...
    post_only: bool
    status: str  # PENDING | OPEN | FILLED | CANCELLED | CANCEL_QUEUED | EXPIRED | FAILED
    limit_price: Decimal | None
    base_size: Decimal
    filled_size: Decimal
    filled_value: Decimal
    total_fees: Decimal
    created_time: float
    last_update_time: float
    reject_reason: str = ""
    cancel_reason: str = ""
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One fill. ``fill_id`` is unique (the exchange's entry id); ``seq`` orders fills."""

    fill_id: str
    trade_id: str
    order_id: str
    client_order_id: str
    product_id: str
    side: str  # BUY | SELL
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: str  # MAKER | TAKER
    time: float
    seq: int


@dataclass(frozen=True, slots=True)
class BalanceRecord:
    """One currency's balance after a change: ``available + hold`` is the total."""

    currency: str
    available: Decimal
    hold: Decimal
    time: float


@dataclass(frozen=True, slots=True)
class StateDelta:
    """Everything that changed since the previous delta (empty lists when nothing did)."""

    orders: list[OrderRecord] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)
    balances: list[BalanceRecord] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.orders or self.fills or self.balances)


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """The portfolio's value at ``t`` in ``quote``, and the marks (mid prices) used.

    ``marks`` maps product id -> mid price; the report draws the price line and
    the fills on it from these.
    """

    t: float
    equity: Decimal
    quote: str
    marks: dict[str, Decimal] = field(default_factory=dict)
