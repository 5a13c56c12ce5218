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
from typing import Any
from urllib.parse import unquote

from botkit.sim.exchange import SimBadRequest, SimExchange, SimNotFound
from botkit.sim.rest_util import (
    ApiResponse,
    FullScope,
    KeyScope,
    error_body,
    iso,
    levels,
    query_first,
    query_int,
)

__all__ = ["BASE", "GRANULARITY", "MAX_CANDLES", "ApiResponse", "FullScope", "KeyScope", "SimApi"]

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
    query: Mapping[str, list[str]]
    body: bytes
    user_id: str
    now: float
    scope: KeyScope


_Route = Callable[["SimApi", _Call], Any]
_ROUTES: list[tuple[str, tuple[str, ...], _Route]] = []


def _route(method: str, *templates: str) -> Callable[[_Route], _Route]:
    """Register a handler for ``method`` on each template (``{name}`` = one path segment)."""

    def register(fn: _Route) -> _Route:
        for template in templates:
            _ROUTES.append((method, tuple((BASE + template).split("/")), fn))
        return fn

    return register


def _match(template: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(template) != len(segments):
        return None
    params: dict[str, str] = {}
    for want, got in zip(template, segments, strict=True):
        if want.startswith("{"):
            if not got:
                return None
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params


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
        allowed: set[str] = set()
        for route_method, template, fn in _ROUTES:
            found = _match(template, segments)
            if found is None:
                continue
            if route_method == verb:
                handler, params = fn, found
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
            call = _Call(params, query, body, user_id, now, scope or _FULL)
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

    @staticmethod
    def _page(
        call: _Call, default: int, hi: int, rows: Callable[[], list[Any]]
    ) -> tuple[list[Any], bool, str]:
        """Offset paging behind an opaque cursor: (page, has_next, next cursor or "").

        ``limit`` and ``cursor`` are validated before ``rows`` runs, so a bad
        page parameter is reported before a bad filter, as it always was.
        """
        limit = query_int(call.query, "limit", default, lo=1, hi=hi)
        start = query_int(call.query, "cursor", 0)
        found = rows()
        more = start + limit < len(found)
        return found[start : start + limit], more, str(start + limit) if more else ""

    # -- public market data ----------------------------------------------------------------

    @_route("GET", "/time")
    def _time(self, call: _Call) -> Any:
        now = self._clock() if self._clock is not None else call.now
        return {"iso": iso(now), "epochSeconds": str(int(now)), "epochMillis": str(int(now * 1000))}

    @_route("GET", "/products", "/market/products")
    def _products(self, call: _Call) -> Any:
        wanted = call.query.get("product_ids") or []
        ids = [p for p in self.exchange.product_ids() if not wanted or p in wanted]
        offset = query_int(call.query, "offset", 0)
        limit = query_int(call.query, "limit", len(ids) or 1, lo=1)
        page = [self.exchange.product_wire(p) for p in ids[offset : offset + limit]]
        return {"products": page, "num_products": len(ids)}

    @_route("GET", "/products/{product_id}", "/market/products/{product_id}")
    def _product(self, call: _Call) -> Any:
        return self.exchange.product_wire(self._product_id(call.params["product_id"]))

    @_route("GET", "/product_book", "/market/product_book")
    def _product_book(self, call: _Call) -> Any:
        pid = self._product_id(query_first(call.query, "product_id"))
        bids, asks = self.exchange.book(pid, query_int(call.query, "limit", 0) or None)
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

    @_route("GET", "/products/{product_id}/candles", "/market/products/{product_id}/candles")
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

    @_route("GET", "/products/{product_id}/ticker", "/market/products/{product_id}/ticker")
    def _market_trades(self, call: _Call) -> Any:
        pid = self._product_id(call.params["product_id"])
        if not query_first(call.query, "limit"):
            raise SimBadRequest("limit is required")
        limit = query_int(call.query, "limit", 100, lo=1, hi=1000)
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
            for t in self.exchange.recent_trades(pid, limit)
        ]
        bid, ask = self.exchange.best_bid_ask(pid)
        return {
            "trades": trades,
            "best_bid": str(bid[0]) if bid else "",
            "best_ask": str(ask[0]) if ask else "",
        }

    # -- private: account ------------------------------------------------------------------

    @_route("GET", "/accounts")
    def _accounts(self, call: _Call) -> Any:
        page, more, cursor = self._page(call, 49, 250, lambda: self.exchange.accounts(call.user_id))
        return {"accounts": page, "has_next": more, "cursor": cursor, "size": len(page)}

    @_route("GET", "/accounts/{account_uuid}")
    def _account(self, call: _Call) -> Any:
        return {"account": self.exchange.account(call.user_id, call.params["account_uuid"])}

    @_route("GET", "/best_bid_ask")
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

    @_route("GET", "/transaction_summary")
    def _transaction_summary(self, call: _Call) -> Any:
        return self.exchange.transaction_summary(call.user_id)

    @_route("GET", "/key_permissions")
    def _key_permissions(self, call: _Call) -> Any:
        return {
            "can_view": call.scope.can_view,
            "can_trade": call.scope.can_trade,
            "can_transfer": call.scope.can_transfer,
            "portfolio_uuid": call.scope.portfolio_uuid,
            "portfolio_type": "DEFAULT",
        }

    # -- private: orders -------------------------------------------------------------------

    @_route("POST", "/orders")
    def _create_order(self, call: _Call) -> Any:
        return self.exchange.create_order(call.user_id, self._json(call), call.now)

    @_route("POST", "/orders/batch_cancel")
    def _cancel_orders(self, call: _Call) -> Any:
        ids = self._json(call).get("order_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise SimBadRequest("order_ids must be a list of strings")
        return self.exchange.cancel_orders(call.user_id, ids, call.now)

    @_route("POST", "/orders/edit")
    def _edit_order(self, call: _Call) -> Any:
        return self.exchange.edit_order(call.user_id, self._json(call), call.now)

    @_route("POST", "/orders/edit_preview")
    def _preview_edit(self, call: _Call) -> Any:
        return self.exchange.preview_edit_order(call.user_id, self._json(call), call.now)

    @_route("POST", "/orders/preview")
    def _preview_order(self, call: _Call) -> Any:
        return self.exchange.preview_order(call.user_id, self._json(call), call.now)

    @_route("GET", "/orders/historical/batch")
    def _list_orders(self, call: _Call) -> Any:
        statuses = call.query.get("order_status") or []
        if "OPEN" in statuses and len(set(statuses)) > 1:
            raise SimBadRequest("OPEN cannot be combined with other statuses")
        page, more, cursor = self._page(
            call, 100, 1000, lambda: self.exchange.list_orders(call.user_id, call.query)
        )
        return {"orders": page, "sequence": "0", "has_next": more, "cursor": cursor}

    @_route("GET", "/orders/historical/fills")
    def _list_fills(self, call: _Call) -> Any:
        page, _, cursor = self._page(
            call, 100, 1000, lambda: self.exchange.list_fills(call.user_id, call.query)
        )
        return {"fills": page, "cursor": cursor}

    @_route("GET", "/orders/historical/{order_id}")
    def _get_order(self, call: _Call) -> Any:
        return {"order": self.exchange.get_order(call.user_id, call.params["order_id"])}
