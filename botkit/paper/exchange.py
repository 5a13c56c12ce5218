"""``PaperExchange``: the simulator's exchange rules over real market data.

It *is* a :class:`~botkit.sim.exchange.SimExchange` (same validation, increments,
holds, fees, Coinbase wire shapes, ``client_order_id`` idempotency, cancel and
edit, REST views), with three things swapped:

* the book is a :class:`~botkit.paper.book.PaperBook` over the client's live
  :class:`~botkit.market.book.L2Book` (real liquidity; resting orders queue behind
  it and fill only from real trade prints), and there is no synthetic market;
* time is the caller's: :meth:`advance` applies submit latency (``PENDING``
  until the order reaches the virtual matching engine), cancel latency
  (``CANCEL_QUEUED``, still fillable) and GTD expiry;
* everything that changed can be taken as journal records
  (:meth:`take_delta`) and restored after a restart (:meth:`restore`); both
  are at the end of this module (the recovery contract: the "what was reported"
  bookkeeping next to the only code that resets it).

Pure: no clock, no I/O; ids come from the engine's seeded RNG, so the same
inputs give byte-identical outputs. The fill model is docs/paper.md.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from botkit.market.book import L2Book
from botkit.market.matching import Lot, Side
from botkit.paper.book import PaperBook
from botkit.paper.config import PaperConfig
from botkit.paper.records import BalanceRecord, FillRecord, OrderRecord, StateDelta
from botkit.paper.state import (
    balance_record,
    fill_from_record,
    fill_record,
    order_from_state,
    order_record,
)
from botkit.sim.events import TradePrint
from botkit.sim.exchange import SimExchange
from botkit.sim.market import MatchBook, TakerFn
from botkit.sim.orders import Order, OrderReject, OrderRequest
from botkit.sim.specs import ProductSpec, SimMarketConfig

__all__ = ["PaperExchange", "Trade"]

#: One ``market_trades`` print: ``(trade_id, price, size, side)`` as received.
Trade = tuple[str, Decimal, Decimal, str]

_ZERO = Decimal(0)
_IMMEDIATE = frozenset({"IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"})

KEEP_FINISHED_SECONDS = 900.0
"""How long a finished paper order (and its fills) stays in memory after its last change.

Why: the simulator's engine keeps every order and fill it ever had, as an exchange does;
a paper bot runs it in its own process for days (~1.6 KB per order: ~18 MB an hour at 190
orders a minute, and ``list_orders`` formatting them all on the event loop: 1.9 s at
28 000). The paper journal keeps them all. What asks the exchange about a finished order
asks within minutes of its end: a re-sent client id (``resend_max_age``, 60 s), the
executor's lookup after an unknown outcome (its window ends 900 s after the last attempt),
a read-back of fills. Older ones answer "not found": the read-back takes that as an order
with nothing more to tell, but the executor as one that never reached the exchange (re-sent
within ``resend_max_age``, ``STALE_INTENT`` after): hence a restart keeps what the session
held for as long again from the restart (``_restore``)."""
KEEP_CANDLE_MINUTES = 1440
"""Minute candles of the market's prints kept (a day): the paper client's candles endpoint
answers from them; a strategy's warm-up reads the source venue's, not these."""


class _NoMarket:
    """The paper exchange's market source: the market is real, nothing is synthetic."""

    def __init__(
        self, spec: ProductSpec, config: SimMarketConfig, rng: random.Random, book: MatchBook
    ) -> None:
        del spec, config, rng, book

    def step(self, take: TakerFn) -> None:
        """Nothing moves by itself."""

    def on_filled(self, order_id: str) -> None:
        """Real liquidity needs no bookkeeping here (see :class:`PaperBook`)."""


