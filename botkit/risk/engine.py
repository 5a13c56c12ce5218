"""Core ring: the pre-trade risk engine and the daily-loss kill switch (pure; no I/O).

Every order a strategy asks for passes :meth:`RiskEngine.check` before it reaches the
executor. The checks are deliberately few and blunt — the ones that stop the classic
disasters (fat-fingered price or size, runaway position, an order loop, trading on a
corrupt book, a bad day turning into a ruinous one) — and each refusal is a typed
:class:`RiskRejected` whose ``reason`` says which limit fired.

Order of checks, cheapest and most fundamental first::

    RISK_KILL_SWITCH → (not an exit's order) PRODUCT_HALTED / PRODUCT_CANCEL_ONLY /
    PRODUCT_POST_ONLY / PRODUCT_LIMIT_ONLY → (entries only) RISK_MAX_DRAWDOWN
    → RISK_LOSING_STREAK → RISK_COOLDOWN → RISK_BOOK_INVALID → RISK_NO_PRICE
    → RISK_PRICE_BAND (not an exit's order) → RISK_MAX_NOTIONAL → RISK_MAX_POSITION
    → RISK_MAX_OPEN_ORDERS

An exit's own order (:attr:`OrderCheck.exit`) is not held to the price band. Its prices
are checked when the exit is armed (:func:`botkit.strategy.exits.check_exit`: each level
on its side of the last trade; a stop's limit no further than ``EXIT_LIMIT_MAX`` through
its stop), and they sit away from the market on purpose: a native stop or take-profit
rests there, an emulated stop's limit lies 5 % through its trigger so that it fills. Held
to the band, a 2 % band refused every emulated trigger (the position never closed) and a
10 % stop outright. Every other check applies.

**A tripped kill switch** refuses every order but an exit's that only reduces the
position, and the adapter's cancel-all leaves exits' orders resting: the switch stops new
risk; it must not strip a losing position of its stop-loss (it used to cancel the native
stop and refuse the emulated one's order, on exactly the bad day it trips on). "Only
reduces": an exit armed for a position since closed another way would open the other side
(a review found a stop flipping a flat strategy short during a trip), so it is refused like
any order, and so is an exit made with ``side=`` for a position this strategy does not
hold (it cannot be shown to reduce anything).

**A product the venue restricts** (cancel only, limit only, post only, trading disabled or
offline: :mod:`botkit.market.trading_status`, told by the adapter through
:meth:`RiskEngine.set_trading_status`) refuses what the venue would refuse, so nothing is
journaled or sent in vain — but not an exit's order: the venue decides on it, so that a
stop-loss retried while trading is halted is taken the moment trading resumes, not when
botkit next reads the product's status (a review: up to ~90 s of an unprotected position
at the reopen). ``respect_trading_status = false`` leaves every order to the venue.

**Protections** (Freqtrade's idea; all off by default, docs/protections.md): a cooldown
after a stop-loss, a lock after N losing trades in a window, and a latch on the drawdown
from the equity peak. They refuse *entries* only — an order that only reduces the
position (opposite side, no bigger than it) always passes them, because a protection
must never stand between the bot and closing its risk. Their state
(:class:`ProtectionState`) is persisted by the adapter like the kill switch.

Daily loss = realised PnL since 00:00 UTC (fees included) + the change of unrealised
PnL since 00:00 UTC (marks from the book mid or ticker). Reaching ``-daily_loss_limit``
trips the kill switch. The engine only *decides*; persisting the tripped state and
cancelling orders is the adapter's job (:mod:`botkit.risk.gate`), so this stays
testable without files or an exchange.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, NoReturn

import msgspec
from pydantic import BaseModel, ConfigDict, Field, model_validator

from botkit.errors import OrderRejected
from botkit.market.trading_status import TradingStatus, refusal
from botkit.orders.intents import OrderIntent
from botkit.orders.positions import Position, Positions

__all__ = [
    "RESET_HOW",
    "KillSwitchState",
    "MarketQuote",
    "OrderCheck",
    "ProtectionState",
    "RiskEngine",
    "RiskLimits",
    "RiskRejected",
]

RESET_HOW = (
    "'botkit ctl kill-switch reset' on the running bot, 'botkit kill-switch reset' once it "
    "is stopped"
)
"""How an operator resets the kill switch and protections (every message that asks for it)."""

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
        cooldown_after_stop_loss: seconds after a stop-loss exit fills during which new
            entries are refused (``RISK_COOLDOWN``); exits still pass.
        cooldown_scope: ``product`` (only the stopped-out product cools down) or ``all``.
        max_losing_trades: this many losing trades (closed at a loss, fees included)
            within ``losing_trades_window`` seconds lock new entries
            (``RISK_LOSING_STREAK``).
        losing_trades_window: the look-back window of ``max_losing_trades``, seconds.
        losing_trades_lock: how long the lock lasts, seconds; None = until an operator
            resets it (``botkit kill-switch reset``).
        max_drawdown: a positive quote amount; equity (realised + unrealised PnL) this far
            below its peak latches ``RISK_MAX_DRAWDOWN`` until an operator reset.
        max_drawdown_pct: the same as a percentage of ``drawdown_capital`` + the peak.
        drawdown_capital: the quote capital the percentage is taken of (required with
            ``max_drawdown_pct``: PnL alone has no size to be a percentage of).
        respect_trading_status: refuse, before sending, an order the product's trading
            status at the venue does not admit (``PRODUCT_CANCEL_ONLY``, ``PRODUCT_HALTED``,
            ``PRODUCT_LIMIT_ONLY``, ``PRODUCT_POST_ONLY``); false leaves it to the venue.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_order_notional: Decimal | None = Field(default=None, gt=0)
    max_position: Decimal | None = Field(default=None, ge=0)
    max_position_per_product: dict[str, Decimal] = Field(default_factory=dict)
    max_open_orders: int | None = Field(default=None, ge=0)
    price_band_pct: Decimal | None = Field(default=None, gt=0)
    daily_loss_limit: Decimal | None = Field(default=None, gt=0)
    block_on_invalid_book: bool = True
    cooldown_after_stop_loss: float | None = Field(default=None, gt=0)
    cooldown_scope: Literal["product", "all"] = "product"
    max_losing_trades: int | None = Field(default=None, ge=1)
    losing_trades_window: float = Field(default=86_400.0, gt=0)
    losing_trades_lock: float | None = Field(default=None, gt=0)
    max_drawdown: Decimal | None = Field(default=None, gt=0)
    max_drawdown_pct: Decimal | None = Field(default=None, gt=0, le=100)
    drawdown_capital: Decimal | None = Field(default=None, gt=0)
    respect_trading_status: bool = True

    @model_validator(mode="after")
    def _pct_needs_capital(self) -> RiskLimits:
        if self.max_drawdown_pct is not None and self.drawdown_capital is None:
            raise ValueError(
                "max_drawdown_pct needs drawdown_capital (the quote capital the percentage "
                "is of); set drawdown_capital or use max_drawdown in quote currency"
            )
        return self

    @property
    def protections(self) -> bool:
        """Whether any protection is configured (else the engine skips them entirely)."""
        return (
            self.cooldown_after_stop_loss is not None
            or self.max_losing_trades is not None
            or self.max_drawdown is not None
            or self.max_drawdown_pct is not None
        )

    def position_limit(self, product_id: str) -> Decimal | None:
        return self.max_position_per_product.get(product_id, self.max_position)


@dataclass(frozen=True, slots=True)
class MarketQuote:
    """What the engine needs to know about a product's market right now."""

    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    book_valid: bool = True


