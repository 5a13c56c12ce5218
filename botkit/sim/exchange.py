"""``SimExchange``: the pure facade the simulator's REST and WebSocket layers call.

The contract is docs/simulator.md. State changes live in
:mod:`botkit.sim.engine` (orders, matching, market steps) and
:mod:`botkit.sim.amend` (cancel, edit); this module adds the read-only
Coinbase views (products, book, candles, ticker, accounts, orders, fills,
previews) so each file stays small. It also re-exports the configuration
records and errors, which is their public import path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from botkit.sim.amend import Amend
from botkit.sim.entry import TRADING_MODES, mode_flags
from botkit.sim.events import ProductStatusChanged, TradePrint
from botkit.sim.ledger import Balance, fee_for
from botkit.sim.orders import OrderReject, parse_time
from botkit.sim.specs import (
    DEFAULT_PRODUCTS,
    FeeTier,
    ProductSpec,
    SimBadRequest,
    SimMarketConfig,
    SimNotFound,
)
from botkit.sim.wire import dec_str, fill_wire, order_rest, order_ws, rfc3339

__all__ = [
    "DEFAULT_PRODUCTS",
    "FeeTier",
    "ProductSpec",
    "SimBadRequest",
    "SimExchange",
    "SimMarketConfig",
    "SimNotFound",
]

_DAY = 86_400
_ZERO = Decimal(0)
_BookSide = list[tuple[Decimal, Decimal]]


# Coinbase's enums for list filters (reference §2.7, §2.8, §2.9; the SDK's ``list_orders``,
# ``get_fills``, ``get_products`` and ``get_portfolios``). A value outside them is a 400: a typo
# must not widen a filter. For a single-valued enum the ``UNKNOWN_*``/``UNDEFINED`` zero value
# means "no filter", as an unset proto3 enum does.
ORDER_STATUSES = frozenset(
    {"PENDING", "OPEN", "FILLED", "CANCELLED", "EXPIRED", "FAILED", "UNKNOWN_ORDER_STATUS"}
    | {"QUEUED", "CANCEL_QUEUED", "EDIT_QUEUED"}
)
ORDER_SIDES = frozenset({"BUY", "SELL", "UNKNOWN_ORDER_SIDE"})
ORDER_TYPES = frozenset(
    {"UNKNOWN_ORDER_TYPE", "MARKET", "LIMIT", "STOP", "STOP_LIMIT", "BRACKET", "TWAP"}
    | {"ROLL_OPEN", "ROLL_CLOSE", "LIQUIDATION", "SCALED"}
)
TIME_IN_FORCES = frozenset(
    {"UNKNOWN_TIME_IN_FORCE", "GOOD_UNTIL_DATE_TIME", "GOOD_UNTIL_CANCELLED"}
    | {"IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"}
)
PRODUCT_TYPES = frozenset({"UNKNOWN_PRODUCT_TYPE", "SPOT", "FUTURE"})
CONTRACT_EXPIRY_TYPES = frozenset({"UNKNOWN_CONTRACT_EXPIRY_TYPE", "EXPIRING", "PERPETUAL"})
EXPIRING_CONTRACT_STATUSES = frozenset(
    {"UNKNOWN_EXPIRING_CONTRACT_STATUS", "STATUS_UNEXPIRED", "STATUS_EXPIRED", "STATUS_ALL"}
)
PLACEMENT_SOURCES = frozenset({"UNKNOWN_PLACEMENT_SOURCE", "RETAIL_SIMPLE", "RETAIL_ADVANCED"})
ORDER_SORTS = frozenset({"UNKNOWN_SORT_BY", "LIMIT_PRICE", "LAST_FILL_TIME", "LAST_UPDATE_TIME"})
FILL_SORTS = frozenset({"UNKNOWN_SORT_BY", "PRICE", "TRADE_TIME"})
PORTFOLIO_TYPES = frozenset({"UNDEFINED", "DEFAULT", "CONSUMER", "INTX"})
PRODUCT_VENUES = frozenset({"UNKNOWN_VENUE_TYPE", "CBE", "FCM", "INTX"})
_ZERO_ENUMS = frozenset(
    {"UNKNOWN_PRODUCT_TYPE", "UNKNOWN_CONTRACT_EXPIRY_TYPE", "UNKNOWN_EXPIRING_CONTRACT_STATUS"}
    | {"UNKNOWN_PLACEMENT_SOURCE", "UNKNOWN_SORT_BY", "UNDEFINED", "UNKNOWN_VENUE_TYPE"}
)
_SEQ_START, _SEQ_END = "start_sequence_timestamp", "end_sequence_timestamp"


def enum_values(query: Mapping[str, list[str]], name: str, allowed: frozenset[str]) -> list[str]:
    """Every value of ``name`` (repeated keys); one outside ``allowed`` is a 400."""
    values = [v for v in query.get(name, []) if v != ""]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise SimBadRequest(f"{name}: invalid value {bad[0]!r}; use one of {sorted(allowed)}")
    return values


def enum_one(query: Mapping[str, list[str]], name: str, allowed: frozenset[str]) -> str:
    """A single-valued enum: its value, or "" when absent or the unspecified zero value."""
    values = enum_values(query, name, allowed)
    if len(set(values)) > 1:
        raise SimBadRequest(f"{name} takes one value, got {values}")
    return "" if not values or values[0] in _ZERO_ENUMS else values[0]


def _us(t: float) -> int:
    """Whole microseconds: time filters compare at the resolution the wire's timestamps have,
    so a bound copied from a response's timestamp includes that very row."""
    return round(t * 1_000_000)


