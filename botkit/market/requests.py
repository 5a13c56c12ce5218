"""Core ring: what a feed connection's protocol and its I/O layer hand each other.

Why a module of its own: :class:`~botkit.market.protocol.FeedProtocol` is the
sans-I/O state machine of one connection and :mod:`botkit.market.feed` drives its socket;
the values that cross between them are plain data with no protocol state:

* :class:`Subscription`: what a connection subscribes, one message each (planned by
  the feed configuration, consumed by the protocol);
* :data:`Request` (:class:`ResyncLevel2`, :class:`Reconnect`, :class:`Backfill`):
  what the protocol needs the I/O layer to do, drained by ``take_requests()``;
* :class:`FeedStats`: the counters the protocol keeps for monitoring;
* :func:`subscription_message`: the text of a subscribe/unsubscribe message;
* :func:`error_hint`: the fix quoted when Coinbase sends an error frame.

Keeping them apart keeps :mod:`botkit.market.protocol` to the frame handling
itself, and lets configuration and
I/O code use these types without reading the state machine.
:mod:`botkit.market.protocol` re-exports every name listed here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from botkit.venues.advanced_trade.messages import encode_message

__all__ = [
    "Backfill",
    "FeedStats",
    "Reconnect",
    "Request",
    "ResyncLevel2",
    "Subscription",
    "error_hint",
    "subscription_message",
]


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscribe message: one channel, its products (§3.2: one channel per message)."""

    channel: str
    product_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ResyncLevel2:
    """Unsubscribe + subscribe level2 for these products to get fresh snapshots."""

    product_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Drop this connection and open a new one."""

    reason: str


@dataclass(frozen=True, slots=True)
class Backfill:
    """Ask REST for fills that the ``user`` channel may have lost."""

    reason: str


Request = ResyncLevel2 | Reconnect | Backfill


@dataclass(slots=True)
class FeedStats:
    """Counters for monitoring; all monotonic over the protocol's life.

    ``frames`` counts every frame received; ``accepted`` those that decoded and passed
    the sequence check (what the stale watchdog watches); ``malformed`` every frame
    refused (undecodable, against the schema, beyond the ``WireLimits``, or failing
    while applied); ``sequence_faults`` sequence numbers beyond any plausible jump.
    """

    frames: int = 0
    accepted: int = 0
    malformed: int = 0
    sequence_faults: int = 0
    duplicates: int = 0
    gaps: int = 0
    unknown: int = 0
    errors: int = 0
    acks: int = 0
    heartbeats: int = 0
    heartbeat_gaps: int = 0
    resyncs: int = 0
    last_problem: str = ""
    extra: dict[str, int] = field(default_factory=dict)


def error_hint(message: str, level2_cap: int) -> str:
    """The likely fix for a Coinbase WebSocket error frame (§3.6, SDK issues #19/#64/#92)."""
    text = message.lower()
    if "authentication" in text:
        return (
            "check the channel name (e.g. 'heartbeats', not 'heartbeat'; Exchange-only "
            "channels such as 'full' do not exist here), that the key is a CDP key with "
            "View permission, and that the clock is right (the JWT lives 120 s)"
        )
    if "l2 streams" in text or "too many" in text:
        return (
            f"too many level2 products on one connection: lower max_level2_per_connection "
            f"(now {level2_cap}) so level2 is sharded across more connections"
        )
    if "parse" in text:
        return "a subscribe message was not valid JSON; this is a botkit bug, please report it"
    return "see the reason; the connection stays open"


def subscription_message(
    kind: str, channel: str, pids: Sequence[str], token: Callable[[], str | None]
) -> str:
    """A ``subscribe``/``unsubscribe`` message for one channel, with a fresh JWT if any.

    ``heartbeats`` takes no products when subscribed; ``token`` is called once per
    message because Coinbase wants a fresh token on each (§3.2).
    """
    msg: dict[str, object] = {"type": kind, "channel": channel}
    if channel != "heartbeats" or kind == "unsubscribe":
        msg["product_ids"] = list(pids)
    jwt = token()  # a fresh token per message (§3.2)
    if jwt is not None:
        msg["jwt"] = jwt
    return encode_message(msg)
