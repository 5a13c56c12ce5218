"""Adapter ring: start-up reconciliation of the intent journal with the exchange's orders.

A journal lost, or restored from an older backup, does not know every order botkit has at
the exchange. :meth:`ReconcileMixin.reconcile` (a part of
:class:`~botkit.orders.executor.OrderExecutor`, run after ``start()`` and before the strategy)
lists the products' open and recent orders, **adopts** those with botkit's
client_order_id format and no usable intent row (journal: PLACED with their order_id, so
the id is never placed again; a WARNING; the report), and feeds every botkit order's
current status and filled size to the state machine. Fills themselves are not listed.

**Attached exits.** An entry placed with ``attached_order_configuration`` (TP/SL) makes
Coinbase create a second order, the exit, with an *empty* ``client_order_id`` and
``originating_order_id`` = the entry's order id. It is botkit's when its entry is (the
entry's client id has botkit's format or a journal row): it is then linked to the entry
(:attr:`ReconcileMixin.attached_exits`), tracked by order id in the state machine and
reported in ``ReconcileReport.attached_exits``; never adopted (there is no client id to
journal) and never counted as foreign.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from botkit.errors import BotkitError, JournalError
from botkit.orders.intents import is_botkit_client_order_id
from botkit.orders.journal import IntentState, OrderJournal
from botkit.orders.model import Order
from botkit.orders.state import OrderState, OrderStateMachine
from botkit.orders.types import ExchangeOrder, PlacedOrder, ReconcileReport, StartupReport
from botkit.orders.venue_api import OrderVenue

__all__ = ["ReconcileMixin"]

log = logging.getLogger("botkit.orders.executor")
P = ParamSpec("P")
R = TypeVar("R")


class ReconcileMixin:
    """Reconciliation, as a mixin of :class:`~botkit.orders.executor.OrderExecutor` (its state)."""

    client: OrderVenue
    journal: OrderJournal
    orders: OrderStateMachine
    lookup_limit: int
    lookup_max_pages: int
    reconcile_window: float
    startup: StartupReport
    attached_exits: dict[str, str]
    _exit_of_entry: dict[str, str]
    _sent: set[str]
    _wall: Callable[[], float]
    on_placed: Callable[[PlacedOrder], None] | None

    async def _io(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        raise NotImplementedError  # the executor's: journal calls on the journal thread

    async def reconcile(self, product_ids: Iterable[str]) -> ReconcileReport:
        """Bring the journal and the state machine in line with the exchange (after start).

        Lists the products' open orders (any age) and their orders of the last
        ``reconcile_window`` seconds. An order whose client_order_id has botkit's format
        (:func:`~botkit.orders.intents.is_botkit_client_order_id`) but no usable intent
        row — none (a lost journal, or one restored from an older backup), one that
        ended REJECTED/FAILED, or one still PENDING — is **adopted**: written PLACED with
        its order_id (so the id is never placed again), logged at WARNING and reported.
        Every botkit order seen has its current status and filled size fed to the state
        machine. Other orders are left alone (counted if open). Fills are not listed:
        ``open_orders`` and ``adopted`` carry each order's cumulative filled size.
        """
        products = sorted(set(product_ids))
        report = ReconcileReport([], [])
        if not products:
            return report
        seen: dict[str, Order] = {}
        complete = await self._list_into(seen, product_ids=products, order_status=["OPEN"])
        since = self._wall() - self.reconcile_window - abs(self.client.last_offset or 0.0)
        complete &= await self._list_into(seen, product_ids=products, start_date=since)
        if not complete:
            log.warning(
                "reconciliation read %d pages per listing and stopped; older orders were "
                "not checked",
                self.lookup_max_pages,
            )
        adopted: list[ExchangeOrder] = []
        open_orders: list[ExchangeOrder] = []
        listed: list[ExchangeOrder] = []
        exits: list[ExchangeOrder] = []
        foreign = 0
        for order in seen.values():
            view = ExchangeOrder.of(order)
            if not order.client_order_id and order.originating_order_id:
                entry = await self._entry_client_id(order.originating_order_id, seen)
                if not entry:  # "": a foreign entry's exit; None: unknown, left alone
                    foreign += view.open and entry is not None
                    continue
                self._link_exit(entry, order.order_id, order.product_id, "", order=order)
                exits.append(view)
                continue
            if not is_botkit_client_order_id(order.client_order_id):
                foreign += view.open
                continue
            listed.append(view)
            if await self._adopt(view):
                adopted.append(view)
            self.orders.apply(
                order.status,
                client_order_id=order.client_order_id,
                order_id=order.order_id,
                filled_size=order.filled_size,
                average_filled_price=order.average_filled_price or None,
                product_id=order.product_id,
                side=order.side,
                now=self._wall(),
                source="reconcile",
            )
            if view.open:
                open_orders.append(view)
        self.startup.adopted.extend(adopted)
        if exits:
            log.info(
                "reconciliation: %d exit(s) attached to botkit entries (%d open), tracked by "
                "order id",
                len(exits),
                sum(e.open for e in exits),
            )
        return ReconcileReport(adopted, open_orders, foreign, complete, exits, listed)

    def entry_of(self, exit_order_id: str) -> str | None:
        """The client_order_id of the entry an attached exit (by its order id) belongs to.

        Known from the entry's create answer (or lookup) in this run, or from
        :meth:`reconcile` after a restart; None for any other order.
        """
        return self.attached_exits.get(exit_order_id)

    def exit_of(self, entry_client_order_id: str) -> str:
        """The order id of the exit the venue attached to an entry, "" if not known here
        (the entry's create answer or lookup carried it, or :meth:`reconcile` linked it)."""
        return self._exit_of_entry.get(entry_client_order_id, "")

    def _link_exit(
        self,
        entry_coid: str,
        exit_order_id: str,
        product_id: str,
        entry_side: str,
        *,
        order: Order | None = None,
    ) -> None:
        """Remember that ``exit_order_id`` is the attached exit of ``entry_coid`` and track it.

        The state machine keys an order without a client id by its order id (the user
        channel's updates for it carry only that), so the exit is tracked as such: from
        here with PENDING (or the listed ``order``'s status), then by the user channel.
        """
        self.attached_exits[exit_order_id] = entry_coid
        self._exit_of_entry[entry_coid] = exit_order_id
        if order is not None:
            self.orders.apply(
                order.status,
                order_id=exit_order_id,
                filled_size=order.filled_size,
                average_filled_price=order.average_filled_price or None,
                product_id=order.product_id,
                side=order.side,
                now=self._wall(),
                source="reconcile",
            )
        elif self.orders.by_order_id(exit_order_id) is None:
            side = {"BUY": "SELL", "SELL": "BUY"}.get(entry_side, "")
            self.orders.apply(
                "PENDING",
                order_id=exit_order_id,
                product_id=product_id,
                side=side,
                now=self._wall(),
                source="attached",
            )

    def _forget_exit(self, state: OrderState) -> None:
        """The state machine released a finished order: drop its exit link, if any."""
        entry = self.attached_exits.pop(state.order_id, None)
        if entry is not None and self._exit_of_entry.get(entry) == state.order_id:
            del self._exit_of_entry[entry]

    async def _entry_client_id(self, entry_order_id: str, seen: dict[str, Order]) -> str | None:
        """The client id of an attached exit's entry if that entry is botkit's; "" if not.

        From the listing, the state machine, or (an entry older than the window) one GET.
        botkit's: the id has botkit's format or a journal row. A failed GET logs and
        answers None (unknown): the exit is then left alone (neither linked nor counted
        as foreign), and reconciliation goes on.
        """
        entry = seen.get(entry_order_id)
        coid = entry.client_order_id if entry is not None else ""
        if not coid:
            state = self.orders.by_order_id(entry_order_id)
            if state is not None and not state.client_order_id.startswith("order:"):
                coid = state.client_order_id
        if not coid:
            try:
                coid = (await self.client.get_order(entry_order_id)).client_order_id
            except BotkitError as exc:
                log.warning(
                    "reconciliation: the entry %s of an attached exit could not be read "
                    "(%s: %s); the exit is left alone",
                    entry_order_id,
                    type(exc).__name__,
                    exc,
                )
                return None
        if not coid or is_botkit_client_order_id(coid):
            return coid
        return coid if await self._io(self.journal.get, coid) is not None else ""

    async def _list_into(self, seen: dict[str, Order], **filters: Any) -> bool:
        """Every order matching ``filters`` into ``seen`` (by order_id); False at the page cap."""
        cursor: str | None = None
        for _ in range(self.lookup_max_pages):
            page = await self.client.list_orders(limit=self.lookup_limit, cursor=cursor, **filters)
            for order in page.orders:
                seen.setdefault(order.order_id, order)
            if not page.has_next or not page.cursor:
                return True
            cursor = page.cursor
        return False

    async def _adopt(self, view: ExchangeOrder) -> bool:
        """Journal ``view`` as PLACED if the journal does not already say so; True if adopted."""
        coid = view.client_order_id
        record = await self._io(self.journal.get, coid)
        if record is not None and record.state is IntentState.PLACED:
            if record.order_id != view.order_id:
                log.warning(
                    "client_order_id=%s is order %s in the journal but %s at the exchange",
                    coid,
                    record.order_id,
                    view.order_id,
                )
            return False
        if record is not None and (record.product_id, record.side) != (
            view.product_id,
            view.side,
        ):
            log.warning(
                "client_order_id=%s: the exchange's order %s is %s %s, the journal's intent "
                "%s %s; not adopted",
                coid,
                view.order_id,
                view.side,
                view.product_id,
                record.side,
                record.product_id,
            )
            return False
        was = "no intent row" if record is None else f"intent {record.state}"
        note = f"adopted at reconciliation ({was}): order {view.order_id} {view.status}"
        if self.on_placed is not None:  # its fill-ledger mark first, as for a placed order
            try:
                self.on_placed(
                    PlacedOrder(coid, view.order_id, view.product_id, view.side, "adopted")
                )
            except JournalError as exc:  # reported by the ledger: the bot stops
                log.error("order %s not adopted: its mark failed (%s)", view.order_id, exc)
                return False
        if not await self._io(
            self.journal.adopt, coid, view.product_id, view.side, view.order_id, note=note
        ):
            return False
        self._sent.discard(coid)
        log.warning(
            "adopted order %s client_order_id=%s (%s %s, %s, filled %s): %s in the journal",
            view.order_id,
            coid,
            view.side,
            view.product_id,
            view.status,
            view.filled_size,
            was,
        )
        return True
