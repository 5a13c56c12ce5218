"""End to end over a real socket: a hostile WebSocket server, and the feed recovers from it.

A tiny level2 server (``websockets`` on 127.0.0.1) serves valid traffic (acks, a
snapshot per level2 subscribe, a steady stream of updates, heartbeats) and, one at a
time, each frame Coinbase never sends. After each, the ``MarketDataFeed`` must have
valid books equal to the server's again, with data flowing, within 10 s; no
strategy-visible event may carry a bad value. Waiting is on ``feed.wait_for``; the only
sleeps are the server's pacing.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from botkit.market.config import FeedConfig
from botkit.market.events import BookChanged, FeedEvent, TickersReceived
from botkit.market.feed import MarketDataFeed
from botkit.net.ws import make_connector
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol

PID = "BTC-USD"
BID_GRID = [f"{100 - i / 100:.2f}" for i in range(30)]
ASK_GRID = [f"{100.01 + i / 100:.2f}" for i in range(30)]

Out = tuple[str, bytes | str, bool]  # (how: text|binary|raw_text|mode, payload, uses a seq)


def envelope(channel: str, seq: int, events: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "channel": channel,
            "client_id": "",
            "timestamp": "",
            "sequence_num": seq,
            "events": events,
        }
    )


def l2_frame(seq: int, kind: str, levels: list[tuple[str, str, str]]) -> str:
    ups = [{"side": s, "event_time": "", "price_level": p, "new_quantity": q} for s, p, q in levels]
    return envelope("l2_data", seq, [{"type": kind, "product_id": PID, "updates": ups}])


def raw_text_frame(payload: bytes) -> bytes:
    """An unmasked server->client text frame, whatever its payload (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x81, n])
    elif n < 1 << 16:
        head = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return head + payload


def far_removals(n: int) -> list[tuple[str, str, str]]:
    return [("bid", f"{1 + i / 1000:.3f}", "0") for i in range(n)]


def bad_update(qty: str = "1", price: str = "99.95", kind: str = "update") -> Callable[[int], Out]:
    return lambda seq: ("text", l2_frame(seq, kind, [("bid", price, qty)]), True)


HOSTILE: dict[str, Callable[[int], Out]] = {
    "deep nesting": lambda seq: ("text", "[" * 1000 + "]" * 1000, False),
    "deep nesting in an envelope": lambda seq: (
        "text",
        f'{{"channel":"l2_data","sequence_num":{seq},"events":' + "[" * 5000 + "]" * 5000 + "}",
        True,
    ),
    "sequence_num 2**62": lambda seq: ("text", envelope("heartbeats", 2**62, []), False),
    "sequence_num 10**30": lambda seq: ("text", envelope("heartbeats", 10**30, []), False),
    "NaN quantity": bad_update("NaN"),
    "1e400 quantity": bad_update("1e400"),
    "400-digit quantity": bad_update("1" * 400),
    "price 0": bad_update(price="0"),
    "unknown event type": bad_update("3", kind="mystery"),
    "NaN ticker": lambda seq: (
        "text",
        envelope(
            "ticker",
            seq,
            [
                {
                    "type": "update",
                    "tickers": [{"type": "ticker", "product_id": PID, "price": "NaN"}],
                }
            ],
        ),
        True,
    ),
    "binary frame": lambda seq: ("binary", bytes(range(256)) * 4, False),
    "invalid UTF-8": lambda seq: (
        "raw_text",
        b'{"channel":"heartbeats","sequence_num":' + str(seq).encode() + b',"x":"\xff\xfe"}',
        True,
    ),
    "truncated JSON": lambda seq: ("text", l2_frame(seq, "update", far_removals(40))[:150], True),
    "multi-MB garbage": lambda seq: (
        "text",
        f'{{"channel":"l2_data","sequence_num":{seq},"events":[' + "x" * 3_000_000,
        True,
    ),
    "multi-MB frame, bad last level": lambda seq: (
        "text",
        l2_frame(seq, "update", [*far_removals(50_000), ("offer", "100.05", "NaN")]),
        True,
    ),
    "only duplicates from now on": lambda seq: ("mode", "duplicates", False),
    "resync ignored once": lambda seq: ("mode", "mute", False),
}


