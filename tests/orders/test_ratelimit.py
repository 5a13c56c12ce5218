"""The shared client-side rate limiter: one bucket per kind, shared by every concurrent caller."""

from __future__ import annotations

import asyncio

from botkit.net.ratelimit import RateLimiter
from tests.orders.conftest import ClientFactory, RecordingSim


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


async def test_burst_beyond_private_limit_waits_fifo() -> None:
    vt = VirtualTime()
    limiter = RateLimiter(30, 10, monotonic=vt.monotonic, sleep=vt.sleep)
    await asyncio.gather(*(limiter.acquire(True) for _ in range(33)))
    assert sorted(vt.sleeps) == [1 / 30, 2 / 30, 3 / 30]  # 30 go at once, the rest queue
    await asyncio.gather(*(limiter.acquire(False) for _ in range(12)))
    assert sorted(vt.sleeps)[-2:] == [0.1, 0.2] and len(vt.sleeps) == 5  # public bucket: 10/s
    vt.now += 10  # refilled
    vt.sleeps.clear()
    await limiter.acquire(True)
    assert vt.sleeps == []


async def test_client_calls_share_the_limiter(
    sim: RecordingSim, make_client: ClientFactory
) -> None:
    vt = VirtualTime()
    limiter = RateLimiter(5, 1, monotonic=vt.monotonic, sleep=vt.sleep)
    a, b = make_client(limiter=limiter), make_client(limiter=limiter)
    await asyncio.gather(*(c.key_permissions() for c in (a, b) for _ in range(4)))
    assert len(vt.sleeps) == 3 and limiter.waited > 0  # 8 private calls, 5 tokens
    await asyncio.gather(a.server_time(), b.server_time())  # public bucket, capacity 1
    assert len(vt.sleeps) == 4
