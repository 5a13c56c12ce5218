"""Core ring: Coinbase Advanced Trade WebSocket wire schemas and their decoder.

Every frame the market-data and user endpoints send is decoded here, straight from
bytes/str into typed ``msgspec`` Structs (reference §3.3-§3.6). msgspec was chosen
over ``json.loads`` + dicts because it is 3-5x faster on ``l2_data`` and ``ticker``
frames (docs/benchmarks.md) and gives attribute access with types.

Choices:

* The envelope is a tagged union on ``channel`` (``l2_data`` for level2), so one
  decode call both validates and dispatches.
* ``price_level`` stays a ``str``: the order book converts it to integer ticks
  through a cache, which is cheaper than building a ``Decimal`` per level.
  ``new_quantity`` and every other money field is ``Decimal`` (exact, no floats).
* The feed's hot path decodes ``l2_data`` with ``decode_frame(data, fast_l2=True)``
  into :class:`L2Data` instead: ``new_quantity`` stays the wire string, ``event_time``
  is skipped and the structs are ``gc=False``. Building ~14 ``Decimal`` per frame
  cost more than the whole rest of the decode; :class:`~botkit.core.book.L2Book`
  validates the string and builds the ``Decimal`` only when a level is read.
* User-channel order fields stay strings: Coinbase sends ``""`` for unset numbers
  (``stop_price``), which a ``Decimal`` field would reject; the fill logic in
  :mod:`botkit.core.fills` converts what it needs.
* Frames that are not a known envelope are classified by :func:`decode_frame` as an
  :class:`ErrorFrame`, an :class:`UnknownMessage` (still carrying its
  ``sequence_num``, because the counter is connection-wide) or :class:`Malformed`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import msgspec

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
    "decode_fast",
    "decode_l2_bulk",
    "decode_frame",
    "encode_message",
]


class L2Level(msgspec.Struct, kw_only=True, gc=False):
    """One changed price level; ``new_quantity`` is absolute, ``0`` removes the level."""

    side: str
    price_level: str
    new_quantity: Decimal
    event_time: str = ""


class L2Event(msgspec.Struct, kw_only=True, gc=False):
    """A level2 ``snapshot`` (the whole book) or ``update`` (changed levels) for one product."""

    type: str
    product_id: str
    updates: list[L2Level]


class L2Update(msgspec.Struct, kw_only=True, gc=False):
    """Hot-path :class:`L2Level`: ``new_quantity`` is the wire string, checked by the book."""

    side: str
    price_level: str
    new_quantity: str


class L2DataEvent(msgspec.Struct, kw_only=True, gc=False):
    """Hot-path :class:`L2Event`."""

    type: str
    product_id: str
    updates: list[L2Update]


class HeartbeatEvent(msgspec.Struct, kw_only=True):
    """``current_time`` is Go's ``time.String()``; the counter is a string on the wire."""

    current_time: str = ""
    heartbeat_counter: str = "0"


class Ticker(msgspec.Struct, kw_only=True):
    """One ticker; ``ticker_batch`` has no best bid/ask fields, hence the defaults."""

    type: str = "ticker"
    product_id: str
    price: Decimal
    volume_24_h: Decimal | None = None
    low_24_h: Decimal | None = None
    high_24_h: Decimal | None = None
    low_52_w: Decimal | None = None
    high_52_w: Decimal | None = None
    price_percent_chg_24_h: Decimal | None = None
    best_bid: Decimal | None = None
    best_bid_quantity: Decimal | None = None
    best_ask: Decimal | None = None
    best_ask_quantity: Decimal | None = None


class TickerEvent(msgspec.Struct, kw_only=True):
    type: str
    tickers: list[Ticker]


class MarketTrade(msgspec.Struct, kw_only=True):
    """A public trade; ``side`` is the *maker's* side (§3.5)."""

    trade_id: str
    product_id: str
    price: Decimal
    size: Decimal
    side: str
    time: str = ""


class MarketTradesEvent(msgspec.Struct, kw_only=True):
    type: str
    trades: list[MarketTrade]


class Candle(msgspec.Struct, kw_only=True):
    """A five-minute candle; ``start`` is a Unix-seconds string on the wire."""

    start: str
    high: Decimal
    low: Decimal
    open: Decimal
    close: Decimal
    volume: Decimal
    product_id: str


class CandlesEvent(msgspec.Struct, kw_only=True):
    type: str
    candles: list[Candle]


class StatusProduct(msgspec.Struct, kw_only=True):
    """Product metadata from the ``status`` channel (strings, as sent)."""

    id: str
    product_type: str = ""
    base_currency: str = ""
    quote_currency: str = ""
    base_increment: str = ""
    quote_increment: str = ""
    display_name: str = ""
    status: str = ""
    status_message: str = ""
    min_market_funds: str = ""


class StatusEvent(msgspec.Struct, kw_only=True):
    type: str
    products: list[StatusProduct]


class UserOrder(msgspec.Struct, kw_only=True):
    """A ``user``-channel order: *cumulative* state, not a fill (§3.5)."""

    order_id: str
    client_order_id: str = ""
    product_id: str = ""
    order_side: str = ""
    order_type: str = ""
    status: str = ""
    time_in_force: str = ""
    cumulative_quantity: str = "0"
    leaves_quantity: str = "0"
    avg_price: str = "0"
    total_fees: str = "0"
    filled_value: str = ""
    number_of_fills: str = "0"
    limit_price: str = ""
    stop_price: str = ""
    cancel_reason: str = ""
    reject_reason: str = ""
    creation_time: str = ""