class PaperExchange(SimExchange):
    """A paper broker's exchange over live books (see module docstring).

    Args:
        config: the paper configuration (products, fees, portfolio, latencies).
        books: the client's live books by product id; may gain books later. An
            absent or invalid book is no liquidity: orders that must trade at
            once are rejected (or cancelled at activation), resting orders wait.
        seed: seeds the order/fill ids.
        start_time: the session's start (Unix seconds).
    """

    def __init__(
        self, config: PaperConfig, books: Mapping[str, L2Book], *, seed: int, start_time: float
    ) -> None:
        self.paper = config
        self._paper_books: dict[str, PaperBook] = {}

        def make_book(spec: ProductSpec) -> MatchBook:
            book = PaperBook(
                spec.product_id, books, print_lag=config.print_lag, tick=spec.price_tick
            )
            self._paper_books[spec.product_id] = book
            return book

        super().__init__(
            config.sim_config(),
            seed=seed,
            start_time=start_time,
            market_factory=_NoMarket,
            book_factory=make_book,
        )
        self._pending: dict[str, Order] = {}
        self._seen_trades = {pid: (set[str](), deque[str]()) for pid in self._products}
        self._unprinted = {pid for pid, spec in self._products.items() if not spec.start_price}
        """Products whose rules gave no price and no trade print has reached yet: their
        book's mid stands for the last trade price (:meth:`on_book`). Prime's feed has no
        prints at all, and its product rules no price: the last price stayed 0, so a
        paper stop-loss was refused as "above the last trade price" and a short one
        never triggered (a QA pass). With a price in the rules (Advanced Trade), that
        price stands until the first print, as before."""
        self._dirty: dict[str, None] = {}
        self._fills_reported = 0
        self._book_fills = 0  # fills_from_book: the id of the last (book-N)
        self._version = -1  # the ledger version last reported
        self._balances_reported: dict[str, tuple[Decimal, Decimal]] = {}
        self.keep_finished_seconds = KEEP_FINISHED_SECONDS
        for store in self._candles.values():  # its own prints' minutes: the last day
            store.max_minutes = KEEP_CANDLE_MINUTES
        self.add_user(config.user_id)

    @staticmethod
    def _takes_liquidity(order: Order) -> bool:
        """Market, IOC and FOK orders trade at once or not at all: they need a book."""
        return order.kind == "MARKET" or order.time_in_force in _IMMEDIATE

    def paper_book(self, product_id: str) -> PaperBook:
        """The product's paper book (queue positions, effective liquidity)."""
        return self._paper_books[product_id]

    # ----------------------------------------------------------- engine hooks
    def _emit(self, order: Order) -> None:
        self._dirty[order.order_id] = None
        super()._emit(order)

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
        self._dirty[order.order_id] = None
        super()._settle(order, price, size, rate, liq, tid, t)

    def _trim_hold(self, order: Order, t: float) -> None:
        self._dirty[order.order_id] = None
        super()._trim_hold(order, t)

    def _record_trade(
        self, pid: str, price: Decimal, size: Decimal, maker_side: Side, t: float
    ) -> str:
        """Our own virtual trades are not public prints: no tape, no last price."""
        return self._new_id()

    def _precheck(self, request: OrderRequest, spec: ProductSpec) -> None:
        immediate = request.kind == "MARKET" or request.time_in_force in _IMMEDIATE
        if immediate and not self._paper_books[spec.product_id].valid:
            raise OrderReject("INVALID_NO_LIQUIDITY", self._no_book(spec.product_id))

    def _no_book(self, pid: str) -> str:
        book = self._paper_books[pid]._books.get(pid)
        why = "no book yet" if book is None else book.invalid_reason or "book invalid"
        return f"no liquidity: the {pid} order book is not usable ({why})"

    def _accept(self, order: Order, now: float) -> None:
        """Submit latency: the order is ``PENDING`` until it reaches the matching engine."""
        if self.paper.submit_latency <= 0 and self._ready(order):
            self._activate(order, now)
            return
        order.status = "PENDING"
        order.activate_at = now + self.paper.submit_latency
        self._pending[order.order_id] = order
        self._emit(order)

    def _ready(self, order: Order) -> bool:
        """Whether a pending order can be activated: resting limits wait for a valid book."""
        return (
            order.kind == "STOP_LIMIT"
            or self._takes_liquidity(order)
            or self._paper_books[order.product_id].valid
        )

    def _activate(self, order: Order, t: float) -> None:
        pid = order.product_id
        book = self._paper_books[pid]
        self._pending.pop(order.order_id, None)
        order.activate_at = None
        if order.status == "PENDING":
            order.status = "OPEN"
        order.last_update_time = t
        if order.end_time is not None and order.end_time <= t:
            self._finish(order, "EXPIRED", t, "Order expired")
        elif self._takes_liquidity(order) and not book.valid:
            self._finish(order, "CANCELLED", t, self._no_book(pid))
        elif (
            order.post_only
            and order.limit_price is not None
            and book.crosses(order.side, order.limit_price)
        ):
            order.reject_reason = "INVALID_LIMIT_PRICE_POST_ONLY"
            self._finish(order, "FAILED", t)
        else:
            if order.kind == "MARKET" and order.side == "BUY":
                self._fund_market_buy(order, book, t)
            self._execute(order, t)
            self._check_stops(pid, t)

    def _fund_market_buy(self, order: Order, book: PaperBook, t: float) -> None:
        """Re-price a market buy against the book it meets (it may have moved since submit).

        A quote-sized buy gets whatever its budget buys now. A base-sized buy tops
        up its hold if the walk got dearer and funds allow; otherwise
        :meth:`_taker_size` caps it to what the hold pays for (IOC: the rest is
        cancelled).
        """
        spec = self._products[order.product_id]
        taker = self.config.fee_tier.taker_fee_rate
        if order.quote_size is not None:
            order.base_size = book.size_for_budget(
                "BUY", order.quote_size, taker, spec.base_increment
            )
            return
        extra = book.cost("BUY", order.base_size)[1] * (1 + taker) - order.hold
        if extra > 0 and self._ledger.available(order.user_id, order.hold_currency) >= extra:
            self._ledger.place_hold(order.user_id, order.hold_currency, extra, t)
            order.hold += extra

    def _taker_size(self, order: Order) -> Decimal:
        if order.kind != "MARKET" or order.side != "BUY" or order.quote_size is not None:
            return order.base_size
        book = self._paper_books[order.product_id]
        taker = self.config.fee_tier.taker_fee_rate
        if book.cost("BUY", order.base_size)[1] * (1 + taker) <= order.hold:
            return order.base_size
        increment = self._products[order.product_id].base_increment
        return min(order.base_size, book.size_for_budget("BUY", order.hold, taker, increment))

    def _defer_cancel(self, order: Order, now: float) -> bool:
        """Cancel latency in seconds (the simulator counts market steps instead)."""
        if self.paper.cancel_latency <= 0:
            return False
        order.cancel_at = now + self.paper.cancel_latency
        return True

    def _finish(self, order: Order, status: str, t: float, reason: str = "") -> None:
        self._pending.pop(order.order_id, None)
        super()._finish(order, status, t, reason)

    # ------------------------------------------------------------ read views
    # What a driver of the exchange (the candle backtest) reads between market events,
    # so that it need not know the engine's registries.

    def has_live_orders(self) -> bool:
        """Whether any order can still change: open (resting, stops, brackets, queued
        cancels), pending (in submit latency) or an attached exit waiting for its entry.

        While this is False, market events cannot fill, trigger or expire anything: a
        driver may skip them (only the book and the last price move, see :meth:`mark`).
        """
        return bool(self._open or self._pending or self._exits)

    def has_working_orders(self) -> bool:
        """Whether an order is open or pending: what a book update acts on (activations,
        queue caps, cancels and expiries that fall due)."""
        return bool(self._open or self._pending)

    def product(self, product_id: str) -> ProductSpec:
        """The configured product's rules (currencies, increments).

        Raises:
            KeyError: the product is not configured.
        """
        return self._products[product_id]

    def holding(self, currency: str) -> Decimal:
        """The paper user's total of ``currency`` (available plus on hold), zero if none."""
        for bal in self._ledger.balances(self.paper.user_id):
            if bal.currency == currency:
                return bal.available + bal.hold
        return _ZERO

    # ---------------------------------------------------------------- inputs
    def quiet_print(self, product_id: str, price: Decimal, now: float) -> None:
        """The market's last trade was at ``price`` by ``now``, and no order could have
        met it: what :meth:`on_trades` would leave behind for prints while no order is
        live (the last trade price that stop orders are checked against, the engine's
        time), without the prints. A candle backtest skipping a quiet candle's prints
        calls this at the close.

        Not kept: the simulator's own candle and tape views, which a paper session's
        strategy does not read.

        Raises:
            ValueError: an order is live (its fills would be skipped: feed the prints).
        """
        if self._open or self._pending or self._exits:  # (has_live_orders, inlined: hot)
            raise ValueError(
                f"{product_id}: orders are live, so prints may fill them: call on_trades"
            )
        self._now = max(self._now, now)
        self._last_price[product_id] = price
        self._range[product_id] = None  # as on_trades leaves it with no stop to check

    def advance(self, now: float) -> None:
        """Apply everything due by ``now`` in time order: activations, cancels, expiries.

        Something that was due earlier but could not happen (a resting order
        waiting for a valid book) happens at the previous ``advance`` time at
        the earliest, so the times recorded never go backwards.
        """
        floor = self._now
        if now > floor:  # max(), without the call: the hot path below runs per record
            self._now = now
        if not (self._pending or self._cancels or self._gtd):
            return  # the hot path: called for every book update and print batch
        due: list[tuple[float, int, int, Order]] = []
        for order in self._pending.values():
            if order.activate_at is not None and order.activate_at <= now and self._ready(order):
                due.append((order.activate_at, 0, order.seq, order))
        for order in self._cancels.values():
            if order.cancel_at is not None and order.cancel_at <= now:
                due.append((order.cancel_at, 1, order.seq, order))
        for order in self._gtd.values():
            if order.end_time is not None and order.end_time <= now:
                due.append((order.end_time, 2, order.seq, order))
        due.sort(key=lambda d: d[:3])
        for when, kind, _seq, order in due:
            t = max(when, floor)
            if order.terminal:
                continue
            if kind == 0:
                if order.order_id in self._pending:
                    self._activate(order, t)
            elif kind == 1:
                self._finish(order, "CANCELLED", t, "User requested cancel")
            else:
                self._finish(order, "EXPIRED", t, "Order expired")
        self._settle_exits(self._now)
        self._flush_books(self._now)

    def on_book(self, product_id: str, now: float) -> None:
        """The product's L2 book was just updated: apply what is due, then cap queues."""
        book = self._paper_books.get(product_id)
        if book is None:
            return
        self.advance(now)
        book.on_book(now)
        if product_id in self._unprinted:
            self._mid_as_last(product_id, book, now)
        if self.paper.fills_from_book and len(book):
            fills = book.crossed()
            for lot, qty in fills:
                self._book_fills += 1
                self._fill_maker(
                    self._orders[lot.order_id], lot.price, qty, f"book-{self._book_fills}", now
                )
            if fills:
                self._flush_books(self._now)

    def _mid_as_last(self, product_id: str, book: PaperBook, now: float) -> None:
        """With no print yet, the book's mid is the price stops trigger on and orders are
        checked against (**assumed**: Coinbase triggers on trades; a paper session with
        no trade feed, as on Prime, has only the book)."""
        l2 = book.live()
        mid = l2.mid() if l2 is not None else None
        if mid is None or mid == self._last_price[product_id]:
            return
        self._note_print(product_id, mid)
        if self._stops[product_id] or self._exits:
            self._check_stops(product_id, now)
        else:
            self._range[product_id] = None  # as a print no stop saw leaves it

    def on_trades(self, product_id: str, trades: Iterable[Trade], now: float) -> None:
        """Real trade prints (``market_trades`` *updates* only): fill resting orders.

        Prints seen before (by trade id) are ignored. Numeric trade ids are
        processed in id order (Coinbase batches are not oldest first). Each
        print also moves the last price (stop triggers, marks) and the candles.
        """
        self.advance(now)
        book = self._paper_books.get(product_id)
        if book is None:
            return
        if trades:  # prints from now on: they set the last price
            self._unprinted.discard(product_id)
        if not len(book) and not self._stops[product_id] and not self._exits:
            self._quiet_trades(product_id, trades, now)
        else:
            self._trades(book, product_id, trades, now)
        self._flush_books(self._now)

    def _trades(
        self, book: PaperBook, product_id: str, trades: Iterable[Trade], now: float
    ) -> None:
        """:meth:`on_trades` for prints that may fill, trigger or bring exits up to date."""
        seen, order = self._seen_trades[product_id]
        memory = self.paper.trade_id_memory
        recent = self._recent[product_id]
        candles = self._candles[product_id]
        taker_view = self.paper.trade_side != "maker"
        for raw_id, price, size, side in self._in_order(trades):
            trade_id = str(raw_id)
            if trade_id in seen or price <= 0 or size <= 0:
                continue
            seen.add(trade_id)  # a print seen before (a replayed batch) is not counted twice
            order.append(trade_id)
            if len(order) > memory:
                seen.discard(order.popleft())
            upper = str(side).upper()
            maker: Side | None = None
            if upper == "BUY" or upper == "SELL":
                buy = (upper == "BUY") != taker_view  # the side the aggressor hit
                maker = "BUY" if buy else "SELL"
                recent.append(TradePrint(trade_id, product_id, price, size, maker, now))
            candles.record_trade(now, price, size)
            self._note_print(product_id, price)
            for lot, qty in book.allocate(price, size, maker, now):
                self._fill_maker(self._orders[lot.order_id], lot.price, qty, trade_id, now)
            if self._stops[product_id] or self._exits:
                self._check_stops(product_id, now)
            else:
                self._range[product_id] = None  # no stop saw this print

    def _quiet_trades(self, product_id: str, trades: Iterable[Trade], now: float) -> None:
        """:meth:`_trades` while the product has no resting order, no stop and no exit
        waits anywhere: what every print still changes, and nothing else.

        Why: most prints of a replay reach none of the bot's orders, and for those the
        general loop's share-out (:meth:`PaperBook.allocate`, empty), stop check (none)
        and low/high range (cleared again at once) are pure cost. Nothing in this loop
        can place an order, so the condition, checked once by the caller, holds for the
        whole batch. What stays, in the same order: the trade-id dedupe, the tape, the
        minute candles, the last trade price and the cleared range (the state
        :meth:`_trades` leaves after each print). A differential test runs both loops.
        """
        seen, order = self._seen_trades[product_id]
        memory = self.paper.trade_id_memory
        recent = self._recent[product_id]
        record = self._candles[product_id].record_trade
        last_price, price_range = self._last_price, self._range
        taker_view = self.paper.trade_side != "maker"
        for raw_id, price, size, side in self._in_order(trades):
            trade_id = str(raw_id)
            if trade_id in seen or price <= 0 or size <= 0:
                continue
            seen.add(trade_id)
            order.append(trade_id)
            if len(order) > memory:
                seen.discard(order.popleft())
            upper = str(side).upper()
            if upper == "BUY" or upper == "SELL":
                maker: Side = "BUY" if (upper == "BUY") != taker_view else "SELL"
                recent.append(TradePrint(trade_id, product_id, price, size, maker, now))
            record(now, price, size)
            last_price[product_id] = price
            price_range[product_id] = None

    @staticmethod
    def _in_order(trades: Iterable[Trade]) -> list[Trade]:
        """The prints by numeric trade id (a stable sort) when every id is one and they
        are not in order already; else as given. No generators: called per batch."""
        rows = list(trades)
        if len(rows) > 1:
            for row in rows:
                if not str(row[0]).isdigit():
                    return rows
            ids = [int(row[0]) for row in rows]
            if ids != sorted(ids):
                rows.sort(key=lambda row: int(row[0]))
        return rows

    # --------------------------------------------------------------- outputs
    def take_delta(self) -> StateDelta:
        """Orders, fills and balances of the paper user changed since the last call.

        See :func:`_take_delta`. Finished orders older than ``keep_finished_seconds`` leave
        memory here once a sweep is due (:meth:`sweep_due`; everything is reported by now:
        nothing unjournaled is lost).
        """
        delta = _take_delta(self)
        if self.sweep_due():
            _forget_finished(self)
        return delta

    def quiet(self) -> bool:
        """True when :meth:`take_delta` would return the empty delta (and sweep nothing)
        and :meth:`drain_events` no event: nothing to journal or publish. O(1).

        Why: the broker flushes after every record of a replay and every request, and
        nearly all find nothing; asking this first spares them the two calls (and the
        empty list :meth:`drain_events` makes).
        """
        return (
            not self._dirty
            and not self._events
            and self._ledger.version == self._version
            and len(self._fills.get(self.paper.user_id, ())) == self._fills_reported
            and not self.sweep_due()
        )

    def mark(self, product_id: str) -> Decimal:
        """The product's mark: the real book's mid, else the last print, else its start
        price; zero when there is none of these (no price yet: see :meth:`unpriced`)."""
        l2 = self._paper_books[product_id].live()
        mid = l2.mid() if l2 is not None else None
        return mid if mid is not None else self._last_price[product_id]

    def portfolio_value(self, quote: str) -> tuple[Decimal, dict[str, Decimal]]:
        """The paper user's total value in ``quote`` and the marks used, by product id.

        Every currency is valued through a product that pairs it with ``quote``
        (either way round) at that product's :meth:`mark`. A product with no price yet
        values its holdings at zero: check :meth:`unpriced` first where that matters.

        Raises:
            ValueError: a non-zero balance has no product pairing it with ``quote``.
        """
        marks = {pid: self.mark(pid) for pid in self._products}
        equity = _ZERO
        for bal in self._ledger.balances(self.paper.user_id):
            amount = bal.available + bal.hold
            if amount:
                equity += amount * self._rate(bal.currency, quote, marks)
        return equity, marks

    def unpriced(self, quote: str) -> list[str]:
        """The products whose mark valuing the paper user's holdings in ``quote`` needs,
        but which have no price yet (sorted; empty when every holding can be valued).

        A product has no price before its book is valid or a trade print arrives, unless
        its rules gave a start price (Advanced Trade's ``price``; the Exchange and Prime
        rules carry none): right after a restart, typically. :meth:`portfolio_value`
        would value such a holding at zero, so an equity point must wait for it.
        A holding no configured product values is left to :meth:`portfolio_value`.
        """
        missing: set[str] = set()
        for bal in self._ledger.balances(self.paper.user_id):
            if bal.currency == quote or not (bal.available + bal.hold):
                continue
            found = self._valuing(bal.currency, quote)
            if found is not None and not self.mark(found[0]) > 0:
                missing.add(found[0])
        return sorted(missing)

    def _valuing(self, currency: str, quote: str) -> tuple[str, bool] | None:
        """The product that values ``currency`` in ``quote`` and whether it is inverted."""
        for spec in self._products.values():
            if spec.base_currency == currency and spec.quote_currency == quote:
                return spec.product_id, False
        for spec in self._products.values():
            if spec.base_currency == quote and spec.quote_currency == currency:
                return spec.product_id, True
        return None

    def _rate(self, currency: str, quote: str, marks: Mapping[str, Decimal]) -> Decimal:
        if currency == quote:
            return Decimal(1)
        found = self._valuing(currency, quote)
        if found is None:
            raise ValueError(f"no configured product values {currency} in {quote}")
        mark = marks[found[0]]
        if not found[1]:
            return mark
        return 1 / mark if mark else _ZERO

    # --------------------------------------------------------------- restore
    def restore(
        self,
        orders: Sequence[OrderRecord],
        fills: Sequence[FillRecord],
        balances: Sequence[BalanceRecord],
    ) -> None:
        """Rebuild a journaled session on this fresh exchange (after a restart or kill).

        Open resting orders re-join at the back of the queue; pending orders that
        must trade at once are cancelled. See :func:`_restore`.

        Raises:
            ValueError: this exchange already has orders, a record is unreadable,
                or an order is on a product this exchange is not configured for.
        """
        _restore(self, orders, fills, balances)


