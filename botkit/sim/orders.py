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
    "AttachedExit",
    "Order",
    "OrderKind",
    "OrderReject",
    "OrderRequest",
    "bracket_stop_limit",
    "check_attached_prices",
    "check_increment",
    "parse_create",
    "parse_decimal",
    "parse_time",
]

OrderKind = Literal["MARKET", "LIMIT", "STOP_LIMIT", "BRACKET"]
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
    "trigger_bracket_gtc": (
        "BRACKET",
        "GOOD_UNTIL_CANCELLED",
        frozenset({"base_size", "limit_price", "stop_trigger_price"}),
    ),
    "trigger_bracket_gtd": (
        "BRACKET",
        "GOOD_UNTIL_DATE_TIME",
        frozenset({"base_size", "limit_price", "stop_trigger_price", "end_time"}),
    ),
}
#: entry configurations that may carry an ``attached_order_configuration`` (TP/SL)
_ATTACHABLE = frozenset({"market_market_ioc", "limit_limit_gtc", "limit_limit_gtd"})


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
    attached: AttachedExit | None = None


@dataclass(frozen=True, slots=True)
class AttachedExit:
    """A take-profit/stop-loss attached to an entry (``attached_order_configuration``).

    Coinbase only accepts ``trigger_bracket_gtc`` here, without a size: the exit is
    sized by what the entry fills (reference §2.3).
    """

    config: dict[str, Any]
    take_profit: Decimal
    stop_trigger: Decimal


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
    #: bracket: the take-profit limit price as placed (``limit_price`` is the working price,
    #: which becomes :attr:`stop_limit_price` when the stop leg triggers)
    take_profit_price: Decimal | None = None
    #: bracket: the stop leg's limit price once triggered (the setting's offset beyond the trigger)
    stop_limit_price: Decimal | None = None
    #: an attached exit: the entry it protects; an entry: its attached exit
    originating_order_id: str = ""
    attached_order_id: str = ""
    #: an entry: the ``attached_order_configuration`` as sent (echoed on the order object)
    attached_config: dict[str, Any] | None = None

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

    if kind == "BRACKET" and config.get("quote_size") not in (None, ""):
        raise _too_bracket("QUOTE_SIZE_NOT_ALLOWED_FOR_BRACKET", "a bracket needs base_size")
    base_size, quote_size = dec("base_size"), dec("quote_size")
    if (base_size is None) == (quote_size is None):
        raise OrderReject(
            "UNSUPPORTED_ORDER_CONFIGURATION",
            "exactly one of base_size and quote_size is required",
        )
    if kind == "MARKET" and side == "SELL" and quote_size is not None:
        raise OrderReject("UNSUPPORTED_ORDER_CONFIGURATION", "market SELL needs base_size")
    limit_price = dec("limit_price")
    stop_price = dec("stop_trigger_price" if kind == "BRACKET" else "stop_price")
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
    if kind == "BRACKET":
        assert limit_price is not None
        # the stop leg sells below (buys above) the market, the take-profit the other way
        stop_direction = "STOP_DIRECTION_STOP_DOWN" if side == "SELL" else "STOP_DIRECTION_STOP_UP"
        if stop_price is None or stop_price <= 0:
            raise _too_bracket(
                "INVALID_BRACKET_STOP_TRIGGER_PRICE", "stop_trigger_price is required"
            )
        if not check_increment(stop_price, spec.price_tick):
            raise _too_bracket(
                "INVALID_STOP_TRIGGER_PRICE_PRECISION", "stop_trigger_price has too many decimals"
            )
        if (limit_price <= stop_price) if side == "SELL" else (limit_price >= stop_price):
            raise _too_bracket(
                "INVALID_BRACKET_PRICES",
                "a SELL bracket needs limit_price (take-profit) above stop_trigger_price, "
                "a BUY bracket below it",
            )
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

    attached = _parse_attached(body.get("attached_order_configuration"), config_key, side, spec)
    if attached is not None and limit_price is not None:
        check_attached_prices(attached, limit_price)
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
        attached=attached,
    )
    return request, spec


def _too_bracket(what: str, details: str) -> OrderReject:
    """A bracket/TP-SL failure: Coinbase names these only as preview reasons (the typed
    failure enum generated from its newer spec), so ``error`` is ``UNKNOWN_FAILURE_REASON``
    as for the size minimums (**assumed**)."""
    return OrderReject("UNKNOWN_FAILURE_REASON", details, f"PREVIEW_{what}")


