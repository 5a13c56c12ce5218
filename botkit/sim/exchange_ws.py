"""Simulator adapter: the Coinbase Exchange WebSocket feed (aiohttp), over the shared exchange.

:class:`ExchangeWsHub` serves Exchange's feed (reference exchange-prime-api.md §1.C) for
:class:`~botkit.sim.exchange_rest.ExchangeSimServer`, on the REST port at ``/ws`` (Coinbase
serves it on its own host, ``wss://ws-feed.exchange.coinbase.com/``; one port is simpler
here, ``/ws`` keeps the REST dialect's 404 for ``/``, and every client takes a WebSocket URL:
ccxt's ``urls['api']['ws']``, botkit's ``FeedConfig.market_url``). ccxt opens its
authenticated connection to the URL with a trailing ``?``: an empty query is accepted.

What is served: ``subscribe``/``unsubscribe`` with root and per-channel ``product_ids``,
answered by a ``subscriptions`` frame listing the full current set; channels
``heartbeat`` (per product, every ``heartbeat_interval``), ``status``, ``ticker``,
``ticker_batch`` (every ``ticker_batch_interval`` when changed), ``level2`` and
``level2_batch`` (a ``snapshot`` then ``l2update`` frames), ``matches`` (``last_match``
first, then ``match``) and the authenticated ``user`` channel (``received``, ``open``,
``match`` with the private fields and fee rate, ``change``, ``done``). ``full`` and
``level3`` are refused (no level-3 book is simulated).

Authentication: the subscribe carries ``key``, ``passphrase``, ``timestamp`` (a string or
a number) and ``signature`` = base64(HMAC-SHA256(b64decode(secret), timestamp + "GET" +
"/users/self/verify")), checked by the REST verifier
(:func:`botkit.sim.exchange_auth.verify_request`) with the same 30 s window, keys,
passphrases and IP allow-lists. A failure is ``{"type": "error", "message":
"Authentication Failed", "reason": "{\\"message\\":\\"<REST message>\\"}"}`` and nothing of
that message is subscribed.

Sequence numbers: one counter per product, shared by ``heartbeat`` (which reports the
current value), ``ticker``, ``match`` and the ``user`` lifecycle messages. It stands for
the ``full`` feed's counter: it also advances once per public book change, so a
``ticker``/``matches`` subscriber sees jumps, as on Exchange. A private ``match`` has its
public match's number (private fields do not advance it). ``level2`` frames carry none.

Choices where the reference is UNCERTAIN (:class:`ExchangeWsConfig` knobs or assumed):
an unauthenticated ``level2`` subscribe is refused with the auth error frame
(``level2_auth="required"``; ``"optional"`` serves it); the socket stays open after an
auth failure (``close_on_auth_failure``); a subscribe with no ``channels`` is refused
(legacy servers defaulted to ``full``); other refusals are ``{"type":"error","message":
"Failed to subscribe","reason":...}``; the first-subscribe deadline closes with 1008;
``ticker`` sends the current ticker on subscribe; ``level2_batch`` is sent per market step
(the engine's steps are the batches) rather than every 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from aiohttp import WSMsgType, web

from botkit.sim import exchange_ws_frames as f
from botkit.sim.events import BookChange, OrderChanged, ProductStatusChanged, SimEvent, TradePrint
from botkit.sim.exchange import SimExchange
from botkit.sim.exchange_auth import (
    ExchangeAuthFailure,
    ExchangeKey,
    ExchangeRefusals,
    verify_request,
)
from botkit.sim.exchange_shapes import currencies, product

__all__ = ["ExchangeWsConfig", "ExchangeWsFaults", "ExchangeWsHub"]

log = logging.getLogger("botkit.sim.exchange")

VERIFY_PATH: Final = "/users/self/verify"
_MAX_COUNT: Final = 100_000
_AUTH_FIELDS: Final = ("signature", "key", "passphrase", "timestamp")


@dataclass
class ExchangeWsConfig:
    """The Exchange feed's timings and the knobs for what the reference leaves open.

    Attributes:
        subscribe_deadline: seconds to send an accepted subscribe before a 1008 close
            (Exchange: 5 s).
        heartbeat_interval: seconds between a product's heartbeats (Exchange: 1 s).
        ticker_batch_interval: ``ticker_batch`` period (Exchange: 5 s).
        status_interval: ``status`` period.
        level2_auth: ``required`` (the docs since 2023: an unsigned ``level2`` subscribe is
            refused with the auth error frame) or ``optional`` (served like
            ``level2_batch``); whether Exchange errors or stays silent is UNCERTAIN.
        close_on_auth_failure: close the socket after an auth error frame (UNCERTAIN).
        sequence_start: every product's first sequence number.
        send_queue_max: frames queued per connection before it counts as a slow consumer
            and is dropped (Exchange's ``ErrSlowConsume``).
        max_inbound_bytes: the largest client message.
        stop_activate: a stop placed untriggered announces itself with ``activate`` (the
            reference lists the message; what else Exchange sends for a stop is
            UNCERTAIN), and ``received`` → ``open``/``match`` → ``done`` once it triggers.
            False: ``received`` at placement, like any order.
    """

    subscribe_deadline: float = 5.0
    heartbeat_interval: float = 1.0
    ticker_batch_interval: float = 5.0
    status_interval: float = 60.0
    level2_auth: Literal["required", "optional"] = "required"
    close_on_auth_failure: bool = False
    sequence_start: int = 10_000_000_000
    send_queue_max: int = 10_000
    max_inbound_bytes: int = 64 * 1024
    stop_activate: bool = True


def _bounded(n: int, what: str) -> int:
    if not 0 <= n <= _MAX_COUNT:
        raise ValueError(f"{what} must be in [0, {_MAX_COUNT}], got {n}")
    return n


@dataclass
class ExchangeWsFaults:
    """Scriptable misbehaviour of the Exchange feed, each bounded (like ``WsFaults``).

    "Next frame" means the next frame written on any connection.
    """

    _disconnects: deque[int] = field(default_factory=deque)
    _errors: deque[tuple[str, str | None]] = field(default_factory=deque)
    _skip: dict[str, int] = field(default_factory=dict)

    def close_next(self, code: int = 1001, count: int = 1) -> None:
        """Close cleanly with ``code`` instead of sending the next frame, ``count`` times."""
        self._disconnects.extend([code] * _bounded(count, "count"))

    def drop_next(self, code: int = 1006, count: int = 1) -> None:
        """Drop the connection at its next frame; ``1006`` aborts TCP with no close frame."""
        self._disconnects.extend([code] * _bounded(count, "count"))

    def error_next(
        self, message: str = "Failed to subscribe", reason: str | None = None, count: int = 1
    ) -> None:
        """Send ``count`` error frames before the next frame (the connection stays open)."""
        if not message:
            raise ValueError("message must be a non-empty string")
        self._errors.extend([(message, reason)] * _bounded(count, "count"))

    def skip_sequence(self, product_id: str, n: int = 1) -> None:
        """Lose ``product_id``'s next ``n`` trades in transit, on every connection.

        Each lost trade takes its sequence number and trade id, but its ``match`` and
        ``ticker`` never arrive, nor the ``l2update`` of the same market step: what a
        client sees of a dropped message on Exchange (a ``trade_id`` jump on ``matches``,
        a heartbeat ``last_trade_id`` ahead of the last match, a stale book until it
        resynchronises). The ``user`` channel is unaffected.
        """
        self._skip[product_id] = self._skip.get(product_id, 0) + _bounded(n, "n")

    def reset(self) -> None:
        """Clear every armed fault."""
        self._disconnects.clear()
        self._errors.clear()
        self._skip.clear()

    @property
    def pending(self) -> dict[str, Any]:
        """What is still armed."""
        return {
            "disconnects": list(self._disconnects),
            "error_next": [m for m, _ in self._errors],
            "skip_sequence": dict(self._skip),
        }

    def take_disconnect(self) -> int | None:
        return self._disconnects.popleft() if self._disconnects else None

    def take_errors(self) -> list[tuple[str, str | None]]:
        out = list(self._errors)
        self._errors.clear()
        return out

    def take_skip(self, product_id: str) -> bool:
        """Whether this trade of ``product_id`` is to be lost (consumes one)."""
        n = self._skip.get(product_id, 0)
        if n <= 0:
            return False
        self._skip[product_id] = n - 1
        return True


class _Conn:
    """One connection: subscriptions, a bounded queue of frames, the writer, owned tasks."""

    def __init__(
        self, ws: web.WebSocketResponse, request: web.Request, faults: ExchangeWsFaults, qmax: int
    ) -> None:
        self.ws = ws
        self.request = request
        self.faults = faults
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=qmax)
        self.subs: dict[str, list[str]] = {}
        self.user_id: str | None = None
        self.subscribed = False
        self.ticker_dirty: set[str] = set()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.closing = False
        self.close_task: asyncio.Task[None] | None = None

    def spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        old = self.tasks.pop(name, None)
        if old is not None:
            old.cancel()
        self.tasks[name] = asyncio.get_running_loop().create_task(coro, name=f"exws-{name}")

    def send(self, frame: Mapping[str, Any]) -> None:
        if self.closing:
            return
        try:
            self.queue.put_nowait(f.dumps(frame))
        except asyncio.QueueFull:
            log.warning("sim exchange ws: slow consumer, dropping the connection")
            self.begin_close(1006)

    async def writer(self) -> None:
        try:
            while True:
                text = await self.queue.get()
                code = self.faults.take_disconnect()
                if code is not None:
                    self.begin_close(code)
                    return
                for message, reason in self.faults.take_errors():
                    await self.ws.send_str(f.dumps(f.error(message, reason)))
                await self.ws.send_str(text)
        except (ConnectionError, RuntimeError) as exc:  # the peer vanished mid-send
            log.debug("sim exchange ws: send failed: %s", exc)
            self.begin_close(1006)

    def begin_close(self, code: int) -> None:
        if self.closing:
            return
        self.closing = True
        me = asyncio.current_task()
        for task in self.tasks.values():
            if task is not me:
                task.cancel()
        self.close_task = asyncio.get_running_loop().create_task(self._close(code))

    async def _close(self, code: int) -> None:
        if code != 1006 and self.request.transport is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(code=code), 5.0)
            if self.ws.closed and self.ws.close_code is not None:
                return
        if self.request.transport is not None:
            self.request.transport.abort()

    async def shutdown(self) -> None:
        self.closing = True
        me = asyncio.current_task()
        tasks = [t for t in self.tasks.values() if t is not me]
        for task in tasks:
            task.cancel()
        if self.close_task is not None:
            tasks.append(self.close_task)
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10.0)


class ExchangeWsHub:
    """The Exchange feed over a :class:`SimExchange` (see the module docstring).

    Args:
        exchange: the engine.
        keys: the registered keys by public key (the REST dialect's, shared).
        refusals: the REST dialect's refusal texts (the auth error's ``reason``).
        window: the timestamp window in seconds (Exchange: 30).
        now: the server clock (fault offset included): timestamps and the window.
        client_oid: an order id → its ``client_oid`` (the REST dialect knows them).
        config: timings and knobs.
        faults: fault knobs (a fresh :class:`ExchangeWsFaults` when None).
    """

    def __init__(
        self,
        exchange: SimExchange,
        *,
        keys: Mapping[str, ExchangeKey],
        refusals: ExchangeRefusals,
        window: float,
        now: Callable[[], float],
        client_oid: Callable[[str], str | None],
        config: ExchangeWsConfig | None = None,
        faults: ExchangeWsFaults | None = None,
    ) -> None:
        self.exchange = exchange
        self.keys = keys
        self.refusals = refusals
        self.window = window
        self.now = now
        self.config = config or ExchangeWsConfig()
        self.faults = faults or ExchangeWsFaults()
        self.orders = f.OrderFeed(
            client_oid, activate=self.config.stop_activate, stop_type=self._stop_type
        )
        self._conns: set[_Conn] = set()
        self._subscribed = asyncio.Event()  # set at every accepted subscribe
        start = self.config.sequence_start
        self.sequence: dict[str, int] = {pid: start for pid in exchange.product_ids()}
        self.last_trade: dict[str, TradePrint | None] = {}
        self._trade_seq: dict[str, int] = {}  # product -> the sequence of its last trade
        self._trade_ids: dict[str, tuple[str, str]] = {}  # "pid:tid" -> (maker, taker) order
        for pid in exchange.product_ids():
            recent = exchange.recent_trades(pid, 1)
            self.last_trade[pid] = recent[-1] if recent else None
            self._trade_seq[pid] = start

    def _stop_type(self, user_id: str, order_id: str) -> str:
        """``loss`` (triggers at or below) or ``entry`` (at or above), from the engine."""
        config = next(iter(self.exchange.get_order(user_id, order_id)["order_configuration"]
                           .values()))  # fmt: skip
        down = config.get("stop_direction") == "STOP_DIRECTION_STOP_DOWN"
        return "loss" if down else "entry"

    @property
    def connections(self) -> int:
        """Open connections."""
        return len(self._conns)

    def subscribers(self, channel: str) -> int:
        """Connections subscribed to ``channel`` (tests wait on it before moving the market)."""
        return sum(1 for c in self._conns if channel in c.subs)

    async def wait_subscribers(self, channel: str, n: int = 1) -> None:
        """Until ``n`` connections subscribe ``channel`` (bound it with a timeout)."""
        while self.subscribers(channel) < n:
            self._subscribed.clear()
            await self._subscribed.wait()

    def _next(self, pid: str) -> int:
        self.sequence[pid] += 1
        return self.sequence[pid]

    # -- connections -------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """The aiohttp handler of one connection; never raises because of a client."""
        ws = web.WebSocketResponse(max_msg_size=self.config.max_inbound_bytes, autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws, request, self.faults, self.config.send_queue_max)
        self._conns.add(conn)
        conn.spawn("writer", conn.writer())
        conn.spawn("deadline", self._deadline(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    conn.send(f.error("Malformed JSON", "binary frames are not accepted"))
                elif msg.type == WSMsgType.ERROR:
                    break
        except Exception:
            log.exception("sim exchange ws: connection handler failed")
            conn.begin_close(1011)
        finally:
            self._conns.discard(conn)
            await conn.shutdown()
        return ws

    async def close(self) -> None:
        """Close every connection with ``1001 going away``."""
        conns = list(self._conns)
        for conn in conns:
            conn.begin_close(1001)
        await asyncio.gather(*(c.shutdown() for c in conns), return_exceptions=True)

    async def _deadline(self, conn: _Conn) -> None:
        await asyncio.sleep(self.config.subscribe_deadline)
        if not conn.subscribed:
            conn.begin_close(1008)

    # -- inbound -----------------------------------------------------------------------------

    def _on_text(self, conn: _Conn, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            conn.send(f.error("Malformed JSON", "the message is not valid JSON"))
            return
        try:
            self._on_message(conn, msg)
        except Exception:
            log.exception("sim exchange ws: failed to handle %r", text[:200])
            conn.send(f.error("Failed to subscribe", "internal error"))

    def _authenticate(self, conn: _Conn, msg: Mapping[str, Any]) -> str | None:
        """The profile a signed subscribe authenticates as; raises ExchangeAuthFailure."""
        ts = msg.get("timestamp")
        if isinstance(ts, bool) or not isinstance(ts, str | int | float):
            ts = ""
        headers = {
            "cb-access-key": str(msg.get("key") or ""),
            "cb-access-sign": str(msg.get("signature") or ""),
            "cb-access-timestamp": str(ts),
            "cb-access-passphrase": str(msg.get("passphrase") or ""),
        }
        key = verify_request(
            self.keys,
            headers,
            "GET",
            VERIFY_PATH,
            b"",
            self.now(),
            refusals=self.refusals,
            window=self.window,
            remote=conn.request.remote,
        )
        if not (key.can_view or key.can_trade):
            refusal = self.refusals.missing_permission
            raise ExchangeAuthFailure(refusal, refusal.message.format(permission="view"))
        return key.profile_id

    def _on_message(self, conn: _Conn, msg: Any) -> None:
        if not isinstance(msg, dict):
            conn.send(f.error("Malformed JSON", "a message must be a JSON object"))
            return
        kind = msg.get("type")
        if kind not in ("subscribe", "unsubscribe"):
            conn.send(
                f.error("Failed to subscribe", "Type has to be either subscribe or unsubscribe")
            )
            return
        try:
            wanted = f.parse_subscribe(msg, self.exchange.product_ids())
        except f.SubscribeError as exc:
            conn.send(f.error("Failed to subscribe", str(exc)))
            return
        user_id: str | None = None
        if any(k in msg for k in _AUTH_FIELDS):
            try:
                user_id = self._authenticate(conn, msg)
            except ExchangeAuthFailure as exc:
                log.info("sim exchange ws: auth failed: %s", exc.message)
                self._refuse_auth(conn, exc.message)
                return
        if kind == "unsubscribe":
            self._unsubscribe(conn, wanted)
            return
        for channel in wanted:
            needs_auth = channel == "user" or (
                channel == "level2" and self.config.level2_auth == "required"
            )
            if needs_auth and user_id is None:
                self._refuse_auth(
                    conn,
                    f"authentication required for the {channel} channel: sign the subscribe "
                    f"(key, passphrase, timestamp, signature over timestamp+GET+{VERIFY_PATH})",
                )
                return
            if f.needs_products(channel) and channel != "user" and not wanted[channel]:
                conn.send(f.error("Failed to subscribe", f"{channel} requires product_ids"))
                return
        self._subscribe(conn, wanted, user_id)

    def _refuse_auth(self, conn: _Conn, message: str) -> None:
        conn.send(f.auth_error(message))
        if self.config.close_on_auth_failure:
            conn.begin_close(1000)

    def _subscribe(self, conn: _Conn, wanted: dict[str, list[str]], user_id: str | None) -> None:
        added: dict[str, list[str]] = {}
        for channel, pids in wanted.items():
            before = conn.subs.get(channel, [])
            if channel == "user" and not pids:
                pids = list(self.exchange.product_ids())  # no products: every product
            added[channel] = [p for p in pids if p not in before]
            conn.subs[channel] = before + added[channel]
        if user_id is not None and "user" in wanted:
            conn.user_id = user_id
        conn.subscribed = True
        self._subscribed.set()
        conn.send(f.subscriptions(conn.subs))
        now = self.now()
        for channel, pids in added.items():
            self._snapshot(conn, channel, pids, now)
        periodic = {
            "heartbeat": self.config.heartbeat_interval,
            "ticker_batch": self.config.ticker_batch_interval,
            "status": self.config.status_interval,
        }
        for channel in wanted:
            if channel in periodic and channel not in conn.tasks:
                conn.spawn(channel, self._periodic(conn, channel, periodic[channel]))

    def _unsubscribe(self, conn: _Conn, wanted: dict[str, list[str]]) -> None:
        for channel, pids in wanted.items():
            if channel not in conn.subs:
                continue
            left = [p for p in conn.subs[channel] if p not in pids] if pids else []
            if left:
                conn.subs[channel] = left
                continue
            del conn.subs[channel]
            task = conn.tasks.pop(channel, None)
            if task is not None:
                task.cancel()
        conn.send(f.subscriptions(conn.subs))

    def _snapshot(self, conn: _Conn, channel: str, pids: list[str], now: float) -> None:
        ex = self.exchange
        if channel in ("level2", "level2_batch"):
            for pid in pids:
                if pid in conn.subs.get("level2", []) and pid in conn.subs.get("level2_batch", []):
                    continue  # one book per product on a connection
                bids, asks = ex.book(pid)
                conn.send(f.l2_snapshot(pid, bids, asks))
        elif channel == "matches":
            for pid in pids:
                trade = self.last_trade.get(pid)
                if trade is not None:
                    maker, taker = self._order_ids(trade)
                    frame = f.match(trade, self._trade_seq[pid], maker_order_id=maker,
                                    taker_order_id=taker, last=True)  # fmt: skip
                    conn.send(frame)
        elif channel == "ticker":
            for pid in pids:
                if self.last_trade.get(pid) is not None:
                    conn.send(self._ticker(pid, now))
        elif channel == "status":
            conn.send(self._status())

    # -- periodic channels -------------------------------------------------------------------

    async def _periodic(self, conn: _Conn, channel: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self._tick(conn, channel)
            except Exception:
                log.exception("sim exchange ws: periodic %s failed", channel)

    def _tick(self, conn: _Conn, channel: str) -> None:
        now = self.now()
        if channel == "heartbeat":
            for pid in conn.subs.get("heartbeat", []):
                trade = self.last_trade.get(pid)
                last_id = int(trade.trade_id) if trade else 0
                conn.send(f.heartbeat(pid, self.sequence[pid], last_id, now))
        elif channel == "ticker_batch":
            dirty = [p for p in conn.subs.get("ticker_batch", []) if p in conn.ticker_dirty]
            conn.ticker_dirty.clear()
            for pid in dirty:
                conn.send(self._ticker(pid, now))
        elif channel == "status":
            conn.send(self._status())

    def _ticker(self, pid: str, now: float) -> dict[str, Any]:
        wire = self.exchange.ticker_wire(pid)
        return f.ticker(pid, wire, self.last_trade.get(pid), self._trade_seq[pid], now)

    def _status(self) -> dict[str, Any]:
        config = self.exchange.config
        return f.status(
            [product(s, self.exchange.product_status(s.product_id)) for s in config.products],
            currencies(config.products, config.initial_balances),
        )

    def _order_ids(self, trade: TradePrint) -> tuple[str, str]:
        """(maker, taker) order ids of a trade: the user's where known, else synthetic."""
        known = self._trade_ids.get(f"{trade.product_id}:{trade.trade_id}")
        if known is not None:
            return known
        other = f.counterparty_id(trade.product_id, trade.trade_id)
        return other, f.counterparty_id(trade.product_id, f"{trade.trade_id}:taker")

    # -- fan-out -----------------------------------------------------------------------------

    def publish(self, events: Sequence[SimEvent]) -> None:
        """Number the batch's messages per product and send them to the subscribers."""
        if not events:
            return
        now = self.now()
        book: dict[str, list[tuple[str, Any, Any]]] = {}
        trades: list[TradePrint] = []
        changed: list[OrderChanged] = []
        restated = False  # a product's trading mode changed: status subscribers hear at once
        for ev in events:
            if isinstance(ev, BookChange):
                side = "buy" if ev.side == "bid" else "sell"
                book.setdefault(ev.product_id, []).append((side, ev.price, ev.new_quantity))
            elif isinstance(ev, TradePrint):
                trades.append(ev)
            elif isinstance(ev, OrderChanged):
                changed.append(ev)
            elif isinstance(ev, ProductStatusChanged):
                restated = True
        if restated:
            status = self._status()
            for conn in list(self._conns):
                if "status" in conn.subs:
                    conn.send(status)
        # 1. received: before the batch's trades, as the order reached the engine first
        private: list[tuple[str, int, int, dict[str, Any]]] = []  # (user, seq, rank, frame)
        for oc in changed:
            for um in self.orders.received_first(oc.user_id, oc.order, now):
                um.frame["sequence"] = self._next(um.product_id)
                private.append((um.user_id, um.frame["sequence"], 0, um.frame))
        # 2. the book's changes stand for the full feed's open/done/change messages
        for pid, changes in book.items():
            self.sequence[pid] += len(changes)
        # 3. what the users' orders did (matches need the trades' numbers, assigned below)
        later: list[f.UserMessage] = []
        user_matches: list[f.UserMessage] = []
        for oc in changed:
            order = oc.order
            fills: list[dict[str, Any]] = []
            if str(order.get("cumulative_quantity") or "0").strip("0.") != "":
                query = {"order_ids": [str(order["order_id"])]}
                fills = self.exchange.list_fills(oc.user_id, query)
            matches, lifecycle = self.orders.after_trades(oc.user_id, order, fills, now)
            user_matches += matches
            later += lifecycle
        for um in user_matches:
            key = f"{um.product_id}:{um.trade_id}"
            maker, taker = um.frame["maker_order_id"], um.frame["taker_order_id"]
            self._trade_ids[key] = (maker, taker)
        if len(self._trade_ids) > 10_000:
            for key in list(self._trade_ids)[:5_000]:
                del self._trade_ids[key]
        # 4. the trades: public match + ticker share the trade's number
        lost: set[str] = set()
        public: list[tuple[str, int, int, dict[str, Any]]] = []  # (pid, seq, rank, frame)
        trade_seq: dict[str, int] = {}
        ticker_pids: list[str] = []
        for t in trades:
            pid = t.product_id
            seq = self._next(pid)
            trade_seq[f"{pid}:{t.trade_id}"] = seq
            self.last_trade[pid] = t
            self._trade_seq[pid] = seq
            if self.faults.take_skip(pid):
                lost.add(pid)
                continue
            maker, taker = self._order_ids(t)
            public.append(
                (pid, seq, 1, f.match(t, seq, maker_order_id=maker, taker_order_id=taker))
            )
            if pid not in ticker_pids:
                ticker_pids.append(pid)
        for um in user_matches:
            seq = trade_seq.get(f"{um.product_id}:{um.trade_id}") or self._next(um.product_id)
            um.frame["sequence"] = seq
            private.append((um.user_id, seq, 1, um.frame))
        for um in later:
            um.frame["sequence"] = self._next(um.product_id)
            private.append((um.user_id, um.frame["sequence"], 2, um.frame))
        tickers = {pid: self._ticker(pid, now) for pid in ticker_pids if pid not in lost}
        updates = {
            pid: f.l2_update(pid, changes, now) for pid, changes in book.items() if pid not in lost
        }
        for conn in list(self._conns):
            self._fan_out(conn, private, updates, public, tickers)

    def _fan_out(
        self,
        conn: _Conn,
        private: list[tuple[str, int, int, dict[str, Any]]],
        updates: dict[str, dict[str, Any]],
        public: list[tuple[str, int, int, dict[str, Any]]],
        tickers: dict[str, dict[str, Any]],
    ) -> None:
        subs = conn.subs
        mine: list[tuple[int, int, dict[str, Any]]] = []
        user_pids = set(subs.get("user", []))
        if user_pids and conn.user_id is not None:
            for uid, seq, rank, frame in private:
                if uid == conn.user_id and frame["product_id"] in user_pids:
                    mine.append((seq, rank, frame))
        for _seq, _rank, frame in sorted((m for m in mine if m[1] == 0), key=lambda m: m[0]):
            conn.send(frame)  # received first: lower numbers than the batch's book and trades
        books = dict.fromkeys(subs.get("level2", []) + subs.get("level2_batch", []))
        for pid in books:
            if pid in updates:
                conn.send(updates[pid])
        out = [m for m in mine if m[1] != 0]
        matches = set(subs.get("matches", []))
        out += [(seq, rank, frame) for pid, seq, rank, frame in public if pid in matches]
        for pid in subs.get("ticker", []):
            if pid in tickers:
                out.append((int(tickers[pid]["sequence"]), 3, tickers[pid]))
        for pid in subs.get("ticker_batch", []):
            if pid in tickers:
                conn.ticker_dirty.add(pid)
        for _seq, _rank, frame in sorted(out, key=lambda m: (m[0], m[1])):
            conn.send(frame)
