"""Simulator events: what the pure exchange engine tells the WebSocket layer.

The engine (``botkit.sim.exchange.SimExchange``) never touches sockets. Every
state change that a Coinbase WebSocket subscriber could observe is appended to
an internal list as one of these frozen records; the server drains that list
after each market step and after each REST mutation and hands it to the
WebSocket hub (``botkit.sim.ws``), which turns them into ``l2_data``,
``market_trades``, ``ticker``, ``user`` and ``status`` frames.

Keeping this contract tiny and typed is what lets the engine and the WebSocket
layer be written and tested separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import msgspec

__all__ = ["BookChange", "OrderChanged", "ProductStatusChanged", "SimEvent", "TradePrint"]


@dataclass(frozen=True, slots=True)
class BookChange:
    """A public price level now holds ``new_quantity`` (absolute; ``0`` removes it).

    Emitted only when the level's aggregated size actually changed, so applying
    every ``BookChange`` in order to the last snapshot reproduces the engine's
    public book exactly.
    """

    product_id: str
    side: Literal["bid", "offer"]
    price: Decimal
    new_quantity: Decimal
    time: float


class TradePrint(msgspec.Struct, frozen=True, gc=False):
    """A public trade. ``side`` is the **maker's** side, as Coinbase reports it.

    A frozen ``msgspec`` Struct, not a frozen dataclass like its neighbours: the paper
    exchange puts every real print of a replay on its tape, and a frozen dataclass costs
    ~1 us to build (``object.__setattr__`` per field) against ~0.07 us. Same fields,
    order, positional construction, equality, hashing and immutability; ``gc=False``
    since its fields (strings, Decimals, a float) cannot form a reference cycle.
    """

    trade_id: str
    product_id: str
    price: Decimal
    size: Decimal
    side: Literal["BUY", "SELL"]
    time: float


@dataclass(frozen=True, slots=True)
class OrderChanged:
    """A user's order changed; ``order`` is the cumulative ``user``-channel dict.

    The dict has exactly the shape of one element of ``events[].orders`` on the
    Coinbase ``user`` channel (strings for every number, ``"true"``/``"false"``
    for ``post_only``), so the WebSocket layer forwards it untouched.
    """

    user_id: str
    order: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProductStatusChanged:
    """A product's trading mode or status message changed (``SimExchange.set_trading_mode``):
    ``status`` channel subscribers are told at once, not only at the channel's next period."""

    product_id: str


SimEvent = BookChange | TradePrint | OrderChanged | ProductStatusChanged
