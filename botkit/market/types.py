"""Core ring: the market-data model every venue decodes into (ticker, trade, candle, status, level).

Why a neutral module: strategies, the book, the feed's events and the backtest read these
types whatever venue the bot trades on. A venue folder (:mod:`botkit.venues`) owns its wire
envelope and decodes or translates its frames into these Structs; nothing venue-neutral
imports a venue. The field names are Advanced Trade's, the first venue's, so that venue
decodes its frames straight into them in C (msgspec) with no copy on the hot path; another
venue (Coinbase Exchange's ``ticker``/``match``/``l2update``) maps its fields onto them.

Money is ``Decimal``; level2 quantities stay wire strings (checked by the book).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

__all__ = ["Candle", "EventType", "L2Update", "MarketTrade", "StatusProduct", "Ticker"]

EventType = Literal["snapshot", "update"]
"""Whether a batch of events is the whole state (``snapshot``) or a change (``update``).

Anything else is refused at decode (the frame is malformed): an unknown event type must
never be applied as an update, since what it did to the book is unknown.
"""


class Ticker(msgspec.Struct, kw_only=True):
    """One ticker; ``ticker_batch`` has no best bid/ask fields, hence the defaults."""

    type: str = "ticker"
    product_id: str
    price: Decimal
    volume_24_h: Decimal | None = None
    low_24_h: Decimal | None = None
    high_24_h: Decimal | None = None
    low_52_w: Decimal | None = None
    high_52_w: Decimal | None = None
    price_percent_chg_24_h: Decimal | None = None
    best_bid: Decimal | None = None
    best_bid_quantity: Decimal | None = None
    best_ask: Decimal | None = None
    best_ask_quantity: Decimal | None = None


class MarketTrade(msgspec.Struct, kw_only=True):
    """A public trade; ``side`` is the *maker's* side (§3.5)."""

    trade_id: str
    product_id: str
    price: Decimal
    size: Decimal
    side: str
    time: str = ""


class Candle(msgspec.Struct, kw_only=True):
    """A five-minute candle; ``start`` is a Unix-seconds string on the wire."""

    start: str
    high: Decimal
    low: Decimal
    open: Decimal
    close: Decimal
    volume: Decimal
    product_id: str


class StatusProduct(msgspec.Struct, kw_only=True):
    """Product metadata from the ``status`` channel (strings, as sent)."""

    id: str
    product_type: str = ""
    base_currency: str = ""
    quote_currency: str = ""
    base_increment: str = ""
    quote_increment: str = ""
    display_name: str = ""
    status: str = ""
    status_message: str = ""
    min_market_funds: str = ""


class L2Update(msgspec.Struct, kw_only=True, gc=False):
    """Hot-path :class:`L2Level`: ``new_quantity`` is the wire string, checked by the book."""

    side: str
    price_level: str
    new_quantity: str
