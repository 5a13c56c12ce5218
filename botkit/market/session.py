"""Core ring: what the feed needs from a venue's WebSocket protocol (the venue protocol for data).

Why a protocol: the feed's I/O layer (:mod:`botkit.market.feed`: connect, subscribe,
watchdogs, reconnect with backoff, resync requests, supervision) is the same for every
venue, while the envelope, the channel names, the subscribe message and the sequence
rules are the venue's (Advanced Trade: one counter per connection; Exchange: one per
product). A venue supplies a :class:`SessionFactory`; the feed makes one
:class:`FeedSession` per connection and never imports a venue folder. Advanced Trade's is
:class:`botkit.venues.advanced_trade.ws_protocol.FeedProtocol`; the wiring
(:mod:`botkit.runtime.bot`) picks it.

A session is sans-I/O: frames in, typed events (:mod:`botkit.market.events`) out,
:data:`~botkit.market.requests.Request` values for what the I/O layer must do, and the
text of the messages to send.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from botkit.market.book import L2Book
from botkit.market.book_levels import WireLimits
from botkit.market.events import FeedEvent
from botkit.market.requests import FeedStats, Request, Subscription
from botkit.orders.fills import FillTracker

__all__ = ["FeedSession", "SessionFactory", "TokenSource"]

TokenSource = Callable[[], str | None]
"""A fresh WebSocket auth token per call (None for public, unauthenticated data)."""


class FeedSession(Protocol):
    """One connection's protocol state, as the feed drives it."""

    name: str
    subscriptions: tuple[Subscription, ...]
    stats: FeedStats
    requests: list[Request]
    """Pending requests; the same list for the session's life (the hot loop holds it)."""
    fills: FillTracker | None
    around_bulk: Callable[[], None] | None
    """Called before and after a very large frame; the I/O layer frees memory there."""

    def connection_opened(self) -> list[FeedEvent]: ...

    def connection_lost(self, reason: str) -> list[FeedEvent]: ...

    def subscribe_messages(self, token: TokenSource) -> list[str]: ...

    def resync_messages(self, pids: Sequence[str], token: TokenSource) -> list[str]: ...

    def barrier_message(self, token: TokenSource) -> str: ...

    @property
    def pending(self) -> bool: ...

    def take_requests(self) -> list[Request]: ...

    def receive(self, data: str | bytes) -> list[FeedEvent]: ...


class SessionFactory(Protocol):
    """Makes a connection's :class:`FeedSession` (a venue's protocol class fits)."""

    def __call__(
        self,
        name: str,
        subscriptions: Sequence[Subscription],
        *,
        books: dict[str, L2Book] | None = ...,
        fills: FillTracker | None = ...,
        gap_policy: Literal["resubscribe", "reconnect"] = ...,
        level2_cap: int = ...,
        limits: WireLimits = ...,
    ) -> FeedSession: ...
