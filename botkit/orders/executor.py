"""Adapter ring: the order executor — exactly-once placement over the REST client and journal.

The protocol (docs/executor.md has the full story, with each guarantee and its limits):

1. **Journal first.** The intent (``client_order_id`` + exact body) is committed
   to SQLite before the first POST — or, a new id with ``overlap``, written to the
   journal's intent log, its row inserted once the POST is answered (docs/executor.md,
   "The intent log"). With ``durability="overlap"`` (the default) that
   write goes to the OS without an fsync (a killed process loses nothing),
   the POST leaves at once, and the fsync that makes it power-safe runs on the
   journal thread while the request is in flight; the answer is acted on (the
   outcome journalled, the caller told, an error raised) only once it is done. One
   fsync covers every intent written before it started (group commit).
   ``durability="before_send"`` waits for the fsync before the POST (the old way,
   ~0.4 ms per order on an SSD). Why overlap keeps exactly-once: the id exists
   before anything, and every attempt of an intent carries it; a retry needs no
   fsync first, because a repeat of the id is deduplicated by the exchange, not by
   the journal. A killed process (kill -9) leaves the row PENDING (resolved at the
   next start). Only a power cut after the POST and before the fsync can lose the
   row of an order the exchange has: :meth:`OrderExecutor.reconcile` at start-up
   adopts it (botkit's id format, no intent row), so it is neither lost nor
   placed again.
2. **Retry with the same id.** The REST client re-signs and retries per the
   retry table; every create-order attempt carries the same body, so Coinbase's
   ``client_order_id`` idempotency (reference §2.5) turns a repeat into "here
   is the order you already placed".
3. **Check the echo.** A reused id returns an *old* order (§2.5), so the echoed
   ``product_id``/``side``/``client_order_id`` must match the intent.
4. **Resolve the unknown.** If an attempt might have been processed (timeout,
   reset, 5xx) and retries ran out, search recent orders for the id (Coinbase
   has no client-id filter: list orders for the product and side since the
   intent was written, newest first, page after page). Found → placed. Not found
   → :class:`OrderOutcomeUnknown`, the intent stays PENDING, and the unknown
   attempt is counted in the journal.
5. **FAILED only when no order exists.** Once any attempt of an intent may have
   reached the exchange (an unknown outcome, a restart), a definite refusal of a
   later attempt (401/403/429...) is followed by a lookup: found → placed, lookup
   failed → still unknown (PENDING), not found → FAILED.
6. **Start-up.** Before the first new order, every PENDING intent is resolved:
   found by lookup, or re-POSTed with its original bytes and id (idempotent at
   the exchange, so a late-arriving original cannot make a second order). A
   definite rejection is recorded and start-up goes on with the next intent
   (:attr:`OrderExecutor.startup` keeps the report). Start-up also starts the
   client's pool of pre-signed create-order tokens.
7. **Reconciliation** (:meth:`OrderExecutor.reconcile`): orders at the exchange
   with botkit's id format and no intent row are adopted into the journal. An exit the
   venue created from an entry's ``attached_order_configuration`` has no client id: it
   is linked to its entry instead (:attr:`OrderExecutor.attached_exits`, also filled
   from the create answer) and tracked by order id, never adopted.
8. **One placement per id, in its own task.** Concurrent ``place()``/``resolve()``
   calls for one id share a task that each caller awaits shielded, so cancelling
   a caller never cancels the placement (``close()`` ends what is left, bounded).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any, Literal, ParamSpec, TypeVar

from botkit.errors import BotkitError, JournalError, OrderOutcomeUnknown, OrderRejected
from botkit.market.events import FillEvent, OrderUpdate
from botkit.net.retrying import CallTrace
from botkit.orders.intents import OrderIntent
from botkit.orders.journal import IntentRecord, IntentState, OrderJournal, sha256
from botkit.orders.model import Order
from botkit.orders.reconcile import ReconcileMixin
from botkit.orders.state import OrderStateMachine, OrderStatus
from botkit.orders.types import (
    ExchangeOrder,
    PlacedOrder,
    ReconcileReport,
    RejectedIntent,
    StartupReport,
)
from botkit.orders.venue_api import OrderVenue

__all__ = [
    "ExchangeOrder",
    "OrderExecutor",
    "PlacedOrder",
    "ReconcileReport",
    "RejectedIntent",
    "StartupReport",
]

log = logging.getLogger("botkit.orders.executor")
P = ParamSpec("P")
R = TypeVar("R")
E = TypeVar("E", OrderUpdate, FillEvent)


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark a future's exception as seen (asyncio logs one nobody retrieved)."""
    if not future.cancelled():
        future.exception()


