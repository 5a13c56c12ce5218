"""Adapter ring: a restarted bot resumes its positions, and counts the fills it missed.

Two steps at start-up, both before the strategy's ``on_start``:

1. :func:`resume_positions` — the strategy context and the risk engine start from the
   fill ledger's positions (and the risk engine from the PnL it realised earlier in the
   same UTC day), not from zero.
2. :func:`read_back_fills` — orders can fill while the bot is down. Every order the
   bot had working when it stopped has an unfinished mark in the ledger (an order gets
   one when the exchange answers its placement, or with its first update), however old;
   with the orders reconciliation lists, each is asked about, and each one filled beyond
   its counted mark has its fills read back from REST through the fill tracker, which
   applies the same high-water-mark rule as a live replay: only the uncounted part
   becomes a fill. The strategy gets the order's update and then the fill, as it would
   have live.

   An order whose POST was in flight at the stop (no answer, no update) has its intent
   still PENDING in the order journal; the executor resolves it first at start-up, and
   gives each one the exchange has its mark *before* journalling it PLACED
   (``OrderExecutor.on_placed``), so it is asked about like any other, however long the
   bot was down (a power cut overnight).

The same read-back runs in a run (:class:`ReadBackInRun`) after every ``user`` channel
(re)subscription: its snapshot lists open orders only, so what the working orders became
while the channel was down (filled, cancelled) is asked about the same way; the working
orders the snapshot lists are taken as listed, without a lookup each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from botkit.errors import BotkitError, NotFound
from botkit.market.events import FillEvent, OrderUpdate
from botkit.orders.fills import TERMINAL_STATUSES, FillTracker, OrderHwm
from botkit.orders.ledger import FillLedger
from botkit.orders.model import Order
from botkit.orders.types import ExchangeOrder, PlacedOrder, ReconcileReport
from botkit.risk.gate import RiskGate
from botkit.strategy.context import BotContext

__all__ = [
    "Backfill",
    "Lookup",
    "ReadBackInRun",
    "mark_placed",
    "read_back_fills",
    "resume_positions",
]

log = logging.getLogger("botkit.runtime.bot")
_ZERO = Decimal(0)

Backfill = Callable[[Sequence[str]], Awaitable[Sequence[Any]]]
"""A venue client's ``backfill_fills``: REST fills of the given order ids."""
Lookup = Callable[[str], Awaitable[Order]]
"""A venue client's ``get_order``: one order by id (``NotFound`` when the venue has none)."""


def mark_placed(ledger: FillLedger, placed: PlacedOrder) -> None:
    """The executor's ``on_placed`` in a bot: the order's mark at zero (unless it has one),
    written before its intent is journalled PLACED, so every order the exchange has is
    asked about at a restart, however long the bot was down."""
    ledger.opened(placed.order_id, placed.client_order_id, placed.product_id, placed.side, "OPEN")


def resume_positions(ctx: BotContext, gate: RiskGate | None, ledger: FillLedger) -> None:
    """Start the context's and the risk engine's positions from the ledger."""
    positions = ledger.positions()
    for product_id, position in positions.items():
        ctx.positions.restore(product_id, position)
    ctx.positions_resumed = True
    today = ledger.today()
    if gate is not None and (positions or today is not None):  # a new ledger changes nothing
        gate.engine.restore(positions, today)
    held = {pid: p.quantity for pid, p in positions.items() if p.quantity}
    if held:
        log.info(
            "positions resumed from %s: %s",
            ledger.path,
            ", ".join(f"{pid} {qty}" for pid, qty in sorted(held.items())),
        )


