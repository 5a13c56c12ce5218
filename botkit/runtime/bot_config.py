"""The bot's TOML config: ``[bot]``, ``[strategy]``, ``[risk]`` and ``[guard]`` in one object.

One file describes one bot, so it can be reviewed, versioned and copied to a server as a
unit. Every table is validated here, before anything connects: a typo must stop the bot
with exit code 2 (a :class:`~botkit.errors.ConfigError` naming the key), never surface as
a half-started bot. Strategy parameters are validated later by the loader against the
strategy's own ``Params`` model, because only the strategy knows them.

Without a file, :data:`DEFAULT_CONFIG` is used: the shipped market maker on BTC-USD with
conservative limits, which trades against the embedded simulator within seconds. That is
what ``botkit run`` (and ``make run``) show on a fresh machine.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from botkit.errors import ConfigError
from botkit.risk.engine import RiskLimits
from botkit.strategy.guard import GuardConfig
from botkit.strategy.loader import read_toml

__all__ = [
    "DEFAULT_CONFIG",
    "BotConfig",
    "BotSection",
    "PaperSection",
    "data_root",
    "load_bot_config",
    "parse_bot_config",
]

log = logging.getLogger("botkit.runtime")

Mode = Literal["sim", "paper", "live"]
Venue = Literal["advanced_trade", "exchange", "prime"]

DEFAULT_CONFIG = """
[bot]
mode = "sim"
products = ["BTC-USD"]

[strategy]
name = "market_maker"

[strategy.params]
product_id = "BTC-USD"
size = "0.001"
half_spread_bps = "0"
requote_seconds = 2.0

[risk]
max_order_notional = "200"
max_position = "0.01"
max_open_orders = 4
price_band_pct = "2"
daily_loss_limit = "100"

[guard]
max_errors = 5
window_seconds = 300
"""
"""The built-in config of ``botkit run`` without ``--config`` (also ``examples/bot.toml``)."""


class BotSection(BaseModel):
    """The ``[bot]`` table.

    Attributes:
        mode: ``sim`` (embedded simulator, default), ``live`` (Coinbase, needs ``--live``)
            or ``paper`` (real market data, simulated fills: see ``[paper]``).
        venue: which Coinbase API: ``advanced_trade`` (CDP keys, default), ``exchange``
            (Coinbase Exchange HMAC keys) or ``prime`` (Coinbase Prime HMAC keys and a
            portfolio); the same strategy runs on each (docs/venues.md).
        products: products to subscribe; the strategy's ``product_id`` is added if missing.
        channels: market channels besides ``heartbeats``; the ``user`` channel is always on.
        data_dir: where the journal, the kill switch and the strategy state live.
        sim_seed: the simulator's market seed (same seed, same market).
        timer_resolution: how often due timers are checked (seconds).
        ready_timeout: how long to wait for the first book before giving up.
        event_buffer: feed events queued for the strategy beyond which market data
            coalesces or is dropped (orders and fills never are; docs/headless.md).
        loop: the event loop: ``asyncio`` (the default) or ``uvloop`` (opt-in, needs
            ``pip install 'botkit[uvloop]'``; checked here, so a missing one stops the bot
            with its fix before anything connects).
        journal_retention_days: finished order intents older than this leave the order
            journal (at start, then every 6 hours), so a bot that trades for months keeps
            a bounded file; ``0`` keeps every one (docs/headless.md).
        resend_max_age: seconds after which an order left pending by a crash or an
            unknown outcome, and not found at the venue, is not sent again at the next
            start (its price is that old); ``0``: always sent again (docs/executor.md).
        trading_status_seconds: how often the products' trading status is read from the
            venue again (cancel only, limit only, post only, disabled: docs/strategies.md,
            "When the venue restricts a product"); ``0``: only at start and after a
            rejection that names it.
        gc_freeze: freeze what start-up built out of the cyclic collector's reach
            (:mod:`botkit.runtime.collector`): a full collection stopped the loop for
            ~24 ms every few minutes, ~0.5 ms after it; ``false`` leaves Python's default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = "sim"
    venue: Venue = "advanced_trade"
    products: tuple[str, ...] = ("BTC-USD",)
    channels: tuple[str, ...] = ("level2", "ticker", "candles")
    data_dir: Path = Path("botkit-data")
    sim_seed: int = 1
    timer_resolution: float = Field(0.05, gt=0, le=1)
    ready_timeout: float = Field(15.0, gt=0)
    event_buffer: int = Field(10_000, ge=100)
    loop: Literal["asyncio", "uvloop"] = "asyncio"
    journal_retention_days: float = Field(30.0, ge=0)
    resend_max_age: float = Field(60.0, ge=0)
    trading_status_seconds: float = Field(60.0, ge=0)
    gc_freeze: bool = True

    @field_validator("loop")
    @classmethod
    def _loop_installed(cls, value: str) -> str:
        """Found without importing it: a bot on asyncio's loop never loads uvloop."""
        if value == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise ValueError(
                "uvloop is not installed: pip install 'botkit[uvloop]', "
                'or set loop = "asyncio" (the default)'
            )
        return value


