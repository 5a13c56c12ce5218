"""Adapter ring: what the order executor reports — placements, start-up and reconciliation.

Kept apart from :mod:`botkit.orders.executor` so the runtime and strategies can name these
results without the executor's machinery; :mod:`botkit.orders.executor` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from botkit.market.events import OrderUpdate
from botkit.orders.model import Order

__all__ = [
    "ExchangeOrder",
    "PlacedOrder",
    "ReconcileReport",
    "RejectedIntent",
    "StartupReport",
    "learnt_update",
    "startup_updates",
]

_TERMINAL = frozenset({"FILLED", "CANCELLED", "EXPIRED", "FAILED"})
_ZERO = Decimal(0)


def learnt_update(
    coid: str, order_id: str, product_id: str, side: str, status: str,
    filled: Decimal = _ZERO, avg: Decimal = _ZERO, *, snapshot: bool = True,
) -> OrderUpdate:  # fmt: skip
    """An order update for the strategy from what botkit learnt of an order another way
    than the user channel (start-up; an order of unknown outcome settled in a run): its
    type, leaves and fees are not known here."""
    return OrderUpdate(
        order_id=order_id,
        client_order_id=coid,
        product_id=product_id,
        side=side,
        order_type="UNKNOWN",
        status=status,
        cumulative_quantity=filled,
        leaves_quantity=_ZERO,
        avg_price=avg,
        total_fees=_ZERO,
        snapshot=snapshot,
    )


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """An intent the exchange has, and how botkit knows.

    Attributes:
        resolved_by: ``response`` (the create-order answer), ``lookup`` (found
            by client_order_id after an unknown outcome), ``journal`` (already
            placed in an earlier call or run) or ``adopted`` (found at reconciliation
            without a usable intent; only ever seen by ``OrderExecutor.on_placed``).
    """

    client_order_id: str
    order_id: str
    product_id: str
    side: str
    resolved_by: str
    attached_order_id: str = ""
    """The exit Coinbase created for the intent's ``attached_order_configuration`` (TP/SL;
    it has no client_order_id of its own); "" for none, or when ``resolved_by`` is
    ``journal`` and this run has not seen it (see ``OrderExecutor.entry_of``)."""


@dataclass(frozen=True, slots=True)
class RejectedIntent:
    """A pending intent that start-up found refused for good (journal: REJECTED or FAILED).

    Attributes:
        reason: the exchange's reason code (``INVALID_LIMIT_PRICE_POST_ONLY``...) or,
            for a refused request, the error's type and message.
    """

    client_order_id: str
    product_id: str
    side: str
    reason: str

    def to_update(self) -> OrderUpdate:
        """The REJECTED order update the strategy gets at start-up."""
        return learnt_update(self.client_order_id, "", self.product_id, self.side, "REJECTED")


@dataclass(frozen=True, slots=True)
class ExchangeOrder:
    """An order as the exchange listed it during reconciliation (money as Decimal)."""

    client_order_id: str
    order_id: str
    product_id: str
    side: str
    status: str
    filled_size: Decimal
    average_filled_price: Decimal
    created_time: str
    originating_order_id: str = ""
    """For an exit created from an entry's ``attached_order_configuration``: the entry."""

    @property
    def open(self) -> bool:
        """Still working at the exchange (not FILLED/CANCELLED/EXPIRED/FAILED)."""
        return self.status not in _TERMINAL

    def to_update(self) -> OrderUpdate:
        """This order as the order update the strategy gets at start-up."""
        return learnt_update(
            self.client_order_id, self.order_id, self.product_id, self.side, self.status,
            self.filled_size, self.average_filled_price,
        )  # fmt: skip

    @classmethod
    def of(cls, order: Order) -> ExchangeOrder:
        return cls(
            order.client_order_id,
            order.order_id,
            order.product_id,
            order.side,
            order.status,
            order.filled_size,
            order.average_filled_price,
            order.created_time,
            order.originating_order_id,
        )


@dataclass(slots=True)
class StartupReport:
    """What the last :meth:`OrderExecutor.start` (and :meth:`~OrderExecutor.reconcile`) did.

    Attributes:
        placed: pending intents the exchange has (by lookup or re-POST).
        rejected: pending intents refused for good; the runtime tells the strategy.
        adopted: exchange orders with botkit's id format and no usable intent row,
            now PLACED in the journal (filled in by :meth:`OrderExecutor.reconcile`).
        unknown: ids still PENDING (start-up then raised :class:`OrderOutcomeUnknown`).
    """

    placed: list[PlacedOrder] = field(default_factory=list)
    rejected: list[RejectedIntent] = field(default_factory=list)
    adopted: list[ExchangeOrder] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """The exchange's view of botkit's orders at start-up.

    Attributes:
        adopted: orders now PLACED in the journal that it did not have (no row, or a
            row that ended REJECTED/FAILED or stayed PENDING).
        open_orders: botkit's orders still working at the exchange (adopted or not),
            with their filled size; their states are in the executor's state machine.
        foreign_open: open orders of the products whose id is not botkit's (left alone).
        complete: False when a listing stopped at the page cap (a WARNING says so).
        attached_exits: exits Coinbase created from botkit entries'
            ``attached_order_configuration`` (empty client_order_id, ``originating_order_id``
            the entry), open or recent: tracked by order id (``OrderExecutor.entry_of``),
            neither adopted nor foreign, and not in ``open_orders`` (they have no client id
            a strategy could own).
        listed: every order with botkit's client id the listings returned, open or
            finished (the runtime reads back fills its positions have not counted).
    """

    adopted: list[ExchangeOrder]
    open_orders: list[ExchangeOrder]
    foreign_open: int = 0
    complete: bool = True
    attached_exits: list[ExchangeOrder] = field(default_factory=list)
    listed: list[ExchangeOrder] = field(default_factory=list)


def startup_updates(startup: StartupReport, recon: ReconcileReport) -> list[OrderUpdate]:
    """What the strategy learns before it starts, one update per order: pending intents the
    exchange refused at the re-send (REJECTED), then orders adopted from the exchange and
    botkit's orders still open there (their status and filled size)."""
    updates = [r.to_update() for r in startup.rejected]
    # only orders with a client id: the runtime makes each update's id the strategy's own
    orders = {
        o.client_order_id: o for o in [*recon.adopted, *recon.open_orders] if o.client_order_id
    }
    return updates + [o.to_update() for o in orders.values()]
