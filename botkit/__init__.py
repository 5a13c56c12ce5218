"""botkit: an asyncio framework for trading bots on Coinbase Advanced Trade.

The public API is what this module exports; everything else is internal and
may change. See README.md for a tour.
"""

from __future__ import annotations

__version__ = "0.1.0"

import os as _os

if _os.environ.get("BOTKIT_NO_EXTENSIONS"):  # the order book's Python loop (docs/feed.md):
    import botkit.market as _core  # set before anything imports the book, so the compiled

    _core.NO_EXTENSIONS = True  # kernel is not even loaded

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

__all__ = [
    "AuthError",
    "BadRequest",
    "BotSettings",
    "BotkitError",
    "CdpKey",
    "Clock",
    "ClockSkew",
    "ConfigError",
    "ConnectionLost",
    "ExchangeError",
    "ExchangeHmacSigner",
    "FeedError",
    "InsufficientFunds",
    "InvalidPassphrase",
    "IpNotAllowed",
    "JournalError",
    "JwtSigner",
    "ManualClock",
    "NotFound",
    "OrderRejected",
    "PermissionDenied",
    "PrimeHmacSigner",
    "RateLimited",
    "RequestSigner",
    "RequestTimeout",
    "SequenceGap",
    "ServerError",
    "StaleFeed",
    "StrategyError",
    "SystemClock",
    "TransportError",
    "__version__",
    "load_cdp_key",
    "load_settings",
    "parse_key_json",
]
