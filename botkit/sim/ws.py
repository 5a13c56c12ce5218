"""aiohttp WebSocket hub that speaks the Coinbase Advanced Trade WebSocket protocol.

One :class:`SimWsHub` serves both the market and the user endpoint. The engine
never touches sockets: the server calls :meth:`SimWsHub.publish` with the
events it drained after every market step or REST mutation, and the hub fans
them out to subscribers. Frame shapes live in :mod:`botkit.sim.ws_frames`;
the per-connection queue, writer and fault knobs in :mod:`botkit.sim.ws_conn`.

Per connection there is one bounded outgoing queue and one writer task that
assigns the connection-wide ``sequence_num`` (§3.4) at send time, so acks,
heartbeats and data share one contiguous counter, and faults (gaps,
duplicates, drops) are applied in exactly one place. ``publish`` only
enqueues, so a slow client can never block the engine; one that lets its
queue overflow is disconnected (Coinbase's slow-consumer rule).

Level2 integrity: a snapshot is read from ``exchange.book()`` synchronously
while handling the subscribe, and ``publish`` runs synchronously on the same
loop, so every change published afterwards is newer than the snapshot. Even
if the engine had undrained changes at snapshot time, re-applying them is
harmless because ``new_quantity`` is absolute and changes arrive in order.

Choices where Coinbase is undocumented (**assumed**): the ack is sent before
snapshots; only an *accepted* subscribe stops the first-subscribe deadline,
which closes with ``1008 policy violation``; a slow consumer's TCP connection
is aborted (seen as ``1006``); ``idle_close_seconds`` closes with ``1000``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from botkit.sim import ws_frames as f
from botkit.sim.events import BookChange, OrderChanged, ProductStatusChanged, SimEvent, TradePrint
from botkit.sim.ws_conn import WsConnection, WsFaults

__all__ = ["SimWsHub", "WsAuthError", "WsConfig", "WsFaults"]

log = logging.getLogger(__name__)

_NEEDS_PRODUCTS = frozenset({"level2", "ticker", "ticker_batch", "market_trades", "candles"})
_PERIODIC = frozenset({"heartbeats", "ticker_batch", "candles", "status"})


class WsAuthError(Exception):
    """Raised by ``verify_jwt`` for a bad, expired or unknown token."""


@dataclass
class WsConfig:
    """Per-hub WebSocket behaviour; defaults follow Coinbase (§3.2, §3.5, §3.7).

    Attributes:
        subscribe_deadline: seconds after connecting by which a subscribe must
            be *accepted*, else the connection is closed with 1008.
        heartbeat_interval: seconds between ``heartbeats`` events.
        max_level2_products: level2 products per connection before the
            "too many L2 streams" error.
        idle_close_seconds: close (1000) a connection that sent nothing for
            this long; ``None`` (default) disables it.
        ticker_batch_interval / candles_interval / status_interval: periods of
            the periodic channels, in seconds.
        user_snapshot_batch: orders per ``user`` snapshot message.
        market_trades_snapshot: trades per product in the market_trades snapshot.
        market_trades_interval: Coinbase batches ``market_trades`` over 250 ms (§3.5):
            prints are collected per connection and sent every this many seconds (one
            frame per flush, nothing sent when there were none). ``0`` sends each
            market step's prints at once (tests that step the market by hand).
        send_queue_max: queued frames per connection before the client is
            treated as a slow consumer and dropped.
        max_inbound_bytes: largest client message accepted.
    """

    subscribe_deadline: float = 5.0
    heartbeat_interval: float = 1.0
    max_level2_products: int = 16
    idle_close_seconds: float | None = None
    ticker_batch_interval: float = 5.0
    candles_interval: float = 1.0
    status_interval: float = 60.0
    user_snapshot_batch: int = 50
    market_trades_snapshot: int = 50
    market_trades_interval: float = 0.25
    send_queue_max: int = 10_000
    max_inbound_bytes: int = 64 * 1024


class SimWsHub:
    """Coinbase-compatible WebSocket endpoint over a ``SimExchange``.

    Args:
        exchange: the engine (anything with the ``ExchangeView`` methods).
        config: timings and limits.
        now: the simulator clock, used for every timestamp the client sees.
        verify_jwt: maps a WS JWT to a user id; raises on any failure.
        faults: fault knobs; a fresh :class:`WsFaults` when omitted.
    """

    def __init__(
        self,
        exchange: f.ExchangeView,
        *,
        config: WsConfig,
        now: Callable[[], float],
        verify_jwt: Callable[[str], str],
        faults: WsFaults | None = None,
    ) -> None:
        self.exchange = exchange
        self.config = config
        self.now = now
        self.verify_jwt = verify_jwt
        self.faults = faults if faults is not None else WsFaults()
        self._conns: set[WsConnection] = set()
        self._mono0 = time.monotonic()

    @property
    def connections(self) -> int:
        """Number of open connections."""
        return len(self._conns)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp handler for one connection; never raises because of a client."""
        ws = web.WebSocketResponse(max_msg_size=self.config.max_inbound_bytes, autoping=True)
        await ws.prepare(request)
        conn = WsConnection(
            ws,
            request,
            faults=self.faults,
            now=self.now,
            queue_max=self.config.send_queue_max,
            idle_close=self.config.idle_close_seconds,
        )
        self._conns.add(conn)
        conn.spawn("writer", conn.writer())
        conn.spawn("deadline", self._deadline(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    conn.send_error("failure to parse message", "binary frames are not accepted")
                elif msg.type == WSMsgType.ERROR:
                    break
        except Exception:
            log.exception("ws: connection handler failed")
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

    async def _deadline(self, conn: WsConnection) -> None:
        await asyncio.sleep(self.config.subscribe_deadline)
        if not conn.subscribed:
            conn.begin_close(1008)

    # -- inbound ------------------------------------------------------------

    def _on_text(self, conn: WsConnection, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            conn.send_error("failure to parse message", "malformed JSON")
            return
        try:
            self._on_message(conn, msg)
        except Exception:
            log.exception("ws: failed to handle %r", text[:200])
            conn.send_error("failure to subscribe", "internal error")

    def _on_message(self, conn: WsConnection, msg: Any) -> None:
        if not isinstance(msg, dict):
            conn.send_error("failure to parse message", "message must be a JSON object")
            return
        if "channels" in msg:
            conn.send_error("failure to subscribe", 'exactly one "channel" per message is required')
            return
        kind, channel = msg.get("type"), msg.get("channel")
        if kind not in ("subscribe", "unsubscribe"):
            conn.send_error("failure to parse message", f"unknown message type {kind!r}")
            return
        if not isinstance(channel, str) or channel not in f.CHANNELS:
            conn.send_error(f.AUTH_FAILURE)  # what Coinbase answers for "heartbeat" or "full"
            return
        user_id: str | None = None
        if "jwt" in msg:
            try:
                user_id = self.verify_jwt(msg["jwt"])
            except Exception:
                conn.send_error(f.AUTH_FAILURE)
                return
        if channel == "user" and kind == "subscribe" and user_id is None:
            conn.send_error(f.AUTH_FAILURE)
            return
        pids = msg.get("product_ids") or []
        if not isinstance(pids, list) or not all(isinstance(p, str) for p in pids):
            conn.send_error("failure to subscribe", "product_ids must be a list of strings")
            return
        known = set(self.exchange.product_ids())
        unknown = [p for p in pids if p not in known]
        if unknown and channel != "heartbeats":
            conn.send_error("failure to subscribe", f"{unknown[0]} is not a valid product")
            return
        pids = [] if channel == "heartbeats" else list(dict.fromkeys(pids))
        if kind == "subscribe":
            self._subscribe(conn, channel, pids, user_id)
        else:
            self._unsubscribe(conn, channel, pids)

    def _subscribe(
        self, conn: WsConnection, channel: str, pids: list[str], user_id: str | None
    ) -> None:
        if channel in _NEEDS_PRODUCTS and not pids:
            conn.send_error("failure to subscribe", f"{channel} requires product_ids")
            return
        if channel in ("user", "status", "heartbeats"):
            merged = pids
        else:
            merged = list(dict.fromkeys(conn.subs.get(channel, []) + pids))
        if channel == "level2" and len(merged) > self.config.max_level2_products:
            conn.send_error(f.L2_CAP_MESSAGE)
            return
        if channel == "user":
            conn.user_id = user_id
        conn.subs[channel] = merged
        conn.subscribed = True
        self._ack(conn)
        self._snapshot(conn, channel, pids)
        batched = channel == "market_trades" and self.config.market_trades_interval > 0
        if (channel in _PERIODIC or batched) and channel not in conn.tasks:
            conn.spawn(channel, self._periodic(conn, channel))

    def _unsubscribe(self, conn: WsConnection, channel: str, pids: list[str]) -> None:
        if channel in conn.subs:
            left = [p for p in conn.subs[channel] if p not in pids]
            if not pids or channel in ("heartbeats", "user") or not left:
                del conn.subs[channel]
                if channel == "market_trades":
                    conn.trades_pending.clear()
                task = conn.tasks.pop(channel, None)
                if task is not None:
                    task.cancel()
            else:
                conn.subs[channel] = left
                if channel == "market_trades":  # a re-subscribe must not replay them
                    kept = set(left)
                    pending = conn.trades_pending
                    conn.trades_pending = [t for t in pending if t["product_id"] in kept]
        self._ack(conn)

    def _ack(self, conn: WsConnection) -> None:
        subs = {ch: list(p) for ch, p in conn.subs.items()}
        conn.send("subscriptions", [{"subscriptions": subs}])

    # -- snapshots ----------------------------------------------------------

    def _snapshot(self, conn: WsConnection, channel: str, pids: list[str]) -> None:
        ex, now = self.exchange, self.now()
        if channel == "level2":
            for pid in pids:
                for events in f.l2_snapshot_frames(ex, pid, now, self.faults.take_pad_levels()):
                    conn.send("l2_data", events)
        elif channel in ("ticker", "ticker_batch"):
            batch = channel == "ticker_batch"
            tickers = [f.ticker_object(p, ex.ticker_wire(p), batch=batch) for p in pids]
            conn.send(channel, [{"type": "snapshot", "tickers": tickers}])
        elif channel == "market_trades":
            n = self.config.market_trades_snapshot
            trades = [f.trade_object(t) for p in pids for t in ex.recent_trades(p, n)]
            conn.send(channel, [{"type": "snapshot", "trades": trades}])
        elif channel == "candles":
            current = {p: c for p in pids if (c := f.current_candle(ex, p, now)) is not None}
            conn.last_candles.update(current)
            conn.send(channel, [f.candle_event("snapshot", current)])
        elif channel == "status":
            products = [ex.product_wire(p) for p in (pids or ex.product_ids())]
            conn.send(channel, [f.status_event("snapshot", products)])
        elif channel == "user" and conn.user_id is not None:
            orders = [o for o in ex.open_orders_ws(conn.user_id) if _wanted(o, pids)]
            for event in f.user_batches(orders, self.config.user_snapshot_batch):
                conn.send("user", [event])

    # -- periodic channels --------------------------------------------------

    async def _periodic(self, conn: WsConnection, channel: str) -> None:
        cfg = self.config
        interval = {
            "heartbeats": cfg.heartbeat_interval,
            "ticker_batch": cfg.ticker_batch_interval,
            "candles": cfg.candles_interval,
            "status": cfg.status_interval,
            "market_trades": cfg.market_trades_interval,
        }[channel]
        while True:
            await asyncio.sleep(interval)
            try:
                self._tick(conn, channel)
            except Exception:
                log.exception("ws: periodic %s failed", channel)

    def _tick(self, conn: WsConnection, channel: str) -> None:
        ex, now, pids = self.exchange, self.now(), conn.subs.get(channel, [])
        if channel == "heartbeats":
            if self.faults.stall_remaining() > 0:
                return  # a stalled server sends nothing, heartbeats included
            conn.hb_counter += 1
            mono = time.monotonic() - self._mono0
            conn.send(channel, [f.heartbeat_event(now, mono, conn.hb_counter)])
        elif channel == "ticker_batch":
            dirty = [p for p in pids if p in conn.ticker_dirty]
            conn.ticker_dirty.clear()
            if dirty:
                tickers = [f.ticker_object(p, ex.ticker_wire(p), batch=True) for p in dirty]
                conn.send(channel, [{"type": "update", "tickers": tickers}])
        elif channel == "candles":
            changed = {}
            for pid in pids:
                candle = f.current_candle(ex, pid, now)
                if candle is not None and candle != conn.last_candles.get(pid):
                    changed[pid] = conn.last_candles[pid] = candle
            if changed:
                conn.send(channel, [f.candle_event("update", changed)])
        elif channel == "status":
            products = [ex.product_wire(p) for p in (pids or ex.product_ids())]
            conn.send(channel, [f.status_event("update", products)])
        elif channel == "market_trades" and conn.trades_pending:
            wanted = set(pids)  # a product unsubscribed since: its prints are dropped
            rows = [t for t in conn.trades_pending if t["product_id"] in wanted]
            conn.trades_pending.clear()
            if rows:
                conn.send(channel, [{"type": "update", "trades": rows}])

    # -- fan-out ------------------------------------------------------------

    def publish(self, events: Sequence[SimEvent]) -> None:
        """Fan engine events out to subscribers; never blocks (queues are bounded)."""
        if not events or not self._conns:
            return
        book: dict[str, list[BookChange]] = {}
        trades: dict[str, list[TradePrint]] = {}
        orders: dict[str, list[dict[str, Any]]] = {}
        restated: dict[str, None] = {}  # products whose trading mode changed, in order
        for ev in events:
            if isinstance(ev, BookChange):
                book.setdefault(ev.product_id, []).append(ev)
            elif isinstance(ev, TradePrint):
                trades.setdefault(ev.product_id, []).append(ev)
            elif isinstance(ev, OrderChanged):
                orders.setdefault(ev.user_id, []).append(ev.order)
            elif isinstance(ev, ProductStatusChanged):
                restated[ev.product_id] = None
        l2 = {pid: f.l2_update_event(pid, changes) for pid, changes in book.items()}
        prints = {pid: [f.trade_object(t) for t in ts] for pid, ts in trades.items()}
        tickers: dict[str, dict[str, Any]] = {}
        for conn in list(self._conns):
            subs = conn.subs
            if "level2" in subs and (out := [l2[p] for p in subs["level2"] if p in l2]):
                conn.send("l2_data", out)
            if "market_trades" in subs:
                rows = [t for p in subs["market_trades"] for t in prints.get(p, [])]
                if rows and self.config.market_trades_interval > 0:
                    conn.trades_pending.extend(rows)  # sent by the channel's 250 ms flush
                elif rows:
                    conn.send("market_trades", [{"type": "update", "trades": rows}])
            if "ticker" in subs and (hit := [p for p in subs["ticker"] if p in trades]):
                for p in hit:
                    if p not in tickers:
                        tickers[p] = f.ticker_object(p, self.exchange.ticker_wire(p), batch=False)
                conn.send("ticker", [{"type": "update", "tickers": [tickers[p] for p in hit]}])
            if "ticker_batch" in subs:
                conn.ticker_dirty.update(p for p in subs["ticker_batch"] if p in trades)
            if "status" in subs and (hit := [p for p in restated if _wanted_pid(p, subs)]):
                products = [self.exchange.product_wire(p) for p in hit]
                conn.send("status", [f.status_event("update", products)])
            if "user" in subs and conn.user_id in orders:
                mine = [o for o in orders[conn.user_id] if _wanted(o, subs["user"])]
                if mine:
                    conn.send("user", [f.user_update(mine)])


def _wanted(order: dict[str, Any], pids: list[str]) -> bool:
    return not pids or order.get("product_id") in pids


def _wanted_pid(product_id: str, subs: dict[str, list[str]]) -> bool:
    """A ``status`` subscription without products covers every product."""
    return not subs["status"] or product_id in subs["status"]
