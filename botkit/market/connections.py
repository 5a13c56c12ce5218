"""Adapter ring: the feed's connections as objects, built from the plan, and their pacing.

Kept apart from :mod:`botkit.market.feed` so that module holds only the asyncio loops
(connect, session, the per-frame receive loop, waits). What a connection *is* (its
:class:`~botkit.market.config.ConnectionPlan`, the venue's sans-I/O
:class:`~botkit.market.session.FeedSession` wired to the shared books and fill tracker,
its counters) is settled once, at construction, and the two small policies
around a connection (how long to wait before reconnecting, giving a huge frame's
memory back to the OS) are pure enough to read and test without an event loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import random
import sys
from collections.abc import Callable

from botkit.market.book import L2Book
from botkit.market.config import ConnectionPlan, FeedConfig, plan_connections
from botkit.market.session import FeedSession, SessionFactory
from botkit.net.ws import WsConnection
from botkit.orders.fills import FillTracker

__all__ = [
    "FeedConnection",
    "backoff_delay",
    "build_connections",
    "fix_mmap_threshold",
    "release_free_memory",
]


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)


def fix_mmap_threshold(threshold: int = 128 * 1024) -> bool:
    """Pin glibc's mmap threshold, so big buffers go back to the OS when freed.

    glibc serves allocations over the threshold with their own ``mmap`` (returned to
    the OS on free), and by default raises the threshold after the first such free up
    to 32 MB, after which multi-megabyte frame buffers come from the heap and stay in
    the process. A long-running bot on a small machine wants the opposite. Pinning it
    at glibc's initial 128 KiB lowered the peak RSS of ``botkit run`` with a BTC-USD
    sized snapshot by ~1.5 MB (docs/benchmarks.md, memory); allocations on the
    per-frame path are far smaller and unaffected. Returns False where it does not
    apply (not glibc). Called once by the runtime at start-up.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))


def release_free_memory() -> Callable[[], None] | None:
    """glibc's ``malloc_trim(0)`` as a callable, or None where there is no such thing.

    A full BTC-USD snapshot is a ~3 MB frame. The transport assembles it from
    fragments and, once glibc has raised its mmap threshold (it does after the first
    large free), those buffers come from the heap, and freed heap memory is rarely
    returned. Trimming just before and after decoding such a frame hands those
    megabytes back, so they do not add to what the book needs (measured on the
    simulator's 30 000-level snapshot in docs/benchmarks.md). A few milliseconds,
    and only for frames over ``BULK_FRAME_BYTES``; never on the per-frame path.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # musl and others: no such symbol
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> None:
        trim(0)

    return release


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Full-jitter capped exponential backoff: ``uniform(0, min(cap, initial * 2**attempt))``."""
    return rng.uniform(0.0, min(cap, initial * (2 ** min(attempt, 32))))


class FeedConnection:
    """One planned connection and its current socket.

    Attributes:
        plan: the endpoint and subscriptions this connection carries.
        protocol: its sans-I/O state machine (books, sequence, requests, stats).
        ws: the open socket, or None between sessions.
        generation: bumped at every session, so waiters notice a reconnect.
        connects: sessions started.
        stale: sessions ended by the stale watchdog (no accepted frame, or a book
            left without its snapshot, for ``stale_after``).
        crashes: sessions ended by an unexpected exception (logged at ERROR; the loop
            backs off and reconnects).
        task: the asyncio task running this connection's loop, when the feed runs it
            itself (None when it was handed to a ``spawn`` function).
        socket: the socket of the session being opened or run (``ws`` is set only once
            subscribed); ``stop()`` closes it so that the loop ends promptly.
        idle: set while no loop runs for this connection (``stop()`` waits on it).
        refused: the venue's error frame, when one came and no acknowledgement listing
            all of the connection's channels (nor, on the user connection, its snapshot)
            since ("" else; a reconnect does not clear it). The connection stays open after
            an error frame (Coinbase's way), so the socket alone looked like a working user
            channel while every subscription on it had been refused (a revoked key: the
            health said up, and a "user channel back" alert went out).
    """

    def __init__(self, plan: ConnectionPlan, protocol: FeedSession) -> None:
        self.plan = plan
        self.protocol = protocol
        self.ws: WsConnection | None = None
        self.socket: WsConnection | None = None
        self.generation = 0
        self.connects = 0
        self.stale = 0
        self.crashes = 0
        self.task: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()
        self.idle.set()
        self.refused = ""


def build_connections(
    config: FeedConfig,
    books: dict[str, L2Book],
    fills: FillTracker | None,
    protocol: SessionFactory,
) -> list[FeedConnection]:
    """One :class:`FeedConnection` per planned connection (:func:`plan_connections`).

    Every protocol writes into the same ``books`` dict (the feed's public view); only
    the ``user`` connection gets the fill tracker. Each protocol trims freed memory
    around bulk frames where the C library allows it (:func:`release_free_memory`).
    """
    conns = [
        FeedConnection(
            p,
            protocol(
                p.name,
                p.subscriptions,
                books=books,
                fills=fills if p.name == "user" else None,
                gap_policy=config.gap_policy,
                level2_cap=config.max_level2_per_connection,
                limits=config.limits,
            ),
        )
        for p in plan_connections(config)
    ]
    release = release_free_memory()
    for c in conns:
        c.protocol.around_bulk = release
    return conns
