"""Core ring: turn the ``user`` channel's cumulative order states into order updates and fills.

Coinbase's ``user`` channel reports each order's *cumulative* state (filled quantity,
average price, fees), never individual fills, and replays it after every reconnect
(reference §3.5, anchors §5.11). So a fill is synthesised from the delta against a
**high-water mark** (HWM) per order::

    size  = qty_now - qty_prev
    price = (value_now - value_prev) / size      value = filled_value, else avg_price * qty
    fee   = fees_now - fees_prev

An update at or below the HWM produces no fill, which makes replays harmless. HWMs go
through an injected :class:`HwmStore`; a restarted bot starts it from the marks its
positions counted (:mod:`botkit.orders.ledger`), so dedup survives restarts. After a
reconnect the feed asks REST for the fills of the orders that were open
(:meth:`FillTracker.open_order_ids`) and feeds them to
:meth:`FillTracker.reconcile_rest_fills`, which applies the same HWM rule: fills that
happened while disconnected are reported exactly once, whichever path sees them first.

**Quote-sized orders** ("buy $100 of BTC", ``quote_size``): Coinbase reports each REST
fill with ``size_in_quote: true`` and ``size`` in the *quote* currency (the fill's
notional, before fees), so the base quantity is ``size / price``
(:func:`rest_fill_amounts`; ccxt's ``parse_trade`` does the same). Positions are in
base, so a fill read as base would book ~65 000x too much BTC. The ``user`` channel's
``cumulative_quantity`` is read as base (as ccxt pro and Hummingbot read it, and as
REST's ``filled_size`` is); should an update contradict itself (a quantity far from
``filled_value / avg_price`` but equal to the quote spent), the base implied by
value and average price is booked instead, with a warning (:func:`ws_base_quantity`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol

from botkit.market.events import FillEvent, OrderUpdate, UserSnapshotDone
from botkit.orders.model import UserEvent, UserOrder

__all__ = [
    "TERMINAL_STATUSES",
    "FillTracker",
    "HwmStore",
    "MemoryHwmStore",
    "OrderHwm",
    "fill_base_size",
    "rest_fill_amounts",
    "to_decimal",
    "ws_base_quantity",
]

TERMINAL_STATUSES = frozenset({"FILLED", "CANCELLED", "EXPIRED", "FAILED"})
_ZERO = Decimal(0)
_QUOTE_TOLERANCE = Decimal("0.001")
"""How close (relative) a ``user`` quantity must be to the quote spent to be read as quote."""
_BASE_TOLERANCE = Decimal("0.01")
"""How far (relative) from ``filled_value / avg_price`` a quantity must be to be suspect."""

log = logging.getLogger(__name__)


def to_decimal(text: str | None) -> Decimal:
    """Parse a Coinbase decimal string; ``""``/missing (unset fields) is zero."""
    if not text:
        return _ZERO
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a decimal: {text!r}") from None


def _field(row: Any, name: str) -> Any:
    """``row[name]`` for a JSON fill, ``row.name`` for a decoded one (botkit's ``Fill``)."""
    if isinstance(row, Mapping):
        return row.get(name)
    return getattr(row, name, None)


def _dec(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    return to_decimal(None if value is None else str(value))


def _flag(value: Any) -> bool:
    """``size_in_quote`` as sent (a JSON bool), tolerating the string forms ``"true"``."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def fill_base_size(size: Decimal, price: Decimal, size_in_quote: bool) -> Decimal:
    """The base quantity of one §2.8 fill: ``size``, or ``size / price`` when in quote.

    Raises:
        ValueError: a quote-sized fill without a positive price (its base is unknowable).
    """
    if not size_in_quote:
        return size
    if price <= 0:
        raise ValueError(
            f"a size_in_quote fill needs a positive price to convert size {size} to base; "
            f"got price {price}: read the fill again or book it from the order's filled_size"
        )
    return size / price


def rest_fill_amounts(row: Mapping[str, Any] | Any) -> tuple[Decimal, Decimal, Decimal]:
    """``(base quantity, quote notional, commission)`` of one §2.8 REST fill.

    ``row`` is the JSON object (a mapping) or botkit's decoded ``Fill``. For a fill with
    ``size_in_quote: true`` (an order placed with ``quote_size``) ``size`` is the quote
    notional and the base is ``size / price``; otherwise ``size`` is base and the
    notional is ``price * size``. The commission is in quote either way.
    """
    price = _dec(_field(row, "price"))
    size = _dec(_field(row, "size"))
    fee = _dec(_field(row, "commission"))
    if _flag(_field(row, "size_in_quote")):
        return fill_base_size(size, price, True), size, fee
    return size, price * size, fee


def ws_base_quantity(qty: Decimal, avg: Decimal, value: Decimal, fees: Decimal) -> Decimal:
    """The base quantity of a ``user``-channel update whose ``cumulative_quantity`` is ``qty``.

    ``qty`` is base, as Coinbase documents ``filled_size`` and as every independent
    client reads ``cumulative_quantity``. Whether Coinbase could send it in quote for a
    quote-sized order is not documented (the reference only says ``leaves_quantity`` is
    in the order's sizing currency), so a self-contradicting update is caught: when
    ``qty`` is more than 1 % away from ``value / avg`` (the base that the order's own
    notional and average price imply) but within 0.1 % of the quote spent (``value`` or
    ``value + fees``), it is quote, and ``value / avg`` is the base. Any other update is
    taken as sent.
    """
    if qty <= 0 or avg <= 0 or value <= 0:
        return qty
    implied = value / avg
    if abs(qty - implied) <= implied * _BASE_TOLERANCE:
        return qty
    for spent in (value, value + fees):
        if abs(qty - spent) <= spent * _QUOTE_TOLERANCE:
            return implied
    return qty


def _plain(q: Decimal) -> str:
    return format(q.normalize(), "f") if q else "0"


_ONE = Decimal(1)


def _unscaled(q: Decimal) -> Decimal:
    """``q`` with no positive exponent, the same value: a price divided out of Exchange's
    normalised ``executed_value`` ("65" / "0.001") read ``6.5E+4`` in a strategy's
    ``str(fill.price)`` (a QA pass)."""
    if not q.is_finite() or q.as_tuple().exponent <= 0:  # type: ignore[operator]
        return q
    return q.quantize(_ONE) if q.adjusted() < 28 else q  # beyond the context: as it came


@dataclass(frozen=True, slots=True)
class OrderHwm:
    """What has already been reported for one order.

    Attributes:
        value: cumulative filled value in quote currency (``filled_value``).
    """

    order_id: str
    client_order_id: str
    product_id: str
    side: str
    status: str
    cumulative_quantity: Decimal
    value: Decimal
    total_fees: Decimal

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class HwmStore(Protocol):
    """Persistence for high-water marks (an adapter does the I/O)."""

    def load(self) -> dict[str, OrderHwm]:
        """Every stored HWM, by order id."""
        ...

    def save(self, hwm: OrderHwm) -> None:
        """Insert or replace one order's HWM durably."""
        ...

    def forget(self, order_id: str) -> None:
        """Drop a finished order's HWM (the tracker released it)."""
        ...


class MemoryHwmStore:
    """An in-memory :class:`HwmStore`: dedup within one process only.

    Args:
        rows: marks to start from — a restarted bot's counted marks
            (:meth:`botkit.orders.ledger.FillLedger.seed`), so replays of fills its
            positions already include are not reported again.
    """

    def __init__(self, rows: Mapping[str, OrderHwm] | None = None) -> None:
        self.rows: dict[str, OrderHwm] = dict(rows or {})

    def load(self) -> dict[str, OrderHwm]:
        return dict(self.rows)

    def save(self, hwm: OrderHwm) -> None:
        self.rows[hwm.order_id] = hwm

    def forget(self, order_id: str) -> None:
        self.rows.pop(order_id, None)


Out = OrderUpdate | FillEvent | UserSnapshotDone


class FillTracker:
    """Cumulative ``user`` updates in; deduplicated order updates and fills out.

    Args:
        store: where HWMs persist; in memory when None.
        snapshot_batch: orders per ``user`` snapshot message (50 on Coinbase): the
            first snapshot event with fewer ends the snapshot.
        keep_finished: finished orders whose HWM is kept (the most recent); older ones
            are released, so a bot trading for weeks holds a bounded number (~600 B each).
        remember_released: released order ids remembered, so that a late replay of one
            is ignored rather than reported again from zero (a duplicate fill).

    The defaults match :class:`~botkit.orders.state.OrderStateMachine`'s (1 000 kept,
    4 096 ids remembered). A replay of a finished order can only be an update still in
    flight (the ``user`` snapshot lists open orders only, and the REST backfill asks
    about :meth:`open_order_ids` only), so thousands of newer finished orders are a wide
    margin; the earlier 2 000 / 20 000 took ~3 hours of a busy market maker (134 orders
    a minute) to reach their bound, ~1 MB/hour of apparent growth in the soak before.
    """

    def __init__(
        self,
        store: HwmStore | None = None,
        *,
        snapshot_batch: int = 50,
        keep_finished: int = 1000,
        remember_released: int = 4096,
    ) -> None:
        self.store: HwmStore = store if store is not None else MemoryHwmStore()
        self.snapshot_batch = snapshot_batch
        self.hwms: dict[str, OrderHwm] = self.store.load()
        self._snapshot_count = 0
        self._listing: list[OrderUpdate] = []  # the snapshot under way, as listed
        self._listing_void = False  # a message was lost while it was under way
        self.keep_finished = keep_finished
        self._finished: deque[str] = deque(oid for oid, h in self.hwms.items() if h.terminal)
        self._released: deque[str] = deque(maxlen=remember_released)
        self._released_set: set[str] = set()
        self.ignored_released = 0
        """Updates ignored because their order was released (late replays)."""
        self._release_old()

    def _release_old(self) -> None:
        finished, hwms = self._finished, self.hwms
        while len(finished) > self.keep_finished:
            oid = finished.popleft()
            hwm = hwms.get(oid)
            if hwm is None or not hwm.terminal:
                continue
            del hwms[oid]
            self.store.forget(oid)
            if len(self._released) == self._released.maxlen:
                self._released_set.discard(self._released[0])
            self._released.append(oid)
            self._released_set.add(oid)

    def expect(
        self,
        order_id: str,
        client_order_id: str,
        product_id: str,
        side: str,
        status: str,
        counted: OrderHwm | None = None,
    ) -> None:
        """Know an order the exchange listed at start-up, before its fills are read back.

        A restarted bot's marks say what its positions counted; an order that filled while
        it was down may have a mark the tracker was not seeded with (``counted``: it then
        starts from it, never from zero), none (nothing of it was counted) or a stale
        status. With the order known here, :meth:`reconcile_rest_fills` attributes its REST
        fills to ``client_order_id`` (REST fills carry none) and reports only the part
        above the mark; a final ``status`` stops later backfills asking about it.
        """
        prev = self.hwms.get(order_id)
        if prev is None:
            if order_id in self._released_set:
                return
            if counted is not None:
                cur = replace(counted, client_order_id=client_order_id, status=status)
            else:
                cur = OrderHwm(
                    order_id, client_order_id, product_id, side, status, _ZERO, _ZERO, _ZERO
                )
        elif status in TERMINAL_STATUSES and not prev.terminal:
            cur = replace(prev, status=status)
        else:
            return
        self.hwms[order_id] = cur
        self.store.save(cur)
        if cur.terminal:
            self._finished.append(order_id)  # released with the next finished order

    def open_order_ids(self) -> list[str]:
        """Orders not known to be terminal: those whose fills a REST backfill must check."""
        return sorted(oid for oid, h in self.hwms.items() if not h.terminal)

    def snapshot_restarts(self) -> None:
        """A new ``user`` connection: a snapshot cut short on the old one is forgotten (the
        feed calls this before the new connection's first frame). Its batches must neither
        count towards the new snapshot's ``open_orders`` nor stand in its ``listed``: an
        order they listed may have ended since, and the read-back would trust it open."""
        self._snapshot_count = 0
        self._listing = []
        self._listing_void = False

    def gap(self) -> None:
        """A ``user`` message was lost (a sequence gap): a snapshot under way lists nothing
        (``listed == ()`` at its end). Why: an update lost between two of its batches may
        have ended an order an earlier batch listed open, and the read-back would trust the
        listing. A gap with no snapshot under way changes nothing here (the read-back's
        listing is voided by the gap itself)."""
        if self._snapshot_count:
            self._listing_void = True

    def on_user_event(self, event: UserEvent, connection: str = "user") -> list[Out]:
        """Process one ``user`` event (snapshot batch or update).

        A snapshot's end (:class:`UserSnapshotDone`) carries ``listed``: each order its
        batches listed, as listed (the venue's status and cumulative quantity, in base),
        news or not; the read-back after it asks REST only about what that leaves open.
        """
        out: list[Out] = []
        snapshot = event.type == "snapshot"
        for order in event.orders:
            out.extend(self._on_order(order, snapshot))
        if snapshot:
            self._snapshot_count += len(event.orders)
            if len(event.orders) < self.snapshot_batch:
                listed = () if self._listing_void else tuple(self._listing)
                self._listing, self._listing_void = [], False
                out.append(UserSnapshotDone(connection, self._snapshot_count, listed))
                self._snapshot_count = 0
        return out

    def _on_order(self, o: UserOrder, snapshot: bool) -> list[Out]:
        qty = to_decimal(o.cumulative_quantity)
        avg = to_decimal(o.avg_price)
        value = to_decimal(o.filled_value) if o.filled_value else avg * qty
        fees = to_decimal(o.total_fees)
        if o.filled_value:
            base = ws_base_quantity(qty, avg, value, fees)
            if base != qty:
                log.warning(
                    "user update of order %s: cumulative_quantity %s is the quote spent, "
                    "not base (filled_value %s / avg_price %s = %s base): booking the base",
                    o.order_id, o.cumulative_quantity, o.filled_value, o.avg_price, base,
                )  # fmt: skip
                qty = base
        prev = self.hwms.get(o.order_id)
        # what the message leaves out, the order's earlier state says
        coid = o.client_order_id or (prev.client_order_id if prev else "")
        pid = o.product_id or (prev.product_id if prev else "")
        side = o.order_side or (prev.side if prev else "")
        status = o.status or (prev.status if prev else "")
        if snapshot:  # what the venue listed, news or not (UserSnapshotDone.listed)
            self._listing.append(
                OrderUpdate(
                    order_id=o.order_id,
                    client_order_id=coid,
                    product_id=pid,
                    side=side,
                    order_type=o.order_type,
                    status=status,
                    cumulative_quantity=qty,
                    leaves_quantity=to_decimal(o.leaves_quantity),
                    avg_price=avg,
                    total_fees=fees,
                    snapshot=True,
                )
            )
        if prev is None and o.order_id in self._released_set:
            self.ignored_released += 1  # a late replay of a released order: reported already
            return []
        out: list[Out] = []
        fill = self._advance(o.order_id, coid, pid, side, status, qty, value, fees, "ws", ())
        cur = self.hwms[o.order_id]
        if prev is None or prev.status != cur.status or fill is not None:
            out.append(
                OrderUpdate(
                    order_id=o.order_id,
                    client_order_id=cur.client_order_id,
                    product_id=cur.product_id,
                    side=cur.side,
                    order_type=o.order_type,
                    status=cur.status,
                    cumulative_quantity=cur.cumulative_quantity,
                    leaves_quantity=to_decimal(o.leaves_quantity),
                    avg_price=avg,
                    total_fees=cur.total_fees,
                    snapshot=snapshot,
                )
            )
        if fill is not None:
            out.append(fill)
        return out

    def _advance(
        self,
        order_id: str,
        client_order_id: str,
        product_id: str,
        side: str,
        status: str,
        qty: Decimal,
        value: Decimal,
        fees: Decimal,
        source: Literal["ws", "rest"],
        trade_ids: tuple[str, ...],
    ) -> FillEvent | None:
        """Move the HWM forward; return the fill for the delta, if there is one."""
        prev = self.hwms.get(order_id)
        if prev is None and order_id in self._released_set:
            self.ignored_released += 1
            return None
        base = prev or OrderHwm(
            order_id, client_order_id, product_id, side, status, _ZERO, _ZERO, _ZERO
        )
        fill: FillEvent | None = None
        if qty > base.cumulative_quantity:
            size = qty - base.cumulative_quantity
            fill = FillEvent(
                fill_id=f"{order_id}:{_plain(qty)}",
                order_id=order_id,
                client_order_id=client_order_id,
                product_id=product_id,
                side=side,
                size=size,
                price=_unscaled((value - base.value) / size),
                fee=max(fees - base.total_fees, _ZERO),
                cumulative_quantity=qty,
                source=source,
                trade_ids=trade_ids,
                cumulative_value=value,
                cumulative_fees=fees,
            )
            cur = replace(
                base, status=status, cumulative_quantity=qty, value=value, total_fees=fees
            )
        else:  # replay or stale: never move backwards
            cur = replace(base, status=status if status else base.status)
            if prev is not None and prev.terminal and not cur.terminal:
                cur = prev  # a late non-terminal replay cannot reopen a finished order
        if cur != prev:
            self.hwms[order_id] = cur
            self.store.save(cur)
            if cur.terminal and (prev is None or not prev.terminal):
                self._finished.append(order_id)
                self._release_old()
        return fill

    def reconcile_rest_fills(self, fills: Sequence[Mapping[str, Any] | Any]) -> list[FillEvent]:
        """Report fills that REST knows about and the ``user`` channel has not shown yet.

        Args:
            fills: §2.8 fill objects (``order_id``, ``price``, ``size``, ``commission``,
                ``trade_id``, ``product_id``, ``side``, ``size_in_quote``), as JSON
                mappings or botkit's decoded ``Fill``; any order, any orders. A fill
                with ``size_in_quote`` counts ``size / price`` base and ``size`` quote.

        Returns:
            At most one synthesised fill per order: the part of its REST total above
            the HWM, priced from the REST fills' notional.
        """
        per_order: dict[str, list[Any]] = {}
        for f in fills:
            per_order.setdefault(str(_field(f, "order_id") or ""), []).append(f)
        out: list[FillEvent] = []
        for order_id, rows in sorted(per_order.items()):
            qty = value = fees = _ZERO
            for r in rows:
                base, notional, fee = rest_fill_amounts(r)
                qty, value, fees = qty + base, value + notional, fees + fee
            prev = self.hwms.get(order_id)
            first = rows[0]
            fill = self._advance(
                order_id,
                prev.client_order_id if prev else "",
                prev.product_id if prev else str(_field(first, "product_id") or ""),
                prev.side if prev else str(_field(first, "side") or ""),
                prev.status if prev else "",
                qty,
                value,
                fees,
                "rest",
                tuple(sorted(str(_field(r, "trade_id") or "") for r in rows)),
            )
            if fill is not None:
                out.append(fill)
        return out
