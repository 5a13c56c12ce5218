"""Simulator adapter: the Coinbase Prime WebSocket feed (aiohttp), over the shared exchange.

:class:`PrimeWsHub` serves Prime's feed (reference exchange-prime-api.md §2.C) for
:class:`~botkit.sim.prime_rest.PrimeSimServer`, on the REST port at ``/ws``. Coinbase serves
it on its own host (``wss://ws-feed.prime.coinbase.com``, path ``/``); one port is simpler
for a loopback simulator, and ``/ws`` is the path the Exchange dialect server uses too, so
the wiring builds both feeds' URLs the same way (``/`` stays free, and Prime's REST lives
under ``/v1``). Any client takes a WebSocket URL.

What is served:

* ``subscribe``/``unsubscribe`` with exactly one ``channel``, **signed** (access key,
  ``api_key_id`` = service account id, epoch-seconds ``timestamp``, passphrase,
  ``signature`` over ``channel + access_key + api_key_id + timestamp + portfolio_id +
  product_ids``; :mod:`botkit.sim.prime_ws_frames`), checked against the REST dialect's
  keys, clock and window (30 s, :class:`~botkit.sim.prime_dialect.PrimeDialectConfig`).
  An accepted one is answered by a ``subscriptions`` ack listing the connection's whole
  set (``orders`` lists the portfolio id, ``l2_data`` the products).
* ``heartbeats`` (or ``heartbeat``: both names accepted, echoed as sent) every
  ``heartbeat_interval`` with Go's time string and an integer ``heartbeat_counter``.
* ``l2_data``: a ``snapshot`` of the whole book per product, then ``update`` events
  (``side`` ``bid``/``offer``, ``px``, absolute ``qty``, ``"0"`` removes), one frame per
  product per market step.
* ``orders`` (``portfolio_id`` required, ``product_ids`` filter; none = all): a
  ``snapshot`` of the portfolio's open orders, then an ``update`` per change with
  cumulative ``cum_qty``, ``leaves_qty``, ``avg_px``, ``net_avg_px``, ``fees`` and the
  status (``OPEN`` → ``FILLED``/``CANCELLED``/``EXPIRED``/``FAILED``, §2.6); the
  client order id is Prime's own (the REST dialect's).

``sequence_num`` is one counter **per connection**, from 0, shared by every channel
(the docs' examples; per-channel counting is UNCERTAIN). The transport is the Advanced
Trade hub's :class:`~botkit.sim.ws_conn.WsConnection`: one bounded queue and one writer
per connection, which numbers frames at send time and applies the faults
(:class:`~botkit.sim.ws_conn.WsFaults`: ``close_next``, ``drop_next``,
``skip_sequence``, ``duplicate_next``, ``malformed_next``, ``error_next``, ``stall``;
``oversize_snapshot`` is Advanced Trade's only). A slow consumer is dropped.

Choices where the reference is UNCERTAIN (:class:`PrimeWsConfig` knobs or assumed): a
refused subscribe is the error frame ``{"type": "error", "message": <the REST refusal's
message>}`` and then a close (``close_on_auth_failure``, code 1008); the ack comes before
the snapshot (``ack_before_snapshot``; the docs' two examples disagree); the orders
update ``type`` is ``update``; the ack is a bare object, not wrapped in an array; a
malformed message is an error frame and the connection stays open; ``venue_filtering``
and the ``products`` channel are not simulated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from botkit.sim import prime_ws_frames as pf
from botkit.sim.events import BookChange, OrderChanged, SimEvent
from botkit.sim.exchange import SimExchange
from botkit.sim.prime_auth import PrimeAuthFailure, PrimeKey, PrimeRefusals
from botkit.sim.ws_conn import WsConnection, WsFaults
from botkit.sim.ws_frames import dumps, error_frame, go_time

__all__ = ["PrimeWsConfig", "PrimeWsHub", "PrimeWsKeys"]

log = logging.getLogger("botkit.sim.prime")


class PrimeWsKeys(Protocol):
    """What the hub reads from the REST dialect (:class:`botkit.sim.prime_dialect.PrimeDialect`)."""

    keys: dict[str, PrimeKey]

    @property
    def refusals(self) -> PrimeRefusals: ...

    @property
    def window(self) -> float: ...

    def prime_client_order_id(self, order_id: str, engine_client_order_id: str) -> str: ...

    @property
    def untriggered_stop_status(self) -> str: ...


@dataclass
class PrimeWsConfig:
    """The Prime feed's timings and the knobs for what the reference leaves open.

    Attributes:
        subscribe_deadline: seconds to send an accepted subscribe before a 1008 close
            (Prime: 5 s).
        heartbeat_interval: seconds between heartbeats (Prime: about 1 s).
        close_on_auth_failure: close after the error frame of a refused subscribe
            (UNCERTAIN; "presumably" in the reference).
        auth_failure_close_code: the close code then.
        ack_before_snapshot: send the ``subscriptions`` ack before the snapshot (the
            docs' l2 example) or after it (their orders example).
        send_queue_max: frames queued per connection before it is a slow consumer.
        max_inbound_bytes: the largest client message.
        idle_close_seconds: close (1000) a connection that was sent nothing this long.
    """

    subscribe_deadline: float = 5.0
    heartbeat_interval: float = 1.0
    close_on_auth_failure: bool = True
    auth_failure_close_code: int = 1008
    ack_before_snapshot: bool = True
    send_queue_max: int = 10_000
    max_inbound_bytes: int = 64 * 1024
    idle_close_seconds: float | None = None


class PrimeWsHub:
    """Prime-compatible WebSocket endpoint over a ``SimExchange`` (see the module docstring).

    Args:
        exchange: the engine (shared with the REST dialect).
        dialect: keys, refusals, window and Prime client order ids.
        now: the server clock (timestamp window and every timestamp sent).
        config: timings and knobs.
        faults: frame-level faults; a fresh :class:`WsFaults` when omitted.
    """

    def __init__(
        self,
        exchange: SimExchange,
        *,
        dialect: PrimeWsKeys,
        now: Callable[[], float],
        config: PrimeWsConfig | None = None,
        faults: WsFaults | None = None,
    ) -> None:
        self.exchange = exchange
        self.dialect = dialect
        self.now = now
        self.config = config or PrimeWsConfig()
        self.faults = faults if faults is not None else WsFaults()
        self.refused = 0
        """Subscribes refused for authentication (tests read it)."""
        self._conns: set[WsConnection] = set()
        self._mono0 = time.monotonic()
        self._changed = asyncio.Event()

    @property
    def connections(self) -> int:
        return len(self._conns)

    def subscribers(self, channel: str) -> int:
        """Connections subscribed to ``channel``."""
        return sum(1 for c in self._conns if channel in c.subs)

    async def wait_subscribers(self, channel: str, n: int = 1) -> None:
        """Until ``n`` connections subscribe ``channel`` (bound it with a timeout)."""
        while self.subscribers(channel) < n:
            self._changed.clear()
            await self._changed.wait()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp handler for one connection; never raises because of a client."""
        cfg = self.config
        ws = web.WebSocketResponse(max_msg_size=cfg.max_inbound_bytes, autoping=True)
        await ws.prepare(request)
        conn = WsConnection(
            ws,
            request,
            faults=self.faults,
            now=self.now,
            queue_max=cfg.send_queue_max,
            idle_close=cfg.idle_close_seconds,
        )
        self._conns.add(conn)
        conn.spawn("writer", conn.writer())
        conn.spawn("deadline", self._deadline(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    conn.send_error("binary frames are not accepted")
                elif msg.type == WSMsgType.ERROR:
                    break
                if conn.closing:
                    break
        except Exception:
            log.exception("sim prime ws: connection handler failed")
            conn.begin_close(1011)
        finally:
            self._conns.discard(conn)
            self._changed.set()
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

    # -- inbound ---------------------------------------------------------------------------

    async def _on_text(self, conn: WsConnection, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            conn.send_error("failure to parse message: malformed JSON")
            return
        try:
            sub = pf.parse_subscribe(msg)
        except pf.BadMessage as exc:
            conn.send_error(str(exc))
            return
        try:
            key = pf.verify_subscribe(
                self.dialect.keys,
                sub,
                self.now(),
                refusals=self.dialect.refusals,
                window=self.dialect.window,
            )
        except PrimeAuthFailure as exc:
            await self._refuse(conn, sub, exc.message)
            return
        try:
            self._on_subscribe(conn, sub, key)
        except Exception:
            log.exception("sim prime ws: failed to handle a %s of %s", sub.kind, sub.channel)
            conn.send_error("failure to subscribe: internal error")

    async def _refuse(self, conn: WsConnection, sub: pf.Subscribe, message: str) -> None:
        """The error frame, sent at once (ahead of queued data), then the close if so set."""
        self.refused += 1
        log.info("sim prime ws: %s of %s refused: %s", sub.kind, sub.channel, message)
        if not self.config.close_on_auth_failure:
            conn.send_error(message)
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.send_str(dumps(error_frame(message)))
        conn.begin_close(self.config.auth_failure_close_code)

    def _on_subscribe(self, conn: WsConnection, sub: pf.Subscribe, key: PrimeKey) -> None:
        channel = sub.channel
        pids = list(dict.fromkeys(sub.product_ids))
        if channel in pf.HEARTBEAT_CHANNELS:
            pids = []
        else:
            known = set(self.exchange.product_ids())
            unknown = [p for p in pids if p not in known]
            if unknown:
                conn.send_error(f"failure to subscribe: {unknown[0]} is not a valid product")
                return
            if channel == "l2_data" and sub.kind == "subscribe" and not pids:
                conn.send_error("failure to subscribe: l2_data requires product_ids")
                return
        if sub.kind == "unsubscribe":
            self._unsubscribe(conn, channel, pids)
            return
        if channel == "orders":
            conn.user_id = sub.portfolio_id
            conn.subs[channel] = pids
        elif channel == "l2_data":
            conn.subs[channel] = list(dict.fromkeys(conn.subs.get(channel, []) + pids))
        else:
            conn.subs[channel] = []
            if "heartbeats" not in conn.tasks:
                conn.spawn("heartbeats", self._heartbeats(conn))
        conn.subscribed = True
        self._changed.set()
        if self.config.ack_before_snapshot:
            self._ack(conn)
            self._snapshot(conn, channel, pids)
        else:
            self._snapshot(conn, channel, pids)
            self._ack(conn)

    def _unsubscribe(self, conn: WsConnection, channel: str, pids: list[str]) -> None:
        if channel in conn.subs:
            left = [p for p in conn.subs[channel] if p not in pids]
            if not pids or channel != "l2_data" or not left:
                del conn.subs[channel]
                if channel in pf.HEARTBEAT_CHANNELS and not any(
                    c in conn.subs for c in pf.HEARTBEAT_CHANNELS
                ):
                    task = conn.tasks.pop("heartbeats", None)
                    if task is not None:
                        task.cancel()
            else:
                conn.subs[channel] = left
        self._ack(conn)

    def _ack(self, conn: WsConnection) -> None:
        subs: dict[str, list[str]] = {}
        for channel, pids in conn.subs.items():
            subs[channel] = [conn.user_id or ""] if channel == "orders" else list(pids)
        conn.send("subscriptions", [{"subscriptions": subs}])

    def _snapshot(self, conn: WsConnection, channel: str, pids: list[str]) -> None:
        now = self.now()
        if channel == "l2_data":
            for pid in pids:
                bids, asks = self.exchange.book(pid)
                conn.send("l2_data", [pf.l2_snapshot_event(pid, bids, asks, now)])
        elif channel == "orders" and conn.user_id is not None:
            rows = [
                self._row(o)
                for o in self.exchange.open_orders_ws(conn.user_id)
                if not pids or o.get("product_id") in pids
            ]
            conn.send("orders", [{"type": "snapshot", "orders": rows}])

    def _row(self, order: dict[str, Any]) -> dict[str, Any]:
        coid = self.dialect.prime_client_order_id(
            str(order["order_id"]), str(order.get("client_order_id", ""))
        )
        row = pf.order_row(order, coid)
        if order.get("trigger_status") == "STOP_PENDING" and row["status"] in ("OPEN", "PENDING"):
            row["status"] = self.dialect.untriggered_stop_status  # as REST says it
        return row

    # -- heartbeats ------------------------------------------------------------------------

    async def _heartbeats(self, conn: WsConnection) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            if self.faults.stall_remaining() > 0:
                continue  # a stalled server sends nothing, heartbeats included
            conn.hb_counter += 1
            when = go_time(self.now(), time.monotonic() - self._mono0)
            for channel in pf.HEARTBEAT_CHANNELS:
                if channel in conn.subs:
                    conn.send(channel, [pf.heartbeat_event(when, conn.hb_counter)])
                    break

    # -- fan-out ---------------------------------------------------------------------------

    def publish(self, events: Sequence[SimEvent]) -> None:
        """Fan engine events out to subscribers; never blocks (queues are bounded)."""
        if not events or not self._conns:
            return
        book: dict[str, list[BookChange]] = {}
        orders: dict[str, list[dict[str, Any]]] = {}
        for ev in events:
            if isinstance(ev, BookChange):
                book.setdefault(ev.product_id, []).append(ev)
            elif isinstance(ev, OrderChanged):
                orders.setdefault(ev.user_id, []).append(ev.order)
        l2 = {pid: pf.l2_update_event(pid, changes) for pid, changes in book.items()}
        rows: dict[str, list[dict[str, Any]]] = {
            uid: [self._row(o) for o in batch] for uid, batch in orders.items()
        }
        for conn in list(self._conns):
            subs = conn.subs
            if "l2_data" in subs:
                for pid in subs["l2_data"]:
                    if pid in l2:
                        conn.send("l2_data", [l2[pid]])
            if "orders" in subs and conn.user_id in rows:
                wanted = subs["orders"]
                mine = [r for r in rows[conn.user_id] if not wanted or r["product_id"] in wanted]
                if mine:
                    conn.send("orders", [{"type": "update", "orders": mine}])
