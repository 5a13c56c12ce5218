"""What the operator sees: the live status line, and the exit summary.

On a terminal a status line (orders, fills, position, PnL) is redrawn in place. The log
format (text on a terminal, JSON lines anywhere else) lives in :mod:`botkit.runtime.logs`, which
the CLI uses for every command; its names are re-exported here, where ``botkit run`` and
the tests have always imported them from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from botkit.orders.state import OrderStatus
from botkit.runtime.logs import JsonFormatter, StatusHandler, configure_logging
from botkit.strategy.context import BotContext

__all__ = [
    "JsonFormatter",
    "RunStats",
    "StatusHandler",
    "configure_logging",
    "refresh_stats",
    "render_summary",
]


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
    risk_refused: int = 0
    """Orders the risk gate refused before sending (``rejected``: those that failed at
    the venue: refused, or their outcome unknown)."""
    fills: int = 0
    events: int = 0
    position: dict[str, Decimal] = field(default_factory=dict)
    realised: Decimal = Decimal(0)
    unrealised: Decimal = Decimal(0)
    open_orders: int = 0
    open_unknown: int = 0
    """Of ``open_orders``, those whose create-order outcome is unknown (PENDING): they may
    not exist at the venue; the next start resolves them."""
    halted: bool = False
    kill_switch: bool = False
    cancelled_on_exit: int = 0
    exits: int = 0
    exits_emulated: int = 0
    """Live exits the bot itself triggers (emulated): nothing protects them while it is down."""

    @property
    def pnl(self) -> Decimal:
        return self.realised + self.unrealised

    def line(self) -> str:
        """The one-line status: orders, fills, position, PnL."""
        pos = " ".join(f"{p} {q.normalize():f}" for p, q in self.position.items()) or "flat"
        flags = (" HALTED" if self.halted else "") + (" KILL-SWITCH" if self.kill_switch else "")
        exits = ""
        if self.exits:
            emulated = f", {self.exits_emulated} EMULATED" if self.exits_emulated else ""
            exits = f" | exits {self.exits}{emulated}"
        return (
            f"[{self.mode}] {self.strategy}: orders {self.orders} (open {self.open_orders}) "
            f"fills {self.fills} | position {pos}{exits} | PnL {self.pnl:.2f}{flags}"
        )


def render_summary(stats: RunStats, elapsed: float) -> str:
    """The exit summary, printed on every exit (terminal or not)."""
    pos = ", ".join(f"{p} {q.normalize():f}" for p, q in stats.position.items()) or "flat"
    lines = [
        f"botkit run summary ({stats.mode}, strategy {stats.strategy}, {elapsed:.1f} s)",
        f"  orders placed:     {stats.orders} (failed or refused by the venue: "
        f"{stats.rejected}, refused by the risk gate: {stats.risk_refused}; this run)",
        f"  fills:             {stats.fills} (this run)",
        f"  open at exit:      {stats.open_orders}"
        + (
            f" ({stats.open_unknown} of unknown outcome: "
            + (
                "gone with the simulator, sim mode starts afresh)"
                if stats.mode == "sim"
                else "resolved at the next start)"
            )  # fmt: skip
            if stats.open_unknown
            else ""
        )
        + (f" (cancelled on exit: {stats.cancelled_on_exit})" if stats.cancelled_on_exit else ""),
        f"  position:          {pos}",
        f"  PnL (incl. fees):  {stats.pnl:.2f} (realised {stats.realised:.2f}, "
        f"unrealised {stats.unrealised:.2f}; the positions' whole life in the fill ledger, "
        "across restarts)",
        f"  feed events:       {stats.events}",
    ]
    if stats.exits:
        lines.append(
            f"  exits open at exit: {stats.exits}"
            + (
                f" ({stats.exits_emulated} emulated: not protected while the bot is down)"
                if stats.exits_emulated
                else " (native: they stay at the exchange)"
            )
        )
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
    live = ctx.open_orders()
    stats.open_orders = len(live)
    stats.open_unknown = sum(1 for o in live if o.status is OrderStatus.PENDING and not o.order_id)
    stats.halted = ctx.guard.halted
    stats.kill_switch = ctx.risk is not None and ctx.risk.tripped
    stats.risk_refused = sum(ctx.risk.refusals.values()) if ctx.risk is not None else 0
    rows = ctx.exits.describe()
    stats.exits = len(rows)
    stats.exits_emulated = sum(1 for row in rows if str(row["how"]).startswith("emulated"))
