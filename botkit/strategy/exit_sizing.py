"""Adapter ring: an exit of the strategy's counted position sells no more than it holds.

Why a module of its own: an exit is sized when it is armed, and the position it protects
can shrink another way afterwards — the strategy's own ``ctx.sell_market``, another exit
that filled. Sent (or left resting) at its armed size, the exit sells coins the strategy
no longer holds: the account's other coins, or a short. Two moments need the position:

* an **emulated** exit, when a print triggers it: its order is sized to the position, or
  nothing is sent (:meth:`ExitSizing._fit_to_position`);
* a **native** exit rests at the exchange at its armed size, so it is checked at every
  counted fill and every print of its product (:meth:`ExitSizing.fit_native`; the exit
  manager watches the product while one is live), and acted on once it has sold more than
  is held for :data:`SETTLE_SECONDS`: the position flat or the other way (or below the product's
  minimum size) → the exit is cancelled as ``ctx.cancel_exit`` would; only smaller → it is
  re-sized as a native trailing stop is re-priced (cancel, then the new order once the
  cancel is confirmed), except an exit Coinbase attached to an entry, which cannot be
  placed again (logged, left as it is). Each says so at WARNING.

Only exits of the position the strategy counts (``counted``: armed without ``side=``, or an
entry's), and only while that position is known: this run's fills, or the fill ledger's
once restored (``ctx.positions_resumed``) for an exit resumed from the exit state.

The exit's own fills never trip it: they lower the position and what the exit still has to
sell alike (both are counted in the same dispatch of the fill; an order that ended with fills
still on their way owes them to both). What it cannot tell apart is skipped, not guessed at:
an order whose outcome is unknown, one that ended (its fills follow), one whose cancel is in
flight, and one of which the fill ledger counted more than the exit did (a kill between the
two writes; :meth:`~botkit.strategy.exit_recovery.ExitRecovery._counted_before`).

:class:`ExitSizing` is a mixin of :class:`~botkit.strategy.exit_manager.ExitManager`, like
:class:`~botkit.strategy.exit_recovery.ExitRecovery`: it owns no state; the attributes it
reads are annotated below and set by ``ExitManager.__init__``.
"""

from __future__ import annotations

import contextlib
import logging
from decimal import Decimal

from botkit.errors import BotkitError
from botkit.orders.state import OrderStatus
from botkit.strategy import exit_fills
from botkit.strategy.exit_recovery import RETRY_FIRST, RETRY_MAX, ExitHost
from botkit.strategy.exits import ExitRecord, ProductLimits, position_left

__all__ = ["SETTLE_SECONDS", "ExitSizing", "sized_by_position"]

SETTLE_SECONDS = 60.0
"""How long a native exit must be found selling more than is held before it is cancelled or
re-sized. Why: a cancel cannot be undone, and the position can be low for a moment that
passes — an entry's FILLED update before its fill (a read-back whose REST fills lag, a
restart between the two writes), one frame's SELL fill applied before its BUY. A manual
close stays closed; those do not. A minute: a read-back whose REST fills lag asks again
after 1, 2, 4, 8, 16 s... (resume.ReadBackInRun), and the stop must outlast that."""


def sized_by_position(rec: ExitRecord) -> bool:
    """Whether ``rec`` is a native exit of the counted position with an order that may
    rest at the exchange (or, a trailing stop not active yet, will): checked on prints."""
    return (
        rec.native
        and rec.status in ("armed", "triggered")
        and (bool(rec.extra.get("counted")) or rec.kind == "entry")
    )


