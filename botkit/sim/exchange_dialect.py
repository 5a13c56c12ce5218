"""Simulator: the Coinbase Exchange REST dialect as a pure router over the shared exchange.

:class:`ExchangeDialect` answers Coinbase Exchange's REST requests (reference
exchange-prime-api.md §1.A–§1.B) on the **same** :class:`~botkit.sim.exchange.SimExchange`
the Advanced Trade (:mod:`botkit.sim.api`) and Prime (:mod:`botkit.sim.prime_dialect`)
dialects use: same matching engine, books, balances and fees. It only translates: an
Exchange create body becomes an Advanced Trade ``order_configuration`` for the engine, and
the engine's records come back in Exchange's shapes. An Exchange key is scoped to one
profile, and a profile is one exchange user (user id = profile id). The HTTP edge is
:mod:`botkit.sim.exchange_rest`; this module has no clock and no I/O: the caller passes
``now`` (market time) and ``server_now`` (the clock the timestamp window uses).

Routes (at the root, as ``api.exchange.coinbase.com``): public ``GET /time``,
``/currencies``, ``/products``, ``/products/{id}``, ``/products/{id}/book?level=1|2``,
``/products/{id}/ticker``, ``/products/{id}/candles``, ``/products/{id}/trades``; private
``GET /accounts``, ``/accounts/{id}``, ``/profiles``, ``/fees``, ``POST /orders``,
``GET /orders``, ``GET /orders/{id}`` and ``/orders/client:{client_oid}``,
``DELETE /orders/{id}`` (or ``client:…``), ``DELETE /orders``, ``GET /fills``.

Exchange rules kept, and the simulator's choice where the reference is unsure (each a
knob in :class:`ExchangeDialectConfig`):

* Errors are ``{"message": ...}``; a 2xx body never has a top-level ``message`` (ccxt
  raises on one). Engine refusals get the texts ccxt matches (``Insufficient funds``,
  ``size is too small…``, ``price too precise``, ``Product not found``…).
* ``client_oid`` must be a UUID (400 ``Invalid client_oid``). Exchange does **not**
  deduplicate it (reference §1.B.1), so by default a repeated ``client_oid`` makes a
  **new** order (``duplicate_client_oid="new_order"``); ``"reject_open"`` refuses it
  while an earlier order with it is open, ``"return_existing"`` answers that order.
  ``client:<oid>`` lookups find the latest order with the id.
* ``POST /orders`` answers the order with ``status: "pending"`` and nothing filled, as
  captured responses show (``create_answer="current"`` answers the booked state).
  Afterwards: ``open`` (resting; ``active`` for an untriggered stop, a setting), ``done`` with
  ``done_reason`` ``filled``/``canceled``, or ``rejected``.
* Cancel answers the id as a JSON string; a done order is 400 ``Order already done``;
  an unknown one 404 ``NotFound``. ``purge_canceled_unfilled`` makes a cancelled order
  with no fills 404 afterwards, as cbpro warns can happen.
* Lists page newest first with ``before``/``after``/``limit`` and answer the cursors in
  ``CB-BEFORE``/``CB-AFTER``: the trade id for trades and fills, an ordinal per profile
  for orders. ``after`` pages to older items, ``before`` to newer ones.
* Book levels are ``[price, size, num_orders]``; the simulator does not count orders per
  level, so ``num_orders`` is 1. ``sequence`` is the product's last trade id (the book has
  no sequence of its own until the WebSocket dialect lands). Level 3 is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

from botkit.sim import exchange_shapes as shapes
from botkit.sim.client_ids import PRUNE_FROM, prune_client_ids
from botkit.sim.entry import MODE_REFUSALS, mode_admits
from botkit.sim.exchange import ProductSpec, SimBadRequest, SimExchange, SimNotFound
from botkit.sim.exchange_auth import (
    ExchangeAuthFailure,
    ExchangeKey,
    ExchangeRefusals,
    Refusal,
    error_body,
    verify_request,
)
from botkit.sim.orders import parse_time
from botkit.sim.rest_util import match_path, query_first, query_int
from botkit.sim.wire import dec_str

__all__ = [
    "GRANULARITIES",
    "ExchangeResponse",
    "MAX_CANDLES",
    "ExchangeDialect",
    "ExchangeDialectConfig",
    "ExchangeKey",
    "ExchangeRefusals",
    "Refusal",
]

GRANULARITIES = (60, 300, 900, 3600, 21600, 86400)
MAX_CANDLES = 300
_OPEN_STATUSES = frozenset({"open", "pending", "active"})
_LIST_STATUSES = frozenset({"open", "pending", "active", "done", "rejected", "received", "all"})
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ExchangeResponse:
    """One answer: status, a JSON-able body (always sent as JSON: a cancel answers a JSON
    string, which :class:`botkit.sim.rest_util.ApiResponse` would send as plain text) and
    extra headers (the ``CB-BEFORE``/``CB-AFTER`` cursors, ``Allow``)."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    def body_bytes(self) -> bytes:
        """The body as the HTTP server sends it (``json.dumps`` defaults, UTF-8)."""
        return json.dumps(self.body).encode("utf-8")


