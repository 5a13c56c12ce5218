"""Core ring: the pre-trade risk engine and the daily-loss kill switch (pure; no I/O).

Every order a strategy asks for passes :meth:`RiskEngine.check` before it reaches the
executor. The checks are deliberately few and blunt — the ones that stop the classic
disasters (fat-fingered price or size, runaway position, an order loop, trading on a
corrupt book, a bad day turning into a ruinous one) — and each refusal is a typed
:class:`RiskRejected` whose ``reason`` says which limit fired.

Order of checks, cheapest and most fundamental first::

    RISK_KILL_SWITCH → RISK_BOOK_INVALID → RISK_NO_PRICE → RISK_PRICE_BAND
    → RISK_MAX_NOTIONAL → RISK_MAX_POSITION → RISK_MAX_OPEN_ORDERS

Daily loss = realised PnL since 00:00 UTC (fees included) + the change of unrealised
PnL since 00:00 UTC (marks from the book mid or ticker). Reaching ``-daily_loss_limit``
trips the kill switch. The engine only *decides*; persisting the tripped state and
cancelling orders is the adapter's job (:mod:`botkit.risk.gate`), so this stays
testable without files or an exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict, Field

from botkit.errors import OrderRejected
from botkit.orders.intents import OrderIntent
from botkit.orders.positions import Positions

__all__ = [
    "KillSwitchState",
    "MarketQuote",
    "OrderCheck",
    "RiskEngine",
    "RiskLimits",
    "RiskRejected",
]

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_DAY = 86_400


class RiskRejected(OrderRejected):
    """The risk engine refused an order before it was sent (``reason`` = ``RISK_...``).

    Nothing reached the exchange. The strategy gets the error from its buy/sell call
    and may retry with a smaller order; ``RISK_KILL_SWITCH`` refuses everything until
    an operator resets the kill switch (``botkit kill-switch reset``).
    """


class RiskLimits(BaseModel):
    """The limits, usually from the ``[risk]`` table of the bot's TOML (None = no limit).

    Attributes:
        max_order_notional: largest quote value of one order.
        max_position: largest absolute position (base units) in any product.
        max_position_per_product: overrides of ``max_position`` per product id.
        max_open_orders: most live orders of a strategy at once.
        price_band_pct: a limit price must lie within this percentage below the best
            bid / above the best ask.
        daily_loss_limit: a positive quote amount; losing this much in a UTC day trips
            the kill switch.
        block_on_invalid_book: refuse orders on a product whose book is invalid.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_order_notional: Decimal | None = Field(default=None, gt=0)
    max_position: Decimal | None = Field(default=None, ge=0)
    max_position_per_product: dict[str, Decimal] = Field(default_factory=dict)
    max_open_orders: int | None = Field(default=None, ge=0)
    price_band_pct: Decimal | None = Field(default=None, gt=0)
    daily_loss_limit: Decimal | None = Field(default=None, gt=0)
    block_on_invalid_book: bool = True

    def position_limit(self, product_id: str) -> Decimal | None:
        return self.max_position_per_product.get(product_id, self.max_position)


@dataclass(frozen=True, slots=True)
class MarketQuote:
    """What the engine needs to know about a product's market right now."""

    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    book_valid: bool = True


@dataclass(frozen=True, slots=True)
class OrderCheck:
    """The risk-relevant content of an order intent."""

    product_id: str
    side: str
    base_size: Decimal | None
    quote_size: Decimal | None
    limit_price: Decimal | None

    @classmethod
    def from_intent(cls, intent: OrderIntent) -> OrderCheck:
        """Read sizes and price out of the §2.3 order configuration.

        Raises:
            RiskRejected: ``RISK_UNKNOWN_ORDER_TYPE``: the engine refuses what it cannot
                size, rather than letting it through unchecked.
        """
        ((kind, conf),) = intent.order_configuration.items()
        base, quote, price = (_dec(conf, k) for k in ("base_size", "quote_size", "limit_price"))
        if kind.startswith("market_") and price is None and (base or quote):
            return cls(intent.product_id, intent.side, base, quote, None)
        if price is not None and base is not None:
            return cls(intent.product_id, intent.side, base, None, price)
        raise RiskRejected(
            f"risk engine cannot size order configuration {kind!r}",
            reason="RISK_UNKNOWN_ORDER_TYPE",
        )


def _dec(conf: dict[str, Any], key: str) -> Decimal | None:
    value = conf.get(key)
    return None if value in (None, "") else Decimal(str(value))


@dataclass(frozen=True, slots=True)
class KillSwitchState:
    """The kill switch: once ``tripped``, every order is refused until a reset."""

    tripped: bool
    reason: str = ""
    at: float = 0.0


