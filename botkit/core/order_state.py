"""Core ring: the order lifecycle as a state machine, fed by REST now and the user channel later.

Coinbase reports an order's ``status`` (reference §2.7: ``PENDING, OPEN,
FILLED, CANCELLED, EXPIRED, FAILED, QUEUED, CANCEL_QUEUED, EDIT_QUEUED,
UNKNOWN_ORDER_STATUS``) plus a *cumulative* ``filled_size``. botkit adds
``PARTIALLY_FILLED`` (an ``OPEN`` order with a fill) and ``REJECTED`` (a
create-order answered ``success: false``), because strategies care.

Updates arrive from two sources, out of order: REST answers and the ``user``
WebSocket channel (§3.5). So :meth:`OrderStateMachine.apply` never raises: an
update that would move an order backwards (``OPEN`` after ``FILLED``, a
smaller ``filled_size``) is ignored and reported as illegal, so a late message
cannot resurrect a finished order. Fill progress is still taken from any
update whose cumulative size is larger.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "OrderState",
    "OrderStateMachine",
    "OrderStatus",
    "Transition",
    "normalise_status",
]

log = logging.getLogger("botkit.orders")


class OrderStatus(StrEnum):
    """botkit's order states."""

    PENDING = "PENDING"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCEL_QUEUED = "CANCEL_QUEUED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"


S = OrderStatus
TERMINAL = frozenset({S.FILLED, S.CANCELLED, S.EXPIRED, S.FAILED, S.REJECTED})
_LIVE = (S.OPEN, S.PARTIALLY_FILLED, S.CANCEL_QUEUED)
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING: frozenset({*_LIVE, *TERMINAL}),
    S.OPEN: frozenset({S.PARTIALLY_FILLED, S.CANCEL_QUEUED} | (TERMINAL - {S.REJECTED})),
    S.PARTIALLY_FILLED: frozenset({S.CANCEL_QUEUED} | (TERMINAL - {S.REJECTED})),
    # a CANCEL_QUEUED order can still fill (§2.6), and a cancel can fail back to OPEN (assumed)
    S.CANCEL_QUEUED: frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    **{t: frozenset() for t in TERMINAL},
}
_WIRE = {
    "QUEUED": S.PENDING,
    "EDIT_QUEUED": S.OPEN,  # an edit in flight leaves the order live
    "UNKNOWN_ORDER_STATUS": None,
}
_BY_NAME: dict[str, OrderStatus | None] = {**{s.value: s for s in OrderStatus}, **_WIRE}


def normalise_status(status: str, filled_size: Decimal | None) -> OrderStatus | None:
    """Map a Coinbase status (+ cumulative fill) to an :class:`OrderStatus`; None if unknown."""
    mapped = _BY_NAME.get(status) or _BY_NAME.get(status.upper())  # exact case first: cheap
    if mapped is None:
        return None
    if mapped is S.OPEN and filled_size is not None and filled_size > 0:
        return S.PARTIALLY_FILLED
    return mapped


@dataclass(frozen=True, slots=True)
class OrderState:
    """What botkit knows about one order."""

    client_order_id: str
    order_id: str = ""
    product_id: str = ""
    side: str = ""
    status: OrderStatus = S.PENDING
    filled_size: Decimal = Decimal(0)
    average_filled_price: Decimal | None = None
    updated_at: float = 0.0

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True, slots=True)
class Transition:
    """The result of one :meth:`OrderStateMachine.apply` call."""

    client_order_id: str
    old: OrderStatus
    new: OrderStatus
    legal: bool
    source: str


class OrderStateMachine:
    """Tracks orders by ``client_order_id`` (``order_id`` is learnt on the way)."""

    def __init__(self) -> None:
        self._orders: dict[str, OrderState] = {}
        self._by_order_id: dict[str, str] = {}
        self.illegal: list[Transition] = []

    def get(self, client_order_id: str) -> OrderState | None:
        return self._orders.get(client_order_id)

    def by_order_id(self, order_id: str) -> OrderState | None:
        coid = self._by_order_id.get(order_id)
        return None if coid is None else self._orders.get(coid)

    def __len__(self) -> int:
        return len(self._orders)

    def track(self, client_order_id: str, *, product_id: str = "", side: str = "") -> OrderState:
        """Start tracking an intent as PENDING (idempotent)."""
        state = self._orders.get(client_order_id)
        if state is None:
            state = OrderState(client_order_id, product_id=product_id, side=side)
            self._orders[client_order_id] = state
        return state

    def apply(
        self,
        status: str | OrderStatus,
        *,
        client_order_id: str = "",
        order_id: str = "",
        filled_size: Decimal | None = None,
        average_filled_price: Decimal | None = None,
        product_id: str = "",
        side: str = "",
        now: float = 0.0,
        source: str = "rest",
    ) -> Transition | None:
        """Feed one status update (REST answer or user-channel order message).

        Identify the order by ``client_order_id`` or ``order_id`` (either is
        enough once both are known). Unknown orders are tracked from here on.
        Returns the transition, or None when the update was not understood.
        Illegal transitions are logged and recorded in :attr:`illegal`, never raised.
        """
        coid = client_order_id or self._by_order_id.get(order_id, "")
        if not coid:
            coid = f"order:{order_id}"
        target = normalise_status(status, filled_size)  # an OrderStatus is a str too
        if target is None:
            log.warning("order %s: unknown status %r ignored (%s)", coid, status, source)
            return None
        state = self._orders.get(coid) or self.track(coid, product_id=product_id, side=side)
        if order_id:
            self._by_order_id[order_id] = coid
        filled = state.filled_size
        if filled_size is not None and filled_size > filled:
            filled = filled_size
        elif filled_size is not None and filled_size < filled:
            log.warning(
                "order %s: filled_size went back from %s to %s (%s); kept %s",
                coid, filled, filled_size, source, filled,
            )  # fmt: skip
        legal = target == state.status or target in TRANSITIONS[state.status]
        new_status = target if legal else state.status
        if not legal and target is S.PENDING:
            # A late PENDING (the user channel's first word on an order arriving after the
            # REST answer already moved it on) is stale news, not a broken exchange.
            log.debug("order %s: stale PENDING after %s from %s", coid, state.status, source)
        elif not legal:
            log.warning(
                "order %s: illegal transition %s -> %s from %s ignored",
                coid, state.status, target, source,
            )  # fmt: skip
        if new_status is S.OPEN and filled > 0:
            new_status = S.PARTIALLY_FILLED
        # built directly, not with dataclasses.replace (3x slower; this runs for every order)
        self._orders[coid] = OrderState(
            coid,
            order_id or state.order_id,
            product_id or state.product_id,
            side or state.side,
            new_status,
            filled,
            average_filled_price or state.average_filled_price,
            now or state.updated_at,
        )
        transition = Transition(coid, state.status, target, legal, source)
        if not legal and target is not S.PENDING:
            self.illegal.append(transition)
        return transition
