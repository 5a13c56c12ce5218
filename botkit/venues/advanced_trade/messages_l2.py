"""Core ring: the level2 (``l2_data``) wire schemas, in the three forms the feed decodes.

Why a module of its own: level2 is the one channel botkit decodes three ways, each
for a reason of speed or memory, and the three must keep the same fields and tag:

* :class:`L2Message` (:class:`L2Level`, ``new_quantity`` a ``Decimal``): exact, for
  tools, tests and :func:`~botkit.venues.advanced_trade.messages.decode_frame`.
* :class:`L2Data` (:class:`L2Update`): the feed's hot path
  (``decode_frame(data, fast_l2=True)`` and
  :data:`~botkit.venues.advanced_trade.messages.decode_fast`):
  ``new_quantity`` stays the wire string, ``event_time`` is skipped and the structs
  are ``gc=False``. Building ~14 ``Decimal`` per frame cost more than the whole rest
  of the decode; :class:`~botkit.market.book.L2Book` validates the string and builds
  the ``Decimal`` only when a level is read.
* :class:`L2Bulk` (:func:`decode_l2_bulk`): frames of a megabyte or more (full
  snapshots of deep books), their levels decoded a slice at a time so that only one
  slice is alive at once.

``price_level`` stays a ``str`` in all three: the order book converts it to integer
ticks through a cache, which is cheaper than building a ``Decimal`` per level.

The envelope base ``_Env`` (``channel`` tag, ``sequence_num``) lives here too, so
that
this module depends on nothing else in botkit; :mod:`botkit.venues.advanced_trade.messages` builds
the
other channels' envelopes on it and re-exports every name listed here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import msgspec

from botkit.market.types import EventType, L2Update

__all__ = [
    "L2Bulk",
    "L2BulkEvent",
    "L2Data",
    "L2DataEvent",
    "L2Event",
    "L2Level",
    "L2Message",
    "L2Update",
    "EventType",
    "decode_l2_bulk",
]


class L2Level(msgspec.Struct, kw_only=True, gc=False):
    """One changed price level; ``new_quantity`` is absolute, ``0`` removes the level."""

    side: str
    price_level: str
    new_quantity: Decimal
    event_time: str = ""


class L2Event(msgspec.Struct, kw_only=True, gc=False):
    """A level2 ``snapshot`` (the whole book) or ``update`` (changed levels) for one product."""

    type: EventType
    product_id: str
    updates: list[L2Level]


class L2DataEvent(msgspec.Struct, kw_only=True, gc=False):
    """Hot-path :class:`L2Event`."""

    type: EventType
    product_id: str
    updates: list[L2Update]


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

    type: EventType
    product_id: str
    updates: msgspec.Raw

    def batches(self, size: int = 1 << 16) -> Iterator[list[L2Update]]:
        """The levels as :class:`L2Update` lists of about ``size`` bytes of JSON, in order.

        The raw array is cut between two level objects (``},{``) without copying it
        whole; each slice is decoded as a list. If a cut ever fell inside a string
        value the slice would not decode, and the rest is decoded exactly (through
        a list of ``msgspec.Raw``) instead, so odd data cannot produce wrong levels.


        Raises:
            ~botkit.venues.advanced_trade.messages.DecodeFailed: the updates are not a list of
            valid levels.
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


_BULK: msgspec.json.Decoder[L2Bulk] = msgspec.json.Decoder(L2Bulk)
_CUT = re.compile(rb"\}\s*,\s*\{")
_RAW_LIST: msgspec.json.Decoder[list[msgspec.Raw]] = msgspec.json.Decoder(list[msgspec.Raw])
_UPDATES: msgspec.json.Decoder[list[L2Update]] = msgspec.json.Decoder(list[L2Update])


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
