"""Adapter ring: which exits the exit manager keeps in memory, and which a print looks at.

Why a module of its own: bots run unattended for weeks, and a strategy that arms a bracket
on every entry arms thousands of exits a day. Every exit ever armed used to stay in
``ExitManager.records`` and ``by_coid`` (done and cancelled ones too: only live exits are
journaled, but nothing left memory), and every print of a watched product looked at all of
them: memory grew without bound and each print got slower, which only a soak of days
showed. The rule:

* **A print looks at live exits only.** The live exits of each product are indexed apart
  (:meth:`ExitRetention._live_of`): the prints, a fill's sizing check and the watch set cost
  what the product's live exits cost, whatever the history.
* **A finished exit is kept while anything can still reach it**, and released after that
  (:meth:`ExitRetention._settled`): none of its ended orders still owes late fills
  (:func:`~botkit.strategy.exit_fills.owed_orders`), no cancel of its order is in flight,
  and its working order is over — terminal in the context's order book with every fill the
  order reported counted by the exit, or no longer followed there (the order book releases
  finished orders after minutes; its late fills still reach the position, not the exit).
  Why the order book: an exit ends before its order does (``cancel_exit`` ends it when the
  cancel is accepted; an attached exit's CANCELLED update comes before the fills it
  includes), and the fills that follow are still the exit's (events, the stop-loss
  cooldown).
* **The last** :data:`KEEP_FINISHED` **finished exits stay for inspection**
  (``ExitManager.keep_finished``) in any case: ``ctx.cancel_exit`` of one returns False.
  So it does of the last :data:`_REMEMBER_RELEASED` released (their ids are remembered: a strategy
  that cancels its exits late, e.g. in ``on_stop``, must not raise in a hook);
  ``replace_exit`` of one says ``EXIT_NOT_REPLACEABLE``. Older ones are unknown
  (``EXIT_UNKNOWN``), as every finished exit was after a restart (only live exits are
  journaled).
* **An exit routes only the orders that can still reach it** (``by_coid``): its entry, its
  working order, its ended orders that owe late fills. An earlier order that owes nothing
  leaves when the next one is routed: a trailing stop re-priced for weeks routes its
  working order, not thousands; a released exit routes none.

Memory is then the live exits, :data:`KEEP_FINISHED` finished ones, and those waiting for
their orders' last fills (few: fills come with their order's last update), looked at again
each time as many more wait (amortised over the exits that finish, not paid per print).

:class:`ExitRetention` is a mixin of :class:`~botkit.strategy.exit_manager.ExitManager`, as
:class:`~botkit.strategy.exit_recovery.ExitRecovery` is: the attributes it reads are
annotated below; its own are set by :meth:`ExitRetention._init_retention`.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from botkit.strategy import exit_fills
from botkit.strategy.exit_recovery import ExitHost, _Retry
from botkit.strategy.exits import ExitRecord

__all__ = ["KEEP_FINISHED", "ExitRetention"]

KEEP_FINISHED = 1000
"""Finished exits kept for inspection (the most recent), once nothing can reach them."""
_REMEMBER_RELEASED = 4096
"""Ids of released exits remembered (the most recent): ``cancel_exit`` of one returns False,
as of a finished exit kept; older ones are unknown (``EXIT_UNKNOWN``)."""
_RECHECK = 64
"""Finished exits waiting for their orders: looked at again once this many (or twice as
many as the last time) wait."""


class ExitRetention:
    """Live exits indexed per product; finished ones released (see the module)."""

    # set by ExitManager.__init__ (annotations only: no class attributes at runtime)
    _ctx: ExitHost
    records: dict[str, ExitRecord]
    by_coid: dict[str, str]
    _unsure: dict[str, _Retry]
    _cancel_retry: dict[str, _Retry]
    _cancelling: set[str]
    _rearm_after: dict[str, _Retry]
    _oversized: dict[str, tuple[Decimal, float, float]]
    _too_big: dict[str, float]
    _resumed: set[str]

    def _init_retention(self) -> None:
        self.keep_finished = KEEP_FINISHED
        """How many finished exits are kept for inspection (the most recent)."""
        self._live: dict[str, dict[str, ExitRecord]] = {}  # product -> live exits, oldest first
        self._all_live: dict[str, ExitRecord] = {}  # every product's, oldest first
        self._forgotten: dict[str, None] = {}  # released exit ids, the last _REMEMBER_RELEASED
        self._routes: dict[str, set[str]] = {}  # exit id -> its client_order_ids in by_coid
        self._ended: deque[str] = deque()  # finished exits kept, oldest first
        self._waiting: dict[str, None] = {}  # finished beyond those, not releasable yet
        self._recheck_at = _RECHECK

    def _hold(self, rec: ExitRecord) -> None:
        """Keep ``rec`` (a new exit, or one with a new order): among the records, its
        product's live exits, and routed by its orders' ids."""
        self.records[rec.exit_id] = rec
        if rec.live:
            self._live.setdefault(rec.product_id, {})[rec.exit_id] = rec
            self._all_live[rec.exit_id] = rec
        self._route(rec)

    def _live_all(self) -> list[ExitRecord]:
        """Every live exit, oldest first (what is journaled, ``ctx.open_exits()``): the
        live ones' cost, whatever the history; those that ended since leave the index."""
        every = self._all_live
        for exit_id in [i for i, rec in every.items() if not rec.live]:
            del every[exit_id]
        return list(every.values())

    def forgotten(self, exit_id: str) -> bool:
        """Whether ``exit_id`` is an exit that finished and was released lately."""
        return exit_id in self._forgotten

    def _route(self, rec: ExitRecord) -> None:
        """``by_coid`` for ``rec``: its entry, its working order, and its ended orders whose
        late fills are still to come (after a restart too: they come back); an earlier
        order that owes nothing (and is not being settled or cancelled) leaves."""
        want = {c for c in (rec.entry_coid, rec.order_coid, *exit_fills.owed_orders(rec.extra))
                if c}  # fmt: skip
        routed = self._routes.get(rec.exit_id, set())
        want |= {c for c in routed if c in self._unsure or c in self._cancelling}
        for coid in routed - want:
            if self.by_coid.get(coid) == rec.exit_id:
                del self.by_coid[coid]
        for coid in want:
            self.by_coid[coid] = rec.exit_id
        self._routes[rec.exit_id] = want

    def _live_of(self, product_id: str) -> list[ExitRecord]:
        """The live exits of ``product_id``, oldest first. Those that ended since the last
        look leave the index, and are released once nothing can reach them."""
        held = self._live.get(product_id)
        if held is None:
            return []
        ended = [exit_id for exit_id, rec in held.items() if not rec.live]
        for exit_id in ended:
            del held[exit_id]
        if not held:
            del self._live[product_id]
        if ended:
            self._ended.extend(ended)
            self._retire()
        return list(held.values())

    def _retire(self) -> None:
        """Release the finished exits beyond the last :attr:`keep_finished` that nothing can
        reach any more; the others wait, looked at again once many more wait."""
        ended, waiting = self._ended, self._waiting
        while len(ended) > self.keep_finished:
            exit_id = ended.popleft()
            rec = self.records.get(exit_id)
            if rec is None or self._settled(rec):
                self._release(exit_id)
            else:
                waiting[exit_id] = None
        if len(waiting) >= self._recheck_at:
            for exit_id in list(waiting):
                rec = self.records.get(exit_id)
                if rec is None or self._settled(rec):
                    del waiting[exit_id]
                    self._release(exit_id)
            self._recheck_at = max(_RECHECK, 2 * len(waiting))

    def _settled(self, rec: ExitRecord) -> bool:
        """Whether nothing can reach the finished exit ``rec`` any more: no late fills
        owed, no cancel in flight, and its working order over with all its fills counted
        (or no longer followed by the context's order book)."""
        if rec.live or exit_fills.owed_orders(rec.extra):
            return False
        coid = rec.order_coid
        if coid is None:
            return True
        if coid in self._cancelling:
            return False
        order = self._ctx.orders.get(coid)
        if order is None:
            return True  # never followed, or released by the order book
        if not order.terminal:
            return False  # its cancel was accepted, not done: it may still fill
        seen = exit_fills.applied(rec.extra, coid)
        # an attached exit (its order's fills are all the exit's), or a record an older
        # botkit saved, has no per-order count: what the exit filled stands for it
        return order.filled_size <= (rec.filled if seen is None else seen)

    def _release(self, exit_id: str) -> None:
        """Forget the exit ``exit_id``: its record, its routes, what waits on it."""
        rec = self.records.pop(exit_id, None)
        self._all_live.pop(exit_id, None)
        forgotten = self._forgotten
        forgotten[exit_id] = None
        while len(forgotten) > _REMEMBER_RELEASED:
            del forgotten[next(iter(forgotten))]
        if rec is not None:
            held = self._live.get(rec.product_id)
            if held is not None and held.pop(exit_id, None) is not None and not held:
                del self._live[rec.product_id]
        for coid in self._routes.pop(exit_id, ()):
            if self.by_coid.get(coid) == exit_id:
                del self.by_coid[coid]
        for kept in (self._cancel_retry, self._rearm_after, self._oversized, self._too_big):
            kept.pop(exit_id, None)
        self._resumed.discard(exit_id)
