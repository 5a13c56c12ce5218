"""botkit: an asyncio framework for trading bots on Coinbase Advanced Trade.

The public API is what this module exports — for a strategy author (``Strategy``, the
context and event types, the ``Decimal`` order helpers, errors) and for an embedder (the bot
and its run options and result, ``SimServer``, ``Backtest``, settings and config loaders,
signers). Everything else is internal and may change; the package map is docs/architecture.md.
"""

from __future__ import annotations

__version__ = "0.1.0"

import os as _os

if _os.environ.get("BOTKIT_NO_EXTENSIONS"):  # the order book's Python loop (docs/feed.md):
    import botkit.market as _core  # set before anything imports the book, so the compiled

    _core.NO_EXTENSIONS = True  # kernel is not even loaded

from typing import TYPE_CHECKING, Any

from botkit.auth.clock import SystemClock
from botkit.auth.hmac_sign import ExchangeHmacSigner, PrimeHmacSigner
from botkit.auth.jwt import JwtSigner
from botkit.auth.keys import CdpKey, load_cdp_key, parse_key_json
from botkit.auth.signing import RequestSigner
from botkit.clock import Clock, ManualClock
from botkit.errors import (
    AuthError,
    BadRequest,
    BotkitError,
    ClockSkew,
    ConfigError,
    ConnectionLost,
    ExchangeError,
    FeedError,
    InsufficientFunds,
    InvalidPassphrase,
    IpNotAllowed,
    JournalError,
    NotFound,
    OrderOutcomeUnknown,
    OrderRejected,
    PermissionDenied,
    RateLimited,
    RequestTimeout,
    SequenceGap,
    ServerError,
    StaleFeed,
    StrategyError,
    TransportError,
)
from botkit.runtime.settings import BotSettings, load_settings

if TYPE_CHECKING:  # the real types for mypy; at run time they load on first use (below)
    from botkit.backtest.runner import Backtest, BacktestResult
    from botkit.market.book import L2Book
    from botkit.market.events import BookChanged, BookInvalidated, FillEvent, OrderUpdate
    from botkit.market.trading_status import TradingMode, TradingStatus
    from botkit.market.types import Candle, MarketTrade, Ticker
    from botkit.orders.intents import OrderIntent, Side, limit_gtc, limit_ioc, market_ioc
    from botkit.orders.state import OrderState, OrderStatus
    from botkit.risk.engine import RiskRejected
    from botkit.runtime.api import RunOptions, RunResult, run_blocking
    from botkit.runtime.bot import BotRuntime
    from botkit.runtime.bot_config import BotConfig, load_bot_config, parse_bot_config
    from botkit.runtime.ui import render_summary
    from botkit.sim.server import SimServer
    from botkit.strategy.base import API_VERSION, NoParams, Strategy
    from botkit.strategy.exits import (
        ExitFilled,
        ExitRecord,
        ExitRejected,
        ExitTriggered,
        Offset,
        PriceLike,
    )
    from botkit.strategy.protocol import Context
    from botkit.strategy.timers import TimerFired
    from botkit.strategy.warmup import Warmup

_LAZY = {
    "API_VERSION": "botkit.strategy.base",
    "Backtest": "botkit.backtest.runner",
    "BacktestResult": "botkit.backtest.runner",
    "BookChanged": "botkit.market.events",
    "BookInvalidated": "botkit.market.events",
    "ExitRecord": "botkit.strategy.exits",
    "L2Book": "botkit.market.book",
    "MarketTrade": "botkit.market.types",
    "OrderState": "botkit.orders.state",
    "OrderStatus": "botkit.orders.state",
    "PriceLike": "botkit.strategy.exits",
    "RiskRejected": "botkit.risk.engine",
    "BotConfig": "botkit.runtime.bot_config",
    "BotRuntime": "botkit.runtime.bot",
    "Candle": "botkit.market.types",
    "Context": "botkit.strategy.protocol",
    "ExitFilled": "botkit.strategy.exits",
    "ExitRejected": "botkit.strategy.exits",
    "ExitTriggered": "botkit.strategy.exits",
    "FillEvent": "botkit.market.events",
    "NoParams": "botkit.strategy.base",
    "Offset": "botkit.strategy.exits",
    "OrderIntent": "botkit.orders.intents",
    "OrderUpdate": "botkit.market.events",
    "RunOptions": "botkit.runtime.api",
    "RunResult": "botkit.runtime.api",
    "Side": "botkit.orders.intents",
    "SimServer": "botkit.sim.server",
    "Strategy": "botkit.strategy.base",
    "Ticker": "botkit.market.types",
    "TimerFired": "botkit.strategy.timers",
    "TradingMode": "botkit.market.trading_status",
    "TradingStatus": "botkit.market.trading_status",
    "Warmup": "botkit.strategy.warmup",
    "limit_gtc": "botkit.orders.intents",
    "limit_ioc": "botkit.orders.intents",
    "load_bot_config": "botkit.runtime.bot_config",
    "market_ioc": "botkit.orders.intents",
    "parse_bot_config": "botkit.runtime.bot_config",
    "render_summary": "botkit.runtime.ui",
    "run_blocking": "botkit.runtime.api",
}

__all__ = [
    "API_VERSION",
    "AuthError",
    "Backtest",
    "BacktestResult",
    "BadRequest",
    "BookChanged",
    "BookInvalidated",
    "BotConfig",
    "BotRuntime",
    "BotSettings",
    "BotkitError",
    "Candle",
    "CdpKey",
    "Clock",
    "ClockSkew",
    "ConfigError",
    "ConnectionLost",
    "Context",
    "ExchangeError",
    "ExchangeHmacSigner",
    "ExitFilled",
    "ExitRecord",
    "ExitRejected",
    "ExitTriggered",
    "FeedError",
    "FillEvent",
    "InsufficientFunds",
    "InvalidPassphrase",
    "IpNotAllowed",
    "JournalError",
    "JwtSigner",
    "L2Book",
    "ManualClock",
    "MarketTrade",
    "NoParams",
    "NotFound",
    "Offset",
    "OrderIntent",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "OrderState",
    "OrderStatus",
    "OrderUpdate",
    "PermissionDenied",
    "PriceLike",
    "PrimeHmacSigner",
    "RateLimited",
    "RequestSigner",
    "RequestTimeout",
    "RiskRejected",
    "RunOptions",
    "RunResult",
    "SequenceGap",
    "ServerError",
    "Side",
    "SimServer",
    "StaleFeed",
    "Strategy",
    "StrategyError",
    "SystemClock",
    "Ticker",
    "TimerFired",
    "TradingMode",
    "TradingStatus",
    "TransportError",
    "Warmup",
    "__version__",
    "limit_gtc",
    "limit_ioc",
    "load_bot_config",
    "load_cdp_key",
    "load_settings",
    "market_ioc",
    "parse_bot_config",
    "parse_key_json",
    "render_summary",
    "run_blocking",
]


def __getattr__(name: str) -> Any:
    """Load the strategy, runtime, simulator and backtest names on first use (PEP 562), so that
    ``import botkit`` stays light (a signer or a settings object needs none of them)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'botkit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