class RiskEngine:
    """Pre-trade checks plus daily PnL tracking for the kill switch.

    Args:
        limits: the limits to enforce.
        kill_switch: a persisted state to start from (a tripped switch stays tripped).
    """

    def __init__(self, limits: RiskLimits, *, kill_switch: KillSwitchState | None = None) -> None:
        self.limits = limits
        self.kill_switch = kill_switch or KillSwitchState(False)
        self.positions = Positions()
        self.marks: dict[str, Decimal] = {}
        self._day: int | None = None
        self._realised_today = _ZERO
        self._baseline = _ZERO

    @property
    def limits(self) -> RiskLimits:
        """The limits enforced; assigning new limits recomputes the derived constants."""
        return self._limits

    @limits.setter
    def limits(self, limits: RiskLimits) -> None:
        # Derived once, not per order: the band's multipliers (the same Decimal operations
        # the per-order formula did, so the bounds are identical to the digit) and the
        # position limit per product.
        self._limits = limits
        band = limits.price_band_pct
        self._band_low = 1 - band / _HUNDRED if band is not None else _ZERO
        self._band_high = 1 + band / _HUNDRED if band is not None else _ZERO
        self._position_limits = dict(limits.max_position_per_product)

    # -- pre-trade ---------------------------------------------------------------------------

    def check(
        self, order: OrderCheck, quote: MarketQuote, *, position: Decimal, open_orders: int
    ) -> None:
        """Refuse ``order`` if it breaks a limit.

        Args:
            order: the order (see :meth:`OrderCheck.from_intent`).
            quote: the product's current best bid/ask and book validity.
            position: the current signed position in the product (base units).
            open_orders: live orders already open (of the caller's scope).

        Raises:
            RiskRejected: with ``reason`` naming the limit.
        """
        lim = self._limits
        pid = order.product_id
        if self.kill_switch.tripped:
            _refuse(
                "RISK_KILL_SWITCH",
                f"kill switch tripped ({self.kill_switch.reason}); no orders until it is reset "
                "with 'botkit kill-switch reset'",
            )
        if not quote.book_valid and lim.block_on_invalid_book:
            _refuse("RISK_BOOK_INVALID", f"{pid} book is invalid (resyncing); order refused")
        bid, ask, limit_price = quote.best_bid, quote.best_ask, order.limit_price
        buy = order.side == "BUY"
        ref = (ask if buy else bid) or bid or ask
        band = lim.price_band_pct
        if ref is None and (limit_price is None or band is not None):
            _refuse("RISK_NO_PRICE", f"no best bid/ask for {pid}: cannot check the order")
        if band is not None and limit_price is not None:
            low = (bid or ask or _ZERO) * self._band_low
            high = (ask or bid or _ZERO) * self._band_high
            if not low <= limit_price <= high:
                _refuse(
                    "RISK_PRICE_BAND",
                    f"{pid} limit price {limit_price} outside the {band}% band "
                    f"[{low:.8f}, {high:.8f}] around bid {bid} / ask {ask}",
                )
        price = limit_price or ref or _ZERO
        if order.base_size is not None:
            base = order.base_size
            notional = base * price
        else:
            notional = order.quote_size or _ZERO
            base = notional / price if price else _ZERO
        max_notional = lim.max_order_notional
        if max_notional is not None and notional > max_notional:
            _refuse(
                "RISK_MAX_NOTIONAL",
                f"{pid} order notional {notional:.2f} > max_order_notional {max_notional}",
            )
        limit = self._position_limits.get(pid, lim.max_position)
        if limit is not None:
            after = position + base if buy else position - base
            if abs(after) > limit and abs(after) > abs(position):  # reducing is always allowed
                _refuse(
                    "RISK_MAX_POSITION",
                    f"{pid} position would be {after} (now {position}); max_position {limit}",
                )
        if lim.max_open_orders is not None and open_orders >= lim.max_open_orders:
            _refuse(
                "RISK_MAX_OPEN_ORDERS",
                f"{open_orders} orders already open; max_open_orders {lim.max_open_orders}",
            )

    def check_intent(
        self, intent: OrderIntent, quote: MarketQuote, *, position: Decimal, open_orders: int
    ) -> None:
        """:meth:`check` for an :class:`OrderIntent`."""
        self.check(
            OrderCheck.from_intent(intent), quote, position=position, open_orders=open_orders
        )

    # -- PnL and the kill switch -------------------------------------------------------------

    def _roll(self, now: float) -> None:
        day = int(now // _DAY)
        if day != self._day:  # a new UTC day: today's PnL starts from here
            self._day = day
            self._realised_today = _ZERO
            self._baseline = self.positions.unrealised(self.marks)

    def daily_pnl(self) -> Decimal:
        """Realised + change in unrealised PnL since the start of the current UTC day."""
        return self._realised_today + self.positions.unrealised(self.marks) - self._baseline

    def on_fill(
        self,
        product_id: str,
        side: str,
        size: Decimal,
        price: Decimal,
        fee: Decimal,
        *,
        now: float,
    ) -> KillSwitchState | None:
        """Account a fill; return the new kill-switch state if this fill tripped it."""
        self._roll(now)
        if product_id not in self.marks:
            self.marks[product_id] = price
            self._baseline += self.positions.get(product_id).unrealised(price)
        self._realised_today += self.positions.apply_fill(product_id, side, size, price, fee)
        return self._evaluate(now)

    def on_mark(self, product_id: str, price: Decimal, *, now: float) -> KillSwitchState | None:
        """Update a product's mark price; return the new state if the loss tripped it."""
        self._roll(now)
        self.marks[product_id] = price
        if self.positions.quantity(product_id) == 0:
            return None  # a flat product's mark cannot change PnL
        return self._evaluate(now)

    def _evaluate(self, now: float) -> KillSwitchState | None:
        limit = self.limits.daily_loss_limit
        if limit is None or self.kill_switch.tripped:
            return None
        pnl = self.daily_pnl()
        if pnl > -limit:
            return None
        return self.trip(f"daily loss {-pnl:.2f} reached daily_loss_limit {limit}", now=now)

    def trip(self, reason: str, *, now: float) -> KillSwitchState:
        """Trip the kill switch (also usable by an operator or another component)."""
        self.kill_switch = KillSwitchState(True, reason, now)
        return self.kill_switch

    def reset(self) -> None:
        """Clear the kill switch (the persisted copy is cleared by the adapter)."""
        self.kill_switch = KillSwitchState(False)


def _refuse(reason: str, message: str) -> NoReturn:
    raise RiskRejected(message, reason=reason)
