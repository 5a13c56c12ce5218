"""``SimExchange``: the pure facade the simulator's REST and WebSocket layers call.

The contract is docs/simulator.md. State changes live in
:mod:`botkit.sim.engine` (orders, matching, market steps) and
:mod:`botkit.sim.amend` (cancel, edit); this module adds the read-only
Coinbase views (products, book, candles, ticker, accounts, orders, fills,
previews) so each file stays small. It also re-exports the configuration
records and errors, which is their public import path.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from botkit.sim.amend import Amend
from botkit.sim.events import TradePrint
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


def _pct(new: Decimal, old: Decimal) -> str:
    if not old:
        return "0"
    return dec_str(((new - old) * 100 / old).quantize(Decimal("0.00000001")))


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
        """The §2.9 Product object."""
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
            "status": "online",
            "cancel_only": False,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": False,
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

    def get_order(self, user_id: str, order_id: str) -> dict[str, Any]:
        """The §2.7 order object; :class:`SimNotFound` for unknown or foreign ids."""
        order = self._orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise SimNotFound("order with this orderID was not found")
        return order_rest(order)

    def list_orders(self, user_id: str, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """Filtered §2.7 orders, newest first (the REST layer paginates)."""
        statuses = set(query.get("order_status", []))
        if "OPEN" in statuses and len(statuses) > 1:
            raise SimBadRequest("OPEN cannot be combined with other order statuses")
        ids = set(query.get("order_ids", []))
        products = set(query.get("product_ids", []))
        sides = set(query.get("order_side", []))
        start = [parse_time(v, "start_date") for v in query.get("start_date", [])[:1]]
        end = [parse_time(v, "end_date") for v in query.get("end_date", [])[:1]]
        out: list[dict[str, Any]] = []
        for order in reversed(self._user_orders.get(user_id, [])):
            if (
                (ids and order.order_id not in ids)
                or (products and order.product_id not in products)
                or (statuses and order.status not in statuses)
                or (sides and order.side not in sides)
                or (start and order.created_time < start[0])
                or (end and order.created_time >= end[0])
            ):
                continue
            out.append(order_rest(order))
        return out

    def list_fills(self, user_id: str, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """Filtered §2.8 fills, newest first."""
        orders = set(query.get("order_ids", []))
        trades = set(query.get("trade_ids", []))
        products = set(query.get("product_ids", []))
        return [
            fill_wire(f)
            for f in reversed(self._fills.get(user_id, []))
            if not (orders and f.order_id not in orders)
            and not (trades and f.trade_id not in trades)
            and not (products and f.product_id not in products)
        ]

    def open_orders_ws(self, user_id: str) -> list[dict[str, Any]]:
        """``user``-channel snapshot: non-terminal orders, oldest first."""
        return [order_ws(o) for o in self._user_orders.get(user_id, []) if not o.terminal]

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
