"""Pure builders for the Coinbase Advanced Trade WebSocket frames the simulator sends.

Everything here is a function of its arguments: no sockets, no clocks, no
state. ``botkit.sim.ws`` owns connections, sequence numbers and timing and
calls these to produce the JSON-ready dicts, so the wire shapes of every
channel (reference §3.3-§3.6) can be read, and unit-tested, in one place.

Numbers are :class:`~decimal.Decimal` until they reach :func:`dec`, which
renders them as plain decimal strings (never ``1E-8``), because Coinbase sends
every price and size as a string and clients parse them with ``Decimal``.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from io import BytesIO
from itertools import chain, islice
from typing import Any, Final, Protocol

from botkit.sim.events import BookChange, TradePrint

__all__ = [
    "AUTH_FAILURE",
    "CHANNELS",
    "L2_CAP_MESSAGE",
    "MESSAGE_CHANNEL",
    "REMOVAL_BATCH",
    "ExchangeView",
    "RenderedEvents",
    "candle_event",
    "current_candle",
    "dec",
    "envelope",
    "error_frame",
    "go_time",
    "heartbeat_event",
    "l2_padding",
    "l2_snapshot_frames",
    "l2_snapshot_event",
    "l2_update_event",
    "rfc3339",
    "status_event",
    "ticker_object",
    "trade_object",
    "user_batches",
    "user_update",
    "dumps",
]

CHANNELS: Final = frozenset(
    {"heartbeats", "level2", "ticker", "ticker_batch", "market_trades", "candles", "status", "user"}
)
"""Subscription channel names the simulator accepts (Coinbase §3.1)."""

MESSAGE_CHANNEL: Final[Mapping[str, str]] = {"level2": "l2_data"}
"""Subscription channel -> envelope ``channel`` where they differ (§3.3)."""

AUTH_FAILURE: Final = "authentication failure"
L2_CAP_MESSAGE: Final = "too many L2 streams requested in a single session"
NO_POSITIONS: Final[Mapping[str, list[Any]]] = {
    "perpetual_futures_positions": [],
    "expiring_futures_positions": [],
}
CANDLE_SECONDS: Final = 300
"""The ``candles`` channel only has five-minute buckets (§3.5)."""


class ExchangeView(Protocol):
    """The part of ``SimExchange`` the WebSocket hub reads.

    A protocol rather than an import so the hub depends only on the documented
    contract (docs/simulator.md) and can be type-checked on its own.
    """

    def product_ids(self) -> list[str]: ...
    def product_wire(self, product_id: str) -> dict[str, Any]: ...
    def book(
        self, product_id: str, limit: int | None = None
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]: ...
    def recent_trades(self, product_id: str, limit: int) -> list[TradePrint]: ...
    def candles(
        self, product_id: str, start: int, end: int, granularity_s: int
    ) -> list[dict[str, Any]]: ...
    def ticker_wire(self, product_id: str) -> dict[str, Any]: ...
    def open_orders_ws(self, user_id: str) -> list[dict[str, Any]]: ...


def dec(value: Decimal | str | int) -> str:
    """Render a number as Coinbase does: a plain decimal string, no exponent."""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def rfc3339(ts: float) -> str:
    """RFC 3339 UTC with nanosecond digits, the envelope ``timestamp`` format (§3.3)."""
    ns = round(ts * 1_000_000_000)
    secs, frac = divmod(ns, 1_000_000_000)
    base = _dt.datetime.fromtimestamp(secs, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def go_time(ts: float, monotonic: float) -> str:
    """Go's ``time.String()`` (what heartbeats carry): wall time plus ``m=+`` reading."""
    ns = round(ts * 1_000_000_000)
    secs, frac = divmod(ns, 1_000_000_000)
    base = _dt.datetime.fromtimestamp(secs, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{base}.{frac:09d} +0000 UTC m=+{monotonic:.9f}"


def envelope(channel: str, timestamp: str, seq: int, events: Sequence[Any]) -> dict[str, Any]:
    """The data-message envelope (§3.3); ``channel`` is the *message* channel name."""
    return {
        "channel": channel,
        "client_id": "",
        "timestamp": timestamp,
        "sequence_num": seq,
        "events": list(events),
    }


def error_frame(message: str, reason: str | None = None) -> dict[str, str]:
    """A flat error frame (§3.6): no envelope and no sequence number."""
    frame = {"type": "error", "message": message}
    if reason is not None:
        frame["reason"] = reason
    return frame


def heartbeat_event(ts: float, monotonic: float, counter: int) -> dict[str, str]:
    """One ``heartbeats`` event; no ``type`` field and a *string* counter (§3.5)."""
    return {"current_time": go_time(ts, monotonic), "heartbeat_counter": str(counter)}


def _level(side: str, price: Decimal, qty: Decimal, when: str) -> dict[str, str]:
    return {"side": side, "event_time": when, "price_level": dec(price), "new_quantity": dec(qty)}


def l2_snapshot_event(
    product_id: str,
    bids: Iterable[tuple[Decimal, Decimal]],
    asks: Iterable[tuple[Decimal, Decimal]],
    ts: float,
) -> dict[str, Any]:
    """The ``snapshot`` event carrying the whole book with absolute quantities."""
    when = rfc3339(ts)
    updates = [_level("bid", p, q, when) for p, q in bids]
    updates.extend(_level("offer", p, q, when) for p, q in asks)
    return {"type": "snapshot", "product_id": product_id, "updates": updates}


def l2_update_event(product_id: str, changes: Iterable[BookChange]) -> dict[str, Any]:
    """An ``update`` event: each changed level once per change, in engine order."""
    updates = [_level(c.side, c.price, c.new_quantity, rfc3339(c.time)) for c in changes]
    return {"type": "update", "product_id": product_id, "updates": updates}


def l2_padding(
    bids: Sequence[tuple[Decimal, Decimal]],
    asks: Sequence[tuple[Decimal, Decimal]],
    levels: int,
    step: Decimal,
) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    """Far-from-mid levels that make a snapshot huge without touching the real book.

    Padding sits strictly beyond the deepest real level on each side, so it can
    never collide with a real level; the hub removes it again with an update
    right after the snapshot (see ``WsFaults.oversize_snapshot``).
    """
    one = Decimal(1)
    pad_bids = [(p, one) for p in _pad_prices(bids, asks, levels, step, bid=True)]
    pad_asks = [(p, one) for p in _pad_prices(bids, asks, levels, step, bid=False)]
    return pad_bids, pad_asks


def _pad_prices(
    bids: Sequence[tuple[Decimal, Decimal]],
    asks: Sequence[tuple[Decimal, Decimal]],
    levels: int,
    step: Decimal,
    *,
    bid: bool,
) -> Iterator[Decimal]:
    """One side of :func:`l2_padding`, generated lazily (it is walked twice, never stored)."""
    deepest_bid = bids[-1][0] if bids else (asks[0][0] if asks else Decimal(1000))
    deepest_ask = asks[-1][0] if asks else deepest_bid
    for i in range(1, levels + 1):
        if i % 2:
            if not bid:
                yield deepest_ask + step * i
        elif deepest_bid - step * i > 0:
            if bid:
                yield deepest_bid - step * i
        elif not bid:
            yield deepest_ask + step * (levels + i)


class RenderedEvents:
    """A frame's events written straight into JSON bytes when the frame is sent.

    For the multi-megabyte level2 snapshot of the oversize-snapshot fault. Built as
    dicts, a 30 000-level snapshot (and its removal) held ~20 MB of small objects (a
    dict and three strings per level) in the process that also runs the bot in sim
    mode, and CPython kept most of those arenas afterwards. Rendered level by level
    into one buffer at write time, the cost is the frame itself, and nothing is
    built before the writer gets to it. The bytes are exactly what :func:`dumps` of
    the same :func:`envelope` would produce. Render each instance once: it may
    consume a shared generator.
    """

    __slots__ = ("_write",)

    def __init__(self, write: Callable[[BytesIO], None]) -> None:
        self._write = write

    def frame(self, channel: str, timestamp: str, seq: int) -> bytes:
        """The whole envelope, compact JSON, UTF-8."""
        buf = BytesIO()
        head = dumps({"channel": channel, "client_id": "", "timestamp": timestamp})
        buf.write(f'{head[:-1]},"sequence_num":{seq},"events":['.encode())
        self._write(buf)
        buf.write(b"]}")
        return buf.getvalue()  # shares the buffer: no copy


def _write_l2_event(
    buf: BytesIO,
    kind: str,
    product_id: str,
    levels: Iterable[tuple[str, Decimal, Decimal]],
    when: str,
) -> None:
    """One level2 event from (side, price, quantity), the shape of :func:`l2_snapshot_event`."""
    buf.write(f'{{"type":"{kind}","product_id":{json.dumps(product_id)},"updates":['.encode())
    heads = {
        side: f'{{"side":"{side}","event_time":"{when}","price_level":"'.encode()
        for side in ("bid", "offer")
    }
    sep = b""
    for side, price, qty in levels:
        buf.write(sep)
        buf.write(heads[side])
        buf.write(f'{dec(price)}","new_quantity":"{dec(qty)}"}}'.encode())
        sep = b","
    buf.write(b"]}")


REMOVAL_BATCH: Final = 2000
"""Padding levels per removal ``update`` after an oversized snapshot (~200 KB frames)."""


def l2_snapshot_frames(
    ex: ExchangeView, product_id: str, now: float, pad_levels: int
) -> list[list[dict[str, Any]] | RenderedEvents]:
    """Events of the frames that open a level2 subscription, read from ``ex.book()``.

    Normally one snapshot. With ``pad_levels`` (the oversize-snapshot fault) the
    snapshot also carries that many far-away levels and is followed by updates
    removing exactly those (:data:`REMOVAL_BATCH` levels each, the size of a busy
    real update frame), so the client's book still converges on the engine's and
    only the snapshot is oversized. Those frames are :class:`RenderedEvents`: the
    book is read now, the padding is generated as each frame is written.
    """
    bids, asks = ex.book(product_id)
    if not pad_levels:
        return [[l2_snapshot_event(product_id, bids, asks, now)]]
    step = Decimal(str(ex.product_wire(product_id).get("quote_increment", "0.01")))
    when, one, zero = rfc3339(now), Decimal(1), Decimal(0)

    def pad(side: str, qty: Decimal) -> Iterator[tuple[str, Decimal, Decimal]]:
        prices = _pad_prices(bids, asks, pad_levels, step, bid=side == "bid")
        return ((side, p, qty) for p in prices)

    def snapshot(buf: BytesIO) -> None:
        levels = chain(
            (("bid", p, q) for p, q in bids),
            pad("bid", one),
            (("offer", p, q) for p, q in asks),
            pad("offer", one),
        )
        _write_l2_event(buf, "snapshot", product_id, levels, when)

    # shared: each removal frame takes the next batch, in order
    removals = chain(pad("bid", zero), pad("offer", zero))

    def removal(buf: BytesIO) -> None:
        _write_l2_event(buf, "update", product_id, islice(removals, REMOVAL_BATCH), when)

    batches = -(-pad_levels // REMOVAL_BATCH)  # every padding index yields exactly one level
    frames: list[list[dict[str, Any]] | RenderedEvents] = [RenderedEvents(snapshot)]
    frames.extend(RenderedEvents(removal) for _ in range(batches))
    return frames


def current_candle(ex: ExchangeView, product_id: str, now: float) -> dict[str, Any] | None:
    """The newest five-minute candle (looking back an hour; empty buckets are omitted)."""
    bucket = int(now) // CANDLE_SECONDS * CANDLE_SECONDS
    found = ex.candles(product_id, bucket - 3600, bucket + CANDLE_SECONDS, CANDLE_SECONDS)
    return max(found, key=lambda c: int(c["start"])) if found else None


def ticker_object(product_id: str, wire: Mapping[str, Any], *, batch: bool) -> dict[str, Any]:
    """A ``tickers`` element; ``ticker_batch`` omits best bid/ask fields (§3.5)."""
    obj: dict[str, Any] = {"type": "ticker", "product_id": product_id}
    obj.update({k: dec(v) if isinstance(v, Decimal) else v for k, v in wire.items()})
    obj["type"] = "ticker"
    obj["product_id"] = product_id
    if batch:
        for key in ("best_bid", "best_bid_quantity", "best_ask", "best_ask_quantity"):
            obj.pop(key, None)
    return obj


def trade_object(trade: TradePrint) -> dict[str, str]:
    """A ``market_trades`` element; ``side`` is the maker's side (§3.5)."""
    return {
        "trade_id": str(trade.trade_id),
        "product_id": trade.product_id,
        "price": dec(trade.price),
        "size": dec(trade.size),
        "side": trade.side,
        "time": rfc3339(trade.time),
    }


def candle_event(kind: str, candles: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A ``candles`` event from ``{product_id: candle}``; ``start`` as a Unix-seconds string."""
    out = []
    for product_id, candle in candles.items():
        item = {k: dec(v) if isinstance(v, Decimal | int) else v for k, v in candle.items()}
        item["product_id"] = product_id
        out.append(item)
    return {"type": kind, "candles": out}


def status_event(kind: str, products: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A ``status`` event built from §2.9 Product objects, mapped to §3.5 status fields
    (``status`` and ``status_message`` from the product's trading mode; a disabled product
    is ``offline``)."""
    out = []
    for p in products:
        pid = str(p.get("product_id", ""))
        base, _, quote = pid.partition("-")
        disabled = bool(p.get("is_disabled")) or bool(p.get("trading_disabled"))
        status = str(p.get("status") or "online")
        out.append(
            {
                "product_type": str(p.get("product_type", "SPOT")),
                "id": pid,
                "base_currency": str(p.get("base_currency_id", base)),
                "quote_currency": str(p.get("quote_currency_id", quote)),
                "base_increment": dec(p.get("base_increment", "")),
                "quote_increment": dec(p.get("quote_increment", "")),
                "display_name": str(p.get("display_name", pid)),
                "status": "offline" if disabled and status == "online" else status,
                "status_message": str(p.get("status_message") or ""),
                "min_market_funds": dec(p.get("quote_min_size", "")),
            }
        )
    return {"type": kind, "products": out}


def user_batches(orders: Sequence[Mapping[str, Any]], batch: int) -> list[dict[str, Any]]:
    """Split the ``user`` snapshot into events of ``batch`` orders (§3.5).

    Clients detect the end of the snapshot as "the first message with fewer
    than ``batch`` orders", so when the count is an exact multiple of
    ``batch`` (including zero) a final *empty* batch is appended; otherwise a
    client would wait for a terminator that never comes. Coinbase's behaviour
    at exact multiples is undocumented (**assumed**).
    """
    events = []
    for i in range(0, len(orders), batch):
        events.append(_user_event("snapshot", orders[i : i + batch]))
    if len(orders) % batch == 0:
        events.append(_user_event("snapshot", []))
    return events


def _user_event(kind: str, orders: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "type": kind,
        "orders": [dict(o) for o in orders],
        "positions": {k: list(v) for k, v in NO_POSITIONS.items()},
    }


def user_update(orders: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A ``user`` ``update`` event with cumulative order dicts, forwarded untouched."""
    return _user_event("update", orders)


def dumps(frame: Mapping[str, Any]) -> str:
    """Compact JSON, the form every frame goes out in."""
    return json.dumps(frame, separators=(",", ":"))
