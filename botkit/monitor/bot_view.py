"""The runtime seen from outside: snapshots for the monitor, and the operator's controls.

:class:`BotView` is the one object the HTTP server (and later alerts) talk to. It keeps
the few things the runtime does not keep for itself — per product and channel event
counts, the time of each product's last market-data event, the last fills, an equity
(or PnL) curve, the last warnings — and builds a :class:`BotSnapshot` from those and
the runtime's own state on request. It also carries out control requests (pause,
resume, cancel-all, kill switch), each logged at WARNING with who asked, and appended
to ``control.jsonl`` in the data directory (the control journal).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from botkit.market.events import (
    BookChanged,
    CandlesReceived,
    FeedEvent,
    FillEvent,
    OrderUpdate,
    TickersReceived,
    TradesReceived,
)
from botkit.monitor.snapshot import (
    BotSnapshot,
    CancelAllResult,
    ExitRow,
    FillRow,
    OrderRow,
    WarningRow,
)

if TYPE_CHECKING:
    from botkit.runtime.bot import BotRuntime

__all__ = ["BotView", "WarningBuffer"]

_CHANNEL: dict[type, str] = {
    TickersReceived: "ticker",
    TradesReceived: "market_trades",
    CandlesReceived: "candles",
}

log = logging.getLogger("botkit.control")


class WarningBuffer(logging.Handler):
    """Keeps the last ``size`` WARNING-or-worse records of botkit's loggers, for the page."""

    def __init__(self, size: int = 50) -> None:
        super().__init__(logging.WARNING)
        self.rows: deque[WarningRow] = deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string must not break logging
            msg = str(record.msg)
        self.rows.append(WarningRow(record.created, record.levelname, record.name, msg[:500]))


