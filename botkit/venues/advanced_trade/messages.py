"""Core ring: Coinbase Advanced Trade WebSocket wire schemas and their decoder.

Every frame the market-data and user endpoints send is decoded here, straight from
bytes/str into typed ``msgspec`` Structs (reference §3.3-§3.6). msgspec was chosen
over ``json.loads`` + dicts because it is 3-5x faster on ``l2_data`` and ``ticker``
frames (docs/benchmarks.md) and gives attribute access with types.

Choices:

* The envelope is a tagged union on ``channel`` (``l2_data`` for level2), so one
  decode call both validates and dispatches.
* The level2 schemas (exact, hot-path and bulk forms) are in
  :mod:`botkit.venues.advanced_trade.messages_l2` and re-exported here: this module stays the one
  place to import wire types from. ``new_quantity`` of the exact form and every
  other money field is ``Decimal`` (exact, no floats).
* The feed's hot path decodes ``l2_data`` with ``decode_frame(data, fast_l2=True)``
  (or :data:`decode_fast`) into :class:`L2Data`, whose quantities stay wire strings.
* User-channel order fields stay strings: Coinbase sends ``""`` for unset numbers
  (``stop_price``), which a ``Decimal`` field would reject; the fill logic in
  :mod:`botkit.orders.fills` converts what it needs.
* Frames that are not a known envelope are classified by :func:`decode_frame` as an
  :class:`ErrorFrame`, an :class:`UnknownMessage` (still carrying its
  ``sequence_num``, because the counter is connection-wide) or :class:`Malformed`.
* What Coinbase never sends is refused, so that it can reach neither a book nor a
  strategy: event ``type`` values other than ``snapshot``/``update`` (by the schema),
  and, by :func:`check_values`, numbers that are not finite, negative where a size or
  price is meant, prices <= 0, or beyond :class:`~botkit.market.book_levels.WireLimits`.
  Level2 sizes and prices stay strings here and are checked by the book, by the
  same limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from botkit.market.book_levels import DEFAULT_LIMITS, WireLimits
from botkit.market.types import Candle, MarketTrade, StatusProduct, Ticker
from botkit.orders.model import UserEvent, UserOrder
from botkit.venues.advanced_trade.messages_l2 import (
    EventType,
    L2Bulk,
    L2BulkEvent,
    L2Data,
    L2DataEvent,
    L2Event,
    L2Level,
    L2Message,
    L2Update,
    _Env,  # the envelope base, shared with the level2 schemas
    decode_l2_bulk,
)

__all__ = [
    "Candle",
    "CandlesEvent",
    "CandlesMessage",
    "Envelope",
    "ErrorFrame",
    "Frame",
    "HeartbeatEvent",
    "HeartbeatsMessage",
    "L2Event",
    "L2Level",
    "L2Bulk",
    "L2BulkEvent",
    "L2Data",
    "L2DataEvent",
    "L2Message",
    "L2Update",
    "Malformed",
    "MarketTrade",
    "MarketTradesEvent",
    "MarketTradesMessage",
    "StatusEvent",
    "StatusMessage",
    "StatusProduct",
    "SubscriptionsEvent",
    "SubscriptionsMessage",
    "Ticker",
    "TickerBatchMessage",
    "TickerEvent",
    "TickerMessage",
    "UnknownMessage",
    "UserEvent",
    "UserMessage",
    "UserOrder",
    "DecodeFailed",
    "EventType",
    "WireLimits",
    "channel_of",
    "check_values",
    "decode_fast",
    "decode_l2_bulk",
    "decode_frame",
    "encode_message",
]


class HeartbeatEvent(msgspec.Struct, kw_only=True):
    """``current_time`` is Go's ``time.String()``; the counter is a string on the wire."""

    current_time: str = ""
    heartbeat_counter: str = "0"


class TickerEvent(msgspec.Struct, kw_only=True):
    type: EventType
    tickers: list[Ticker]


class MarketTradesEvent(msgspec.Struct, kw_only=True):
    type: EventType
    trades: list[MarketTrade]


class CandlesEvent(msgspec.Struct, kw_only=True):
    type: EventType
    candles: list[Candle]


class StatusEvent(msgspec.Struct, kw_only=True):
    type: EventType
    products: list[StatusProduct]


class SubscriptionsEvent(msgspec.Struct, kw_only=True):
    subscriptions: dict[str, list[str]] = msgspec.field(default_factory=dict)


