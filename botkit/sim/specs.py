"""Configuration records and errors of the simulated exchange.

They live apart from :mod:`botkit.sim.exchange` so that the order parser, the
market model and the facade can all import them without cycles;
``botkit.sim.exchange`` re-exports every name here, which is the public path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

__all__ = [
    "DEFAULT_PRODUCTS",
    "FeeTier",
    "ProductSpec",
    "SimBadRequest",
    "SimMarketConfig",
    "SimNotFound",
]


class SimBadRequest(Exception):
    """A malformed request; the REST layer answers HTTP 400 ``{error, error_details, message}``."""

    def __init__(self, details: str, error: str = "INVALID_ARGUMENT") -> None:
        super().__init__(details)
        self.error = error
        self.details = details


class SimNotFound(Exception):
    """An unknown resource; the REST layer answers HTTP 404 ``{error: "NOT_FOUND", ...}``."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details


@dataclass(frozen=True)
class ProductSpec:
    """A spot product's trading rules plus where its synthetic market starts.

    ``level_spacing`` is the price gap between synthetic maker levels; it must be
    a multiple of ``quote_increment`` so synthetic quotes are always valid prices.
    ``price_increment`` is the limit/stop price tick when Coinbase's product says
    it differs from ``quote_increment`` (the quote-size step); ``None`` means the
    same, which is what the simulator's own products use.
    """

    product_id: str
    base_currency: str
    quote_currency: str
    base_increment: Decimal
    quote_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal
    quote_min_size: Decimal
    quote_max_size: Decimal
    start_price: Decimal
    level_spacing: Decimal
    base_name: str = ""
    quote_name: str = ""
    price_increment: Decimal | None = None

    @property
    def price_tick(self) -> Decimal:
        """The increment limit and stop prices must be multiples of."""
        return self.price_increment or self.quote_increment


@dataclass(frozen=True)
class FeeTier:
    """The user's fee tier (§2.9 ``transaction_summary.fee_tier``)."""

    pricing_tier: str = "Advanced 1"
    maker_fee_rate: Decimal = Decimal("0.004")
    taker_fee_rate: Decimal = Decimal("0.006")
    usd_from: str = "0"
    usd_to: str = "1000"


DEFAULT_PRODUCTS: tuple[ProductSpec, ...] = (
    ProductSpec(
        product_id="BTC-USD",
        base_currency="BTC",
        quote_currency="USD",
        base_increment=Decimal("0.00000001"),
        quote_increment=Decimal("0.01"),
        base_min_size=Decimal("0.00000001"),
        base_max_size=Decimal("3400"),
        quote_min_size=Decimal("1"),
        quote_max_size=Decimal("150000000"),
        start_price=Decimal("65000"),
        level_spacing=Decimal("0.50"),
        base_name="Bitcoin",
        quote_name="US Dollar",
    ),
    ProductSpec(
        product_id="ETH-USD",
        base_currency="ETH",
        quote_currency="USD",
        base_increment=Decimal("0.00000001"),
        quote_increment=Decimal("0.01"),
        base_min_size=Decimal("0.00000001"),
        base_max_size=Decimal("50000"),
        quote_min_size=Decimal("1"),
        quote_max_size=Decimal("50000000"),
        start_price=Decimal("3500"),
        level_spacing=Decimal("0.05"),
        base_name="Ethereum",
        quote_name="US Dollar",
    ),
)

_DEFAULT_BALANCES: Mapping[str, Decimal] = MappingProxyType(
    {"USD": Decimal("100000"), "BTC": Decimal("1"), "ETH": Decimal("10")}
)


@dataclass(frozen=True)
class SimMarketConfig:
    """Everything that shapes a simulated exchange apart from the seed and start time.

    The fields after ``max_open_orders_per_product`` are extensions of the
    documented contract (all defaulted) that size the synthetic flow:
    ``maker_notional`` is the (min, max) quote value of one synthetic maker lot,
    ``taker_notional`` the mean quote value of one synthetic taker trade, and
    ``maker_churn`` the per-step probability that a maker adds or pulls a lot;
    ``ws_quote_sized_quantity`` is a fidelity switch (below).
    """

    products: tuple[ProductSpec, ...] = DEFAULT_PRODUCTS
    initial_balances: Mapping[str, Decimal] = field(default_factory=lambda: _DEFAULT_BALANCES)
    fee_tier: FeeTier = field(default_factory=FeeTier)
    step_seconds: float = 0.1
    book_levels: int = 50
    volatility: float = 0.00003
    trade_rate: float = 3.0
    cancel_latency_steps: int = 1
    history_minutes: int = 24 * 60
    duplicate_client_order_id: Literal["return_existing", "reject"] = "return_existing"
    max_open_orders_per_product: int = 500
    maker_notional: tuple[float, float] = (2_000.0, 40_000.0)
    taker_notional: float = 1_500.0
    maker_churn: float = 0.3
    bracket_stop_limit_offset: Decimal = Decimal("0.05")
    """How far beyond ``stop_trigger_price`` a triggered bracket's stop leg is limited.

    Coinbase's ``trigger_bracket_*`` description: "a stop limit order is automatically
    placed with a limit price 5% higher for BUYS and 5% lower for SELLS" (reference §2.3,
    from a typed schema of the newer spec, not the main docs page, hence a setting).
    """
    stop_pending_status: Literal["OPEN", "PENDING"] = "OPEN"
    """The ``status`` an untriggered stop-limit reports (``trigger_status`` is
    ``STOP_PENDING`` either way). Coinbase does not say; ``OPEN`` (the default) is what
    third-party clients expect for a live stop, ``PENDING`` tests the other reading
    (a ``PENDING`` stop is not matched by ``order_status=OPEN``)."""
    attached_exit_activation: Literal["per_fill", "entry_done"] = "per_fill"
    """When an exit attached to an entry (``attached_order_configuration``) goes live.

    ``per_fill`` (default): with the entry's first fill, sized by what has filled and
    growing with every later fill. ``entry_done``: only once the entry is finished
    (filled, or cancelled/expired after a partial fill), sized by the total filled.
    Coinbase does not document partial entry fills (reference §2.3), hence a setting.
    Either way an entry that ends with nothing filled cancels its exit.
    """
    ws_quote_sized_quantity: Literal["base", "quote"] = "base"
    """Unit of a quote-sized order's ``user``-channel ``cumulative_quantity``.

    Undocumented by Coinbase: ``"base"`` (the default) is how every independent client
    reads it (ccxt pro, Hummingbot); ``"quote"`` tests a client against the other reading
    (see :func:`botkit.sim.wire.order_ws`). REST fills are unaffected: their ``size`` is in
    quote for such orders either way, as Coinbase sends it.
    """