class BotView:
    """Snapshots and controls for one :class:`~botkit.runtime.bot.BotRuntime`.

    Args:
        runtime: the bot.
        venue: what to call the venue on the page (e.g. ``botkit.sim``, ``coinbase``).
        monotonic: the clock for event ages.
        keep_fills: fills kept for the page.
        keep_points: equity points kept (one per :meth:`sample` call).
    """

    def __init__(
        self,
        runtime: BotRuntime,
        *,
        venue: str,
        monotonic: Callable[[], float] = time.monotonic,
        keep_fills: int = 50,
        keep_points: int = 1440,
    ) -> None:
        self.runtime = runtime
        self.venue = venue
        self._monotonic = monotonic
        self.feed_counts: dict[tuple[str, str], int] = {}
        self.last_event: dict[str, float] = {}
        self.fills: deque[FillRow] = deque(maxlen=keep_fills)
        self.curve: deque[tuple[float, float]] = deque(maxlen=keep_points)
        self.warnings = WarningBuffer()
        self._logger = logging.getLogger("botkit")

    # -- recording (called by the runtime) --------------------------------------------------

    def attach(self) -> None:
        self._logger.addHandler(self.warnings)

    def detach(self) -> None:
        self._logger.removeHandler(self.warnings)

    def on_event(self, event: FeedEvent) -> None:
        """Count one feed event (the runtime's feed callback calls this for each)."""
        kind = type(event)
        counts = self.feed_counts
        if kind is BookChanged:
            event = cast(BookChanged, event)  # per frame: a cast, not an isinstance
            key = (event.product_id, "level2")
            counts[key] = counts.get(key, 0) + 1
            self.last_event[event.product_id] = self._monotonic()
        elif kind is TickersReceived or kind is TradesReceived or kind is CandlesReceived:
            channel = _CHANNEL[kind]
            items: Iterable[Any] = (
                cast(TickersReceived, event).tickers
                if kind is TickersReceived
                else cast(TradesReceived, event).trades
                if kind is TradesReceived
                else cast(CandlesReceived, event).candles
            )
            now = self._monotonic()
            last = None
            for item in items:  # usually one product per frame: count each product once
                pid = item.product_id
                if pid != last:
                    key = (pid, channel)
                    counts[key] = counts.get(key, 0) + 1
                    self.last_event[pid] = now
                    last = pid
        elif kind is OrderUpdate or kind is FillEvent:
            assert isinstance(event, OrderUpdate | FillEvent)
            key = (event.product_id, "user")
            counts[key] = counts.get(key, 0) + 1
            if isinstance(event, FillEvent):
                self.fills.append(
                    FillRow(
                        self.runtime.wall(),
                        event.client_order_id,
                        event.product_id,
                        event.side,
                        event.size,
                        event.price,
                        event.fee,
                    )
                )

    def sample(self) -> None:
        """Append a point to the curve: equity when known (paper), else PnL. Paper with a
        holding not priced yet (right after a restart, before a book): no point, rather
        than the holding at zero (a false drawdown on the page)."""
        snap_equity = self._equity()
        if snap_equity is None and self.runtime.paper is not None:
            return
        stats = self.runtime.stats
        value = snap_equity if snap_equity is not None else stats.pnl
        self.curve.append((self.runtime.wall(), float(value)))

    # -- snapshot ---------------------------------------------------------------------------

    def _equity(self) -> Decimal | None:
        paper = self.runtime.paper
        if paper is None:
            return None
        if paper.exchange.unpriced(paper.quote):  # a holding with no mark yet: unknown
            return None
        value, _marks = paper.exchange.portfolio_value(paper.quote)
        return value

    def snapshot(self) -> BotSnapshot:
        rt = self.runtime
        health = rt.assess_health()  # fresh: /readyz must not lag the loop's second
        rt.refresh_stats()  # positions and PnL as of now, like the fill count beside them
        stats = rt.stats
        ctx = rt.ctx
        gate = rt.gate
        feed = rt.feed
        now = self._monotonic()
        open_orders = (
            [
                OrderRow(
                    o.client_order_id,
                    o.order_id,
                    o.product_id,
                    o.side,
                    str(o.status),
                    o.filled_size,
                )  # fmt: skip
                for o in ctx.open_orders()
            ]
            if ctx is not None
            else []
        )
        reconnects = gaps = malformed = 0
        if feed is not None:
            for conn in feed.conns:
                reconnects += max(0, conn.connects - 1)
                gaps += conn.protocol.stats.gaps
                malformed += conn.protocol.stats.malformed
        limits = rt.config.risk.model_dump(exclude_none=True)
        kill = gate.engine.kill_switch if gate is not None else None
        client = rt.client
        retries = dict(getattr(client, "retry_counts", None) or {})  # the paper client has none
        return BotSnapshot(
            time=rt.wall(),
            mode=rt.mode,
            venue=self.venue,
            strategy=stats.strategy,
            params=dict(rt.params),
            products=rt.products,
            health=health,
            paused=gate is not None and gate.paused,
            kill_switch=kill is not None and kill.tripped,
            kill_switch_reason=kill.reason if kill is not None else "",
            protections=gate.protection_status() if gate is not None else {},
            trading=(
                {p: st.describe() for p, st in gate.restricted.items()} if gate is not None else {}
            ),
            positions=dict(stats.position),
            realised=stats.realised,
            unrealised=stats.unrealised,
            equity=self._equity(),
            open_orders=open_orders,
            fills=list(self.fills),
            orders_placed=stats.orders,
            orders_rejected=stats.rejected,
            fills_total=stats.fills,
            feed_messages=dict(self.feed_counts),
            feed_reconnects=reconnects,
            feed_gaps=gaps,
            feed_malformed=malformed,
            feed_lag={
                p: (now - self.last_event[p]) if p in self.last_event else None for p in rt.products
            },
            risk_limits={
                **{k: str(v) for k, v in limits.items()},
                "usage: open orders": str(len(open_orders)),
                "usage: PnL today": f"{gate.engine.daily_pnl():.2f}" if gate is not None else "",
            },
            risk_refusals=dict(gate.refusals) if gate is not None else {},
            retries=retries,
            equity_curve=list(self.curve),
            warnings=list(self.warnings.rows),
            exits=[ExitRow(**row) for row in ctx.exits.describe()] if ctx is not None else [],
            events={
                "queued": len(rt.events),
                "dropped": rt.events.dropped,
                "coalesced": rt.events.coalesced,
                "high_water": rt.events.high_water,
            },
            components={
                n: {
                    "state": c.state,
                    "crashes": c.crashes,
                    "restarts": c.restarts,
                    "last_error": c.last_error,
                }  # fmt: skip
                for n, c in rt.supervisor.components.items()
            },
        )

    # -- control ----------------------------------------------------------------------------

    def _journal(self, action: str, who: str, **detail: Any) -> None:
        """Log the action and append it to ``control.jsonl`` (who, when, what)."""
        log.warning("control: %s by %s%s", action, who, f" {detail}" if detail else "")
        line = {"time": self.runtime.wall(), "action": action, "who": who, **detail}
        path = Path(self.runtime.root) / "control.jsonl"
        try:
            with path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line, default=str) + "\n")
        except OSError as exc:
            log.warning("control: cannot append to %s: %s", path, exc)

    async def pause(self, who: str) -> bool:
        gate = self.runtime.gate
        if gate is None or gate.paused:
            return False
        gate.paused = True
        self._journal("pause", who)
        return True

    async def resume(self, who: str) -> bool:
        gate = self.runtime.gate
        if gate is None or not gate.paused:
            return False
        gate.paused = False
        self._journal("resume", who)
        return True

    async def cancel_all(self, who: str) -> CancelAllResult:
        ctx = self.runtime.ctx
        if ctx is None:
            result = CancelAllResult(0, [], [])
        else:
            n = await ctx.cancel_all()
            result = CancelAllResult(n, list(ctx.cancel_all_failed), list(ctx.cancel_all_left))
        self._journal(
            "cancel-all", who, cancelled=result.cancelled, failed=len(result.failed),
            left=len(result.left),
        )  # fmt: skip
        return result

    async def trip_kill_switch(self, who: str, reason: str) -> bool:
        gate = self.runtime.gate
        if gate is None or gate.tripped:
            return False
        await gate.trip(f"{reason} ({who})")
        self._journal("kill-switch trip", who, reason=reason)
        return True

    async def reset_kill_switch(self, who: str) -> bool:
        gate = self.runtime.gate
        if gate is None or not (gate.tripped or gate.protection_status()):
            return False
        gate.reset()  # the kill switch and the protections beside it (docs/protections.md)
        self._journal("kill-switch reset", who)
        return True