# ---- crash recovery: state out as journal records, and back in ----------------------------

_NOTHING = StateDelta()  # immutable-by-convention empty delta (falsy)
_RESTARTED = "paper session restarted before the order reached the matching engine"


def _take_delta(exchange: PaperExchange) -> StateDelta:
    """Orders, fills and balances of the paper user changed since the last call.

    Args:
        exchange: the paper exchange whose changes are reported (and marked reported).

    Returns:
        The changes as journal records; an empty (falsy) delta when nothing changed.
    """
    user = exchange.paper.user_id
    every = exchange._fills.get(user, ())
    version = exchange._ledger.version
    if (
        not exchange._dirty
        and len(every) == exchange._fills_reported
        and version == exchange._version
    ):
        return _NOTHING  # the hot path: called after every market event
    exchange._version = version
    orders = [
        order_record(exchange._orders[oid])
        for oid in exchange._dirty
        if exchange._orders[oid].user_id == user
    ]
    exchange._dirty.clear()
    fills = [
        fill_record(f, exchange._orders[f.order_id].client_order_id)
        for f in every[exchange._fills_reported :]
    ]
    exchange._fills_reported = len(every)
    balances: list[BalanceRecord] = []
    for bal in exchange._ledger.balances(user):
        now = (bal.available, bal.hold)
        if exchange._balances_reported.get(bal.currency) != now:
            exchange._balances_reported[bal.currency] = now
            balances.append(balance_record(bal))
    return StateDelta(orders, fills, balances)


