"""Adapter ring: the asyncio market-data feed (connection loops, watchdog, reconnect, backfill).

:class:`MarketDataFeed` runs one task per planned connection
(:func:`botkit.market.config.plan_connections`, built into connection objects by
:mod:`botkit.market.connections`, which also holds the backoff and memory-trim policies).
Each task loops forever:

1. connect through the injected :class:`~botkit.net.ws.WsConnector`;
2. send one subscribe per channel, each with a fresh JWT when a signer is given;
3. receive: every frame goes through the connection's sans-I/O session (the venue's
   :class:`~botkit.market.session.FeedSession`), which maintains the books and
   returns typed events, passed to ``on_event``;
4. on a close (any code, 1000/1001 included: Coinbase never closes on purpose
   while we want data), a stale watchdog timeout, a reconnect request, or *any*
   exception out of a session (logged at ERROR with the connection, counted in
   ``FeedConnection.crashes``), wait a capped exponential backoff with full jitter and
   start again. Never gives up.

The loops run as the feed's own tasks, or, when a ``spawn`` function is given, are
handed to it (the runtime's supervisor) as factories of fresh coroutines; either way
:meth:`MarketDataFeed.stop` ends them promptly: it sets ``_closing``, closes the
sockets and wakes any backoff pause, and the loops return.

Design notes: the watchdog is an ``asyncio.timeout`` around the receive loop that
is pushed back lazily (at most every ``stale_after/8``) when the protocol's count of
*accepted* frames moved (decoded and in sequence: a stream of refused or duplicate
frames does not keep a connection alive), so it costs nothing per frame; it also
replaces a connection whose book waited ``stale_after`` for its (re)snapshot. A
consumer callback that raises is logged and counted, never kills the feed (the
official SDK's silent-death failure, reference §5.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Protocol

from botkit.errors import ConfigError, ConnectionLost
from botkit.market.book import L2Book
from botkit.market.config import FeedConfig
from botkit.market.connections import FeedConnection as _Conn  # the short name the loops below use
from botkit.market.connections import backoff_delay, build_connections, release_free_memory
from botkit.market.events import (
    ConnectionState,
    FeedErrorReceived,
    FeedEvent,
    OrderUpdate,
    Subscribed,
    UserSnapshotDone,
)
from botkit.market.recorder import Recorder
from botkit.market.requests import Backfill, Reconnect, ResyncLevel2
from botkit.market.session import SessionFactory
from botkit.net.ws import WsConnection, WsConnector, make_connector, tls_context
from botkit.orders.fills import FillTracker, HwmStore

__all__ = [
    "FillsBackfill",
    "MarketDataFeed",
    "ReadBackHook",
    "WsTokenSource",
    "backoff_delay",
    "release_free_memory",
]

log = logging.getLogger("botkit.market.feed")

FillsBackfill = Callable[[Sequence[str]], Awaitable[Sequence[Any]]]
"""REST backfill hook: given order ids, return their fills (any order): §2.8 mappings or
decoded fill structs with those field names (what ``FillTracker.reconcile_rest_fills`` reads;
each venue's client has ``backfill_fills``)."""

Spawn = Callable[[str, Callable[[], Coroutine[Any, Any, None]]], None]
"""Runs a named long-lived loop: ``spawn(name, factory)``; ``factory()`` makes a fresh
coroutine each time the supervisor (re)starts it."""

ReadBackHook = Callable[[str, Sequence[OrderUpdate]], None]
"""The runtime's read-back: ``hook(reason, listed)``, see :attr:`MarketDataFeed.read_back`."""

STOP_WAIT = 5.0
"""Seconds ``stop()`` waits for spawned connection loops to return."""


class WsTokenSource(Protocol):
    """Anything that mints a fresh WebSocket JWT (e.g. :class:`botkit.auth.jwt.JwtSigner`)."""

    def ws_token(self) -> str: ...


class MarketDataFeed:
    """JWT-authenticated Coinbase WebSocket feed with maintained L2 books and the user channel.

    Args:
        config: endpoints, channels, limits and recovery timings.
        protocol: the venue's WebSocket protocol, one session per connection (Advanced
            Trade's: :class:`botkit.venues.advanced_trade.ws_protocol.FeedProtocol`); the
            wiring picks it, so this module never imports a venue.
        connector: the WebSocket transport; built from ``config.connector`` when None.
        signer: mints WS JWTs; market data works without one, ``user`` needs one.
        on_event: called synchronously with every :data:`FeedEvent`; exceptions are
            logged and counted, never propagated.
        rng: randomness for backoff jitter (inject a seeded one in tests).
        hwm_store: persistence of user-channel high-water marks (memory when None).
        backfill: REST fills hook, called after each user (re)subscription and gap.
        recorder: raw capture of frames and connection events.
        clock: wall time for recordings.
        spawn: when given, :meth:`start` hands each connection loop to
            ``spawn(name, factory)`` (e.g. the runtime's supervisor, which runs and
            restarts it) instead of creating its own task.
    """

    def __init__(
        self,
        config: FeedConfig,
        *,
        protocol: SessionFactory,
        connector: WsConnector | None = None,
        signer: WsTokenSource | None = None,
        on_event: Callable[[FeedEvent], None] | None = None,
        rng: random.Random | None = None,
        hwm_store: HwmStore | None = None,
        backfill: FillsBackfill | None = None,
        recorder: Recorder | None = None,
        clock: Callable[[], float] = time.time,
        spawn: Spawn | None = None,
    ) -> None:
        if config.user and signer is None:
            raise ConfigError("the user channel needs a CDP key (signer) to authenticate")
        self.config = config
        self.connector = connector or make_connector(
            config.connector,
            ping_interval=config.ping_interval,
            text_as_bytes=recorder is None,  # msgspec reads bytes; a recording wants text
        )
        self._token: Callable[[], str | None] = signer.ws_token if signer else lambda: None
        self.on_event = on_event
        self.rng = rng or random.Random()
        self.backfill = backfill
        self.read_back: ReadBackHook | None = None
        """When set (the runtime's), called instead of :attr:`backfill` after each user
        (re)subscription and gap: it reads back what the working orders became, their
        statuses as well as their fills (a filled order otherwise stays OPEN here).
        Called as ``read_back(reason, listed)``: after a snapshot, what it listed
        (:attr:`UserSnapshotDone.listed`); after a gap, ``()`` (a message was lost after
        the last snapshot: its listing no longer tells what the orders are)."""
        self.listing_lost: Callable[[], None] | None = None
        """When set (the runtime's), called when a ``user`` connection ends: the last
        snapshot's listing no longer tells what the orders are (they may end while no
        channel reports it), until the next snapshot lists them again."""
        self.recorder = recorder
        self.clock = clock
        self.books: dict[str, L2Book] = {}
        self.fills = FillTracker(hwm_store) if config.user else None
        self.callback_errors = 0
        self.ssl_ctx = tls_context(config.ca_file)
        self.conns = build_connections(config, self.books, self.fills, protocol)
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._spawn = spawn
        self._closing = False
        self._closed = asyncio.Event()  # set by stop(): wakes backoff pauses and connects

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> MarketDataFeed:
        """Start one loop per connection; returns at once (see :meth:`wait_ready`).

        Each loop is the feed's own task, or is handed to ``spawn`` when one was given.
        """
        for conn in self.conns:
            name = f"feed-{conn.plan.name}"
            if self._spawn is not None:
                self._spawn(name, partial(self._run, conn))
            else:
                conn.task = asyncio.create_task(self._run(conn), name=name)
        return self

    async def stop(self) -> None:
        """End every connection loop and close every connection (bounded).

        Sets ``_closing``, closes the sockets (the receive loops end) and wakes any
        backoff pause or pending connect; the feed's own tasks are cancelled too.
        Spawned loops are waited for up to :data:`STOP_WAIT` seconds. A task that
        ended with an exception is logged at WARNING, never swallowed silently.
        """
        self._closing = True
        self._closed.set()
        await self._close_sockets()
        own = [c.task for c in self.conns if c.task is not None]
        tasks = own + list(self._tasks)
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, Exception):
                log.warning(
                    "feed: task %s had ended with %s: %s",
                    task.get_name(),
                    type(result).__name__,
                    result,
                    exc_info=result,
                )
        if self._spawn is not None:
            try:
                async with asyncio.timeout(STOP_WAIT):
                    for conn in self.conns:
                        await conn.idle.wait()
            except TimeoutError:
                busy = [c.plan.name for c in self.conns if not c.idle.is_set()]
                log.warning("feed: connection loop(s) %s still running after stop()", busy)
        await self._close_sockets()
        await self.connector.aclose()
        if self.recorder is not None:
            self.recorder.close()

    async def _close_sockets(self) -> None:
        for conn in self.conns:
            for ws in {id(w): w for w in (conn.ws, conn.socket) if w is not None}.values():
                try:
                    async with asyncio.timeout(2):
                        await ws.close()
                except Exception as exc:  # closing is best effort; say what failed
                    log.warning("feed: closing %s failed: %r", conn.plan.name, exc)
            conn.ws = None

    async def __aenter__(self) -> MarketDataFeed:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- waiting (tests, start-up gates) ----------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Wait until ``predicate()`` holds; re-checked after every processed frame.

        Raises:
            TimeoutError: it did not hold within ``within`` seconds.
        """
        if predicate():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, fut)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(within):
                await fut
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    def ready(self) -> bool:
        """Every connection is open and every book is valid."""
        return all(c.ws is not None for c in self.conns) and all(
            b.valid for b in self.books.values()
        )

    async def wait_ready(self, within: float = 10.0) -> None:
        """Wait until :meth:`ready`."""
        await self.wait_for(self.ready, within)

    async def sync(self, within: float = 10.0) -> None:
        """Wait until every frame the server queued before this call has been processed.

        Sends a no-op unsubscribe on each connection and waits for its ack, which the
        server queues behind everything published earlier (true of the simulator;
        acks share the ordered ``sequence_num`` stream on Coinbase). Retries on a new
        connection if one drops meanwhile.
        """
        async with asyncio.timeout(within):
            for conn in self.conns:
                while True:
                    await self.wait_for(lambda c=conn: c.ws is not None, within)  # type: ignore[misc]
                    ws, gen, acks = conn.ws, conn.generation, conn.protocol.stats.acks
                    assert ws is not None
                    try:
                        await ws.send(conn.protocol.barrier_message(self._token))
                    except ConnectionLost:
                        continue

                    def done(c: _Conn = conn, g: int = gen, a: int = acks) -> bool:
                        return c.generation != g or c.protocol.stats.acks > a

                    await self.wait_for(done, within)
                    if conn.generation == gen:
                        break

    def _wake(self) -> None:
        for pred, fut in list(self._waiters):
            if not fut.done() and pred():
                fut.set_result(None)

    # -- events -----------------------------------------------------------------------------

    def _emit(self, events: list[FeedEvent]) -> None:
        cb = self.on_event
        for ev in events:
            if type(ev) is UserSnapshotDone:
                self._spawn_backfill("user snapshot received", ev.listed)
            if isinstance(ev, FeedErrorReceived | Subscribed | UserSnapshotDone):
                self._note_refusal(ev)
            if cb is not None:
                try:
                    cb(ev)
                except Exception:
                    self._callback_failed()

    def _note_refusal(self, event: FeedErrorReceived | Subscribed | UserSnapshotDone) -> None:
        """Keep :attr:`FeedConnection.refused` up to date: an error frame refuses the
        connection's subscriptions until an ack lists as many channels as it subscribes
        (an ack is the connection's whole channel map; venues name channels their own
        way, so their number is compared, not their names) or the user channel's
        snapshot arrives. Not cleared by a reconnect: the new session's socket is open
        before its subscriptions are answered, and a refused channel read as up then."""
        for conn in self.conns:
            if isinstance(event, UserSnapshotDone):  # it names no connection: the user one
                if conn.protocol.fills is None:
                    continue
            elif conn.plan.name != event.connection:
                continue
            if isinstance(event, FeedErrorReceived):
                conn.refused = str(event.error).split(". Fix: ", 1)[0][:300]  # the frame's words
            elif not isinstance(event, Subscribed):
                conn.refused = ""  # the user channel's snapshot: subscribed
            elif len(event.subscriptions) >= len(conn.protocol.subscriptions):
                conn.refused = ""

    def _callback_failed(self) -> None:
        """The consumer's bug must not kill the feed (the SDK's silent death, §5.3)."""
        self.callback_errors += 1
        log.exception("feed: on_event callback raised; event dropped for it")

    def _state(self, conn: _Conn, state: Any, code: int | None = None, detail: str = "") -> None:
        if self.recorder is not None:
            self.recorder.event(conn.plan.name, state, code=code, detail=detail)
        self._emit([ConnectionState(conn.plan.name, state, code, detail)])
        self._wake()

    def _spawn_backfill(self, reason: str, listed: Sequence[OrderUpdate] = ()) -> None:
        """After a snapshot (``listed``: what it listed) or a gap (``()``)."""
        if self.read_back is not None:
            self.read_back(reason, listed)
            return
        if self.backfill is None or self.fills is None:
            return
        task = asyncio.create_task(self._backfill(reason), name="feed-backfill")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _backfill(self, reason: str) -> None:
        assert self.backfill is not None and self.fills is not None
        ids = self.fills.open_order_ids()
        if not ids:
            return
        try:
            rows = await self.backfill(ids)
        except Exception as exc:  # REST trouble: the next reconnect/gap retries
            log.warning("feed: fills backfill (%s) failed: %s", reason, exc)
            return
        self._emit(list(self.fills.reconcile_rest_fills(rows)))
        self._wake()

    # -- connection loop --------------------------------------------------------------------

    async def _run(self, conn: _Conn) -> None:
        """The connection loop: connect, run a session, back off, again; until stop().

        A session that fails in any unexpected way is logged at ERROR with its context,
        counted (``conn.crashes``) and followed by a backoff and a reconnect, like a
        close. Only an exception outside a session (a bug in the loop itself) escapes,
        to whoever runs the loop (the supervisor restarts it; ``stop()`` logs it).
        """
        cfg = self.config
        attempt = 0
        conn.idle.clear()
        try:
            while not self._closing:
                try:
                    healthy = await self._attempt(conn)
                except Exception as exc:
                    healthy = False
                    conn.crashes += 1
                    log.error(
                        "feed: %s (%s) session %d crashed with %s: %s; reconnecting "
                        "(%d crash(es) so far)",
                        conn.plan.name,
                        conn.plan.url,
                        conn.generation,
                        type(exc).__name__,
                        exc,
                        conn.crashes,
                        exc_info=exc,
                    )
                if self._closing:
                    return
                attempt = 0 if healthy else attempt + 1
                delay = backoff_delay(attempt, cfg.backoff_initial, cfg.backoff_max, self.rng)
                log.info("feed: %s reconnecting in %.3f s", conn.plan.name, delay)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._closed.wait()  # stop() ends the pause at once
        finally:
            conn.idle.set()

    async def _attempt(self, conn: _Conn) -> bool:
        """Connect and run one session; True when it got as far as an ack."""
        ws = await self._connect(conn)
        if ws is None:
            return False
        try:
            if self._closing:  # stop() came while connecting
                return False
            return await self._session(conn, ws)
        finally:
            conn.socket = None
            if self._closing:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2):
                        await ws.close()

    async def _connect(self, conn: _Conn) -> WsConnection | None:
        """Open the socket (bounded by ``connect_timeout``; cut short by stop()).

        None when it failed (reported as ``connect_failed``) or the feed is closing.
        """
        cfg = self.config
        opening = asyncio.ensure_future(
            self.connector.connect(
                conn.plan.url, max_size=cfg.max_message_bytes, ssl_ctx=self.ssl_ctx
            )
        )
        closing = asyncio.ensure_future(self._closed.wait())
        try:
            async with asyncio.timeout(cfg.connect_timeout):
                await asyncio.wait((opening, closing), return_when=asyncio.FIRST_COMPLETED)
            if not opening.done():  # stop() was called
                opening.cancel()
                with contextlib.suppress(BaseException):
                    await opening
                return None
            conn.socket = ws = opening.result()
            return ws
        except (ConnectionLost, TimeoutError) as exc:
            self._state(conn, "connect_failed", detail=str(exc) or type(exc).__name__)
            return None
        finally:
            closing.cancel()
            if not opening.done():
                opening.cancel()

    async def _session(self, conn: _Conn, ws: WsConnection) -> bool:
        """Run one connection until it ends; True when it got as far as an ack."""
        proto, name = conn.protocol, conn.plan.name
        conn.generation += 1
        conn.connects += 1
        if proto.fills is not None:  # a snapshot cut short by the last connection: forgotten
            proto.fills.snapshot_restarts()
        self._emit(proto.connection_opened())
        acks_before = proto.stats.acks
        reason = "closed"
        try:
            for text in proto.subscribe_messages(self._token):
                await ws.send(text)
            conn.ws = ws
            self._state(conn, "connected")
            reason = await self._receive_loop(conn, ws)
        except ConnectionLost as exc:
            reason = str(exc)
        except Exception as exc:
            reason = f"crashed: {type(exc).__name__}"
            raise
        finally:
            conn.ws = None
            if reason != "closed" or ws.close_code is None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2):
                        await ws.close(4000 if reason == "stale" else 1000)
            if proto.fills is not None and self.listing_lost is not None:
                self.listing_lost()
            if not self._closing:
                self._emit(proto.connection_lost(reason))
                self._state(conn, "stale" if reason == "stale" else "closed", ws.close_code, reason)
        log.info("feed: %s ended (%s, code %s)", name, reason, ws.close_code)
        return proto.stats.acks > acks_before

    async def _receive_loop(self, conn: _Conn, ws: WsConnection) -> str:
        """Feed every frame to the protocol and its events to ``on_event`` until the end.

        Kept lean because it runs per frame: the watchdog is not touched here (a timer
        every ``stale_after/8`` pushes the timeout back when the protocol's count of
        accepted frames moved), and events go straight to the callback except on the
        user connection, whose snapshot-done event also starts a backfill (:meth:`_emit`).

        The same timer ends the session (reason ``"resync timed out"``) when a book of
        this connection has been invalid for ``stale_after``: its snapshot or resync
        snapshot never came (a lost resubscribe, a server that ignores it).
        """
        loop = asyncio.get_running_loop()
        proto = conn.protocol
        stats = proto.stats
        stale = self.config.stale_after
        step = stale / 8
        recorder = self.recorder
        name = conn.plan.name
        emit, receive, recv = self._emit, proto.receive, ws.recv
        direct = proto.fills is None  # no UserSnapshotDone can come from this connection
        requests = proto.requests
        seen = stats.accepted
        answered = stats.errors + stats.acks  # moved: an error frame or an ack to note
        last = loop.time()
        invalid_since: float | None = None
        resync_expired = False
        books = [
            self.books[pid]
            for sub in proto.subscriptions
            if sub.channel == "level2"
            for pid in sub.product_ids
        ]
        timer: asyncio.TimerHandle | None = None
        try:
            async with asyncio.timeout(stale) as cm:

                def watchdog() -> None:
                    # Detection happens between stale - step and stale after the last
                    # accepted frame; the books are flagged stale after half of that (see
                    # L2Book.stale). Refused, duplicate or out-of-sequence frames do not count.
                    nonlocal seen, timer, last, invalid_since, resync_expired
                    now = loop.time()
                    if stats.accepted != seen and not cm.expired():
                        seen, last = stats.accepted, now
                        cm.reschedule(now + stale - step)
                        for book in books:
                            book.stale = False
                    elif now - last >= stale / 2 and not all(b.stale for b in books):
                        for book in books:
                            book.stale = True
                        self._wake()
                    if all(b.valid for b in books):
                        invalid_since = None
                    elif invalid_since is None:
                        invalid_since = now
                    elif now - invalid_since >= stale and not cm.expired():
                        resync_expired = True  # a snapshot that never came: start afresh
                        cm.reschedule(now)
                    timer = loop.call_later(step, watchdog)

                timer = loop.call_later(step, watchdog)
                while True:
                    data = await recv()
                    if data is None:
                        return "closed"
                    if recorder is not None:
                        recorder.frame(name, self.clock(), data)
                    events = receive(data)
                    del data  # a multi-MB snapshot must not live on while the next one arrives
                    if events:
                        cb = self.on_event
                        if direct and stats.errors + stats.acks != answered:
                            answered = stats.errors + stats.acks
                            for ev in events:
                                if isinstance(ev, FeedErrorReceived | Subscribed):
                                    self._note_refusal(ev)
                        if direct and cb is not None:
                            for ev in events:
                                try:
                                    cb(ev)
                                except Exception:
                                    self._callback_failed()
                        else:
                            emit(events)
                    if requests and await self._handle_requests(conn, ws):
                        return "reconnect requested"
                    if self._waiters:
                        self._wake()
        except TimeoutError:
            conn.stale += 1
            if resync_expired:
                waiting = [b.product_id for b in books if not b.valid]
                log.warning(
                    "feed: %s: no snapshot for %s within %.1f s, reconnecting", name, waiting, stale
                )
                return "resync timed out"
            log.warning(
                "feed: %s stale: no accepted frame for %.1f s (%d frames received, %d refused), "
                "reconnecting",
                name,
                stale,
                stats.frames,
                stats.malformed,
            )
            return "stale"
        finally:
            if timer is not None:
                timer.cancel()

    async def _handle_requests(self, conn: _Conn, ws: WsConnection) -> bool:
        for req in conn.protocol.take_requests():
            if isinstance(req, Reconnect):
                return True
            if isinstance(req, ResyncLevel2):
                for text in conn.protocol.resync_messages(req.product_ids, self._token):
                    await ws.send(text)
            elif isinstance(req, Backfill):
                if conn.protocol.fills is not None:  # a snapshot under way lists nothing
                    conn.protocol.fills.gap()
                self._spawn_backfill(req.reason)
        return False
