"""The simulator's mutable trading state: books, markets, orders, fills, events.

:class:`Engine` owns every state change (order entry, matching and settlement,
stop triggers, GTD expiry, asynchronous cancels, market steps) so that the
balance invariants live in one file. :class:`botkit.sim.exchange.SimExchange`
extends it with the read-only Coinbase views. Nothing here reads a clock or a
global RNG: time is passed in and randomness comes from seeded generators, so
the same seed and calls give byte-identical results.

The paper broker (:mod:`botkit.paper.exchange`) reuses all of it over real
market data: the book is pluggable (``book_factory``, the
:class:`~botkit.sim.market.MatchBook` seam) and a few hooks mark where paper
trading differs: ``_precheck`` (entry checks), ``_accept`` (submit latency),
``_taker_size``, ``_record_trade`` (the public tape) and ``_fill_maker``
(settling a resting order, also from real trade prints).
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from botkit.core.matching import Lot, OrderBook, Side
from botkit.sim.candles import CandleStore
from botkit.sim.entry import check_entry
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
)
from botkit.sim.orders import Order, OrderReject, OrderRequest, parse_create
from botkit.sim.specs import ProductSpec, SimBadRequest, SimMarketConfig
from botkit.sim.wire import UserFill, failure_response, order_ws, success_response

__all__ = ["Engine"]

_ZERO = Decimal(0)
_ACCOUNT_NS = uuid.UUID("6f1c1a52-0c6e-4c1f-9a38-5b0f6c2d9e11")


class Engine:
    """State and state transitions of the simulated exchange (see module docstring)."""

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
            for candle in seed_history(spec, config, history_rng, start_time):
                store.put(candle)
            self._candles[pid] = store
            self._books[pid] = OrderBook() if book_factory is None else book_factory(spec)
            self._markets[pid] = market_factory(spec, config, market_rng, self._books[pid])
            self._books[pid].take_changes()  # the initial book is the snapshot, not an update
            self._recent[pid] = deque(maxlen=1000)
            self._last_price[pid] = spec.start_price
        self._ledger = Ledger()
        self._orders: dict[str, Order] = {}
        self._by_client: dict[tuple[str, str], Order] = {}
        self._user_orders: dict[str, list[Order]] = {}
        self._open: dict[str, Order] = {}
        self._stops: dict[str, dict[str, Order]] = {pid: {} for pid in self._products}
        self._gtd: dict[str, Order] = {}
        self._cancels: dict[str, Order] = {}
        self._fills: dict[str, list[UserFill]] = {}
        self._events: list[SimEvent] = []
        self._seq = 0
        self._takers = {pid: self._taker_for(pid) for pid in self._products}

    # ----------------------------------------------------------------- basics
    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add_user(self, user_id: str) -> None:
        """Create the user's funded accounts, one per configured currency (idempotent)."""
        currencies = list(self.config.initial_balances)
        for spec in self.config.products:
            currencies += [spec.base_currency, spec.quote_currency]
        for currency in dict.fromkeys(currencies):
            amount = Decimal(self.config.initial_balances.get(currency, _ZERO))
            self._open_account(user_id, currency, amount)
        self._user_orders.setdefault(user_id, [])
        self._fills.setdefault(user_id, [])

    def _open_account(self, user_id: str, currency: str, amount: Decimal) -> None:
        """Open one funded account; its uuid is stable per (seed, user, currency)."""
        account = uuid.uuid5(_ACCOUNT_NS, f"{self._seed}:{user_id}:{currency}")
        self._ledger.open_account(user_id, currency, str(account), amount, self._start)

    def user_ids(self) -> list[str]:
        """Registered users in registration order."""
        return self._ledger.users()

    def drain_events(self) -> list[SimEvent]:
        """Events since the last drain, oldest first."""
        events, self._events = self._events, []
        return events

    def _emit(self, order: Order) -> None:
        self._events.append(OrderChanged(order.user_id, order_ws(order)))

    def _flush_books(self, t: float) -> None:
        for pid, book in self._books.items():
            for ch in book.take_changes():
                side: Literal["bid", "offer"] = "bid" if ch.side == "BUY" else "offer"
                self._events.append(BookChange(pid, side, ch.price, ch.size, t))

    # ---------------------------------------------------------------- advance
    def advance(self, now: float) -> None:
        """Run every market step whose time is <= ``now`` (steps at start + k * step_seconds)."""
        step = self.config.step_seconds
        while True:
            t = self._start + (self._steps + 1) * step
            if t > now + 1e-9:
                return
            self._now = t
            for pid, market in self._markets.items():
                market.step(self._takers[pid])
            self._steps += 1
            for pid in self._products:
                self._check_stops(pid, t)
            for order in [o for o in self._gtd.values() if o.end_time and o.end_time <= t]:
                self._finish(order, "EXPIRED", t, "Order expired")
            due = [o for o in self._cancels.values() if (o.cancel_due_step or 0) <= self._steps]
            for order in due:
                self._finish(order, "CANCELLED", t, "User requested cancel")
            self._flush_books(t)

    def _taker_for(self, pid: str) -> TakerFn:
        def take(side: Side, size: Decimal, limit: Decimal | None) -> None:
            self._take(pid, side, size, limit)

        return take

    def _take(self, pid: str, side: Side, size: Decimal, limit: Decimal | None) -> None:
        if size > 0:
            self._match(pid, side, size, limit, None, self._now)

    # --------------------------------------------------------------- matching
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
        self._last_price[pid] = price
        return trade_id

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
        return order.remaining * order.limit_price * (1 + self.config.fee_tier.taker_fee_rate)

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
        stops = self._stops[pid]
        while stops:
            last = self._last_price[pid]
            hit = [
                o
                for o in stops.values()
                if o.stop_price is not None
                and (
                    last >= o.stop_price
                    if o.stop_direction == "STOP_DIRECTION_STOP_UP"
                    else last <= o.stop_price
                )
            ]
            if not hit:
                return
            for order in hit:
                del stops[order.order_id]
                order.trigger_status = "STOP_TRIGGERED"
                order.last_update_time = t
                self._enter_book(order, t, announce=True)

    # ------------------------------------------------------------ order entry
    def _validate(
        self, user_id: str, body: object, now: float
    ) -> tuple[OrderRequest, ProductSpec, str, Decimal, Decimal]:
        """Parse and check an order against the live state; see :func:`check_entry`."""
        request, spec = parse_create(body, self._products, now)
        self._precheck(request, spec)
        currency, hold, size = check_entry(
            request,
            spec,
            self._books[spec.product_id],
            self._last_price[spec.product_id],
            self.config.fee_tier.taker_fee_rate,
        )
        if self._ledger.available(user_id, currency) < hold:
            raise OrderReject("INSUFFICIENT_FUND", "Insufficient balance in source account")
        return request, spec, currency, hold, size

    def _precheck(self, request: OrderRequest, spec: ProductSpec) -> None:
        """Extra entry checks before the book/funds ones (a hook; the simulator has none).

        Raises:
            OrderReject: the order cannot be accepted.
        """

    def create_order(self, user_id: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        """Create an order (§2.3); returns the full §2.4 response body."""
        if not self._ledger.has_user(user_id):
            self.add_user(user_id)
        if not isinstance(body, Mapping):
            raise SimBadRequest("request body must be a JSON object")
        coid = body.get("client_order_id")
        if isinstance(coid, str) and coid and (user_id, coid) in self._by_client:
            if self.config.duplicate_client_order_id == "return_existing":
                return success_response(self._by_client[(user_id, coid)])
            reject = OrderReject("DUPLICATE_CLIENT_ORDER_ID", "client_order_id already used")
            return failure_response(reject, body)
        try:
            request, spec, currency, hold, size = self._validate(user_id, body, now)
        except OrderReject as reject:
            return failure_response(reject, body)
        order = Order(
            order_id=self._new_id(),
            user_id=user_id,
            client_order_id=request.client_order_id,
            product_id=spec.product_id,
            side=request.side,
            config_key=request.config_key,
            config=request.config,
            kind=request.kind,
            time_in_force=request.time_in_force,
            base_size=size,
            quote_size=request.quote_size,
            size_in_quote=request.quote_size is not None,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            stop_direction=request.stop_direction,
            post_only=request.post_only,
            end_time=request.end_time,
            created_time=now,
            seq=self._next_seq(),
            status="OPEN",
            hold_currency=currency,
            last_update_time=now,
            trigger_status="STOP_PENDING" if request.kind == "STOP_LIMIT" else "INVALID_ORDER_TYPE",
        )
        self._orders[order.order_id] = order
        self._user_orders[user_id].append(order)
        if request.client_order_id:
            self._by_client[(user_id, request.client_order_id)] = order
        open_here = sum(1 for o in self._open.values() if o.user_id == user_id and
                        o.product_id == spec.product_id)  # fmt: skip
        if open_here >= self.config.max_open_orders_per_product:
            order.status, order.reject_reason = "FAILED", "TOO_MANY_OPEN_ORDERS"
            self._emit(order)
            return success_response(order)
        self._ledger.place_hold(user_id, currency, hold, now)
        order.hold = hold
        self._open[order.order_id] = order
        self._accept(order, now)
        self._flush_books(now)
        return success_response(order)

    def _accept(self, order: Order, now: float) -> None:
        """A validated, funded order reaches the matching engine (at once in the simulator).

        The paper broker overrides this to model submit latency.
        """
        self._execute(order, now)
        self._check_stops(order.product_id, now)

    def _taker_size(self, order: Order) -> Decimal:
        """Base size an IOC/FOK/market order tries to take (a hook for the paper broker)."""
        return order.base_size

    def _execute(self, order: Order, now: float) -> None:
        pid, book = order.product_id, self._books[order.product_id]
        if order.kind == "STOP_LIMIT":
            self._stops[pid][order.order_id] = order
            if order.end_time is not None:
                self._gtd[order.order_id] = order
            self._emit(order)
            return
        if order.time_in_force in ("GOOD_UNTIL_CANCELLED", "GOOD_UNTIL_DATE_TIME"):
            if order.end_time is not None:
                self._gtd[order.order_id] = order
            crossing = order.limit_price is not None and book.crosses(order.side, order.limit_price)
            if crossing:
                self._emit(order)
            self._enter_book(order, now, announce=not crossing)
            return
        self._emit(order)
        limit = order.limit_price
        fok = order.time_in_force == "FILL_OR_KILL"
        want = self._taker_size(order)
        if want > 0 and not (
            fok and book.fillable(order.side, limit, order.base_size) < order.base_size
        ):
            self._match(pid, order.side, want, limit, order, now)
        if order.remaining <= 0 and order.base_size > 0:
            self._finish(order, "FILLED", now)
        else:
            self._finish(order, "CANCELLED", now, "IOC order not fully filled")
