"""Core ring: Coinbase Exchange WebSocket frames and their decoder (reference §1.C).

Exchange's feed is flat: each frame is one JSON object whose ``type`` says what it is
(``subscriptions``, ``heartbeat``, ``ticker``, ``snapshot``, ``l2update``, ``match``,
``last_match``, ``received``, ``open``, ``done``, ``change``, ``activate``, ``status``,
``error``). One msgspec decoder over a tagged union on ``type`` validates and dispatches in
one call, as the Advanced Trade decoder does (:mod:`botkit.venues.advanced_trade.messages`).

:func:`decode` returns a typed frame, or :class:`UnknownFrame` for a ``type`` botkit does
not know (clients must ignore those, §1.C), and raises only :data:`DecodeFailed`
(``msgspec.MsgspecError``, the error the Advanced Trade protocol catches) for anything
else: invalid JSON, a known type with missing or mistyped fields, a number that Exchange
never sends (not finite, negative, a price <= 0, beyond :class:`WireLimits`), or a frame
too deeply nested to decode. Money is ``Decimal``; level2 prices and sizes stay wire
strings (the book checks them).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from botkit.market.book_levels import DEFAULT_LIMITS, WireLimits

__all__ = [
    "Activate",
    "Change",
    "DecodeFailed",
    "Done",
    "ErrorFrame",
    "Frame",
    "HeartbeatFrame",
    "L2Snapshot",
    "L2UpdateFrame",
    "LastMatch",
    "Match",
    "OpenFrame",
    "Received",
    "StatusFrame",
    "StatusProductWire",
    "SubscribedChannel",
    "SubscriptionsFrame",
    "TickerFrame",
    "UnknownFrame",
    "decode",
    "encode_message",
]

DecodeFailed = msgspec.MsgspecError
"""The one error :func:`decode` raises (the Advanced Trade decoder's, too)."""


class _F(msgspec.Struct, tag_field="type", kw_only=True):
    pass


class SubscribedChannel(msgspec.Struct, kw_only=True):
    name: str
    product_ids: list[str] = msgspec.field(default_factory=list)


class SubscriptionsFrame(_F, tag="subscriptions"):
    """The full current subscription set, after every subscribe/unsubscribe."""

    channels: list[SubscribedChannel] = msgspec.field(default_factory=list)


class HeartbeatFrame(_F, tag="heartbeat"):
    """A product's heartbeat: its current ``sequence`` and last trade id."""

    product_id: str
    sequence: int
    last_trade_id: int
    time: str = ""


class TickerFrame(_F, tag="ticker"):
    """``ticker`` and ``ticker_batch`` frames (both are ``type: ticker``)."""

    product_id: str
    price: Decimal
    sequence: int | None = None
    open_24h: Decimal | None = None
    volume_24h: Decimal | None = None
    low_24h: Decimal | None = None
    high_24h: Decimal | None = None
    volume_30d: Decimal | None = None
    best_bid: Decimal | None = None
    best_bid_size: Decimal | None = None
    best_ask: Decimal | None = None
    best_ask_size: Decimal | None = None
    side: str = ""
    time: str = ""
    trade_id: int | None = None
    last_size: Decimal | None = None


class L2Snapshot(_F, tag="snapshot"):
    """The first ``level2`` frame: ``[price, size]`` pairs (strings, as sent)."""

    product_id: str
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


class L2UpdateFrame(_F, tag="l2update"):
    """``[side, price, new size]`` changes; ``side`` is ``buy``/``sell``; no ``sequence``."""

    product_id: str
    changes: list[tuple[str, str, str]]
    time: str = ""


class Match(_F, tag="match"):
    """A trade; ``side`` is the **maker's**. Private fields only on the ``user`` channel."""

    product_id: str
    trade_id: int
    price: Decimal
    size: Decimal
    side: str
    sequence: int | None = None
    maker_order_id: str = ""
    taker_order_id: str = ""
    time: str = ""
    user_id: str | None = None
    profile_id: str | None = None
    maker_fee_rate: Decimal | None = None
    taker_fee_rate: Decimal | None = None

    @property
    def private(self) -> bool:
        """Carries the user's fields (a ``user``-channel match)."""
        return self.user_id is not None or self.profile_id is not None


class LastMatch(Match, tag="last_match"):
    """The product's last trade, sent once when ``matches`` is subscribed."""


class Received(_F, tag="received"):
    product_id: str
    order_id: str
    side: str
    sequence: int | None = None
    order_type: str = ""
    size: Decimal | None = None
    price: Decimal | None = None
    funds: Decimal | None = None
    client_oid: str = ""
    time: str = ""


class OpenFrame(_F, tag="open"):
    product_id: str
    order_id: str
    sequence: int | None = None
    side: str = ""
    price: Decimal | None = None
    remaining_size: Decimal | None = None
    time: str = ""


class Done(_F, tag="done"):
    product_id: str
    order_id: str
    reason: str
    sequence: int | None = None
    side: str = ""
    price: Decimal | None = None
    remaining_size: Decimal | None = None
    cancel_reason: str = ""
    time: str = ""


class Change(_F, tag="change"):
    product_id: str
    order_id: str
    sequence: int | None = None
    side: str = ""
    reason: str = ""
    price: Decimal | None = None
    new_size: Decimal | None = None
    old_size: Decimal | None = None
    new_price: Decimal | None = None
    old_price: Decimal | None = None
    time: str = ""


class Activate(_F, tag="activate"):
    """A stop order was placed (no book effect; kept for completeness)."""

    product_id: str
    order_id: str = ""


class StatusProductWire(msgspec.Struct, kw_only=True):
    id: str
    base_currency: str = ""
    quote_currency: str = ""
    base_increment: str = ""
    quote_increment: str = ""
    display_name: str = ""
    status: str = ""
    status_message: str = ""
    min_market_funds: str = ""


class StatusFrame(_F, tag="status"):
    products: list[StatusProductWire] = msgspec.field(default_factory=list)


class ErrorFrame(_F, tag="error"):
    """``{"type":"error","message","reason"}``; an auth failure's ``reason`` is JSON text."""

    message: str = ""
    reason: str = ""


class UnknownFrame(msgspec.Struct, frozen=True, kw_only=True):
    """A frame of a ``type`` botkit does not know: ignored (clients must, §1.C)."""

    type: str


Frame = (
    SubscriptionsFrame
    | HeartbeatFrame
    | TickerFrame
    | L2Snapshot
    | L2UpdateFrame
    | Match
    | LastMatch
    | Received
    | OpenFrame
    | Done
    | Change
    | Activate
    | StatusFrame
    | ErrorFrame
)
_KNOWN = frozenset(
    {"subscriptions", "heartbeat", "ticker", "snapshot", "l2update", "match", "last_match",
     "received", "open", "done", "change", "activate", "status", "error"}
)  # fmt: skip


class _TypeOnly(msgspec.Struct):
    type: str


_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(Frame)
_TYPE: msgspec.json.Decoder[_TypeOnly] = msgspec.json.Decoder(_TypeOnly)
_ENCODER = msgspec.json.Encoder()

_PRICES = ("price", "best_bid", "best_ask", "open_24h", "low_24h", "high_24h")
_SIZES = ("size", "volume_24h", "volume_30d", "best_bid_size", "best_ask_size", "last_size",
          "remaining_size", "funds", "new_size", "old_size")  # fmt: skip


def decode(data: str | bytes, limits: WireLimits = DEFAULT_LIMITS) -> Frame | UnknownFrame:
    """Decode one frame; raises only :data:`DecodeFailed` (see the module docstring)."""
    try:
        frame: Frame = _DECODER.decode(data)
    except msgspec.ValidationError:
        kind = _type_of(data)
        if kind is not None and kind not in _KNOWN:
            return UnknownFrame(type=kind[:40])
        raise
    except msgspec.MsgspecError:
        raise
    except Exception as exc:  # RecursionError (deep nesting), MemoryError, ...
        raise msgspec.DecodeError(f"undecodable frame: {type(exc).__name__}") from None
    problem = _check(frame, limits)
    if problem is not None:
        raise msgspec.ValidationError(problem)
    return frame


def _type_of(data: str | bytes) -> str | None:
    try:
        return _TYPE.decode(data).type
    except Exception:  # not an object with a string "type": the first error stands
        return None


def _bad(value: Decimal, price: bool, limits: WireLimits) -> str | None:
    if not value.is_finite():
        return "not finite"
    if value.is_signed() and value:
        return "negative"
    if price and not value:
        return "not positive"
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent > 0:
        return "in exponent form"
    if -exponent > limits.max_fraction_digits:
        return "too many fraction digits"
    if abs(value) > (limits.max_price if price else limits.max_quantity):
        return "out of bounds"
    return None


def _check(frame: Frame, limits: WireLimits) -> str | None:
    """Why ``frame`` carries a number Exchange never sends (None when all are sane)."""
    for names, price in ((_PRICES, True), (_SIZES, False)):
        for name in names:
            value = getattr(frame, name, None)
            if isinstance(value, Decimal):
                why = _bad(value, price, limits)
                if why is not None:
                    return f"{type(frame).__name__} {name} {why}"
    if isinstance(frame, Match | LastMatch) and not frame.size:
        return "match size not positive"
    for name in ("maker_fee_rate", "taker_fee_rate"):
        rate = getattr(frame, name, None)
        if isinstance(rate, Decimal) and (not rate.is_finite() or not 0 <= rate < 1):
            return f"match {name} out of range"
    for name in ("sequence", "trade_id", "last_trade_id"):
        n = getattr(frame, name, None)
        if isinstance(n, int) and not 0 <= n < 1 << 63:
            return f"{name} out of range"
    return None


def encode_message(message: dict[str, Any]) -> str:
    """Compact JSON for an outbound subscribe/unsubscribe message."""
    return _ENCODER.encode(message).decode()
