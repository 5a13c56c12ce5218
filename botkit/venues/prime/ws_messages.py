"""Core ring: Coinbase Prime WebSocket frames and their decoder (reference §2.C).

Prime's feed is enveloped (``channel``, ``timestamp``, ``sequence_num``, ``events``) like
Advanced Trade's, with its own channels and field names: ``l2_data`` levels are
``{side: bid|offer, event_time, px, qty}``, ``orders`` rows are cumulative
(``cum_qty``, ``leaves_qty``, ``avg_px``, ``net_avg_px``, ``fees``), ``heartbeats``
(also seen as ``heartbeat``) carry ``heartbeat_counter`` as an integer (a string is
accepted too), and an error is a flat ``{"type": "error", "message"}``. One msgspec
decoder over a tagged union on ``channel`` validates and dispatches in one call, as the
Advanced Trade decoder does.

:func:`decode` returns a typed frame, an :class:`UnknownMessage` for an envelope of a
channel botkit does not know (its ``sequence_num`` still counts: the counter is
per connection) or an :class:`ErrorFrame`, and raises only :data:`DecodeFailed`
(``msgspec.MsgspecError``, the error the Advanced Trade and Exchange protocols catch) for
anything else: invalid JSON, a known channel with missing or mistyped fields, an event
``type`` other than ``snapshot``/``update``, an order number that is not a plain
non-negative decimal, a ``sequence_num`` out of range, or a frame too deeply nested to
decode. Level2 prices and sizes stay wire strings: the book checks them against the same
:class:`~botkit.market.book_levels.WireLimits`. A ``subscriptions`` ack wrapped in a
one-element JSON array (documented so once, UNCERTAIN) is unwrapped.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from botkit.market.book_levels import DEFAULT_LIMITS, WireLimits
from botkit.market.types import EventType

__all__ = [
    "DecodeFailed",
    "ErrorFrame",
    "Frame",
    "HeartbeatEvent",
    "HeartbeatsMessage",
    "L2Event",
    "L2Level",
    "L2Message",
    "OrderRow",
    "OrdersEvent",
    "OrdersMessage",
    "SubscriptionsEvent",
    "SubscriptionsMessage",
    "UnknownMessage",
    "decode",
    "encode_message",
]

DecodeFailed = msgspec.MsgspecError
"""The one error :func:`decode` raises (the Advanced Trade and Exchange decoders' too)."""


class _Env(msgspec.Struct, tag_field="channel", kw_only=True):
    sequence_num: int
    timestamp: str = ""
    client_id: str = ""


class L2Level(msgspec.Struct, kw_only=True, gc=False):
    """One level: named as the book reads it (``price_level``/``new_quantity``), ``px``/``qty``
    on the wire; ``new_quantity`` absolute, ``"0"`` removes the level."""

    side: str
    price_level: str = msgspec.field(name="px")
    new_quantity: str = msgspec.field(name="qty")
    event_time: str = ""


class L2Event(msgspec.Struct, kw_only=True):
    type: EventType
    product_id: str
    updates: list[L2Level] = msgspec.field(default_factory=list)


class L2Message(_Env, tag="l2_data"):
    events: list[L2Event]


class HeartbeatEvent(msgspec.Struct, kw_only=True):
    current_time: str = ""
    heartbeat_counter: int | str = -1


class HeartbeatsMessage(_Env, tag="heartbeats"):
    events: list[HeartbeatEvent]


class HeartbeatMessage(_Env, tag="heartbeat"):
    """The overview page's singular name for the same channel (both are accepted)."""

    events: list[HeartbeatEvent]


class OrderRow(msgspec.Struct, kw_only=True):
    """One ``orders`` row: the order's **cumulative** state (no per-fill data).

    Numbers stay strings (``""`` is read as unset, 0); :func:`decode` has checked each is
    a plain non-negative decimal. ``side`` and ``order_type`` are lower case on the wire.
    """

    order_id: str
    client_order_id: str = ""
    cum_qty: str = "0"
    leaves_qty: str = "0"
    avg_px: str = "0"
    net_avg_px: str = ""
    fees: str = "0"
    status: str = ""
    product_id: str = ""
    side: str = ""
    order_type: str = ""
    limit_px: str = ""
    user_context: str = ""


class OrdersEvent(msgspec.Struct, kw_only=True):
    type: EventType
    orders: list[OrderRow] = msgspec.field(default_factory=list)


class OrdersMessage(_Env, tag="orders"):
    events: list[OrdersEvent]


class SubscriptionsEvent(msgspec.Struct, kw_only=True):
    subscriptions: dict[str, list[str]] = msgspec.field(default_factory=dict)


class SubscriptionsMessage(_Env, tag="subscriptions"):
    events: list[SubscriptionsEvent]


class ErrorFrame(msgspec.Struct, frozen=True, kw_only=True):
    """A flat ``{"type": "error", "message": …}`` frame: no envelope, no sequence number."""

    message: str
    reason: str = ""


class UnknownMessage(msgspec.Struct, frozen=True, kw_only=True):
    """An envelope of a channel botkit does not know (``products``…): ignored, but counted."""

    channel: str
    sequence_num: int


Frame = L2Message | HeartbeatsMessage | HeartbeatMessage | OrdersMessage | SubscriptionsMessage
_KNOWN = frozenset({"l2_data", "heartbeats", "heartbeat", "orders", "subscriptions"})
_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(Frame)
_ANY: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()
_NUMBER = re.compile(r"[0-9]*\.?[0-9]*")
_ORDER_NUMBERS = ("cum_qty", "leaves_qty", "avg_px", "net_avg_px", "fees", "limit_px")
_MAX_SEQ = 1 << 63


def decode(
    data: str | bytes, limits: WireLimits = DEFAULT_LIMITS
) -> Frame | UnknownMessage | ErrorFrame:
    """Decode one frame; raises only :data:`DecodeFailed` (see the module docstring)."""
    try:
        frame: Frame = _DECODER.decode(data)
    except msgspec.ValidationError:
        other = _classify(data)
        if other is None:
            raise
        if not isinstance(other, _Env):
            return other
        frame = other
    except msgspec.MsgspecError:
        raise
    except Exception as exc:  # RecursionError (deep nesting), MemoryError, ...
        raise msgspec.DecodeError(f"undecodable frame: {type(exc).__name__}") from None
    problem = _check(frame, limits)
    if problem is not None:
        raise msgspec.ValidationError(problem)
    return frame


def _classify(data: str | bytes) -> Frame | UnknownMessage | ErrorFrame | None:
    """Valid JSON but not a known envelope: an error frame, a new channel, a wrapped ack."""
    try:
        raw = _ANY.decode(data)
    except Exception:  # invalid JSON, nesting: the first error stands
        return None
    if isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], dict):
        if raw[0].get("channel") == "subscriptions":
            try:
                ack: Frame = msgspec.convert(raw[0], Frame)
            except Exception:
                return None
            return ack
        return None
    if not isinstance(raw, dict):
        return None
    if raw.get("type") == "error" and "channel" not in raw:
        message, reason = raw.get("message", ""), raw.get("reason", "")
        return ErrorFrame(
            message=(message if isinstance(message, str) else str(message))[:500],
            reason=(reason if isinstance(reason, str) else str(reason))[:500],
        )
    channel, seq = raw.get("channel"), raw.get("sequence_num")
    if isinstance(channel, str) and channel not in _KNOWN and type(seq) is int:
        if not 0 <= seq < _MAX_SEQ:
            return None
        return UnknownMessage(channel=channel[:40], sequence_num=seq)
    return None


def _check(frame: Frame, limits: WireLimits) -> str | None:
    """Why ``frame`` carries something Prime never sends (None when all is sane)."""
    if not 0 <= frame.sequence_num < _MAX_SEQ:
        return "sequence_num out of range"
    if isinstance(frame, OrdersMessage):
        longest = limits.quantity_max_len
        for event in frame.events:
            for row in event.orders:
                for name in _ORDER_NUMBERS:
                    text: str = getattr(row, name)
                    if text and (
                        len(text) > longest or text == "." or _NUMBER.fullmatch(text) is None
                    ):
                        return f"order {row.order_id[:40]}: {name} {text[:24]!r} is not a decimal"
    return None


def encode_message(message: dict[str, Any]) -> str:
    """Compact JSON for an outbound subscribe/unsubscribe message."""
    return _ENCODER.encode(message).decode()
