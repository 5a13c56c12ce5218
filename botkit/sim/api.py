"""Simulator: the Advanced Trade REST API (reference §2) as a pure, synchronous router.

:class:`SimApi` is the *one* implementation of the simulator's REST routes.
Two adapters reach it: :class:`botkit.sim.rest.SimRest` over HTTP (adding the
fault plan, JWT verification and permission scopes, in that order, as
Coinbase's edge would), and :class:`botkit.net.local.LocalTransport`
in-process, for paper trading and deterministic backtests where a loopback
round trip per order would be slow and its ordering nondeterministic.

``handle`` translates only: path, query and body in, a Coinbase-shaped
:class:`ApiResponse` out. Business rules live in the exchange. There is no
clock and no I/O here: the caller passes ``now``, so the same calls at the
same times give the same answers.

Wire quirks honoured because real clients depend on them (reference §2.1):
a JSON ``{}`` body on GET is accepted (GET routes never read the body); array
parameters are repeated keys; 400/404 bodies are ``{error, error_details,
message}``; business failures are HTTP 200 with ``success: false``; an
unknown path is aiohttp's plain-text ``404: Not Found`` and a known path with
the wrong method ``405: Method Not Allowed`` with ``Allow``, exactly what the
HTTP server answered before the routes moved here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import unquote

from botkit.sim.exchange import (
    CONTRACT_EXPIRY_TYPES,
    EXPIRING_CONTRACT_STATUSES,
    PORTFOLIO_TYPES,
    PRODUCT_TYPES,
    PRODUCT_VENUES,
    SimBadRequest,
    SimExchange,
    SimNotFound,
    enum_one,
)
from botkit.sim.rest_util import (
    ApiResponse,
    CursorCodec,
    FullScope,
    KeyScope,
    error_body,
    iso,
    levels,
    match_path,
    query_bool,
    query_first,
    query_int,
)

__all__ = [
    "BASE",
    "GRANULARITY",
    "MAX_CANDLES",
    "ApiResponse",
    "FullScope",
    "KeyScope",
    "Param",
    "SimApi",
    "route_params",
]

BASE = "/api/v3/brokerage"
GRANULARITY = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "FOUR_HOUR": 14400,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
MAX_CANDLES = 350
_FULL = FullScope()


@dataclass(frozen=True, slots=True)
class _Call:
    """What a route handler sees: decoded path parameters plus the request."""

    params: dict[str, str]
    route: str
    query: Mapping[str, list[str]]
    body: bytes
    user_id: str
    now: float
    scope: KeyScope


_Route = Callable[["SimApi", _Call], Any]
_ROUTES: list[tuple[str, tuple[str, ...], _Route, str]] = []

Param = Literal["honoured", "spot-only", "refused"]
"""What the simulator does with one documented query parameter of a route.

