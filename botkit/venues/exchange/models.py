"""Core ring: Coinbase Exchange REST shapes, and their translation onto botkit's neutral model.

Exchange's results (reference exchange-prime-api.md §1.B) are decoded into frozen
``msgspec.Struct`` types; unknown fields are ignored, so Exchange adding one never breaks a
bot. Amounts are decoded straight into ``Decimal`` (Exchange sends decimal strings, and
candles as JSON numbers, which become ``Decimal`` without passing through a float).

The translations:

* :func:`exchange_create_body` — the executor journals an Advanced Trade-shaped create body
  (:meth:`botkit.orders.intents.OrderIntent.body`, ``order_configuration``); the Exchange
  client sends this function's output to ``POST /orders`` instead. It is a pure function of
  the journaled bytes (fixed key order, compact JSON), so every re-send — a retry, a
  re-POST after a restart — is byte-identical, and so is its signature's input.

  ``client_oid`` must be a UUID on Exchange. botkit's strategies give every order a
  lowercase UUID4 (``botkit.strategy.context.new_client_order_id``), which is sent as is;
  any other id is refused here (:class:`~botkit.errors.OrderRejected`, nothing is sent)
  rather than mapped to a derived UUID, because the executor finds a lost order by reading
  its own id back from the exchange, and a derived id could not be read back.

  =========================  ================================================
  Advanced Trade config      Exchange body
  =========================  ================================================
  ``market_market_ioc``      ``type: market`` + ``size`` (base) or ``funds``
  ``limit_limit_gtc``        ``type: limit``, ``time_in_force: GTC``,
                             ``post_only: true`` when set
  ``sor_limit_ioc``          ``type: limit``, ``time_in_force: IOC``
  ``limit_limit_fok``        ``type: limit``, ``time_in_force: FOK``
  ``stop_limit_…_gtc``       ``type: limit`` + ``stop`` (``loss`` for STOP_DOWN,
                             ``entry`` for STOP_UP) + ``stop_price``
  =========================  ================================================

  Refused (no Exchange equivalent): a limit order sized in quote (Exchange takes ``funds``
  on market orders only), GTD orders (Exchange's GTT expires after a minute, an hour or a
  day, not at a chosen time), GTD stops, brackets, and any extra top-level field.
* :func:`neutral_order` — an Exchange order → :class:`botkit.orders.model.Order`
  (``id`` → ``order_id``, ``client_oid`` → ``client_order_id``, ``pending`` → PENDING,
  ``open``/``active`` → OPEN, ``done`` + ``done_reason`` → FILLED/CANCELLED, ``rejected``
  → FAILED, ``fill_fees`` → ``total_fees``, ``executed_value`` → ``filled_value``, and an
  Advanced Trade ``order_configuration`` rebuilt from type/time_in_force/stop).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import msgspec

from botkit.errors import OrderRejected
from botkit.orders.model import Order

__all__ = [
    "UUID_RE",
    "Account",
    "Book",
    "Candle",
    "ExchangeOrder",
    "Fees",
    "Fill",
    "Product",
    "ServerTime",
    "Ticker",
    "Trade",
    "exchange_create_body",
    "exchange_statuses",
    "neutral_order",
    "neutral_status",
]

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ZERO = Decimal(0)
_TIF = {"limit_limit_gtc": "GTC", "sor_limit_ioc": "IOC", "limit_limit_fok": "FOK"}
_TIF_CONFIG = {v: k for k, v in _TIF.items()}
_AT_TIF = {"GTC": "GOOD_UNTIL_CANCELLED", "GTT": "GOOD_UNTIL_DATE_TIME",
           "IOC": "IMMEDIATE_OR_CANCEL", "FOK": "FILL_OR_KILL"}  # fmt: skip
# Advanced Trade status filters -> the Exchange statuses that can hold them
_STATUS_TO_EXCHANGE: dict[str, tuple[str, ...]] = {
    "OPEN": ("open", "pending", "active"),
    "PENDING": ("pending",),
    "QUEUED": ("pending",),
    "CANCEL_QUEUED": ("open",),
    "FILLED": ("done",),
    "CANCELLED": ("done",),
    "EXPIRED": ("done",),
    "FAILED": ("rejected", "done"),
}


class _S(msgspec.Struct, frozen=True, kw_only=True):
    pass


class ServerTime(_S, frozen=True, kw_only=True):
    iso: str = ""
    epoch: float


class Product(_S, frozen=True, kw_only=True):
    """A product. ``quote_increment`` is the **price** tick on Exchange."""

    id: str
    base_currency: str = ""
    quote_currency: str = ""
    quote_increment: Decimal = _ZERO
    base_increment: Decimal = _ZERO
    min_market_funds: Decimal = _ZERO
    display_name: str = ""
    status: str = ""
    status_message: str = ""
    post_only: bool = False
    limit_only: bool = False
    cancel_only: bool = False
    trading_disabled: bool = False

    @property
    def tradable(self) -> bool:
        """Online, not cancel-only, trading not disabled."""
        return self.status == "online" and not self.cancel_only and not self.trading_disabled


class Account(_S, frozen=True, kw_only=True):
    """One currency of the key's profile: ``balance = available + hold``."""

    id: str
    currency: str
    balance: Decimal = _ZERO
    hold: Decimal = _ZERO
    available: Decimal = _ZERO
    profile_id: str = ""
    trading_enabled: bool = True