async def read_back_fills(
    recon: ReconcileReport,
    ledger: FillLedger,
    tracker: FillTracker,
    backfill: Backfill,
    lookup: Lookup,
    aliases: Mapping[str, str] | None = None,
    when: tuple[str, str] = ("start-up", "the bot was down"),
    lagging: list[str] | None = None,
) -> list[OrderUpdate | FillEvent]:
    """Order updates and fills that happened while the bot was down, for the strategy.

    The orders asked about: botkit's orders reconciliation listed (open, or created within
    its window), the entries' attached exits it listed (under their exit's alias,
    ``aliases``: order id → alias), and every order whose mark is unfinished — working
    when the bot stopped, however old — looked up by id (``lookup``). Each one filled
    beyond its counted mark has its fills read back from REST (``backfill``) through the
    tracker, which reports only the uncounted part. Returned per order: its update (unless
    it is open and listed: the start-up updates, or in a run the snapshot's, have it), then
    its fill. A mark whose order ended is marked finished once it has counted everything.

    REST trouble raises (a ``BotkitError``): the bot does not start without knowing what it
    holds; nothing was counted, a restart tries again. ``when``: the logs' words for the
    moment and the gap (in a run: the user channel back, after it was down).

    ``lagging`` (in a run): an order whose lookup fails is logged and skipped instead of
    raising (the others are still read back), and an order filled beyond its mark whose
    fills REST does not list yet gets neither its update nor a fill (the strategy must not
    see FILLED before the fill); their ids are added to ``lagging``: ask again later.

    An order filled beyond its mark whose fills the tracker has already reported up to
    what the exchange says (the ``user`` channel's fill, or an earlier read-back's, not yet
    counted by the strategy it is queued for) gets no second fill and is not lagging: its
    update (unless pushed) comes after that fill, which is counted when it arrives.
    """
    moment, gap = when
    aliases = aliases or {}
    asked: dict[str, tuple[ExchangeOrder, bool]] = {}  # order id -> (order, update pushed)
    for order in recon.listed:
        asked[order.order_id] = (order, order.open)
    for order in recon.attached_exits:
        alias = aliases.get(order.order_id)
        if alias:
            asked[order.order_id] = (replace(order, client_order_id=alias), False)
    for working in ledger.unfinished():
        if working.order_id in asked:
            continue
        try:
            found = await lookup(working.order_id)
        except NotFound:
            if working.cumulative_quantity == 0:  # gone without a fill: nothing to count
                ledger.finished(working.order_id, "CANCELLED", _ZERO)
                tracker.expect(
                    working.order_id, working.client_order_id, working.product_id,
                    working.side, "CANCELLED",
                )  # fmt: skip
            else:
                log.warning(
                    "%s: order %s (client_order_id=%s) is unknown to the exchange; "
                    "its counted fills (%s) stay", moment,
                    working.order_id, working.client_order_id, working.cumulative_quantity,
                )  # fmt: skip
            continue
        except BotkitError as exc:
            if lagging is None:
                raise
            log.warning("%s: lookup of order %s failed (%s): asked again later", moment,
                        working.order_id, exc)  # fmt: skip
            lagging.append(working.order_id)
            continue
        view = replace(ExchangeOrder.of(found), client_order_id=working.client_order_id)
        asked[working.order_id] = (view, False)

    out: list[OrderUpdate | FillEvent] = []
    missed: list[tuple[ExchangeOrder, bool, OrderHwm | None]] = []
    for order_id, (o, pushed) in asked.items():
        mark = ledger.mark(order_id)
        if o.filled_size > (mark.cumulative_quantity if mark is not None else _ZERO):
            missed.append((o, pushed, mark))
        elif mark is not None and not mark.terminal:
            if not o.open:
                ledger.finished(order_id, o.status, o.filled_size)
                tracker.expect(order_id, o.client_order_id, o.product_id, o.side, o.status, mark)
            if not pushed:  # the strategy's again: its updates and fills reach it
                out.append(o.to_update())
    if not missed:
        return out
    rows = await backfill([o.order_id for o, _, _ in missed])
    for o, _, mark in missed:  # known to the tracker, unfinished until its fills are in
        status = "" if o.status in TERMINAL_STATUSES else o.status
        tracker.expect(o.order_id, o.client_order_id, o.product_id, o.side, status, mark)
    fills = {f.order_id: f for f in tracker.reconcile_rest_fills(rows)}
    for o, pushed, _ in missed:
        fill = fills.get(o.order_id)
        reported = tracker.hwms.get(o.order_id)
        if fill is None and reported and reported.cumulative_quantity >= o.filled_size:
            # the tracker reported it already (the channel's fill, e.g. a snapshot's, or an
            # earlier read-back's): on its way to the strategy, counted when it gets there
            log.info("%s: order %s filled %s: its fill was reported by the channel, not "
                     "asked again", moment, o.order_id, o.filled_size)  # fmt: skip
            if not pushed:
                out.append(o.to_update())
            if not o.open:
                tracker.expect(o.order_id, o.client_order_id, o.product_id, o.side, o.status)
            continue
        if fill is None and lagging is not None:  # in a run: this order's news later, whole
            lagging.append(o.order_id)
            log.warning("%s: order %s filled %s while %s, but REST lists no fill of it yet: "
                        "asked again shortly", moment, o.order_id, o.filled_size, gap)  # fmt: skip
            continue
        if not pushed:
            out.append(o.to_update())
        if fill is None:  # REST does not list them yet: the feed's backfills keep asking
            log.warning(
                "%s: order %s filled %s while %s, but REST lists no fill of it yet: "
                "counted when it does", moment, o.order_id, o.filled_size, gap,
            )  # fmt: skip
            continue
        if not o.open and fill.cumulative_quantity >= o.filled_size:  # all in: stop asking
            tracker.expect(o.order_id, o.client_order_id, o.product_id, o.side, o.status)
        out.append(fill)
        log.warning(
            "%s: order %s (client_order_id=%s) filled %s %s %s while %s: counted now",
            moment, o.order_id, o.client_order_id, o.side, fill.size, o.product_id, gap,
        )  # fmt: skip
    return out


