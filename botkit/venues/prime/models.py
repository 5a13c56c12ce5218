"""Core ring: Coinbase Prime REST shapes, and their translation onto botkit's neutral model.

Prime's results (reference exchange-prime-api.md §2.B) are decoded into frozen
``msgspec.Struct`` types; unknown fields are ignored, so Prime adding one never breaks a
bot. Numbers stay **strings** in these Structs: Prime's generated models type every amount
as a string and an unset one may arrive as ``""``, which is not a decimal. :func:`dec`
turns them into ``Decimal`` (``""`` → 0) where botkit computes with them.

The translations:

* :func:`prime_create_body` — the executor journals an Advanced Trade-shaped create body
  (:meth:`botkit.orders.intents.OrderIntent.body`); the Prime client sends this function's
  output instead. It is a pure function of those bytes, so a re-send (a retry, a re-POST
  after a restart) is byte-identical, and so is its signature's input. The portfolio id is
  not in the body: it is in the path (``POST /v1/portfolios/{pid}/order``).
* :func:`neutral_order` — a Prime order → :class:`botkit.orders.model.Order` (field names
  are Advanced Trade's: ``id`` → ``order_id``, ``filled_quantity`` → ``filled_size``,
  ``commission`` (+ ``exchange_fee``) → ``total_fees``, ``type`` → ``order_type``, and an
  Advanced Trade ``order_configuration`` rebuilt from ``type``/``time_in_force``; a
  ``STOP_LIMIT`` as ``stop_limit_stop_limit_gtc/gtd`` with its side's direction, and
  ``OPEN`` while it waits for its trigger).
* :func:`prime_statuses` — Advanced Trade status filters → Prime's ``order_statuses``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from botkit.errors import OrderRejected
from botkit.orders.model import Order

__all__ = [
    "CONFIG_TO_PRIME",
    "MAX_CLIENT_ORDER_ID",
    "Balance",
    "BalancesResult",
    "CancelAnswer",
    "CreateAnswer",
    "Fill",
    "FillsPage",
    "Pagination",
    "Portfolio",
    "PrimeOrder",
    "PrimeOrdersPage",
    "Product",
    "ProductsPage",
    "dec",
    "neutral_order",
    "prime_create_body",
    "prime_statuses",
    "rfc3339",
]

MAX_CLIENT_ORDER_ID = 128  # enforced by Prime since about October 2025 (reference §2.B.1)

# Advanced Trade order_configuration key -> (Prime type, Prime time_in_force or "" for none)
CONFIG_TO_PRIME: dict[str, tuple[str, str]] = {
    "market_market_ioc": ("MARKET", ""),
    "limit_limit_gtc": ("LIMIT", "GOOD_UNTIL_CANCELLED"),
    "limit_limit_gtd": ("LIMIT", "GOOD_UNTIL_DATE_TIME"),
    "sor_limit_ioc": ("LIMIT", "IMMEDIATE_OR_CANCEL"),
    "limit_limit_fok": ("LIMIT", "FILL_OR_KILL"),
    "stop_limit_stop_limit_gtc": ("STOP_LIMIT", "GOOD_UNTIL_CANCELLED"),
    "stop_limit_stop_limit_gtd": ("STOP_LIMIT", "GOOD_UNTIL_DATE_TIME"),
}
_PRIME_TO_CONFIG = {v: k for k, v in CONFIG_TO_PRIME.items()}
# Prime's STOP_LIMIT has no direction field: botkit sends only the two stops whose
# direction follows from the side (a SELL stop-loss below the market, a BUY stop above),
# the reading the simulator takes by default (docs/venues.md, "Exits")
_STOP_DIRECTION_BY_SIDE = {"SELL": "STOP_DIRECTION_STOP_DOWN", "BUY": "STOP_DIRECTION_STOP_UP"}
# Advanced Trade statuses with a different name (or none) on Prime
_STATUS_TO_PRIME: dict[str, tuple[str, ...]] = {
    "OPEN": ("OPEN", "PENDING"),  # a PENDING Prime order is accepted, not yet working: open
    "QUEUED": ("PENDING",),
    "CANCEL_QUEUED": ("OPEN",),
}


class _S(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Pagination(_S, frozen=True, kw_only=True):
    next_cursor: str = ""
    sort_direction: str = ""
    has_next: bool = False


class Portfolio(_S, frozen=True, kw_only=True):
    id: str
    name: str = ""
    entity_id: str = ""
    organization_id: str = ""
    entity_name: str = ""


class Portfolios(_S, frozen=True, kw_only=True):
    portfolios: list[Portfolio] = []


class PortfolioEnvelope(_S, frozen=True, kw_only=True):
    portfolio: Portfolio


class Balance(_S, frozen=True, kw_only=True):
    """One asset of a portfolio. ``amount`` includes ``holds`` (reference §2.B)."""

    symbol: str
    amount: str = "0"
    holds: str = "0"
    withdrawable_amount: str = ""

    @property
    def currency(self) -> str:
        """The symbol upper-cased (Prime's casing is not documented)."""
        return self.symbol.upper()

    @property
    def total(self) -> Decimal:
        return dec(self.amount)

    @property
    def hold(self) -> Decimal:
        return dec(self.holds)

    @property
    def available(self) -> Decimal:
        """What can be traded: ``amount - holds`` (derived; Prime has no such field)."""
        return self.total - self.hold


class BalancesResult(_S, frozen=True, kw_only=True):
    balances: list[Balance] = []
    type: str = ""


class Product(_S, frozen=True, kw_only=True):
    id: str
    base_increment: str = ""
    quote_increment: str = ""
    base_min_size: str = ""
    quote_min_size: str = ""
    base_max_size: str = ""
    quote_max_size: str = ""
    price_increment: str = ""
    permissions: list[str] = []
    product_type: str = ""

    @property
    def tradable(self) -> bool:
        """Prime has no online/offline status; the trade permission says it (UNCERTAIN)."""
        return "PRODUCT_PERMISSION_TRADE" in self.permissions


class ProductsPage(_S, frozen=True, kw_only=True):
    products: list[Product] = []
    pagination: Pagination = Pagination()


class PrimeOrder(_S, frozen=True, kw_only=True):
    id: str
    portfolio_id: str = ""
    product_id: str = ""
    side: str = ""
    client_order_id: str = ""
    type: str = ""
    base_quantity: str = ""
    quote_value: str = ""
    limit_price: str = ""
    expiry_time: str = ""
    status: str = ""
    time_in_force: str = ""
    created_at: str = ""
    filled_quantity: str = "0"
    filled_value: str = "0"
    average_filled_price: str = "0"
    commission: str = "0"
    exchange_fee: str = ""
    net_average_filled_price: str = ""
    user_context: str = ""
    post_only: bool = False
    stop_price: str = ""


class OrderEnvelope(_S, frozen=True, kw_only=True):
    order: PrimeOrder


class PrimeOrdersPage(_S, frozen=True, kw_only=True):
    orders: list[PrimeOrder] = []
    pagination: Pagination = Pagination()


class Fill(_S, frozen=True, kw_only=True):
    """One execution. Prime gives no maker/taker flag and routes to many venues."""

    id: str
    order_id: str = ""
    product_id: str = ""
    side: str = ""
    filled_quantity: str = "0"
    filled_value: str = "0"
    price: str = "0"
    time: str = ""
    commission: str = "0"
    venue: str = ""
    venue_fees: str = ""


class FillsPage(_S, frozen=True, kw_only=True):
    fills: list[Fill] = []
    pagination: Pagination = Pagination()


class CreateAnswer(_S, frozen=True, kw_only=True):
    order_id: str = ""


class CancelAnswer(_S, frozen=True, kw_only=True):
    id: str = ""


def dec(text: str) -> Decimal:
    """A Prime amount string as ``Decimal``; ``""`` (unset) is 0."""
    if not text:
        return Decimal(0)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"Prime sent a non-decimal amount {text!r}") from None


