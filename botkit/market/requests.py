"""Core ring: what a feed connection's protocol and its I/O layer hand each other.

Why a module of its own: a venue's :class:`~botkit.market.session.FeedSession` is the
sans-I/O state machine of one connection and :mod:`botkit.market.feed` drives its socket;
the values that cross between them are plain data with no protocol state, the same for
every venue:

* :class:`Subscription`: what a connection subscribes, one message each (planned by
  the feed configuration, consumed by the protocol);
* :data:`Request` (:class:`ResyncLevel2`, :class:`Reconnect`, :class:`Backfill`):
  what the protocol needs the I/O layer to do, drained by ``take_requests()``;
* :class:`FeedStats`: the counters the protocol keeps for monitoring.

Keeping them apart lets configuration and I/O code use these types without reading a
venue's state machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Backfill",
    "FeedStats",
    "Reconnect",
    "Request",
    "ResyncLevel2",
    "Subscription",
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
