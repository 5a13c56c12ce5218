"""botkit's feed against Coinbase error frames injected through the simulator's public faults.

An error frame is not a sequence gap and not a close: Coinbase keeps the connection open
(reference §3.6). The feed reports it once as a typed, hinted :class:`FeedErrorReceived`,
keeps its books valid and does not reconnect.
"""

from __future__ import annotations

from botkit.errors import FeedSubscriptionError
from botkit.market.events import FeedErrorReceived, FeedEvent


async def test_an_injected_error_frame_is_reported_with_its_fix_and_nothing_reconnects(
    market, make_feed
):
    events: list[FeedEvent] = []
    feed = await make_feed(market.sim, events=events)
    await feed.wait_ready(10)
    conn = feed.conns[0]
    connects, gaps = conn.connects, conn.protocol.stats.gaps
    market.sim.ws_faults.error_next("too many L2 streams requested in a single session")
    market.step(3)  # the next envelope carries the armed frame out
    await feed.wait_for(lambda: conn.protocol.stats.errors >= 1, 10)
    errors = [e for e in events if isinstance(e, FeedErrorReceived)]
    assert len(errors) == 1
    assert isinstance(errors[0].error, FeedSubscriptionError)
    assert "max_level2_per_connection" in str(errors[0].error)  # the hint names the fix
    market.step(3)
    seen = conn.protocol.stats.accepted
    await feed.wait_for(lambda: conn.protocol.stats.accepted > seen, 10)  # still receiving
    assert conn.connects == connects and conn.protocol.stats.gaps == gaps
    assert all(book.valid for book in feed.books.values())
