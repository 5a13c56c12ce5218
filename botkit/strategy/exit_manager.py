"""Adapter ring: a strategy's exits — placed natively or emulated, journaled, resumed.

Why: an exit that lives at the exchange protects the position while the bot is down, so
botkit places one there whenever the venue has the order type (``native_exits`` of the
order sink: ``stop_limit``, ``bracket``, ``attached``), through the same executor as every
order (exactly once). What the venue lacks is **emulated**: the exit is armed in this
process and evaluated on every trade and ticker of its product; when a print triggers it,
the working order is sent then. Both kinds, and a trailing stop's ratchet, are written to
the exit state (a :class:`~botkit.strategy.protocol.KeyValueState`, a JSON file next to
the strategy's state in a bot) on every change, so a restart — even after ``kill -9`` —
resumes them: native orders are adopted by the executor's reconciliation and matched back
to their exit by ``client_order_id``; emulated ones are re-armed.

Every decision (offsets, which side, what triggers, the ratchet) is
:mod:`botkit.strategy.exits`' (pure); this module places, cancels, journals and turns
order updates and fills into :class:`~botkit.strategy.exits.ExitTriggered` /
:class:`~botkit.strategy.exits.ExitFilled` for the strategy's ``on_exit`` hook.

An exit of the strategy's counted position never sells more than it holds
(:mod:`botkit.strategy.exit_sizing`): an emulated one is sized when it triggers, a native
one is checked on every print of its product and cancelled or re-sized.

Cost: nothing is evaluated for a product without an armed emulated or trailing exit, or
a native exit of the counted position (the driver checks one set), a print looks at the
product's live exits only, and a fill costs one dict lookup. Finished exits leave memory
once nothing can reach them (:mod:`botkit.strategy.exit_retention`: the rule, and why).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from botkit.errors import BotkitError
from botkit.market.events import FillEvent, OrderUpdate
from botkit.orders.intents import (
    Side,
    StopDirection,
    attached_bracket,
    limit_gtc,
    market_ioc,
    stop_limit,
    trigger_bracket,
)
from botkit.orders.state import OrderStatus
from botkit.strategy import exit_fills
from botkit.strategy.exit_market import ExitMarket
from botkit.strategy.exit_recovery import (
    MAYBE_PLACED,
    SENDING,
    TERMINAL,
    ExitHost,
    ExitRecovery,
)
from botkit.strategy.exit_retention import ExitRetention
from botkit.strategy.exit_sizing import ExitSizing, sized_by_position
from botkit.strategy.exits import (
    BRACKET_STOP_OFFSET,
    ExitEvent,
    ExitFilled,
    ExitRecord,
    ExitRejected,
    ExitTriggered,
    Leg,
    PositionSide,
    PriceLike,
    Trailing,
    check_exit,
    describe_exit,
    evaluate,
    how_kept,
    leg_of_fill,
    level_of,
    resolve,
    stop_limit_price,
)
from botkit.strategy.protocol import KeyValueState

__all__ = ["ExitHost", "ExitManager"]


_KEY = "exits"
_REFUSED = frozenset({"REJECTED", "FAILED"})
"""An order that never rested: the exchange (or the executor) refused it."""
_QUEUED = OrderStatus.CANCEL_QUEUED
"""An order whose cancel the exchange accepted: its CANCELLED update follows."""
_ZERO = Decimal(0)
EXIT_LIMIT_MAX = Decimal("0.25")
"""How far through its stop a strategy's own stop limit may lie (a fraction of the stop).
A fat-finger guard: an exit's orders are not held to the risk engine's price band."""


class ExitManager(ExitRetention, ExitRecovery, ExitMarket, ExitSizing):
    """The exits of one strategy context.

    Args:
        ctx: the context (orders go through its ``_place``: guard, warm-up, risk, sink).
        store: where exits are journaled (``exits`` key); resumed from it at construction.
        native: the order kinds the venue holds natively (the sink's ``native_exits``).
    """

    def __init__(self, ctx: ExitHost, store: KeyValueState, native: frozenset[str]) -> None:
        self._ctx = ctx
        self._store = store
        self.native = native
        self._log: logging.Logger = ctx.log
        self.records: dict[str, ExitRecord] = {}
        """The live exits and the finished ones kept (ExitRetention: which, how long)."""
        self.by_coid: dict[str, str] = {}
        """client_order_id (entry, working order, an ended one owing fills) -> exit id."""
        self.watch: set[str] = set()
        """Products with an armed emulated or trailing exit, an exit whose order's outcome
        is unknown or whose re-price waits for a cancel: evaluated on every print."""
        self._unsure = {}  # (the annotations and their meaning: ExitRecovery's)
        self._cancel_retry = {}
        self._cancelling = set()
        self._rearm_after = {}
        self._attached_due = {}
        self._oversized, self._too_big = {}, {}  # (ExitSizing's)
        self._resumed: set[str] = set()
        self._init_retention()
        saved = store.get(_KEY) or {}
        for doc in saved.values():
            rec = ExitRecord.from_json(doc)
            self._resumed.add(rec.exit_id)  # sized only once positions are restored too
            self._index(rec)
        if self.records:
            rows = [f"{r.kind} {r.product_id} ({how_kept(r)})" for r in self.records.values()]
            what = ", ".join(rows)
            self._log.warning("resumed %d exit(s) from the exit state: %s", len(rows), what)

    # -- bookkeeping -------------------------------------------------------------------------

    def _index(self, rec: ExitRecord) -> None:
        self._hold(rec)  # records, its product's live exits, its orders' routes
        self._rewatch(rec.product_id)

    def _rewatch(self, product_id: str) -> None:
        if any(self._needs_prints(r) for r in self._live_of(product_id)) or any(
            r.product_id == product_id for r, _ in self._attached_due.values()
        ):
            self.watch.add(product_id)
        else:
            self.watch.discard(product_id)

    def _needs_prints(self, r: ExitRecord) -> bool:
        if r.status == "armed" and (not r.native or r.trailing is not None or "replace" in r.extra):
            return True
        if sized_by_position(r):
            return True  # a native exit of the counted position: checked against it
        return r.live and (
            (r.order_coid is not None and r.order_coid in self._unsure)
            or r.exit_id in self._cancel_retry
        )

    def _save(self) -> None:
        """Journal every live exit (done and cancelled ones leave the state)."""
        self._store.set(_KEY, {r.exit_id: r.to_json() for r in self._live_all()})

    def _finish(self, rec: ExitRecord, status: str) -> None:
        rec.status = status
        self._rearm_after.pop(rec.exit_id, None)
        self._save()
        self._rewatch(rec.product_id)

    def holds(self, coid: str) -> bool:
        """Whether ``coid`` protects a position (a cancel-all leaves it): a live exit's
        working order, or any exit Coinbase attached to an entry (``attached:``)."""
        rec = self.records.get(self.by_coid.get(coid, ""))  # exit ids are never ""
        attached = coid.startswith("attached:")
        return attached or (rec is not None and rec.live and rec.order_coid == coid)

    def live(self, product_id: str | None = None) -> list[ExitRecord]:
        """The live exits (optionally of one product), oldest first."""
        return self._live_of(product_id) if product_id is not None else self._live_all()

    def _position(self, product_id: str, side: PositionSide | None) -> PositionSide:
        if side is not None:
            if side not in ("long", "short"):
                raise ExitRejected(
                    f"side must be 'long' or 'short', got {side!r}", reason="EXIT_BAD_SIDE"
                )
            return side
        qty = self._ctx.position(product_id)
        if qty == 0:
            raise ExitRejected(
                f"this strategy holds no {product_id} position to exit (ctx.position is 0). "
                "Fix: pass side='long' or side='short' for a position held from an earlier "
                "run or outside this strategy",
                reason="EXIT_NO_POSITION",
            )
        return "long" if qty > 0 else "short"

    # -- creating exits ----------------------------------------------------------------------

    async def entry(
        self,
        product_id: str,
        position: PositionSide,
        size: Decimal,
        price: Decimal | None,
        stop: PriceLike | None,
        take_profit: PriceLike | None,
        post_only: bool,
    ) -> str:
        """An entry order with exits armed by its fill; returns the entry's client_order_id."""
        ctx = self._ctx
        side: Side = "BUY" if position == "long" else "SELL"
        tick = self.tick(product_id)
        if price is not None:
            reference = price
        else:
            quote = ctx.market.quote(product_id)
            ref = quote.best_ask if position == "long" else quote.best_bid
            reference = ref if ref is not None else self.last_price(product_id)
        sl = resolve(stop, reference, position, "stop_loss", tick) if stop is not None else None
        tp = (
            resolve(take_profit, reference, position, "take_profit", tick)
            if take_profit is not None
            else None
        )
        if sl is None and tp is None:
            raise ExitRejected(
                "ctx.buy/ctx.sell with no stop_loss or take_profit: use buy_limit/"
                "buy_market for a plain order",
                reason="EXIT_EMPTY",
            )
        check_exit(
            position=position,
            reference=reference,
            size=size,
            stop=sl,
            take_profit=tp,
            limits=self.limits(product_id),
            what="limit" if price is not None else "market",
        )
        config = (
            limit_gtc(size, price, post_only=post_only)
            if price is not None
            else market_ioc(base_size=size)
        )
        attached = (
            position == "long" and sl is not None and tp is not None and "attached" in self.native
        )
        exit_id = ctx._new_id()
        coid = ctx._new_id()
        rec = ExitRecord(
            exit_id,
            "entry",
            product_id,
            position,
            _ZERO,
            native=attached,
            status="pending",
            stop=sl,
            stop_limit=stop_limit_price(sl, position, tick, BRACKET_STOP_OFFSET) if sl else None,
            take_profit=tp,
            entry_coid=coid,
            extra={"entry_size": size},
        )
        self._index(rec)
        self._save()
        extra = None
        if attached:
            assert sl is not None and tp is not None
            extra = {"attached_order_configuration": attached_bracket(tp, sl)}
        try:
            await ctx._place(
                product_id, side, config, (size, price) if price is not None else None,
                coid=coid, extra=extra,
            )  # fmt: skip
        except MAYBE_PLACED:
            raise  # the entry may exist: its updates will arm the exits
        except BotkitError:
            self._finish(rec, "cancelled")
            raise
        if attached:
            await self._learn_attached(rec)
        return coid

    async def _learn_attached(self, rec: ExitRecord) -> None:
        """Find the order the venue attached to the entry (it has no client_order_id)."""
        entry = self._ctx.orders.get(rec.entry_coid or "")
        find = getattr(self._ctx._sink, "attached_order_id", None)
        if entry is None or not entry.order_id or find is None:
            return
        try:
            attached_id = await find(entry.order_id)
        except BotkitError as exc:
            self._log.warning("exit %s: attached order not found yet: %s", rec.exit_id, exc)
            return
        if attached_id:
            self._attach(rec, attached_id)

    def _attach(self, rec: ExitRecord, attached_id: str) -> None:
        alias = f"attached:{attached_id}"
        ledger = self._ctx.ledger
        if ledger is not None:  # its fill-ledger mark under its alias, as any working order's:
            # a restart asks about it by id however long the bot was down (an order without
            # a mark is not: no mark also means a pruned one, whose fills were all counted).
            # First: if it fails, the exit state does not claim the id, and the id is
            # learned again with the entry's end (_entry_done)
            ledger.opened(attached_id, alias, rec.product_id, rec.side, "OPEN")
        rec.extra["attached_order_id"] = attached_id
        rec.order_coid = alias
        self._route(rec)
        self._ctx.alias_order(attached_id, rec.order_coid, rec.product_id, rec.side)
        self._save()

    def entry_resolved(self, entry_coid: str, attached_id: str) -> None:
        """At start-up: an entry whose POST was in flight at the stop was resolved as placed,
        and the venue attached ``attached_id`` to it. Its exit record learns that id now
        (as :meth:`_learn_attached` does after an answer), so the restart follows the
        attached exit and reads back its fills like the entry's."""
        rec = self.records.get(self.by_coid.get(entry_coid, ""))
        if rec is None or rec.kind != "entry" or not rec.live or not attached_id:
            return
        if rec.extra.get("attached_order_id") != attached_id:
            self._attach(rec, attached_id)

    async def held(
        self,
        kind: str,
        product_id: str,
        size: Decimal,
        *,
        side: PositionSide | None,
        stop: PriceLike | None = None,
        limit: Decimal | None = None,
        take_profit: PriceLike | None = None,
        distance: PriceLike | None = None,
        activation: Decimal | None = None,
        counted: bool = False,
    ) -> str:
        """An exit for a held position (``bracket``, ``stop_loss``, ``trailing``); its id.
        ``counted``: of the strategy's own position (an entry's fill) though ``side`` is given."""
        position = self._position(product_id, side)
        held = abs(self._ctx.position(product_id))
        if side is None and size > held:
            raise ExitRejected(
                f"exit size {size} is more than the {held} {product_id} this strategy holds: "
                "the exit would open a position the other way. Fix: exit at most the "
                "position (ctx.position), or pass side= for a position held elsewhere",
                reason="EXIT_SIZE_ABOVE_POSITION",
            )
        last = self.last_price(product_id)
        tick = self.tick(product_id)
        trailing: Trailing | None = None
        if kind == "trailing":
            assert distance is not None
            if isinstance(distance, Decimal) and distance <= 0:
                raise ExitRejected(
                    f"trailing distance {distance} must be positive", reason="EXIT_BAD_DISTANCE"
                )
            trailing = Trailing.start(position, distance, last, tick, activation)
            sl = trailing.stop
            if sl is None:  # not active yet: checked as it would be at the activation price
                check_exit(
                    position=position,
                    reference=last,
                    size=size,
                    stop=None,
                    take_profit=activation,
                    limits=self.limits(product_id),
                    what="last trade",
                )
        else:
            sl = resolve(stop, last, position, "stop_loss", tick) if stop is not None else None
        tp = (
            resolve(take_profit, last, position, "take_profit", tick)
            if take_profit is not None
            else None
        )
        if sl is not None or tp is not None:
            check_exit(
                position=position,
                reference=last,
                size=size,
                stop=sl,
                take_profit=tp,
                limits=self.limits(product_id),
                what="last trade",
            )
        if (
            limit is not None
            and sl is not None
            and (limit > sl if position == "long" else limit < sl)
        ):
            raise ExitRejected(
                f"stop limit {limit} is on the wrong side of its stop {sl}: a triggered "
                "stop would rest away from the market. Fix: put the limit at or beyond the "
                "stop (lower for a long), or leave it out",
                reason="EXIT_LIMIT_WRONG_SIDE",
            )
        if limit is not None and sl is not None and abs(limit - sl) > sl * EXIT_LIMIT_MAX:
            raise ExitRejected(  # the risk engine's price band does not check exits' orders
                f"stop limit {limit} is more than {EXIT_LIMIT_MAX:.0%} through its stop {sl}: "
                "a typo? A triggered stop would sell (buy) that far from it. Fix: a limit "
                f"within {EXIT_LIMIT_MAX:.0%} of the stop, or leave it out (5 %)",
                reason="EXIT_LIMIT_TOO_FAR",
            )
        native = {
            "stop_loss": "stop_limit" in self.native,
            "bracket": "bracket" in self.native,
            "trailing": "stop_limit" in self.native,
        }[kind]
        rec = ExitRecord(
            self._ctx._new_id(),
            kind,
            product_id,
            position,
            size,
            native=native,
            stop=sl,
            stop_limit=(
                limit
                if limit is not None
                else stop_limit_price(sl, position, tick, BRACKET_STOP_OFFSET)
                if sl is not None
                else None
            ),
            take_profit=tp,
            trailing=trailing,
            extra={"counted": True} if counted or side is None else {},
        )
        if native and (kind != "trailing" or sl is not None):
            await self._place_native(rec, initial=True)
        else:
            self._index(rec)
            self._save()
        return rec.exit_id

    async def _place_native(self, rec: ExitRecord, *, initial: bool = False) -> None:
        """Send the exchange order that holds ``rec`` (journaled before it is sent).

        ``initial``: the strategy's own call, which gets the refusal and nothing is armed.
        Otherwise (a trailing stop's activation or re-price, a replace, a resume) the exit
        is already the position's protection: refused, it falls back to emulation, so the
        bot still closes the position when a print reaches it.
        """
        ctx = self._ctx
        size = self._left(rec)
        stop = rec.trailing.stop if rec.trailing is not None else rec.stop
        if rec.kind == "bracket":
            assert rec.take_profit is not None and stop is not None
            config = trigger_bracket(size, rec.take_profit, stop)
            check = rec.take_profit
        elif stop is None:  # a lone take-profit (an entry's): a resting limit order
            assert rec.take_profit is not None
            config = limit_gtc(size, rec.take_profit)
            check = rec.take_profit
        else:
            tick = self.tick(rec.product_id)
            if rec.trailing is not None or rec.stop_limit is None:
                rec.stop_limit = stop_limit_price(stop, rec.position, tick, BRACKET_STOP_OFFSET)
            direction: StopDirection = (
                "STOP_DIRECTION_STOP_DOWN" if rec.position == "long" else "STOP_DIRECTION_STOP_UP"
            )
            config = stop_limit(size, rec.stop_limit, stop, direction)
            check = stop
        coid = ctx._new_id()
        old = rec.order_coid
        rec.order_coid, rec.status = coid, "armed"
        rec.extra["placed_stop"] = stop
        exit_fills.begin(rec.extra, coid)
        self._index(rec)
        try:
            await self._send(rec, coid, config, (size, check))
        except MAYBE_PLACED:
            self._unsure_about(rec, coid)  # it keeps its order: never a second exit
            if initial:
                raise
        except BotkitError as exc:
            if not initial:
                self._refused(rec, str(exc))
                return
            if old is None:
                self._release(rec.exit_id)  # never armed: nothing may route to it
            rec.order_coid = old
            self._finish(rec, "cancelled")
            raise

    # -- cancel / replace --------------------------------------------------------------------

    def _get(self, exit_id: str) -> ExitRecord:
        rec = self.records.get(exit_id)
        if rec is None and self.forgotten(exit_id):
            raise ExitRejected(
                f"exit {exit_id} finished (and left memory since): it cannot be replaced "
                "(place a new one)",
                reason="EXIT_NOT_REPLACEABLE",
            )
        if rec is None:
            raise ExitRejected(
                f"{exit_id} is not an exit of strategy {self._ctx.name} (ids come from "
                "ctx.bracket/stop_loss/trailing_stop, or ctx.open_exits(); an exit that "
                "finished long ago, or before a restart, is forgotten)",
                reason="EXIT_UNKNOWN",
            )
        return rec

    async def cancel(self, exit_id: str) -> bool:
        """Disarm an exit and cancel its working order, if any; False if it was done.

        Nothing changes until the cancel is settled: a call that raises leaves the exit as
        it was (its re-price, its retries). A cancel already queued counts; one the
        exchange does not accept leaves the exit cancelling: it ends with its order, and
        the cancel is sent again on the next prints and at a restart.
        """
        if exit_id not in self.records and self.forgotten(exit_id):
            return False  # finished, and released from memory since
        rec = self._get(exit_id)
        if not rec.live:
            return False
        coid = rec.order_coid
        if coid is not None and not coid.startswith("attached:"):
            order = self._ctx.orders.get(coid)
            if order is not None and not order.terminal and order.status is not _QUEUED:
                if coid in self._unsure or not order.order_id:
                    # its outcome is unknown, or it was adopted at a start and its update
                    # has not come yet: its order id first (the journal's, or a lookup),
                    # else the exit would end and its order rest untracked. Unknown: raised
                    try:
                        await self._ctx._resolve(coid)
                    except MAYBE_PLACED:
                        raise
                    except BotkitError:
                        pass  # refused: nothing rests
                    self._unsure.pop(coid, None)
                order = self._ctx.orders.get(coid)
                if order is not None and not order.terminal and order.status is not _QUEUED:
                    accepted = await self._ctx.cancel(coid)
                    order = self._ctx.orders.get(coid)
                    if not accepted and order is not None and not order.terminal:
                        rec.extra.pop("replace", None)  # the strategy's cancel wins
                        rec.extra["cancel"] = True
                        self._save()
                        self._cancel_failed(rec)  # (it registers the retry and watches)
                        return True
        elif coid is not None:
            attached = rec.extra.get("attached_order_id")
            if attached and not await self._ctx._sink.cancel(str(attached)):
                raise ExitRejected(
                    f"exit {exit_id}: the venue did not accept the cancel of its attached "
                    f"order {attached}: the exit stays; try again",
                    reason="EXIT_CANCEL_REFUSED",
                )
        rec.extra.pop("replace", None)
        self._cancel_retry.pop(rec.exit_id, None)
        self._finish(rec, "cancelled")
        return True

    async def replace(
        self,
        exit_id: str,
        *,
        stop: PriceLike | None = None,
        take_profit: PriceLike | None = None,
    ) -> str:
        """New prices for an armed exit (same id). Native: the old order is cancelled and
        the new one placed once the cancel is confirmed (it holds the same base)."""
        rec = self._get(exit_id)
        if rec.status != "armed" or rec.kind in ("entry", "trailing") or "cancel" in rec.extra:
            status = "cancelling" if "cancel" in rec.extra else rec.status
            raise ExitRejected(
                f"exit {exit_id} ({rec.kind}, {status}) cannot be replaced: only an armed "
                "stop_loss, take_profit or bracket can (cancel_exit and place a new one "
                "otherwise)",
                reason="EXIT_NOT_REPLACEABLE",
            )
        legs = {"stop_loss": ("stop_loss",), "take_profit": ("take_profit",)}.get(
            rec.kind, ("stop_loss", "take_profit")
        )
        for leg, value in (("stop_loss", stop), ("take_profit", take_profit)):
            if value is not None and leg not in legs:
                raise ExitRejected(
                    f"exit {exit_id} is a {rec.kind}: it has no {leg} to replace. Fix: "
                    "cancel_exit it and place a bracket for both",
                    reason="EXIT_NOT_REPLACEABLE",
                )
        restricted = self.venue_refuses(rec.product_id) if rec.order_coid is not None else None
        if rec.native and restricted is not None:
            raise ExitRejected(
                f"exit {exit_id}: {restricted.describe()}; its resting order stays as it is "
                "(cancelled for a replacement the venue would refuse, it could not be put "
                "back). Fix: replace it once on_trading_status says the product trades again",
                reason="EXIT_PRODUCT_RESTRICTED",
            )
        last = self.last_price(rec.product_id)
        tick = self.tick(rec.product_id)
        sl = resolve(stop, last, rec.position, "stop_loss", tick) if stop is not None else rec.stop
        tp = (
            resolve(take_profit, last, rec.position, "take_profit", tick)
            if take_profit is not None
            else rec.take_profit
        )
        check_exit(
            position=rec.position, reference=last, size=rec.remaining, stop=sl,
            take_profit=tp, limits=self.limits(rec.product_id), what="last trade",
        )  # fmt: skip
        rec.stop, rec.take_profit = sl, tp
        if sl is not None:
            rec.stop_limit = stop_limit_price(sl, rec.position, tick, BRACKET_STOP_OFFSET)
        if rec.native and rec.order_coid is not None:
            rec.extra["replace"] = True
            self._save()
            await self._cancel_for_replace(rec)
        else:
            self._save()
        return exit_id

    # -- the feed side -----------------------------------------------------------------------

    async def on_price(self, product_id: str, price: Decimal) -> list[ExitEvent]:
        """A print of a watched product: settle exit orders of unknown outcome, re-send
        failed re-price cancels, move trailing stops, trigger emulated exits."""
        if self._unsure:
            await self._settle(product_id)
        if self._attached_due:
            await self._check_attached(product_id)
        await self.fit_native(product_id)  # before a trailing stop's re-price: its size
        events: list[ExitEvent] = []
        for rec in self._live_of(product_id):
            if not rec.live:  # ended while an earlier one was handled
                continue
            if rec.exit_id in self._cancel_retry:
                try:
                    await self._retry_cancel(rec)
                except BotkitError as exc:  # sent again later; the other exits still see this
                    self._log.warning("exit %s: re-sent cancel failed: %s", rec.exit_id, exc)
            if rec.status != "armed":
                continue
            if rec.trailing is not None:
                moved = rec.trailing.on_price(price)
                if moved is not rec.trailing:
                    before = rec.trailing.stop
                    rec.trailing = moved
                    if moved.stop != before:
                        self._save()
                        if rec.native:
                            try:
                                await self._reprice(rec)
                            except BotkitError as exc:  # retried on the next prints
                                self._log.warning("exit %s: re-price failed: %s", rec.exit_id, exc)
            leg = evaluate(rec, price)
            if (
                leg is not None
                and not (self._rearm_after and self._trigger_waits(rec.exit_id))
                and self._fit_to_position(rec, price)
            ):
                events.append(await self._trigger(rec, leg, price))
        return events

    async def _reprice(self, rec: ExitRecord) -> None:
        """A native trailing stop moved: cancel/replace its stop-limit (one at a time)."""
        assert rec.trailing is not None
        if rec.order_coid is None:
            await self._place_native(rec)  # activated: its first stop
            return
        if rec.extra.get("replace"):
            return  # a cancel is in flight; the new order takes the latest stop
        tick = self.tick(rec.product_id) or Decimal(0)
        placed = rec.extra.get("placed_stop")
        if placed is not None and abs(rec.trailing.stop - placed) < max(
            tick, rec.trailing.reprice_step()
        ):
            return
        order = self._ctx.orders.get(rec.order_coid)
        if order is None or order.terminal or self.venue_refuses(rec.product_id) is not None:
            return  # (restricted: the resting stop stays; re-priced at a move after it lifts)
        rec.extra["replace"] = True
        self._save()
        await self._cancel_for_replace(rec)

    async def _trigger(self, rec: ExitRecord, leg: Leg, price: Decimal) -> ExitEvent:
        """An emulated exit triggered: send its working limit order."""
        rec.status, rec.leg = "triggered", leg
        if leg == "stop_loss":
            stop = rec.trailing.stop if rec.trailing is not None else rec.stop
            assert stop is not None
            limit = stop_limit_price(
                stop, rec.position, self.tick(rec.product_id), BRACKET_STOP_OFFSET
            )
            if rec.trailing is None and rec.stop_limit is not None:
                limit = rec.stop_limit
        else:
            assert rec.take_profit is not None
            limit = rec.take_profit
        coid = self._ctx._new_id()
        rec.order_coid = coid
        exit_fills.begin(rec.extra, coid)
        self._route(rec)
        self._rewatch(rec.product_id)
        event = ExitTriggered(
            rec.exit_id, rec.product_id, rec.kind, leg, price, False, level_of(rec, leg)
        )
        self._log.warning(
            "emulated exit %s (%s %s) triggered by a print at %s: %s %s at %s",
            rec.exit_id, rec.kind, leg, price, rec.side, self._left(rec), limit,
        )  # fmt: skip
        try:
            await self._send(rec, coid, limit_gtc(self._left(rec), limit), (self._left(rec), limit))
        except MAYBE_PLACED:
            self._unsure_about(rec, coid)
        except BotkitError as exc:
            self._refused(rec, str(exc))
        return event

    # -- the order side ----------------------------------------------------------------------

    async def on_order_update(self, update: OrderUpdate, coid: str) -> list[ExitEvent]:
        """An update of an entry or exit order (``coid``, possibly an attached alias)."""
        if self._attached_due:
            self._attached_reported(coid, update.status)
        exit_id = self.by_coid.get(coid)
        rec = self.records.get(exit_id) if exit_id is not None else None
        if rec is None or not rec.live:
            return []
        if self._unsure.pop(coid, None) is not None:  # now it is known what became of it
            self._rewatch(rec.product_id)
        if rec.extra.get(SENDING) == coid:  # the exchange has it: the mark has done its job
            self._sent(rec)
        status = update.status
        if rec.kind == "entry" and coid == rec.entry_coid:
            if status in TERMINAL:
                return await self._entry_done(rec, update.cumulative_quantity)
            return []
        if coid != rec.order_coid:
            return []
        if status not in TERMINAL:
            if (
                ("cancel" in rec.extra or "replace" in rec.extra)
                and rec.exit_id not in self._cancel_retry
                and self._fell_back(coid)
            ):
                self._cancel_failed(rec, fell_back=True)  # its accepted cancel: send it again
            return []
        if status == "FILLED" and self._counted_before(rec, coid, update):
            return []  # closed: its fills were counted by the run before
        if status == "FILLED" or rec.remaining <= 0:
            return []  # the fills close it
        if exit_fills.ended(rec.extra, coid, update.cumulative_quantity):
            self._save()  # it filled more than its fills brought yet: they follow
        if self._left(rec) <= 0:
            return []  # its late fills close it
        if rec.extra.get("cancel"):  # cancel_exit's cancel was not accepted at once: now done
            self._cancel_retry.pop(rec.exit_id, None)
            self._finish(rec, "cancelled")
            return []
        if rec.extra.pop("replace", None):
            self._cancel_retry.pop(rec.exit_id, None)
            if rec.kind == "trailing" or rec.native:
                await self._place_native(rec)
            return []
        if rec.status == "triggered" and not rec.native:
            self._log.warning("emulated exit %s: its order ended %s; re-armed", rec.exit_id, status)
            rec.status, rec.order_coid = "armed", None
            self._save()
            self._rewatch(rec.product_id)
            return []
        if status in _REFUSED:  # it never rested (e.g. refused at a restart's re-send)
            self._refused(rec, f"its order ended {status}")
            return []
        self._log.warning("exit %s: its order ended %s (%s filled): exit closed; the rest of "
                          "the position has no exit from it", rec.exit_id, status,
                          update.cumulative_quantity)  # fmt: skip
        self._finish(rec, "cancelled")
        return []

    async def _entry_done(self, rec: ExitRecord, filled: Decimal) -> list[ExitEvent]:
        """The entry finished: arm its exits for what filled (or drop them)."""
        if filled <= 0:
            self._finish(rec, "cancelled")
            if rec.native:
                self._attached_left(rec)
                self._rewatch(rec.product_id)
            return []
        if rec.native:  # attached: the exchange sized the exit by the fills already
            rec.size, rec.status = filled, "armed"
            self._save()
            self._rewatch(rec.product_id)  # checked against the position from now on
            if not rec.extra.get("attached_order_id"):  # not learned at placement: again now
                await self._learn_attached(rec)
            return []
        # done, but saved only with its child exit (every path below saves): one write
        # takes the entry out and puts its exit in, so no crash can lose both
        rec.status = "done"
        kind = (
            "bracket"
            if rec.stop is not None and rec.take_profit is not None
            else ("stop_loss" if rec.stop is not None else "take_profit")
        )
        try:
            if kind == "take_profit":
                await self._take_profit_of(rec, filled)
            else:
                await self.held(
                    kind, rec.product_id, filled, side=rec.position,
                    stop=rec.stop, take_profit=rec.take_profit, counted=True,
                )  # fmt: skip
        except MAYBE_PLACED:
            pass  # its order may rest: the exit keeps it and asks again, never a second one
        except BotkitError as exc:
            # the market went through a level while the entry filled: emulate, it fires at once
            self._log.warning(  # handled: the exit's reason, not its fix for the author
                "exit of entry %s not placed at the exchange (%s): emulated, it acts on the "
                "next print", rec.exit_id, getattr(exc, "reason", "") or type(exc).__name__,
            )  # fmt: skip
            child = ExitRecord(
                self._ctx._new_id(), kind, rec.product_id, rec.position, filled, native=False,
                stop=rec.stop, stop_limit=rec.stop_limit, take_profit=rec.take_profit,
                extra={"counted": True},
            )  # fmt: skip
            self._index(child)
            self._save()
        return []

    async def _take_profit_of(self, entry: ExitRecord, filled: Decimal) -> None:
        """An entry's lone take-profit: a resting limit order for what filled, journaled as
        its exit before it is sent. Refused: emulated; unknown: kept, asked again."""
        tp = entry.take_profit
        assert tp is not None
        coid = self._ctx._new_id()
        child = ExitRecord(
            self._ctx._new_id(), "take_profit", entry.product_id, entry.position, filled,
            native=True, take_profit=tp, order_coid=coid, extra={"counted": True},
        )  # fmt: skip
        exit_fills.begin(child.extra, coid)
        self._index(child)
        try:
            await self._send(child, coid, limit_gtc(filled, tp), (filled, tp))
        except MAYBE_PLACED:
            self._unsure_about(child, coid)
        except BotkitError as exc:
            self._refused(child, str(exc))

    def on_fill(self, fill: FillEvent, coid: str) -> tuple[list[ExitEvent], bool]:
        """A fill of an exit's order: its events, and whether a stop-loss filled."""
        exit_id = self.by_coid.get(coid)
        rec = self.records.get(exit_id) if exit_id is not None else None
        if rec is None or (coid != rec.order_coid and not exit_fills.owes(rec.extra, coid)):
            return [], False  # not its order (an ended one's late fills still are)
        if not exit_fills.accepts(rec.extra, coid, fill.cumulative_quantity):
            return [], False  # counted already
        events: list[ExitEvent] = []
        leg = rec.leg or leg_of_fill(rec, fill.price)
        if rec.leg is None:
            rec.leg = leg
            events.append(ExitTriggered(
                rec.exit_id, rec.product_id, rec.kind, leg, fill.price, rec.native,
                level_of(rec, leg),
            ))  # fmt: skip
        rec.filled += fill.size
        exit_fills.counted(rec.extra, coid, fill.cumulative_quantity)
        if rec.kind == "entry":  # attached: sized by the entry's fills
            rec.size = max(rec.size, rec.filled)
        remaining = rec.remaining
        events.append(
            ExitFilled(
                rec.exit_id, rec.product_id, rec.kind, leg, fill.side, fill.size, fill.price,
                remaining, fill.client_order_id, rec.native,
            )
        )  # fmt: skip
        first_stop = leg == "stop_loss" and rec.filled == fill.size
        if not rec.live:  # its order ended first (the final update before the last fill):
            self._save()  # reported, counted, not reopened (a live record names its order
            return events, first_stop  # to every later start)
        if remaining <= 0:
            rec.extra.pop("replace", None)
            self._finish(rec, "done")
        elif coid == rec.order_coid:
            rec.status = "triggered"
            self._save()
            self._rewatch(rec.product_id)
        else:  # a late fill of an ended order: the exit keeps its state (re-armed, replaced)
            self._save()
        return events, first_stop

    def _left(self, rec: ExitRecord) -> Decimal:
        """What the exit still has to close once the late fills of its ended orders came."""
        return rec.remaining - exit_fills.outstanding(rec.extra)

    def describe(self) -> list[dict[str, Any]]:
        """The live exits for the status page (``emulated: needs the bot running``)."""
        return [describe_exit(r) for r in self.live()]
