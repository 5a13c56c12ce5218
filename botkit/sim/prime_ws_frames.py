"""Simulator, Coinbase Prime WebSocket feed: subscribe verification and frame shapes (pure).

The Prime feed (reference exchange-prime-api.md §2.C) is enveloped like Advanced Trade's
(``channel``, ``timestamp``, ``sequence_num``, ``events``) but has its own channels,
field names and a **signed** subscribe. This module holds what needs no socket and no
clock, so it can be read and tested on its own; :mod:`botkit.sim.prime_ws` owns the
connections, the sequence counter and timing.

Subscribe signature (§2.C, vectors in §2.5)::

    prehash   = channel + access_key + api_key_id + timestamp + portfolio_id + "".join(product_ids)
    signature = base64(HMAC-SHA256(signing key as raw UTF-8, prehash))

``api_key_id`` is the key's service account id; an omitted ``portfolio_id`` contributes
``""``. Written by hand here, apart from botkit's client-side signer
(:mod:`botkit.venues.prime.ws_protocol`), so that a bug in one cannot hide by agreeing
with its twin; the reference's vectors check both.

Refusals reuse the REST dialect's texts (:class:`~botkit.sim.prime_auth.PrimeRefusals`:
"invalid signature", "request timestamp expired …", "invalid api key" …), sent as Prime's
error frame ``{"type": "error", "message": …}`` (§2.C). What Prime really answers to a
bad subscribe is UNCERTAIN (exchange-prime-api.md, section 6.11); configuring the REST
refusals configures these too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from botkit.sim.events import BookChange
from botkit.sim.prime_auth import PrimeAuthFailure, PrimeKey, PrimeRefusals, Refusal
from botkit.sim.ws_frames import dec, rfc3339

__all__ = [
    "CHANNELS",
    "HEARTBEAT_CHANNELS",
    "Subscribe",
    "heartbeat_event",
    "l2_snapshot_event",
    "l2_update_event",
    "order_row",
    "parse_subscribe",
    "verify_subscribe",
    "ws_signature",
]

HEARTBEAT_CHANNELS: Final = frozenset({"heartbeats", "heartbeat"})
"""The channels page says ``heartbeats``, the overview ``heartbeat``: both are accepted."""
CHANNELS: Final = HEARTBEAT_CHANNELS | {"l2_data", "orders"}
"""Channels the simulator serves (Prime's ``products`` channel is not simulated)."""
_ENGINE_TO_PRIME: Final = {"CANCEL_QUEUED": "OPEN", "QUEUED": "PENDING"}
_TERMINAL: Final = frozenset({"FILLED", "CANCELLED", "EXPIRED", "FAILED"})
_NET_QUANTUM: Final = Decimal("1e-10")
_ZERO: Final = Decimal(0)


def ws_signature(
    signing_key: str,
    channel: str,
    access_key: str,
    svc_account_id: str,
    timestamp: str,
    portfolio_id: str,
    product_ids: Sequence[str],
) -> str:
    """The ``signature`` Prime checks on a subscribe (see the module docstring)."""
    prehash = channel + access_key + svc_account_id + timestamp + portfolio_id
    prehash += "".join(product_ids)
    digest = hmac.new(signing_key.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class Subscribe:
    """One parsed ``subscribe``/``unsubscribe`` message (still unauthenticated)."""

    kind: str
    channel: str
    access_key: str
    api_key_id: str
    timestamp: str
    passphrase: str
    signature: str
    portfolio_id: str
    product_ids: tuple[str, ...]


class BadMessage(ValueError):
    """A client message that is not a well-formed subscribe; the text says what is wrong."""


def parse_subscribe(msg: Any) -> Subscribe:
    """Check the shape of a client message (one ``channel``, string fields).

    The timestamp may be a string or an integer (every doc sample sends a string of epoch
    seconds; an int is accepted too, UNCERTAIN §2.C).

    Raises:
        BadMessage: the message is not a Prime subscribe; the text names the problem.
    """
    if not isinstance(msg, dict):
        raise BadMessage("message must be a JSON object")
    kind = msg.get("type")
    if kind not in ("subscribe", "unsubscribe"):
        raise BadMessage(f"unknown message type {kind!r}: use subscribe or unsubscribe")
    if "channels" in msg:
        raise BadMessage('exactly one "channel" per message is required (not "channels")')
    channel = msg.get("channel")
    if not isinstance(channel, str) or channel not in CHANNELS:
        raise BadMessage(f"unknown channel {channel!r}: valid are {sorted(CHANNELS)}")
    pids = msg.get("product_ids", [])
    if not isinstance(pids, list) or not all(isinstance(p, str) for p in pids):
        raise BadMessage("product_ids must be a list of strings")
    ts = msg.get("timestamp")
    if isinstance(ts, int) and not isinstance(ts, bool):
        ts = str(ts)
    fields: dict[str, str] = {}
    for name in ("access_key", "api_key_id", "passphrase", "signature", "portfolio_id"):
        value = msg.get(name, "")
        if not isinstance(value, str):
            raise BadMessage(f"{name} must be a string")
        fields[name] = value
    if not isinstance(ts, str):
        raise BadMessage("timestamp must be a string of epoch seconds")
    return Subscribe(
        kind=kind,
        channel=channel,
        timestamp=ts,
        product_ids=tuple(pids),
        **fields,
    )


def _fail(refusal: Refusal, **fmt: Any) -> PrimeAuthFailure:
    return PrimeAuthFailure(refusal, refusal.message.format(**fmt))


def verify_subscribe(
    keys: Mapping[str, PrimeKey],
    sub: Subscribe,
    now: float,
    *,
    refusals: PrimeRefusals,
    window: float = 30.0,
) -> PrimeKey:
    """Authenticate one subscribe; return its key.

    Checks, in order: every auth field present; the timestamp is integer seconds; the key
    exists; the timestamp is within ``window`` of ``now`` (30 s as for REST; not stated
    for the WebSocket, UNCERTAIN); the signature; the passphrase; ``api_key_id`` is the
    key's service account; ``orders`` names a portfolio the key is scoped to.

    Raises:
        PrimeAuthFailure: refused; ``failure.message`` is the error frame's message.
    """
    for name in ("access_key", "api_key_id", "timestamp", "passphrase", "signature"):
        if not getattr(sub, name):
            raise _fail(refusals.missing_header, header=name)
    raw_ts = sub.timestamp.strip()
    if not raw_ts.isascii() or not raw_ts.isdigit():
        raise _fail(refusals.bad_timestamp)
    key = keys.get(sub.access_key)
    if key is None:
        raise _fail(refusals.unknown_key)
    if abs(int(raw_ts) - now) > window:
        raise _fail(refusals.expired, window=window)
    want = ws_signature(
        key.signing_key,
        sub.channel,
        sub.access_key,
        sub.api_key_id,
        sub.timestamp,
        sub.portfolio_id,
        sub.product_ids,
    )
    if not hmac.compare_digest(want, sub.signature.strip()):
        raise _fail(refusals.bad_signature)
    if not hmac.compare_digest(key.passphrase.encode(), sub.passphrase.encode()):
        raise _fail(refusals.bad_passphrase)
    if not hmac.compare_digest(key.svc_account_id.encode(), sub.api_key_id.encode()):
        raise _fail(refusals.unknown_key)
    if not key.can_view:
        raise _fail(refusals.missing_permission, permission="view")
    if sub.channel == "orders":
        if not sub.portfolio_id:
            raise _fail(refusals.missing_header, header="portfolio_id")
        if sub.portfolio_id not in key.portfolio_ids:
            raise _fail(refusals.foreign_portfolio, portfolio_id=sub.portfolio_id)
    return key


def heartbeat_event(current_time: str, counter: int) -> dict[str, Any]:
    """One ``heartbeats`` event: Go's time string and an **integer** counter (§2.C)."""
    return {"current_time": current_time, "heartbeat_counter": counter}


def _level(side: str, price: Decimal, qty: Decimal, when: str) -> dict[str, str]:
    return {"side": side, "event_time": when, "px": dec(price), "qty": dec(qty)}


def l2_snapshot_event(
    product_id: str,
    bids: Iterable[tuple[Decimal, Decimal]],
    asks: Iterable[tuple[Decimal, Decimal]],
    ts: float,
) -> dict[str, Any]:
    """The ``l2_data`` snapshot: every level, ``side`` ``bid``/``offer``, keys ``px``/``qty``."""
    when = rfc3339(ts)
    updates = [_level("bid", p, q, when) for p, q in bids]
    updates.extend(_level("offer", p, q, when) for p, q in asks)
    return {"type": "snapshot", "product_id": product_id, "updates": updates}


def l2_update_event(product_id: str, changes: Iterable[BookChange]) -> dict[str, Any]:
    """An ``l2_data`` update: each changed level, ``qty`` absolute (``"0"`` removes it)."""
    updates = [_level(c.side, c.price, c.new_quantity, rfc3339(c.time)) for c in changes]
    return {"type": "update", "product_id": product_id, "updates": updates}


# the engine's user-channel order types → Prime's (lower case; ``stop_limit`` assumed)
_WS_TYPES = {"Market": "market", "Limit": "limit", "StopLimit": "stop_limit"}


def order_row(order: Mapping[str, Any], client_order_id: str) -> dict[str, Any]:
    """An engine ``user`` order dict → one Prime ``orders`` row (§2.C, §2.6).

    Cumulative like Prime's: ``cum_qty`` (base), ``leaves_qty`` (the order's sizing
    currency; 0 once terminal; UNCERTAIN for quote-sized orders), ``avg_px``,
    ``net_avg_px`` (fees included: above ``avg_px`` for a buy, below for a sell),
    ``fees`` (total so far). ``side`` and ``order_type`` are lower case; ``limit_px`` and
    ``user_context`` (the cancel or reject reason) are omitted when empty. Statuses are
    Prime's: the engine's ``CANCEL_QUEUED`` shows as ``OPEN`` (as on REST).
    """
    status = str(order.get("status", ""))
    status = _ENGINE_TO_PRIME.get(status, status)
    qty = Decimal(str(order.get("cumulative_quantity") or "0"))
    value = Decimal(str(order.get("filled_value") or "0"))
    fees = Decimal(str(order.get("total_fees") or "0"))
    side = str(order.get("order_side", "")).lower()
    net = _ZERO
    if qty:
        net = ((value + fees if side == "buy" else value - fees) / qty).quantize(_NET_QUANTUM)
    leaves = "0" if status in _TERMINAL else str(order.get("leaves_quantity") or "0")
    row: dict[str, Any] = {
        "order_id": order["order_id"],
        "client_order_id": client_order_id,
        "cum_qty": str(order.get("cumulative_quantity") or "0"),
        "leaves_qty": leaves,
        "avg_px": str(order.get("avg_price") or "0"),
        "net_avg_px": dec(net.normalize()) if qty else "0",
        "fees": str(order.get("total_fees") or "0"),
        "status": status,
        "product_id": order.get("product_id", ""),
        "side": side,
        "order_type": _WS_TYPES.get(str(order.get("order_type", "")), "")
        or str(order.get("order_type", "")).lower(),
        "fee_details": {
            "client_fee": str(order.get("total_fees") or "0"),
            "financing_fee": "0",
            "trading_desk_fee": "0",
        },
    }
    if order.get("limit_price"):
        row["limit_px"] = str(order["limit_price"])
    context = str(order.get("cancel_reason") or order.get("reject_reason") or "")
    if context and status in ("CANCELLED", "FAILED", "EXPIRED"):
        row["user_context"] = context
    return row