class OrderExecutor(ReconcileMixin):
    """Places orders exactly once.

    Args:
        client: the REST client (any transport: Coinbase or the simulator).
        journal: the durable intent journal.
        lookup_margin: seconds before an intent's ``created_at`` to search
            from, covering clock offset between us and the exchange.
        lookup_horizon: a lookup *before* a re-POST searches up to the intent's last
            recorded attempt (``updated_at``) plus this many seconds: an attempt series
            (at most 8 attempts with their timeouts and waits) ends well within it, so
            orders placed later (a bot that kept trading for hours) are not paged through.
        lookup_limit: page size of the lookup (list orders).
        lookup_max_pages: pages a lookup reads before it counts as incomplete (the
            outcome then stays unknown rather than "not found").
        reconcile_window: seconds back from now that :meth:`reconcile` lists recent
            (also finished) orders; open orders are listed whatever their age.
        close_timeout: seconds :meth:`close` waits for in-flight placements before
            cancelling them (their intents stay PENDING for the next start).
        wall: local clock.
        inline_io: run journal calls on the loop instead of the journal thread. Only for
            a non-durable journal (backtests): a thread hop per write then costs more
            than the write, and a replay must not depend on thread timing. Placements
            then also run in the caller's task (nothing yields, so nothing can share or
            interrupt one, and a replay's ordering stays the order of calls).
        resend_max_age: seconds after its creation past which a pending intent that the
            lookup of :meth:`start` answered "not found" is **not** sent again (FAILED,
            ``STALE_INTENT``); a failed lookup, or a resolution during the run (an exit
            settling its order keeps its id), never counts as not found. Its
            price is that old, and the strategy, which has moved on, decides afresh. A
            quote left pending by a crash went out minutes later at its old price, every
            such quote at once (found by a venue QA pass). None: always re-sent. Should
            the order exist after all, :meth:`reconcile` adopts it (botkit's id format,
            an intent that ended FAILED).
        durability: ``"overlap"`` (default): the intent is committed without an fsync
            before the POST, and fsynced while the request is in flight (see the module
            docstring, point 1). Journal calls then run on the event loop (a commit
            without fsync is a write to the OS page cache, tens of µs, cheaper than
            the thread hop); only the fsync and checkpoints use the journal thread.
            ``"before_send"``: the intent is fsynced (``synchronous=FULL``) on the
            journal thread before the POST leaves, as before.
    """

    def __init__(
        self,
        client: OrderVenue,
        journal: OrderJournal,
        *,
        lookup_margin: float = 300.0,
        lookup_horizon: float = 900.0,
        lookup_limit: int = 250,
        lookup_max_pages: int = 40,
        reconcile_window: float = 3600.0,
        close_timeout: float = 5.0,
        wall: Callable[[], float] = time.time,
        inline_io: bool = False,
        durability: Literal["overlap", "before_send"] = "overlap",
        resend_max_age: float | None = 60.0,
    ) -> None:
        if durability not in ("overlap", "before_send"):
            raise ValueError('durability must be "overlap" or "before_send"')
        self.client = client
        self._inline_io = inline_io
        self.durability = durability
        self._overlap = durability == "overlap"
        # journal calls on the loop: a backtest's non-durable journal, or overlap (no fsync
        # in a commit then: the fsync runs on the journal thread, in _durable)
        self._loop_io = inline_io or self._overlap
        self.journal = journal
        # overlap: a new intent goes to the journal's intent log before the POST and gets
        # its row once answered (module docstring, point 1); False when the journal does
        # not fsync or lives in memory
        self._logging = False
        if self._overlap and not inline_io:
            journal.defer_sync()
            self._logging = journal.start_log()
        self.orders = OrderStateMachine(on_release=self._forget_exit)
        # exits created from entries' attached_order_configuration (no client id of their
        # own): exit order_id -> the entry's client_order_id, and the entry's id -> exit id
        self.attached_exits: dict[str, str] = {}
        self._exit_of_entry: dict[str, str] = {}
        self.lookup_margin = lookup_margin
        self.lookup_horizon = lookup_horizon
        self.lookup_limit = lookup_limit
        self.lookup_max_pages = lookup_max_pages
        self.reconcile_window = reconcile_window
        self.close_timeout = close_timeout
        self.resend_max_age = resend_max_age
        self._wall = wall
        self._io_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="botkit-journal")
        self._started = False
        self._start_lock = asyncio.Lock()
        # one running placement per client_order_id: (body or None for a resolution, task)
        self._inflight: dict[str, tuple[bytes | None, asyncio.Task[PlacedOrder]]] = {}
        # ids POSTed in this process whose outcome is not final yet (bounded by the
        # pending intents): a second place() of one of them is never "fresh"
        self._sent: set[str] = set()
        self.startup = StartupReport()
        # overlap: journal.writes made power-safe so far, and who waits for more
        self._synced = 0
        self._sync_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._sync_task: asyncio.Task[None] | None = None
        self._pruning = asyncio.Lock()
        self.on_placed: Callable[[PlacedOrder], None] | None = None
        """Called with every order the exchange has (an answer, a lookup, a re-sent intent
        resolved at start-up) *before* its intent is journalled PLACED. The runtime gives
        the order its fill-ledger mark here: while the intent is PENDING, the next start
        resolves it again, so after a crash no order is PLACED in the journal without a
        mark — even one whose POST was in flight at a stop and that filled and ended while
        the bot was down longer than the reconciliation window. (A power cut can still
        roll back the ledger's last commits: docs/strategies.md, "Limits".) Adopted orders
        get the same call. If it raises ``JournalError``, the intent stays PENDING (logged;
        the ledger's reporter stops the bot)."""

    async def _io(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a blocking journal call on the journal's own thread (fsync stays off the loop).

        On the loop instead when no call can fsync (``inline_io``, or ``overlap``).
        """
        if self._loop_io:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io_pool, lambda: fn(*args, **kwargs))

    async def prune_journal(self, older_than: float) -> int:
        """Forget the journal's finished intents last updated ``older_than`` seconds ago or
        earlier (:meth:`OrderJournal.prune`); returns how many. Step by step, letting
        orders through between steps: a backlog of millions never stalls placement. Then
        the client-id filter is rebuilt from the rows left, also in steps. One at a time
        (two rebuilds interleaved would swap in a half-built filter)."""
        async with self._pruning:
            return await self._prune_journal(older_than)

    async def _prune_journal(self, older_than: float) -> int:
        before = self._wall() - older_than
        total, after = 0, 0
        while True:
            deleted, resume = await self._io(self.journal.prune, before, after_rowid=after)
            total += deleted
            if resume is None:
                break
            after = resume
            await asyncio.sleep(0)
        step: int | None = 0
        try:
            while total and step is not None:  # the client-id filter, without the pruned ids
                step = await self._io(self.journal.rebuild_filter_step, step)
                await asyncio.sleep(0)
        finally:
            if total and step is not None:  # cancelled or failed half-way
                self.journal.rebuild_filter_abandon()
        return total

    def _durable(self) -> asyncio.Future[None] | None:
        """A future done once every journal write made so far is fsynced (overlap mode).

        Starts the sync task if none runs. One ``journal.sync()`` at a time: writes made
        while one runs are covered by the next (group commit). None when there is
        nothing to wait for (before_send, a non-syncing journal, nothing new written).
        """
        if not self._overlap or self._inline_io or not self.journal.syncs:
            return None
        target = self.journal.writes
        if target <= self._synced:
            return None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._sync_waiters.append((target, waiter))
        if self._sync_task is None:
            self._sync_task = loop.create_task(self._sync_loop(), name="botkit-journal-sync")
        return waiter

    async def _sync_all(self) -> None:
        """Wait until every journal write so far is power-safe (one fsync of the WAL, shared
        with the placements in flight in overlap mode). A no-op for a non-syncing journal."""
        if self._inline_io or not self.journal.syncs:
            return
        if self._overlap:
            durable = self._durable()
            if durable is not None:
                await durable
        else:
            await asyncio.get_running_loop().run_in_executor(self._io_pool, self.journal.sync)

    async def _sync_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._sync_waiters:
                target = self.journal.writes  # read on the loop: the writes are made here
                try:
                    await loop.run_in_executor(self._io_pool, self.journal.sync)
                except BaseException as exc:  # JournalError (reported by the journal)
                    waiters, self._sync_waiters = self._sync_waiters, []
                    for _, waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    return
                self._synced = max(self._synced, target)
                left = []
                for want, waiter in self._sync_waiters:
                    if want > target:
                        left.append((want, waiter))
                    elif not waiter.done():
                        waiter.set_result(None)
                self._sync_waiters = left
        finally:
            self._sync_task = None

    @property
    def native_exits(self) -> frozenset[str]:
        """The exit kinds the venue takes as orders of its own (the client's, see
        :attr:`botkit.orders.venue_api.OrderVenue.native_exits`); the rest are emulated."""
        return self.client.native_exits

    @property
    def inflight(self) -> list[asyncio.Task[PlacedOrder]]:
        """The placement tasks running now (one per client_order_id)."""
        return [task for _, task in self._inflight.values()]

    async def close(self) -> None:
        """Wait (bounded) for in-flight placements, cancel what is left, close the journal.

        A cancelled placement leaves its intent PENDING: the next start resolves it.
        """
        tasks = self.inflight
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.close_timeout)
            for task in late:
                task.cancel()
            if late:
                log.warning(
                    "cancelled %d placement(s) still running after %.1fs at close; their "
                    "intents stay pending and are resolved at the next start",
                    len(late),
                    self.close_timeout,
                )
                await asyncio.wait(late, timeout=self.close_timeout)
            for coid in [c for c, (_, t) in self._inflight.items() if t.done()]:
                del self._inflight[coid]
        if self._sync_task is not None:  # an fsync on the journal thread: let it end
            await asyncio.wait([self._sync_task], timeout=self.close_timeout)
        if self._inline_io:
            self.journal.close()
        else:  # on the journal thread, after an fsync still running there (a stalled disk):
            # closing on the loop meanwhile would pull the connection from under it
            await asyncio.get_running_loop().run_in_executor(self._io_pool, self.journal.close)
        self._io_pool.shutdown(wait=True)

    # -- start-up ----------------------------------------------------------------------------

    async def start(self) -> list[PlacedOrder]:
        """Resolve every PENDING intent; idempotent once it succeeded.

        A pending intent refused for good (a post-only quote that would now cross...) is
        recorded REJECTED/FAILED, listed in :attr:`startup` ``.rejected``, and start-up
        goes on with the next one.

        Returns:
            The pending intents the exchange has (``startup.placed``).

        Raises:
            OrderOutcomeUnknown: after trying every pending intent, some could be
                neither found nor re-placed (``startup.unknown``); no new order is
                accepted until a later ``start()`` resolves them.
        """
        async with self._start_lock:
            if self._started:
                return []
            # sign the create-order token pool now (loop callbacks), so even the first
            # order finds a pre-signed token (docs/executor.md, "Pre-signed tokens")
            self.client.start_presigning()
            report = self.startup = StartupReport(adopted=self.startup.adopted)
            if self._overlap and not self._inline_io and self.journal.syncs:
                # a killed run's last intents may be in the OS only: make them power-safe
                await asyncio.get_running_loop().run_in_executor(self._io_pool, self.journal.sync)
            pending = await self._io(self.journal.pending)
            at_start = partial(self._resolve_id, at_start=True)
            if pending:
                log.warning("resolving %d pending order intent(s) from the journal", len(pending))
            first_unknown: OrderOutcomeUnknown | None = None
            for record in pending:
                coid = record.client_order_id
                try:
                    report.placed.append(await self._shared(coid, None, at_start))
                except OrderOutcomeUnknown as exc:
                    report.unknown.append(coid)
                    first_unknown = first_unknown or exc
                except JournalError:
                    raise
                except BotkitError as exc:  # refused for good: the journal says so already
                    reason = exc.reason if isinstance(exc, OrderRejected) else _why(exc)
                    report.rejected.append(
                        RejectedIntent(coid, record.product_id, record.side, reason)
                    )
                    log.warning(
                        "pending intent client_order_id=%s (%s %s) refused at start-up: %s; "
                        "recorded, going on",
                        coid,
                        record.side,
                        record.product_id,
                        reason,
                    )
            if first_unknown is not None:
                raise OrderOutcomeUnknown(
                    f"{len(report.unknown)} pending order intent(s) still unknown after "
                    f"start-up ({', '.join(report.unknown)}): neither found at the exchange "
                    "nor re-placed; no new order is sent until they are (retry the start, "
                    "or check the exchange and the network)"
                ) from first_unknown
            self._started = True
            return list(report.placed)

    # -- placing -----------------------------------------------------------------------------

    async def place(self, intent: OrderIntent) -> PlacedOrder:
        """Place ``intent`` exactly once (see the module docstring).

        Calling again with the same ``client_order_id`` returns the same order; calls
        at the same time share one placement (cancelling one caller leaves the others,
        and the placement, running).

        Raises:
            OrderRejected: the exchange refused it, or the id belongs to another order.
            OrderOutcomeUnknown: retries and the lookup could not tell; the intent
                stays PENDING and is resolved by :meth:`resolve` or at the next start.
            ExchangeError: a definite failure (401/403/400) while botkit knows that no
                order exists (the intent ends FAILED).
        """
        if not self._started:
            await self.start()
        body = intent.body()
        if self._inline_io:  # nothing yields: nothing to share, nothing to interrupt
            return await self._place(intent, body)
        return await self._shared(intent.client_order_id, body, partial(self._place, intent, body))

    async def resolve(
        self, client_order_id: str, *, drop_stale: bool = False, resend: bool = True
    ) -> PlacedOrder:
        """Resolve one journalled intent now (lookup, then re-POST with the same id).

        ``drop_stale``: the start-up rule in a run (a strategy's plain order after an
        outage): not found and older than :attr:`resend_max_age`, it ends FAILED
        (STALE_INTENT) instead of going out at a price that old. Not for an exit's order,
        which must keep its id. ``resend=False`` (a halted strategy's order): not found,
        it ends FAILED (NOT_RESENT) whatever its age.

        Raises:
            KeyError: no intent with this id.
            OrderOutcomeUnknown: still unknown (the intent stays PENDING); never an
                auth or rate error, which would look final.
            OrderRejected: the intent ended REJECTED/FAILED (now or before).
        """
        work = partial(self._resolve_id, at_start=drop_stale, resend=resend)
        return await self._shared(client_order_id, None, work)

    def _shared(
        self,
        coid: str,
        body: bytes | None,
        work: Callable[[str], Coroutine[Any, Any, PlacedOrder]],
    ) -> asyncio.Future[PlacedOrder]:
        """The running placement of ``coid``, or a new task running ``work(coid)``.

        Callers await it shielded: a caller's cancellation ends its own wait only.
        """
        running = self._inflight.get(coid)
        if running is not None:
            known, task = running
            if body is not None and known is not None and known != body:
                raise OrderRejected(
                    f"client_order_id {coid} was already used for a different order "
                    "(being placed now)",
                    reason="DUPLICATE_CLIENT_ORDER_ID",
                )
        else:
            task = asyncio.get_running_loop().create_task(work(coid), name=f"botkit-place {coid}")
            self._inflight[coid] = (body, task)
            task.add_done_callback(partial(self._finished, coid))
        return asyncio.shield(task)

    def _finished(self, coid: str, task: asyncio.Task[PlacedOrder]) -> None:
        running = self._inflight.get(coid)
        if running is not None and running[1] is task:
            del self._inflight[coid]
        if not task.cancelled():
            task.exception()  # retrieved here: every caller still re-raises it

    async def _place(self, intent: OrderIntent, body: bytes, _coid: str = "") -> PlacedOrder:
        coid = intent.client_order_id
        if self._logging and self.journal.can_log(coid):
            # the intent log: one write (crash-safe) instead of an insert before the POST;
            # the row is written once the POST is answered (_submit), or here at the latest
            record = self.journal.log_intent(coid, intent.product_id, intent.side, body)
            try:
                return await self._resolve(record, fresh=coid not in self._sent)
            finally:
                self.journal.absorb(coid)
        record = await self._io(
            self.journal.record,
            coid,
            intent.product_id,
            intent.side,
            body,
            durable=not self._overlap,
        )
        if record.body_sha256 != sha256(body):
            raise OrderRejected(
                f"client_order_id {coid} was already used for a different order",
                reason="DUPLICATE_CLIENT_ORDER_ID",
            )
        # fresh: no attempt of this intent can have reached the exchange yet, so a
        # definite refusal proves that no order exists
        fresh = record.attempts == 0 and coid not in self._sent
        return await self._resolve(record, fresh=fresh)

    async def _resolve_id(
        self, coid: str, *, at_start: bool = False, resend: bool = True
    ) -> PlacedOrder:
        """Resolve a journalled intent. ``at_start`` (:meth:`start` only): one the lookup
        answered "not found" and older than :attr:`resend_max_age` is not sent again; in
        a run, an exit settling its own order must keep its id (a second id could sell
        twice), and what a run asks again about is seconds old."""
        record = await self._io(self.journal.get, coid)
        if record is None:
            raise KeyError(coid)
        return await self._resolve(record, fresh=False, at_start=at_start, resend=resend)

    async def _resolve(
        self, record: IntentRecord, *, fresh: bool, at_start: bool = False, resend: bool = True
    ) -> PlacedOrder:
        coid = record.client_order_id
        if record.state is IntentState.PLACED and record.order_id:
            return PlacedOrder(
                coid,
                record.order_id,
                record.product_id,
                record.side,
                "journal",
                self._exit_of_entry.get(coid, ""),
            )
        if record.state in (IntentState.REJECTED, IntentState.FAILED):
            raise OrderRejected(
                f"order intent {coid} already ended {record.state}: {record.error}",
                reason=(record.error or str(record.state)).split(":", 1)[0],
            )
        if not fresh:  # it may already be at the exchange: look before re-posting
            looked = True
            try:
                found = await self._lookup(record, until=record.updated_at + self.lookup_horizon)
            except BotkitError as exc:
                looked = False
                if not resend:  # a halted strategy's: never sent again (a review)
                    raise OrderOutcomeUnknown(
                        f"lookup of client_order_id {coid} failed ({_why(exc)}); its strategy "
                        "is halted, so it is not sent again; it stays pending"
                    ) from exc
                if not getattr(self.client, "create_deduplicates", False):
                    # Exchange, Prime: a second POST of an order that exists is a second order
                    raise OrderOutcomeUnknown(
                        f"lookup of client_order_id {coid} failed ({_why(exc)}); this venue "
                        "does not deduplicate client ids, so it is not sent again before a "
                        "lookup answers; it stays pending"
                    ) from exc
                log.warning(  # Advanced Trade: a repeat of the id returns the order it has
                    "lookup of client_order_id=%s failed (%s); re-sending it with the same id",
                    coid,
                    _why(exc),
                )
                found = None
            if found is not None:
                return await self._placed(record, found.order_id, "lookup", found.attached_order_id)
            age = self._wall() - record.created_at
            if looked and not resend:  # its strategy is halted: no order of it goes out
                why = "not found at the venue: not sent again (its strategy is halted)"
                log.warning("pending intent client_order_id=%s %s", coid, why)
                await self._final(record, IntentState.FAILED, f"NOT_RESENT: {why}")
                raise OrderRejected(f"client_order_id {coid} {why}", reason="NOT_RESENT")
            if (
                at_start
                and looked
                and self.resend_max_age is not None
                and age > self.resend_max_age
            ):
                why = (
                    f"not found at the venue and {age:.0f} s old (> {self.resend_max_age:g} s): "
                    "not sent again at a price that old"
                )
                log.warning("pending intent client_order_id=%s %s", coid, why)
                await self._final(record, IntentState.FAILED, f"STALE_INTENT: {why}")
                raise OrderRejected(f"client_order_id {coid} {why}", reason="STALE_INTENT")
        return await self._submit(record, fresh=fresh)

    async def _submit(self, record: IntentRecord, *, fresh: bool) -> PlacedOrder:
        coid = record.client_order_id
        self.orders.track(coid, product_id=record.product_id, side=record.side)
        if not fresh:  # a re-submission after a restart or an unknown outcome: keep count
            await self._io(self.journal.count_attempt, coid)
        self._sent.add(coid)
        # overlap: the intent's fsync runs on the journal thread while the POST is in flight
        durable = self._durable()
        trace = CallTrace()
        try:
            try:
                result = await self.client.submit_order_body(
                    record.body, client_order_id=coid, trace=trace
                )
            finally:
                try:
                    self.journal.absorb(coid)  # a logged intent's row, before any outcome
                except BaseException:
                    if durable is not None:  # this error is the news; the fsync's is not
                        durable.add_done_callback(_retrieved)
                    raise
                if durable is not None:  # the intent is power-safe before the answer is used
                    await durable
        except JournalError:
            # a journal broke during the request (the paper broker's, in-process, or the
            # intent's overlapped fsync): the order may be accepted; the intent stays
            # PENDING and the next start resolves it (or reconciliation adopts it)
            raise
        except OrderRejected as exc:
            await self._final(record, IntentState.REJECTED, f"{exc.reason}: {exc.message}")
            raise
        except BotkitError as exc:
            if trace.maybe_processed:
                return await self._after_unknown(record, exc, counted=not fresh)
            if not fresh:  # an earlier attempt may have been processed: look before FAILED
                return await self._before_failed(record, exc)
            await self._final(record, IntentState.FAILED, _why(exc))
            raise
        echo = result.success_response
        if echo is None or not echo.order_id:
            return await self._after_unknown(record, None, counted=not fresh)
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
            await self._final(record, IntentState.REJECTED, str(error), track=False)
            raise error
        return await self._placed(record, echo.order_id, "response", echo.attached_order_id)

    async def _final(
        self, record: IntentRecord, state: IntentState, error: str, *, track: bool = True
    ) -> None:
        """Record a REJECTED/FAILED outcome: the exchange has no order for this intent.

        Made power-safe before the caller hears of it: lost to a power cut, the row would
        be PENDING again and the next start would re-POST the intent — into a market that
        may now accept it (a post-only that would have crossed, funds that came back).
        """
        coid = record.client_order_id
        await self._io(self.journal.mark, coid, state, error=error)
        await self._sync_all()
        self._sent.discard(coid)
        if track:
            self.orders.apply(str(state), client_order_id=coid, source="create")

    async def _after_unknown(
        self, record: IntentRecord, cause: BaseException | None, *, counted: bool
    ) -> PlacedOrder:
        """Retries ended with an unknown outcome: ask the exchange before giving up.

        The unknown attempt is counted in the journal first, so that every later call
        (in this run or the next) looks the order up before it could call it FAILED.
        """
        coid = record.client_order_id
        if not counted:
            await self._io(self.journal.count_attempt, coid)
        try:
            found = await self._lookup(record)
        except BotkitError as exc:
            log.warning("lookup of client_order_id=%s failed: %s", coid, _why(exc))
            found = None
        if found is not None:
            return await self._placed(record, found.order_id, "lookup", found.attached_order_id)
        log.error("order outcome unknown for client_order_id=%s; intent left pending", coid)
        raise OrderOutcomeUnknown(
            f"create-order for client_order_id {coid} may or may not have been placed "
            "(no answer, and not found among recent orders); it stays pending and is "
            "resolved again before any new order at the next start"
        ) from cause

    async def _before_failed(self, record: IntentRecord, cause: BotkitError) -> PlacedOrder:
        """A definite refusal now, but an earlier attempt may be at the exchange: look first.

        Found → placed. The lookup fails → still unknown (PENDING). Not found → FAILED,
        and ``cause`` is raised.
        """
        coid = record.client_order_id
        try:
            found = await self._lookup(record)
        except BotkitError as exc:
            log.warning(
                "client_order_id=%s refused (%s) after an earlier unknown attempt, and the "
                "lookup failed (%s); intent left pending",
                coid,
                _why(cause),
                _why(exc),
            )
            raise OrderOutcomeUnknown(
                f"create-order for client_order_id {coid} was refused ({_why(cause)}), but an "
                "earlier attempt may have been placed and the lookup failed "
                f"({_why(exc)}); it stays pending and is resolved again later"
            ) from cause
        if found is not None:
            return await self._placed(record, found.order_id, "lookup", found.attached_order_id)
        await self._final(record, IntentState.FAILED, _why(cause))
        raise cause

    async def _placed(
        self, record: IntentRecord, order_id: str, how: str, attached: str = ""
    ) -> PlacedOrder:
        coid = record.client_order_id
        placed = PlacedOrder(coid, order_id, record.product_id, record.side, how, attached)
        try:
            if self.on_placed is not None:
                self.on_placed(placed)
            await self._io(self.journal.mark, coid, IntentState.PLACED, order_id=order_id)
        except JournalError as exc:  # the order *is* placed: say so; the runtime stops on it
            log.error(
                "client_order_id=%s placed as %s but not recorded (%s); it stays pending "
                "and is resolved with the exchange at the next start",
                coid,
                order_id,
                exc,
            )
        else:
            self._sent.discard(coid)
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
        if attached:
            self._link_exit(coid, attached, record.product_id, record.side)
        if how != "response":
            log.warning("client_order_id=%s resolved by %s: order %s", coid, how, order_id)
        return placed

    async def _lookup(self, record: IntentRecord, *, until: float | None = None) -> Order | None:
        """Find the intent's order among recent orders of its product and side (by client id).

        Pages newest first from the intent's time (less the margin and the measured clock
        offset) until the id is found or the listing ends. ``until`` (local time) bounds the
        window's end when no attempt of this call is involved (plus the clock offset).

        Raises:
            OrderOutcomeUnknown: the listing went past ``lookup_max_pages`` pages.
            ExchangeError / TransportError: a page could not be read.
        """
        offset = abs(self.client.last_offset or 0.0)
        since = record.created_at - self.lookup_margin - offset
        end = None if until is None or until + offset >= self._wall() else until + offset
        cursor: str | None = None
        for _ in range(self.lookup_max_pages):
            page = await self.client.list_orders(
                product_ids=[record.product_id],
                order_side=record.side,
                start_date=since,
                end_date=end,
                limit=self.lookup_limit,
                cursor=cursor,
            )
            for order in page.orders:
                if order.client_order_id == record.client_order_id:
                    if order.product_id != record.product_id or order.side != record.side:
                        return None
                    return order
            if not page.has_next or not page.cursor:
                return None
            cursor = page.cursor
        raise OrderOutcomeUnknown(
            f"lookup of client_order_id {record.client_order_id} read {self.lookup_max_pages} "
            f"pages of {self.lookup_limit} orders without reaching the end of the window"
        )

    def on_order_update(self, update: OrderUpdate) -> None:
        """Feed a ``user``-channel order update (from :class:`botkit.market.feed.MarketDataFeed`)
        to the state machine, so order states follow the exchange in real time.

        Safe to call for orders this executor never placed (they are tracked from
        here on) and for replays after a reconnect (the state machine ignores
        updates that change nothing and logs illegal transitions).
        """
        self.orders.apply_update(update, now=self._wall(), source="ws")

    def named(self, event: E) -> E:
        """``event`` (an order update or fill) with its client_order_id filled in when the
        exchange's message had none but this executor knows the order by its order id.

        Why: some venue messages name an order by its exchange id only — on Exchange, the
        ``done`` of a stop cancelled before it triggered (its only earlier message,
        ``activate``, carries no ``client_oid``). The strategy follows its orders by client
        id, so without this it would never see that order finish. An order known only by
        its order id (an attached exit: no client id exists) is left as it is.
        """
        if event.client_order_id or not event.order_id:
            return event
        state = self.orders.by_order_id(event.order_id)
        if state is None or state.client_order_id.startswith("order:"):
            return event
        return replace(event, client_order_id=state.client_order_id)

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


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
