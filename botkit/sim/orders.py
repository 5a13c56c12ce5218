"""Create-order parsing and validation (§2.3/§2.4) and the simulator's order record.

Coinbase splits bad requests in two: a body that cannot be read at all is an
HTTP 400, while a readable order that breaks a trading rule is an HTTP 200 with
``success: false`` and a failure reason (§2.4). :func:`parse_create` mirrors
that split: it raises :class:`~botkit.sim.specs.SimBadRequest` for the first
kind and :class:`OrderReject` (carrying Coinbase's reason names) for the second.
Checks that need the live book or balances (post-only crossing, funds) are the
exchange's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from botkit.market.matching import Side
from botkit.sim.specs import ProductSpec, SimBadRequest

__all__ = [
    "TERMINAL",
    "Order",
    "OrderKind",
    "OrderReject",
    "OrderRequest",
    "check_increment",
    "parse_create",
    "parse_decimal",
    "parse_time",
]

OrderKind = Literal["MARKET", "LIMIT", "STOP_LIMIT"]
TERMINAL = frozenset({"FILLED", "CANCELLED", "EXPIRED", "FAILED"})
_ZERO = Decimal(0)

# config key -> (kind, time_in_force, allowed fields)
_CONFIGS: dict[str, tuple[OrderKind, str, frozenset[str]]] = {
    "market_market_ioc": ("MARKET", "IMMEDIATE_OR_CANCEL", frozenset({"quote_size", "base_size"})),
    "sor_limit_ioc": (
        "LIMIT",
        "IMMEDIATE_OR_CANCEL",
        frozenset({"quote_size", "base_size", "limit_price"}),
    ),
    "limit_limit_gtc": (
        "LIMIT",
        "GOOD_UNTIL_CANCELLED",
        frozenset({"quote_size", "base_size", "limit_price", "post_only"}),
    ),
    "limit_limit_gtd": (
        "LIMIT",
        "GOOD_UNTIL_DATE_TIME",
        frozenset({"quote_size", "base_size", "limit_price", "post_only", "end_time"}),
    ),
    "limit_limit_fok": (
        "LIMIT",
        "FILL_OR_KILL",
        frozenset({"quote_size", "base_size", "limit_price", "post_only"}),
    ),
    "stop_limit_stop_limit_gtc": (
        "STOP_LIMIT",
        "GOOD_UNTIL_CANCELLED",
        frozenset({"base_size", "limit_price", "stop_price", "stop_direction"}),
    ),
    "stop_limit_stop_limit_gtd": (
        "STOP_LIMIT",
        "GOOD_UNTIL_DATE_TIME",
        frozenset({"base_size", "limit_price", "stop_price", "stop_direction", "end_time"}),
    ),
}


class OrderReject(Exception):
    """A business failure (§2.4): HTTP 200, ``success: false``.

    ``reason`` is the ``new_order_failure_reason``/``error`` value; when Coinbase
    only reports a preview reason (e.g. minimum-size checks) ``reason`` is
    ``UNKNOWN_FAILURE_REASON`` and ``preview_reason`` carries the real cause.
    """

    def __init__(self, reason: str, details: str, preview_reason: str | None = None) -> None:
        super().__init__(details)
        self.reason = reason
        self.details = details
        self.preview_reason = preview_reason or (
            reason if reason.startswith("PREVIEW_") else f"PREVIEW_{reason}"
        )


def _too(what: str, details: str) -> OrderReject:
    return OrderReject("UNKNOWN_FAILURE_REASON", details, f"PREVIEW_INVALID_{what}")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A validated create-order body, with sizes resolved to ``Decimal``."""

    client_order_id: str
    product_id: str
    side: Side
    config_key: str
    config: dict[str, Any]
    kind: OrderKind
    time_in_force: str
    base_size: Decimal | None
    quote_size: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    stop_direction: str
    post_only: bool
    end_time: float | None


