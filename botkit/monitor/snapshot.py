"""What a running bot shows an operator: one plain snapshot, and the controls it offers.

The metrics endpoint, the status page, ``/api/status`` and ``botkit ctl status`` all
render the same :class:`BotSnapshot`, taken from the runtime on request, so they can
never disagree; and they steer the bot only through :class:`BotControl`. Neither type
knows the runtime: the monitor package can be tested with a snapshot built by hand, and
the runtime can change its insides without breaking a dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from botkit.runtime.health import Health

__all__ = [
    "BotControl",
    "BotSnapshot",
    "CancelAllResult",
    "ExitRow",
    "FillRow",
    "OrderRow",
    "WarningRow",
]


@dataclass(frozen=True, slots=True)
class OrderRow:
    """An open order."""

    client_order_id: str
    order_id: str
    product_id: str
    side: str
    status: str
    filled_size: Decimal


@dataclass(frozen=True, slots=True)
class ExitRow:
    """A live exit of the strategy (stop-loss, take-profit, bracket, trailing stop).

    ``how`` is ``native`` (the exchange holds it: it protects the position while the bot
    is down), ``emulated: needs the bot running`` (the bot triggers it on prints), or a
    native stop the bot re-prices (trailing: it stops trailing while the bot is down).
    """

    exit_id: str
    kind: str
    product_id: str
    side: str
    size: str
    stop: str | None
    take_profit: str | None
    status: str
    how: str

    @property
    def emulated(self) -> bool:
        return self.how.startswith("emulated")


@dataclass(frozen=True, slots=True)
class FillRow:
    """A recent fill (``time``: Unix seconds when botkit saw it)."""

    time: float
    client_order_id: str
    product_id: str
    side: str
    size: Decimal
    price: Decimal
    fee: Decimal


@dataclass(frozen=True, slots=True)
class WarningRow:
    """A recent WARNING-or-worse log line (the message only, never a secret: see logs)."""

    time: float
    level: str
    logger: str
    message: str


@dataclass(frozen=True, slots=True)
class BotSnapshot:
    """Everything the status page, the JSON API and the metrics show, at one moment.

    Money stays :class:`~decimal.Decimal`; :meth:`to_json` turns it into strings.
    """

    time: float
    mode: str
    venue: str
    strategy: str
    params: Mapping[str, Any]
    products: tuple[str, ...]
    health: Health
    paused: bool
    kill_switch: bool
    kill_switch_reason: str
    positions: Mapping[str, Decimal]
    realised: Decimal
    unrealised: Decimal
    equity: Decimal | None
    open_orders: Sequence[OrderRow]
    fills: Sequence[FillRow]
    orders_placed: int
    orders_rejected: int
    fills_total: int
    feed_messages: Mapping[tuple[str, str], int]
    """Market-data and user events by (product, channel)."""
    feed_reconnects: int
    feed_gaps: int
    feed_malformed: int
    feed_lag: Mapping[str, float | None]
    """Seconds since each product's last market-data event (None: none yet)."""
    risk_limits: Mapping[str, str]
    risk_refusals: Mapping[str, int]
    retries: Mapping[str, int]
    equity_curve: Sequence[tuple[float, float]]
    warnings: Sequence[WarningRow]
    events: Mapping[str, int] = field(default_factory=dict)
    exits: Sequence[ExitRow] = ()
    """The strategy's live exits; an emulated one needs the bot running."""
    protections: Mapping[str, str] = field(default_factory=dict)
    """Active risk protections (cooldown, losing trades, max drawdown), one line each;
    entries are refused while one is listed (docs/protections.md)."""
    trading: Mapping[str, str] = field(default_factory=dict)
    """Products the venue restricts now (cancel only, limit only, post only, halted):
    product id → one line; orders the mode does not take are refused before sending."""
    components: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def pnl(self) -> Decimal:
        return self.realised + self.unrealised

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (Decimals as strings, tuple keys joined with ``/``)."""
        doc = asdict(self)
        doc["health"] = self.health.to_dict()
        doc["feed_messages"] = {f"{p}/{c}": n for (p, c), n in self.feed_messages.items()}
        doc["pnl"] = self.pnl
        return _plain(doc)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class CancelAllResult(NamedTuple):
    """What an operator's cancel-all did: how many orders were cancelled, the
    client_order_ids whose cancel raised (``failed``: the venue down, a 503), and those not
    cancelled for another reason (``left``: placement still in flight, or the cancel not
    accepted by the venue). Any of the last two: the orders may still work."""

    cancelled: int
    failed: list[str]
    left: list[str]


class BotControl(Protocol):
    """What an operator may do to a running bot (each call is idempotent and logged).

    ``who`` names the caller for the log and the control journal (e.g. the remote
    address of an HTTP request).
    """

    async def pause(self, who: str) -> bool:
        """Refuse new orders until resumed; True when this call changed the state."""
        ...

    async def resume(self, who: str) -> bool: ...

    async def cancel_all(self, who: str) -> CancelAllResult:
        """Cancel every open order of the strategy but its exits' (each failure and order
        left logged by the bot)."""
        ...

    async def trip_kill_switch(self, who: str, reason: str) -> bool: ...

    async def reset_kill_switch(self, who: str) -> bool: ...
