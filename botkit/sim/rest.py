"""Simulator adapter: the Advanced Trade REST API (reference §2) over :class:`SimExchange`.

Handlers only translate: query strings and bodies in, Coinbase-shaped JSON out.
All business rules live in the pure engine. Faults and authentication run in
one middleware, before any handler, in the order Coinbase's edge would apply
them: fault plan, then JWT, then permission scope.

Wire quirks honoured because real clients depend on them (reference §2.1):
a JSON ``{}`` body on GET is accepted; array parameters are repeated keys;
401 is the plain-text body ``Unauthorized``; 400s are ``{error, error_details,
message}``; business failures are HTTP 200 with ``success: false``.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from botkit.sim.auth import AuthFailure, KeyRegistry, RegisteredKey
from botkit.sim.exchange import SimBadRequest, SimExchange, SimNotFound
from botkit.sim.faults import FaultPlan
from botkit.sim.rest_util import (
    error_response,
    fault_response,
    forbidden,
    iso,
    levels,
    query_int,
    unauthorized,
)

__all__ = ["BASE", "SimRest"]

BASE = "/api/v3/brokerage"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
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
# The authenticated key of the request being handled (set by the middleware, same task).
_CURRENT_KEY: contextvars.ContextVar[RegisteredKey] = contextvars.ContextVar("sim_key")


class SimRest:
    """REST routes and middleware bound to one exchange, key registry and fault plan.

    Args:
        exchange: the engine.
        registry: keys and JWT verification.
        faults: the REST fault plan.
        now: the server clock used for JWT checks and ``/time`` (includes the
            fault plan's clock offset).
        market_now: the true time used to advance the market before answering.
        on_change: called after every request that may have produced engine
            events, so the server can publish them to WebSocket subscribers.
    """

    def __init__(
        self,
        exchange: SimExchange,
        registry: KeyRegistry,
        faults: FaultPlan,
        *,
        now: Callable[[], float],
        market_now: Callable[[], float],
        on_change: Callable[[], None],
    ) -> None:
        self.exchange = exchange
        self.registry = registry
        self.faults = faults
        self.now = now
        self.market_now = market_now
        self.on_change = on_change
        self.requests = 0

    # -- middleware ------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith(BASE):
            return await handler(request)
        self.requests += 1
        fault = self.faults.take(request.method, path)
        if fault is not None:
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "status":
                return fault_response(fault)
            elif fault.kind == "reset":
                return self._reset(request)
        sub = path[len(BASE) :]
        if not (sub == "/time" or sub.startswith("/market/")):
            try:
                key = self.registry.verify_rest(
                    request.headers.get("Authorization"), request.method, path, self.now()
                )
            except AuthFailure as exc:
                return unauthorized(str(exc))
            needs_trade = request.method == "POST" and sub.startswith("/orders")
            if not key.can_view or (needs_trade and not key.can_trade):
                return forbidden()
            _CURRENT_KEY.set(key)
        try:
            self.exchange.advance(self.market_now())
            response = await handler(request)
        except SimBadRequest as exc:
            response = error_response(400, exc.error, exc.details)
        except SimNotFound as exc:
            response = error_response(404, "NOT_FOUND", exc.details)
        finally:
            self.on_change()
        if fault is not None and fault.kind == "drop_after_accept":
            return self._reset(request)
        if fault is not None and fault.kind == "status_after_accept":
            return fault_response(fault)
        return response

    @staticmethod
    def _reset(request: web.Request) -> web.Response:
        """Abort the TCP connection: the client sees a reset, not an HTTP answer."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=499)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _user(request: web.Request) -> str:
        return _CURRENT_KEY.get().user_id

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise SimBadRequest("request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise SimBadRequest("request body must be a JSON object")
        return data

    @staticmethod
    def _query(request: web.Request) -> dict[str, list[str]]:
        return {k: request.query.getall(k) for k in set(request.query.keys())}

    def _product_id(self, request: web.Request, value: str | None) -> str:
        if not value:
            raise SimBadRequest("valid product_id is required")
        if value not in self.exchange.product_ids():
            raise SimNotFound(f"product {value} not found")
        return value

    # -- routes ----------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        r = []
        for prefix in ("", "/market"):
            r += [
                web.get(f"{BASE}{prefix}/products", self.products),
                web.get(f"{BASE}{prefix}/products/{{product_id}}", self.product),
                web.get(f"{BASE}{prefix}/product_book", self.product_book),
                web.get(f"{BASE}{prefix}/products/{{product_id}}/candles", self.candles),
                web.get(f"{BASE}{prefix}/products/{{product_id}}/ticker", self.market_trades),
            ]
        return r + [
            web.get(f"{BASE}/time", self.time),
            web.get(f"{BASE}/accounts", self.accounts),
            web.get(f"{BASE}/accounts/{{account_uuid}}", self.account),
            web.get(f"{BASE}/best_bid_ask", self.best_bid_ask),
            web.get(f"{BASE}/transaction_summary", self.transaction_summary),
            web.get(f"{BASE}/key_permissions", self.key_permissions),
            web.post(f"{BASE}/orders", self.create_order),
            web.post(f"{BASE}/orders/batch_cancel", self.cancel_orders),
            web.post(f"{BASE}/orders/edit", self.edit_order),
            web.post(f"{BASE}/orders/edit_preview", self.preview_edit),
            web.post(f"{BASE}/orders/preview", self.preview_order),
            web.get(f"{BASE}/orders/historical/batch", self.list_orders),
            web.get(f"{BASE}/orders/historical/fills", self.list_fills),
            web.get(f"{BASE}/orders/historical/{{order_id}}", self.get_order),
        ]

    async def time(self, request: web.Request) -> web.Response:
        now = self.now()
        return web.json_response(
            {"iso": iso(now), "epochSeconds": str(int(now)), "epochMillis": str(int(now * 1000))}
        )

    async def accounts(self, request: web.Request) -> web.Response:
        limit = query_int(request, "limit", 49, lo=1, hi=250)
        start = query_int(request, "cursor", 0)
        rows = self.exchange.accounts(self._user(request))
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        return web.json_response(
            {
                "accounts": page,
                "has_next": more,
                "cursor": str(start + limit) if more else "",
                "size": len(page),
            }
        )

    async def account(self, request: web.Request) -> web.Response:
        acct = self.exchange.account(self._user(request), request.match_info["account_uuid"])
        return web.json_response({"account": acct})

    async def products(self, request: web.Request) -> web.Response:
        wanted = request.query.getall("product_ids", [])
        ids = [p for p in self.exchange.product_ids() if not wanted or p in wanted]
        offset = query_int(request, "offset", 0)
        limit = query_int(request, "limit", len(ids) or 1, lo=1)
        page = [self.exchange.product_wire(p) for p in ids[offset : offset + limit]]
        return web.json_response({"products": page, "num_products": len(ids)})

    async def product(self, request: web.Request) -> web.Response:
        pid = self._product_id(request, request.match_info["product_id"])
        return web.json_response(self.exchange.product_wire(pid))

    async def product_book(self, request: web.Request) -> web.Response:
        pid = self._product_id(request, request.query.get("product_id"))
        limit = query_int(request, "limit", 0) or None
        bids, asks = self.exchange.book(pid, limit)
        mid = spread = Decimal(0)
        if bids and asks:
            spread = asks[0][0] - bids[0][0]
            mid = (asks[0][0] + bids[0][0]) / 2
        bps = (spread / mid * 10000).quantize(Decimal("0.0001")) if mid else Decimal(0)
        return web.json_response(
            {
                "pricebook": {
                    "product_id": pid,
                    "bids": levels(bids),
                    "asks": levels(asks),
                    "time": iso(self.market_now()),
                },
                "last": str(self.exchange.last_trade_price(pid)),
                "mid_market": str(mid),
                "spread_bps": str(bps),
                "spread_absolute": str(spread),
            }
        )

    async def best_bid_ask(self, request: web.Request) -> web.Response:
        ids = request.query.getall("product_ids", []) or self.exchange.product_ids()
        books = []
        for pid in ids:
            self._product_id(request, pid)
            bid, ask = self.exchange.best_bid_ask(pid)
            books.append(
                {
                    "product_id": pid,
                    "bids": levels([bid] if bid else []),
                    "asks": levels([ask] if ask else []),
                    "time": iso(self.market_now()),
                }
            )
        return web.json_response({"pricebooks": books})

    async def candles(self, request: web.Request) -> web.Response:
        pid = self._product_id(request, request.match_info["product_id"])
        gran = request.query.get("granularity", "")
        if gran not in GRANULARITY:
            raise SimBadRequest(f"granularity must be one of {list(GRANULARITY)}")
        start, end = query_int(request, "start", -1), query_int(request, "end", -1)
        if start < 0 or end < 0 or end < start:
            raise SimBadRequest("start and end (Unix seconds) are required")
        limit = query_int(request, "limit", MAX_CANDLES, lo=1, hi=MAX_CANDLES)
        if (end - start) // GRANULARITY[gran] > MAX_CANDLES:
            raise SimBadRequest(
                "INVALID_ARGUMENT", f"number of candles requested should be less than {MAX_CANDLES}"
            )
        rows = self.exchange.candles(pid, start, end, GRANULARITY[gran])[:limit]
        return web.json_response({"candles": rows})

    async def market_trades(self, request: web.Request) -> web.Response:
        pid = self._product_id(request, request.match_info["product_id"])
        if not request.query.get("limit"):
            raise SimBadRequest("limit is required")
        limit = query_int(request, "limit", 100, lo=1, hi=1000)
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
        return web.json_response(
            {
                "trades": trades,
                "best_bid": str(bid[0]) if bid else "",
                "best_ask": str(ask[0]) if ask else "",
            }
        )

    async def transaction_summary(self, request: web.Request) -> web.Response:
        return web.json_response(self.exchange.transaction_summary(self._user(request)))

    async def key_permissions(self, request: web.Request) -> web.Response:
        key = _CURRENT_KEY.get()
        return web.json_response(
            {
                "can_view": key.can_view,
                "can_trade": key.can_trade,
                "can_transfer": key.can_transfer,
                "portfolio_uuid": key.portfolio_uuid,
                "portfolio_type": "DEFAULT",
            }
        )

    async def create_order(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return web.json_response(
            self.exchange.create_order(self._user(request), body, self.market_now())
        )

    async def preview_order(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return web.json_response(
            self.exchange.preview_order(self._user(request), body, self.market_now())
        )

    async def cancel_orders(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        ids = body.get("order_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise SimBadRequest("order_ids must be a list of strings")
        return web.json_response(
            self.exchange.cancel_orders(self._user(request), ids, self.market_now())
        )

    async def edit_order(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return web.json_response(
            self.exchange.edit_order(self._user(request), body, self.market_now())
        )

    async def preview_edit(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return web.json_response(
            self.exchange.preview_edit_order(self._user(request), body, self.market_now())
        )

    async def get_order(self, request: web.Request) -> web.Response:
        order = self.exchange.get_order(self._user(request), request.match_info["order_id"])
        return web.json_response({"order": order})

    async def list_orders(self, request: web.Request) -> web.Response:
        query = self._query(request)
        statuses = query.get("order_status", [])
        if "OPEN" in statuses and len(set(statuses)) > 1:
            raise SimBadRequest("OPEN cannot be combined with other statuses")
        limit = query_int(request, "limit", 100, lo=1, hi=1000)
        start = query_int(request, "cursor", 0)
        rows = self.exchange.list_orders(self._user(request), query)
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        return web.json_response(
            {
                "orders": page,
                "sequence": "0",
                "has_next": more,
                "cursor": str(start + limit) if more else "",
            }
        )

    async def list_fills(self, request: web.Request) -> web.Response:
        limit = query_int(request, "limit", 100, lo=1, hi=1000)
        start = query_int(request, "cursor", 0)
        rows = self.exchange.list_fills(self._user(request), self._query(request))
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        return web.json_response({"fills": page, "cursor": str(start + limit) if more else ""})
