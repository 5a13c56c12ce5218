"""The simulator's matching and settlement core, underneath :class:`~botkit.sim.engine.Engine`.

Why a separate module: the balance invariants (every hold placed, consumed,
trimmed or released; every fill settled at the right fee) must live in one
small place that can be read and reviewed on its own, apart from the Coinbase
order-entry surface that feeds it. :class:`Matcher` therefore owns the
per-product state (books, markets, candles, the public tape, the ledger and
the order registries) and every transition a match causes: settlement of both
sides, hold trimming, finishing an order, resting a limit order and firing
stop triggers. :class:`~botkit.sim.engine.Engine` layers account opening,
market steps and order entry on top, as :class:`~botkit.sim.amend.Amend`
layers cancels and edits on ``Engine``.

Like the rest of the pure ring, nothing here reads a clock or a global RNG:
time is passed in and randomness comes from generators seeded by the caller.
The paper broker overrides ``_record_trade`` (its virtual trades are not
public) and ``_fill_maker`` (settling resting orders from real trade prints).
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from decimal import Decimal
from typing import Literal

from botkit.market.matching import Lot, OrderBook, Side
from botkit.sim.candles import CandleStore
from botkit.sim.events import BookChange, OrderChanged, SimEvent, TradePrint
from botkit.sim.ledger import Ledger, fee_for
from botkit.sim.market import (
    BookFactory,
    MarketFactory,
    MarketSource,
    MatchBook,
    SyntheticMarket,
    TakerFn,
    seed_history,
    seed_tape,
)
from botkit.sim.orders import Order
from botkit.sim.specs import ProductSpec, SimMarketConfig
from botkit.sim.wire import QuantityUnit, UserFill, dec_str, order_ws

__all__ = ["FORGET_FROM", "Matcher"]

_ZERO = Decimal(0)
FORGET_FROM = 2000
"""Orders held before the first sweep of finished ones (``keep_finished_seconds`` set)."""


class Matcher:
    """Simulator state and the transitions a match causes (see module docstring)."""

    def __init__(
        self,
        config: SimMarketConfig,
        *,
        seed: int,
        start_time: float,
        market_factory: MarketFactory = SyntheticMarket,
        book_factory: BookFactory | None = None,
    ) -> None:
        self.config = config
        self.ws_quote_sized_quantity: QuantityUnit = config.ws_quote_sized_quantity
        """See :attr:`SimMarketConfig.ws_quote_sized_quantity`."""
        self._seed = seed
        self._start = start_time
        self._now = start_time
        self._steps = 0
        master = random.Random(seed)
        self._id_rng = random.Random(master.getrandbits(64))
        self._products: dict[str, ProductSpec] = {p.product_id: p for p in config.products}
        self._books: dict[str, MatchBook] = {}
        self._markets: dict[str, MarketSource] = {}
        self._candles: dict[str, CandleStore] = {}
        self._recent: dict[str, deque[TradePrint]] = {}
        self._last_price: dict[str, Decimal] = {}
        self._trade_seq: dict[str, int] = {}
        for spec in config.products:
            pid = spec.product_id
            market_rng = random.Random(master.getrandbits(64))
            history_rng = random.Random(master.getrandbits(64))
            self._trade_seq[pid] = 100_000_000 + master.randrange(100_000_000)
            store = CandleStore()
            history = seed_history(spec, config, history_rng, start_time)
            for candle in history:
                store.put(candle)
            self._candles[pid] = store
            self._books[pid] = OrderBook() if book_factory is None else book_factory(spec)
            self._markets[pid] = market_factory(spec, config, market_rng, self._books[pid])
            self._books[pid].take_changes()  # the initial book is the snapshot, not an update
            self._recent[pid] = deque(maxlen=1000)
            self._last_price[pid] = spec.start_price
            # the tape at start: prints that are the last seeded candles (already counted
            # in them, so they go to the tape only, not through _record_trade)
            for t, price, size, side in seed_tape(spec, history, history_rng):
                self._trade_seq[pid] += 1
                self._recent[pid].append(
                    TradePrint(str(self._trade_seq[pid]), pid, price, size, side, t)
                )
        self._ledger = Ledger()
        self._orders: dict[str, Order] = {}
        self._by_client: dict[tuple[str, str], Order] = {}
        self._user_orders: dict[str, list[Order]] = {}
        self._open: dict[str, Order] = {}
        self._stops: dict[str, dict[str, Order]] = {pid: {} for pid in self._products}
        #: lowest and highest print since stops were last checked, per product: a stop
        #: triggers on any print through its price, not only on the latest one
        self._range: dict[str, tuple[Decimal, Decimal] | None] = dict.fromkeys(self._products)
        #: attached exits (TP/SL) whose entry may still fill, by exit order id
        self._exits: dict[str, Order] = {}
        self._gtd: dict[str, Order] = {}
        #: restricted products: (trading mode, status message); absent is ("full", "")
        #: (set by :meth:`botkit.sim.exchange.SimExchange.set_trading_mode`)
        self._modes: dict[str, tuple[str, str]] = {}
        self._cancels: dict[str, Order] = {}
        self._fills: dict[str, list[UserFill]] = {}
        self.keep_finished_seconds: float | None = None
        """None (an exchange: every order kept), or how long a finished order and its
        fills stay after their last change (:meth:`forget_finished`): the paper exchange
        and the runtime's embedded simulator run this engine in the bot's process for as
        long as the bot runs."""
        self._forget_at = FORGET_FROM
        self._kept_since = float("-inf")  # a restore's time: its orders count from then
        self._events: list[SimEvent] = []
        self._seq = 0
        self._takers = {pid: self._taker_for(pid) for pid in self._products}

    # ----------------------------------------------------------------- basics
    def forget_finished(self, cutoff: float | None = None) -> int:
        """Drop the orders finished more than :attr:`keep_finished_seconds` ago (or before
        ``cutoff``), and their fills, from every registry; how many. Live orders stay, and
        so does the entry of a live attached exit (the exit is sized from it). An order
        restored after a restart counts from the restart (:meth:`kept_from`), not from its
        end: a bot that was down asks about what ended before its stop after it starts.
        Amortised: :meth:`sweep_due` says when (once twice as many orders as the last
        sweep kept are held, at least :data:`FORGET_FROM`)."""
        keep = self.keep_finished_seconds
        if keep is None:
            return 0
        if cutoff is None:
            cutoff = self._now - keep
        every = self._orders
        needed = {o.originating_order_id for o in every.values() if not o.terminal}
        since = self._kept_since
        gone = {
            oid for oid, o in every.items()
            if o.terminal and max(o.last_update_time, since) < cutoff and oid not in needed
        }  # fmt: skip
        if gone:
            self._orders = {oid: o for oid, o in every.items() if oid not in gone}
            for user, orders in self._user_orders.items():
                self._user_orders[user] = [o for o in orders if o.order_id not in gone]
            self._by_client = {k: o for k, o in self._by_client.items() if o.order_id not in gone}
            for user, fills in self._fills.items():
                self._fills[user] = [f for f in fills if f.order_id not in gone]
        self._forget_at = max(FORGET_FROM, 2 * len(self._orders))
        return len(gone)

    def holds(self, order_id: str) -> bool:
        """Whether the engine still has ``order_id`` (:meth:`forget_finished` drops some)."""
        return order_id in self._orders

    def kept_from(self, t: float) -> None:
        """The orders held now were restored at ``t``: each stays at least
        :attr:`keep_finished_seconds` from then."""
        self._kept_since = t

    def sweep_due(self) -> bool:
        """Whether :meth:`forget_finished` has work worth its scan (O(1))."""
        return self.keep_finished_seconds is not None and len(self._orders) > self._forget_at

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _emit(self, order: Order) -> None:
        ws = order_ws(order, quote_sized_quantity=self.ws_quote_sized_quantity)
        self._events.append(OrderChanged(order.user_id, ws))

    def _flush_books(self, t: float) -> None:
        for pid, book in self._books.items():
            for ch in book.take_changes():
                side: Literal["bid", "offer"] = "bid" if ch.side == "BUY" else "offer"
                self._events.append(BookChange(pid, side, ch.price, ch.size, t))

    # --------------------------------------------------------------- matching
    def _taker_for(self, pid: str) -> TakerFn:
        def take(side: Side, size: Decimal, limit: Decimal | None) -> None:
            self._take(pid, side, size, limit)

        return take

    def _take(self, pid: str, side: Side, size: Decimal, limit: Decimal | None) -> None:
        if size > 0:
            self._match(pid, side, size, limit, None, self._now)

    def _match(
        self,
        pid: str,
        side: Side,
        size: Decimal,
        limit: Decimal | None,
        taker: Order | None,
        t: float,
    ) -> None:
        tier = self.config.fee_tier
        for fill in self._books[pid].match(side, size, limit):
            trade_id = self._record_trade(pid, fill.price, fill.size, fill.maker_side, t)
            if fill.maker_owner is None:
                if not fill.maker_remaining:
                    self._markets[pid].on_filled(fill.maker_order_id)
            else:
                maker = self._orders[fill.maker_order_id]
                self._fill_maker(maker, fill.price, fill.size, trade_id, t)
            if taker is not None:
                self._settle(
                    taker, fill.price, fill.size, tier.taker_fee_rate, "TAKER", trade_id, t
                )

    def _record_trade(
        self, pid: str, price: Decimal, size: Decimal, maker_side: Side, t: float
    ) -> str:
        """Print one trade on the public tape; returns its trade id.

        The paper broker overrides this: its own virtual trades are not public.
        """
        self._trade_seq[pid] += 1
        trade_id = str(self._trade_seq[pid])
        trade = TradePrint(trade_id, pid, price, size, maker_side, t)
        self._events.append(trade)
        self._recent[pid].append(trade)
        self._candles[pid].record_trade(t, price, size)
        self._note_print(pid, price)
        return trade_id

    def _note_print(self, pid: str, price: Decimal) -> None:
        """A public print: the new last trade price, and the range stops are checked against."""
        self._last_price[pid] = price
        seen = self._range[pid]
        self._range[pid] = (price, price) if seen is None else (min(seen[0], price),
                                                                max(seen[1], price))  # fmt: skip

    def _fill_maker(
        self, maker: Order, price: Decimal, size: Decimal, trade_id: str, t: float
    ) -> None:
        """Settle one fill of a resting user order (maker fee), then finish or report it.

        Factored out of :meth:`_match` so the paper broker can settle the fills
        that real trade prints give its resting orders through the same code.
        """
        rate = self.config.fee_tier.maker_fee_rate
        self._settle(maker, price, size, rate, "MAKER", trade_id, t)
        if maker.remaining <= 0:
            self._finish(maker, "FILLED", t)
        else:
            self._trim_hold(maker, t)
            self._emit(maker)

    def _settle(
        self,
        order: Order,
        price: Decimal,
        size: Decimal,
        rate: Decimal,
        liq: str,
        tid: str,
        t: float,
    ) -> None:
        spec = self._products[order.product_id]
        notional = price * size
        fee = fee_for(notional, rate)
        user = order.user_id
        if order.side == "BUY":
            self._ledger.consume_hold(user, spec.quote_currency, notional + fee, t)
            order.hold -= notional + fee
            self._ledger.credit(user, spec.base_currency, size, t)
        else:
            self._ledger.consume_hold(user, spec.base_currency, size, t)
            order.hold -= size
            self._ledger.credit(user, spec.quote_currency, notional - fee, t)
        order.filled_size += size
        order.filled_value += notional
        order.total_fees += fee
        order.number_of_fills += 1
        order.last_fill_time = order.last_update_time = t
        self._fills[user].append(
            UserFill(
                self._new_id(), tid, order.order_id, user, order.product_id, order.side,
                price, size, fee, liq, t, order.size_in_quote, self._next_seq(),
            )
        )  # fmt: skip

    def _hold_target(self, order: Order) -> Decimal:
        """What a resting order must still reserve: base for sells, worst-case quote for buys."""
        if order.side == "SELL":
            return order.remaining
        assert order.limit_price is not None
        price = order.limit_price
        if order.kind == "BRACKET" and order.trigger_status == "STOP_PENDING":
            price = max(price, order.stop_limit_price or price)  # either leg may fill
        return order.remaining * price * (1 + self.config.fee_tier.taker_fee_rate)

    def _trim_hold(self, order: Order, t: float) -> None:
        excess = order.hold - self._hold_target(order)
        if excess > 0:
            self._ledger.release_hold(order.user_id, order.hold_currency, excess, t)
            order.hold -= excess

    def _finish(self, order: Order, status: str, t: float, reason: str = "") -> None:
        order.status = status
        order.last_update_time = t
        if status != "FILLED":
            order.cancel_reason = reason
        self._ledger.release_hold(order.user_id, order.hold_currency, order.hold, t)
        order.hold = _ZERO
        self._books[order.product_id].cancel(order.order_id)
        for registry in (self._open, self._gtd, self._cancels, self._stops[order.product_id]):
            registry.pop(order.order_id, None)
        self._emit(order)

    def _enter_book(self, order: Order, t: float, announce: bool) -> None:
        """Put a limit order into the book: trade whatever crosses, rest the remainder."""
        assert order.limit_price is not None
        book = self._books[order.product_id]
        before = order.number_of_fills
        if book.crosses(order.side, order.limit_price):
            self._match(order.product_id, order.side, order.remaining, order.limit_price, order, t)
        if order.remaining <= 0:
            self._finish(order, "FILLED", t)
            return
        lot = Lot(order.order_id, order.side, order.limit_price, order.remaining, order.user_id)
        book.add(lot)
        self._trim_hold(order, t)
        if announce or order.number_of_fills != before:
            self._emit(order)

    def _check_stops(self, pid: str, t: float) -> None:
        """Trigger every stop a print since the last check went through, then bring
        attached exits up to their entries' fills.

        Coinbase triggers on the last trade price (reference §2.3); checking the
        low/high of the prints since the last check means a print through the stop
        triggers it even when a later print in the same step moved back.
        """
        if self._exits:
            self._sync_exits(t)
        stops = self._stops[pid]
        while stops:
            last = self._last_price[pid]
            low, high = self._range[pid] or (last, last)
            self._range[pid] = None
            hit = [
                o
                for o in stops.values()
                if o.stop_price is not None
                and (
                    high >= o.stop_price
                    if o.stop_direction == "STOP_DIRECTION_STOP_UP"
                    else low <= o.stop_price
                )
            ]
            if not hit:
                break
            for order in hit:
                if stops.pop(order.order_id, None) is not None and not order.terminal:
                    self._trigger(order, t)
        self._range[pid] = None

    def _trigger(self, order: Order, t: float) -> None:
        """A stop's trigger: a stop-limit becomes a limit at its limit price; a bracket's
        take-profit leaves the book and the rest becomes a limit at the stop leg's price
        (one order, so the two legs can never fill more than its size together)."""
        order.trigger_status = "STOP_TRIGGERED"
        order.last_update_time = t
        if order.status == "PENDING":
            order.status = "OPEN"
        if order.kind == "BRACKET":
            self._books[order.product_id].cancel(order.order_id)
            order.limit_price = order.stop_limit_price
        if order.remaining > 0:
            self._enter_book(order, t, announce=True)

    def _sync_exits(self, t: float) -> None:
        """Size attached exits by their entries' fills (see ``attached_exit_activation``);
        an entry that ended with nothing filled cancels its exit."""
        per_fill = self.config.attached_exit_activation == "per_fill"
        for exit_ in list(self._exits.values()):
            if exit_.terminal:
                del self._exits[exit_.order_id]
                continue
            entry = self._orders[exit_.originating_order_id]
            if (per_fill or entry.terminal) and entry.filled_size > exit_.base_size:
                self._grow_exit(exit_, entry.filled_size - exit_.base_size, t)
            if entry.terminal:
                del self._exits[exit_.order_id]
                if exit_.base_size <= 0:
                    self._finish(exit_, "CANCELLED", t, "Originating order ended without a fill")

    def _grow_exit(self, exit_: Order, delta: Decimal, t: float) -> None:
        """Add ``delta`` base to an attached exit: hold it, re-rest the working leg."""
        user = exit_.user_id
        delta = min(delta, self._ledger.available(user, exit_.hold_currency))
        if delta <= 0:
            return
        self._ledger.place_hold(user, exit_.hold_currency, delta, t)
        exit_.hold += delta
        exit_.base_size += delta
        exit_.config = dict(exit_.config, base_size=dec_str(exit_.base_size))
        exit_.last_update_time = t
        if exit_.status == "PENDING":
            exit_.status = "OPEN"
        if exit_.trigger_status == "STOP_PENDING":
            self._stops[exit_.product_id][exit_.order_id] = exit_
        self._books[exit_.product_id].cancel(exit_.order_id)
        self._enter_book(exit_, t, announce=True)