class OrderCheck(msgspec.Struct, frozen=True):
    """The risk-relevant content of an order intent.

    A frozen msgspec Struct: one is built for every order on the tick -> order path, at
    a fifth of a frozen dataclass's construction cost."""

    product_id: str
    side: str
    base_size: Decimal | None
    quote_size: Decimal | None
    limit_price: Decimal | None
    exit: bool = False
    """Sent by an exit (stop-loss, take-profit, bracket, trailing stop): checked when the
    exit was armed, so not held to the price band (see the module docstring)."""
    post_only: bool = False
    """A limit order flagged post-only (the only kind a post-only product takes)."""

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
            post = conf.get("post_only") is True
            return cls(intent.product_id, intent.side, base, None, price, post_only=post)
        raise RiskRejected(
            f"risk engine cannot size order configuration {kind!r}",
            reason="RISK_UNKNOWN_ORDER_TYPE",
        )


def _dec(conf: dict[str, Any], key: str) -> Decimal | None:
    value = conf.get(key)
    return None if value in (None, "") else Decimal(str(value))


@dataclass(frozen=True, slots=True)
class KillSwitchState:
    """The kill switch: once ``tripped``, every order (but an exit's that only reduces the
    position) is refused until a reset."""

    tripped: bool
    reason: str = ""
    at: float = 0.0


