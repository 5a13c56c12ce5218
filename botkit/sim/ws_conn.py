"""Per-connection transport of the simulator's WebSocket hub, and its fault knobs.

:class:`WsConnection` owns one socket's bounded outgoing queue and the single
writer task that assigns the connection-wide ``sequence_num`` (§3.4) at send
time; :class:`WsFaults` holds the runtime-settable misbehaviour that writer
applies. They live together because faults are applied in exactly one
place: the writer. Subscription logic is in :mod:`botkit.sim.ws`, frame
shapes in :mod:`botkit.sim.ws_frames`.

Every fault knob is *bounded*: a count of frames/connections or a duration, so
a test can prove that a fault fires and then that normal service resumes.
"Next" always means "the next envelope sent on any connection" (or, for the
snapshot knob, the next ``level2`` snapshot), which is deterministic for the
single-connection tests that use them. All state lives on one event loop, so
plain attributes are enough (no locks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import WSMsgType, web

from botkit.sim import ws_frames as f

__all__ = ["WsConnection", "WsFaults"]

log = logging.getLogger(__name__)

_BAD_JSON: Final = '{"channel":"l2_data","client_id":"","events":[{"type":"upd'


_MAX_COUNT: Final = 100_000
_MAX_STALL_S: Final = 3600.0
_MAX_PAD_LEVELS: Final = 1_000_000


def _bounded(n: int, limit: int, what: str) -> int:
    if not 0 <= n <= limit:
        raise ValueError(f"{what} must be in [0, {limit}], got {n}")
    return n


@dataclass
class WsFaults:
    """Scriptable misbehaviour of the WebSocket side of the simulator."""

    _disconnects: deque[int] = field(default_factory=deque)
    _skip: int = 0
    _duplicates: int = 0
    _malformed: int = 0
    _errors: deque[tuple[str, str | None]] = field(default_factory=deque)
    _stall_until: float = 0.0
    _pad_levels: int = 0

    # -- knobs (tests and the admin endpoint call these) -------------------

    def drop_next(self, code: int = 1006, count: int = 1) -> None:
        """Drop the connection that sends the next envelope, ``count`` times.

        ``1006`` aborts the TCP transport with no close frame (what a client
        sees after a network failure); any other code is sent as a close frame
        (e.g. ``1011``, which makes the official SDK reconnect).
        """
        self._disconnects.extend([code] * _bounded(count, _MAX_COUNT, "count"))

    def close_next(self, code: int = 1001, count: int = 1) -> None:
        """Cleanly close (default ``1001 going away``) instead of the next envelope."""
        self._disconnects.extend([code] * _bounded(count, _MAX_COUNT, "count"))

    def stall(self, seconds: float | None) -> None:
        """Send no data frames (heartbeats included) for ``seconds``; ``None`` ends a stall.

        WebSocket pings are still answered (aiohttp autoping), which is what
        makes a stall invisible to transport-level keepalive. Frames produced
        meanwhile are held, not lost; heartbeats are skipped.
        """
        if seconds is None:
            self._stall_until = 0.0
            return
        if not 0 <= seconds <= _MAX_STALL_S:
            raise ValueError(f"stall seconds must be in [0, {_MAX_STALL_S}]")
        self._stall_until = time.monotonic() + seconds

    def skip_sequence(self, n: int = 1) -> None:
        """Make the next envelope's ``sequence_num`` jump by ``n`` (a gap of ``n``)."""
        self._skip += _bounded(n, _MAX_COUNT, "n")

    def duplicate_next(self, n: int = 1) -> None:
        """Send each of the next ``n`` envelopes twice with the same ``sequence_num``."""
        self._duplicates += _bounded(n, _MAX_COUNT, "n")

    def malformed_next(self, n: int = 1) -> None:
        """Send ``n`` frames of invalid JSON before the next envelope (no sequence used)."""
        self._malformed += _bounded(n, _MAX_COUNT, "n")

    def error_next(
        self, message: str = "authentication failure", reason: str | None = None, count: int = 1
    ) -> None:
        """Send ``count`` Coinbase error frames before the next envelope.

        The frame is Coinbase's flat ``{"type": "error", "message": ...}`` (plus ``reason``
        when given), with no envelope and no ``sequence_num``; the connection stays open
        after it, as on Coinbase (reference §3.6). The default message is the one Coinbase
        sends for a bad channel name, an invalid JWT or a clock off by minutes
        (SDK issues #19, #92); use e.g. ``"too many L2 streams requested in a single
        session"`` for the level2 cap.
        """
        if not message:
            raise ValueError("message must be a non-empty string")
        self._errors.extend([(message, reason)] * _bounded(count, _MAX_COUNT, "count"))

    def oversize_snapshot(self, pad_levels: int = 30_000) -> None:
        """Pad the next ``level2`` snapshot with ``pad_levels`` far-away levels.

        The padding has real (non-zero) quantities beyond the deepest real
        level, so the snapshot looks like a deep BTC-USD book and is several MB
        (about 100 bytes per level). ``update`` frames removing exactly those
        levels (2 000 per frame) are sent right after it, before any later
        change, so a client that applies every frame still ends with
        ``exchange.book()``; only the snapshot message itself is oversized.
        (Zero-quantity padding was rejected because a snapshot never holds
        empty levels.)
        """
        self._pad_levels = _bounded(pad_levels, _MAX_PAD_LEVELS, "pad_levels")

    def reset(self) -> None:
        """Clear every pending fault."""
        self._disconnects.clear()
        self._errors.clear()
        self._skip = self._duplicates = self._malformed = self._pad_levels = 0
        self._stall_until = 0.0

    @property
    def pending(self) -> dict[str, Any]:
        """What is still armed, for an admin endpoint and for assertions."""
        return {
            "disconnects": list(self._disconnects),
            "skip_sequence": self._skip,
            "duplicate_next": self._duplicates,
            "malformed_next": self._malformed,
            "error_next": [m for m, _ in self._errors],
            "stall_remaining": self.stall_remaining(),
            "oversize_snapshot": self._pad_levels,
        }

    # -- consumers (the hub calls these as it sends) -----------------------

    def take_disconnect(self) -> int | None:
        """Pop the next armed close code, if any."""
        return self._disconnects.popleft() if self._disconnects else None

    def take_skip(self) -> int:
        """Pop the pending sequence jump (0 when none)."""
        n, self._skip = self._skip, 0
        return n

    def take_duplicate(self) -> bool:
        """Consume one duplicate, returning whether this envelope is to be sent twice."""
        if self._duplicates <= 0:
            return False
        self._duplicates -= 1
        return True

    def take_malformed(self) -> int:
        """Pop how many invalid-JSON frames to send now."""
        n, self._malformed = self._malformed, 0
        return n

    def take_errors(self) -> list[tuple[str, str | None]]:
        """Pop every armed error frame (message, reason)."""
        out = list(self._errors)
        self._errors.clear()
        return out

    def take_pad_levels(self) -> int:
        """Pop the padding requested for the next level2 snapshot."""
        n, self._pad_levels = self._pad_levels, 0
        return n

    def stall_remaining(self) -> float:
        """Seconds left in the current stall (0 when not stalled)."""
        return max(0.0, self._stall_until - time.monotonic())