def _forget_finished(exchange: PaperExchange, cutoff: float | None = None) -> int:
    """The engine's :meth:`~botkit.sim.matcher.Matcher.forget_finished`, called with
    everything reported (:func:`_take_delta` just ran, or a restore): the fills reported
    are then the fills kept. How many orders left."""
    gone = exchange.forget_finished(cutoff)
    exchange._fills_reported = len(exchange._fills.get(exchange.paper.user_id, ()))
    return gone


def _restore(
    exchange: PaperExchange,
    orders: Sequence[OrderRecord],
    fills: Sequence[FillRecord],
    balances: Sequence[BalanceRecord],
) -> None:
    """Rebuild a journaled session on a fresh exchange (after a restart or kill).

    Later records of the same order or currency win. Balances and holds are
    taken as journaled. Open resting orders re-join at the *back* of the
    current queue at their price (the queue position they had is unknowable
    after downtime); if the book is not valid yet they join when it is.
    Orders still in submit latency that must trade at once (market, IOC,
    FOK) are cancelled: the book they would have met is gone. Fill and order
    ids continue from a generator re-seeded from the restored state, so they
    stay deterministic and never repeat restored ones.

    Args:
        exchange: a freshly built paper exchange (no orders yet).
        orders: journaled order records, oldest first.
        fills: journaled fill records (duplicates by fill id are ignored).
        balances: journaled balance records, oldest first.

    Raises:
        ValueError: the exchange already has orders, a record is unreadable,
            or an order is on a product the exchange is not configured for.
    """
    if exchange._orders:
        raise ValueError("restore() needs a fresh PaperExchange")
    latest = {rec.order_id: order_from_state(rec.state) for rec in orders}
    unknown = sorted({o.product_id for o in latest.values()} - set(exchange._products))
    if unknown:
        raise ValueError(f"journaled orders on products not configured: {unknown}")
    user = exchange.paper.user_id
    exchange.add_user(user)
    restored = sorted(latest.values(), key=lambda o: o.seq)
    for order in restored:
        exchange._orders[order.order_id] = order
        exchange._user_orders.setdefault(order.user_id, []).append(order)
        exchange._fills.setdefault(order.user_id, [])
        if order.client_order_id:
            exchange._by_client[(order.user_id, order.client_order_id)] = order
    unique = {rec.fill_id: rec for rec in fills}
    for rec in sorted(unique.values(), key=lambda r: r.seq):
        owner = latest.get(rec.order_id)
        in_quote = owner.size_in_quote if owner is not None else False
        exchange._fills[user].append(fill_from_record(rec, user, in_quote))
    ledger = exchange._ledger
    for bal in {b.currency: b for b in balances}.values():
        if bal.currency not in {b.currency for b in ledger.balances(user)}:
            exchange._open_account(user, bal.currency, _ZERO)
        ledger.set_balance(user, bal.currency, bal.available, bal.hold, bal.time)
    seqs = [o.seq for o in restored] + [r.seq for r in unique.values()]
    exchange._seq = max(seqs, default=0)
    exchange._id_rng = random.Random(
        f"paper-restore:{exchange._seed}:{len(latest)}:{len(unique)}:{exchange._seq}"
    )
    exchange._events.clear()
    exchange._dirty.clear()
    exchange._fills_reported = len(exchange._fills[user])
    exchange._balances_reported = {b.currency: (b.available, b.hold) for b in ledger.balances(user)}
    for order in restored:
        if not order.terminal:
            _reopen(exchange, order)
    # a long session's journal: what the session held when it stopped (the orders that
    # finished within KEEP_FINISHED_SECONDS of its last change), each kept as long again
    # from now — the restarted bot asks about them (start-up lookup, read-back,
    # reconciliation) however long it was down
    keep = exchange.keep_finished_seconds
    if keep is not None:
        last = max((o.last_update_time for o in restored), default=exchange._now)
        _forget_finished(exchange, last - keep)
        exchange.kept_from(exchange._now)