ALL_PRODUCTS = "*"
"""The key of a cooldown that covers every product (``cooldown_scope = "all"``)."""


@dataclass(slots=True)
class ProtectionState:
    """Everything the protections remember, persisted by the adapter across restarts.

    Attributes:
        cooldowns: product id (or ``"*"``: every product) → Unix time the cooldown ends.
        losses: close times of the losing trades inside the look-back window.
        streak_until: the losing-trades lock ends at this Unix time (``inf``: until reset).
        streak_reason: why the lock was set (shown in refusals).
        drawdown_reason: non-empty while the drawdown latch is set (why, in words).
        drawdown_at: when the latch was set.
        peak: the equity peak (realised + unrealised PnL, quote); None = start from the
            equity at the next evaluation (a fresh start or an operator reset).
        realised: realised PnL (fees included) over the whole life of the state — with
            the unrealised PnL of ``positions`` it is the equity the drawdown is measured on.
        positions: product → (signed quantity, average price), so a restarted bot knows
            which trades are open and what they have made.
        trade_pnl: product → realised PnL (fees included) of the trade open since the
            position last left flat.
    """

    cooldowns: dict[str, float] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    streak_until: float | None = None
    streak_reason: str = ""
    drawdown_reason: str = ""
    drawdown_at: float = 0.0
    peak: Decimal | None = None
    realised: Decimal = _ZERO
    positions: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    trade_pnl: dict[str, Decimal] = field(default_factory=dict)

    @property
    def drawdown_tripped(self) -> bool:
        return bool(self.drawdown_reason)