@dataclass
class HostileServer:
    """Level2 for one product; hostile frames are queued with :meth:`inject`."""

    rng: random.Random = field(default_factory=lambda: random.Random(3))
    bids: dict[str, str] = field(default_factory=lambda: {p: "1.5" for p in BID_GRID[:20]})
    asks: dict[str, str] = field(default_factory=lambda: {p: "2.5" for p in ASK_GRID[:20]})
    pending: list[Callable[[int], Out]] = field(default_factory=list)
    sent: asyncio.Event = field(default_factory=asyncio.Event)
    connections: int = 0
    server: Server | None = None
    url: str = ""

    async def __aenter__(self) -> HostileServer:
        self.server = await serve(self.handle, "127.0.0.1", 0, max_size=2**20)
        port = next(iter(self.server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def inject(self, make: Callable[[int], Out]) -> None:
        self.sent.clear()
        self.pending.append(make)

    def depth(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids = sorted(((Decimal(p), Decimal(q)) for p, q in self.bids.items()), reverse=True)
        return bids, sorted((Decimal(p), Decimal(q)) for p, q in self.asks.items())

    def change(self) -> list[tuple[str, str, str]]:
        side = self.rng.choice(("bid", "offer"))
        book, grid = (self.bids, BID_GRID) if side == "bid" else (self.asks, ASK_GRID)
        price = self.rng.choice(grid)
        if self.rng.random() < 0.3 and len(book) > 3:
            book.pop(price, None)
            return [(side, price, "0")]
        qty = f"{self.rng.randint(1, 10**6) / 1000:.3f}"
        book[price] = qty
        return [(side, price, qty)]

    def snapshot(self) -> list[tuple[str, str, str]]:
        return [("bid", p, q) for p, q in self.bids.items()] + [
            ("offer", p, q) for p, q in self.asks.items()
        ]

    async def handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        seq = 0
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        snapshot_due = subscribed = False
        duplicates = mute = False

        async def read() -> None:
            async for raw in ws:
                inbox.put_nowait(json.loads(raw))

        reader = asyncio.create_task(read())
        try:
            tick = 0
            while not reader.done():
                while not inbox.empty():
                    msg = inbox.get_nowait()
                    if duplicates:
                        continue
                    subs = {msg["channel"]: msg.get("product_ids", [])}
                    await ws.send(envelope("subscriptions", seq, [{"subscriptions": subs}]))
                    seq += 1
                    if msg["channel"] == "level2" and msg["type"] == "subscribe":
                        if mute:
                            mute = False  # this resync is ignored: the feed must give up on it
                        else:
                            snapshot_due = subscribed = True
                if duplicates:  # frames keep coming, none of them new
                    await ws.send(envelope("heartbeats", max(seq - 1, 0), []))
                elif snapshot_due:
                    await ws.send(l2_frame(seq, "snapshot", self.snapshot()))
                    seq += 1
                    snapshot_due = False
                elif subscribed and self.pending:
                    how, payload, uses_seq = self.pending.pop(0)(seq)
                    if how == "mode":
                        duplicates, mute = payload == "duplicates", payload == "mute"
                        if mute:  # and provoke a resync, which will go unanswered
                            how, payload, uses_seq = bad_update("NaN")(seq)
                    if how == "text":
                        await ws.send(payload)
                    elif how == "binary":
                        assert isinstance(payload, bytes)
                        await ws.send(payload)
                    elif how == "raw_text":
                        assert isinstance(payload, bytes)
                        ws.transport.write(raw_text_frame(payload))
                    seq += uses_seq
                    self.sent.set()
                elif subscribed:
                    await ws.send(l2_frame(seq, "update", self.change()))
                    seq += 1
                tick += 1
                if tick % 10 == 0 and not duplicates:
                    beat = {"current_time": "x", "heartbeat_counter": str(tick)}
                    await ws.send(envelope("heartbeats", seq, [beat]))
                    seq += 1
                await asyncio.sleep(0.005)  # pacing of the stream, not synchronisation
        except Exception:  # the client went away mid-send: this connection is over
            pass
        finally:
            reader.cancel()


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    async with HostileServer() as server:
        yield server


def sane(ev: FeedEvent, problems: list[str]) -> None:
    """What a strategy sees must never carry a value Coinbase would not send."""
    if isinstance(ev, BookChanged):
        book = ev.book
        if not book.valid:
            problems.append(f"BookChanged with an invalid book at {ev.sequence_num}")
        bids, asks = book.depth()
        for price, qty in bids + asks:
            if not (price > 0 and qty > 0 and qty.is_finite() and qty < 10**18):
                problems.append(f"bad level {price} {qty}")
    elif isinstance(ev, TickersReceived):
        for t in ev.tickers:
            if not (t.price.is_finite() and t.price > 0):
                problems.append(f"bad ticker price {t.price}")


@pytest.mark.parametrize("connector", ["aiohttp", "websockets"])
async def test_the_feed_recovers_from_every_hostile_frame_within_10_s(
    hostile: HostileServer, connector: str
) -> None:
    problems: list[str] = []
    feed = MarketDataFeed(
        FeedConfig(
            market_url=hostile.url,
            products=(PID,),
            stale_after=1.0,
            backoff_initial=0.01,
            backoff_max=0.05,
        ),
        protocol=FeedProtocol,
        connector=make_connector(connector, text_as_bytes=True),
        rng=random.Random(1),
        on_event=lambda ev: sane(ev, problems),
    )
    book = feed.books[PID]
    conn = feed.conns[0]
    stats = conn.protocol.stats

    def recovered(updates_before: int) -> Callable[[], bool]:
        return lambda: (
            book.valid and book.updates > updates_before and book.depth() == hostile.depth()
        )

    async with feed:
        await feed.wait_for(recovered(0), 10)
        for name, make in HOSTILE.items():
            seen = stats.malformed + stats.sequence_faults + conn.connects
            hostile.inject(make)
            await asyncio.wait_for(hostile.sent.wait(), 5)
            updates = book.updates

            def noticed(before: int = seen) -> bool:
                return stats.malformed + stats.sequence_faults + conn.connects > before

            try:
                await feed.wait_for(noticed, 10)
                await feed.wait_for(recovered(updates), 10)
            except TimeoutError:
                pytest.fail(f"not recovered within 10 s from: {name} ({stats}, {conn.connects})")
    assert problems == []
    assert stats.sequence_faults >= 2 and conn.stale >= 2  # duplicates, the ignored resync
    assert stats.malformed >= 10 and conn.crashes == 0
