"""Simulator, Coinbase Exchange dialect: Exchange wire shapes ↔ the engine's records (pure).

Why apart from the router (:mod:`botkit.sim.exchange_dialect`): the router decides *what*
to answer (auth, permissions, paging, the client_oid policy); this module says how an
engine record *looks* on Exchange's wire (reference exchange-prime-api.md §1.B) and how an
Exchange create body becomes the engine's (Advanced Trade) one. Every function is a pure
function of its arguments, so the REST answer and (later) the WebSocket ``user`` channel can
share them without disagreeing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botkit.sim.orders import parse_time
from botkit.sim.specs import ProductSpec, SimBadRequest
from botkit.sim.wire import dec_str

__all__ = [
    "UUID_RE",
    "account",
    "base_of",
    "currencies",
    "engine_body",
    "exchange_status",
    "fill",
    "iso",
    "order",
    "pending_view",
    "product",
    "refusal",
    "time_param",
]

_HEX = "[0-9a-fA-F]"
UUID_RE = re.compile(f"{_HEX}{{8}}-?{_HEX}{{4}}-?{_HEX}{{4}}-?{_HEX}{{4}}-?{_HEX}{{12}}")
_CANCEL_AFTER = {"min": 60, "hour": 3600, "day": 86400}
_TIF_CONFIG = {"GTC": "limit_limit_gtc", "GTT": "limit_limit_gtd", "IOC": "sor_limit_ioc",
               "FOK": "limit_limit_fok"}  # fmt: skip
_CONFIG_TIF = {v: k for k, v in _TIF_CONFIG.items()}


def iso(ts: float) -> str:
    """Exchange's timestamp form: ISO 8601 with microseconds and ``Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def time_param(value: str, name: str) -> float:
    """A ``start``/``end``/``*_date`` value: ISO 8601 (ccxt sends it) or Unix seconds."""
    try:
        return float(value)
    except ValueError:
        return parse_time(value, name)


def base_of(engine_fill: Mapping[str, Any]) -> Decimal:
    """A fill's base size (the engine's wire reports quote-sized orders' fills in quote)."""
    size = Decimal(engine_fill["size"])
    if engine_fill.get("size_in_quote"):
        return size / Decimal(engine_fill["price"])
    return size


def currencies(specs: Iterable[ProductSpec], funded: Iterable[str]) -> list[dict[str, Any]]:
    """``GET /currencies``: every currency of the products (and the funded ones).

    ccxt's ``load_markets`` reads this before ``/products``.
    """
    specs = list(specs)
    names: dict[str, str] = {}
    steps: dict[str, Decimal] = {}
    for spec in specs:
        names.setdefault(spec.base_currency, spec.base_name or spec.base_currency)
        names.setdefault(spec.quote_currency, spec.quote_name or spec.quote_currency)
        steps.setdefault(spec.base_currency, spec.base_increment)
        steps.setdefault(spec.quote_currency, spec.quote_increment)
    for currency in funded:
        names.setdefault(currency, currency)
        steps.setdefault(currency, Decimal("0.01"))
    fiat = {s.quote_currency for s in specs} - {s.base_currency for s in specs}
    return [
        {
            "id": cur,
            "name": names[cur],
            "min_size": dec_str(steps[cur]),
            "status": "online",
            "max_precision": dec_str(steps[cur]),
            "convertible_to": [],
            "details": {
                "type": "fiat" if cur in fiat else "crypto",
                "symbol": "$" if cur == "USD" else "",
                "network_confirmations": 0,
                "sort_order": i,
                "push_payment_methods": [],
                "min_withdrawal_amount": 0,
                "max_withdrawal_amount": 0,
            },
            "default_network": "",
            "supported_networks": [],
            "display_name": cur,
        }
        for i, cur in enumerate(names)
    ]


