"""Simulator, Coinbase Exchange WebSocket feed: subscribe parsing and frame shapes (pure).

The Exchange feed (reference exchange-prime-api.md §1.C) is flat JSON: every frame is one
object with a ``type`` (no envelope, no connection-wide counter). This module holds what
does not need a socket or a clock, so it is tested on its own and the hub
(:mod:`botkit.sim.exchange_ws`) only moves frames:

* :func:`parse_subscribe`: a ``subscribe``/``unsubscribe`` message → ``{channel: products}``
  (root ``product_ids`` apply to channels named as bare strings; the object form
  ``{"name", "product_ids"}`` adds its own), aliases resolved (``level2_50`` →
  ``level2_batch``, ``ticker_1000`` → ``ticker_batch``);
* frame builders: ``subscriptions``, ``heartbeat``, ``ticker``, ``snapshot``/``l2update``,
  ``match``/``last_match``, ``status``, the error frames;
* :class:`OrderFeed`: the ``user`` channel's order lifecycle (``received`` → ``open`` →
  ``match`` … → ``done``, ``change`` when a resting order's price or size is amended),
  derived from the engine's cumulative order records and its fills. Exchange sends
  *deltas*; the engine reports cumulative states, so each order's last state is kept.

Numbers are strings as Exchange sends them; ``sequence`` and ``trade_id`` are integers.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from botkit.sim.events import TradePrint
from botkit.sim.exchange_shapes import base_of, iso
from botkit.sim.orders import parse_time
from botkit.sim.wire import dec_str

__all__ = [
    "ALIASES",
    "AUTH_CHANNELS",
    "CHANNELS",
    "OrderFeed",
    "SubscribeError",
    "auth_error",
    "counterparty_id",
    "dumps",
    "error",
    "heartbeat",
    "l2_snapshot",
    "l2_update",
    "match",
    "parse_subscribe",
    "status",
    "subscriptions",
    "ticker",
]

CHANNELS: Final = frozenset(
    {"heartbeat", "status", "ticker", "ticker_batch", "level2", "level2_batch", "matches", "user"}
)
"""What the simulator serves. ``full``, ``level3``, ``balance``, ``auctionfeed`` and
``rfq_matches`` exist on Exchange but are refused here (no level-3 book is simulated)."""
KNOWN_UNSERVED: Final = frozenset({"full", "level3", "balance", "auctionfeed", "rfq_matches"})
ALIASES: Final = {"level2_50": "level2_batch", "ticker_1000": "ticker_batch"}
AUTH_CHANNELS: Final = frozenset({"user", "level2", "full", "level3", "balance", "rfq_matches"})
"""Channels Exchange serves only on an authenticated subscribe (§1.C)."""
_NO_PRODUCTS_OK: Final = frozenset({"status"})


class SubscribeError(ValueError):
    """A subscribe message that cannot be honoured; ``reason`` goes in the error frame."""


def parse_subscribe(msg: Mapping[str, Any], known: Iterable[str]) -> dict[str, list[str]]:
    """The channels and products a ``subscribe``/``unsubscribe`` message names.

    Args:
        msg: the decoded message.
        known: the simulator's product ids.

    Returns:
        ``{channel: [product ids]}`` in the order named, aliases resolved; a channel with
        no products maps to ``[]`` (which ``unsubscribe`` reads as "the whole channel").

    Raises:
        SubscribeError: a channel or product that does not exist, or a malformed field.
    """
    root = msg.get("product_ids", [])
    if root is None:
        root = []
    if not isinstance(root, list) or not all(isinstance(p, str) for p in root):
        raise SubscribeError("product_ids must be a list of strings")
    channels = msg.get("channels")
    if channels is None:
        # cbpro omits "channels"; legacy servers defaulted to "full" (UNCERTAIN today)
        raise SubscribeError("channels is required (the simulator has no default channel)")
    if not isinstance(channels, list):
        raise SubscribeError("channels must be a list")
    known_set = set(known)
    out: dict[str, list[str]] = {}
    for spec in channels:
        if isinstance(spec, str):
            name, pids = spec, list(root)
        elif isinstance(spec, dict) and isinstance(spec.get("name"), str):
            own = spec.get("product_ids") or []
            if not isinstance(own, list) or not all(isinstance(p, str) for p in own):
                raise SubscribeError(f"product_ids of channel {spec['name']} must be strings")
            name, pids = spec["name"], list(root) + own
        else:
            raise SubscribeError("a channel is a name or an object with a name")
        name = ALIASES.get(name, name)
        if name in KNOWN_UNSERVED:
            raise SubscribeError(f"{name} is not served by botkit.sim (no level-3 book)")
        if name not in CHANNELS:
            raise SubscribeError(f"{name} is not a valid channel")
        for pid in pids:
            if pid not in known_set:
                raise SubscribeError(f"{pid} is not a valid product")
        merged = out.setdefault(name, [])
        merged.extend(p for p in pids if p not in merged)
    return out


def needs_products(channel: str) -> bool:
    """Whether a subscribe to ``channel`` must name products (all but ``status``)."""
    return channel not in _NO_PRODUCTS_OK


def dumps(frame: Mapping[str, Any]) -> str:
    """Compact JSON, as every frame is sent."""
    return json.dumps(frame, separators=(",", ":"))


def error(message: str, reason: str | None = None) -> dict[str, str]:
    """``{"type": "error", "message", "reason"}`` (§1.C, [EX-WS-ERR])."""
    frame = {"type": "error", "message": message}
    if reason is not None:
        frame["reason"] = reason
    return frame


def auth_error(rest_message: str) -> dict[str, str]:
    """The auth failure frame: ``reason`` is the REST error body as a JSON *string*."""
    return error("Authentication Failed", json.dumps({"message": rest_message}))


def subscriptions(subs: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The ``subscriptions`` reply: the connection's **full** current set."""
    return {
        "type": "subscriptions",
        "channels": [{"name": name, "product_ids": list(pids)} for name, pids in subs.items()],
    }


