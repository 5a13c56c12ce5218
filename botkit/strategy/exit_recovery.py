"""Adapter ring: an exit's working orders when they go wrong, and what a restart finds.

Why a module of its own: :mod:`botkit.strategy.exit_manager` decides *what* an exit does
(place natively or emulate, trigger, ratchet, fill); this module keeps it true when its
order's fate is not what was asked — a create-order whose outcome is unknown, a refusal, a
cancel that fails, a crash between two writes — and resumes every exit after a restart.
The rules, each pinned by tests/strategy/test_exit_outcomes.py:

* an order that may rest (``OrderOutcomeUnknown``, ``JournalError``) is kept, never
  doubled by a second exit, and settled on the product's next prints (looked up, or
  re-sent with its id; the exchange deduplicates it), backing off 1 → 30 s;
* an order that will never rest (refused now, or at a restart's re-send) turns a native
  exit into an emulated one, or arms an emulated one again: the position keeps its exit;
  an emulated exit whose triggered order was refused waits before it triggers again
  (1 → 30 s), so a refusal that repeats (funds held by another order, a venue in
  cancel-only) costs one request and one log line per back-off, not one per print;
* a re-price's cancel that fails is sent again on the next prints and at a restart;
* every order is journaled in the exit state, marked as being sent, before the executor
  has it: a restart that finds the mark and no intent places it (it never left);
* fills the fill ledger counted before a kill but the exit state never saw are taken
  when the order's FILLED update comes (:meth:`ExitRecovery._counted_before`).

:class:`ExitRecovery` is a mixin of :class:`~botkit.strategy.exit_manager.ExitManager`
(as :class:`~botkit.strategy.driving.StrategyDriver` is of the context): it owns no state;
the attributes it reads are annotated below and set by ``ExitManager.__init__``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from botkit.errors import BotkitError, JournalError, OrderOutcomeUnknown, OrderRejected
from botkit.market.events import OrderUpdate
from botkit.market.trading_status import TradingStatus
from botkit.orders.intents import Side
from botkit.orders.state import OrderStateMachine, OrderStatus
from botkit.strategy import exit_fills
from botkit.strategy.exits import ExitRecord, ProductLimits
from botkit.strategy.ports import MarketView, OrderSink, PositionLedger

__all__ = [
    "MAYBE_PLACED",
    "RETRY_FIRST",
    "RETRY_MAX",
    "SENDING",
    "TERMINAL",
    "ExitHost",
    "ExitRecovery",
]


class ExitHost(Protocol):
    """What the exits need of their context (:class:`~botkit.strategy.context.BotContext`).

    A protocol rather than an import: the context owns its exit manager, and the manager
    must not import the context back (the architecture test forbids cycles)."""

    name: str
    market: MarketView
    orders: OrderStateMachine
    product_limits: dict[str, ProductLimits]
    _sink: OrderSink
    _new_id: Callable[[], str]
    _monotonic: Callable[[], float]
    ledger: PositionLedger | None
    positions_resumed: bool

    @property
    def log(self) -> logging.Logger: ...

    def position(self, product_id: str) -> Decimal: ...

    def trading_status(self, product_id: str) -> TradingStatus: ...

    async def cancel(self, client_order_id: str) -> bool: ...

    def now(self) -> float: ...

    async def _place(
        self,
        product_id: str,
        side: Side,
        config: dict[str, Any],
        limit: tuple[Decimal, Decimal] | None = None,
        coid: str | None = None,
        extra: dict[str, Any] | None = None,
        exit_order: bool = False,
    ) -> str: ...

    def alias_order(self, order_id: str, alias: str, product_id: str, side: str) -> None: ...

    async def _resolve(self, coid: str) -> str: ...


MAYBE_PLACED = (OrderOutcomeUnknown, JournalError)
"""What a placement raises when its order may rest at the exchange: never a refusal (a
broken journal stops the bot, but nothing may send a second exit before it stops)."""
TERMINAL = frozenset({"FILLED", "CANCELLED", "EXPIRED", "FAILED", "REJECTED"})
"""Order statuses (the wire's) after which nothing more happens to an order."""
RETRY_FIRST = 1.0
"""Seconds before an exit first asks again about an order whose outcome is unknown, or
re-sends a cancel that failed; doubled after each failure up to :data:`RETRY_MAX`."""
RETRY_MAX = 30.0
ATTACHED_GRACE = 5.0
"""Seconds an entry that ended unfilled leaves the venue to report the end of its attached
exit before the bot asks (at the product's next print, or before the next order)."""
_QUEUED = OrderStatus.CANCEL_QUEUED
_SETTLED = TERMINAL | {_QUEUED}
"""An attached exit in one of these no longer counts open: nothing to ask about it."""
SENDING = "sending"
"""``extra`` key: the working order journaled in the exit but perhaps not yet in the
order journal (set before the send, cleared once the executor has it). A restart that
finds it, and no intent for it, knows the order was never sent."""


@dataclass(slots=True)
class _Retry:
    """When to try again (the context's monotonic clock), and the current back-off."""

    exit_id: str
    next_at: float
    delay: float


class ExitRecovery:
    """Failed, unknown and interrupted exit orders, and the restart (see the module).

    Mixed into :class:`~botkit.strategy.exit_manager.ExitManager`, which sets every
    attribute annotated here and provides the bookkeeping methods below.
    """

    # set by ExitManager.__init__ (annotations only: no class attributes at runtime)
    _ctx: ExitHost
    _log: logging.Logger
    records: dict[str, ExitRecord]
    _unsure: dict[str, _Retry]
    """Working orders (client_order_id) whose create-order ended unknown: settled on
    the product's prints (:meth:`_settle`), never doubled by a second exit."""
    _cancel_retry: dict[str, _Retry]
    """Exits (by id) whose cancel failed: re-sent on the product's prints."""
    _cancelling: set[str]
    _rearm_after: dict[str, _Retry]
    """Emulated exits (by id) whose triggered order was refused: not triggered again
    before ``next_at``; the delay doubles while refusals follow each other."""
    _attached_due: dict[str, tuple[ExitRecord, float]]
    """Attached exits (by alias) of entries that ended unfilled, the venue's report of
    their end awaited until the time given (:meth:`_attached_left`)."""

    # provided by ExitManager
    def _save(self) -> None:
        raise NotImplementedError

    def _finish(self, rec: ExitRecord, status: str) -> None:
        raise NotImplementedError

    def _rewatch(self, product_id: str) -> None:
        raise NotImplementedError

    async def _place_native(self, rec: ExitRecord, *, initial: bool = False) -> None:
        raise NotImplementedError

    # -- sending, and what an order's failure does to its exit ------------------------------

    async def _send(
        self, rec: ExitRecord, coid: str, config: dict[str, Any], limit: tuple[Decimal, Decimal]
    ) -> None:
        """Send ``rec``'s working order ``coid``, journaled in the exit state first.

        The exit is saved with the order marked as being sent (:data:`SENDING`), and the
        mark is cleared once the executor has the intent: a restart that finds the mark and
        no intent knows the order never left, and places it (:meth:`resume`).

        Raises: what :meth:`BotContext._place` raises.
        """
        rec.extra[SENDING] = coid
        self._save()
        try:
            await self._ctx._place(
                rec.product_id, rec.side, config, limit, coid=coid, exit_order=True
            )
        except MAYBE_PLACED:
            raise  # the mark stays: a broken journal may not have the intent (resume asks)
        except asyncio.CancelledError:  # the caller gave up (a hook timeout): the placement
            self._unsure_about(rec, coid)  # goes on in its own task; its outcome is settled
            raise
        except BaseException:
            self._sent(rec)
            raise
        self._sent(rec)

    def _unsure_about(self, rec: ExitRecord, coid: str) -> None:
        """``coid``'s create-order ended unknown: it may rest at the exchange. The exit
        keeps it (a second exit could close the position twice) and asks again on the
        product's next prints (:meth:`_settle`) instead of waiting for a restart."""
        self._log.warning(
            "exit %s: its order %s may or may not exist (no answer): asked again on the next "
            "prints of %s", rec.exit_id, coid, rec.product_id,
        )  # fmt: skip
        self._unsure[coid] = _Retry(rec.exit_id, self._ctx._monotonic() + RETRY_FIRST, RETRY_FIRST)
        self._rewatch(rec.product_id)

    def _refused(self, rec: ExitRecord, why: str, *, back_off: bool = True) -> None:
        """``rec``'s working order will never exist (refused, now or at a restart's
        re-send). The position still needs the exit: a native one is emulated from now on,
        an emulated one is armed again; either closes the position on the next print that
        reaches it — for an emulated one refused in this run, once its back-off
        (:meth:`_back_off_trigger`) is over. ``back_off=False``: what a restart found
        (the refusal, or an order that never left, belongs to the run before)."""
        self._unsure.pop(rec.order_coid or "", None)
        if not rec.live:  # cancelled while its order was on its way: nothing to re-arm
            self._log.warning("exit %s: its order was refused (%s) after the exit ended",
                              rec.exit_id, why)  # fmt: skip
            return
        if rec.native:
            self._log.error(
                "exit %s: its order was refused (%s): emulated from now on (needs the bot "
                "running)", rec.exit_id, why,
            )  # fmt: skip
        else:
            wait = f" in {self._back_off_trigger(rec.exit_id):.0f} s" if back_off else ""
            self._log.error("emulated exit %s: its order was refused (%s): armed again%s",
                            rec.exit_id, why, wait)  # fmt: skip
        rec.native, rec.order_coid, rec.status = False, None, "armed"
        rec.extra.pop("replace", None)
        rec.extra.pop(SENDING, None)
        self._cancel_retry.pop(rec.exit_id, None)
        self._save()
        self._rewatch(rec.product_id)

    def _back_off_trigger(self, exit_id: str) -> float:
        """An emulated exit's triggered order was refused: its next trigger waits
        :data:`RETRY_FIRST` seconds, doubled up to :data:`RETRY_MAX` while each refusal
        comes within 2 × :data:`RETRY_MAX` of the last wait's end (a refusal after a quiet
        spell starts over). An accepted order does not reset it: an exit whose orders
        are accepted and then rejected keeps backing off.
        Returns the wait."""
        now = self._ctx._monotonic()
        last = self._rearm_after.get(exit_id)
        recent = last is not None and now - last.next_at < 2 * RETRY_MAX
        delay = min(last.delay * 2, RETRY_MAX) if last is not None and recent else RETRY_FIRST
        self._rearm_after[exit_id] = _Retry(exit_id, now + delay, delay)
        return delay

    def _trigger_waits(self, exit_id: str) -> bool:
        """True while an emulated exit backs off after a refused trigger."""
        wait = self._rearm_after.get(exit_id)
        return wait is not None and self._ctx._monotonic() < wait.next_at

    async def _settle(self, product_id: str) -> None:
        """Ask again what became of the product's exit orders whose outcome is unknown
        (those due: back-off from :data:`RETRY_FIRST` to :data:`RETRY_MAX` seconds).

        Found or accepted at the re-send (same id: the exchange deduplicates) → the exit
        holds with it; refused → :meth:`_refused`; still unknown → later again.
        """
        for coid, retry in list(self._unsure.items()):
            rec = self.records.get(retry.exit_id)
            if rec is None or not rec.live or rec.order_coid != coid:
                del self._unsure[coid]
                continue
            if rec.product_id != product_id or self._ctx._monotonic() < retry.next_at:
                continue
            try:
                await self._ctx._resolve(coid)
            except MAYBE_PLACED:
                retry.delay = min(retry.delay * 2, RETRY_MAX)
                retry.next_at = self._ctx._monotonic() + retry.delay
                continue
            except BotkitError as exc:
                if self._unsure.pop(coid, None) is not None and rec.order_coid == coid:
                    self._refused(rec, str(exc))
                continue
            if self._unsure.pop(coid, None) is not None:
                self._log.warning("exit %s: its order %s exists after all", rec.exit_id, coid)
                self._sent(rec)
        self._rewatch(product_id)

    async def _cancel_for_replace(self, rec: ExitRecord) -> None:
        """Cancel ``rec``'s order for a re-price: its new order follows the CANCELLED
        update (the ``replace`` mark, saved before). A cancel that fails (an error, or
        not accepted) is sent again on the product's next prints, backing off, and at a
        restart: never a re-price stuck behind one lost cancel.

        Raises: what :meth:`BotContext.cancel` raises (after registering the retry).
        """
        coid = rec.order_coid
        assert coid is not None
        order = self._ctx.orders.get(coid)
        if order is not None and order.status is OrderStatus.CANCEL_QUEUED:
            self._cancel_retry.pop(rec.exit_id, None)
            self._rewatch(rec.product_id)
            return  # a cancel is queued already (a second would be refused as a duplicate)
        self._cancelling.add(coid)
        try:
            accepted = await self._ctx.cancel(coid)
        except (BotkitError, asyncio.CancelledError):  # (a hook timeout: sent again too)
            self._cancel_failed(rec)
            raise
        finally:
            self._cancelling.discard(coid)
        if accepted:
            self._cancel_retry.pop(rec.exit_id, None)
            self._rewatch(rec.product_id)
        else:
            self._cancel_failed(rec)

    def _fell_back(self, coid: str) -> bool:
        """``coid`` is live again and not cancel-queued, though a cancel of it was accepted
        and no retry is pending (the state machine allows CANCEL_QUEUED → OPEN)."""
        order = self._ctx.orders.get(coid)
        return order is not None and not order.terminal and order.status is not _QUEUED

    def _cancel_failed(self, rec: ExitRecord, *, fell_back: bool = False) -> None:
        """Send the cancel again on the prints after a back-off. ``fell_back``: the order
        showed OPEN after its cancel was accepted — usually an update older than the
        cancel, arriving late (the CANCELLED one follows): logged at INFO only, and the
        re-send, if the order is still open by then, says so at WARNING."""
        retry = self._cancel_retry.get(rec.exit_id)
        delay = RETRY_FIRST if retry is None else min(retry.delay * 2, RETRY_MAX)
        self._cancel_retry[rec.exit_id] = _Retry(rec.exit_id, self._ctx._monotonic() + delay, delay)
        if fell_back:
            self._log.info(
                "exit %s: its order shows OPEN after its cancel was accepted (a late update?): "
                "the cancel is sent again in %.0f s unless the order ends first",
                rec.exit_id, delay,
            )  # fmt: skip
        else:
            self._log.warning(
                "exit %s: the cancel of its order for a re-price failed: sent again in %.0f s",
                rec.exit_id, delay,
            )  # fmt: skip
        self._rewatch(rec.product_id)

    async def _retry_cancel(self, rec: ExitRecord) -> None:
        """Re-send a re-price's failed cancel once it is due (see :meth:`_cancel_for_replace`)."""
        retry = self._cancel_retry.get(rec.exit_id)
        coid = rec.order_coid
        if retry is None or coid is None or coid in self._cancelling:
            return
        order = self._ctx.orders.get(coid)
        if order is None or order.terminal or order.status is OrderStatus.CANCEL_QUEUED:
            self._cancel_retry.pop(rec.exit_id, None)  # it ended, or its cancel went
            self._rewatch(rec.product_id)
            return
        if self._ctx._monotonic() >= retry.next_at:
            self._log.warning("exit %s: sending the cancel of %s again", rec.exit_id, coid)
            await self._cancel_for_replace(rec)

    # -- start-up ----------------------------------------------------------------------------

    def _counted_before(self, rec: ExitRecord, coid: str, update: OrderUpdate) -> bool:
        """The exit's order FILLED, and the fill ledger already counted all of it though
        the exit did not: a run killed between the ledger's commit of a fill and the exit
        state's save. Those fills will not come again (they are counted), so the exit
        takes them now and closes if they close it; it stayed "triggered" for a whole run
        (found by an exits QA pass). Returns whether the exit is done."""
        ledger = self._ctx.ledger
        if ledger is None or not update.order_id:
            return False
        mark = ledger.mark(update.order_id)
        final = update.cumulative_quantity
        if mark is None or mark.cumulative_quantity < final:
            return False  # its fills are still to come (the usual order: update, then fills)
        before = exit_fills.applied(rec.extra, coid)
        if before is None or before >= final:
            return False  # an older record (it cannot tell what it had), or it has them all
        rec.filled += final - before
        exit_fills.counted(rec.extra, coid, final)
        self._log.warning(
            "exit %s: its order %s filled %s, %s of it counted before the last stop but "
            "not by the exit: taken now", rec.exit_id, coid, final, final - before,
        )  # fmt: skip
        if rec.remaining <= 0:
            rec.extra.pop("replace", None)
            self._finish(rec, "done")
            return True
        self._save()
        return False

    def attached_aliases(self) -> dict[str, str]:
        """Order id → alias of every live entry's attached exit the venue created (they
        have no client_order_id; the alias routes their updates and fills here)."""
        out: dict[str, str] = {}
        for rec in self.records.values():
            attached = str(rec.extra.get("attached_order_id") or "")
            if attached and rec.order_coid is not None:
                out[attached] = rec.order_coid
        return out

    async def resume(self, known: Callable[[str], bool]) -> None:
        """After a restart: a native exit whose cancel/replace was interrupted gets its new
        order; one whose order the exchange no longer lists open is closed with a warning.

        ``known(coid)``: the order is open (adopted by the start-up reconciliation).
        """
        for rec in list(self.records.values()):
            try:
                await self._resume_one(rec, known)
            except BotkitError as exc:  # a routine failure must not stop the start
                self._log.error("exit %s: resuming it failed (%s): retried on the next "
                                "prints", rec.exit_id, exc)  # fmt: skip
            except Exception:  # a bug in one exit must not keep every start from running
                self._log.exception(
                    "exit %s (%s %s): resuming it failed: it is left as saved; check it "
                    "(ctx.open_exits) and the position", rec.exit_id, rec.kind, rec.product_id,
                )  # fmt: skip

    async def _resume_one(self, rec: ExitRecord, known: Callable[[str], bool]) -> None:
        if rec.kind == "entry" and rec.live:
            await self._resume_entry(rec, known)
            return
        if rec.status not in ("armed", "triggered"):
            return
        coid = rec.order_coid
        if rec.extra.get("cancel"):  # cancel_exit's cancel had not gone through
            if coid is not None and known(coid):
                await self._cancel_for_replace(rec)  # again; the exit ends with its order
            else:
                self._log.warning(
                    "exit %s (%s %s): being cancelled, its order %s is no longer open "
                    "(cancelled, or filled while the bot was down): exit closed; check the "
                    "position", rec.exit_id, rec.kind, rec.product_id, coid,
                )  # fmt: skip
                self._finish(rec, "cancelled")
            return
        if coid is not None and known(coid):
            self._sent(rec)  # it reached the exchange
            if rec.native and "replace" in rec.extra:  # the crash came before its cancel went
                self._log.warning("exit %s: completing its interrupted re-price", rec.exit_id)
                await self._cancel_for_replace(rec)
            return
        if rec.native and (
            rec.extra.pop("replace", None)
            or (coid is None and rec.trailing is not None and rec.trailing.stop is not None)
        ):  # its old order ended while the bot was down, or an activation's order never went
            self._log.warning("exit %s: re-placing its order after a restart", rec.exit_id)
            await self._place_native(rec)
            return
        if coid is None:
            return  # armed and watched (emulated), or a trailing stop not active yet
        fate = await self._fate(coid, sending=rec.extra.get(SENDING) == coid)
        if fate != "never sent":
            self._sent(rec)  # the executor had it: the mark must not outlive its intent
        if fate == "never sent" and rec.native:
            self._log.warning("exit %s: its order was never sent: placing it now", rec.exit_id)
            rec.extra.pop(SENDING, None)
            await self._place_native(rec)
        elif fate == "never sent" or fate.startswith("refused"):
            self._refused(rec, fate, back_off=False)  # native: emulated; emulated: armed again
        elif fate == "unknown":
            self._unsure_about(rec, coid)
        else:  # placed, and neither open nor read back with fills: it ended while down
            self._log.warning(
                "exit %s (%s %s): its order %s is no longer open at the exchange (filled or "
                "cancelled while the bot was down): exit closed; check the position",
                rec.exit_id, rec.kind, rec.product_id, coid,
            )  # fmt: skip
            self._finish(rec, "done")

    def _sent(self, rec: ExitRecord) -> None:
        """The executor has ``rec``'s order: drop the being-sent mark (see :meth:`_send`).
        Left behind, it would read as "never sent" once the intent is pruned."""
        if rec.extra.pop(SENDING, None) is not None:
            self._save()

    async def _fate(self, coid: str, *, sending: bool) -> str:
        """What the order journal says of an exit's order the exchange does not list as
        open: ``ended`` (placed, then filled or cancelled while the bot was down, or the
        journal cannot tell), ``never sent`` (no intent, and the exit marked it as being
        sent: the crash came before the executor had it), ``refused: ...`` or ``unknown``.

        Asks the sink without touching the order's state (a placed order found here is
        not open). An intent pruned from the journal long ago reads as ``ended``: only
        the sending mark, cleared right after every send, makes a missing intent mean
        "never sent"."""
        resolve = getattr(self._ctx._sink, "resolve", None)
        if resolve is None:
            return "ended"
        try:
            await resolve(coid)
        except KeyError:
            return "never sent" if sending else "ended"
        except MAYBE_PLACED:
            return "unknown"
        except OrderRejected as exc:
            return f"refused: {exc}"
        except BotkitError as exc:
            return f"refused: {exc}"
        return "ended"

    def _attached_left(self, rec: ExitRecord) -> None:
        """An entry ended with nothing filled: the exit the venue attached to it protects
        nothing, and must not stay one of this run's open orders.

        Why: whether the venue reports the end of an attached exit whose entry was
        cancelled is not in the reference; if it does not, the exit stayed PENDING for
        the whole run, counted against ``max_open_orders`` (a restart healed it, by its
        fill-ledger mark). The venue's report is awaited :data:`ATTACHED_GRACE` seconds
        (no request when it comes, as it does from the simulator), then the product's next
        print, or the next order, asks (:meth:`_check_attached`).
        """
        alias = rec.order_coid
        if rec.extra.get("attached_order_id") and alias is not None:
            self._attached_due[alias] = (rec, self._ctx._monotonic() + ATTACHED_GRACE)

    def _attached_reported(self, coid: str, status: str) -> None:
        """The venue reported the end (or the cancel) of an attached exit that was awaited:
        nothing to ask, and the product need not be watched for it (a review)."""
        if status in _SETTLED and coid in self._attached_due:
            rec, _ = self._attached_due.pop(coid)
            self._rewatch(rec.product_id)

    async def settle_attached(self) -> None:
        """Ask about every due attached exit (:meth:`_check_attached`), whatever its
        product: before an order is risk-checked, so one whose end is never reported
        cannot hold a slot of ``max_open_orders`` on a product without prints (a review)."""
        for product_id in {rec.product_id for rec, _ in self._attached_due.values()}:
            await self._check_attached(product_id)

    async def _check_attached(self, product_id: str) -> None:
        """Ask about the due attached exits of ``product_id`` whose end was not reported:
        ended or being cancelled at the venue → so here; still working there → cancelled
        (its entry bought nothing, so there is nothing for it to sell), and a cancel the
        venue refuses (it ended meanwhile) asks once more; the lookup failing → kept, and
        said (a restart asks again). The product's watch follows what is left."""
        now = self._ctx._monotonic()
        for alias, (rec, due) in list(self._attached_due.items()):
            if rec.product_id != product_id or now < due:
                continue
            del self._attached_due[alias]
            state = self._ctx.orders.get(alias)
            if state is not None and state.status not in _SETTLED:
                await self._attached_ask(rec, alias)
        self._rewatch(product_id)

    async def _attached_ask(self, rec: ExitRecord, alias: str) -> None:
        """:meth:`_check_attached` for one exit."""
        attached = str(rec.extra.get("attached_order_id") or "")
        ctx = self._ctx
        status = await self._attached_status(rec, attached)
        if status is None or self._attached_apply(alias, attached, *status):
            return
        try:
            if await ctx.cancel(alias):
                return
        except BotkitError as exc:
            self._log.warning(
                "exit %s: its entry ended unfilled but its attached exit %s is %s at the "
                "venue, and its cancel failed (%s): cancel it at the venue by its order id "
                "(cancel-all leaves exits alone)", rec.exit_id, attached, status[0], exc,
            )  # fmt: skip
            return
        status = await self._attached_status(rec, attached)  # refused: it ended meanwhile?
        if status is not None and not self._attached_apply(alias, attached, *status):
            self._log.warning(
                "exit %s: its entry ended unfilled but its attached exit %s is still %s at "
                "the venue, which refused its cancel: it stays listed open until the venue "
                "reports its end", rec.exit_id, attached, status[0],
            )  # fmt: skip

    async def _attached_status(self, rec: ExitRecord, attached: str) -> tuple[str, Decimal] | None:
        """(status, filled) of the attached exit at the venue; None (said) if not known."""
        lookup = getattr(self._ctx._sink, "order", None)
        if lookup is None:
            return None
        try:
            order = await lookup(attached)
        except BotkitError as exc:
            self._log.warning(
                "exit %s: its entry ended unfilled and the lookup of its attached exit %s "
                "failed (%s): it stays listed open until the venue reports its end or a "
                "restart asks about it", rec.exit_id, attached, exc,
            )  # fmt: skip
            return None
        return str(order.status), order.filled_size

    def _attached_apply(self, alias: str, attached: str, status: str, filled: Decimal) -> bool:
        """Take the venue's word on an attached exit ended or being cancelled there (so
        no longer counted open); False if it still works there."""
        if status not in _SETTLED:
            return False
        ctx = self._ctx
        ctx.orders.apply(
            status, client_order_id=alias, order_id=attached, filled_size=filled,
            now=ctx.now(), source="lookup",
        )  # fmt: skip
        if status in TERMINAL and ctx.ledger is not None:  # its mark: not asked about again
            ctx.ledger.finished(attached, status, filled)
        return True

    async def _resume_entry(self, rec: ExitRecord, known: Callable[[str], bool]) -> None:
        """An entry's exits after a restart.

        Attached (the venue's own exit, without a client_order_id, so reconciliation cannot
        adopt it): looked up by its order id and followed again while it is open. Not
        attached and still pending: the entry's own updates arm them, if the entry is still
        open; one that finished while the bot was down is reported, not guessed at.
        """
        attached = str(rec.extra.get("attached_order_id") or "")
        if attached and rec.order_coid is not None:
            lookup = getattr(self._ctx._sink, "order", None)
            order = None
            if lookup is not None:
                try:
                    order = await lookup(attached)
                except BotkitError as exc:
                    self._log.warning("exit %s: attached order lookup failed: %s", rec.exit_id, exc)
            if order is None or order.status not in TERMINAL:
                self._ctx.alias_order(attached, rec.order_coid, rec.product_id, rec.side)
                return
            self._log.warning(
                "exit %s: the attached exit %s ended %s (filled %s) while the bot was down: "
                "check the position", rec.exit_id, attached, order.status, order.filled_size,
            )  # fmt: skip
            self._finish(rec, "done")
            return
        if rec.status == "pending" and rec.entry_coid is not None and not known(rec.entry_coid):
            self._log.warning(
                "entry %s of exit %s finished while the bot was down: its exits were not "
                "armed. Fix: arm them for the position with ctx.bracket/stop_loss(side=...)",
                rec.entry_coid, rec.exit_id,
            )  # fmt: skip
            self._finish(rec, "cancelled")