@dataclass(frozen=True, slots=True)
class ExchangeDialectConfig:
    """What the simulated Exchange does where the reference is unsure (each one a knob).

    Attributes:
        window: seconds a request timestamp may be off the server clock (Exchange: 30).
        refusals: status and message of every refusal at the edge.
        accept_bare_path: also accept a signature over the path without ``?query``.
        duplicate_client_oid: what a second create with a used ``client_oid`` does.
        duplicate_refusal: the answer to a refused duplicate (``reject_open``).
        require_uuid_client_oid: refuse a ``client_oid`` that is not a UUID.
        create_answer: ``pending`` (captured responses) or ``current`` (booked state).
        purge_canceled_unfilled: a cancelled order with no fills answers 404 afterwards.
        default_limit: page size when ``limit`` is absent (Exchange: 100 on most lists).
        untriggered_stop_status: the REST ``status`` of a stop order that has not
            triggered: ``active`` (default; inferred from the ``activate`` WebSocket
            message), ``open`` or ``pending`` (UNCERTAIN in exchange-prime-api.md, section 1.B.2).
    """

    window: float = 30.0
    refusals: ExchangeRefusals = field(default_factory=ExchangeRefusals)
    accept_bare_path: bool = False
    duplicate_client_oid: Literal["new_order", "reject_open", "return_existing"] = "new_order"
    duplicate_refusal: Refusal = Refusal(400, "duplicate client_oid: an open order already uses it")
    require_uuid_client_oid: bool = True
    create_answer: Literal["pending", "current"] = "pending"
    purge_canceled_unfilled: bool = False
    default_limit: int = 100
    untriggered_stop_status: Literal["active", "open", "pending"] = "active"


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class _Call:
    params: dict[str, str]
    query: Mapping[str, Sequence[str]]
    body: bytes
    key: ExchangeKey | None
    now: float
    server_now: float

    @property
    def profile(self) -> str:
        assert self.key is not None, "a private route without a key"
        return self.key.profile_id


# (method, template segments, auth: "" public | "view" | "trade", handler)
_Route = Callable[["ExchangeDialect", _Call], Any]
_ROUTES: list[tuple[str, tuple[str, ...], str, _Route]] = []


def _route(method: str, template: str, auth: str) -> Callable[[_Route], _Route]:
    def register(fn: _Route) -> _Route:
        _ROUTES.append((method, tuple(template.split("/")), auth, fn))
        return fn

    return register