def heartbeat(pid: str, sequence: int, last_trade_id: int, now: float) -> dict[str, Any]:
    """One product's heartbeat: its current ``sequence`` and last trade id."""
    return {
        "type": "heartbeat",
        "last_trade_id": last_trade_id,
        "product_id": pid,
        "sequence": sequence,
        "time": iso(now),
    }


def _open_24h(wire: Mapping[str, Any]) -> str:
    """The 24 h open price, from the engine's last price and percentage change."""
    price = Decimal(str(wire["price"]))
    pct = Decimal(str(wire.get("price_percent_chg_24_h") or "0"))
    open_ = price / (1 + pct / 100) if pct > -100 else price
    return dec_str(open_.quantize(Decimal("0.00000001")).normalize())


def ticker(
    pid: str, wire: Mapping[str, Any], trade: TradePrint | None, sequence: int, now: float
) -> dict[str, Any]:
    """A ``ticker`` frame from the engine's ticker object and the product's last trade.

    ``volume_30d`` is the 24 h volume (the engine keeps no 30-day window) and ``side`` the
    last trade's maker side (whether Exchange reports maker or taker is UNCERTAIN).
    """
    frame: dict[str, Any] = {
        "type": "ticker",
        "sequence": sequence,
        "product_id": pid,
        "price": wire["price"],
        "open_24h": _open_24h(wire),
        "volume_24h": wire["volume_24_h"],
        "low_24h": wire["low_24_h"],
        "high_24h": wire["high_24_h"],
        "volume_30d": wire["volume_24_h"],
        "best_bid": wire["best_bid"],
        "best_bid_size": wire["best_bid_quantity"],
        "best_ask": wire["best_ask"],
        "best_ask_size": wire["best_ask_quantity"],
        "side": trade.side.lower() if trade else "buy",
        "time": iso(trade.time if trade else now),
        "trade_id": int(trade.trade_id) if trade else 0,
        "last_size": dec_str(trade.size) if trade else "0",
    }
    return frame