def rfc3339(ts: float) -> str:
    """Unix seconds → ``2026-12-05T08:00:00.000000Z``, the form Prime's date filters take."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _reject(message: str) -> OrderRejected:
    return OrderRejected(message, reason="UNSUPPORTED_ORDER_CONFIGURATION")


def prime_create_body(at_body: bytes) -> bytes:
    """The Prime create-order body for a journaled Advanced Trade-shaped body (pure).

    Fields, in the official SDK's order (its ``CreateOrderRequest``), unset ones omitted:
    ``product_id, side, client_order_id, type, base_quantity | quote_value, limit_price,
    expiry_time, time_in_force, stop_price, post_only`` (``post_only`` only when true).
    Serialised like the SDK (``json.dumps`` defaults), so the bytes match what
    prime-sdk-py sends. A stop-limit becomes ``type: STOP_LIMIT`` with ``stop_price``
    (GTC, or GTD with ``expiry_time``); Prime has no direction field, so only a SELL
    stop with ``STOP_DIRECTION_STOP_DOWN`` or a BUY stop with ``_STOP_UP`` is sent.

    Raises:
        OrderRejected: a configuration Prime cannot take through this client (bracket,
            attached TP/SL, a stop whose direction is not its side's), an unknown extra
            field, or a client id over 128 characters. The executor records the intent
            REJECTED (nothing was sent).
    """
    doc = json.loads(at_body)
    config_doc = doc.get("order_configuration") or {}
    if not isinstance(config_doc, dict) or len(config_doc) != 1:
        raise _reject("order_configuration must have exactly one key")
    ((key, config),) = config_doc.items()
    if key not in CONFIG_TO_PRIME:
        raise _reject(
            f"{key} is not supported on Coinbase Prime by botkit; use market_ioc, "
            "limit_gtc, limit_gtd, limit_ioc, limit_fok or stop_limit (gtc/gtd); brackets "
            "and attached exits are emulated by the running bot on Prime"
        )
    extra = set(doc) - {"client_order_id", "product_id", "side", "order_configuration"}
    if extra:
        raise _reject(f"fields {sorted(extra)} have no Coinbase Prime equivalent; remove them")
    coid = str(doc.get("client_order_id", ""))
    if not coid or len(coid) > MAX_CLIENT_ORDER_ID:
        raise _reject(f"client_order_id must be 1 to {MAX_CLIENT_ORDER_ID} characters on Prime")
    kind, tif = CONFIG_TO_PRIME[key]
    if kind == "STOP_LIMIT":
        want = _STOP_DIRECTION_BY_SIDE.get(str(doc.get("side")))
        if config.get("stop_direction") != want or not config.get("stop_price"):
            raise _reject(
                f"a {doc.get('side')} stop on Coinbase Prime must be {want} with a stop_price: "
                "Prime's STOP_LIMIT has no direction (botkit sends sell stops below the market "
                "and buy stops above it); emulate any other stop"
            )
    out: dict[str, Any] = {
        "product_id": doc["product_id"],
        "side": doc["side"],
        "client_order_id": coid,
        "type": kind,
    }
    if config.get("base_size"):
        out["base_quantity"] = config["base_size"]
    elif config.get("quote_size"):
        out["quote_value"] = config["quote_size"]
    if config.get("limit_price"):
        out["limit_price"] = config["limit_price"]
    if config.get("end_time"):
        out["expiry_time"] = config["end_time"]
    if tif:
        out["time_in_force"] = tif
    if kind == "STOP_LIMIT":
        out["stop_price"] = config["stop_price"]
    if config.get("post_only") is True:
        out["post_only"] = True
    return json.dumps(out).encode()


def neutral_order(order: PrimeOrder) -> Order:
    """A Prime order on botkit's neutral model (see the module docstring).

    ``total_fees`` is ``commission + exchange_fee`` (``exchange_fee`` is 0 under all-in
    pricing and separate under cost-plus; whether ``commission`` already includes it is
    not documented). ``number_of_fills`` is not reported by Prime: ``"0"``.
    """
    timed = order.type in ("LIMIT", "STOP_LIMIT")
    config_key = _PRIME_TO_CONFIG.get((order.type, order.time_in_force if timed else ""), "")
    if not config_key and order.type == "LIMIT":
        config_key = "limit_limit_gtc"
    if not config_key and order.type == "STOP_LIMIT":
        config_key = "stop_limit_stop_limit_gtc"
    config: dict[str, Any] = {}
    if order.base_quantity:
        config["base_size"] = order.base_quantity
    if order.quote_value:
        config["quote_size"] = order.quote_value
    if order.limit_price:
        config["limit_price"] = order.limit_price
    if order.expiry_time:
        config["end_time"] = order.expiry_time
    if order.type == "LIMIT" and config_key in ("limit_limit_gtc", "limit_limit_gtd"):
        config["post_only"] = order.post_only
    status = order.status
    if order.type == "STOP_LIMIT":
        config["stop_price"] = order.stop_price
        config["stop_direction"] = _STOP_DIRECTION_BY_SIDE.get(order.side, "")
        if status == "PENDING":  # waiting for its trigger (UNCERTAIN wording): live
            status = "OPEN"
    context = order.user_context
    return Order(
        order_id=order.id,
        product_id=order.product_id,
        side=order.side,
        client_order_id=order.client_order_id,
        status=status,
        order_configuration={config_key: config} if config_key else {},
        time_in_force=order.time_in_force,
        created_time=order.created_at,
        filled_size=dec(order.filled_quantity),
        average_filled_price=dec(order.average_filled_price),
        filled_value=dec(order.filled_value),
        total_fees=dec(order.commission) + dec(order.exchange_fee),
        order_type=order.type,
        reject_reason=context if order.status == "FAILED" else "",
        cancel_message=context if order.status in ("CANCELLED", "EXPIRED") else "",
    )


def prime_statuses(statuses: Iterable[str]) -> list[str]:
    """Advanced Trade status filters → Prime ``order_statuses`` (deduplicated, in order)."""
    out: dict[str, None] = {}
    for status in statuses:
        for prime in _STATUS_TO_PRIME.get(status, (status,)):
            out[prime] = None
    return list(out)