``honoured``: the result changes as Coinbase documents. ``spot-only``: the parameter
only selects derivatives; its spot (or unspecified) values are accepted and leave the
answer as it is, any other value is refused or matches nothing, and a value outside
Coinbase's enum is a 400. ``refused``: any non-empty value is Coinbase's 400
``INVALID_ARGUMENT`` naming the parameter (the simulator cannot honour it). Never ignored.
"""
_PARAMS: dict[tuple[str, str], Mapping[str, Param]] = {}


def _route(method: str, *templates: str, params: Mapping[str, Param]) -> Callable[[_Route], _Route]:
    """Register a handler for ``method`` on each template (``{name}`` = one path segment).

    ``params`` is the route's documented query parameters (reference §2.2, §2.7, §2.8 and the
    official SDK's method for it) with what the simulator does with each; it is required so a
    new route cannot be added without saying. ``refused`` ones are answered 400 here.
    """

    def register(fn: _Route) -> _Route:
        for template in templates:
            _ROUTES.append((method, tuple((BASE + template).split("/")), fn, template))
            _PARAMS[(method, template)] = dict(params)
        return fn

    return register


def route_params() -> dict[tuple[str, str], Mapping[str, Param]]:
    """Every served ``(method, template)`` with its documented query parameters."""
    return dict(_PARAMS)


_PAGE: Mapping[str, Param] = {"limit": "honoured", "cursor": "honoured"}
_PRODUCTS: Mapping[str, Param] = {
    "limit": "honoured",
    "offset": "honoured",
    "product_type": "honoured",
    "product_ids": "honoured",
    "contract_expiry_type": "honoured",
    "expiring_contract_status": "spot-only",
    "get_all_products": "spot-only",
}
_BOOK: Mapping[str, Param] = {
    "product_id": "honoured",
    "limit": "honoured",
    "aggregation_price_increment": "honoured",
}
_CANDLES: Mapping[str, Param] = {
    "start": "honoured",
    "end": "honoured",
    "granularity": "honoured",
    "limit": "honoured",
}
_TRADES: Mapping[str, Param] = {"limit": "honoured", "start": "honoured", "end": "honoured"}


class SimApi:
    """The REST routes over one exchange (``SimExchange`` or a subclass).

    Args:
        exchange: the engine. Every request first advances it to ``now``, so
            the market has moved exactly as far as the request's time says.
        now: the exchange's *reported* clock for ``GET /time``. The HTTP
            server passes its clock including the fault plan's offset (so
            ``/time`` can disagree with the market time, like a drifting
            host); when None, ``/time`` reports the ``now`` given to
            :meth:`handle`.
    """

    def __init__(self, exchange: SimExchange, *, now: Callable[[], float] | None = None) -> None:
        self.exchange = exchange
        self._clock = now
        self._cursors = CursorCodec(exchange.cursor_secret())

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        body: bytes,
        user_id: str,
        now: float,
        *,
        scope: KeyScope | None = None,
    ) -> ApiResponse:
        """Answer one request.

        Args:
            method: HTTP method (``HEAD`` is answered as ``GET``; the caller drops the body).
            path: the raw (percent-encoded) path including :data:`BASE`, no query.
            query: every query key with all its values, in order.
            body: the raw request body (read only by POST routes).
            user_id: the portfolio the request acts for (ignored by public routes).
            now: market time: the exchange advances to it, order times use it.
            scope: the caller's key permissions, for ``/key_permissions``
                (default :class:`FullScope`). Enforcement is the caller's job.

        Exceptions other than the exchange's ``SimBadRequest``/``SimNotFound``
        propagate: they are engine bugs, and hiding them behind a 500 would
        make a paper run retry them silently.
        """
        segments = [unquote(s) for s in path.split("/")]
        verb = "GET" if method.upper() == "HEAD" else method.upper()
        handler: _Route | None = None
        params: dict[str, str] = {}
        route = ""
        allowed: set[str] = set()
        for route_method, template, fn, name in _ROUTES:
            found = match_path(template, segments)
            if found is None:
                continue
            if route_method == verb:
                handler, params, route = fn, found, name
                break
            allowed |= {"GET", "HEAD"} if route_method == "GET" else {route_method}
        try:
            self.exchange.advance(now)
            if handler is None:
                if allowed:
                    return ApiResponse(
                        405, "405: Method Not Allowed", {"Allow": ",".join(sorted(allowed))}
                    )
                return ApiResponse(404, "404: Not Found")
            for name, what in _PARAMS[(verb, route)].items():
                if what == "refused" and any(query.get(name) or ()):
                    raise SimBadRequest(
                        f"{name} is not supported by the simulator; leave it out "
                        "(see docs/simulator.md, known gaps)"
                    )
            call = _Call(params, route, query, body, user_id, now, scope or _FULL)
            return ApiResponse(200, handler(self, call))
        except SimBadRequest as exc:
            return ApiResponse(400, error_body(exc.error, exc.details))
        except SimNotFound as exc:
            return ApiResponse(404, error_body("NOT_FOUND", exc.details))

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _json(call: _Call) -> dict[str, Any]:
        try:
            data = json.loads(call.body or b"{}")
        except ValueError:
            raise SimBadRequest("request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise SimBadRequest("request body must be a JSON object")
        return data

    def _product_id(self, value: str | None) -> str:
        if not value:
            raise SimBadRequest("valid product_id is required")
        if value not in self.exchange.product_ids():
            raise SimNotFound(f"product {value} not found")
        return value

    def _page(
        self, call: _Call, default: int, hi: int, rows: Callable[[], list[Any]]
    ) -> tuple[list[Any], bool, str]:
        """Offset paging behind an opaque cursor: (page, has_next, next cursor or "").

        The cursor is signed over the route, the caller and the filters (see
        :class:`~botkit.sim.rest_util.CursorCodec`), so a tampered cursor, or one reused
        with other filters, is a 400. ``limit`` and ``cursor`` are validated before
        ``rows`` runs, so a bad page parameter is reported before a bad filter.
        """
        limit = query_int(call.query, "limit", default, lo=1, hi=hi)
        scope = json.dumps(
            [
                call.route,
                call.user_id,
                sorted((k, v) for k, v in call.query.items() if k not in ("cursor", "limit")),
            ]
        ).encode()
        raw = query_first(call.query, "cursor")
        start = self._cursors.decode(scope, raw) if raw else 0
        found = rows()
        more = start + limit < len(found)
        cursor = self._cursors.encode(scope, start + limit) if more else ""
        return found[start : start + limit], more, cursor

    # -- public market data ----------------------------------------------------------------

    @_route("GET", "/time", params={})
    def _time(self, call: _Call) -> Any:
        now = self._clock() if self._clock is not None else call.now
        return {"iso": iso(now), "epochSeconds": str(int(now)), "epochMillis": str(int(now * 1000))}

    @_route("GET", "/products", params={**_PRODUCTS, "get_tradability_status": "spot-only"})
    @_route("GET", "/market/products", params=_PRODUCTS)
    def _products(self, call: _Call) -> Any:
        """Spot products only: ``product_type=FUTURE`` or a contract expiry type match nothing.

        ``expiring_contract_status``, ``get_all_products`` and ``get_tradability_status``
        concern futures or products a user cannot trade; every simulated product is a
        tradable spot product, so a valid value leaves the list unchanged.
        """
        wanted = call.query.get("product_ids") or []
        product_type = enum_one(call.query, "product_type", PRODUCT_TYPES)
        expiry = enum_one(call.query, "contract_expiry_type", CONTRACT_EXPIRY_TYPES)
        enum_one(call.query, "expiring_contract_status", EXPIRING_CONTRACT_STATUSES)
        query_bool(call.query, "get_all_products")
        query_bool(call.query, "get_tradability_status")
        spot = product_type in ("", "SPOT") and not expiry
        ids = [p for p in self.exchange.product_ids() if spot and (not wanted or p in wanted)]
        offset = query_int(call.query, "offset", 0)
        limit = query_int(call.query, "limit", len(ids) or 1, lo=1)
        page = [self.exchange.product_wire(p) for p in ids[offset : offset + limit]]
        return {"products": page, "num_products": len(ids)}

    @_route("GET", "/products/{product_id}", params={"get_tradability_status": "spot-only"})
    @_route("GET", "/market/products/{product_id}", params={})
    def _product(self, call: _Call) -> Any:
        query_bool(call.query, "get_tradability_status")  # every simulated product is tradable
        return self.exchange.product_wire(self._product_id(call.params["product_id"]))

    @_route("GET", "/product_book", "/market/product_book", params=_BOOK)
    def _product_book(self, call: _Call) -> Any:
        pid = self._product_id(query_first(call.query, "product_id"))
        limit = query_int(call.query, "limit", 0) or None
        raw = query_first(call.query, "aggregation_price_increment")
        if raw:
            try:
                increment = Decimal(raw)
            except ArithmeticError:
                raise SimBadRequest("aggregation_price_increment must be a decimal") from None
            bids, asks = self.exchange.aggregated_book(pid, increment, limit)
        else:
            bids, asks = self.exchange.book(pid, limit)
        mid = spread = Decimal(0)
        if bids and asks:
            spread = asks[0][0] - bids[0][0]
            mid = (asks[0][0] + bids[0][0]) / 2
        bps = (spread / mid * 10000).quantize(Decimal("0.0001")) if mid else Decimal(0)
        return {
            "pricebook": {
                "product_id": pid,
                "bids": levels(bids),
                "asks": levels(asks),
                "time": iso(call.now),
            },
            "last": str(self.exchange.last_trade_price(pid)),
            "mid_market": str(mid),
            "spread_bps": str(bps),
            "spread_absolute": str(spread),
        }

    @_route(
        "GET",
        "/products/{product_id}/candles",
        "/market/products/{product_id}/candles",
        params=_CANDLES,
    )
    def _candles(self, call: _Call) -> Any:
        pid = self._product_id(call.params["product_id"])
        gran = query_first(call.query, "granularity") or ""
        if gran not in GRANULARITY:
            raise SimBadRequest(f"granularity must be one of {list(GRANULARITY)}")
        start, end = query_int(call.query, "start", -1), query_int(call.query, "end", -1)
        if start < 0 or end < 0 or end < start:
            raise SimBadRequest("start and end (Unix seconds) are required")
        limit = query_int(call.query, "limit", MAX_CANDLES, lo=1, hi=MAX_CANDLES)
        if (end - start) // GRANULARITY[gran] > MAX_CANDLES:
            raise SimBadRequest(
                f"number of candles requested should be less than {MAX_CANDLES}", "INVALID_ARGUMENT"
            )
        return {"candles": self.exchange.candles(pid, start, end, GRANULARITY[gran])[:limit]}

    @_route(
        "GET",
        "/products/{product_id}/ticker",
        "/market/products/{product_id}/ticker",
        params=_TRADES,
    )
    def _market_trades(self, call: _Call) -> Any:
        pid = self._product_id(call.params["product_id"])
        if not query_first(call.query, "limit"):
            raise SimBadRequest("limit is required")
        limit = query_int(call.query, "limit", 100, lo=1, hi=1000)
        start = query_int(call.query, "start", -1)
        end = query_int(call.query, "end", -1)
        trades = [
            {
                "trade_id": t.trade_id,
                "product_id": t.product_id,
                "price": str(t.price),
                "size": str(t.size),
                "time": iso(t.time),
                "side": t.side,
                "bid": "",
                "ask": "",
                "exchange": "coinbase",
            }
            for t in self.exchange.trades_between(
                pid, start if start >= 0 else None, end if end >= 0 else None, limit
            )
        ]
        bid, ask = self.exchange.best_bid_ask(pid)
        return {
            "trades": trades,
            "best_bid": str(bid[0]) if bid else "",
            "best_ask": str(ask[0]) if ask else "",
        }

    # -- private: account ------------------------------------------------------------------

    @_route("GET", "/accounts", params={**_PAGE, "retail_portfolio_id": "honoured"})
    def _accounts(self, call: _Call) -> Any:
        portfolios = set(call.query.get("retail_portfolio_id") or ())

        def rows() -> list[Any]:
            mine = not portfolios or call.user_id in portfolios
            return self.exchange.accounts(call.user_id) if mine else []

        page, more, cursor = self._page(call, 49, 250, rows)
        return {"accounts": page, "has_next": more, "cursor": cursor, "size": len(page)}

    @_route("GET", "/accounts/{account_uuid}", params={})
    def _account(self, call: _Call) -> Any:
        return {"account": self.exchange.account(call.user_id, call.params["account_uuid"])}

    @_route("GET", "/best_bid_ask", params={"product_ids": "honoured"})
    def _best_bid_ask(self, call: _Call) -> Any:
        books = []
        for pid in call.query.get("product_ids") or self.exchange.product_ids():
            self._product_id(pid)
            bid, ask = self.exchange.best_bid_ask(pid)
            books.append(
                {
                    "product_id": pid,
                    "bids": levels([bid] if bid else []),
                    "asks": levels([ask] if ask else []),
                    "time": iso(call.now),
                }
            )
        return {"pricebooks": books}

    @_route(
        "GET",
        "/transaction_summary",
        params={
            "product_type": "spot-only",
            "contract_expiry_type": "spot-only",
            "product_venue": "spot-only",
        },
    )
    def _transaction_summary(self, call: _Call) -> Any:
        """Spot fees and volume; asking for derivatives (FUTURE, an expiry, FCM/INTX) is a 400."""
        product_type = enum_one(call.query, "product_type", PRODUCT_TYPES)
        expiry = enum_one(call.query, "contract_expiry_type", CONTRACT_EXPIRY_TYPES)
        venue = enum_one(call.query, "product_venue", PRODUCT_VENUES)
        if product_type not in ("", "SPOT") or expiry or venue not in ("", "CBE"):
            raise SimBadRequest(
                "the simulator has spot products on CBE only: leave product_type, "
                "contract_expiry_type and product_venue out, or ask for SPOT/CBE"
            )
        return self.exchange.transaction_summary(call.user_id)

    @_route("GET", "/key_permissions", params={})
    def _key_permissions(self, call: _Call) -> Any:
        return {
            "can_view": call.scope.can_view,
            "can_trade": call.scope.can_trade,
            "can_transfer": call.scope.can_transfer,
            "portfolio_uuid": call.scope.portfolio_uuid or call.user_id,
            "portfolio_type": "DEFAULT",
        }

    # -- private: portfolios ---------------------------------------------------------------

    @_route("GET", "/portfolios", params={"portfolio_type": "honoured"})
    def _portfolios(self, call: _Call) -> Any:
        kind = enum_one(call.query, "portfolio_type", PORTFOLIO_TYPES)
        return {"portfolios": self.exchange.portfolios(call.user_id, kind)}

    @_route("GET", "/portfolios/{portfolio_uuid}", params={"currency": "honoured"})
    def _portfolio_breakdown(self, call: _Call) -> Any:
        currency = query_first(call.query, "currency") or ""
        uuid = call.params["portfolio_uuid"]
        return {"breakdown": self.exchange.portfolio_breakdown(call.user_id, uuid, currency)}

    # -- private: orders -------------------------------------------------------------------

    @_route("POST", "/orders", params={})
    def _create_order(self, call: _Call) -> Any:
        return self.exchange.create_order(call.user_id, self._json(call), call.now)

    @_route("POST", "/orders/batch_cancel", params={})
    def _cancel_orders(self, call: _Call) -> Any:
        ids = self._json(call).get("order_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise SimBadRequest("order_ids must be a list of strings")
        return self.exchange.cancel_orders(call.user_id, ids, call.now)

    @_route("POST", "/orders/edit", params={})
    def _edit_order(self, call: _Call) -> Any:
        return self.exchange.edit_order(call.user_id, self._json(call), call.now)

    @_route("POST", "/orders/edit_preview", params={})
    def _preview_edit(self, call: _Call) -> Any:
        return self.exchange.preview_edit_order(call.user_id, self._json(call), call.now)

    @_route("POST", "/orders/preview", params={})
    def _preview_order(self, call: _Call) -> Any:
        return self.exchange.preview_order(call.user_id, self._json(call), call.now)

    @_route(
        "GET",
        "/orders/historical/batch",
        params={
            **_PAGE,
            "order_ids": "honoured",
            "product_ids": "honoured",
            "product_type": "honoured",
            "order_status": "honoured",
            "order_types": "honoured",
            "order_side": "honoured",
            "time_in_forces": "honoured",
            "start_date": "honoured",
            "end_date": "honoured",
            "order_placement_source": "honoured",
            "contract_expiry_type": "honoured",
            "asset_filters": "honoured",
            "retail_portfolio_id": "honoured",
            "sort_by": "honoured",
        },
    )
    def _list_orders(self, call: _Call) -> Any:
        statuses = call.query.get("order_status") or []
        if "OPEN" in statuses and len(set(statuses)) > 1:
            raise SimBadRequest("OPEN cannot be combined with other statuses")
        page, more, cursor = self._page(
            call, 100, 1000, lambda: self.exchange.list_orders(call.user_id, call.query)
        )
        return {"orders": page, "sequence": "0", "has_next": more, "cursor": cursor}

    @_route(
        "GET",
        "/orders/historical/fills",
        params={
            **_PAGE,
            "order_ids": "honoured",
            "trade_ids": "honoured",
            "product_ids": "honoured",
            "product_id": "honoured",
            "start_sequence_timestamp": "honoured",
            "end_sequence_timestamp": "honoured",
            "retail_portfolio_id": "honoured",
            "sort_by": "honoured",
        },
    )
    def _list_fills(self, call: _Call) -> Any:
        page, _, cursor = self._page(
            call, 100, 1000, lambda: self.exchange.list_fills(call.user_id, call.query)
        )
        return {"fills": page, "cursor": cursor}

    @_route(
        "GET",
        "/orders/historical/{order_id}",
        params={"client_order_id": "refused", "user_native_currency": "refused"},
    )
    def _get_order(self, call: _Call) -> Any:
        return {"order": self.exchange.get_order(call.user_id, call.params["order_id"])}