def product(spec: ProductSpec, status: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Exchange's product object (the current field set; the 2022-removed ones omitted).

    ``quote_increment`` is the price tick on Exchange; ``min_market_funds`` the notional
    minimum (also for limit orders since 2022). ``status``: the trading mode's fields
    (``SimExchange.product_status``: ``status``, ``status_message``, ``cancel_only``,
    ``limit_only``, ``post_only``, ``trading_disabled``); online and unrestricted when None.
    """
    out = {
        "id": spec.product_id,
        "base_currency": spec.base_currency,
        "quote_currency": spec.quote_currency,
        "quote_increment": dec_str(spec.price_tick),
        "base_increment": dec_str(spec.base_increment),
        "display_name": f"{spec.base_currency}-{spec.quote_currency}",
        "min_market_funds": dec_str(spec.quote_min_size),
        "margin_enabled": False,
        "post_only": False,
        "limit_only": False,
        "cancel_only": False,
        "status": "online",
        "status_message": "",
        "trading_disabled": False,
        "fx_stablecoin": False,
        "max_slippage_percentage": "0.10000000",
        "auction_mode": False,
        "high_bid_limit_percentage": "",
    }
    if status is not None:
        out.update(status)
    return out


def account(profile: str, wire: Mapping[str, Any]) -> dict[str, Any]:
    """An engine account → Exchange's account (``balance = available + hold``)."""
    available = Decimal(wire["available_balance"]["value"])
    hold = Decimal(wire["hold"]["value"])
    return {
        "id": wire["uuid"],
        "currency": wire["currency"],
        "balance": dec_str(available + hold),
        "hold": dec_str(hold),
        "available": dec_str(available),
        "profile_id": profile,
        "trading_enabled": True,
        "pending_deposit": "0",
        "display_name": wire["name"],
    }


def fill(profile: str, engine_fill: Mapping[str, Any]) -> dict[str, Any]:
    """An engine fill → Exchange's fill: integer ``trade_id``, base ``size``, the user's side."""
    price, base = Decimal(engine_fill["price"]), base_of(engine_fill)
    return {
        "created_at": engine_fill["trade_time"],
        "trade_id": int(engine_fill["trade_id"]),
        "product_id": engine_fill["product_id"],
        "order_id": engine_fill["order_id"],
        "user_id": profile,
        "profile_id": profile,
        "liquidity": "M" if engine_fill["liquidity_indicator"] == "MAKER" else "T",
        "price": engine_fill["price"],
        "size": dec_str(base.normalize()),
        "fee": engine_fill["commission"],
        "side": str(engine_fill["side"]).lower(),
        "settled": True,
        "usd_volume": dec_str((price * base).quantize(Decimal("0.01"))),
        "funding_currency": str(engine_fill["product_id"]).split("-")[-1],
        "market_type": "spot",
    }


def _given(value: object) -> bool:
    return value not in (None, "")


def engine_body(
    body: Mapping[str, Any], product_id: str, engine_coid: str, now: float
) -> dict[str, Any]:
    """An Exchange create body (``product_id`` already resolved) → the engine's body.

    ``market`` with ``size`` or ``funds``; ``limit`` with ``price`` and ``size`` and
    ``time_in_force`` GTC (``post_only``) / GTT (``cancel_after`` min|hour|day, made an end
    time from ``now``) / IOC / FOK; a ``stop`` (``loss``/``entry``) with ``stop_price`` on a
    GTC limit becomes a stop-limit. ccxt sends ``stop_price`` without ``stop``: a sell stop
    is then a stop-loss and a buy one an entry (the server's inference is UNCERTAIN).

    Raises:
        SimBadRequest: a body Exchange would refuse (the message says which field).
    """
    kind = body.get("type", "limit")
    side = body.get("side")
    if side not in ("buy", "sell"):
        raise SimBadRequest("side must be buy or sell")
    size, funds, price = body.get("size"), body.get("funds"), body.get("price")
    for name, value in (("size", size), ("funds", funds), ("price", price)):
        if value is not None and not isinstance(value, str | int | float):
            raise SimBadRequest(f"{name} must be a decimal string")
    stop, stop_price = body.get("stop"), body.get("stop_price")
    config: dict[str, Any]
    if kind == "market":
        if _given(size) == _given(funds):
            raise SimBadRequest("market orders must specify exactly one of size or funds")
        if _given(price):
            raise SimBadRequest("price is not allowed on a market order")
        config_key = "market_market_ioc"
        config = {"base_size": str(size)} if _given(size) else {"quote_size": str(funds)}
    elif kind in ("limit", "stop"):
        if not _given(price) or not _given(size):
            raise SimBadRequest("limit orders require price and size")
        if _given(funds):
            raise SimBadRequest("funds is allowed on market orders only")
        tif = body.get("time_in_force", "GTC")
        if tif not in _TIF_CONFIG:
            raise SimBadRequest("Invalid time_in_force: use GTC, GTT, IOC or FOK")
        post_only = body.get("post_only", False)
        if not isinstance(post_only, bool):
            raise SimBadRequest("post_only must be a boolean")
        if post_only and tif in ("IOC", "FOK"):
            raise SimBadRequest("post_only is invalid with IOC or FOK")
        config = {"base_size": str(size), "limit_price": str(price)}
        if stop is not None or _given(stop_price) or kind == "stop":
            if tif != "GTC":
                raise SimBadRequest("stop orders must be GTC in the simulator")
            if not _given(stop_price):
                raise SimBadRequest("stop_price is required with stop")
            stop = stop or ("loss" if side == "sell" else "entry")
            if stop not in ("loss", "entry"):
                raise SimBadRequest("stop must be loss or entry")
            config_key = "stop_limit_stop_limit_gtc"
            config["stop_price"] = str(stop_price)
            config["stop_direction"] = (
                "STOP_DIRECTION_STOP_DOWN" if stop == "loss" else "STOP_DIRECTION_STOP_UP"
            )
        else:
            config_key = _TIF_CONFIG[tif]
            if tif in ("GTC", "GTT"):
                config["post_only"] = post_only
            if tif == "GTT":
                after = body.get("cancel_after")
                if after not in _CANCEL_AFTER:
                    raise SimBadRequest("GTT orders require cancel_after: min, hour or day")
                config["end_time"] = iso(now + _CANCEL_AFTER[after])
    else:
        raise SimBadRequest(f"Invalid order type {kind!r}: use limit or market")
    return {
        "client_order_id": engine_coid,
        "product_id": product_id,
        "side": side.upper(),
        "order_configuration": {config_key: config},
    }


def refusal(err: Mapping[str, Any], spec: ProductSpec) -> tuple[int, str]:
    """The engine's §2.4 failure → (status, message) with the texts ccxt recognises."""
    reason = str(err.get("error") or "")
    preview = str(err.get("preview_failure_reason") or "")
    text = str(err.get("message") or "order refused")
    if reason == "INSUFFICIENT_FUND":
        return 400, "Insufficient funds"
    if reason == "INVALID_PRODUCT_ID":
        return 404, "Product not found"
    if reason == "INVALID_PRICE_PRECISION":
        return 400, f"price too precise. Smallest unit is {spec.price_tick}"
    if reason == "INVALID_SIZE_PRECISION":
        return 400, f"size is too accurate. Smallest unit is {spec.base_increment}"
    if reason == "INVALID_LIMIT_PRICE_POST_ONLY":
        return 400, "Post only mode: the order would take liquidity"
    if preview.endswith("BASE_SIZE_TOO_SMALL"):
        return 400, f"size is too small. Minimum size is {spec.base_min_size}"
    if preview.endswith("QUOTE_SIZE_TOO_SMALL"):
        return 400, f"funds is too small. Minimum funds is {spec.quote_min_size}"
    if preview.endswith("TOO_LARGE"):
        return 400, f"size is too large: {text}"
    return 400, f"{preview or reason or 'REJECTED'}: {text}"


def exchange_status(wire: Mapping[str, Any], stop_status: str = "active") -> tuple[str, str]:
    """(Exchange ``status``, ``done_reason``) of an engine order.

    A queued cancel still shows ``open`` (Exchange confirms a cancel only when done); an
    expired GTT order is ``done``/``canceled``; an engine FAILED is ``rejected``. An
    untriggered stop shows ``stop_status`` (``active`` by default: inferred from the
    ``activate`` message, UNCERTAIN in the reference, hence a dialect setting).
    """
    status = str(wire["status"])
    untriggered = wire.get("trigger_status") == "STOP_PENDING"
    if untriggered and status in ("OPEN", "CANCEL_QUEUED", "PENDING"):
        return stop_status, ""
    if status in ("OPEN", "CANCEL_QUEUED"):
        return "open", ""
    if status in ("PENDING", "QUEUED"):
        return "pending", ""
    if status == "FILLED":
        return "done", "filled"
    if status in ("CANCELLED", "EXPIRED"):
        return "done", "canceled"
    return "rejected", "rejected"


def order(
    profile: str, wire: Mapping[str, Any], client_oid: str | None, *, stop_status: str = "active"
) -> dict[str, Any]:
    """The engine's order record → Exchange's order object (reference §1.B.2)."""
    ((config_key, config),) = dict(wire["order_configuration"]).items()
    status, done_reason = exchange_status(wire, stop_status)
    out: dict[str, Any] = {
        "id": str(wire["order_id"]),
        "product_id": wire["product_id"],
        "profile_id": profile,
        "side": str(wire["side"]).lower(),
        "type": "market" if config_key == "market_market_ioc" else "limit",
    }
    if config.get("limit_price"):
        out["price"] = config["limit_price"]
    if config.get("base_size"):
        out["size"] = config["base_size"]
    if config.get("quote_size"):
        out["funds"] = out["specified_funds"] = config["quote_size"]
    if config_key != "market_market_ioc":
        out["time_in_force"] = _CONFIG_TIF.get(config_key, "GTC")
        if config.get("end_time"):
            out["expire_time"] = config["end_time"]
    out["post_only"] = bool(config.get("post_only", False))
    if config_key.startswith("stop_limit"):
        down = config.get("stop_direction") == "STOP_DIRECTION_STOP_DOWN"
        out["stop"] = "loss" if down else "entry"
        out["stop_price"] = config["stop_price"]
    out["stp"] = "dc"
    out["created_at"] = str(wire["created_time"])
    if status in ("done", "rejected"):
        out["done_at"] = str(wire["last_update_time"])
        out["done_reason"] = done_reason
    if status == "rejected":
        out["reject_reason"] = str(wire.get("reject_reason") or "rejected")
    if wire.get("cancel_message") and done_reason == "canceled":
        out["cancel_reason"] = str(wire["cancel_message"])
    out["fill_fees"] = dec_str(Decimal(wire["total_fees"]))
    out["filled_size"] = dec_str(Decimal(wire["filled_size"]))
    out["executed_value"] = dec_str(Decimal(wire["filled_value"]))
    out["market_type"] = "spot"
    out["status"] = status
    out["settled"] = status in ("done", "rejected")
    if client_oid:
        out["client_oid"] = client_oid
    return out


def pending_view(answer: dict[str, Any]) -> dict[str, Any]:
    """The create answer as captured responses show it: ``pending``, nothing filled yet.

    Pending orders carry fewer fields (no ``stp``, ``time_in_force``, ``expire_time``;
    reference §1.B.1); ``post_only`` is kept because the order schema marks it required.
    """
    dropped = ("done_at", "done_reason", "reject_reason", "cancel_reason", "stp",
               "time_in_force", "expire_time")  # fmt: skip
    out = {k: v for k, v in answer.items() if k not in dropped}
    out.update(fill_fees="0", filled_size="0", executed_value="0", status="pending",
               settled=False)  # fmt: skip
    return out