def bracket_stop_limit(side: str, trigger: Decimal, offset: Decimal, tick: Decimal) -> Decimal:
    """The limit price a bracket's stop leg gets when it triggers.

    Coinbase: "a stop limit order is automatically placed with a limit price 5% higher
    for BUYS and 5% lower for SELLS" (``offset`` is that 5 %, a setting). Rounded to the
    tick away from the market (down for a sell, up for a buy) so it is never tighter
    than the offset (**assumed**).
    """
    if side == "SELL":
        price = (trigger * (1 - offset) / tick).to_integral_value(rounding="ROUND_FLOOR") * tick
        return max(price, tick)
    return (trigger * (1 + offset) / tick).to_integral_value(rounding="ROUND_CEILING") * tick


def _parse_attached(
    raw: object, entry_key: str, side: object, spec: ProductSpec
) -> AttachedExit | None:
    """Validate an ``attached_order_configuration`` (TP/SL on an entry, reference §2.3)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or len(raw) != 1 or "trigger_bracket_gtc" not in raw:
        raise _too_bracket(
            "INVALID_ORDER_TYPE_FOR_ATTACHED",
            "attached_order_configuration takes exactly one trigger_bracket_gtc",
        )
    if entry_key not in _ATTACHABLE:
        raise _too_bracket(
            "ATTACHED_ORDERS_ONLY_ALLOWED_ON_MARKET_LIMIT",
            "TP/SL can be attached to market_market_ioc and limit_limit_gtc/gtd entries only",
        )
    if side != "BUY":
        raise _too_bracket(
            "INVALID_ORDER_SIDE_FOR_ATTACHED_TPSL",
            "the simulator attaches TP/SL to BUY entries only (a spot exit sells what was bought)",
        )
    cfg = raw["trigger_bracket_gtc"]
    if not isinstance(cfg, Mapping):
        raise SimBadRequest("attached trigger_bracket_gtc must be an object")
    if any(cfg.get(k) not in (None, "") for k in ("base_size", "quote_size")):
        raise _too_bracket(
            "ATTACHED_ORDER_SIZE_MUST_BE_NIL", "an attached order is sized by the entry's fills"
        )
    prices: list[Decimal] = []
    for name, what in (("limit_price", "TAKE_PROFIT"), ("stop_trigger_price", "STOP_LOSS")):
        value = cfg.get(name)
        if value in (None, ""):
            raise _too_bracket(f"INVALID_ATTACHED_{what}_PRICE", f"attached {name} is required")
        price = parse_decimal(value, f"attached {name}")
        if price <= 0:
            raise _too_bracket(
                "ATTACHED_ORDER_MUST_HAVE_POSITIVE_PRICES", f"attached {name} must be positive"
            )
        if not check_increment(price, spec.price_tick):
            raise _too_bracket(
                f"INVALID_ATTACHED_{what}_PRICE_PRECISION", f"attached {name} has too many decimals"
            )
        prices.append(price)
    return AttachedExit({"trigger_bracket_gtc": dict(cfg)}, prices[0], prices[1])


def check_attached_prices(attached: AttachedExit, entry_price: Decimal) -> None:
    """A long's take-profit above its entry price, its stop-loss below (reference price:
    the entry's limit price; a market entry is checked against the last trade later)."""
    if attached.take_profit <= entry_price:
        raise _too_bracket(
            "INVALID_ATTACHED_TAKE_PROFIT_PRICE",
            f"take-profit {attached.take_profit} must be above the entry price {entry_price}",
        )
    if attached.stop_trigger >= entry_price:
        raise _too_bracket(
            "INVALID_ATTACHED_STOP_LOSS_PRICE",
            f"stop-loss {attached.stop_trigger} must be below the entry price {entry_price}",
        )


def _check_quote(notional: Decimal, spec: ProductSpec) -> None:
    if notional < spec.quote_min_size:
        raise _too("QUOTE_SIZE_TOO_SMALL", f"order value is below {spec.quote_min_size}")
    if notional > spec.quote_max_size:
        raise _too("QUOTE_SIZE_TOO_LARGE", f"order value is above {spec.quote_max_size}")
