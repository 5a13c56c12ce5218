"""Configuration of the paper exchange, and product rules from Coinbase's product objects.

Every knob of the fill model is here with the reason it exists, so a paper
result can be read next to the assumptions that produced it. The paper exchange
reuses the simulator's engine, so :meth:`PaperConfig.sim_config` translates the
shared parts (products, fees, balances, limits, the exit settings) into a
:class:`~botkit.sim.specs.SimMarketConfig` with the synthetic market switched off.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Literal

from botkit.sim.specs import FeeTier, ProductSpec, SimMarketConfig

__all__ = ["PaperConfig", "spec_from_wire"]


@dataclass(frozen=True)
class PaperConfig:
    """What shapes a paper exchange apart from its market data, seed and start time.

    Raises:
        ValueError: on construction, for a negative or non-finite latency, an
            unknown ``trade_side``, duplicate products or a non-positive limit.
    """

    products: tuple[ProductSpec, ...]
    """Trading rules per product (increments, minimums): orders are validated exactly
    as Coinbase would, so a strategy that passes paper passes live. Build them with
    :func:`spec_from_wire` from ``/market/products``."""

    initial_balances: Mapping[str, Decimal] = field(
        default_factory=lambda: MappingProxyType({"USD": Decimal(10_000)})
    )
    """The starting portfolio. Holds and ``INSUFFICIENT_FUND`` come from it, so a
    strategy cannot spend money it would not have."""

    fee_tier: FeeTier = field(default_factory=FeeTier)
    """Maker/taker rates (Coinbase's lowest tier by default): fees decide whether a
    small-edge strategy makes money at all, so they are never optional."""

    submit_latency: float = 0.05
    """Seconds from ``create_order`` to the order reaching the (virtual) matching
    engine. The order is ``PENDING`` meanwhile and cannot fill: prints that happen
    while a real order is in flight cannot fill it either. 50 ms is a rough
    REST-to-engine delay; measure yours and set it."""

    cancel_latency: float = 0.05
    """Seconds from ``cancel_orders`` to the cancel taking effect. The order is
    ``CANCEL_QUEUED`` meanwhile and can still fill, as on Coinbase (§2.6)."""

    trade_side: Literal["maker", "taker"] = "maker"
    """What a ``market_trades`` print's ``side`` means. Coinbase documents it as the
    *maker's* side (§3.5) but the reference flags that as uncertain, and the
    answer decides which resting orders a print can fill at their own price."""

    print_lag: float = 0.5
    """Seconds a decrease of the level at a resting order's price may wait for the
    trade print that caused it. Coinbase batches ``market_trades`` over 250 ms
    while level2 arrives at once, so the book usually shows a trade's consumption
    *before* the print: without this, the queue ahead would be reduced twice
    (once by the cap, once by the print) and orders would fill too early."""

    fills_from_book: bool = False
    """Resting orders also fill when the real book's opposite best reaches their price
    (:meth:`~botkit.paper.book.PaperBook.crossed`): for a venue with no public trade tape
    (Prime), where no print ever comes to fill them."""

    max_open_orders_per_product: int = 500
    """Coinbase's open-order limit per product (§2.4); beyond it orders fail."""

    duplicate_client_order_id: Literal["return_existing", "reject"] = "return_existing"
    """A reused ``client_order_id`` returns the original order, as Coinbase does (§2.5)."""

    user_id: str = "paper"
    """The portfolio the journal covers: :meth:`PaperExchange.take_delta`,
    ``restore`` and ``portfolio_value`` are about this user only."""

    trade_id_memory: int = 10_000
    """How many recent trade ids per product are remembered to drop a print seen
    twice (a replayed batch after a reconnect must not fill anything again)."""

    bracket_stop_limit_offset: Decimal = Decimal("0.05")
    """How far beyond ``stop_trigger_price`` a triggered bracket's stop leg is limited
    (Coinbase: 5 %, from a typed schema rather than the main docs page; see
    :attr:`botkit.sim.specs.SimMarketConfig.bracket_stop_limit_offset`). A setting, so a
    paper result can be re-run under the other reading of the venue."""

    stop_pending_status: Literal["OPEN", "PENDING"] = "OPEN"
    """The ``status`` an untriggered stop-limit reports (Coinbase does not say; see
    :attr:`botkit.sim.specs.SimMarketConfig.stop_pending_status`)."""

    attached_exit_activation: Literal["per_fill", "entry_done"] = "per_fill"
    """When an exit attached to an entry goes live: with each entry fill, sized by what
    filled (default), or once the entry is done. Coinbase does not document partial entry
    fills (see :attr:`botkit.sim.specs.SimMarketConfig.attached_exit_activation`)."""

    def __post_init__(self) -> None:
        for name in ("submit_latency", "cancel_latency", "print_lag"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
        if self.trade_side not in ("maker", "taker"):
            raise ValueError(f"trade_side must be 'maker' or 'taker', not {self.trade_side!r}")
        ids = [p.product_id for p in self.products]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate products in {ids}")
        if self.max_open_orders_per_product < 1 or self.trade_id_memory < 1:
            raise ValueError("max_open_orders_per_product and trade_id_memory must be >= 1")
        offset = self.bracket_stop_limit_offset
        if not isinstance(offset, Decimal) or not offset.is_finite() or not 0 <= offset < 1:
            raise ValueError(
                f"bracket_stop_limit_offset must be a Decimal fraction in [0, 1) "
                f"(0.05 = 5 %), not {offset!r}"
            )
        if self.stop_pending_status not in ("OPEN", "PENDING"):
            raise ValueError(
                f"stop_pending_status must be 'OPEN' or 'PENDING', not {self.stop_pending_status!r}"
            )
        if self.attached_exit_activation not in ("per_fill", "entry_done"):
            raise ValueError(
                "attached_exit_activation must be 'per_fill' or 'entry_done', not "
                f"{self.attached_exit_activation!r}"
            )

    def sim_config(self) -> SimMarketConfig:
        """The simulator-engine configuration: shared rules, no synthetic market or history."""
        return SimMarketConfig(
            products=self.products,
            initial_balances=MappingProxyType(
                {k: Decimal(v) for k, v in self.initial_balances.items()}
            ),
            fee_tier=self.fee_tier,
            volatility=0.0,
            trade_rate=0.0,
            cancel_latency_steps=0,
            history_minutes=0,
            duplicate_client_order_id=self.duplicate_client_order_id,
            max_open_orders_per_product=self.max_open_orders_per_product,
            maker_churn=0.0,
            bracket_stop_limit_offset=self.bracket_stop_limit_offset,
            stop_pending_status=self.stop_pending_status,
            attached_exit_activation=self.attached_exit_activation,
        )


def _dec(product: Mapping[str, Any], *keys: str, default: str | None = None) -> Decimal:
    for key in keys:
        value = product.get(key)
        if value not in (None, ""):
            try:
                out = Decimal(str(value))
            except InvalidOperation:
                raise ValueError(f"{key} is not a decimal: {value!r}") from None
            if out.is_finite():
                return out
            raise ValueError(f"{key} is not finite: {value!r}")
    if default is None:
        raise KeyError(f"product {product.get('product_id')!r} has no {' / '.join(keys)}")
    return Decimal(default)


def spec_from_wire(product: Mapping[str, Any]) -> ProductSpec:
    """A :class:`ProductSpec` from one Coinbase ``/market/products`` Product object (§2.9).

    Increments and size limits are required (without them orders cannot be
    validated as Coinbase would). ``price_increment`` (the limit-price tick) is
    kept apart from ``quote_increment`` (the quote-size step) when they differ.
    ``price`` (or ``mid_market_price``) becomes the
    start price, which is only the mark before the first trade or book. Missing
    maxima default to "no practical limit".

    Raises:
        KeyError: ``product_id``, an increment or ``base_min_size`` is missing.
        ValueError: a field is not a finite decimal, or an increment is not positive.
    """
    product_id = str(product["product_id"])
    base, _, quote = product_id.partition("-")
    base = str(product.get("base_currency_id") or base)
    quote = str(product.get("quote_currency_id") or quote)
    if not base or not quote:
        raise ValueError(f"cannot tell base and quote currencies of {product_id!r}")
    base_increment = _dec(product, "base_increment")
    quote_increment = _dec(product, "quote_increment", "price_increment")
    price_increment = _dec(product, "price_increment", "quote_increment")
    if min(base_increment, quote_increment, price_increment) <= 0:
        raise ValueError(f"{product_id}: increments must be positive")
    return ProductSpec(
        product_id=product_id,
        base_currency=base,
        quote_currency=quote,
        base_increment=base_increment,
        quote_increment=quote_increment,
        base_min_size=_dec(product, "base_min_size"),
        base_max_size=_dec(product, "base_max_size", default="1e12"),
        quote_min_size=_dec(product, "quote_min_size", default="0"),
        quote_max_size=_dec(product, "quote_max_size", default="1e15"),
        start_price=_dec(product, "price", "mid_market_price", default="0"),
        level_spacing=price_increment,
        base_name=str(product.get("base_name") or ""),
        quote_name=str(product.get("quote_name") or ""),
        price_increment=price_increment if price_increment != quote_increment else None,
    )
