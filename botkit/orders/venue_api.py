"""What the order side needs from a venue's REST client: the venue protocol for orders.

Why a protocol: the executor's guarantees (journal first, one ``client_order_id`` per
intent, lookup by client id before calling anything failed, start-up reconciliation) are
the same on every venue; only the endpoints and shapes differ. The executor, the
reconciliation and the strategy's cancel port depend on :class:`OrderVenue`, never on a
venue folder; a venue's client (:class:`botkit.venues.advanced_trade.rest_client.RestClient`
today) satisfies it structurally and returns the neutral model of
:mod:`botkit.orders.model`. The wiring (:mod:`botkit.runtime`) picks the client.

The contract, per method:

* :meth:`OrderVenue.submit_order_body` sends the journaled body *as is* (retries re-send
  the same bytes with a fresh signature), returns the exchange's echo, and raises
  :class:`~botkit.errors.OrderRejected` for a refusal that is final; ``trace`` records
  whether an attempt may have reached the exchange (an unknown outcome).
* :meth:`OrderVenue.list_orders` pages orders newest first, filtered by product, status,
  side and a time window (Unix seconds); the executor finds an order by client id in it.
* ``last_offset``: the last measured exchange-minus-local clock offset (seconds), which
  widens lookup windows.
* ``native_exits``: the exit kinds (a subset of :data:`EXIT_KINDS`) the venue takes as
  orders of its own, so they live at the exchange while the bot is down: ``"stop_limit"``
  (``stop_limit_stop_limit_gtc``/``_gtd``), ``"bracket"`` (``trigger_bracket_gtc``/``_gtd``)
  and ``"attached"`` (an entry's ``attached_order_configuration``). The strategy side
  sends those natively and emulates the rest (evaluated by the running bot).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from botkit.orders.model import CancelResult, CreateOrderResult, Order, OrdersPage

if TYPE_CHECKING:  # an interface only: the retry engine's trace type, not its code
    from botkit.net.retrying import CallTrace

__all__ = ["EXIT_KINDS", "OrderVenue"]

EXIT_KINDS: frozenset[str] = frozenset({"stop_limit", "bracket", "attached"})
"""Every exit kind a venue may take natively (see ``OrderVenue.native_exits``)."""


class OrderVenue(Protocol):
    """A venue's order endpoints, as the executor uses them (see the module docstring)."""

    @property
    def last_offset(self) -> float | None: ...

    @property
    def native_exits(self) -> frozenset[str]:
        """The exit kinds (of :data:`EXIT_KINDS`) this venue places as its own orders."""
        ...

    def start_presigning(self) -> None:
        """Start preparing first-attempt signatures (a no-op where a venue has none)."""
        ...

    @property
    def create_deduplicates(self) -> bool:
        """Whether a repeat of a create-order's client id returns the order it made
        (Advanced Trade) rather than a second order (Exchange; Prime once the first is no
        longer active). Where it does not, nothing is sent again before a lookup answers."""
        ...

    async def submit_order_body(
        self, body: bytes, *, client_order_id: str, trace: CallTrace | None = None
    ) -> CreateOrderResult: ...

    async def get_order(self, order_id: str) -> Order: ...

    async def list_orders(
        self,
        *,
        product_ids: Iterable[str] | None = None,
        order_status: Iterable[str] | None = None,
        order_side: str | None = None,
        start_date: float | None = None,
        end_date: float | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> OrdersPage: ...

    async def cancel_orders(self, order_ids: Iterable[str]) -> list[CancelResult]: ...