@dataclass(slots=True)
class Order:
    """The simulator's mutable record of one user order.

    ``base_size`` is the order's total base quantity (for a quote-sized market
    buy it is whatever the quote budget bought). ``hold`` is the funds this
    order still reserves in ``hold_currency``; the ledger's hold is the sum of
    these over open orders.
    """

    order_id: str
    user_id: str
    client_order_id: str
    product_id: str
    side: Side
    config_key: str
    config: dict[str, Any]
    kind: OrderKind
    time_in_force: str
    base_size: Decimal
    quote_size: Decimal | None
    size_in_quote: bool
    limit_price: Decimal | None
    stop_price: Decimal | None
    stop_direction: str
    post_only: bool
    end_time: float | None
    created_time: float
    seq: int
    status: str = "PENDING"
    filled_size: Decimal = _ZERO
    filled_value: Decimal = _ZERO
    total_fees: Decimal = _ZERO
    number_of_fills: int = 0
    hold_currency: str = ""
    hold: Decimal = _ZERO
    trigger_status: str = "INVALID_ORDER_TYPE"
    last_fill_time: float | None = None
    last_update_time: float = 0.0
    cancel_due_step: int | None = None
    cancel_reason: str = ""
    reject_reason: str = ""
    edit_history: list[dict[str, Any]] = field(default_factory=list)
    #: paper broker: when a ``PENDING`` order reaches the matching engine (submit latency)
    activate_at: float | None = None
    #: paper broker: when a ``CANCEL_QUEUED`` order's cancel takes effect (cancel latency)
    cancel_at: float | None = None

    @property
    def remaining(self) -> Decimal:
        """Unfilled base quantity."""
        return self.base_size - self.filled_size

    @property
    def terminal(self) -> bool:
        """Whether the order can no longer change."""
        return self.status in TERMINAL


def parse_decimal(value: object, name: str) -> Decimal:
    """Parse a decimal string field; non-strings and garbage are malformed (HTTP 400)."""
    if not isinstance(value, str):
        raise SimBadRequest(f"{name} must be a decimal string")
    try:
        out = Decimal(value.strip())
    except InvalidOperation:
        raise SimBadRequest(f"{name} is not a valid decimal: {value!r}") from None
    if not out.is_finite():
        raise SimBadRequest(f"{name} is not a valid decimal: {value!r}")
    return out