class UserEvent(msgspec.Struct, kw_only=True):
    type: str
    orders: list[UserOrder] = msgspec.field(default_factory=list)


class SubscriptionsEvent(msgspec.Struct, kw_only=True):
    subscriptions: dict[str, list[str]] = msgspec.field(default_factory=dict)


class _Env(msgspec.Struct, kw_only=True, tag_field="channel"):
    client_id: str = ""
    timestamp: str = ""
    sequence_num: int


class L2Message(_Env, tag="l2_data"):
    events: list[L2Event]


class L2Data(_Env, tag="l2_data", gc=False):
    """Hot-path :class:`L2Message` (``decode_frame(..., fast_l2=True)``)."""

    events: list[L2DataEvent]


class L2BulkEvent(msgspec.Struct, kw_only=True, gc=False):
    """A level2 event of a very large frame, its ``updates`` still raw JSON.

    A 30 000-level BTC-USD snapshot decoded at once is ~5 MB of structs and strings
    on top of the frame; :meth:`batches` decodes the levels a slice at a time so the
    book can take them while only one slice is alive.
    """

    type: str
    product_id: str
    updates: msgspec.Raw

    def batches(self, size: int = 1 << 16) -> Iterator[list[L2Update]]:
        """The levels as :class:`L2Update` lists of about ``size`` bytes of JSON, in order.

        The raw array is cut between two level objects (``},{``) without copying it
        whole; each slice is decoded as a list. If a cut ever fell inside a string
        value the slice would not decode, and the rest is decoded exactly (through
        a list of ``msgspec.Raw``) instead, so odd data cannot produce wrong levels.

        Raises:
            DecodeFailed: the updates are not a list of valid levels.
        """
        raw = memoryview(self.updates)
        end = len(raw) - 1  # the closing "]"
        start = 1
        while start < end:
            cut = _CUT.search(raw, start + size, end) if start + size < end else None
            stop = cut.start() + 1 if cut else end
            try:
                batch = _UPDATES.decode(b"".join((b"[", raw[start:stop], b"]")))
            except msgspec.MsgspecError:
                yield from _exact_batches(b"".join((b"[", raw[start:end], b"]")))
                return
            yield batch
            start = cut.end() - 1 if cut else end


def _exact_batches(data: bytes, count: int = 2048) -> Iterator[list[L2Update]]:
    raws: list[msgspec.Raw] = _RAW_LIST.decode(data)
    for i in range(0, len(raws), count):
        yield _UPDATES.decode(b"".join((b"[", b",".join(raws[i : i + count]), b"]")))


class L2Bulk(_Env, tag="l2_data", gc=False):
    """A very large ``l2_data`` frame (see :func:`decode_l2_bulk`)."""

    events: list[L2BulkEvent]


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
_BULK: msgspec.json.Decoder[L2Bulk] = msgspec.json.Decoder(L2Bulk)
_CUT = re.compile(rb"\}\s*,\s*\{")
_RAW_LIST: msgspec.json.Decoder[list[msgspec.Raw]] = msgspec.json.Decoder(list[msgspec.Raw])
_UPDATES: msgspec.json.Decoder[list[L2Update]] = msgspec.json.Decoder(list[L2Update])
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


def decode_frame(data: str | bytes, *, fast_l2: bool = False) -> Frame:
    """Decode one WebSocket text frame; never raises.

    Args:
        data: the frame payload exactly as received.
        fast_l2: decode ``l2_data`` as :class:`L2Data` (quantities left as strings).

    Returns:
        A typed envelope, an :class:`ErrorFrame`, an :class:`UnknownMessage` or
        :class:`Malformed` (with the ``sequence_num`` when it could be read, so a
        bad but enveloped frame still advances sequence tracking).
    """
    try:
        msg: Envelope | L2Data = (_FAST if fast_l2 else _DECODER).decode(data)
        return msg
    except msgspec.ValidationError as exc:
        problem = str(exc)
    except msgspec.DecodeError as exc:
        return Malformed(problem=f"invalid JSON: {exc}")
    # Valid JSON, but not an envelope we know: an error frame, a new channel, or junk.
    try:
        raw = _ANY.decode(data)
    except msgspec.DecodeError:  # pragma: no cover - the typed decoder saw valid JSON
        return Malformed(problem=problem)
    if not isinstance(raw, dict):
        return Malformed(problem="frame is not a JSON object")
    seq = raw.get("sequence_num")
    seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    if raw.get("type") == "error" and "channel" not in raw:
        return ErrorFrame(message=str(raw.get("message", "")), reason=str(raw.get("reason", "")))
    channel = raw.get("channel")
    if isinstance(channel, str) and channel not in _KNOWN and seq is not None:
        return UnknownMessage(channel=channel, sequence_num=seq)
    return Malformed(
        problem=problem,
        sequence_num=seq,
        channel=channel if isinstance(channel, str) else None,
    )


def decode_l2_bulk(data: str | bytes) -> L2Bulk | None:
    """An ``l2_data`` frame with its levels left raw, or None for anything else.

    For frames of hundreds of kilobytes or more (full snapshots of deep books): the
    envelope and event headers are decoded now, the levels by
    :meth:`L2BulkEvent.batches`. None means "not a valid l2_data frame": decode it
    the usual way, which also says what it is.
    """
    try:
        return _BULK.decode(data)
    except msgspec.MsgspecError:
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