class ExchangeDialect:
    """Exchange's REST routes over one exchange (see the module docstring).

    Args:
        exchange: the shared engine (also serving other dialects, if wired so).
        config: the dialect's knobs.
    """

    def __init__(self, exchange: SimExchange, config: ExchangeDialectConfig | None = None) -> None:
        self.exchange = exchange
        self.config = config or ExchangeDialectConfig()
        self.keys: dict[str, ExchangeKey] = {}
        self.last_failure = ""
        # client_oid bookkeeping lives here: a repeated client_oid must reach the engine
        # under another id (the engine would answer its first order), and a profile's
        # order ordinals are the orders' list cursor
        self._client_oids: dict[str, str] = {}  # engine order id -> client_oid
        self._by_client: dict[tuple[str, str], list[str]] = {}  # (profile, oid) -> order ids
        self._prune_at = PRUNE_FROM  # (both bounded like the engine's orders: client_ids.py)

    # -- keys ------------------------------------------------------------------------------

    def register(self, key: ExchangeKey) -> ExchangeKey:
        """Know ``key`` and open (and fund) its profile on the exchange."""
        key.secret_bytes()  # a bad simulator key fails here, not at the first request
        self.keys[key.key] = key
        self.exchange.add_user(key.profile_id)
        return key

    def client_oid(self, order_id: str) -> str | None:
        """The ``client_oid`` an order was placed with here (the WebSocket ``received`` says it)."""
        return self._client_oids.get(order_id)

    # -- the router ------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        target: str,
        body: bytes,
        headers: Mapping[str, str],
        now: float,
        *,
        server_now: float | None = None,
        remote: str | None = None,
    ) -> ExchangeResponse:
        """Answer one request.

        Args:
            method: HTTP method.
            target: the raw request target: path and ``?query`` exactly as received
                (the signature covers both).
            body: raw body bytes.
            headers: request headers (any case).
            now: market time: the exchange advances to it first.
            server_now: the clock the timestamp window and ``/time`` use (default ``now``).
            remote: the caller's IP address (the keys' allow-lists).
        """
        verb = "GET" if method.upper() == "HEAD" else method.upper()
        path, _, raw_query = target.partition("?")
        segments = [unquote(s) for s in path.split("/")]
        found: tuple[_Route, dict[str, str], str] | None = None
        allowed: set[str] = set()
        for route_method, template, auth, fn in _ROUTES:
            params = match_path(template, segments)
            if params is None:
                continue
            if route_method == verb:
                found = (fn, params, auth)
                break
            allowed.add(route_method)
        if found is None:
            if allowed:
                return ExchangeResponse(405, error_body("method not allowed"),
                                   {"Allow": ",".join(sorted(allowed))})  # fmt: skip
            return ExchangeResponse(404, error_body("NotFound"))
        fn, params, auth = found
        clock = now if server_now is None else server_now
        key: ExchangeKey | None = None
        if auth:
            try:
                key = verify_request(
                    self.keys,
                    headers,
                    verb,
                    target,
                    body,
                    clock,
                    refusals=self.config.refusals,
                    window=self.config.window,
                    remote=remote,
                    accept_bare_path=self.config.accept_bare_path,
                )
                self._authorize(key, auth)
            except ExchangeAuthFailure as exc:
                self.last_failure = exc.message
                return ExchangeResponse(exc.refusal.status, error_body(exc.message))
        query = parse_qs(raw_query, keep_blank_values=True)
        try:
            self.exchange.advance(now)
            answer = fn(self, _Call(params, query, body, key, now, clock))
        except _Refused as exc:
            return ExchangeResponse(exc.status, error_body(exc.message))
        except SimBadRequest as exc:
            return ExchangeResponse(400, error_body(exc.details))
        except SimNotFound as exc:
            return ExchangeResponse(404, error_body(exc.details))
        if isinstance(answer, ExchangeResponse):
            return answer
        return ExchangeResponse(200, answer)

    def _authorize(self, key: ExchangeKey, auth: str) -> None:
        refusal = self.config.refusals.missing_permission
        if auth == "trade" and not key.can_trade:
            raise ExchangeAuthFailure(refusal, refusal.message.format(permission="trade"))
        if auth == "view" and not (key.can_view or key.can_trade):
            raise ExchangeAuthFailure(refusal, refusal.message.format(permission="view"))

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
        """A product id, matched case-insensitively; 404 ``Product not found`` otherwise."""
        wanted = (value or "").upper()
        for pid in self.exchange.product_ids():
            if pid.upper() == wanted:
                return pid
        raise SimNotFound("Product not found")

    def _page(
        self, call: _Call, rows: list[tuple[int, Any]], *, hi: int = 1000
    ) -> ExchangeResponse:
        """Cursor paging over ``(cursor, row)`` pairs sorted newest (largest cursor) first."""
        limit = query_int(call.query, "limit", self.config.default_limit, lo=1, hi=hi)
        before = query_first(call.query, "before")
        after = query_first(call.query, "after")
        if before:
            cut = query_int(call.query, "before", 0)
            newer = [r for r in rows if r[0] > cut]
            page = newer[-limit:]  # the ones just above the cursor, still newest first
        else:
            if after:
                cut = query_int(call.query, "after", 0)
                rows = [r for r in rows if r[0] < cut]
            page = rows[:limit]
        headers: dict[str, str] = {}
        if page:
            headers = {"CB-BEFORE": str(page[0][0]), "CB-AFTER": str(page[-1][0])}
        return ExchangeResponse(200, [row for _, row in page], headers)

    def _window(self, call: _Call, start_name: str, end_name: str) -> tuple[float, float]:
        start = query_first(call.query, start_name)
        end = query_first(call.query, end_name)
        return (
            shapes.time_param(start, start_name) if start else float("-inf"),
            shapes.time_param(end, end_name) if end else float("inf"),
        )

    # -- public market data ----------------------------------------------------------------

    @_route("GET", "/time", "")
    def _time(self, call: _Call) -> Any:
        return {"iso": shapes.iso(call.server_now), "epoch": round(call.server_now, 3)}

    @_route("GET", "/currencies", "")
    def _currencies(self, call: _Call) -> Any:
        config = self.exchange.config
        return shapes.currencies(config.products, config.initial_balances)

    def _spec(self, pid: str) -> ProductSpec:
        return next(s for s in self.exchange.config.products if s.product_id == pid)

    def _product(self, pid: str) -> dict[str, Any]:
        return shapes.product(self._spec(pid), self.exchange.product_status(pid))

    @_route("GET", "/products", "")
    def _products(self, call: _Call) -> Any:
        return [self._product(pid) for pid in self.exchange.product_ids()]

    @_route("GET", "/products/{product_id}", "")
    def _get_product(self, call: _Call) -> Any:
        return self._product(self._product_id(call.params["product_id"]))

    def _sequence(self, pid: str) -> int:
        last = self.exchange.recent_trades(pid, 1)
        return int(last[0].trade_id) if last else 0

    @_route("GET", "/products/{product_id}/book", "")
    def _book(self, call: _Call) -> Any:
        pid = self._product_id(call.params["product_id"])
        level = query_int(call.query, "level", 1, lo=1, hi=3)
        if level == 3:
            raise SimBadRequest("level 3 is not supported by the simulator (use level 1 or 2)")
        bids, asks = self.exchange.book(pid, 1 if level == 1 else None)
        return {
            "bids": [[dec_str(p), dec_str(s), 1] for p, s in bids],
            "asks": [[dec_str(p), dec_str(s), 1] for p, s in asks],
            "sequence": self._sequence(pid),
            "auction_mode": False,
            "auction": None,
            "time": shapes.iso(call.now),
        }

    @_route("GET", "/products/{product_id}/ticker", "")
    def _ticker(self, call: _Call) -> Any:
        pid = self._product_id(call.params["product_id"])
        last = self.exchange.recent_trades(pid, 1)
        bid, ask = self.exchange.best_bid_ask(pid)
        stats = self.exchange.ticker_wire(pid)
        return {
            "trade_id": int(last[0].trade_id) if last else 0,
            "price": dec_str(last[0].price) if last else stats["price"],
            "size": dec_str(last[0].size) if last else "0",
            "time": shapes.iso(last[0].time if last else call.now),
            "bid": dec_str(bid[0]) if bid else "",
            "ask": dec_str(ask[0]) if ask else "",
            "volume": stats["volume_24_h"],
            "rfq_volume": "0",
            "conversions_volume": "0",
        }

    @_route("GET", "/products/{product_id}/candles", "")
    def _candles(self, call: _Call) -> Any:
        pid = self._product_id(call.params["product_id"])
        gran = query_int(call.query, "granularity", 60)
        if gran not in GRANULARITIES:
            raise SimBadRequest(
                f"Unsupported granularity {gran}: use one of {', '.join(map(str, GRANULARITIES))}"
            )
        start_raw, end_raw = query_first(call.query, "start"), query_first(call.query, "end")
        if start_raw and end_raw:  # Exchange ignores a lone start or end
            start = int(shapes.time_param(start_raw, "start"))
            end = int(shapes.time_param(end_raw, "end"))
            if end < start:
                raise SimBadRequest("start must be before end")
        else:
            end = int(call.now)
            start = end - gran * (MAX_CANDLES - 1)
        if (end - start) // gran + 1 > MAX_CANDLES:
            raise SimBadRequest(
                "granularity too small for the requested time range. Count of aggregations "
                f"requested exceeds {MAX_CANDLES}"
            )
        rows = self.exchange.candles(pid, start - start % gran, end + 1, gran)
        return [
            [int(c["start"]), float(c["low"]), float(c["high"]), float(c["open"]),
             float(c["close"]), float(c["volume"])]
            for c in rows
        ]  # fmt: skip

    @_route("GET", "/products/{product_id}/trades", "")
    def _trades(self, call: _Call) -> Any:
        pid = self._product_id(call.params["product_id"])
        rows = [
            (
                int(t.trade_id),
                {
                    "time": shapes.iso(t.time),
                    "trade_id": int(t.trade_id),
                    "price": dec_str(t.price),
                    "size": dec_str(t.size),
                    "side": t.side.lower(),  # the maker's side, as Exchange reports it
                },
            )
            for t in self.exchange.recent_trades(pid, 1000)
        ]
        return self._page(call, rows)

    # -- private: accounts, profiles, fees -------------------------------------------------

    @_route("GET", "/accounts", "view")
    def _accounts(self, call: _Call) -> Any:
        return [shapes.account(call.profile, a) for a in self.exchange.accounts(call.profile)]

    @_route("GET", "/accounts/{account_id}", "view")
    def _get_account(self, call: _Call) -> Any:
        try:
            wire = self.exchange.account(call.profile, call.params["account_id"])
        except SimNotFound:
            raise SimNotFound("NotFound") from None
        return shapes.account(call.profile, wire)

    @_route("GET", "/profiles", "view")
    def _profiles(self, call: _Call) -> Any:
        return [
            {
                "id": call.profile,
                "user_id": call.profile,
                "name": "default",
                "active": True,
                "is_default": True,
                "created_at": shapes.iso(call.now),
            }
        ]

    @_route("GET", "/fees", "view")
    def _fees(self, call: _Call) -> Any:
        tier = self.exchange.config.fee_tier
        fills = self.exchange.list_fills(call.profile, {})
        volume = sum((Decimal(f["price"]) * shapes.base_of(f) for f in fills), _ZERO)
        return {
            "maker_fee_rate": dec_str(tier.maker_fee_rate),
            "taker_fee_rate": dec_str(tier.taker_fee_rate),
            "usd_volume": dec_str(volume.quantize(Decimal("0.01"))),
        }

    # -- private: orders -------------------------------------------------------------------

    @_route("POST", "/orders", "trade")
    def _create_order(self, call: _Call) -> Any:
        body = self._json(call)
        profile = call.profile
        oid = body.get("client_oid")
        if oid is not None and not isinstance(oid, str):
            raise SimBadRequest("Invalid client_oid")
        oid = oid or ""
        if oid and self.config.require_uuid_client_oid and not shapes.UUID_RE.fullmatch(oid):
            raise SimBadRequest("Invalid client_oid")
        earlier = self._by_client.get((profile, oid), []) if oid else []
        if earlier and not self.exchange.holds(earlier[-1]):
            earlier = []  # finished long ago and forgotten by the engine (as its id there)
        if earlier:
            policy = self.config.duplicate_client_oid
            last = self.exchange.get_order(profile, earlier[-1])
            if policy == "return_existing":
                return self._order(profile, last)
            stop_status = self.config.untriggered_stop_status
            if (
                policy == "reject_open"
                and shapes.exchange_status(last, stop_status)[0] in _OPEN_STATUSES
            ):
                refusal = self.config.duplicate_refusal
                raise _Refused(refusal.status, refusal.message)
        engine_coid = oid if not earlier else f"{oid}~exchange{len(earlier)}"
        raw_pid = body.get("product_id")
        pid = self._product_id(raw_pid if isinstance(raw_pid, str) else None)
        at_body = shapes.engine_body(body, pid, engine_coid, call.now)
        mode = self.exchange.trading_mode(pid)["mode"]
        market, post_only = body.get("type") == "market", body.get("post_only") is True
        if not mode_admits(mode, market=market, post_only=post_only):
            raise _Refused(400, MODE_REFUSALS[mode].exchange_message)
        answer = self.exchange.create_order(profile, at_body, call.now)
        if not answer.get("success"):
            raise _Refused(*shapes.refusal(answer.get("error_response") or {}, self._spec(pid)))
        order_id = str(answer["order_id"])
        wire = self.exchange.get_order(profile, order_id)
        if wire["status"] == "FAILED" and wire.get("reject_reason") == "TOO_MANY_OPEN_ORDERS":
            raise _Refused(400, "Too many open orders")
        if oid:
            self._client_oids[order_id] = oid
            self._by_client.setdefault((profile, oid), []).append(order_id)
            if len(self._client_oids) > self._prune_at:
                self._prune_at = prune_client_ids(
                    self._client_oids, self._by_client, self.exchange.holds
                )
        order = self._order(profile, wire)
        if self.config.create_answer == "pending":
            order = shapes.pending_view(order)
        return order

    def _order(self, profile: str, wire: Mapping[str, Any]) -> dict[str, Any]:
        order_id = str(wire["order_id"])
        oid = self._client_oids.get(order_id)
        if oid is None and shapes.UUID_RE.fullmatch(str(wire.get("client_order_id") or "")):
            oid = str(wire["client_order_id"])  # placed through another dialect
        return shapes.order(profile, wire, oid, stop_status=self.config.untriggered_stop_status)

    def _find(self, profile: str, ref: str) -> dict[str, Any]:
        """The engine order for ``{id}`` or ``client:{oid}``; 404 ``NotFound`` if none."""
        if ref.startswith("client:"):
            ids = self._by_client.get((profile, ref[len("client:") :]), [])
            if not ids:
                raise SimNotFound("NotFound")
            ref = ids[-1]
        try:
            wire = self.exchange.get_order(profile, ref)
        except SimNotFound:
            raise SimNotFound("NotFound") from None
        if (
            self.config.purge_canceled_unfilled
            and wire["status"] in ("CANCELLED", "EXPIRED")
            and not Decimal(wire["filled_size"])
        ):
            raise SimNotFound("NotFound")
        return wire

    @_route("GET", "/orders/{order_id}", "view")
    def _get_order(self, call: _Call) -> Any:
        return self._order(call.profile, self._find(call.profile, call.params["order_id"]))

    @_route("GET", "/orders", "view")
    def _list_orders(self, call: _Call) -> Any:
        statuses = set(call.query.get("status", [])) or set(_OPEN_STATUSES)
        unknown = statuses - _LIST_STATUSES
        if unknown:
            raise SimBadRequest(f"Invalid status {sorted(unknown)[0]!r}")
        product = query_first(call.query, "product_id")
        pid = self._product_id(product) if product else None
        start, end = self._window(call, "start_date", "end_date")
        every = self.exchange.list_orders(call.profile, {})  # newest first
        rows: list[tuple[int, Any]] = []
        for i, wire in enumerate(every):
            if pid is not None and wire["product_id"] != pid:
                continue
            created = parse_time(wire["created_time"], "created_time")
            if not start <= created <= end:
                continue
            order = self._order(call.profile, wire)
            if "all" not in statuses and order["status"] not in statuses:
                continue
            if self.config.purge_canceled_unfilled and order.get("done_reason") == "canceled" \
                    and not Decimal(order["filled_size"]):  # fmt: skip
                continue
            rows.append((len(every) - i, order))
        return self._page(call, rows)

    @_route("DELETE", "/orders/{order_id}", "trade")
    def _cancel(self, call: _Call) -> Any:
        # ccxt sends {"product_id": "BTC/USD"} in the body: accepted and ignored
        wire = self._find(call.profile, call.params["order_id"])
        order_id = str(wire["order_id"])
        result = self.exchange.cancel_orders(call.profile, [order_id], call.now)["results"][0]
        reason = result["failure_reason"]
        if result["success"] or reason == "DUPLICATE_CANCEL_REQUEST":
            return order_id  # a JSON string, as the current docs describe
        if reason == "UNKNOWN_CANCEL_ORDER":
            raise SimNotFound("NotFound")
        raise SimBadRequest("Order already done")

    @_route("DELETE", "/orders", "trade")
    def _cancel_all(self, call: _Call) -> Any:
        product = query_first(call.query, "product_id")
        pid = self._product_id(product) if product else None
        ids = [
            str(o["order_id"])
            for o in self.exchange.list_orders(call.profile, {})
            if str(o["status"]) in ("OPEN", "PENDING", "QUEUED")
            and (pid is None or o["product_id"] == pid)
        ]
        done: list[str] = []
        if ids:
            results = self.exchange.cancel_orders(call.profile, ids, call.now)["results"]
            done = [r["order_id"] for r in results if r["success"]]
        return done

    # -- private: fills --------------------------------------------------------------------

    @_route("GET", "/fills", "view")
    def _fills(self, call: _Call) -> Any:
        order_ref = query_first(call.query, "order_id")
        product = query_first(call.query, "product_id")
        if not order_ref and not product:
            raise SimBadRequest("Either order_id or product_id is required")
        query: dict[str, list[str]] = {}
        if order_ref:
            query["order_ids"] = [str(self._find(call.profile, order_ref)["order_id"])]
        if product:
            query["product_ids"] = [self._product_id(product)]
        start, end = self._window(call, "start_date", "end_date")
        rows: list[tuple[int, Any]] = []
        for fill in self.exchange.list_fills(call.profile, query):
            when = parse_time(fill["trade_time"], "trade_time")
            if not start <= when <= end:
                continue
            rows.append((int(fill["trade_id"]), shapes.fill(call.profile, fill)))
        return self._page(call, rows)
