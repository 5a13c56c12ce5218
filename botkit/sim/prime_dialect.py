"""Simulator: the Coinbase Prime REST dialect as a pure router over the shared exchange.

:class:`PrimeDialect` answers Prime's REST requests (reference exchange-prime-api.md §2.B)
on the **same** :class:`~botkit.sim.exchange.SimExchange` the Advanced Trade dialect
(:mod:`botkit.sim.api`) uses: same matching engine, books, balances and fees. It only
translates: a Prime request becomes a call of the exchange's public methods (a Prime
create-order body becomes an Advanced Trade ``order_configuration``), and the exchange's
records come back in Prime's shapes. A Prime portfolio is one exchange user (user id =
portfolio id). The HTTP edge is :mod:`botkit.sim.prime_rest`; this module has no clock and
no I/O: the caller passes ``now`` (market time) and ``server_now`` (the clock the
timestamp check uses, which a test may shift).

Routes (all under ``/v1``): ``GET /portfolios``, ``GET /portfolios/{pid}``,
``GET …/balances``, ``GET …/products``, ``GET …/commission``, ``POST …/order``,
``GET …/orders``, ``GET …/open_orders``, ``GET …/orders/{oid}``,
``POST …/orders/{oid}/cancel`` (no body), ``GET …/orders/{oid}/fills``, ``GET …/fills``.

Prime rules kept (and where the reference is unsure, the simulator's choice):

* Create answers ``{"order_id"}`` only. ``client_order_id`` is required (≤ 128 chars) and
  refused (400 ``INVALID_ARGUMENT``) while an *active* order of the portfolio uses it;
  once that order is done the id is accepted again as a **new** order, as Prime documents.
  Prime has no idempotent create and no lookup by client id: clients list and match.
* ``MARKET`` and ``LIMIT`` orders, sized by ``base_quantity`` or ``quote_value``.
  ``time_in_force`` ``GOOD_UNTIL_CANCELLED`` / ``GOOD_UNTIL_DATE_TIME`` (``expiry_time``) /
  ``IMMEDIATE_OR_CANCEL`` / ``FILL_OR_KILL``; a LIMIT without one is GTC
  (``limit_default_tif``, UNCERTAIN). ``STOP_LIMIT`` (``limit_price`` + ``stop_price``,
  GTC or GTD with ``expiry_time``) is the engine's stop-limit: it triggers on the last
  trade, as Prime's triggers on Coinbase Exchange's. Prime's body has no direction, so
  which way a stop triggers is a setting (``stop_direction``, UNCERTAIN): ``by_side``
  (default: a SELL stop triggers at or below, a BUY stop at or above) or
  ``by_last_trade`` (below the last trade: at or below; above: at or above). An
  untriggered stop shows ``untriggered_stop_status`` (``OPEN``; UNCERTAIN). Other types
  (TWAP, VWAP, …) are refused.
* A create the engine refuses (funds, size, price increment…) is a 400
  ``INVALID_ARGUMENT`` whose message starts with the engine's reason (Prime's texts are
  unknown). Cancel answers ``{"id"}``; an order already done is a 400, an unknown one 404.
* Statuses are Prime's (``PENDING``, ``OPEN``, ``FILLED``, ``CANCELLED``, ``EXPIRED``,
  ``FAILED``): the engine's ``CANCEL_QUEUED`` shows as ``OPEN`` (a cancel is not
  guaranteed until done). Orders are never shown ``PENDING``: the engine books at once.
* Lists page with ``cursor``/``limit``/``sort_direction`` (default ``DESC``, newest first)
  and answer ``pagination{next_cursor, sort_direction, has_next}``; repeated query keys
  are lists. Balance ``symbol`` casing is not documented: lower case by default
  (``balance_symbols``).
* Errors are ``{code, message, subcode, trace_id}`` (trace ids are a deterministic counter).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import unquote

from botkit.sim.client_ids import PRUNE_FROM, prune_client_ids
from botkit.sim.exchange import SimBadRequest, SimExchange, SimNotFound
from botkit.sim.orders import parse_time
from botkit.sim.prime_auth import (
    PrimeAuthFailure,
    PrimeKey,
    PrimeRefusals,
    Refusal,
    error_body,
    verify_request,
)
from botkit.sim.rest_util import ApiResponse, match_path, query_first, query_int
from botkit.sim.wire import dec_str

__all__ = ["BASE", "PrimeDialect", "PrimeDialectConfig", "PrimeKey", "PrimeRefusals"]

BASE = "/v1"
MAX_CLIENT_ORDER_ID = 128
_ZERO = Decimal(0)
_ENGINE_TO_PRIME = {"CANCEL_QUEUED": "OPEN", "QUEUED": "PENDING"}
_ACTIVE = frozenset({"PENDING", "OPEN"})
_TIFS = {
    "GOOD_UNTIL_CANCELLED": "limit_limit_gtc",
    "GOOD_UNTIL_DATE_TIME": "limit_limit_gtd",
    "IMMEDIATE_OR_CANCEL": "sor_limit_ioc",
    "FILL_OR_KILL": "limit_limit_fok",
}
_STOP_TIFS = {
    "GOOD_UNTIL_CANCELLED": "stop_limit_stop_limit_gtc",
    "GOOD_UNTIL_DATE_TIME": "stop_limit_stop_limit_gtd",
}
_CONFIG_TIF = (
    {v: k for k, v in _TIFS.items()}
    | {v: k for k, v in _STOP_TIFS.items()}
    | {"market_market_ioc": "IMMEDIATE_OR_CANCEL"}
)


@dataclass(frozen=True, slots=True)
class PrimeDialectConfig:
    """What the simulated Prime does where the reference is unsure (each one a knob).

    Attributes:
        window: seconds a request timestamp may be off the server clock (Prime: 30).
        refusals: status, code and message of every refusal.
        limit_default_tif: ``time_in_force`` of a LIMIT order that names none.
        balance_symbols: case of balance ``symbol`` values (undocumented).
        entity_name, organization_id: what ``GET /portfolios`` reports.
        venue: the ``venue`` of every fill (Prime routes to many; the simulator is one).
        stop_direction: how a ``STOP_LIMIT`` (no direction field) triggers: ``by_side``
            (SELL at or below ``stop_price``, BUY at or above) or ``by_last_trade`` (the
            side of the last trade the stop is on at placement). UNCERTAIN.
        untriggered_stop_status: the ``status`` of a stop not triggered yet (UNCERTAIN).
    """

    window: float = 30.0
    refusals: PrimeRefusals = field(default_factory=PrimeRefusals)
    limit_default_tif: str = "GOOD_UNTIL_CANCELLED"
    balance_symbols: Literal["lower", "upper"] = "lower"
    entity_name: str = "botkit sim entity"
    organization_id: str = "botkit-sim-org"
    venue: str = "COINBASE_EXCHANGE"
    stop_direction: Literal["by_side", "by_last_trade"] = "by_side"
    untriggered_stop_status: Literal["OPEN", "PENDING"] = "OPEN"


class _Refused(Exception):
    def __init__(self, refusal: Refusal, message: str | None = None) -> None:
        super().__init__(message or refusal.message)
        self.refusal = refusal
        self.message = message or refusal.message


@dataclass(frozen=True, slots=True)
class _Call:
    params: dict[str, str]
    query: Mapping[str, Sequence[str]]
    body: bytes
    key: PrimeKey
    now: float


_Route = Callable[["PrimeDialect", _Call], Any]
_ROUTES: list[tuple[str, tuple[str, ...], bool, _Route]] = []


def _route(method: str, template: str) -> Callable[[_Route], _Route]:
    def register(fn: _Route) -> _Route:
        _ROUTES.append((method, tuple((BASE + template).split("/")), method != "GET", fn))
        return fn

    return register


def _s(value: Any) -> str:
    return "" if value is None else str(value)


class PrimeDialect:
    """Prime's REST routes over one exchange (see the module docstring).

    Args:
        exchange: the shared engine (also serving Advanced Trade, if wired so).
        config: the dialect's knobs.
    """

    def __init__(self, exchange: SimExchange, config: PrimeDialectConfig | None = None) -> None:
        self.exchange = exchange
        self.config = config or PrimeDialectConfig()
        self.keys: dict[str, PrimeKey] = {}
        self.portfolios: dict[str, str] = {}  # portfolio id -> name
        self.entities: dict[str, str] = {}  # portfolio id -> entity id
        self.last_failure = ""
        self._traces = 0
        # Prime's client ids, kept here: a reused id (after the first order is done) must
        # reach the engine under another id, and the engine's AT-side index stays untouched
        self._client_ids: dict[str, str] = {}  # engine order id -> Prime client_order_id
        self._by_client: dict[tuple[str, str], list[str]] = {}  # (pid, coid) -> order ids
        self._prune_at = PRUNE_FROM  # (both bounded like the engine's orders: client_ids.py)

    # -- keys ------------------------------------------------------------------------------

    def register(self, key: PrimeKey, *, portfolio_name: str = "") -> PrimeKey:
        """Know ``key``; open (and fund) each of its portfolios on the exchange."""
        self.keys[key.access_key] = key
        for pid in key.portfolio_ids:
            self.portfolios.setdefault(pid, portfolio_name or f"Portfolio {pid[:8]}")
            self.entities.setdefault(pid, key.entity_id)
            self.exchange.add_user(pid)
        return key

    @property
    def refusals(self) -> PrimeRefusals:
        """The configured refusals (the WebSocket feed refuses with the same texts)."""
        return self.config.refusals

    @property
    def untriggered_stop_status(self) -> str:
        """What a stop not triggered yet reports (REST and the ``orders`` channel alike)."""
        return self.config.untriggered_stop_status

    @property
    def window(self) -> float:
        """Seconds a signed timestamp may be off the server clock."""
        return self.config.window

    def prime_client_order_id(self, order_id: str, engine_client_order_id: str) -> str:
        """The ``client_order_id`` the client sent for ``order_id`` (a reused id reaches the
        engine under another one); ``engine_client_order_id`` for orders placed elsewhere."""
        return self._client_ids.get(order_id, engine_client_order_id)

    # -- the router ------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, Sequence[str]],
        body: bytes,
        headers: Mapping[str, str],
        now: float,
        *,
        server_now: float | None = None,
    ) -> ApiResponse:
        """Answer one request (authentication included).

        Args:
            method: HTTP method.
            path: the raw path, ``/v1`` included, no query (what the signature covers).
            query: every query key with all its values.
            body: the raw body bytes.
            headers: the request headers (any case).
            now: market time: the exchange advances to it first.
            server_now: the clock the timestamp window is checked against (default ``now``).
        """
        verb = method.upper()
        segments = [unquote(s) for s in path.split("/")]
        found: tuple[_Route, dict[str, str], bool] | None = None
        allowed: set[str] = set()
        for route_method, template, trading, fn in _ROUTES:
            params = match_path(template, segments)
            if params is None:
                continue
            if route_method == verb:
                found = (fn, params, trading)
                break
            allowed.add(route_method)
        if found is None:
            if allowed:
                return self._error(405, "METHOD_NOT_ALLOWED", f"{verb} is not allowed on {path}")
            return self._error(404, "NOT_FOUND", f"no such endpoint: {path}")
        fn, params, trading = found
        try:
            key = verify_request(
                self.keys,
                headers,
                verb,
                path,
                body,
                now if server_now is None else server_now,
                refusals=self.config.refusals,
                window=self.config.window,
            )
            self._authorize(key, params.get("portfolio_id"), trading)
        except PrimeAuthFailure as exc:
            self.last_failure = exc.message
            return self._refuse(exc.refusal, exc.message)
        except _Refused as exc:
            self.last_failure = exc.message
            return self._refuse(exc.refusal, exc.message)
        try:
            self.exchange.advance(now)
            return ApiResponse(200, fn(self, _Call(params, query, body, key, now)))
        except _Refused as exc:
            return self._refuse(exc.refusal, exc.message)
        except SimBadRequest as exc:
            return self._error(400, "INVALID_ARGUMENT", exc.details)
        except SimNotFound as exc:
            return self._error(404, "NOT_FOUND", exc.details)

    def _authorize(self, key: PrimeKey, portfolio_id: str | None, trading: bool) -> None:
        refusals = self.config.refusals
        if not key.can_view:
            raise _Refused(
                refusals.missing_permission,
                refusals.missing_permission.message.format(permission="view"),
            )
        if trading and not key.can_trade:
            raise _Refused(
                refusals.missing_permission,
                refusals.missing_permission.message.format(permission="trade"),
            )
        if portfolio_id is not None and portfolio_id not in key.portfolio_ids:
            raise _Refused(
                refusals.foreign_portfolio,
                refusals.foreign_portfolio.message.format(portfolio_id=portfolio_id),
            )

    def _trace_id(self) -> str:
        self._traces += 1
        return f"00000000-0000-4000-8000-{self._traces:012x}"

    def _error(self, status: int, code: str, message: str) -> ApiResponse:
        return ApiResponse(status, error_body(code, message, self._trace_id()))

    def _refuse(self, refusal: Refusal, message: str) -> ApiResponse:
        return self._error(refusal.status, refusal.code, message)

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

    @staticmethod
    def _page(call: _Call, rows: list[Any]) -> tuple[list[Any], dict[str, Any]]:
        """Offset paging behind an opaque cursor; ``rows`` come newest first."""
        direction = (query_first(call.query, "sort_direction") or "DESC").upper()
        if direction not in ("ASC", "DESC"):
            raise SimBadRequest("sort_direction must be ASC or DESC")
        if direction == "ASC":
            rows = rows[::-1]
        limit = query_int(call.query, "limit", 100, lo=1, hi=3000)
        start = query_int(call.query, "cursor", 0)
        more = start + limit < len(rows)
        page = {"next_cursor": str(start + limit) if more else "", "sort_direction": direction,
                "has_next": more}  # fmt: skip
        return rows[start : start + limit], page

    def _portfolio(self, pid: str) -> dict[str, Any]:
        return {
            "id": pid,
            "name": self.portfolios.get(pid, pid),
            "entity_id": self.entities.get(pid, ""),
            "organization_id": self.config.organization_id,
            "entity_name": self.config.entity_name,
        }

    # -- portfolios, balances, products ----------------------------------------------------

    @_route("GET", "/portfolios")
    def _portfolios(self, call: _Call) -> Any:
        return {"portfolios": [self._portfolio(pid) for pid in call.key.portfolio_ids]}

    @_route("GET", "/portfolios/{portfolio_id}")
    def _get_portfolio(self, call: _Call) -> Any:
        return {"portfolio": self._portfolio(call.params["portfolio_id"])}

    @_route("GET", "/portfolios/{portfolio_id}/balances")
    def _balances(self, call: _Call) -> Any:
        pid = call.params["portfolio_id"]
        kind = query_first(call.query, "balance_type") or "TRADING_BALANCES"
        wanted = {s.upper() for s in call.query.get("symbols", [])}
        balances: list[dict[str, Any]] = []
        fiat_total = fiat_holds = _ZERO
        quotes = {spec.quote_currency for spec in self.exchange.config.products}
        for account in self.exchange.accounts(pid):
            currency = str(account["currency"])
            if wanted and currency.upper() not in wanted:
                continue
            available = Decimal(account["available_balance"]["value"])
            hold = Decimal(account["hold"]["value"])
            if currency in quotes:
                fiat_total += available + hold
                fiat_holds += hold
            symbol = currency.lower() if self.config.balance_symbols == "lower" else currency
            balances.append(_balance(symbol, available, hold))
        aggregate = {"total": dec_str(fiat_total), "holds": dec_str(fiat_holds)}
        zero = {"total": "0", "holds": "0"}
        return {
            "balances": balances,
            "type": kind,
            "trading_balances": aggregate,
            "vault_balances": zero,
            "prime_custody_balances": zero,
        }

    @_route("GET", "/portfolios/{portfolio_id}/products")
    def _products(self, call: _Call) -> Any:
        kind = query_first(call.query, "product_type")
        rows = [] if kind not in (None, "", "SPOT") else self.exchange.product_ids()
        page, pagination = self._page(call, list(rows))
        return {"products": [self._product(p) for p in page], "pagination": pagination}

    def _product(self, product_id: str) -> dict[str, Any]:
        wire = self.exchange.product_wire(product_id)
        return {
            "id": product_id,
            "base_increment": wire["base_increment"],
            "quote_increment": wire["quote_increment"],
            "base_min_size": wire["base_min_size"],
            "quote_min_size": wire["quote_min_size"],
            "base_max_size": wire["base_max_size"],
            "quote_max_size": wire["quote_max_size"],
            "permissions": ["PRODUCT_PERMISSION_READ", "PRODUCT_PERMISSION_TRADE"],
            "price_increment": wire["price_increment"],
            "product_type": "SPOT",
        }

    @_route("GET", "/portfolios/{portfolio_id}/commission")
    def _commission(self, call: _Call) -> Any:
        fills = self.exchange.list_fills(call.params["portfolio_id"], {})
        volume = sum((Decimal(f["price"]) * _base_of(f) for f in fills), _ZERO)
        rate = self.exchange.config.fee_tier.taker_fee_rate
        return {
            "commission": {
                "type": "all_in",
                "rate": dec_str(rate),
                "trading_volume": dec_str(volume),
            }
        }

    # -- orders ----------------------------------------------------------------------------

    @_route("POST", "/portfolios/{portfolio_id}/order")
    def _create_order(self, call: _Call) -> Any:
        pid = call.params["portfolio_id"]
        body = self._json(call)
        coid = body.get("client_order_id")
        if not isinstance(coid, str) or not coid:
            raise SimBadRequest("client_order_id is required")
        if len(coid) > MAX_CLIENT_ORDER_ID:
            raise SimBadRequest(f"client_order_id must be at most {MAX_CLIENT_ORDER_ID} chars")
        earlier = self._by_client.get((pid, coid), [])
        if earlier and not self.exchange.holds(earlier[-1]):
            earlier = []  # finished long ago and forgotten by the engine (as its id there)
        if earlier and self._prime_status(pid, earlier[-1]) in _ACTIVE:
            raise _Refused(self.config.refusals.duplicate_client_order_id)
        engine_coid = coid if not earlier else f"{coid}~prime{len(earlier)}"
        at_body = self._engine_body(body, engine_coid)
        answer = self.exchange.create_order(pid, at_body, call.now)
        if not answer.get("success"):
            err = answer.get("error_response") or {}
            reason = str(err.get("error") or "")
            if not reason or reason.startswith("UNKNOWN"):
                reason = str(err.get("preview_failure_reason") or "REJECTED")
            raise SimBadRequest(f"{reason}: {err.get('message') or 'order refused'}")
        order_id = str(answer["order_id"])
        self._client_ids[order_id] = coid
        self._by_client.setdefault((pid, coid), []).append(order_id)
        if len(self._client_ids) > self._prune_at:
            self._prune_at = prune_client_ids(
                self._client_ids, self._by_client, self.exchange.holds
            )
        return {"order_id": order_id}

    def _engine_body(self, body: Mapping[str, Any], engine_coid: str) -> dict[str, Any]:
        """A Prime create body → the engine's (Advanced Trade) create body."""
        kind = body.get("type")
        side = body.get("side")
        if side not in ("BUY", "SELL"):
            raise SimBadRequest(f"side must be BUY or SELL, not {side!r}")
        base, quote = body.get("base_quantity"), body.get("quote_value")
        if (base in (None, "")) == (quote in (None, "")):
            raise SimBadRequest("exactly one of base_quantity and quote_value is required")
        size = {"base_size": base} if base not in (None, "") else {"quote_size": quote}
        if kind == "MARKET":
            if body.get("limit_price") not in (None, ""):
                raise SimBadRequest("limit_price is not allowed on a MARKET order")
            config_key, config = "market_market_ioc", dict(size)
        elif kind == "LIMIT":
            tif = body.get("time_in_force") or self.config.limit_default_tif
            if tif not in _TIFS:
                raise SimBadRequest(f"time_in_force must be one of {sorted(_TIFS)}")
            if body.get("limit_price") in (None, ""):
                raise SimBadRequest("limit_price is required for a LIMIT order")
            config_key = _TIFS[tif]
            config = {**size, "limit_price": body["limit_price"]}
            post_only = body.get("post_only")
            if post_only:
                if tif not in ("GOOD_UNTIL_CANCELLED", "GOOD_UNTIL_DATE_TIME"):
                    raise SimBadRequest("post_only is allowed only with GTC or GTD")
                config["post_only"] = True
            if tif == "GOOD_UNTIL_DATE_TIME":
                if not body.get("expiry_time"):
                    raise SimBadRequest("expiry_time is required for GOOD_UNTIL_DATE_TIME")
                config["end_time"] = body["expiry_time"]
        elif kind == "STOP_LIMIT":
            tif = body.get("time_in_force") or self.config.limit_default_tif
            if tif not in _STOP_TIFS:
                raise SimBadRequest(
                    f"time_in_force of a STOP_LIMIT must be one of {sorted(_STOP_TIFS)}"
                )
            for name in ("limit_price", "stop_price"):
                if body.get(name) in (None, ""):
                    raise SimBadRequest(f"{name} is required for a STOP_LIMIT order")
            if body.get("post_only"):
                raise SimBadRequest("post_only is allowed only on LIMIT orders")
            config_key = _STOP_TIFS[tif]
            config = {
                **size,
                "limit_price": body["limit_price"],
                "stop_price": body["stop_price"],
                "stop_direction": self._stop_direction(body),
            }
            if tif == "GOOD_UNTIL_DATE_TIME":
                if not body.get("expiry_time"):
                    raise SimBadRequest("expiry_time is required for GOOD_UNTIL_DATE_TIME")
                config["end_time"] = body["expiry_time"]
        else:
            raise SimBadRequest(
                f"order type {kind!r} is not supported by the simulator "
                "(MARKET, LIMIT or STOP_LIMIT)"
            )
        return {
            "client_order_id": engine_coid,
            "product_id": body.get("product_id"),
            "side": side,
            "order_configuration": {config_key: config},
        }

    def _stop_direction(self, body: Mapping[str, Any]) -> str:
        """The engine's ``stop_direction`` for a Prime STOP_LIMIT (see ``stop_direction``)."""
        if self.config.stop_direction == "by_side":
            down = body.get("side") == "SELL"
        else:
            product = str(body.get("product_id") or "")
            try:
                stop = Decimal(str(body["stop_price"]))
                down = stop < self.exchange.last_trade_price(product)
            except (ArithmeticError, ValueError):
                raise SimBadRequest("stop_price must be a decimal") from None
        return "STOP_DIRECTION_STOP_DOWN" if down else "STOP_DIRECTION_STOP_UP"

    def _prime_status(self, pid: str, order_id: str) -> str:
        status = str(self.exchange.get_order(pid, order_id)["status"])
        return _ENGINE_TO_PRIME.get(status, status)

    def _order(self, pid: str, wire: Mapping[str, Any]) -> dict[str, Any]:
        """The engine's order record → Prime's Order object (reference §2.B.2)."""
        ((config_key, config),) = dict(wire["order_configuration"]).items()
        status = str(wire["status"])
        status = _ENGINE_TO_PRIME.get(status, status)
        if wire.get("trigger_status") == "STOP_PENDING" and status in _ACTIVE:
            status = self.config.untriggered_stop_status
        stop = config_key.startswith("stop_limit")
        filled = Decimal(wire["filled_size"])
        value = Decimal(wire["filled_value"])
        fees = Decimal(wire["total_fees"])
        net = _ZERO
        if filled:
            net = (value + fees if wire["side"] == "BUY" else value - fees) / filled
        context = str(wire.get("cancel_message") or "")
        if status == "FAILED":
            context = context or str(wire.get("reject_reason") or "")
        order_id = str(wire["order_id"])
        return {
            "id": order_id,
            "user_id": "botkit-sim-user",
            "portfolio_id": pid,
            "product_id": wire["product_id"],
            "side": wire["side"],
            "client_order_id": self._client_ids.get(order_id, str(wire["client_order_id"])),
            "type": "MARKET"
            if config_key == "market_market_ioc"
            else ("STOP_LIMIT" if stop else "LIMIT"),
            "base_quantity": _s(config.get("base_size")),
            "quote_value": _s(config.get("quote_size")),
            "limit_price": _s(config.get("limit_price")),
            "start_time": "",
            "expiry_time": _s(config.get("end_time")),
            "status": status,
            "time_in_force": _CONFIG_TIF.get(config_key, str(wire.get("time_in_force", ""))),
            "created_at": wire["created_time"],
            "filled_quantity": dec_str(filled),
            "filled_value": dec_str(value),
            "average_filled_price": str(wire["average_filled_price"]),
            "commission": dec_str(fees),
            "exchange_fee": "0",
            "historical_pov": "",
            "stop_price": _s(config.get("stop_price")) if stop else "",
            "net_average_filled_price": dec_str(net.normalize()) if filled else "0",
            "user_context": context,
            "client_product_id": wire["product_id"],
            "post_only": bool(config.get("post_only", False)),
            "order_edit_history": [],
            "is_raise_exact": False,
            "display_size": "",
            "display_quote_size": "",
            "display_base_size": "",
            "edit_history": [],
            "product_type": "SPOT",
            "is_buy_exact": False,
        }

    def _orders(self, call: _Call, statuses: set[str]) -> Any:
        pid = call.params["portfolio_id"]
        engine_query: dict[str, list[str]] = {}
        for name in ("product_ids", "start_date", "end_date"):
            if call.query.get(name):
                engine_query[name] = list(call.query[name])
        sides = set(call.query.get("order_side", []))
        types = set(call.query.get("order_type", []))
        rows = []
        for wire in self.exchange.list_orders(pid, engine_query):
            order = self._order(pid, wire)
            if (
                (statuses and order["status"] not in statuses)
                or (sides and order["side"] not in sides)
                or (types and order["type"] not in types)
            ):
                continue
            rows.append(order)
        page, pagination = self._page(call, rows)
        return {"orders": page, "pagination": pagination}

    @_route("GET", "/portfolios/{portfolio_id}/orders")
    def _list_orders(self, call: _Call) -> Any:
        return self._orders(call, set(call.query.get("order_statuses", [])))

    @_route("GET", "/portfolios/{portfolio_id}/open_orders")
    def _open_orders(self, call: _Call) -> Any:
        return self._orders(call, set(_ACTIVE))

    @_route("GET", "/portfolios/{portfolio_id}/orders/{order_id}")
    def _get_order(self, call: _Call) -> Any:
        pid = call.params["portfolio_id"]
        try:
            wire = self.exchange.get_order(pid, call.params["order_id"])
        except SimNotFound:
            raise SimNotFound("order not found") from None
        return {"order": self._order(pid, wire)}

    @_route("POST", "/portfolios/{portfolio_id}/orders/{order_id}/cancel")
    def _cancel(self, call: _Call) -> Any:
        pid, order_id = call.params["portfolio_id"], call.params["order_id"]
        result = self.exchange.cancel_orders(pid, [order_id], call.now)["results"][0]
        reason = result["failure_reason"]
        if result["success"] or reason == "DUPLICATE_CANCEL_REQUEST":
            return {"id": order_id}
        if reason == "UNKNOWN_CANCEL_ORDER":
            raise SimNotFound("order not found")
        raise SimBadRequest(f"{reason}: the order is already done and cannot be cancelled")

    # -- fills -----------------------------------------------------------------------------

    def _fills(self, call: _Call, query: dict[str, list[str]]) -> Any:
        pid = call.params["portfolio_id"]
        raw_start = query_first(call.query, "start_date")
        raw_end = query_first(call.query, "end_date")
        start = parse_time(raw_start, "start_date") if raw_start else None
        end = parse_time(raw_end, "end_date") if raw_end else None
        rows = []
        for fill in self.exchange.list_fills(pid, query):
            when = parse_time(fill["trade_time"], "trade_time")
            if (start is not None and when < start) or (end is not None and when >= end):
                continue
            rows.append(self._fill(fill))
        page, pagination = self._page(call, rows)
        return {"fills": page, "pagination": pagination}

    def _fill(self, fill: Mapping[str, Any]) -> dict[str, Any]:
        price, base = Decimal(fill["price"]), _base_of(fill)
        return {
            "id": fill["trade_id"],
            "order_id": fill["order_id"],
            "product_id": fill["product_id"],
            "client_product_id": fill["product_id"],
            "side": fill["side"],
            "filled_quantity": dec_str(base),
            "filled_value": dec_str((price * base).normalize()),
            "price": fill["price"],
            "time": fill["trade_time"],
            "commission": fill["commission"],
            "venue": self.config.venue,
            "venue_fees": "0",
            "ces_commission": "0",
            "product_type": "SPOT",
        }

    @_route("GET", "/portfolios/{portfolio_id}/orders/{order_id}/fills")
    def _order_fills(self, call: _Call) -> Any:
        self._get_order(call)  # 404 for an unknown order, as Prime would
        return self._fills(call, {"order_ids": [call.params["order_id"]]})

    @_route("GET", "/portfolios/{portfolio_id}/fills")
    def _portfolio_fills(self, call: _Call) -> Any:
        return self._fills(call, {})


def _base_of(fill: Mapping[str, Any]) -> Decimal:
    """A fill's base quantity (the engine's wire reports quote-sized orders' fills in quote)."""
    size = Decimal(fill["size"])
    return (size / Decimal(fill["price"])).normalize() if fill.get("size_in_quote") else size


def _balance(symbol: str, available: Decimal, hold: Decimal) -> dict[str, Any]:
    """Prime's Balance: ``amount`` is the total (holds included), ``holds`` the reserved part."""
    zero = "0"
    return {
        "symbol": symbol,
        "amount": dec_str(available + hold),
        "holds": dec_str(hold),
        "bonded_amount": zero,
        "reserved_amount": zero,
        "unbonding_amount": zero,
        "unvested_amount": zero,
        "pending_rewards_amount": zero,
        "past_rewards_amount": zero,
        "bondable_amount": zero,
        "withdrawable_amount": dec_str(available),
        "fiat_amount": zero,
        "unbondable_amount": zero,
    }
