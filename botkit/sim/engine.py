"""What a client drives on the simulated exchange: accounts, market steps, order entry.

Why this module: :class:`~botkit.sim.matcher.Matcher` keeps the state and the
matching/settlement core (where the balance invariants live); this layer is
the Coinbase-facing surface that feeds it, so the two can be read apart.
:class:`Engine` opens funded accounts, runs market steps (with their stop
triggers, GTD expiry and asynchronous cancels) and takes orders in;
:class:`botkit.sim.exchange.SimExchange` extends it with the read-only
Coinbase views. Nothing here reads a clock or a global RNG: time is passed in
and randomness comes from seeded generators, so the same seed and calls give
byte-identical results.

The paper broker (:mod:`botkit.paper.exchange`) reuses all of it over real
market data: the book is pluggable (``book_factory``, the
:class:`~botkit.sim.market.MatchBook` seam) and a few hooks mark where paper
trading differs: ``_precheck`` (entry checks), ``_accept`` (submit latency),
``_taker_size``, ``_record_trade`` (the public tape) and ``_fill_maker``
(settling a resting order, also from real trade prints).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from botkit.sim.entry import check_entry, check_mode
from botkit.sim.events import SimEvent
from botkit.sim.matcher import Matcher
from botkit.sim.orders import Order, OrderReject, OrderRequest, bracket_stop_limit, parse_create
from botkit.sim.specs import ProductSpec, SimBadRequest
from botkit.sim.wire import failure_response, success_response

__all__ = ["Engine"]

_ZERO = Decimal(0)
_ACCOUNT_NS = uuid.UUID("6f1c1a52-0c6e-4c1f-9a38-5b0f6c2d9e11")


class Engine(Matcher):
    """Accounts, market steps and order entry of the simulated exchange (see module docstring)."""

    # --------------------------------------------------------------- accounts
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
            self._settle_exits(t)
            self._flush_books(t)
            if self.sweep_due():  # an exchange in the bot's process: finished orders leave
                self.forget_finished()

    def _settle_exits(self, t: float) -> None:
        """After entries were cancelled or expired: size or cancel their attached exits."""
        if self._exits:
            for pid in self._products:
                self._check_stops(pid, t)

    # ------------------------------------------------------------ order entry
    def _validate(
        self, user_id: str, body: object, now: float
    ) -> tuple[OrderRequest, ProductSpec, str, Decimal, Decimal]:
        """Parse and check an order against the live state; see :func:`check_entry`."""
        request, spec = parse_create(body, self._products, now)
        check_mode(*self._modes.get(spec.product_id, ("full", "")), request)
        self._precheck(request, spec)
        currency, hold, size = check_entry(
            request,
            spec,
            self._books[spec.product_id],
            self._last_price[spec.product_id],
            self.config.fee_tier.taker_fee_rate,
            self.config.bracket_stop_limit_offset,
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
            trigger_status=(
                "STOP_PENDING"
                if request.kind in ("STOP_LIMIT", "BRACKET")
                else "INVALID_ORDER_TYPE"
            ),
        )
        if request.kind == "BRACKET":
            assert request.stop_price is not None
            order.take_profit_price = request.limit_price
            order.stop_limit_price = self._stop_leg_price(spec, request.side, request.stop_price)
        if request.attached is not None:
            order.attached_config = request.attached.config
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
        if request.attached is not None:
            self._attach_exit(order, request, spec, now)
        self._flush_books(now)
        return success_response(order)

    def _stop_leg_price(self, spec: ProductSpec, side: str, trigger: Decimal) -> Decimal:
        offset = self.config.bracket_stop_limit_offset
        return bracket_stop_limit(side, trigger, offset, spec.price_tick)

    def _attach_exit(
        self, entry: Order, request: OrderRequest, spec: ProductSpec, now: float
    ) -> None:
        """Create the exit an ``attached_order_configuration`` asks for.

        It is a SELL ``trigger_bracket_gtc`` with no size yet (``PENDING``, holding
        nothing), linked both ways (``attached_order_id`` on the entry,
        ``originating_order_id`` on the exit); :meth:`_sync_exits` sizes it by the
        entry's fills (``SimMarketConfig.attached_exit_activation``).
        """
        attached = request.attached
        assert attached is not None
        exit_ = Order(
            order_id=self._new_id(),
            user_id=entry.user_id,
            client_order_id="",
            product_id=entry.product_id,
            side="SELL",
            config_key="trigger_bracket_gtc",
            config=dict(attached.config["trigger_bracket_gtc"]),
            kind="BRACKET",
            time_in_force="GOOD_UNTIL_CANCELLED",
            base_size=_ZERO,
            quote_size=None,
            size_in_quote=False,
            limit_price=attached.take_profit,
            stop_price=attached.stop_trigger,
            stop_direction="STOP_DIRECTION_STOP_DOWN",
            post_only=False,
            end_time=None,
            created_time=now,
            seq=self._next_seq(),
            status="PENDING",
            hold_currency=spec.base_currency,
            last_update_time=now,
            trigger_status="STOP_PENDING",
            take_profit_price=attached.take_profit,
            stop_limit_price=self._stop_leg_price(spec, "SELL", attached.stop_trigger),
            originating_order_id=entry.order_id,
        )
        entry.attached_order_id = exit_.order_id
        self._orders[exit_.order_id] = exit_
        self._user_orders[entry.user_id].append(exit_)
        self._open[exit_.order_id] = exit_
        self._exits[exit_.order_id] = exit_
        self._emit(exit_)
        self._check_stops(entry.product_id, now)

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
            if order.status == "OPEN":
                order.status = self.config.stop_pending_status
            self._emit(order)
            return
        if order.kind == "BRACKET":  # the stop leg waits for its trigger, the take-profit rests
            self._stops[pid][order.order_id] = order
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
