"""A subscription the venue refuses (an error frame; the socket stays open, Coinbase's way)
is kept on its connection until the venue answers it: the health model reads it there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botkit.market.feed import MarketDataFeed
from tests.market.conftest import Market, signer_for


async def test_a_refused_key_stays_refused_across_reconnects_until_answered(
    market: Market, make_feed: Callable[..., Any]
) -> None:
    """Cleared at each reconnect, the user channel read as up between the new socket and
    the venue's error frame, and a "user channel back" alert could go out at each of
    the reconnects a revoked key causes (a review)."""
    sim = market.sim
    signer = signer_for(sim)
    feed: MarketDataFeed = await make_feed(sim, signer=signer, user=True)
    await feed.wait_ready(10)
    user = next(c for c in feed.conns if c.protocol.fills is not None)
    markets = [c for c in feed.conns if c.protocol.fills is None]
    assert user.refused == "" and all(c.refused == "" for c in markets)
    record = sim.registry.keys[signer.key.name]
    assert sim.registry.revoke(signer.key.name)
    up_after_refusal: list[int] = []  # generations seen up once a refusal was known
    refused_in: list[int] = []

    def watch() -> bool:
        if user.refused and not refused_in:
            refused_in.append(user.generation)
        if refused_in and user.ws is not None and not user.refused:
            up_after_refusal.append(user.generation)
        return bool(refused_in) and user.generation >= refused_in[0] + 3

    sim.ws_faults.drop_next(count=4)  # the sessions end; every new one is refused
    await feed.wait_for(watch, 20)
    assert "authentication failure" in user.refused
    assert up_after_refusal == []
    assert all("authentication failure" in c.refused for c in markets)
    sim.registry.register(record)  # the key is back: the next sessions are answered
    await feed.wait_for(lambda: not user.refused and not any(c.refused for c in markets), 20)
    await feed.wait_ready(10)
