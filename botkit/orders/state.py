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

Finished orders do not stay forever: a bot that trades for weeks would keep millions of
them (issue 20; the journal keeps the history). An order in a terminal state is released
once it is **both** older than ``keep_seconds`` (since it finished) **and** not among the
last ``keep_finished`` finished orders: late updates within the window still land, and
memory stays bounded by ``max(keep_finished, order rate x keep_seconds)``. The ids of
released orders are remembered (a bounded number of them) so that a late update for one
is ignored instead of re-creating an entry nothing would ever finish again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from botkit.market.events import OrderUpdate

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


class OrderState(msgspec.Struct, frozen=True):
    """What botkit knows about one order.

    A frozen msgspec Struct rather than a frozen dataclass: one is built at every state
    change of every order (twice per order on the tick -> order path: tracked, then
    placed, in the strategy's context and again in the executor), and a frozen
    dataclass's ``__init__`` costs ~1.6 µs against ~0.3 µs. Fields, order, defaults,
    equality, hashing and immutability are the same.
    """

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


class Transition(msgspec.Struct, frozen=True):
    """The result of one :meth:`OrderStateMachine.apply` call (a Struct: see OrderState)."""

    client_order_id: str
    old: OrderStatus
    new: OrderStatus
    legal: bool
    source: str


class OrderStateMachine:
    """Tracks orders by ``client_order_id`` (``order_id`` is learnt on the way).

        Args:
        keep_finished: finished orders always kept (the most recent ones).
        keep_seconds: a finished order is kept at least this long after it finished,
            on the clock of the ``now`` values given to :meth:`apply` (an update
            without a time counts at the latest time seen).
        remember_released: how many released ids (client and exchange order ids)
            are remembered so that late updates for them are ignored.
        keep_illegal: how many illegal transitions :attr:`illegal` keeps (the last).
        on_release: called with each released order's last state (e.g. to drop it
            from a caller's own index).

    Raises:
        ValueError: a negative retention.
    """

    def __init__(
        self,
        *,
        keep_finished: int = 1000,
        keep_seconds: float = 300.0,
        remember_released: int = 4096,
        keep_illegal: int = 256,
        on_release: Callable[[OrderState], None] | None = None,
    ) -> None:
        if min(keep_finished, keep_seconds, remember_released, keep_illegal) < 0:
            raise ValueError("order retention limits must be >= 0")
        self.keep_finished = keep_finished
        self.keep_seconds = keep_seconds
        self.remember_released = remember_released
        self._on_release = on_release
        self._orders: dict[str, OrderState] = {}
        self._by_order_id: dict[str, str] = {}
        # finished orders, oldest first: (client_order_id, time it finished)
        self._finished: deque[tuple[str, float]] = deque()
        self._released: set[str] = set()  # ids of released orders, for late updates
        self._released_order: deque[str] = deque()  # the same, oldest first
        self._latest = 0.0  # the latest ``now`` seen: the time of updates that give none
        self.illegal: deque[Transition] = deque(maxlen=keep_illegal)

    def get(self, client_order_id: str) -> OrderState | None:
        return self._orders.get(client_order_id)

    def by_order_id(self, order_id: str) -> OrderState | None:
        coid = self._by_order_id.get(order_id)
        return None if coid is None else self._orders.get(coid)

    def __len__(self) -> int:
        return len(self._orders)

    def states(self) -> list[OrderState]:
        """Every order held (live, and finished ones not released yet)."""
        return list(self._orders.values())

    def released(self, client_order_id: str) -> bool:
        """Whether ``client_order_id`` was released lately (finished and let go)."""
        return client_order_id in self._released and client_order_id not in self._orders

    def sizes(self) -> dict[str, int]:
        """How much is held, per structure (for monitoring and the soak benchmark)."""
        return {
            "orders": len(self._orders),
            "order_ids": len(self._by_order_id),
            "finished": len(self._finished),
            "released_ids": len(self._released),
        }

    def track(self, client_order_id: str, *, product_id: str = "", side: str = "") -> OrderState:
        """Start tracking an intent as PENDING (idempotent)."""
        state = self._orders.get(client_order_id)
        if state is None:
            state = OrderState(client_order_id, product_id=product_id, side=side)
            self._orders[client_order_id] = state
        return state

    def apply_update(
        self,
        update: OrderUpdate,
        *,
        now: float,
        source: str,
        status: str | OrderStatus | None = None,
    ) -> Transition | None:
        """:meth:`apply` of a user-channel (or start-up) :class:`OrderUpdate`; ``status``
        instead of the update's own (already normalised by the caller)."""
        return self.apply(
            update.status if status is None else status,
            client_order_id=update.client_order_id,
            order_id=update.order_id,
            filled_size=update.cumulative_quantity,
            average_filled_price=update.avg_price or None,
            product_id=update.product_id,
            side=update.side,
            now=now,
            source=source,
        )

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
        Returns the transition, or None when the update was not understood or is for
        an order already released (a late update: logged, ignored).
        Illegal transitions are logged and recorded in :attr:`illegal`, never raised.
        """
        coid = client_order_id or self._by_order_id.get(order_id, "")
        if not coid:
            coid = f"order:{order_id}"
        target = normalise_status(status, filled_size)  # an OrderStatus is a str too
        if target is None:
            log.warning("order %s: unknown status %r ignored (%s)", coid, status, source)
            return None
        if now > self._latest:
            self._latest = now
        state = self._orders.get(coid)
        if state is None:
            released = self._released
            if released and (coid in released or order_id in released):
                log.debug("order %s: %s after it was released, ignored (%s)", coid, status, source)
                if len(self._finished) > self.keep_finished:  # time moved on: trim anyway
                    self._trim(now or self._latest)
                return None
            state = self.track(coid, product_id=product_id, side=side)
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
        if new_status is not state.status and new_status in TERMINAL:
            self._finished.append((coid, now or self._latest))
        if len(self._finished) > self.keep_finished:
            self._trim(now or self._latest)
        return transition

    def _trim(self, now: float) -> None:
        """Release the oldest finished orders beyond ``keep_finished`` and ``keep_seconds``."""
        finished, keep = self._finished, self.keep_finished
        limit = now - self.keep_seconds
        while len(finished) > keep and finished[0][1] <= limit:
            self._release(finished.popleft()[0])

    def _release(self, coid: str) -> None:
        state = self._orders.pop(coid, None)
        if state is None:
            return
        ids = [coid]
        oid = state.order_id
        if oid and self._by_order_id.get(oid) == coid:
            del self._by_order_id[oid]
            ids.append(oid)
        released, order, cap = self._released, self._released_order, self.remember_released
        for i in ids:
            if i not in released:
                released.add(i)
                order.append(i)
        while len(order) > cap:
            released.discard(order.popleft())
        if self._on_release is not None:
            self._on_release(state)