def _reopen(exchange: PaperExchange, order: Order) -> None:
    """Put a restored live order back where the engine keeps it (pending, queue, stops)."""
    pid = order.product_id
    exchange._open[order.order_id] = order
    if order.activate_at is not None:  # never reached the matching engine
        if exchange._takes_liquidity(order):
            exchange._finish(order, "CANCELLED", exchange._now, _RESTARTED)
        else:
            exchange._pending[order.order_id] = order
        return
    if order.end_time is not None:
        exchange._gtd[order.order_id] = order
    if order.status == "CANCEL_QUEUED":
        exchange._cancels[order.order_id] = order
    if order.originating_order_id:  # an attached exit: re-sized from its entry at next check
        exchange._exits[order.order_id] = order
    if order.kind in ("STOP_LIMIT", "BRACKET") and order.trigger_status == "STOP_PENDING":
        if order.kind == "STOP_LIMIT" or order.remaining > 0:
            exchange._stops[pid][order.order_id] = order
        if order.kind == "STOP_LIMIT" or order.remaining <= 0:
            return  # an untriggered bracket's take-profit leg rests in the book (below)
    if order.remaining <= 0:
        return
    assert order.limit_price is not None
    lot = Lot(order.order_id, order.side, order.limit_price, order.remaining, order.user_id)
    exchange._books[pid].add(lot)
