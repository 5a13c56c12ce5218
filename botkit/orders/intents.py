"""Core ring: order intents and their exact create-order body (reference §2.3).

An :class:`OrderIntent` is a decision to place one order. Its body is
serialised **once** (:meth:`OrderIntent.body`): those bytes are written to the
journal, signed and POSTed on every attempt, and re-POSTed after a restart, so
a retry can never differ from the original by a float format or key order.

Money is ``Decimal`` and goes on the wire as a plain decimal string (never an
exponent: ``Decimal("1E-8")`` is sent as ``"0.00000001"``).

The body is built on the tick-to-order hot path, so it is encoded with msgspec (compact,
key order kept) rather than :mod:`json`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal

import msgspec

__all__ = [
    "OrderIntent",
    "Side",
    "StopDirection",
    "attached_bracket",
    "dec_str",
    "is_botkit_client_order_id",
    "limit_gtc",
    "limit_ioc",
    "market_ioc",
    "stop_limit",
    "trigger_bracket",
]

Side = Literal["BUY", "SELL"]

# msgspec writes compact JSON in insertion order, byte-identical to
# ``json.dumps(doc, separators=(",", ":"))`` for ASCII content (every field Coinbase takes),
# about 10x faster; non-ASCII text is written as UTF-8 instead of \u escapes (both valid JSON).
_encode = msgspec.json.Encoder().encode


# The client_order_id botkit's strategies send (``new_client_order_id`` in
# botkit/strategy/context.py): a lowercase RFC 4122 version-4 UUID string.
_BOTKIT_COID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def is_botkit_client_order_id(client_order_id: str) -> bool:
    """True when the id has the format botkit's strategies give their orders.

    Start-up reconciliation adopts exchange orders with such an id and no journal row.
    Any tool that sends lowercase uuid4 ids matches too (the official SDK generates them
    when asked to): the format says "probably botkit", not "certainly".
    """
    return _BOTKIT_COID.fullmatch(client_order_id) is not None


def dec_str(value: Decimal) -> str:
    """A plain decimal string (no exponent), as Coinbase expects sizes and prices."""
    if not isinstance(value, Decimal):
        raise TypeError(f"money must be Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value}")
    return format(value, "f")


def market_ioc(
    *, quote_size: Decimal | None = None, base_size: Decimal | None = None
) -> dict[str, Any]:
    """``market_market_ioc`` with exactly one of ``quote_size`` / ``base_size``."""
    if (quote_size is None) == (base_size is None):
        raise ValueError("a market order needs exactly one of quote_size or base_size")
    amount = quote_size if quote_size is not None else base_size
    if isinstance(amount, Decimal) and not (amount.is_finite() and amount > 0):  # (-1: sent)
        raise ValueError(f"a market order's size must be positive, got {amount}")
    if quote_size is not None:
        return {"market_market_ioc": {"quote_size": dec_str(quote_size)}}
    assert base_size is not None
    return {"market_market_ioc": {"base_size": dec_str(base_size)}}


def limit_gtc(
    base_size: Decimal, limit_price: Decimal, *, post_only: bool = False
) -> dict[str, Any]:
    """``limit_limit_gtc``: a resting limit order."""
    return {
        "limit_limit_gtc": {
            "base_size": dec_str(base_size),
            "limit_price": dec_str(limit_price),
            "post_only": post_only,
        }
    }


def limit_ioc(base_size: Decimal, limit_price: Decimal) -> dict[str, Any]:
    """``sor_limit_ioc``: a limit order that cancels whatever does not fill at once."""
    return {"sor_limit_ioc": {"base_size": dec_str(base_size), "limit_price": dec_str(limit_price)}}


StopDirection = Literal["STOP_DIRECTION_STOP_UP", "STOP_DIRECTION_STOP_DOWN"]


def stop_limit(
    base_size: Decimal,
    limit_price: Decimal,
    stop_price: Decimal,
    stop_direction: StopDirection,
    *,
    end_time: str | None = None,
) -> dict[str, Any]:
    """``stop_limit_stop_limit_gtc`` (or ``_gtd`` with ``end_time``, RFC 3339).

    Rests untriggered until the last trade reaches ``stop_price`` in ``stop_direction``
    (STOP_DOWN: at or below, a long's stop-loss; STOP_UP: at or above), then works as a
    limit at ``limit_price``.
    """
    if stop_direction not in ("STOP_DIRECTION_STOP_UP", "STOP_DIRECTION_STOP_DOWN"):
        raise ValueError(
            f"stop_direction must be STOP_DIRECTION_STOP_UP/DOWN, got {stop_direction!r}"
        )
    leg: dict[str, Any] = {
        "base_size": dec_str(base_size),
        "limit_price": dec_str(limit_price),
        "stop_price": dec_str(stop_price),
        "stop_direction": stop_direction,
    }
    if end_time is None:
        return {"stop_limit_stop_limit_gtc": leg}
    leg["end_time"] = end_time
    return {"stop_limit_stop_limit_gtd": leg}


def trigger_bracket(
    base_size: Decimal,
    limit_price: Decimal,
    stop_trigger_price: Decimal,
    *,
    end_time: str | None = None,
) -> dict[str, Any]:
    """``trigger_bracket_gtc`` (or ``_gtd`` with ``end_time``): one exit order, two legs.

    The take-profit rests at ``limit_price``; a print at/through ``stop_trigger_price``
    turns the unfilled rest into a stop-limit (one-cancels-other, one size).
    """
    leg: dict[str, Any] = {
        "base_size": dec_str(base_size),
        "limit_price": dec_str(limit_price),
        "stop_trigger_price": dec_str(stop_trigger_price),
    }
    if end_time is None:
        return {"trigger_bracket_gtc": leg}
    leg["end_time"] = end_time
    return {"trigger_bracket_gtd": leg}


def attached_bracket(limit_price: Decimal, stop_trigger_price: Decimal) -> dict[str, Any]:
    """The ``attached_order_configuration`` of a BUY entry: take-profit and stop-loss
    that Coinbase creates as a SELL bracket sized by the entry's fills (no size: it is
    the entry's). Goes in :attr:`OrderIntent.extra` under that key."""
    return {
        "trigger_bracket_gtc": {
            "limit_price": dec_str(limit_price),
            "stop_trigger_price": dec_str(stop_trigger_price),
        }
    }


class OrderIntent(msgspec.Struct, frozen=True):
    """A decision to place one order.

    A frozen msgspec Struct (one per order on the tick -> order path; a frozen
    dataclass's construction cost about four times as much). ``extra`` defaults to a
    new empty dict per intent, as ``field(default_factory=dict)`` did.

    Attributes:
        client_order_id: the idempotency key (§2.5): the same id on every
            attempt, forever; Coinbase returns the existing order for a reused id.
        product_id: e.g. ``BTC-USD``.
        side: ``BUY`` or ``SELL``.
        order_configuration: one §2.3 configuration (see :func:`limit_gtc` etc.).
        extra: further top-level fields (``self_trade_prevention_id``...).
    """

    client_order_id: str
    product_id: str
    side: Side
    order_configuration: dict[str, Any]
    extra: dict[str, Any] = {}

    def __post_init__(self) -> None:
        if not self.client_order_id:
            raise ValueError("an order intent needs a client_order_id (it is the idempotency key)")
        if self.side not in ("BUY", "SELL"):
            raise ValueError(f"side must be BUY or SELL, got {self.side!r}")
        if len(self.order_configuration) != 1:
            raise ValueError("order_configuration must have exactly one key")

    def body(self) -> bytes:
        """The exact create-order body bytes (compact JSON, fixed key order)."""
        doc: dict[str, Any] = {
            "client_order_id": self.client_order_id,
            "product_id": self.product_id,
            "side": self.side,
            "order_configuration": self.order_configuration,
            **self.extra,
        }
        return _encode(doc)