class Book(_S, frozen=True, kw_only=True):
    """``GET /products/{id}/book``: rows ``[price, size, num_orders]`` (level 2)."""

    bids: list[tuple[Decimal, Decimal, int]] = []
    asks: list[tuple[Decimal, Decimal, int]] = []
    sequence: int = 0
    time: str = ""


class Ticker(_S, frozen=True, kw_only=True):
    trade_id: int = 0
    price: Decimal = _ZERO
    size: Decimal = _ZERO
    time: str = ""
    bid: str = ""
    ask: str = ""
    volume: Decimal = _ZERO


class Trade(_S, frozen=True, kw_only=True):
    """A public trade; ``side`` is the **maker's** side on Exchange."""

    trade_id: int
    time: str = ""
    price: Decimal = _ZERO
    size: Decimal = _ZERO
    side: str = ""


class Candle(msgspec.Struct, frozen=True, array_like=True):
    """One candle row, ``[time, low, high, open, close, volume]`` (that order on Exchange)."""

    time: int
    low: Decimal
    high: Decimal
    open: Decimal
    close: Decimal
    volume: Decimal


class Fees(_S, frozen=True, kw_only=True):
    maker_fee_rate: Decimal = _ZERO
    taker_fee_rate: Decimal = _ZERO
    usd_volume: Decimal = _ZERO


class Fill(_S, frozen=True, kw_only=True):
    """One execution of the user's order; ``side`` is the user's own side, ``fee`` in quote."""

    trade_id: int
    order_id: str = ""
    product_id: str = ""
    created_at: str = ""
    liquidity: str = ""
    price: Decimal = _ZERO
    size: Decimal = _ZERO
    fee: Decimal = _ZERO
    side: str = ""
    settled: bool = False
    usd_volume: str = ""


class ExchangeOrder(_S, frozen=True, kw_only=True):
    """An order as Exchange reports it (reference §1.B.2); fields absent on a pending one
    default to empty."""

    id: str
    product_id: str = ""
    side: str = ""
    type: str = ""
    price: str = ""
    size: str = ""
    funds: str = ""
    specified_funds: str = ""
    time_in_force: str = ""
    expire_time: str = ""
    post_only: bool = False
    created_at: str = ""
    done_at: str = ""
    done_reason: str = ""
    reject_reason: str = ""
    cancel_reason: str = ""
    fill_fees: Decimal = _ZERO
    filled_size: Decimal = _ZERO
    executed_value: Decimal = _ZERO
    status: str = ""
    settled: bool = False
    stop: str = ""
    stop_price: str = ""
    client_oid: str = ""
    profile_id: str = ""


def _reject(message: str, reason: str = "UNSUPPORTED_ORDER_CONFIGURATION") -> OrderRejected:
    return OrderRejected(message, reason=reason)


def exchange_create_body(at_body: bytes) -> bytes:
    """The ``POST /orders`` body for a journaled Advanced Trade-shaped body (pure; table above).

    Keys in a fixed order — ``client_oid, product_id, side, type, price, size | funds,
    time_in_force, post_only, stop, stop_price`` — unset ones omitted, compact JSON.

    Raises:
        OrderRejected: no Exchange equivalent, an unknown extra field, or a ``client_oid``
            that is not a UUID. The executor records the intent REJECTED (nothing was sent).
    """
    doc = json.loads(at_body)
    config_doc = doc.get("order_configuration") or {}
    if not isinstance(config_doc, dict) or len(config_doc) != 1:
        raise _reject("order_configuration must have exactly one key")
    ((key, config),) = config_doc.items()
    extra = set(doc) - {"client_order_id", "product_id", "side", "order_configuration"}
    if extra:
        raise _reject(f"fields {sorted(extra)} have no Coinbase Exchange equivalent; remove them")
    coid = str(doc.get("client_order_id", ""))
    if not UUID_RE.fullmatch(coid):
        raise _reject(
            f"client_order_id {coid!r} is not a UUID: Coinbase Exchange takes only UUIDs as "
            "client_oid; use botkit's default ids (new_client_order_id) or uuid4 strings",
            "INVALID_CLIENT_OID",
        )
    side = str(doc.get("side", ""))
    if side not in ("BUY", "SELL"):
        raise _reject(f"side must be BUY or SELL, not {side!r}", "INVALID_SIDE")
    out: dict[str, Any] = {
        "client_oid": coid,
        "product_id": doc["product_id"],
        "side": side.lower(),
    }
    base, quote = config.get("base_size"), config.get("quote_size")
    if key == "market_market_ioc":
        out["type"] = "market"
        if base:
            out["size"] = base
        elif quote:
            out["funds"] = quote
        else:
            raise _reject("a market order needs base_size or quote_size")
        return json.dumps(out, separators=(",", ":")).encode()
    if key not in _TIF and key != "stop_limit_stop_limit_gtc":
        raise _reject(
            f"{key} is not supported on Coinbase Exchange by botkit; use market_ioc, limit_gtc, "
            "limit_ioc, limit_fok or stop_limit_gtc (Exchange's GTT cannot expire at a chosen "
            "time)"
        )
    if not base:
        raise _reject(
            "a limit order on Coinbase Exchange must be sized in base (base_size); Exchange "
            "takes a quote amount (funds) on market orders only"
        )
    out["type"] = "limit"
    out["price"] = config["limit_price"]
    out["size"] = base
    if key in _TIF:
        out["time_in_force"] = _TIF[key]
        if config.get("post_only") is True:
            out["post_only"] = True
    else:
        direction = config.get("stop_direction")
        if direction not in ("STOP_DIRECTION_STOP_DOWN", "STOP_DIRECTION_STOP_UP"):
            raise _reject("stop_direction must be STOP_DIRECTION_STOP_DOWN or _STOP_UP")
        out["stop"] = "loss" if direction == "STOP_DIRECTION_STOP_DOWN" else "entry"
        out["stop_price"] = config["stop_price"]
    return json.dumps(out, separators=(",", ":")).encode()