class HeartbeatsMessage(_Env, tag="heartbeats"):
    events: list[HeartbeatEvent]


class TickerMessage(_Env, tag="ticker"):
    events: list[TickerEvent]


class TickerBatchMessage(_Env, tag="ticker_batch"):
    events: list[TickerEvent]


class MarketTradesMessage(_Env, tag="market_trades"):
    events: list[MarketTradesEvent]


class CandlesMessage(_Env, tag="candles"):
    events: list[CandlesEvent]


class StatusMessage(_Env, tag="status"):
    events: list[StatusEvent]


class UserMessage(_Env, tag="user"):
    events: list[UserEvent]


class SubscriptionsMessage(_Env, tag="subscriptions"):
    events: list[SubscriptionsEvent]


_OTHERS = (
    HeartbeatsMessage
    | TickerMessage
    | TickerBatchMessage
    | MarketTradesMessage
    | CandlesMessage
    | StatusMessage
    | UserMessage
    | SubscriptionsMessage
)
Envelope = L2Message | _OTHERS
"""Every enveloped message type botkit understands."""


class ErrorFrame(msgspec.Struct, frozen=True, kw_only=True):
    """A flat ``{"type":"error"}`` frame: no envelope, no sequence number (§3.6)."""

    message: str
    reason: str = ""


class UnknownMessage(msgspec.Struct, frozen=True, kw_only=True):
    """An envelope of a channel botkit does not know; ignored but its sequence counts."""

    channel: str
    sequence_num: int | None


class Malformed(msgspec.Struct, frozen=True, kw_only=True):
    """A frame that is not valid JSON or not a valid message; counted, never fatal.

    ``channel`` is the envelope's channel when it could be read: a malformed
    ``l2_data`` frame means lost book changes, so the feed resynchronises.
    """

    problem: str
    sequence_num: int | None = None
    channel: str | None = None


Frame = Envelope | L2Data | ErrorFrame | UnknownMessage | Malformed

_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(Envelope)
_FAST: msgspec.json.Decoder[Any] = msgspec.json.Decoder(L2Data | _OTHERS)
_ANY: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_KNOWN = frozenset(
    {
        "l2_data",
        "heartbeats",
        "ticker",
        "ticker_batch",
        "market_trades",
        "candles",
        "status",
        "user",
        "subscriptions",
    }
)
_ENCODER = msgspec.json.Encoder()


def decode_frame(
    data: str | bytes, *, fast_l2: bool = False, limits: WireLimits = DEFAULT_LIMITS
) -> Frame:
    """Decode one WebSocket text frame; never raises, whatever ``data`` is.

    Args:
        data: the frame payload exactly as received.
        fast_l2: decode ``l2_data`` as :class:`L2Data` (quantities left as strings).
        limits: the bounds :func:`check_values` applies to numbers.

    Returns:
        A typed envelope, an :class:`ErrorFrame`, an :class:`UnknownMessage` or
        :class:`Malformed` (with the ``sequence_num`` and ``channel`` when they could
        be read, so a bad but enveloped frame still advances sequence tracking). A
        frame too deeply nested to decode (msgspec recurses) is :class:`Malformed`
        too, as is any other failure of the decoder.
    """
    try:
        msg: Envelope | L2Data = (_FAST if fast_l2 else _DECODER).decode(data)
    except msgspec.ValidationError as exc:
        problem = str(exc)
    except msgspec.DecodeError as exc:
        return Malformed(problem=f"invalid JSON: {str(exc)[:200]}")
    except RecursionError:
        return Malformed(problem="JSON nested too deeply")
    except Exception as exc:  # e.g. MemoryError: not a frame worth more effort
        return Malformed(problem=f"undecodable frame: {type(exc).__name__}")
    else:
        bad = check_values(msg, limits)
        if bad is None:
            return msg
        return Malformed(problem=bad, sequence_num=msg.sequence_num, channel=_CHANNEL[type(msg)])
    return _classify(data, problem[:200])