def _utc(t: float) -> str:
    if math.isinf(t):
        return "an operator reset"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RiskEngine:
    """Pre-trade checks plus daily PnL tracking for the kill switch, and the protections.

    Args:
        limits: the limits to enforce.
        kill_switch: a persisted state to start from (a tripped switch stays tripped).
        protections: a persisted protection state to resume (cooldowns, the losing-trade
            count and lock, the drawdown latch and peak, open positions).
    """

    def __init__(
        self,
        limits: RiskLimits,
        *,
        kill_switch: KillSwitchState | None = None,
        protections: ProtectionState | None = None,
    ) -> None:
        self.limits = limits
        self.kill_switch = kill_switch or KillSwitchState(False)
        self.positions = Positions()
        self.marks: dict[str, Decimal] = {}
        self._day: int | None = None
        self._realised_today = _ZERO
        self._baseline = _ZERO
        self.protection = protections or ProtectionState()
        for pid, (qty, avg) in self.protection.positions.items():
            if qty:  # rebuild the position exactly: one fill of its size at its average
                self.positions.apply_fill(pid, "BUY" if qty > 0 else "SELL", abs(qty), avg)
        self.protection_changed = False
        """Set when the protection state changed in a way that must be persisted now (a
        cooldown, a lock, the latch, a closed trade, a fill); the adapter saves and clears it."""
        self._now = 0.0  # the latest time the engine was told (the default for check)
        self._restricted: dict[str, TradingStatus] = {}  # only products not fully trading

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
        self.protected = limits.protections
        self._track_trades = limits.max_losing_trades is not None
        self._track_drawdown = (
            limits.max_drawdown is not None or limits.max_drawdown_pct is not None
        )

    # -- pre-trade ---------------------------------------------------------------------------

    def set_trading_status(self, status: TradingStatus) -> bool:
        """Take a product's trading status at the venue; return whether its mode changed.

        Only restricted products are kept, so the per-order check costs one falsy test
        while every product trades fully.
        """
        pid = status.product_id
        before = self._restricted.get(pid)
        if status.restricted:
            self._restricted[pid] = status
        else:
            self._restricted.pop(pid, None)
        was = before.mode if before is not None else None
        now = status.mode if status.restricted else None
        return was is not now

    @property
    def restricted(self) -> dict[str, TradingStatus]:
        """The products the venue restricts now (product id → status); a copy."""
        return dict(self._restricted)

    def trading_status(self, product_id: str) -> TradingStatus | None:
        """The product's status if the venue restricts it, else None (no copy)."""
        return self._restricted.get(product_id)

    def check(
        self,
        order: OrderCheck,
        quote: MarketQuote,
        *,
        position: Decimal,
        open_orders: int,
        now: float | None = None,
    ) -> None:
        """Refuse ``order`` if it breaks a limit.

        Args:
            order: the order (see :meth:`OrderCheck.from_intent`).
            quote: the product's current best bid/ask and book validity.
            position: the current signed position in the product (base units).
            open_orders: live orders already open (of the caller's scope).
            now: Unix time, for cooldowns and locks that expire; None = the latest time
                the engine was given (a fill, a mark or a stop-loss).

        Raises:
            RiskRejected: with ``reason`` naming the limit.
        """
        lim = self._limits
        pid = order.product_id
        if self.kill_switch.tripped and not (
            order.exit and self.is_reducing(order, quote, position)
        ):  # an exit's order that only closes risk still goes out; nothing else
            _refuse(
                "RISK_KILL_SWITCH",
                f"kill switch tripped ({self.kill_switch.reason}); no orders until it is reset: "
                f"{RESET_HOW}",
            )
        if self._restricted and lim.respect_trading_status and not order.exit:
            self._check_trading_status(order)
        if self.protected:
            self._check_protections(order, quote, position, self._now if now is None else now)
        if not quote.book_valid and lim.block_on_invalid_book:
            _refuse("RISK_BOOK_INVALID", f"{pid} book is invalid (resyncing); order refused")
        bid, ask, limit_price = quote.best_bid, quote.best_ask, order.limit_price
        buy = order.side == "BUY"
        ref = (ask if buy else bid) or bid or ask
        band = lim.price_band_pct
        if ref is None and (limit_price is None or band is not None):
            _refuse("RISK_NO_PRICE", f"no best bid/ask for {pid}: cannot check the order")
        if band is not None and limit_price is not None and not order.exit:
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

    # -- protections ---------------------------------------------------------------------------

    @staticmethod
    def is_reducing(order: OrderCheck, quote: MarketQuote, position: Decimal) -> bool:
        """Whether ``order`` can only shrink the position: the opposite side and no bigger.

        A flip (selling more than a long) opens new risk, so it counts as an entry. A
        quote-sized market order is sized at the touch it would take (ask for a buy, bid
        for a sell); with no price it cannot be shown to reduce, so it is an entry.
        """
        if position == 0 or (order.side == "BUY") == (position > 0):
            return False
        base = order.base_size
        if base is None:
            ref = quote.best_ask if order.side == "BUY" else quote.best_bid
            if not ref or order.quote_size is None:
                return False
            base = order.quote_size / ref
        return base <= abs(position)

    def _check_trading_status(self, order: OrderCheck) -> None:
        status = self._restricted.get(order.product_id)
        if status is None:
            return
        reason = refusal(status, market=order.limit_price is None, post_only=order.post_only)
        if reason is not None:
            _refuse(reason, f"{status.describe()}; {_ADMITS[reason]}")

    def _check_protections(
        self, order: OrderCheck, quote: MarketQuote, position: Decimal, now: float
    ) -> None:
        st = self.protection
        if self.is_reducing(order, quote, position):
            return  # a protection never stands between the bot and closing risk
        pid = order.product_id
        # a protection whose setting was removed no longer refuses (its state is kept)
        if st.drawdown_reason and self._track_drawdown:
            _refuse(
                "RISK_MAX_DRAWDOWN",
                f"{st.drawdown_reason}; new entries are refused until an operator resets it "
                f"({RESET_HOW}; the peak then restarts from the equity at that time); exits "
                "and reducing orders still go through",
            )
        until = st.streak_until
        if until is not None and self._track_trades:
            if now < until:
                _refuse(
                    "RISK_LOSING_STREAK",
                    f"{st.streak_reason}; new entries are refused until {_utc(until)}"
                    + ("" if math.isinf(until) else f" ({until - now:.0f} s)")
                    + f" or a reset ({RESET_HOW}); exits and reducing orders still go through",
                )
            st.streak_until = None  # lifted by time
            st.streak_reason = ""
            self.protection_changed = True
        if st.cooldowns and self._limits.cooldown_after_stop_loss is not None:
            for key in (pid, ALL_PRODUCTS):
                ends = st.cooldowns.get(key)
                if ends is None:
                    continue
                if now < ends:
                    scope = "every product" if key == ALL_PRODUCTS else pid
                    _refuse(
                        "RISK_COOLDOWN",
                        f"{scope} is cooling down after a stop-loss: new entries on {pid} are "
                        f"refused until {_utc(ends)} ({ends - now:.0f} s; "
                        f"cooldown_after_stop_loss {self._limits.cooldown_after_stop_loss} s) or "
                        f"a reset ({RESET_HOW}); exits and reducing orders still go through",
                    )
                del st.cooldowns[key]
                self.protection_changed = True

    def on_stop_loss(self, product_id: str, *, now: float) -> bool:
        """A stop-loss exit of ``product_id`` filled: start the cooldown, if one is set.

        Returns whether a cooldown started (the adapter then persists the state).
        """
        self._now = now
        seconds = self._limits.cooldown_after_stop_loss
        if seconds is None:
            return False
        key = ALL_PRODUCTS if self._limits.cooldown_scope == "all" else product_id
        ends = now + seconds
        cooldowns = self.protection.cooldowns
        cooldowns[key] = max(ends, cooldowns.get(key, ends))
        self.protection_changed = True
        return True

    def equity(self) -> Decimal:
        """Realised + unrealised PnL (quote) over the protection state's life: what the
        drawdown is measured on. Products without a mark count no unrealised PnL."""
        return self.protection.realised + self.positions.unrealised(self.marks)

    def drawdown(self) -> Decimal:
        """How far equity is below its peak now (quote; 0 at or above the peak)."""
        peak = self.protection.peak
        return _ZERO if peak is None else max(_ZERO, peak - self.equity())

    def _track_fill(
        self,
        product_id: str,
        side: str,
        size: Decimal,
        fee: Decimal,
        before: Decimal,
        realised: Decimal,
        now: float,
    ) -> None:
        """Follow the open trade of ``product_id`` through a fill; count a losing close."""
        st = self.protection
        st.realised += realised
        after = self.positions.quantity(product_id)
        if after:
            st.positions[product_id] = (after, self.positions.get(product_id).avg_price)
        else:
            st.positions.pop(product_id, None)
        self.protection_changed = True
        if not self._track_trades:
            return
        pnl = st.trade_pnl.get(product_id, _ZERO)
        buy = side.upper() == "BUY"
        if before == 0 or (before > 0) == buy or (after != 0 and (after > 0) == (before > 0)):
            st.trade_pnl[product_id] = pnl + realised  # opened, added to or partly reduced
            return
        # closed: to flat, or flipped — then the part beyond the old position opens a new
        # trade, which carries its share of this fill's fee
        carried = _ZERO
        if after:
            carried = fee * (size - abs(before)) / size
            st.trade_pnl[product_id] = -carried
        else:
            st.trade_pnl.pop(product_id, None)
        closed = pnl + realised + carried
        if closed >= 0:
            return
        window = self._limits.losing_trades_window
        st.losses = [t for t in st.losses if t > now - window]
        st.losses.append(now)
        limit = self._limits.max_losing_trades
        if limit is not None and len(st.losses) >= limit and st.streak_until is None:
            lock = self._limits.losing_trades_lock
            st.streak_until = math.inf if lock is None else now + lock
            st.streak_reason = (
                f"{len(st.losses)} losing trades within {window:.0f} s "
                f"(max_losing_trades {limit}; the last {product_id} {closed:.2f})"
            )
            st.losses = []  # the count starts afresh after the lock

    def _check_drawdown(self, now: float) -> None:
        st = self.protection
        if st.drawdown_reason:
            return
        equity = self.equity()
        if st.peak is None or equity > st.peak:
            st.peak = equity
            return
        drop = st.peak - equity
        lim = self._limits
        hit = lim.max_drawdown is not None and drop >= lim.max_drawdown
        pct: Decimal | None = None
        if lim.max_drawdown_pct is not None and lim.drawdown_capital is not None:
            pct = drop / (lim.drawdown_capital + st.peak) * _HUNDRED
            hit = hit or pct >= lim.max_drawdown_pct
        if hit:
            limits = [  # only the limits that are set (not "max_drawdown_pct None")
                f"{name} {value}"
                for name, value in (
                    ("max_drawdown", lim.max_drawdown),
                    ("max_drawdown_pct", lim.max_drawdown_pct),
                )
                if value is not None
            ]
            share = f" ({pct:.2f}%)" if pct is not None else ""
            st.drawdown_reason = (
                f"drawdown {drop:.2f}{share} from the equity peak {st.peak:.2f} reached "
                + " / ".join(limits)
            )
            st.drawdown_at = now
            self.protection_changed = True

    def reset_protections(self) -> bool:
        """Clear every cooldown, the losing-trade count and lock and the drawdown latch
        (the peak restarts from the current equity); return whether any was active."""
        st = self.protection
        was = bool(st.cooldowns or st.streak_until is not None or st.drawdown_reason)
        st.cooldowns.clear()
        st.losses.clear()
        st.streak_until = None
        st.streak_reason = ""
        st.drawdown_reason = ""
        st.drawdown_at = 0.0
        st.peak = None
        self.protection_changed = True
        return was

    # -- PnL and the kill switch -------------------------------------------------------------

    def _roll(self, now: float) -> None:
        day = int(now // _DAY)
        if day != self._day:  # a new UTC day: today's PnL starts from here
            self._day = day
            self._realised_today = _ZERO
            self._baseline = self.positions.unrealised(self.marks)

    def today(self) -> tuple[int, Decimal] | None:
        """The UTC day number being counted and the PnL realised in it (None before the
        first fill or mark): persisted with every counted fill (botkit.orders.ledger)."""
        return None if self._day is None else (self._day, self._realised_today)

    def restore(self, positions: Mapping[str, Position], today: tuple[int, Decimal] | None) -> None:
        """Resume from a restarted bot's fill ledger: its positions (they replace any the
        protection state carried: the ledger counts every fill exactly once), and the PnL
        realised earlier in the same UTC day, so a restart never resets the daily loss.

        Unrealised PnL is counted from the first mark after the restart (the marks before
        it are not known). Call before the first fill or mark.
        """
        self.positions = Positions()
        for pid, pos in positions.items():
            self.positions.restore(pid, pos)
        self.protection.positions = {
            pid: (pos.quantity, pos.avg_price) for pid, pos in positions.items() if pos.quantity
        }
        if today is not None:
            self._day, self._realised_today = today
            self._baseline = _ZERO

    def check_today(self, *, now: float) -> KillSwitchState | None:
        """At start, after :meth:`restore`: the new state when the day's realised loss is
        already past ``daily_loss_limit`` (a trip the run before could not save, a limit
        lowered since). Without it a restart traded until its first fill or mark of a
        held position (a QA pass: two orders, one filled, over a loss already past)."""
        self._roll(now)
        self._now = now
        return self._evaluate(now)

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
        self._now = now
        if product_id not in self.marks:
            self.marks[product_id] = price
            self._baseline += self.positions.get(product_id).unrealised(price)
        if not self.protected:
            self._realised_today += self.positions.apply_fill(product_id, side, size, price, fee)
            return self._evaluate(now)
        before = self.positions.quantity(product_id)
        realised = self.positions.apply_fill(product_id, side, size, price, fee)
        self._realised_today += realised
        if self._track_trades or self._track_drawdown:
            self._track_fill(product_id, side, size, fee, before, realised, now)
        if self._track_drawdown:
            self._check_drawdown(now)
        return self._evaluate(now)

    def on_mark(self, product_id: str, price: Decimal, *, now: float) -> KillSwitchState | None:
        """Update a product's mark price; return the new state if the loss tripped it."""
        self._roll(now)
        self._now = now
        if product_id not in self.marks:  # a position resumed from disk: count from here
            self._baseline += self.positions.get(product_id).unrealised(price)
        self.marks[product_id] = price
        if self.positions.quantity(product_id) == 0:
            return None  # a flat product's mark cannot change PnL
        if self._track_drawdown:
            self._check_drawdown(now)
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


_ADMITS = {
    "PRODUCT_HALTED": "the venue takes no new order on it until it trades again (cancels "
    "still work); botkit reads its status again and says when it lifts (on_trading_status)",
    "PRODUCT_CANCEL_ONLY": "the venue takes cancels only until it trades again; botkit reads "
    "its status again and says when it lifts (on_trading_status)",
    "PRODUCT_LIMIT_ONLY": "the venue takes limit orders only: send a limit order, or wait",
    "PRODUCT_POST_ONLY": "the venue takes post-only limit orders only (post_only=True, "
    "resting away from the touch), or wait",
}
"""What a refused order's message says to do, per trading-status reason."""


def _refuse(reason: str, message: str) -> NoReturn:
    raise RiskRejected(message, reason=reason)