def l2_snapshot(
    pid: str, bids: Sequence[tuple[Decimal, Decimal]], asks: Sequence[tuple[Decimal, Decimal]]
) -> dict[str, Any]:
    """The first ``level2`` frame: ``[price, size]`` pairs, best first (no ``sequence``)."""
    return {
        "type": "snapshot",
        "product_id": pid,
        "bids": [[dec_str(p), dec_str(s)] for p, s in bids],
        "asks": [[dec_str(p), dec_str(s)] for p, s in asks],
    }


def l2_update(
    pid: str, changes: Sequence[tuple[str, Decimal, Decimal]], now: float
) -> dict[str, Any]:
    """An ``l2update``: ``[side, price, new size]`` with side ``buy``/``sell``; ``"0"`` deletes."""
    return {
        "type": "l2update",
        "product_id": pid,
        "changes": [[side, dec_str(p), dec_str(s)] for side, p, s in changes],
        "time": iso(now),
    }


def counterparty_id(pid: str, trade_id: str) -> str:
    """A stable order id for the synthetic market's side of a trade (it has no real order).

    Derived from the trade, so the same trade always names the same counterparty.
    """
    digest = hashlib.sha256(f"{pid}:{trade_id}:counterparty".encode()).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4))


def match(
    trade: TradePrint,
    sequence: int,
    *,
    maker_order_id: str,
    taker_order_id: str,
    last: bool = False,
) -> dict[str, Any]:
    """A public ``match`` (``last_match``: the one sent first on subscribe); maker's ``side``."""
    return {
        "type": "last_match" if last else "match",
        "trade_id": int(trade.trade_id),
        "maker_order_id": maker_order_id,
        "taker_order_id": taker_order_id,
        "side": trade.side.lower(),
        "size": dec_str(trade.size),
        "price": dec_str(trade.price),
        "product_id": trade.product_id,
        "sequence": sequence,
        "time": iso(trade.time),
    }


