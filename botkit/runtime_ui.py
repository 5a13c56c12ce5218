"""What the operator sees: log format, the live status line, and the exit summary.

On a terminal a human reads the logs, so they are short text lines and a status line
(orders, fills, position, PnL) is redrawn in place. Anywhere else (systemd, Docker, a
pipe) a machine reads them, so every record is one JSON object per line, and every line
about an order carries its ``client_order_id`` as a field: that id is the key to follow
one order through the strategy, the executor, the journal and the exchange.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from botkit.strategy.context import BotContext

__all__ = [
    "JsonFormatter",
    "RunStats",
    "StatusHandler",
    "configure_logging",
    "refresh_stats",
    "render_summary",
]

_COID = re.compile(r"client_order_id=([0-9A-Za-z_.:-]+)")
_STD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, ``msg``, extras.

    ``client_order_id`` is lifted out of the message (``client_order_id=...``) when a
    caller did not pass it as an extra, so that ``jq 'select(.client_order_id == ...)'``
    finds every line about one order.
    """

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        doc: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "msg": msg,
        }
        for key, value in vars(record).items():
            if key not in _STD and not key.startswith("_"):
                doc[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if "client_order_id" not in doc and (m := _COID.search(msg)):
            doc["client_order_id"] = m.group(1)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class StatusHandler(logging.StreamHandler[IO[str]]):
    """A stream handler that clears the status line before a log line, then redraws it."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self.status = ""

    def emit(self, record: logging.LogRecord) -> None:
        if self.status:
            self.stream.write("\r\x1b[K")
        super().emit(record)
        if self.status:
            self.stream.write(self.status)
            self.flush()

    def show(self, text: str) -> None:
        """Redraw the status line in place."""
        self.status = text
        self.stream.write("\r\x1b[K" + text)
        self.flush()

    def clear(self) -> None:
        if self.status:
            self.stream.write("\r\x1b[K")
            self.flush()
        self.status = ""


def configure_logging(level: str, *, tty: bool | None = None) -> StatusHandler | None:
    """Route the root logger to stderr: text on a TTY, JSON lines otherwise.

    Returns:
        the handler that can draw a status line (TTY only), else None.

    Raises:
        ValueError: an unknown level name.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
    is_tty = sys.stderr.isatty() if tty is None else tty
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    status: StatusHandler | None = None
    if is_tty:
        status = StatusHandler(sys.stderr)
        status.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        root.addHandler(status)
    else:
        lines = logging.StreamHandler(sys.stderr)
        lines.setFormatter(JsonFormatter())
        root.addHandler(lines)
    root.setLevel(numeric)
    logging.getLogger("aiohttp.access").setLevel(max(numeric, logging.WARNING))
    return status


@dataclass
class RunStats:
    """Counters for the status line and the summary, kept by the runtime."""

    mode: str = "sim"
    strategy: str = ""
    products: tuple[str, ...] = ()
    started: float = 0.0
    first_subscribe: float | None = None
    orders: int = 0
    rejected: int = 0
    fills: int = 0
    events: int = 0
    position: dict[str, Decimal] = field(default_factory=dict)
    realised: Decimal = Decimal(0)
    unrealised: Decimal = Decimal(0)
    open_orders: int = 0
    halted: bool = False
    kill_switch: bool = False
    cancelled_on_exit: int = 0

    @property
    def pnl(self) -> Decimal:
        return self.realised + self.unrealised

    def line(self) -> str:
        """The one-line status: orders, fills, position, PnL."""
        pos = " ".join(f"{p} {q.normalize():f}" for p, q in self.position.items()) or "flat"
        flags = (" HALTED" if self.halted else "") + (" KILL-SWITCH" if self.kill_switch else "")
        return (
            f"[{self.mode}] {self.strategy}: orders {self.orders} (open {self.open_orders}) "
            f"fills {self.fills} | position {pos} | PnL {self.pnl:.2f}{flags}"
        )


def render_summary(stats: RunStats, elapsed: float) -> str:
    """The exit summary, printed on every exit (terminal or not)."""
    pos = ", ".join(f"{p} {q.normalize():f}" for p, q in stats.position.items()) or "flat"
    lines = [
        f"botkit run summary ({stats.mode}, strategy {stats.strategy}, {elapsed:.1f} s)",
        f"  orders placed:     {stats.orders} (refused or rejected: {stats.rejected})",
        f"  fills:             {stats.fills}",
        f"  open at exit:      {stats.open_orders}"
        + (f" (cancelled on exit: {stats.cancelled_on_exit})" if stats.cancelled_on_exit else ""),
        f"  position:          {pos}",
        f"  PnL (incl. fees):  {stats.pnl:.2f} (realised {stats.realised:.2f}, "
        f"unrealised {stats.unrealised:.2f})",
        f"  feed events:       {stats.events}",
    ]
    if stats.halted:
        lines.append("  the strategy was HALTED by the guard (see the error log)")
    if stats.kill_switch:
        lines.append("  the kill switch is TRIPPED: 'botkit kill-switch reset' to trade again")
    return "\n".join(lines)


def refresh_stats(stats: RunStats, ctx: BotContext, products: tuple[str, ...]) -> None:
    """Recompute position, PnL (marked at the mid) and open orders from the context."""
    marks: dict[str, Decimal] = {}
    for pid in products:
        quote = ctx.market.quote(pid)
        if quote.best_bid is not None and quote.best_ask is not None:
            marks[pid] = (quote.best_bid + quote.best_ask) / 2
    held = ctx.positions.products()
    stats.position = {p: ctx.position(p) for p in held}
    stats.realised = sum((ctx.positions.get(p).realised for p in held), Decimal(0))
    stats.unrealised = ctx.positions.unrealised(marks)
    stats.open_orders = len(ctx.open_orders())
    stats.halted = ctx.guard.halted
    stats.kill_switch = ctx.risk is not None and ctx.risk.tripped