def parse_time(value: object, name: str) -> float:
    """Parse an RFC 3339 timestamp to Unix seconds (naive times are taken as UTC)."""
    if not isinstance(value, str):
        raise SimBadRequest(f"{name} must be an RFC 3339 string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise SimBadRequest(f"{name} is not an RFC 3339 time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def check_increment(value: Decimal, increment: Decimal) -> bool:
    """Whether ``value`` is an exact multiple of ``increment``."""
    return value % increment == 0


def parse_create(
    body: object, products: Mapping[str, ProductSpec], now: float
) -> tuple[OrderRequest, ProductSpec]:
    """Validate a create-order body (§2.3).

    Raises:
        SimBadRequest: not an object, or missing ``product_id``/``side``/``order_configuration``.
        OrderReject: a readable order that breaks a rule, with Coinbase's reason.
    """
    if not isinstance(body, Mapping):
        raise SimBadRequest("request body must be a JSON object")
    for key in ("product_id", "side", "order_configuration"):
        if key not in body:
            raise SimBadRequest(f"{key} is required")
    client_order_id = body.get("client_order_id", "")
    if not isinstance(client_order_id, str):
        raise SimBadRequest("client_order_id must be a string")
    configuration = body["order_configuration"]
    if not isinstance(configuration, Mapping) or len(configuration) != 1:
        raise OrderReject(
            "UNSUPPORTED_ORDER_CONFIGURATION", "order_configuration needs exactly one key"
        )
    ((config_key, raw),) = configuration.items()
    if config_key not in _CONFIGS or not isinstance(raw, Mapping):
        raise OrderReject(
            "UNSUPPORTED_ORDER_CONFIGURATION", f"unsupported order configuration {config_key}"
        )
    kind, tif, allowed = _CONFIGS[config_key]
    config = dict(raw)
    product_id = body["product_id"]
    spec = products.get(product_id) if isinstance(product_id, str) else None
    if spec is None:
        raise OrderReject("INVALID_PRODUCT_ID", f"unknown product {product_id!r}")
    side = body["side"]
    if side not in ("BUY", "SELL"):
        raise OrderReject("INVALID_SIDE", f"side must be BUY or SELL, not {side!r}")

    def dec(name: str) -> Decimal | None:
        value = config.get(name)
        if value is None or value == "" or name not in allowed:
            return None
        return parse_decimal(value, name)

    base_size, quote_size = dec("base_size"), dec("quote_size")
    if (base_size is None) == (quote_size is None):
        raise OrderReject(
            "UNSUPPORTED_ORDER_CONFIGURATION",
            "exactly one of base_size and quote_size is required",
        )
    if kind == "MARKET" and side == "SELL" and quote_size is not None:
        raise OrderReject("UNSUPPORTED_ORDER_CONFIGURATION", "market SELL needs base_size")
    limit_price, stop_price = dec("limit_price"), dec("stop_price")
    if kind != "MARKET":
        if limit_price is None:
            raise OrderReject("INVALID_LIMIT_PRICE", "limit_price is required")
        if limit_price <= 0:
            raise OrderReject("INVALID_LIMIT_PRICE", "limit_price must be positive")
        if not check_increment(limit_price, spec.price_tick):
            raise OrderReject("INVALID_PRICE_PRECISION", "limit_price has too many decimals")
    stop_direction = ""
    if kind == "STOP_LIMIT":
        stop_direction = str(config.get("stop_direction", ""))
        if stop_direction not in ("STOP_DIRECTION_STOP_UP", "STOP_DIRECTION_STOP_DOWN"):
            raise OrderReject("INVALID_REQUEST", "stop_direction must be STOP_UP or STOP_DOWN")
        if stop_price is None or stop_price <= 0:
            raise OrderReject("INVALID_REQUEST", "stop_price is required")
        if not check_increment(stop_price, spec.price_tick):
            raise OrderReject("INVALID_PRICE_PRECISION", "stop_price has too many decimals")
    post_only = config.get("post_only", False) if "post_only" in allowed else False
    if not isinstance(post_only, bool):
        raise SimBadRequest("post_only must be a boolean")
    if config_key == "limit_limit_fok" and post_only:
        raise OrderReject("POST_ONLY_NOT_ALLOWED_WITH_FOK", "post_only is not allowed with FOK")
    end_time: float | None = None
    if tif == "GOOD_UNTIL_DATE_TIME":
        if not config.get("end_time"):
            raise OrderReject("GTD_ORDERS_MUST_HAVE_END_TIME", "end_time is required")
        end_time = parse_time(config["end_time"], "end_time")
        if end_time <= now:
            raise OrderReject("END_TIME_IS_IN_THE_PAST", "end_time is in the past")

    if quote_size is not None:
        if not check_increment(quote_size, spec.quote_increment):
            raise OrderReject(
                "INVALID_SIZE_PRECISION",
                "quote_size has too many decimals",
                "PREVIEW_INVALID_QUOTE_SIZE_PRECISION",
            )
        _check_quote(quote_size, spec)
        if limit_price is not None:  # limit order sized in quote: resolve to base now
            base_size = (quote_size / limit_price).quantize(spec.base_increment, "ROUND_DOWN")
            if base_size < spec.base_min_size:
                raise _too("BASE_SIZE_TOO_SMALL", "quote_size buys less than base_min_size")
    if base_size is not None:
        if not check_increment(base_size, spec.base_increment):
            raise OrderReject("INVALID_SIZE_PRECISION", "base_size has too many decimals")
        if base_size < spec.base_min_size or base_size <= 0:
            raise _too("BASE_SIZE_TOO_SMALL", f"base_size is below {spec.base_min_size}")
        if base_size > spec.base_max_size:
            raise _too("BASE_SIZE_TOO_LARGE", f"base_size is above {spec.base_max_size}")
        if limit_price is not None and quote_size is None:
            _check_quote(base_size * limit_price, spec)

    request = OrderRequest(
        client_order_id=client_order_id,
        product_id=spec.product_id,
        side="BUY" if side == "BUY" else "SELL",
        config_key=config_key,
        config=config,
        kind=kind,
        time_in_force=tif,
        base_size=base_size,
        quote_size=quote_size,
        limit_price=limit_price,
        stop_price=stop_price,
        stop_direction=stop_direction,
        post_only=post_only,
        end_time=end_time,
    )
    return request, spec


def _check_quote(notional: Decimal, spec: ProductSpec) -> None:
    if notional < spec.quote_min_size:
        raise _too("QUOTE_SIZE_TOO_SMALL", f"order value is below {spec.quote_min_size}")
    if notional > spec.quote_max_size:
        raise _too("QUOTE_SIZE_TOO_LARGE", f"order value is above {spec.quote_max_size}")