def _classify(data: str | bytes, problem: str) -> Frame:
    """Valid JSON, but not an envelope we know: an error frame, a new channel, or junk."""
    try:
        raw = _ANY.decode(data)
    except Exception:  # pragma: no cover - the typed decoder saw valid JSON
        return Malformed(problem=problem)
    if not isinstance(raw, dict):
        return Malformed(problem="frame is not a JSON object")
    seq = raw.get("sequence_num")
    seq = seq if type(seq) is int else None
    if raw.get("type") == "error" and "channel" not in raw:
        return ErrorFrame(
            message=str(raw.get("message", ""))[:500], reason=str(raw.get("reason", ""))[:500]
        )
    channel = raw.get("channel")
    channel = channel[:40] if isinstance(channel, str) else None
    if channel is not None and channel not in _KNOWN and seq is not None:
        return UnknownMessage(channel=channel, sequence_num=seq)
    return Malformed(problem=problem, sequence_num=seq, channel=channel)


# -- value checks -------------------------------------------------------------------------

_CHANNEL: dict[type, str] = {
    L2Message: "l2_data",
    L2Data: "l2_data",
    HeartbeatsMessage: "heartbeats",
    TickerMessage: "ticker",
    TickerBatchMessage: "ticker_batch",
    MarketTradesMessage: "market_trades",
    CandlesMessage: "candles",
    StatusMessage: "status",
    UserMessage: "user",
    SubscriptionsMessage: "subscriptions",
}
_POSITIVE, _NON_NEGATIVE, _SIGNED = 0, 1, 2
_TICKER_FIELDS = (
    ("price", _POSITIVE, True),
    ("best_bid", _POSITIVE, True),
    ("best_ask", _POSITIVE, True),
    ("low_24_h", _NON_NEGATIVE, True),
    ("high_24_h", _NON_NEGATIVE, True),
    ("low_52_w", _NON_NEGATIVE, True),
    ("high_52_w", _NON_NEGATIVE, True),
    ("price_percent_chg_24_h", _SIGNED, True),
    ("volume_24_h", _NON_NEGATIVE, False),
    ("best_bid_quantity", _NON_NEGATIVE, False),
    ("best_ask_quantity", _NON_NEGATIVE, False),
)
_CANDLE_FIELDS = (
    ("high", _POSITIVE, True),
    ("low", _POSITIVE, True),
    ("open", _POSITIVE, True),
    ("close", _POSITIVE, True),
    ("volume", _NON_NEGATIVE, False),
)
_ORDER_FIELDS = (
    "cumulative_quantity",
    "leaves_quantity",
    "avg_price",
    "total_fees",
    "filled_value",
    "number_of_fills",
    "limit_price",
    "stop_price",
)
_USER_NUMBER = re.compile(r"-?[0-9]*\.?[0-9]*")


def channel_of(frame: Frame | L2Bulk) -> str | None:
    """The wire ``channel`` of a decoded frame (None for error frames)."""
    if isinstance(frame, UnknownMessage | Malformed):
        return frame.channel
    if isinstance(frame, L2Bulk):
        return "l2_data"
    return _CHANNEL.get(type(frame))


def decimal_exponent(value: Decimal) -> int:
    """``value.as_tuple().exponent`` of a finite Decimal, at a third of its cost.

    Why: the feed checks every ticker number (eleven per ticker) on the tick -> order
    path, and ``as_tuple`` builds a tuple of every digit. ``str`` writes a finite Decimal
    in plain notation exactly when its exponent is <= 0 and it is not tiny, so the
    fraction digits after the point are ``-exponent``; any other form (``1E+3``,
    ``1E-7``) is read with ``as_tuple`` as before.
    """
    text = str(value)
    if "E" in text:
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)  # finite
        return exponent
    point = text.find(".")
    return 0 if point < 0 else point + 1 - len(text)


def _bad_number(value: Decimal | None, kind: int, price: bool, limits: WireLimits) -> str | None:
    """Why ``value`` is not a number Coinbase would send, or None when it is fine."""
    if value is None:
        return None
    if not value.is_finite():
        return "not finite"
    if kind != _SIGNED and value.is_signed():
        return "negative"
    if kind == _POSITIVE and not value:
        return "not positive"
    exponent = decimal_exponent(value)
    if exponent > 0:
        return "in exponent form"  # "1e3": plain decimals never have a positive exponent
    if -exponent > limits.max_fraction_digits:
        return "too many fraction digits"
    if abs(value) > (limits.max_price if price else limits.max_quantity):
        return "out of bounds"
    return None


_DIGITS = frozenset("0123456789")


