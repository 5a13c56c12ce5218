"""Adapter ring: the order executor — exactly-once placement over the REST client and journal.

The protocol (docs/executor.md has the full story):

1. **Journal first.** The intent (``client_order_id`` + exact body) is committed
   to SQLite before the first POST.
2. **Retry with the same id.** The REST client re-signs and retries per the
   retry table; every create-order attempt carries the same body, so Coinbase's
   ``client_order_id`` idempotency (reference §2.5) turns a repeat into "here
   is the order you already placed".
3. **Check the echo.** A reused id returns an *old* order (§2.5), so the echoed
   ``product_id``/``side``/``client_order_id`` must match the intent.
4. **Resolve the unknown.** If an attempt might have been processed (timeout,
   reset, 5xx) and retries ran out, search recent orders for the id (Coinbase
   has no client-id filter: list orders for the product and side since the
   intent was written). Found → placed. Not found → :class:`OrderOutcomeUnknown`,
   and the intent stays PENDING.
5. **Start-up.** Before the first new order, every PENDING intent is resolved:
   found by lookup, or re-POSTed with its original bytes and id (idempotent at
   the exchange, so a late-arriving original cannot make a second order).
   Start-up also starts the client's pool of pre-signed create-order tokens, so a
   first attempt does not spend an ES256 signature between the tick and the POST.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from botkit.core.feed_events import OrderUpdate
from botkit.core.intents import OrderIntent
from botkit.core.models import Order
from botkit.core.order_state import OrderStateMachine, OrderStatus
from botkit.errors import BotkitError, JournalError, OrderOutcomeUnknown, OrderRejected
from botkit.journal import IntentRecord, IntentState, OrderJournal, sha256
from botkit.net.rest_client import RestClient
from botkit.net.retrying import CallTrace

__all__ = ["OrderExecutor", "PlacedOrder"]

log = logging.getLogger("botkit.executor")
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """An intent the exchange has, and how botkit knows.

    Attributes:
        resolved_by: ``response`` (the create-order answer), ``lookup`` (found
            by client_order_id after an unknown outcome) or ``journal`` (already
            placed in an earlier call or run).
    """

    client_order_id: str
    order_id: str
    product_id: str
    side: str
    resolved_by: str


class OrderExecutor:
    """Places orders exactly once.

    Args:
        client: the REST client (any transport: Coinbase or the simulator).
        journal: the durable intent journal.
        lookup_margin: seconds before an intent's ``created_at`` to search
            from, covering clock offset between us and the exchange.
        lookup_limit: page size of the lookup (list orders).
        wall: local clock.
        inline_io: run journal calls on the loop instead of the journal thread. Only for
            a non-durable journal (backtests): a thread hop per write then costs more
            than the write, and a replay must not depend on thread timing.
    """

    def __init__(
        self,
        client: RestClient,
        journal: OrderJournal,
        *,
        lookup_margin: float = 300.0,
        lookup_limit: int = 250,
        wall: Callable[[], float] = time.time,
        inline_io: bool = False,
    ) -> None:
        self.client = client
        self._inline_io = inline_io
        self.journal = journal
        self.orders = OrderStateMachine()
        self.lookup_margin = lookup_margin
        self.lookup_limit = lookup_limit
        self._wall = wall
        self._io_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="botkit-journal")
        self._started = False
        self._start_lock = asyncio.Lock()
        self._inflight: dict[str, asyncio.Future[PlacedOrder]] = {}

    async def _io(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a blocking journal call on the journal's own thread (fsync stays off the loop)."""
        if self._inline_io:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io_pool, lambda: fn(*args, **kwargs))

    async def close(self) -> None:
        await self._io(self.journal.close)
        self._io_pool.shutdown(wait=True)

    # -- start-up ----------------------------------------------------------------------------

    async def start(self) -> list[PlacedOrder]:
        """Resolve every PENDING intent; idempotent. Raises if one stays unknown.

        Raises:
            OrderOutcomeUnknown: an intent could be neither found nor re-placed;
                no new order is accepted until it is.
        """
        async with self._start_lock:
            if self._started:
                return []
            # sign the create-order token pool now (loop callbacks), so even the first
            # order finds a pre-signed token (docs/executor.md, "Pre-signed tokens")
            self.client.start_presigning()
            resolved = []
            pending = await self._io(self.journal.pending)
            if pending:
                log.warning("resolving %d pending order intent(s) from the journal", len(pending))
            for record in pending:
                resolved.append(await self._resolve(record, resubmit=True))
            self._started = True
            return resolved

    # -- placing -----------------------------------------------------------------------------

    async def place(self, intent: OrderIntent) -> PlacedOrder:
        """Place ``intent`` exactly once (see the module docstring).

        Calling again with the same ``client_order_id`` returns the same order.

        Raises:
            OrderRejected: the exchange refused it, or the id belongs to another order.
            OrderOutcomeUnknown: retries and the lookup could not tell; the intent
                stays PENDING and is resolved by :meth:`resolve` or at the next start.
            ExchangeError: a definite failure (401/403/400) before anything was processed.
        """
        if not self._started:
            await self.start()
        coid = intent.client_order_id
        running = self._inflight.get(coid)
        if running is not None:  # the same intent twice at once: share one placement
            return await asyncio.shield(running)
        future: asyncio.Future[PlacedOrder] = asyncio.get_running_loop().create_future()
        self._inflight[coid] = future
        try:
            body = intent.body()
            record = await self._io(self.journal.record, coid, intent.product_id, intent.side, body)
            if record.body_sha256 != sha256(body):
                raise OrderRejected(
                    f"client_order_id {coid} was already used for a different order",
                    reason="DUPLICATE_CLIENT_ORDER_ID",
                )
            placed = await self._resolve(record, resubmit=True, fresh=record.attempts == 0)
            future.set_result(placed)
            return placed
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: a lone caller re-raises below
            raise
        finally:
            del self._inflight[coid]

    async def resolve(self, client_order_id: str) -> PlacedOrder:
        """Resolve one journalled intent now (lookup, then re-POST with the same id)."""
        record = await self._io(self.journal.get, client_order_id)
        if record is None:
            raise KeyError(client_order_id)
        return await self._resolve(record, resubmit=True)

    async def _resolve(
        self, record: IntentRecord, *, resubmit: bool, fresh: bool = False
    ) -> PlacedOrder:
        coid = record.client_order_id
        if record.state is IntentState.PLACED and record.order_id:
            return PlacedOrder(coid, record.order_id, record.product_id, record.side, "journal")
        if record.state in (IntentState.REJECTED, IntentState.FAILED):
            raise OrderRejected(
                f"order intent {coid} already ended {record.state}: {record.error}",
                reason=(record.error or str(record.state)).split(":", 1)[0],
            )
        if not fresh:  # it may already be at the exchange: look before re-posting
            found = await self._lookup(record)
            if found is not None:
                return await self._placed(record, found.order_id, "lookup")
        if not resubmit:
            raise OrderOutcomeUnknown(f"order intent {coid} not found at the exchange")
        return await self._submit(record, fresh=fresh)

    async def _submit(self, record: IntentRecord, *, fresh: bool = False) -> PlacedOrder:
        coid = record.client_order_id
        self.orders.track(coid, product_id=record.product_id, side=record.side)
        if not fresh:  # a re-submission after a restart or an unknown outcome: keep count
            await self._io(self.journal.count_attempt, coid)
        trace = CallTrace()
        try:
            result = await self.client.submit_order_body(
                record.body, client_order_id=coid, trace=trace
            )
        except JournalError:
            # a journal broke during the request (the paper broker's, in-process): the
            # order may be accepted; the intent stays PENDING and the next start resolves it
            raise
        except OrderRejected as exc:
            await self._io(
                self.journal.mark, coid, IntentState.REJECTED, error=f"{exc.reason}: {exc.message}"
            )
            self.orders.apply("REJECTED", client_order_id=coid, source="create")
            raise
        except BotkitError as exc:
            if not trace.maybe_processed:
                why = f"{type(exc).__name__}: {exc}"
                await self._io(self.journal.mark, coid, IntentState.FAILED, error=why)
                self.orders.apply("FAILED", client_order_id=coid, source="create")
                raise
            return await self._after_unknown(record, exc)
        echo = result.success_response
        if echo is None or not echo.order_id:
            return await self._after_unknown(record, None)
        mismatch = [
            f"{name} {got!r} != {want!r}"
            for name, got, want in (
                ("product_id", echo.product_id, record.product_id),
                ("side", echo.side, record.side),
                ("client_order_id", echo.client_order_id or coid, coid),
            )
            if got != want
        ]
        if mismatch:
            error = OrderRejected(
                f"client_order_id {coid} returned an existing different order "
                f"{echo.order_id} ({'; '.join(mismatch)}): the id was reused",
                reason="DUPLICATE_CLIENT_ORDER_ID",
            )
            await self._io(self.journal.mark, coid, IntentState.REJECTED, error=str(error))
            raise error
        return await self._placed(record, echo.order_id, "response")

    async def _after_unknown(
        self, record: IntentRecord, cause: BaseException | None
    ) -> PlacedOrder:
        """Retries ended with an unknown outcome: ask the exchange before giving up."""
        coid = record.client_order_id
        try:
            found = await self._lookup(record)
        except BotkitError as exc:
            log.warning("lookup of client_order_id=%s failed: %s", coid, exc)
            found = None
        if found is not None:
            return await self._placed(record, found.order_id, "lookup")
        log.error("order outcome unknown for client_order_id=%s; intent left pending", coid)
        raise OrderOutcomeUnknown(
            f"create-order for client_order_id {coid} may or may not have been placed "
            "(no answer, and not found among recent orders); it stays pending and is "
            "resolved again before any new order at the next start"
        ) from cause

    async def _placed(self, record: IntentRecord, order_id: str, how: str) -> PlacedOrder:
        coid = record.client_order_id
        try:
            await self._io(self.journal.mark, coid, IntentState.PLACED, order_id=order_id)
        except JournalError as exc:  # the order *is* placed: say so; the runtime stops on it
            log.error(
                "client_order_id=%s placed as %s but not journalled (%s); it stays pending "
                "and is resolved with the exchange at the next start",
                coid,
                order_id,
                exc,
            )
        # The user channel often reports fills before the create-order answer arrives;
        # the answer then only links the order id and must not move the state back.
        current = self.orders.get(coid)
        moved_on = current is not None and current.status is not OrderStatus.PENDING
        self.orders.apply(
            current.status if moved_on and current is not None else "OPEN",
            client_order_id=coid,
            order_id=order_id,
            product_id=record.product_id,
            side=record.side,
            now=self._wall(),
            source=f"create:{how}",
        )
        if how != "response":
            log.warning("client_order_id=%s resolved by %s: order %s", coid, how, order_id)
        return PlacedOrder(coid, order_id, record.product_id, record.side, how)

    async def _lookup(self, record: IntentRecord) -> Order | None:
        """Find the intent's order among recent orders of its product and side (by client id)."""
        offset = abs(self.client.last_offset or 0.0)
        since = record.created_at - self.lookup_margin - offset
        async for order in self.client.iter_orders(
            product_ids=[record.product_id],
            order_side=record.side,
            start_date=since,
            limit=self.lookup_limit,
        ):
            if order.client_order_id == record.client_order_id:
                if order.product_id != record.product_id or order.side != record.side:
                    return None
                return order
        return None

    def on_order_update(self, update: OrderUpdate) -> None:
        """Feed a ``user``-channel order update (from :class:`botkit.feed.MarketDataFeed`)
        to the state machine, so order states follow the exchange in real time.

        Safe to call for orders this executor never placed (they are tracked from
        here on) and for replays after a reconnect (the state machine ignores
        updates that change nothing and logs illegal transitions).
        """
        self.orders.apply(
            update.status,
            client_order_id=update.client_order_id,
            order_id=update.order_id,
            filled_size=update.cumulative_quantity,
            average_filled_price=update.avg_price or None,
            product_id=update.product_id,
            side=update.side,
            now=self._wall(),
            source="ws",
        )

    async def refresh(self, client_order_id: str) -> Order:
        """Re-read an order by REST and feed its status to the state machine."""
        state = self.orders.get(client_order_id)
        if state is None or not state.order_id:
            raise KeyError(client_order_id)
        order = await self.client.get_order(state.order_id)
        self.orders.apply(
            order.status,
            client_order_id=client_order_id,
            order_id=order.order_id,
            filled_size=order.filled_size,
            average_filled_price=order.average_filled_price or None,
            now=self._wall(),
            source="rest",
        )
        return order
