"""Adapter ring: market-data feed settings and the connection plan (which channel goes where).

Kept apart from :mod:`botkit.market.feed` so the plan (sharding level2 across connections,
``heartbeats`` everywhere, ``user`` on its own endpoint) can be read and tested on
its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from botkit.errors import ConfigError
from botkit.market.book_levels import WireLimits
from botkit.market.requests import Subscription
from botkit.runtime.settings import BotSettings

__all__ = ["MARKET_CHANNELS", "ConnectionPlan", "FeedConfig", "plan_connections"]

MARKET_CHANNELS = frozenset(
    {"level2", "ticker", "ticker_batch", "market_trades", "candles", "status"}
)
"""Channels of the market-data endpoint (§3.1); ``heartbeats`` is always added."""
_DEFAULT = WireLimits()


@dataclass(frozen=True)
class FeedConfig:
    """How the feed connects, what it subscribes, and how it recovers.

    Attributes:
        market_url / user_url: the two endpoints (settings ``coinbase.ws_*_url``).
        products: product ids for the market channels.
        channels: market channels besides ``heartbeats`` (always subscribed).
        user: also open the ``user`` connection (needs a signer).
        user_products: restrict the user channel to these products (empty: all).
        max_message_bytes: largest frame accepted; a BTC-USD level2 snapshot is
            several MB, and too small a limit fails silently in other clients.
        stale_after: seconds without an *accepted* frame (one that decoded and passed
            the sequence check; heartbeats arrive every second) before the connection
            is declared stale and replaced; also the longest a book of an open
            connection may wait for its (re)snapshot before the connection is replaced.
        backoff_initial / backoff_max: capped exponential backoff with full jitter
            between reconnects: ``uniform(0, min(max, initial * 2**attempt))``.
        max_level2_per_connection: level2 products per connection (Coinbase: 16
            works, 32 fails); more products are sharded over more connections.
        ca_file: extra CA certificate to trust (the simulator's self-signed one).
        gap_policy: on a sequence gap, ``resubscribe`` level2 or ``reconnect``.
        ping_interval: WebSocket ping period (transport keepalive).
        connect_timeout: bound on opening one connection.
        connector: ``aiohttp`` (default, faster) or ``websockets``.
        max_quantity / max_price / max_fraction_digits: numbers beyond these are
            refused (the frame is counted as malformed and the books resynced); see
            :class:`~botkit.market.book_levels.WireLimits`. Prices must also be > 0.
        max_sequence_jump: a ``sequence_num`` this far ahead of the last one (or of 0
            on a fresh connection) is a protocol fault: the connection is replaced.
    """

    market_url: str = "wss://advanced-trade-ws.coinbase.com"
    user_url: str = "wss://advanced-trade-ws-user.coinbase.com"
    products: tuple[str, ...] = ()
    channels: tuple[str, ...] = ("level2",)
    user: bool = False
    user_products: tuple[str, ...] = ()
    max_message_bytes: int = 64 * 1024 * 1024
    stale_after: float = 10.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_level2_per_connection: int = 16
    ca_file: Path | None = None
    gap_policy: Literal["resubscribe", "reconnect"] = "resubscribe"
    ping_interval: float = 20.0
    connect_timeout: float = 10.0
    connector: Literal["aiohttp", "websockets"] = "aiohttp"
    max_quantity: int = _DEFAULT.max_quantity
    max_price: int = _DEFAULT.max_price
    max_fraction_digits: int = _DEFAULT.max_fraction_digits
    max_sequence_jump: int = _DEFAULT.max_sequence_jump

    def __post_init__(self) -> None:
        unknown = set(self.channels) - MARKET_CHANNELS - {"heartbeats"}
        if unknown:
            raise ConfigError(
                f"unknown market channel(s) {sorted(unknown)}; valid: {sorted(MARKET_CHANNELS)} "
                "(note: 'heartbeats' with an s; Exchange channels like 'full' do not exist)"
            )
        if self.max_level2_per_connection < 1 or self.stale_after <= 0:
            raise ConfigError("max_level2_per_connection must be >= 1 and stale_after > 0")
        if self.backoff_initial < 0 or self.backoff_max < self.backoff_initial:
            raise ConfigError("need 0 <= backoff_initial <= backoff_max")
        try:
            self.limits  # noqa: B018 - validates the bounds
        except ValueError as exc:
            raise ConfigError(
                f"{exc}: max_quantity, max_price, max_fraction_digits and "
                "max_sequence_jump must be positive"
            ) from None

    @property
    def limits(self) -> WireLimits:
        """The wire bounds every connection's protocol and books apply."""
        return WireLimits(
            max_quantity=self.max_quantity,
            max_price=self.max_price,
            max_fraction_digits=self.max_fraction_digits,
            max_sequence_jump=self.max_sequence_jump,
        )

    @classmethod
    def from_settings(cls, settings: BotSettings, **overrides: object) -> FeedConfig:
        """Endpoints from ``settings.coinbase``; everything else from ``overrides``."""
        cb = settings.coinbase
        return cls(market_url=cb.ws_market_url, user_url=cb.ws_user_url, **overrides)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ConnectionPlan:
    """One connection to open: its name, endpoint and subscriptions."""

    name: str
    url: str
    subscriptions: tuple[Subscription, ...]


def plan_connections(config: FeedConfig) -> list[ConnectionPlan]:
    """Lay the subscriptions out over connections.

    The first market connection carries every non-level2 channel and the first
    ``max_level2_per_connection`` level2 products; each further chunk of level2
    products gets its own connection. The user channel gets its own connection on
    the user endpoint. Every connection subscribes ``heartbeats`` (added by the
    protocol), which keeps quiet channels open and feeds the watchdog.
    """
    plans: list[ConnectionPlan] = []
    pids = tuple(dict.fromkeys(config.products))
    channels = [c for c in dict.fromkeys(config.channels) if c != "heartbeats"]
    cap = config.max_level2_per_connection
    chunks = [pids[i : i + cap] for i in range(0, len(pids), cap)] if "level2" in channels else []
    others = [Subscription(c, pids) for c in channels if c not in ("level2",)]
    if channels and (others or chunks):
        first = list(others)
        if chunks:
            first.append(Subscription("level2", chunks[0]))
        plans.append(ConnectionPlan("market-0", config.market_url, tuple(first)))
        for i, chunk in enumerate(chunks[1:], start=1):
            plans.append(
                ConnectionPlan(f"market-{i}", config.market_url, (Subscription("level2", chunk),))
            )
    if config.user:
        plans.append(
            ConnectionPlan("user", config.user_url, (Subscription("user", config.user_products),))
        )
    return plans