def check_values(frame: Envelope | L2Data, limits: WireLimits = DEFAULT_LIMITS) -> str | None:
    """Why ``frame`` carries a number Coinbase never sends, or None when all are sane.

    Ticker, trade and candle numbers are decoded as ``Decimal``; they must be finite,
    within ``limits`` (fraction digits, ``max_price`` for prices, ``max_quantity`` for
    sizes and volumes) and not in exponent form (``1e3``); prices and trade sizes
    must be > 0, other sizes >= 0. User-channel numbers stay strings: each must be
    empty (unset) or a plain decimal. Level2 strings are the book's to check.
    """
    if isinstance(frame, TickerMessage | TickerBatchMessage):
        lens = (limits.quantity_fast_len, limits.price_fast_len)  # indexed by `price`
        for tev in frame.events:
            for t in tev.tickers:
                for name, kind, price in _TICKER_FIELDS:
                    # The trades' fast path below, per field (eleven per ticker, on the
                    # tick -> order path): a plain string of digits no longer than the
                    # bound's fast length passes every check; a signed field may also
                    # start with "-"; a positive one must be non-zero. Any other value
                    # (None included) is judged by _bad_number, with the same outcome
                    # (tests/venues/test_trade_numbers.py holds the two to it).
                    value = getattr(t, name)
                    if value is None:
                        continue
                    text = str(value)
                    if kind == _SIGNED and text[0] == "-":
                        text = text[1:]
                    if (
                        len(text) <= lens[price]
                        and text[0] in _DIGITS
                        and "E" not in text
                        and (value or kind != _POSITIVE)
                    ):
                        continue
                    why = _bad_number(value, kind, price, limits)
                    if why is not None:
                        return f"{t.product_id[:20]}: ticker {name} {why}"
    elif isinstance(frame, MarketTradesMessage):
        price_len, size_len = limits.price_fast_len, limits.quantity_fast_len
        for trev in frame.events:
            for tr in trev.trades:
                # The common case in a few string tests instead of two _bad_number
                # calls (a replay checks every print). str() of a Decimal starts with a
                # digit exactly when it is finite and unsigned (not NaN, sNaN, Infinity,
                # "-..."), and has no "E" exactly when it is plain, which needs an
                # exponent <= 0 with -exponent digits after the point. A plain string of
                # at most price_len (size_len) characters is below 10**len <= the bound
                # and has fewer than len fraction digits; non-zero, it is positive. Any
                # other value is judged by _bad_number (the same outcome as before; a
                # differential test holds the two to it).
                p, s = tr.price, tr.size
                ptext, stext = str(p), str(s)
                if (
                    len(ptext) <= price_len
                    and len(stext) <= size_len
                    and ptext[0] in _DIGITS
                    and stext[0] in _DIGITS
                    and "E" not in ptext
                    and "E" not in stext
                    and p
                    and s
                ):
                    continue
                for name, value, price in (("price", p, True), ("size", s, False)):
                    why = _bad_number(value, _POSITIVE, price, limits)
                    if why is not None:
                        return f"{tr.product_id[:20]}: trade {name} {why}"
    elif isinstance(frame, CandlesMessage):
        for cev in frame.events:
            for c in cev.candles:
                for name, kind, price in _CANDLE_FIELDS:
                    why = _bad_number(getattr(c, name), kind, price, limits)
                    if why is not None:
                        return f"{c.product_id[:20]}: candle {name} {why}"
    elif isinstance(frame, UserMessage):
        for uev in frame.events:
            for o in uev.orders:
                for name in _ORDER_FIELDS:
                    text = getattr(o, name)
                    if text and (
                        len(text) > limits.quantity_max_len
                        or _USER_NUMBER.fullmatch(text) is None
                        or text in ("-", ".", "-.")
                    ):
                        return f"order {o.order_id[:40]}: {name} {text[:24]!r} is not a decimal"
    return None


DecodeFailed = msgspec.MsgspecError
"""What :func:`decode_fast` raises (invalid JSON or not a known envelope)."""


decode_fast: Callable[[str | bytes], L2Data | Envelope] = _FAST.decode
"""The feed's hot path: ``decode_frame(data, fast_l2=True)`` for frames that decode.

The decoder's own bound method: it raises :data:`DecodeFailed` instead of classifying
the frame, which saves a Python call and a ``try`` per frame; on a failure the caller
asks :func:`decode_frame` what the frame was.
"""


def encode_message(message: dict[str, Any]) -> str:
    """Compact JSON for an outbound subscribe/unsubscribe message."""
    return _ENCODER.encode(message).decode()