class ExitSizing:
    """Exits sized to the strategy's position (see the module)."""

    # set by ExitManager.__init__ (annotations only: no class attributes at runtime)
    _ctx: ExitHost
    _log: logging.Logger
    records: dict[str, ExitRecord]
    _resumed: set[str]
    _too_big: dict[str, float]
    """Native exits (by id) found selling more than held, since when (monotonic): acted on
    once :data:`SETTLE_SECONDS` passed with it so."""
    _oversized: dict[str, tuple[Decimal, float, float]]
    """Native exits (by id) found selling more than held: the position last warned about,
    and when (the context's monotonic clock) a failed cancel is tried again, with its
    back-off (one WARNING per position, one request per back-off, not one per print)."""

    # provided by ExitManager / ExitRecovery / ExitRetention
    def _live_of(self, product_id: str) -> list[ExitRecord]:
        raise NotImplementedError

    def limits(self, product_id: str) -> ProductLimits | None:
        raise NotImplementedError

    def _left(self, rec: ExitRecord) -> Decimal:
        raise NotImplementedError

    def last_price(self, product_id: str) -> Decimal:
        raise NotImplementedError

    def _save(self) -> None:
        raise NotImplementedError

    def _finish(self, rec: ExitRecord, status: str) -> None:
        raise NotImplementedError

    async def cancel(self, exit_id: str) -> bool:
        raise NotImplementedError

    async def _cancel_for_replace(self, rec: ExitRecord) -> None:
        raise NotImplementedError

    def _known(self, rec: ExitRecord) -> bool:
        """Whether the position of ``rec`` is known: counted in this run, or a resumed
        exit once the ledger's positions were restored (it would see zero before)."""
        return rec.exit_id not in self._resumed or self._ctx.positions_resumed

    def _dust(self, product_id: str, can: Decimal) -> bool:
        """Less than an order of the product can carry: its minimum size or order value
        (an exit re-sized below it is refused, re-armed and refused again, for ever)."""
        rules = self.limits(product_id)
        if rules is None:
            return False
        if can < rules.base_min_size:
            return True
        if rules.quote_min_size and can > 0:
            try:
                return can * self.last_price(product_id) < rules.quote_min_size
            except BotkitError:  # no price yet: the size alone
                return False
        return False

    def _fit_to_position(self, rec: ExitRecord, price: Decimal) -> bool:
        """Size a triggering exit to the strategy's position (:func:`position_left`); False:
        none left (or less than the product's minimum size), closed unsent. Only ``counted``
        exits (no ``side=``, or an entry's) whose position is known: this run's, a ledger's."""
        if not rec.extra.get("counted") or not self._known(rec):
            return True
        left = self._left(rec)
        can = position_left(rec.position, self._ctx.position(rec.product_id))
        if can >= left:
            return True
        dust = self._dust(rec.product_id, can)
        self._log.warning(
            "emulated exit %s (%s %s) triggered by a print at %s, but the strategy holds only "
            "%s of the %s it was armed for (closed another way): %s", rec.exit_id, rec.kind,
            rec.product_id, price, can, left, "closed, nothing sent" if can <= 0 or dust
            else f"it closes {can}",
        )  # fmt: skip
        if can <= 0 or dust:
            self._finish(rec, "done")
            return False
        rec.size -= left - can
        return True

    async def fit_native(self, product_id: str) -> None:
        """A fill or print of ``product_id``: every native exit of the counted position that would
        sell more than the strategy now holds is cancelled (nothing, or dust, left in its
        direction) or re-sized (less left). Failures are logged and tried again later."""
        for kept in (self._oversized, self._too_big):  # forget exits that ended
            for gone in [i for i in kept if i not in self.records or not self.records[i].live]:
                del kept[gone]
        held = self._ctx.position(product_id)
        now = self._ctx._monotonic()
        for rec in self._live_of(product_id):
            if not sized_by_position(rec):
                continue
            can = position_left(rec.position, held)
            need = rec.remaining  # its late fills still due count in the position too
            if need <= can:
                self._too_big.pop(rec.exit_id, None)
                continue
            if not self._judged(rec):
                continue
            if now - self._too_big.setdefault(rec.exit_id, now) < SETTLE_SECONDS:
                continue  # a fill may still be on its way: see SETTLE_SECONDS
            try:
                await self._fit_one(rec, can, need, held)
            except BotkitError as exc:  # a cancel that failed: again after a back-off
                _, _, delay = self._oversized.get(rec.exit_id, (can, 0.0, RETRY_FIRST / 2))
                delay = min(delay * 2, RETRY_MAX)
                self._oversized[rec.exit_id] = (can, self._ctx._monotonic() + delay, delay)
                self._log.warning(
                    "exit %s: its cancel failed (%s): tried again in %.0f s", rec.exit_id,
                    exc, delay,
                )  # fmt: skip

    def _judged(self, rec: ExitRecord) -> bool:
        """Whether what ``rec`` still sells can be compared with the position now."""
        if "cancel" in rec.extra or not self._known(rec):
            return False  # being cancelled already; a position not restored yet
        if rec.kind == "entry" and not rec.extra.get("attached_order_id"):
            return False  # the attached exit's id is not known yet: nothing to cancel
        wait = self._oversized.get(rec.exit_id)
        if wait is not None and self._ctx._monotonic() < wait[1]:
            return False  # a failed cancel's back-off
        coid = rec.order_coid
        if coid is None:
            return True  # a native trailing stop not active yet: nothing rests
        order = self._ctx.orders.get(coid)
        if order is None or order.terminal or order.status is OrderStatus.PENDING:
            # not followed (yet); ended (its update came, its fills follow); or not known
            # to rest yet (an outcome unknown, settled on the prints; adopted, no update)
            return False
        ledger = self._ctx.ledger
        order_id = str(rec.extra.get("attached_order_id") or "") or order.order_id
        mark = ledger.mark(order_id) if ledger is not None and order_id else None
        seen = exit_fills.applied(rec.extra, coid)
        # the ledger counted fills of it that the exit did not (a kill between the writes):
        # the position is lower by them, the exit not yet; they come in with its end
        return mark is None or seen is None or mark.cumulative_quantity <= seen

    async def _fit_one(self, rec: ExitRecord, can: Decimal, need: Decimal, held: Decimal) -> None:
        """``rec`` would sell ``need``; the strategy holds ``can`` in its direction (its
        position: ``held``)."""
        dust = can > 0 and self._dust(rec.product_id, can)
        warned = self._oversized.get(rec.exit_id)
        what = (
            f"native exit {rec.exit_id} ({rec.kind} {rec.product_id}, {rec.position}) would "
            f"still {rec.side} {need}, more than the strategy's position ({held}): closed "
            "another way (a fill not of this exit)"
        )
        if can <= 0 or dust:
            small = " (less than the product's minimum size)" if dust else ""
            self._log.warning("%s%s: cancelled", what, small)
            await self.cancel(rec.exit_id)
            self._oversized.pop(rec.exit_id, None)
            return
        if rec.kind == "entry":  # the venue's exit attached to the entry: never placed again
            if warned is None or warned[0] != can:
                self._log.warning(
                    "%s: not re-sized (an exit attached to its entry cannot be placed again): "
                    "it can sell %s more than held. Fix: ctx.cancel_exit it and arm "
                    "ctx.bracket for the position", what, need - can,
                )  # fmt: skip
                self._oversized[rec.exit_id] = (can, 0.0, RETRY_FIRST / 2)
            return
        self._log.warning("%s: re-sized to %s (cancel, then the new order)", what, can)
        rec.size -= need - can
        self._oversized.pop(rec.exit_id, None)
        if rec.order_coid is None or rec.extra.get("replace"):
            self._save()  # not active yet, or a re-price in flight: its next order is smaller
            return
        rec.extra["replace"] = True
        self._save()
        with contextlib.suppress(BotkitError):  # logged, and sent again on the next prints
            await self._cancel_for_replace(rec)