def neutral_status(order: ExchangeOrder) -> str:
    """Exchange's ``status``/``done_reason`` → botkit's (Advanced Trade) status name.

    A stop order not done yet is live whatever Exchange calls it while it waits for its
    trigger (``active`` in the simulator; ``open`` or ``pending`` are the other readings,
    the reference is UNCERTAIN): ``OPEN``, as Advanced Trade reports an untriggered
    stop-limit, so an open-orders listing finds it.
    """
    if order.stop and order.status in ("pending", "received", "open", "active"):
        return "OPEN"
    if order.status == "pending" or order.status == "received":
        return "PENDING"
    if order.status in ("open", "active"):
        return "OPEN"
    if order.status == "rejected" or order.done_reason == "rejected":
        return "FAILED"
    if order.status == "done":
        return "FILLED" if order.done_reason == "filled" else "CANCELLED"
    return order.status.upper()


def neutral_order(order: ExchangeOrder) -> Order:
    """An Exchange order on botkit's neutral model (see the module docstring)."""
    config: dict[str, Any] = {}
    if order.size:
        config["base_size"] = order.size
    if order.funds and order.type == "market":
        config["quote_size"] = order.funds
    if order.type == "market":
        key, tif, kind = "market_market_ioc", "IMMEDIATE_OR_CANCEL", "MARKET"
    elif order.stop:
        key, tif, kind = "stop_limit_stop_limit_gtc", "GOOD_UNTIL_CANCELLED", "STOP_LIMIT"
        config["stop_price"] = order.stop_price
        config["stop_direction"] = (
            "STOP_DIRECTION_STOP_DOWN" if order.stop == "loss" else "STOP_DIRECTION_STOP_UP"
        )
    else:
        tif_code = order.time_in_force or "GTC"
        key = _TIF_CONFIG.get(tif_code, "limit_limit_gtd" if tif_code == "GTT" else "")
        tif, kind = _AT_TIF.get(tif_code, tif_code), "LIMIT"
        if tif_code in ("GTC", "GTT"):
            config["post_only"] = order.post_only
        if order.expire_time:
            config["end_time"] = order.expire_time
    if order.price:
        config["limit_price"] = order.price
    status = neutral_status(order)
    average = order.executed_value / order.filled_size if order.filled_size else _ZERO
    return Order(
        order_id=order.id,
        product_id=order.product_id,
        side=order.side.upper(),
        client_order_id=order.client_oid,
        status=status,
        order_configuration={key: config} if key else {},
        time_in_force=tif,
        created_time=order.created_at,
        filled_size=order.filled_size,
        average_filled_price=average,
        filled_value=order.executed_value,
        total_fees=order.fill_fees,
        order_type=kind,
        reject_reason=order.reject_reason if status == "FAILED" else "",
        cancel_message=order.cancel_reason if status == "CANCELLED" else "",
    )


def exchange_statuses(statuses: Iterable[str] | None) -> list[str]:
    """botkit (Advanced Trade) status filters → Exchange ``status`` values (``all`` if none).

    Exchange's statuses are coarser (``done`` holds FILLED and CANCELLED), so the client
    filters the page by :func:`neutral_status` as well.
    """
    if not statuses:
        return ["all"]
    out: dict[str, None] = {}
    for status in statuses:
        for name in _STATUS_TO_EXCHANGE.get(status, (status.lower(),)):
            out[name] = None
    return list(out)