def data_root(base: Path, mode: str, venue: str = "advanced_trade") -> Path:
    """Where one bot keeps its journal, kill switch and strategy state.

    ``sim`` and ``paper`` each get a sub-folder (a rehearsal never reads a live journal);
    a venue other than Advanced Trade adds its own (a journal's intents are resolved
    against the venue that received them: switching venue must not adopt another's).
    """
    root = base / mode if mode in ("sim", "paper") else base
    return root if venue == "advanced_trade" else root / venue


class PaperSection(BaseModel):
    """The ``[paper]`` table: the simulated account of ``--mode paper`` and backtests.

    Defaults are deliberately unflattering: Coinbase's lowest-volume fee tier, a
    network-like latency on submit and cancel, and queue-position fills.

    Attributes:
        source: where ``--mode paper`` gets real market data: ``coinbase`` (public
            market data, no key needed) or ``sim`` (the embedded simulator, offline).
        quote: the currency the equity curve and PnL are valued in.
        initial_balances: the starting portfolio (currency -> amount).
        maker_fee_rate / taker_fee_rate: the fee tier (fractions: 0.006 = 0.6 %).
        submit_latency / cancel_latency: seconds before an order reaches the paper
            matching engine / a cancel takes effect (fills may happen meanwhile).
        trade_side: what ``market_trades`` ``side`` means. Coinbase's docs say the
            maker's side; this is not verified (reference §3), hence a setting.
        equity_interval: seconds of market time between equity-curve samples.
        seed: seeds the paper exchange's order ids (same seed, same ids).
        fills_from_book: resting orders also fill when the real book's opposite best
            reaches their price. Unset: on for Prime (no public trade tape: no print
            would ever fill them), off elsewhere (prints and queue position decide).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Literal["coinbase", "sim"] = "coinbase"
    quote: str = "USD"
    initial_balances: dict[str, Decimal] = Field(default_factory=lambda: {"USD": Decimal(10_000)})
    maker_fee_rate: Decimal = Field(Decimal("0.006"), ge=0, lt=1)
    taker_fee_rate: Decimal = Field(Decimal("0.012"), ge=0, lt=1)
    submit_latency: float = Field(0.05, ge=0, le=10)
    cancel_latency: float = Field(0.05, ge=0, le=10)
    trade_side: Literal["maker", "taker"] = "maker"
    equity_interval: float = Field(1.0, gt=0)
    seed: int = 1
    fills_from_book: bool | None = None


class HttpSection(BaseModel):
    """``[http]``: the embedded status/metrics/control server (docs/headless.md).

    Attributes:
        listen: ``HOST:PORT`` to serve on; empty: no server (the default).
        token: bearer token for control (and for reads off loopback); prefer
            ``BOTKIT_HTTP__TOKEN`` in the environment to keep it out of the file.
        refresh: the status page's reload period in seconds.
    """

    model_config = ConfigDict(extra="forbid")

    listen: str = ""
    token: SecretStr | None = None
    refresh: int = Field(5, ge=1, le=3600)


class NotifySection(BaseModel):
    """``[notify]``: alerts through apprise (docs/alerts.md).

    Attributes:
        urls: apprise URLs (Telegram, Discord, Slack, ntfy, email, json:// webhooks...);
            they usually hold secrets: prefer ``BOTKIT_NOTIFY__URLS`` in the environment.
        feed_down_after: seconds a product's market data may be down or stale before
            an alert.
        max_per_hour: alerts sent per hour at most (the rest are counted, not sent).
        daily_summary_hour: UTC hour of the daily summary; None: no summary.
    """

    model_config = ConfigDict(extra="forbid")

    urls: list[SecretStr] = Field(default_factory=list)
    feed_down_after: float = Field(60.0, gt=0)
    max_per_hour: int = Field(30, ge=1)
    daily_summary_hour: int | None = Field(None, ge=0, le=23)


@dataclass(frozen=True)
class BotConfig:
    """A validated bot config (strategy params are still raw: the loader checks them)."""

    bot: BotSection
    strategy: str
    params: dict[str, Any]
    risk: RiskLimits
    guard: GuardConfig
    paper: PaperSection = field(default_factory=PaperSection)
    http: HttpSection = field(default_factory=HttpSection)
    notify: NotifySection = field(default_factory=NotifySection)
    source: str = "built-in default"
    extra_products: tuple[str, ...] = field(default=())
    risk_given: bool = True
    """Whether the file had a ``[risk]`` table (a config built in code: its limits are
    deliberate). See :meth:`check_risk`."""

    def uncapped(self) -> list[str]:
        """The main caps this config leaves unset (none: no limit of that kind)."""
        r = self.risk
        caps = (
            ("max_order_notional", r.max_order_notional),
            ("max_position", r.max_position or r.max_position_per_product or None),
            ("daily_loss_limit", r.daily_loss_limit),
        )
        return [name for name, value in caps if value is None]

    def check_risk(self, mode: str) -> None:
        """A config file without a ``[risk]`` table trades without any risk limit (each
        absent key means no limit of its kind): refused in live mode, a WARNING in the
        others. Why: a user's config that forgot the table ran 1000-BTC orders through the
        risk gate unremarked (a QA pass); an empty ``[risk]`` table says "no limits" on
        purpose.

        Raises:
            ConfigError: live mode, and no ``[risk]`` table.
        """
        if self.risk_given:
            return
        why = (
            f"{self.source} has no [risk] table, so no risk limit applies (order size, "
            "position, daily loss)"
        )
        fix = (
            "add one (examples/bot.toml has the built-in limits: max_order_notional, "
            "max_position, max_open_orders, price_band_pct, daily_loss_limit); an empty "
            "[risk] table trades without limits on purpose"
        )
        if mode == "live":
            raise ConfigError(f"{why}: live trading refuses that; {fix}")
        log.warning("%s; live mode refuses it: %s", why, fix)

    def products(self) -> tuple[str, ...]:
        """Products to subscribe: ``[bot].products`` plus the strategy's ``product_id``."""
        pid = self.params.get("product_id")
        wanted = (*self.bot.products, *((pid,) if isinstance(pid, str) else ()))
        return tuple(dict.fromkeys((*wanted, *self.extra_products)))


_SECRETISH = re.compile(r"token|secret|url|key|pass", re.IGNORECASE)
"""Fields whose bad value is not echoed in an error (a URL can hold a bot token)."""


def _model(model: type[BaseModel], raw: Any, table: str, source: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{table}] must be a table")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_problem(model, e) for e in exc.errors())
        raise ConfigError(f"{source}: [{table}] is invalid: {problems}") from exc


def _problem(model: type[BaseModel], e: Any) -> str:
    """One validation error as the config's words: a misspelt key says which keys exist."""
    where = ".".join(str(p) for p in e["loc"]) or "(root)"
    if e["type"] == "extra_forbidden" and len(e["loc"]) == 1:
        known = ", ".join(sorted(model.model_fields))
        return f"unknown key {where} (known: {known})"
    if _SECRETISH.search(str(e["loc"])):
        return f"{where}: {e['msg']}"
    return f"{where}: {e['msg']} (got {e.get('input')!r})"


def parse_bot_config(doc: dict[str, Any], *, source: str = "config") -> BotConfig:
    """Validate a parsed TOML document.

    Raises:
        ConfigError: an unknown table or key, a bad value, or no strategy name.
    """
    # [backtest] and [optimize] belong to botkit.research (validated there, by the commands
    # that read them): allowed here so that one file describes the bot and its research
    tables = {"bot", "strategy", "risk", "guard", "paper", "http", "notify", "backtest", "optimize"}
    unknown = sorted(set(doc) - tables)
    if unknown:
        raise ConfigError(
            f"{source}: unknown table(s) {', '.join(unknown)} "
            "(known: bot, strategy, risk, guard, paper, http, notify, backtest, optimize)"
        )
    strategy = doc.get("strategy", {})
    if not isinstance(strategy, dict):
        raise ConfigError(f"{source}: [strategy] must be a table")
    extra = sorted(set(strategy) - {"name", "params"})
    if extra:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(extra)} in [strategy] "
            "(known: name, and the [strategy.params] table)"
        )
    name = strategy.get("name", "")
    params = strategy.get("params", {})
    if not isinstance(name, str) or not isinstance(params, dict):
        raise ConfigError(f"{source}: [strategy] name must be a string and params a table")
    return BotConfig(
        bot=_model(BotSection, doc.get("bot", {}), "bot", source),
        strategy=name,
        params=dict(params),
        risk=_model(RiskLimits, doc.get("risk", {}), "risk", source),
        guard=_model(GuardConfig, doc.get("guard", {}), "guard", source),
        paper=_model(PaperSection, doc.get("paper", {}), "paper", source),
        http=_model(HttpSection, doc.get("http", {}), "http", source),
        notify=_model(NotifySection, doc.get("notify", {}), "notify", source),
        source=source,
        risk_given="risk" in doc,
    )


def load_bot_config(path: Path | None) -> BotConfig:
    """Read and validate ``path``, or the built-in :data:`DEFAULT_CONFIG` when None."""
    if path is None:
        return parse_bot_config(tomllib.loads(DEFAULT_CONFIG), source="built-in default")
    return parse_bot_config(read_toml(path), source=str(path))