def status(
    products: Sequence[Mapping[str, Any]], currencies: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The ``status`` frame: REST product objects and currencies."""
    return {"type": "status", "products": list(products), "currencies": list(currencies)}


# -- the user channel: order lifecycle from cumulative engine records -----------------------


@dataclass
class _Tracked:
    """What the user channel has told about one order so far."""

    product_id: str
    side: str
    limit_price: str
    leaves: str
    opened: bool = False
    done: bool = False
    trades: set[str] = field(default_factory=set)
    received: bool = False


@dataclass(frozen=True, slots=True)
class UserMessage:
    """One ``user`` frame without its ``sequence`` (the hub numbers it per product).

    ``trade_id`` is set on a ``match``: it takes the public match's sequence number
    (private fields do not advance the counter, §1.C).
    """

    user_id: str
    product_id: str
    frame: dict[str, Any]
    trade_id: str | None = None


_MAKER_SIDE = {"BUY": "buy", "SELL": "sell"}
_TAKER_FLIP = {"BUY": "sell", "SELL": "buy"}


class OrderFeed:
    """Turns the engine's cumulative order records into Exchange's ``user`` messages.

    Args:
        client_oid: the order's ``client_oid`` as the REST dialect knows it (None if none).
        activate: a stop placed untriggered sends ``activate`` (exchange-prime-api.md
            section 1.C), and its ``received`` only when it triggers; False: ``received``
            at once, as any order.
        stop_type: ``(user_id, order_id)`` → ``loss``/``entry`` of a stop (from the
            engine's ``stop_direction``); None: ``loss`` for a sell, ``entry`` for a buy.

    The engine's ``OrderChanged`` record is cumulative; per order this keeps what was
    already said, and :meth:`on_order` says what is new, in Exchange's order:
    ``received`` (first sight), each new fill as a ``match`` (from the engine's fills,
    with the user's fee **rate**: Exchange sends no fee amount), ``open`` when the order
    rests, ``change`` when a resting order's price or size moved (an edit), and ``done``
    (``filled``; ``canceled`` for cancels and expiries; ``rejected`` only for an order
    that was received first). Orders refused at creation send nothing (REST said 400).
    """

    def __init__(
        self,
        client_oid: Any,
        *,
        activate: bool = True,
        stop_type: Callable[[str, str], str] | None = None,
    ) -> None:
        self._client_oid = client_oid
        self.activate = activate
        self._stop_type = stop_type
        self._orders: dict[str, _Tracked] = {}
        self.keep_done = 10_000
        self._done: list[str] = []

    def received_first(
        self, user_id: str, order: Mapping[str, Any], now: float
    ) -> list[UserMessage]:
        """The ``received`` message of an order seen for the first time (else nothing).

        Called for every order of a batch before the batch's trades, so ``received``
        takes a lower sequence than the order's matches, as on Exchange.
        """
        oid = str(order["order_id"])
        track = self._orders.get(oid)
        if (track is not None and track.received) or order.get("status") == "FAILED":
            return []
        pid = str(order["product_id"])
        side = str(order["order_side"]).lower()
        pending_stop = self.activate and order.get("trigger_status") == "STOP_PENDING"
        if track is None:
            track = _Tracked(pid, side, str(order.get("limit_price") or ""), "")
            self._orders[oid] = track
            if pending_stop:
                return [UserMessage(user_id, pid, self._activate(user_id, order, now))]
        if pending_stop:
            return []  # still waiting for its trigger: said once (activate)
        track.received = True
        market = str(order.get("order_type", "")).upper() == "MARKET"
        frame: dict[str, Any] = {
            "type": "received",
            "time": iso(now),
            "product_id": pid,
            "order_id": oid,
            "side": side,
            "order_type": "market" if market else "limit",
            "user_id": user_id,
            "profile_id": user_id,
        }
        total = Decimal(str(order.get("cumulative_quantity") or "0")) + Decimal(
            str(order.get("leaves_quantity") or "0")
        )
        if not market:
            frame["price"] = str(order.get("limit_price") or "")
        if total:
            frame["size"] = dec_str(total.normalize())
        if market and not total:
            frame["funds"] = str(order.get("filled_value") or "0")
        coid = self._client_oid(oid)
        if coid:
            frame["client_oid"] = coid
        return [UserMessage(user_id, pid, frame)]

    def _activate(self, user_id: str, order: Mapping[str, Any], now: float) -> dict[str, Any]:
        """The private ``activate`` of a stop placed untriggered (exchange-prime-api.md
        section 1.C): its ``received`` (and what follows) comes when the stop triggers."""
        oid = str(order["order_id"])
        total = Decimal(str(order.get("cumulative_quantity") or "0")) + Decimal(
            str(order.get("leaves_quantity") or "0")
        )
        frame: dict[str, Any] = {
            "type": "activate",
            "product_id": str(order["product_id"]),
            "timestamp": f"{now:.6f}",
            "user_id": user_id,
            "profile_id": user_id,
            "order_id": oid,
            "stop_type": (
                self._stop_type(user_id, oid)
                if self._stop_type is not None
                else ("loss" if order.get("order_side") == "SELL" else "entry")
            ),
            "side": str(order["order_side"]).lower(),
            "stop_price": str(order.get("stop_price") or ""),
            "size": dec_str(total.normalize()),
            "funds": "0",
            "private": True,
        }
        return frame

    def after_trades(
        self,
        user_id: str,
        order: Mapping[str, Any],
        fills: Sequence[Mapping[str, Any]],
        now: float,
    ) -> tuple[list[UserMessage], list[UserMessage]]:
        """``(matches, lifecycle)`` for an order record: new fills, then open/change/done.

        ``fills`` are the engine's fills of this order (any order, any already told).
        """
        oid = str(order["order_id"])
        track = self._orders.get(oid)
        if track is None or track.done:
            return [], []
        pid, side = track.product_id, track.side
        matches: list[UserMessage] = []
        for f in sorted(fills, key=lambda r: int(r["trade_id"])):
            tid = str(f["trade_id"])
            if tid in track.trades:
                continue
            track.trades.add(tid)
            matches.append(UserMessage(user_id, pid, self._match(user_id, oid, f), tid))
        lifecycle: list[UserMessage] = []
        status = str(order.get("status"))
        leaves = str(order.get("leaves_quantity") or "0")
        price = str(order.get("limit_price") or "")
        base: dict[str, Any] = {
            "time": iso(now),
            "product_id": pid,
            "order_id": oid,
            "side": side,
            "user_id": user_id,
            "profile_id": user_id,
        }
        market = str(order.get("order_type", "")).upper() == "MARKET"
        resting = (
            status in ("OPEN", "CANCEL_QUEUED")
            and not market
            and order.get("trigger_status") != "STOP_PENDING"
            and Decimal(leaves or "0") > 0
        )
        if resting and not track.opened:
            track.opened = True
            frame = {"type": "open", **base, "price": price, "remaining_size": leaves}
            lifecycle.append(UserMessage(user_id, pid, frame))
        elif resting and (price != track.limit_price or _moved(leaves, track.leaves, matches)):
            frame = {"type": "change", **base, "reason": "modify_order",
                     "old_price": track.limit_price, "new_price": price,
                     "old_size": track.leaves, "new_size": leaves, "price": price}  # fmt: skip
            lifecycle.append(UserMessage(user_id, pid, frame))
        track.limit_price, track.leaves = price, leaves
        if status in ("FILLED", "CANCELLED", "EXPIRED", "FAILED"):
            track.done = True
            reason = {"FILLED": "filled", "FAILED": "rejected"}.get(status, "canceled")
            frame = {"type": "done", **base, "reason": reason}
            if not market:
                frame["price"] = price
                frame["remaining_size"] = "0" if status == "FILLED" else leaves
            tif = order.get("time_in_force") in ("IMMEDIATE_OR_CANCEL", "FILL_OR_KILL")
            if reason == "canceled" and (status == "EXPIRED" or tif):
                frame["cancel_reason"] = "101:Time In Force"  # the value format is UNCERTAIN
            lifecycle.append(UserMessage(user_id, pid, frame))
            self._forget_later(oid)
        return matches, lifecycle

    def _match(self, user_id: str, oid: str, fill: Mapping[str, Any]) -> dict[str, Any]:
        """The private ``match``: public fields plus the user's ids and fee rate."""
        price = Decimal(str(fill["price"]))
        size = base_of(fill)
        fee = Decimal(str(fill["commission"]))
        notional = price * size
        rate = (
            (fee / notional).quantize(Decimal("0.000001")).normalize() if notional else Decimal(0)
        )
        maker = fill.get("liquidity_indicator") == "MAKER"
        side = str(fill["side"])
        pid = str(fill["product_id"])
        tid = str(fill["trade_id"])
        other = counterparty_id(pid, tid)
        role = "maker" if maker else "taker"
        return {
            "type": "match",
            "trade_id": int(tid),
            "maker_order_id": oid if maker else other,
            "taker_order_id": other if maker else oid,
            "side": _MAKER_SIDE[side] if maker else _TAKER_FLIP[side],
            "size": dec_str(size.normalize()),
            "price": dec_str(price),
            "product_id": pid,
            "time": iso(parse_time(str(fill["trade_time"]), "trade_time")),
            f"{role}_user_id": user_id,
            "user_id": user_id,
            f"{role}_profile_id": user_id,
            "profile_id": user_id,
            f"{role}_fee_rate": dec_str(rate),
        }

    def _forget_later(self, oid: str) -> None:
        self._done.append(oid)
        while len(self._done) > self.keep_done:
            self._orders.pop(self._done.pop(0), None)


def _moved(leaves: str, before: str, matches: Sequence[UserMessage]) -> bool:
    """A resting order's size changed other than by its own fills (an edit)."""
    if not before or matches:
        return False
    return Decimal(leaves or "0") != Decimal(before or "0")