async def _stall_gate(faults: WsFaults) -> None:
    """Hold the writer while a stall is armed (re-checked: it can be cut short)."""
    for _ in range(100_000):
        left = faults.stall_remaining()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.05))


@dataclass
class _Out:
    """One queued frame: an envelope (``channel`` set) or a flat error frame."""

    channel: str | None
    timestamp: str
    payload: Any


class WsConnection:
    """One WebSocket connection: subscriptions, bounded queue, writer, owned tasks.

    The writer is the only place that assigns ``sequence_num`` and applies
    the frame-level faults, so acks, heartbeats and data share one counter.
    """

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        *,
        faults: WsFaults,
        now: Callable[[], float],
        queue_max: int,
        idle_close: float | None,
    ) -> None:
        self.ws = ws
        self.request = request
        self.faults = faults
        self.now = now
        self.idle_close = idle_close
        self.queue: asyncio.Queue[_Out] = asyncio.Queue(maxsize=queue_max)
        self.seq = 0
        self.subs: dict[str, list[str]] = {}
        self.user_id: str | None = None
        self.subscribed = False
        self.hb_counter = 0
        self.ticker_dirty: set[str] = set()
        self.trades_pending: list[dict[str, Any]] = []  # market_trades rows until the flush
        self.last_candles: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.closing = False
        self.close_task: asyncio.Task[None] | None = None

    def spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as the connection's task ``name`` (replacing one of that name)."""
        old = self.tasks.pop(name, None)
        if old is not None:
            old.cancel()
        self.tasks[name] = asyncio.get_running_loop().create_task(coro, name=f"ws-{name}")

    def send(self, channel: str, events: Sequence[Any] | f.RenderedEvents) -> None:
        """Queue an envelope; its sequence number is assigned when it is written."""
        self._put(_Out(channel, f.rfc3339(self.now()), events))

    def send_error(self, message: str, reason: str | None = None) -> None:
        """Queue a flat error frame (no envelope, no sequence number)."""
        self._put(_Out(None, "", f.error_frame(message, reason)))

    def _put(self, item: _Out) -> None:
        if self.closing:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("ws: slow consumer, dropping connection")
            self.begin_close(1006)

    async def writer(self) -> None:
        """Drain the queue onto the socket, applying faults; ends when closing."""
        try:
            await self._write_loop()
        except (ConnectionError, RuntimeError) as exc:  # peer vanished mid-send
            log.debug("ws: send failed: %s", exc)
            self.begin_close(1006)

    async def _write_loop(self) -> None:
        faults, idle = self.faults, self.idle_close
        while True:
            try:
                item = await asyncio.wait_for(self.queue.get(), idle)
            except TimeoutError:
                self.begin_close(1000)
                return
            await _stall_gate(faults)
            if item.channel is None:
                await self.ws.send_str(f.dumps(item.payload))
                continue
            code = faults.take_disconnect()
            if code is not None:
                self.begin_close(code)
                return
            for _ in range(faults.take_malformed()):
                await self.ws.send_str(_BAD_JSON)
            for message, reason in faults.take_errors():
                await self.ws.send_str(f.dumps(f.error_frame(message, reason)))
            self.seq += faults.take_skip()
            if isinstance(item.payload, f.RenderedEvents):  # a multi-MB frame, built now
                data = item.payload.frame(item.channel, item.timestamp, self.seq)
                await self.ws.send_frame(data, WSMsgType.TEXT)
                if faults.take_duplicate():
                    await self.ws.send_frame(data, WSMsgType.TEXT)
                del data  # not kept alive (3+ MB) while waiting for the next item
            else:
                text = f.dumps(f.envelope(item.channel, item.timestamp, self.seq, item.payload))
                await self.ws.send_str(text)
                if faults.take_duplicate():
                    await self.ws.send_str(text)
            self.seq += 1

    def begin_close(self, code: int) -> None:
        """Start closing with ``code``; ``1006`` aborts TCP with no close frame.

        The close runs in its own task (awaited by the handler) so that it is
        never cancelled together with the connection's tasks mid-handshake.
        """
        if self.closing:
            return
        self.closing = True
        me = asyncio.current_task()
        for task in self.tasks.values():
            if task is not me:
                task.cancel()
        self.close_task = asyncio.get_running_loop().create_task(self._close(code))

    async def _close(self, code: int) -> None:
        transport = self.request.transport
        if code != 1006 and transport is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(code=code), 5.0)
            if self.ws.closed and self.ws.close_code is not None:
                return
        if self.request.transport is not None:
            self.request.transport.abort()

    async def shutdown(self) -> None:
        """Cancel owned tasks and wait for them and for a pending close (bounded)."""
        self.closing = True
        me = asyncio.current_task()
        tasks = [t for t in self.tasks.values() if t is not me]
        for task in tasks:
            task.cancel()
        if self.close_task is not None:
            tasks.append(self.close_task)
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10.0)