class ReadBackInRun:
    """:func:`read_back_fills` in a run, after each ``user`` (re)subscription's snapshot and
    each gap (the feed's ``read_back`` hook, in place of its fills-only backfill).

    Why: the snapshot lists open orders only. A QA outage of two minutes left orders the
    venue had filled while the channel was down OPEN here, their fills uncounted (the
    position wrong) and the strategy's open-order cap full for good, while health said
    ready. Every order the ledger has as working is asked about, as at start-up; the
    fill tracker reports only what was not counted, so a fill the channel also sends is
    counted once. One read-back at a time: a snapshot during one asks again after it.

    What the latest snapshot listed (``request(listed)``) answers for the working orders
    it lists, without a GET each (a market maker's 100 quotes were 100 GETs per reconnect,
    in the REST rate limit new orders share). Per working order (unfinished ledger mark):

    * listed, its listed filled quantity not beyond the mark: no GET, no update for an
      open one (the strategy's already; a FILLED or CANCELLED one the channel reported
      since is finished by that update, on its way); one listed as ended (a venue whose
      snapshot lists finished orders) is finished in the ledger, its update delivered;
    * listed, filled beyond the mark: no GET; its fills are read back with the other
      missed orders' (one REST call), the tracker reports only what it has not reported
      (the snapshot's own fill of it usually: then nothing more), no update for an open
      one (the snapshot's update is the strategy's);
    * not listed (it ended while the channel was down, or no snapshot lists anything:
      Exchange's): looked up by id as before, its update and missed fill delivered.

    The listing stands while the channel that sent it reports every change of a listed
    order in sequence: until the next snapshot replaces it, a gap voids it (the feed
    passes ``()``) or the ``user`` connection ends (:meth:`forget_listing`, the feed's
    ``listing_lost``: a retry while the channel is down — the monitor's every 30 s, a
    back-off — must look orders up, as a listed order may fill meanwhile). The runs it
    starts, re-runs after a settle or a back-off and the monitor's ``request()`` use it
    meanwhile. The tracker forgets a snapshot cut short by a drop
    (``FillTracker.snapshot_restarts``) and lists nothing for one during which a message
    was lost (``FillTracker.gap``), so a listing is always one whole, gapless snapshot's.

    A read-back that failed (the venue still flaky as the channel comes back), an order
    whose lookup failed or whose fills REST does not list yet, and orders that ``after``
    settled (they have a ledger mark only now, and may have filled meanwhile) are asked
    about again: at once after a settle, else after a back-off of 1 s doubling to 60 s.

    Args:
        deliver: where the updates and fills go (the runtime's feed callback: the
            executor, then the strategy), as if the channel had sent them.
        after: run after each read-back; how many orders it settled (the runtime's:
            ``BotContext.settle_unknown``, the strategy's orders whose create-order ended
            unknown during the outage).
    """

    RETRY_FIRST, RETRY_MAX = 1.0, 60.0

    def __init__(
        self,
        ledger: FillLedger,
        tracker: FillTracker,
        backfill: Backfill,
        lookup: Lookup,
        aliases: Callable[[], Mapping[str, str]],
        deliver: Callable[[OrderUpdate | FillEvent], None],
        after: Callable[[], Awaitable[int]] | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._args = (ledger, tracker, backfill, lookup)
        self._after = after
        self._aliases = aliases
        self._deliver = deliver
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._listed: dict[str, OrderUpdate] = {}  # the latest snapshot's, by order id
        self._again = False
        self._closed = False
        self.runs = 0

    def request(self, listed: Sequence[OrderUpdate] | None = None) -> None:
        """Read back now (or again once the running one ends).

        ``listed``: a snapshot is done, what it listed (``UserSnapshotDone.listed``);
        ``()``: a gap, the latest listing is void; None (a retry): the listing stands.
        """
        if self._closed:
            return
        if listed is not None:
            self._listed = {u.order_id: u for u in listed}
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="botkit-read-back")

    async def _run(self) -> None:
        delay = self.RETRY_FIRST
        while not self._closed:
            self._again = False
            self.runs += 1
            lagging: list[str] = []
            try:
                await self._once(lagging)
                settled = await self._after() if self._after is not None else 0
            except Exception as exc:  # noqa: BLE001 - never a silent death of this task
                log.warning(
                    "read-back of the working orders failed (%s: %s): asked again in %.0f s",
                    type(exc).__name__, exc, delay, exc_info=not isinstance(exc, BotkitError),
                )  # fmt: skip
            else:
                if settled or self._again:  # settled orders have a mark now: ask about them
                    delay = self.RETRY_FIRST
                    continue
                if not lagging:
                    return
            await self._sleep(delay)
            delay = min(delay * 2, self.RETRY_MAX)

    def forget_listing(self) -> None:
        """The ``user`` connection ended: the latest listing no longer answers for the
        orders it listed (the next snapshot's will); no read-back is started by this."""
        self._listed = {}

    def _listed_working(self, ledger: FillLedger) -> list[ExchangeOrder]:
        """The working orders the latest snapshot listed, as listed (the ledger's client
        order id: an attached exit's alias), for :func:`read_back_fills`' ``listed``."""
        if not self._listed:
            return []
        views = []
        for mark in ledger.unfinished():
            u = self._listed.get(mark.order_id)
            if u is not None:
                views.append(ExchangeOrder(
                    mark.client_order_id, u.order_id, u.product_id or mark.product_id,
                    u.side or mark.side, u.status or mark.status, u.cumulative_quantity,
                    u.avg_price, "",
                ))  # fmt: skip
        return views

    async def _once(self, lagging: list[str]) -> None:
        ledger, tracker, backfill, lookup = self._args
        listed = self._listed_working(ledger)
        if listed:
            log.debug("read-back: %d working order(s) as the user snapshot listed them",
                      len(listed))  # fmt: skip
        events = await read_back_fills(
            ReconcileReport([], [], listed=listed), ledger, tracker, backfill, lookup,
            self._aliases(), when=("user channel back", "it was down"), lagging=lagging,
        )  # fmt: skip
        for event in events:  # an order still open was in the snapshot: not news
            if not (isinstance(event, OrderUpdate) and event.status == "OPEN"):
                self._deliver(event)

    async def wait(self) -> None:
        """Until the read-back running now (and what it asks again) has ended."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def close(self) -> None:
        """Stop: no read-back starts again, one running is cancelled (shutdown: before the
        cancel-on-exit, so that no settle re-sends an order after it)."""
        self._closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