def _spot_only(query: Mapping[str, list[str]]) -> bool:
    """Whether ``product_type``/``contract_expiry_type`` admit spot rows (all the simulator has)."""
    product_type = enum_one(query, "product_type", PRODUCT_TYPES)
    expiry = enum_one(query, "contract_expiry_type", CONTRACT_EXPIRY_TYPES)
    return product_type in ("", "SPOT") and not expiry


def _pct(new: Decimal, old: Decimal) -> str:
    if not old:
        return "0"
    return dec_str(((new - old) * 100 / old).quantize(Decimal("0.00000001")))


def _bucket(levels: _BookSide, increment: Decimal, tick: Decimal, *, up: bool) -> _BookSide:
    """Merge sorted levels into ``increment`` buckets (``up``: round prices up, for asks);
    bucket prices are written with the product's tick, as the unaggregated book is."""
    out: _BookSide = []
    for price, size in levels:
        steps = price / increment
        whole = steps.to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
        bucket = (whole * increment).quantize(tick)
        if out and out[-1][0] == bucket:
            out[-1] = (bucket, out[-1][1] + size)
        else:
            out.append((bucket, size))
    return out


class SimExchange(Amend):
    """A seeded, clock-free Coinbase Advanced Trade exchange (see docs/simulator.md)."""

    # ------------------------------------------------------------ market data
    def product_ids(self) -> list[str]:
        """Configured product ids, in configuration order."""
        return list(self._products)

    def _spec(self, product_id: str) -> ProductSpec:
        spec = self._products.get(product_id)
        if spec is None:
            raise SimNotFound(f"product {product_id} not found")
        return spec

    # ------------------------------------------------------------ trading mode
    def set_trading_mode(self, product_id: str, mode: str, message: str = "") -> dict[str, Any]:
        """Put ``product_id`` into a trading ``mode``, as Coinbase does during an incident or
        a listing; returns its :meth:`trading_mode`.

        ``mode``: one of ``full``, ``limit_only``, ``post_only``, ``cancel_only``,
        ``halted`` (:data:`botkit.sim.entry.TRADING_MODES`); ``message``: the product's
        ``status_message``. The product objects publish it at once and new orders the mode
        does not take are refused (:data:`botkit.sim.entry.MODE_REFUSALS`); cancels always
        work. ``status`` channel subscribers get an update with the next published events.

        Raises:
            ValueError: an unknown product, a mode outside the five, a message not a string.
        """
        if product_id not in self._products:
            raise ValueError(
                f"unknown product {product_id!r}: the simulator has {', '.join(self._products)}"
            )
        if mode not in TRADING_MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(TRADING_MODES)}")
        if not isinstance(message, str):
            raise ValueError("message must be a string")
        if mode == "full" and not message:
            self._modes.pop(product_id, None)
        else:
            self._modes[product_id] = (mode, message)
        self._events.append(ProductStatusChanged(product_id))
        return self.trading_mode(product_id)

    def trading_mode(self, product_id: str) -> dict[str, Any]:
        """``{product_id, mode, message}`` and the product-object flags that publish it.

        Raises:
            SimNotFound: an unknown product.
        """
        self._spec(product_id)
        mode, message = self._modes.get(product_id, ("full", ""))
        return {"product_id": product_id, "mode": mode, "message": message,
                **mode_flags(mode, message)}  # fmt: skip

    def trading_modes(self) -> dict[str, dict[str, Any]]:
        """:meth:`trading_mode` of every product, by product id."""
        return {pid: self.trading_mode(pid) for pid in self._products}

    def product_status(self, product_id: str) -> dict[str, Any]:
        """The product-object fields of its trading mode (``status``, ``status_message``,
        ``cancel_only``, ``limit_only``, ``post_only``, ``trading_disabled``)."""
        return mode_flags(*self._modes.get(product_id, ("full", "")))

    def book(self, product_id: str, limit: int | None = None) -> tuple[_BookSide, _BookSide]:
        """Aggregated public book: ``(bids descending, asks ascending)``."""
        self._spec(product_id)
        book = self._books[product_id]
        return book.depth("BUY", limit), book.depth("SELL", limit)

    def best_bid_ask(
        self, product_id: str
    ) -> tuple[tuple[Decimal, Decimal] | None, tuple[Decimal, Decimal] | None]:
        """Top of book ``(bid, ask)``, each ``(price, size)`` or ``None`` when empty."""
        self._spec(product_id)
        return self._books[product_id].best("BUY"), self._books[product_id].best("SELL")

    def last_trade_price(self, product_id: str) -> Decimal:
        """Price of the latest trade (the start price before any trade)."""
        self._spec(product_id)
        return self._last_price[product_id]

    def recent_trades(self, product_id: str, limit: int) -> list[TradePrint]:
        """Up to ``limit`` latest public trades, newest first."""
        self._spec(product_id)
        trades = self._recent[product_id]
        return [trades[-i] for i in range(1, min(limit, len(trades)) + 1)]

    def trades_between(
        self, product_id: str, start: int | None, end: int | None, limit: int
    ) -> list[TradePrint]:
        """Up to ``limit`` latest public trades with ``start <= time < end`` (Unix s), newest first.

        The bounds follow the candles' ``[start, end)`` (Coinbase's page gives no inclusivity,
        **assumed**). The tape keeps the latest 1000 prints per product; a window reaching
        before a full tape's oldest print is refused (400) rather than answered short.

        Raises:
            SimBadRequest: ``end <= start``, or the window starts before the retained tape.
        """
        self._spec(product_id)
        if start is not None and end is not None and end <= start:
            raise SimBadRequest("end must be after start")
        tape = self._recent[product_id]
        if start is not None and tape.maxlen and len(tape) == tape.maxlen and start < tape[0].time:
            raise SimBadRequest(
                f"start {start} is before the oldest trade the simulator keeps "
                f"({int(tape[0].time)}); ask for a later window"
            )
        out: list[TradePrint] = []
        for trade in reversed(tape):
            if len(out) >= limit:
                break
            if (start is None or trade.time >= start) and (end is None or trade.time < end):
                out.append(trade)
        return out

    def aggregated_book(
        self, product_id: str, increment: Decimal, limit: int | None
    ) -> tuple[_BookSide, _BookSide]:
        """The public book grouped into ``increment``-wide price buckets.

        Bids round down and asks round up to a multiple of ``increment``, so a bucket's
        price is never better than any order in it; sizes add up. ``limit`` counts buckets.

        Raises:
            SimBadRequest: ``increment`` is not a positive multiple of the price increment.
        """
        spec = self._spec(product_id)
        if increment <= 0 or increment % spec.price_tick != 0:
            raise SimBadRequest(
                f"aggregation_price_increment must be a positive multiple of "
                f"{dec_str(spec.price_tick)} for {product_id}"
            )
        bids, asks = self.book(product_id)
        tick = spec.price_tick
        return (
            _bucket(bids, increment, tick, up=False)[:limit],
            _bucket(asks, increment, tick, up=True)[:limit],
        )

    def candles(
        self, product_id: str, start: int, end: int, granularity_s: int
    ) -> list[dict[str, Any]]:
        """§2.9 candles overlapping ``[start, end)``, newest first, empty buckets omitted."""
        self._spec(product_id)
        try:
            buckets = self._candles[product_id].query(start, end, granularity_s)
        except ValueError as exc:
            raise SimBadRequest(str(exc)) from None
        return [c.wire() for c in buckets]

    def _window_stats(self, product_id: str) -> dict[str, Decimal]:
        last = self._last_price[product_id]
        store = self._candles[product_id]
        day = store.minutes(self._now - _DAY, self._now + 60)
        first = store.first()
        everything = store.minutes(first.start if first else 0, self._now + 60)
        return {
            "price": last,
            "open": day[0].open if day else last,
            "volume": sum((c.volume for c in day), _ZERO),
            "low": min((c.low for c in day), default=last),
            "high": max((c.high for c in day), default=last),
            "low_52w": min((c.low for c in everything), default=last),
            "high_52w": max((c.high for c in everything), default=last),
        }

    def stats_24h(self, product_id: str) -> dict[str, Any]:
        """Last price, 24 h base volume and 24 h percentage change."""
        self._spec(product_id)
        s = self._window_stats(product_id)
        return {
            "price": dec_str(s["price"]),
            "volume_24h": dec_str(s["volume"]),
            "price_percentage_change_24h": _pct(s["price"], s["open"]),
        }

    def ticker_wire(self, product_id: str) -> dict[str, Any]:
        """The §3.5 ticker object."""
        self._spec(product_id)
        s = self._window_stats(product_id)
        bid, ask = self.best_bid_ask(product_id)
        return {
            "type": "ticker",
            "product_id": product_id,
            "price": dec_str(s["price"]),
            "volume_24_h": dec_str(s["volume"]),
            "low_24_h": dec_str(s["low"]),
            "high_24_h": dec_str(s["high"]),
            "low_52_w": dec_str(s["low_52w"]),
            "high_52_w": dec_str(s["high_52w"]),
            "price_percent_chg_24_h": _pct(s["price"], s["open"]),
            "best_bid": dec_str(bid[0]) if bid else "",
            "best_bid_quantity": dec_str(bid[1]) if bid else "",
            "best_ask": dec_str(ask[0]) if ask else "",
            "best_ask_quantity": dec_str(ask[1]) if ask else "",
        }

    def product_wire(self, product_id: str) -> dict[str, Any]:
        """The §2.9 Product object; its status fields publish the trading mode."""
        spec = self._spec(product_id)
        stats = self.stats_24h(product_id)
        bid, ask = self.best_bid_ask(product_id)
        mid = (bid[0] + ask[0]) / 2 if bid and ask else self._last_price[product_id]
        volume = Decimal(stats["volume_24h"])
        return {
            "product_id": spec.product_id,
            "price": stats["price"],
            "price_percentage_change_24h": stats["price_percentage_change_24h"],
            "volume_24h": stats["volume_24h"],
            "volume_percentage_change_24h": "0",
            "base_increment": dec_str(spec.base_increment),
            "quote_increment": dec_str(spec.quote_increment),
            "quote_min_size": dec_str(spec.quote_min_size),
            "quote_max_size": dec_str(spec.quote_max_size),
            "base_min_size": dec_str(spec.base_min_size),
            "base_max_size": dec_str(spec.base_max_size),
            "base_name": spec.base_name or spec.base_currency,
            "quote_name": spec.quote_name or spec.quote_currency,
            "watched": False,
            "is_disabled": False,
            "new": False,
            # status, status_message (Advanced Trade's product list does not name it: the
            # Exchange object's field, added), cancel_only, limit_only, post_only,
            # trading_disabled: the trading mode (set_trading_mode)
            **self.product_status(product_id),
            "auction_mode": False,
            "product_type": "SPOT",
            "quote_currency_id": spec.quote_currency,
            "base_currency_id": spec.base_currency,
            "fcm_trading_session_details": None,
            "mid_market_price": dec_str(mid.quantize(spec.quote_increment / 10)),
            "alias": "",
            "alias_to": [],
            "base_display_symbol": spec.base_currency,
            "quote_display_symbol": spec.quote_currency,
            "view_only": False,
            "price_increment": dec_str(spec.price_tick),
            "display_name": f"{spec.base_currency}/{spec.quote_currency}",
            "product_venue": "CBE",
            "approximate_quote_24h_volume": dec_str(
                (volume * self._last_price[product_id]).quantize(Decimal("0.01"))
            ),
        }

    # ---------------------------------------------------------------- private
    def _account_wire(self, user_id: str, bal: Balance) -> dict[str, Any]:
        fiat = not any(s.base_currency == bal.currency for s in self._products.values())
        return {
            "uuid": bal.uuid,
            "name": f"{bal.currency} Wallet",
            "currency": bal.currency,
            "available_balance": {"value": dec_str(bal.available), "currency": bal.currency},
            "default": True,
            "active": True,
            "created_at": rfc3339(bal.created_at),
            "updated_at": rfc3339(bal.updated_at),
            "deleted_at": None,
            "type": "ACCOUNT_TYPE_FIAT" if fiat else "ACCOUNT_TYPE_CRYPTO",
            "ready": True,
            "hold": {"value": dec_str(bal.hold), "currency": bal.currency},
            "retail_portfolio_id": user_id,
            "platform": "ACCOUNT_PLATFORM_CONSUMER",
        }

    def accounts(self, user_id: str) -> list[dict[str, Any]]:
        """§2.9 account objects of ``user_id`` (empty for an unknown user)."""
        return [self._account_wire(user_id, b) for b in self._ledger.balances(user_id)]

    def account(self, user_id: str, account_uuid: str) -> dict[str, Any]:
        """One §2.9 account; :class:`SimNotFound` if it is not this user's."""
        bal = self._ledger.by_uuid(user_id, account_uuid)
        if bal is None:
            raise SimNotFound(f"account {account_uuid} not found")
        return self._account_wire(user_id, bal)

    # -------------------------------------------------------------- portfolios
    @staticmethod
    def portfolio_wire(user_id: str) -> dict[str, Any]:
        """The §2.9 portfolio object of ``user_id``.

        Each simulated user is one ``DEFAULT`` portfolio whose uuid is the user id: the
        ``retail_portfolio_id`` its accounts, orders and fills carry (**assumed**: a CDP key
        is bound to one portfolio, reference §2.3; the simulator has no others).
        """
        return {"name": "Default", "uuid": user_id, "type": "DEFAULT", "deleted": False}

    def portfolios(self, user_id: str, portfolio_type: str) -> list[dict[str, Any]]:
        """``GET /portfolios``: the caller's portfolio, if ``portfolio_type`` admits ``DEFAULT``."""
        return [self.portfolio_wire(user_id)] if portfolio_type in ("", "DEFAULT") else []

    def valuation_currency(self) -> str:
        """The fiat the breakdown values positions in: the first product's quote currency."""
        return next(iter(self._products.values())).quote_currency

    def portfolio_breakdown(
        self, user_id: str, portfolio_uuid: str, currency: str
    ) -> dict[str, Any]:
        """``GET /portfolios/{uuid}``: balances valued at the last trade price.

        Position amounts are JSON numbers, as Coinbase sends them (the SDK's
        ``PortfolioPosition`` types them ``float``); totals are ``{value, currency}`` strings.
        Cost basis, entry price and P&L are not tracked, so those fields are absent.

        Raises:
            SimNotFound: not the caller's portfolio.
            SimBadRequest: ``currency`` other than :meth:`valuation_currency`.
        """
        if portfolio_uuid != user_id:
            raise SimNotFound(f"portfolio {portfolio_uuid} not found")
        fiat = self.valuation_currency()
        if currency not in ("", fiat):
            raise SimBadRequest(
                f"currency {currency!r} is not served: the simulator values in {fiat}"
            )
        bases = {s.base_currency: s for s in self._products.values() if s.quote_currency == fiat}
        crypto = cash = _ZERO
        rows: list[tuple[Balance, Decimal, Decimal, bool]] = []
        for bal in self._ledger.balances(user_id):
            spec = bases.get(bal.currency)
            price = (
                self._last_price[spec.product_id]
                if spec
                else (Decimal(1) if bal.currency == fiat else _ZERO)
            )
            is_cash = not any(s.base_currency == bal.currency for s in self._products.values())
            value = (bal.available + bal.hold) * price
            if is_cash:
                cash += value
            else:
                crypto += value
            rows.append((bal, price, value, is_cash))
        total = crypto + cash
        positions = [
            {
                "asset": bal.currency,
                "account_uuid": bal.uuid,
                "total_balance_fiat": float(value),
                "total_balance_crypto": float(bal.available + bal.hold),
                "available_to_trade_fiat": float(bal.available * price),
                "available_to_trade_crypto": float(bal.available),
                "available_to_transfer_fiat": float(bal.available * price),
                "available_to_transfer_crypto": float(bal.available),
                "allocation": float(value / total) if total else 0.0,
                "is_cash": is_cash,
                "account_type": "ACCOUNT_TYPE_FIAT" if is_cash else "ACCOUNT_TYPE_CRYPTO",
            }
            for bal, price, value, is_cash in rows
        ]

        def money(amount: Decimal) -> dict[str, str]:
            return {"value": dec_str(amount.quantize(Decimal("0.01"))), "currency": fiat}

        return {
            "portfolio": self.portfolio_wire(user_id),
            "portfolio_balances": {
                "total_balance": money(total),
                "total_futures_balance": money(_ZERO),
                "total_cash_equivalent_balance": money(cash),
                "total_crypto_balance": money(crypto),
                "futures_unrealized_pnl": money(_ZERO),
                "perp_unrealized_pnl": money(_ZERO),
            },
            "spot_positions": positions,
            "perp_positions": [],
            "futures_positions": [],
        }

    def cursor_secret(self) -> bytes:
        """The key that signs REST page cursors: a function of the seed, so twins agree."""
        return hashlib.sha256(f"botkit.sim.cursor:{self._seed}".encode()).digest()

    def get_order(self, user_id: str, order_id: str) -> dict[str, Any]:
        """The §2.7 order object; :class:`SimNotFound` for unknown or foreign ids."""
        order = self._orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise SimNotFound("order with this orderID was not found")
        return order_rest(order)

    def list_orders(self, user_id: str, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """Filtered §2.7 orders, newest first unless ``sort_by`` says otherwise (the REST layer
        paginates).

        Every documented filter (reference §2.7, the SDK's ``list_orders``) is honoured;
        enum values outside Coinbase's enums are 400s, so a typo never widens the result.
        The simulator is spot-only: ``product_type=FUTURE`` and a ``contract_expiry_type``
        other than the unspecified zero value match nothing.
        """
        statuses = set(enum_values(query, "order_status", ORDER_STATUSES))
        if "OPEN" in statuses and len(statuses) > 1:
            raise SimBadRequest("OPEN cannot be combined with other order statuses")
        ids = set(query.get("order_ids", []))
        products = set(query.get("product_ids", []))
        sides = set(enum_values(query, "order_side", ORDER_SIDES)) - {"UNKNOWN_ORDER_SIDE"}
        types = set(enum_values(query, "order_types", ORDER_TYPES))
        tifs = set(enum_values(query, "time_in_forces", TIME_IN_FORCES))
        spot = _spot_only(query)
        source = enum_one(query, "order_placement_source", PLACEMENT_SOURCES) or "RETAIL_ADVANCED"
        assets = set(query.get("asset_filters", []))
        portfolios = set(query.get("retail_portfolio_id", []))
        sort_by = enum_one(query, "sort_by", ORDER_SORTS)
        start = [parse_time(v, "start_date") for v in query.get("start_date", [])[:1]]
        end = [parse_time(v, "end_date") for v in query.get("end_date", [])[:1]]
        picked = [
            order
            for order in reversed(self._user_orders.get(user_id, []))
            if spot
            and source == "RETAIL_ADVANCED"  # every simulated order is placed through the API
            and not (portfolios and user_id not in portfolios)
            and not (ids and order.order_id not in ids)
            and not (products and order.product_id not in products)
            and not (statuses and order.status not in statuses)
            and not (sides and order.side not in sides)
            and not (types and order.kind not in types)
            and not (tifs and order.time_in_force not in tifs)
            and not (assets and self._spec(order.product_id).base_currency not in assets)
            and not (start and _us(order.created_time) < _us(start[0]))
            and not (end and _us(order.created_time) >= _us(end[0]))
        ]
        if sort_by == "LIMIT_PRICE":
            picked.sort(key=lambda o: (o.limit_price is None, -(o.limit_price or _ZERO)))
        elif sort_by == "LAST_FILL_TIME":
            picked.sort(key=lambda o: (o.last_fill_time is None, -(o.last_fill_time or 0.0)))
        elif sort_by == "LAST_UPDATE_TIME":
            picked.sort(key=lambda o: -o.last_update_time)
        return [order_rest(order) for order in picked]

    def list_fills(self, user_id: str, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """Filtered §2.8 fills, newest first unless ``sort_by=PRICE`` (highest first).

        ``start_sequence_timestamp`` is inclusive and ``end_sequence_timestamp`` exclusive,
        like the orders' ``start_date``/``end_date`` (reference §2.7; the fills page does
        not say, **assumed**).
        """
        orders = set(query.get("order_ids", []))
        trades = set(query.get("trade_ids", []))
        # ``product_id`` (singular) is the older docs' name, still sent by ccxt's fetchMyTrades
        products = set(query.get("product_ids", [])) | set(query.get("product_id", []))
        portfolios = set(query.get("retail_portfolio_id", []))
        start = [parse_time(v, "start_sequence_timestamp") for v in query.get(_SEQ_START, [])[:1]]
        end = [parse_time(v, "end_sequence_timestamp") for v in query.get(_SEQ_END, [])[:1]]
        sort_by = enum_one(query, "sort_by", FILL_SORTS)
        picked = [
            f
            for f in reversed(self._fills.get(user_id, []))
            if not (portfolios and user_id not in portfolios)
            and not (orders and f.order_id not in orders)
            and not (trades and f.trade_id not in trades)
            and not (products and f.product_id not in products)
            and not (start and _us(f.time) < _us(start[0]))
            and not (end and _us(f.time) >= _us(end[0]))
        ]
        if sort_by == "PRICE":
            picked.sort(key=lambda f: -f.price)
        return [fill_wire(f) for f in picked]

    def open_orders_ws(self, user_id: str) -> list[dict[str, Any]]:
        """``user``-channel snapshot: non-terminal orders, oldest first."""
        unit = self.ws_quote_sized_quantity
        orders = self._user_orders.get(user_id, [])
        return [order_ws(o, quote_sized_quantity=unit) for o in orders if not o.terminal]

    def transaction_summary(self, user_id: str) -> dict[str, Any]:
        """§2.9 transaction summary; volumes and fees from this user's fills."""
        fills = self._fills.get(user_id, [])
        volume = sum((f.price * f.size for f in fills), _ZERO)
        fees = sum((f.commission for f in fills), _ZERO)
        total = _ZERO
        for bal in self._ledger.balances(user_id):
            amount = bal.available + bal.hold
            spec = next(
                (s for s in self._products.values() if s.base_currency == bal.currency), None
            )
            total += amount * self._last_price[spec.product_id] if spec else amount
        tier = self.config.fee_tier
        return {
            "total_volume": dec_str(volume),
            "total_fees": dec_str(fees),
            "fee_tier": {
                "pricing_tier": tier.pricing_tier,
                "usd_from": tier.usd_from,
                "usd_to": tier.usd_to,
                "taker_fee_rate": dec_str(tier.taker_fee_rate),
                "maker_fee_rate": dec_str(tier.maker_fee_rate),
                "aop_from": "",
                "aop_to": "",
            },
            "margin_rate": None,
            "goods_and_services_tax": None,
            "advanced_trade_only_volume": dec_str(volume),
            "advanced_trade_only_fees": dec_str(fees),
            "coinbase_pro_volume": "0",
            "coinbase_pro_fees": "0",
            "total_balance": dec_str(total.quantize(Decimal("0.01"))),
            "has_promo_fee": False,
        }

    def preview_order(self, user_id: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        """§2.6 preview: validates like ``create_order`` and estimates cost, creating nothing."""
        if not self._ledger.has_user(user_id):
            self.add_user(user_id)
        errs: list[str] = []
        base = quote = fee = _ZERO
        best_bid = best_ask = None
        slippage = _ZERO
        try:
            request, spec, _, _, size = self._validate(user_id, body, now)
            book = self._books[spec.product_id]
            best_bid, best_ask = book.best("BUY"), book.best("SELL")
            taker = self.config.fee_tier.taker_fee_rate
            if request.kind == "MARKET":
                side = request.side
                base, quote = book.cost(side, size)
                best = best_ask if side == "BUY" else best_bid
                if base and best:
                    slippage = abs(quote / base - best[0]) / best[0]
                fee = fee_for(quote, taker)
            else:
                assert request.limit_price is not None
                base, quote = size, size * request.limit_price
                crossing = book.crosses(request.side, request.limit_price)
                fee = fee_for(quote, taker if crossing else self.config.fee_tier.maker_fee_rate)
        except OrderReject as reject:
            errs.append(reject.preview_reason)
        total = quote + fee if body.get("side") == "BUY" else quote - fee
        return {
            "order_total": dec_str(total),
            "commission_total": dec_str(fee),
            "errs": errs,
            "warning": [],
            "quote_size": dec_str(quote),
            "base_size": dec_str(base),
            "best_bid": dec_str(best_bid[0]) if best_bid else "0",
            "best_ask": dec_str(best_ask[0]) if best_ask else "0",
            "is_max": False,
            "order_margin_total": "0",
            "leverage": "1",
            "long_leverage": "1",
            "short_leverage": "1",
            "slippage": dec_str(slippage.quantize(Decimal("0.00000001"))),
            "preview_id": self._new_id(),
        }
