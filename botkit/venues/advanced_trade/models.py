"""Core ring: typed, frozen results of the Advanced Trade REST API (reference §2.4–§2.9).

Results are ``msgspec.Struct`` types decoded straight from the response bytes:
validation and the decimal-string → ``Decimal`` conversion happen in C in one
pass (msgspec was already a dependency for the feed, and measured 3–5× faster
than ``json.loads`` there), and unknown fields are ignored so Coinbase adding
a field never breaks a bot. Structs are frozen, like dataclasses, and compare
by value.

Money is ``Decimal``. Fields Coinbase documents as possibly empty strings
(``""`` for "no value": market-trade ``bid``/``ask``, product ``price`` of a
new listing) are kept as ``str`` with a ``Decimal | None`` accessor, because
``""`` is not a decimal and guessing 0 would be wrong.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from botkit.orders.model import (
    CancelResult,
    CreateOrderResult,
    Order,
    OrdersPage,
    SuccessResponse,
)

__all__ = [
    "Account",
    "AccountsPage",
    "BestBidAsk",
    "Candle",
    "CancelResult",
    "CreateOrderResult",
    "EditResult",
    "FeeTier",
    "Fill",
    "FillsPage",
    "KeyPermissions",
    "MarketTrade",
    "MarketTrades",
    "Money",
    "Order",
    "OrdersPage",
    "PreviewResult",
    "Portfolio",
    "PortfolioBalances",
    "PortfolioBreakdown",
    "PriceBook",
    "PriceLevel",
    "Product",
    "ProductBook",
    "ServerTime",
    "SpotPosition",
    "SuccessResponse",
    "TransactionSummary",
    "opt_decimal",
]


def opt_decimal(text: str) -> Decimal | None:
    """``Decimal(text)``, or None for Coinbase's empty-string "no value"."""
    return Decimal(text) if text.strip() else None


class _S(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Money(_S, frozen=True, kw_only=True):
    value: Decimal
    currency: str


class Account(_S, frozen=True, kw_only=True):
    uuid: str
    name: str = ""
    currency: str
    available_balance: Money
    hold: Money | None = None
    default: bool = False
    active: bool = True
    type: str = ""
    ready: bool = True
    retail_portfolio_id: str = ""


class _AccountEnvelope(_S, frozen=True, kw_only=True):
    account: Account


class AccountsPage(_S, frozen=True, kw_only=True):
    accounts: list[Account]
    has_next: bool = False
    cursor: str = ""


class Product(_S, frozen=True, kw_only=True):
    product_id: str
    price: str = ""
    base_increment: Decimal
    quote_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal
    quote_min_size: Decimal
    quote_max_size: Decimal
    base_currency_id: str = ""
    quote_currency_id: str = ""
    status: str = ""
    status_message: str = ""
    trading_disabled: bool = False
    is_disabled: bool = False
    cancel_only: bool = False
    limit_only: bool = False
    post_only: bool = False

    @property
    def last_price(self) -> Decimal | None:
        return opt_decimal(self.price)


class _Products(_S, frozen=True, kw_only=True):
    products: list[Product]
    num_products: int = 0


class PriceLevel(_S, frozen=True, kw_only=True):
    price: Decimal
    size: Decimal


class PriceBook(_S, frozen=True, kw_only=True):
    product_id: str
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    time: str = ""


class ProductBook(_S, frozen=True, kw_only=True):
    pricebook: PriceBook
    last: str = ""
    mid_market: str = ""


class BestBidAsk(_S, frozen=True, kw_only=True):
    pricebooks: list[PriceBook]


class Candle(_S, frozen=True, kw_only=True):
    start: int
    low: Decimal
    high: Decimal
    open: Decimal
    close: Decimal
    volume: Decimal


class _Candles(_S, frozen=True, kw_only=True):
    candles: list[Candle]


class MarketTrade(_S, frozen=True, kw_only=True):
    trade_id: str
    product_id: str
    price: Decimal
    size: Decimal
    time: str
    side: str


class MarketTrades(_S, frozen=True, kw_only=True):
    trades: list[MarketTrade]
    best_bid: str = ""
    best_ask: str = ""


class ServerTime(_S, frozen=True, kw_only=True):
    iso: str
    epochSeconds: str  # noqa: N815 - Coinbase's field name
    epochMillis: str  # noqa: N815

    @property
    def seconds(self) -> float:
        """Server time in Unix seconds, with millisecond precision."""
        return int(self.epochMillis) / 1000.0


class FeeTier(_S, frozen=True, kw_only=True):
    pricing_tier: str = ""
    taker_fee_rate: Decimal
    maker_fee_rate: Decimal


class TransactionSummary(_S, frozen=True, kw_only=True):
    total_volume: Decimal = Decimal(0)
    total_fees: Decimal = Decimal(0)
    fee_tier: FeeTier


class KeyPermissions(_S, frozen=True, kw_only=True):
    can_view: bool
    can_trade: bool
    can_transfer: bool = False
    portfolio_uuid: str = ""
    portfolio_type: str = ""


class _CancelResults(_S, frozen=True, kw_only=True):
    results: list[CancelResult]


class EditResult(_S, frozen=True, kw_only=True):
    success: bool
    errors: list[dict[str, Any]] = []


class PreviewResult(_S, frozen=True, kw_only=True):
    order_total: Decimal | None = None
    commission_total: Decimal | None = None
    errs: list[str] = []
    warning: list[str] = []
    preview_id: str = ""


class _OrderEnvelope(_S, frozen=True, kw_only=True):
    order: Order


class Fill(_S, frozen=True, kw_only=True):
    entry_id: str = ""
    trade_id: str
    order_id: str
    trade_time: str = ""
    price: Decimal
    size: Decimal
    commission: Decimal = Decimal(0)
    product_id: str
    side: str = ""
    liquidity_indicator: str = ""
    size_in_quote: bool = False
    sequence_timestamp: str = ""
    retail_portfolio_id: str = ""


class FillsPage(_S, frozen=True, kw_only=True):
    fills: list[Fill]
    cursor: str = ""


class Portfolio(_S, frozen=True, kw_only=True):
    """One portfolio (``GET /portfolios``, §2.9); ``uuid`` is what accounts, orders and fills
    carry as ``retail_portfolio_id``."""

    uuid: str
    name: str = ""
    type: str = ""
    deleted: bool = False


class _Portfolios(_S, frozen=True, kw_only=True):
    portfolios: list[Portfolio]


class PortfolioBalances(_S, frozen=True, kw_only=True):
    total_balance: Money
    total_futures_balance: Money | None = None
    total_cash_equivalent_balance: Money | None = None
    total_crypto_balance: Money | None = None


class SpotPosition(_S, frozen=True, kw_only=True):
    """One asset of a breakdown. Coinbase sends these amounts as JSON *numbers*; they are
    read as ``Decimal`` from the number's text (no binary float in between), but the
    exchange computed them in floating point: use accounts for exact balances."""

    asset: str
    account_uuid: str = ""
    total_balance_fiat: Decimal = Decimal(0)
    total_balance_crypto: Decimal = Decimal(0)
    available_to_trade_fiat: Decimal = Decimal(0)
    available_to_trade_crypto: Decimal = Decimal(0)
    allocation: Decimal = Decimal(0)
    is_cash: bool = False
    account_type: str = ""


class PortfolioBreakdown(_S, frozen=True, kw_only=True):
    portfolio: Portfolio
    portfolio_balances: PortfolioBalances
    spot_positions: list[SpotPosition] = []


class _BreakdownEnvelope(_S, frozen=True, kw_only=True):
    breakdown: PortfolioBreakdown
