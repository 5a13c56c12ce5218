"""Pure ring: exits — offsets, product limits, validation, the trailing ratchet, triggers.

Why a pure module: an exit is money protection, so its decisions (which side a stop must
be on, when a print triggers it, how far a trailing stop may move) must be the same in the
simulator, paper trading, a backtest and live, and testable without a socket or a clock.
:mod:`botkit.strategy.exit_manager` is the asyncio half that places, journals and resumes
them; everything it decides, it asks this module.

Vocabulary:

* a position is **long** (its exits SELL) or **short** (its exits BUY);
* a **stop** triggers when the last trade reaches it *against* the position (a long's stop
  is below the market); it then works as a limit ``stop_limit_offset`` beyond the trigger,
  as Coinbase's bracket stop leg does (5 %), so emulated and native stops fill alike;
* a **take-profit** is a limit *in favour* of the position (a long's is above the market);
* a **trailing stop** follows the best price seen since it was armed at ``distance``
  behind it, and only ever moves in the position's favour (the ratchet).

Money is ``Decimal``; nothing here reads a clock or draws a random number.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Literal

from botkit.errors import OrderRejected

__all__ = [
    "BRACKET_STOP_OFFSET",
    "ExitEvent",
    "ExitFilled",
    "ExitRecord",
    "ExitRejected",
    "ExitTriggered",
    "Leg",
    "Offset",
    "off_grid",
    "PositionSide",
    "PriceLike",
    "ProductLimits",
    "Trailing",
    "check_exit",
    "describe_exit",
    "evaluate",
    "how_kept",
    "leg_of_fill",
    "level_of",
    "position_left",
    "exit_side",
    "implied_tick",
    "limits_from_rules",
    "resolve",
    "stop_limit_price",
    "to_tick",
]

PositionSide = Literal["long", "short"]
Leg = Literal["stop_loss", "take_profit"]

BRACKET_STOP_OFFSET = Decimal("0.05")
"""How far beyond its trigger a triggered stop works as a limit (a fraction of the trigger).

Coinbase's bracket stop leg and the simulator's ``bracket_stop_limit_offset`` use 5 %; an
emulated stop and a default stop-loss use the same, so every kind of stop fills alike."""

_ZERO = Decimal(0)
_BPS = Decimal("0.0001")
_PCT = Decimal("0.01")


class ExitRejected(OrderRejected):
    """An exit was refused before anything was sent (``reason`` = ``EXIT_...``).

    Raised by the exit calls of the context (``ctx.buy(..., stop_loss=...)``,
    ``ctx.bracket``, ``ctx.stop_loss``, ``ctx.trailing_stop``): the message names what is
    wrong and how to fix it. Nothing reached the exchange.
    """


def _amount(value: float | Decimal) -> Decimal:
    """An offset's size: a float as written (``str``), so 0.1 is Decimal('0.1')."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return Decimal(value)
    raise TypeError(f"an Offset takes a number, got {type(value).__name__} {value!r}")


@dataclass(frozen=True, slots=True)
class Offset:
    """A distance from a reference price: ticks, basis points or percent.

    Resolved against the entry price (or the last trade for a held position) and the
    product's price tick, in the direction the exit needs: a stop goes *against* the
    position, a take-profit *in favour*. Build one with :meth:`ticks`, :meth:`bps` or
    :meth:`pct`; the value must be positive.
    """

    unit: Literal["ticks", "bps", "pct"]
    value: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.value, Decimal) or not self.value.is_finite() or self.value <= 0:
            raise ValueError(
                f"an Offset needs a positive finite number, got {self.value!r} "
                "(e.g. Offset.pct(2), Offset.bps(50), Offset.ticks(10))"
            )

    @classmethod
    def ticks(cls, n: int | Decimal) -> Offset:
        """``n`` price ticks (the product's ``price_increment``)."""
        return cls("ticks", _amount(n))

    @classmethod
    def bps(cls, n: float | Decimal) -> Offset:
        """``n`` basis points of the reference price (1 bp = 0.01 %)."""
        return cls("bps", _amount(n))

    @classmethod
    def pct(cls, x: float | Decimal) -> Offset:
        """``x`` percent of the reference price (``Offset.pct(0.5)`` is half a percent:
        a float is read as written, 0.1 as Decimal('0.1'), not its binary value)."""
        return cls("pct", _amount(x))

    def amount(self, reference: Decimal, tick: Decimal | None) -> Decimal:
        """The distance in quote units from ``reference``."""
        if self.unit == "ticks":
            if tick is None:
                raise ExitRejected(
                    "an Offset.ticks needs the product's price tick, which this context "
                    "does not know: give BotContext product limits (the runtime does), or "
                    "use Offset.bps/Offset.pct or an absolute price",
                    reason="EXIT_TICK_UNKNOWN",
                )
            return self.value * tick
        return reference * self.value * (_BPS if self.unit == "bps" else _PCT)

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "value": self.value}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Offset:
        return cls(doc["unit"], Decimal(doc["value"]))


PriceLike = Decimal | Offset
"""An exit price: an absolute ``Decimal`` or an :class:`Offset` from the reference."""


@dataclass(frozen=True, slots=True)
class ProductLimits:
    """The product rules an exit and a limit order are checked against (from the venue's
    product list). ``quote_min_size``: the least order value (0: none known)."""

    base_min_size: Decimal
    base_increment: Decimal
    price_increment: Decimal
    quote_min_size: Decimal = Decimal(0)


def limits_from_rules(rules: list[dict[str, Any]]) -> dict[str, ProductLimits]:
    """:class:`ProductLimits` per product from the venue's product rules (strings or Decimals,
    as :func:`botkit.runtime.venue.fetch_product_rules` returns them)."""
    out: dict[str, ProductLimits] = {}
    for p in rules:
        tick = p.get("price_increment") or p.get("quote_increment")
        base_inc = p.get("base_increment")
        if not tick or not base_inc:
            continue
        out[str(p["product_id"])] = ProductLimits(
            base_min_size=Decimal(str(p.get("base_min_size") or base_inc)),
            base_increment=Decimal(str(base_inc)),
            price_increment=Decimal(str(tick)),
            quote_min_size=_min_value(p.get("quote_min_size")),
        )
    return out


def _min_value(raw: object) -> Decimal:
    """A rule's minimum order value; 0 when missing or not a plain positive number."""
    try:
        value = Decimal(str(raw)) if raw not in (None, "") else Decimal(0)
    except ArithmeticError:
        return Decimal(0)
    return value if value.is_finite() and value > 0 else Decimal(0)


def exit_side(position: PositionSide) -> Literal["BUY", "SELL"]:
    """The order side that closes ``position``."""
    return "SELL" if position == "long" else "BUY"


def implied_tick(price: Decimal) -> Decimal:
    """The grid a market price is quoted on, read from its own decimals (``65000.50`` ->
    ``0.01``): the fallback when the product's tick is not known (a context without product
    limits), so a computed exit price has no more decimals than the prices it came from."""
    exponent = price.as_tuple().exponent
    return Decimal(1).scaleb(min(int(exponent), 0)) if isinstance(exponent, int) else Decimal(1)


def to_tick(price: Decimal, tick: Decimal | None, *, down: bool) -> Decimal:
    """``price`` on the tick grid, rounded down or up (unchanged when the tick is unknown)."""
    if tick is None:
        return price
    steps = (price / tick).to_integral_value(rounding=ROUND_FLOOR if down else ROUND_CEILING)
    return steps * tick


def resolve(
    price: PriceLike, reference: Decimal, position: PositionSide, leg: Leg, tick: Decimal | None
) -> Decimal:
    """An exit price from an absolute price or an offset.

    An offset moves *against* the position for a stop and *in favour* for a take-profit,
    and the result is rounded to the tick away from the reference (a stop 2 % under
    101.37 is 99.34, never a tick closer to the market than asked). An absolute price is
    kept as given (it must be on the tick grid; :func:`check_exit` says so if not).
    """
    if isinstance(price, Decimal):
        return price
    if not isinstance(price, Offset):  # a float's error was "'float' object has no attribute"
        raise TypeError(
            f"{leg} must be a Decimal price or an Offset (Offset.pct(2), Offset.ticks(10), "
            f"Offset.abs(Decimal('50'))), got {type(price).__name__} {price!r}: money must "
            "be Decimal (Decimal('60000'), not 60000.0)"
        )
    up = (leg == "take_profit") == (position == "long")
    amount = price.amount(reference, tick)
    grid = tick if tick is not None else implied_tick(reference)
    return to_tick(reference + amount if up else reference - amount, grid, down=not up)


def stop_limit_price(
    stop: Decimal, position: PositionSide, tick: Decimal | None, offset: Decimal
) -> Decimal:
    """The limit a triggered stop works at: ``offset`` (a fraction) beyond the trigger,
    rounded to the tick away from the market (lower for a long's SELL); without the
    product's tick, to the stop's own decimals (:func:`implied_tick`)."""
    grid = tick if tick is not None else implied_tick(stop)
    if position == "long":
        return max(to_tick(stop * (1 - offset), grid, down=True), grid)
    return to_tick(stop * (1 + offset), grid, down=False)


def off_grid(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` is not a multiple of ``step`` (never, for a step that is not
    positive: a product's rule of "0" means no grid); a value too long for the step's
    precision is off it (``%`` raised InvalidOperation out of the order and exit checks)."""
    try:
        return step > 0 and (value % step) != 0
    except InvalidOperation:
        return True


def check_exit(
    *,
    position: PositionSide,
    reference: Decimal,
    size: Decimal | None,
    stop: Decimal | None,
    take_profit: Decimal | None,
    limits: ProductLimits | None,
    what: str = "entry",
) -> None:
    """Refuse an exit that cannot be right, before anything is sent.

    ``reference`` is the entry price (or the last trade, for an exit of a held position,
    ``what="last trade"``). A long's stop must be below it and its take-profit above; a
    short's the other way round; the size must reach the product minimum and prices sit
    on the tick grid.

    Raises:
        ExitRejected: what is wrong and how to fix it.
    """
    long = position == "long"
    if stop is None and take_profit is None:
        raise ExitRejected(
            "an exit needs a stop_loss or a take_profit (or both)", reason="EXIT_EMPTY"
        )
    for name, value in (("stop_loss", stop), ("take_profit", take_profit)):
        if value is not None and (not value.is_finite() or value <= 0):
            raise ExitRejected(
                f"{name} {value} is not a positive price", reason="EXIT_PRICE_NOT_POSITIVE"
            )
    if stop is not None and (stop >= reference if long else stop <= reference):
        where, fix = ("above", "below") if long else ("below", "above")
        raise ExitRejected(
            f"stop_loss {stop} is {where} or at the {what} price {reference} of a {position} "
            f"position: it would trigger at once. Fix: put the stop {fix} {reference} "
            f"(e.g. stop_loss=Offset.pct(2))",
            reason="EXIT_STOP_WRONG_SIDE",
        )
    if take_profit is not None and (take_profit <= reference if long else take_profit >= reference):
        where, fix = ("below", "above") if long else ("above", "below")
        raise ExitRejected(
            f"take_profit {take_profit} is {where} or at the {what} price {reference} of a "
            f"{position} position: it would sell at a loss or fill at once. Fix: put it "
            f"{fix} {reference} (e.g. take_profit=Offset.pct(3))",
            reason="EXIT_TAKE_PROFIT_WRONG_SIDE",
        )
    if limits is None:
        return
    if size is not None and size < limits.base_min_size:
        raise ExitRejected(
            f"exit size {size} is below the product minimum {limits.base_min_size}. Fix: "
            f"size the position (and its exit) at least {limits.base_min_size}",
            reason="EXIT_SIZE_TOO_SMALL",
        )
    if size is not None and off_grid(size, limits.base_increment):
        raise ExitRejected(
            f"exit size {size} is not a multiple of the base increment "
            f"{limits.base_increment}. Fix: round it down to the increment",
            reason="EXIT_SIZE_PRECISION",
        )
    for name, value in (("stop_loss", stop), ("take_profit", take_profit)):
        if value is not None and off_grid(value, limits.price_increment):
            raise ExitRejected(
                f"{name} {value} is not on the price tick {limits.price_increment}. Fix: "
                "round it to the tick, or give an Offset (rounded for you)",
                reason="EXIT_PRICE_PRECISION",
            )


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExitTriggered:
    """An exit's trigger was reached: its order now works (or, emulated, was just sent).

    Attributes:
        exit_id: the id ``ctx.bracket``/``stop_loss``/... returned.
        kind: ``stop_loss``, ``take_profit``, ``bracket``, ``trailing`` or ``entry``.
        leg: which leg triggered (``stop_loss`` or ``take_profit``).
        price: the print that triggered it (native: the first fill's price).
        native: whether the exchange holds the exit (else the bot emulates it).
        level: the trigger level in force: the stop (a trailing stop's latest) or the
            take-profit price.
    """

    exit_id: str
    product_id: str
    kind: str
    leg: Leg
    price: Decimal
    native: bool
    level: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ExitFilled:
    """An exit's order filled (partly); ``ctx.position()`` already includes it.

    Attributes:
        size / price: this fill.
        remaining: the exit's size still to fill; 0 when the exit is done.
    """

    exit_id: str
    product_id: str
    kind: str
    leg: Leg
    side: str
    size: Decimal
    price: Decimal
    remaining: Decimal
    client_order_id: str
    native: bool


ExitEvent = ExitTriggered | ExitFilled


# -- the trailing ratchet ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trailing:
    """A trailing stop's state: the best price seen and the stop it implies.

    ``distance`` is an absolute quote amount or an :class:`Offset` of the best price.
    Until ``activation`` is reached (in the position's favour) the stop is not moved
    (``stop`` stays the initial one, which may be None: not armed yet). :meth:`on_price`
    returns the next state; the stop never moves against the position.
    """

    position: PositionSide
    distance: PriceLike
    tick: Decimal | None
    activation: Decimal | None = None
    best: Decimal | None = None
    stop: Decimal | None = None
    active: bool = True

    @classmethod
    def start(
        cls,
        position: PositionSide,
        distance: PriceLike,
        price: Decimal,
        tick: Decimal | None,
        activation: Decimal | None = None,
    ) -> Trailing:
        """The state at arming, from the last trade ``price``."""
        t = cls(position, distance, tick, activation, active=activation is None)
        return t.on_price(price)

    def candidate(self, best: Decimal) -> Decimal:
        """The stop ``distance`` behind ``best``, rounded away from the market."""
        long = self.position == "long"
        if isinstance(self.distance, Decimal):
            raw = best - self.distance if long else best + self.distance
            return to_tick(
                raw, self.tick if self.tick is not None else implied_tick(best), down=long
            )
        return resolve(self.distance, best, self.position, "stop_loss", self.tick)

    def reprice_step(self) -> Decimal:
        """How far the stop must move before a native trailing stop's order is re-priced
        (cancel, then the new one): a tenth of the distance kept from the best price.

        Why: re-pricing at every tick cost two requests per tick of a trend (a QA run on
        Prime: 138 orders for 55 fills in 90 s, toward the venue's rate limits). The stop
        resting at the exchange lags the ideal one by less than a tenth of the distance;
        an emulated trailing stop (no requests) still follows every tick."""
        if self.best is None or self.stop is None:
            return Decimal(0)
        return abs(self.best - self.stop) / 10

    def on_price(self, price: Decimal) -> Trailing:
        """The state after a print at ``price`` (the same state when nothing moves)."""
        long = self.position == "long"
        active = self.active
        if not active:
            assert self.activation is not None
            if (price >= self.activation) if long else (price <= self.activation):
                active = True
            else:
                return self
        best = self.best
        if best is None or (price > best if long else price < best):
            best = price
        elif active == self.active:
            return self
        new = self.candidate(best)
        stop = self.stop
        if stop is None or (new > stop if long else new < stop):
            stop = new
        return replace(self, best=best, stop=stop, active=active)

    def hit(self, price: Decimal) -> bool:
        """Whether a print at ``price`` triggers the stop."""
        stop = self.stop
        if stop is None or not self.active:
            return False
        return price <= stop if self.position == "long" else price >= stop

    def to_json(self) -> dict[str, Any]:
        distance = (
            {"abs": self.distance}
            if isinstance(self.distance, Decimal)
            else self.distance.to_json()
        )
        return {
            "position": self.position,
            "distance": distance,
            "tick": self.tick,
            "activation": self.activation,
            "best": self.best,
            "stop": self.stop,
            "active": self.active,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Trailing:
        d = doc["distance"]
        distance: PriceLike = Decimal(d["abs"]) if "abs" in d else Offset.from_json(d)
        return cls(
            doc["position"],
            distance,
            doc.get("tick"),
            doc.get("activation"),
            doc.get("best"),
            doc.get("stop"),
            bool(doc.get("active", True)),
        )


# -- exits and the emulation evaluator ---------------------------------------------------------


@dataclass(slots=True)
class ExitRecord:
    """One exit, as journaled in the exit state (JSON-able through :meth:`to_json`).

    Attributes:
        kind: ``stop_loss``, ``take_profit``, ``bracket``, ``trailing`` or ``entry``
            (the exits of an entry, armed when it fills).
        native: the exchange holds it (``order_coid`` is its order); else the bot
            evaluates it on every print (``emulated: needs the bot running``).
        status: ``pending`` (an entry's exits, waiting for the fill), ``armed``,
            ``triggered`` (its order works), ``done`` or ``cancelled``.
        order_coid: the client_order_id of the order working the exit (native: from the
            start; emulated: once triggered).
        stop / stop_limit / take_profit: trigger, its limit, and the take-profit price
            (a trailing exit's current stop is ``trailing.stop``; ``stop`` is its first).
        trailing: the ratchet's state (kind ``trailing``).
        filled: base filled so far by the exit's order(s).
        entry_coid: for kind ``entry``, the entry order whose fill arms the exits.
        extra: what only some exits need (an attached exit's order id, a pending
            replace, the stop last placed, an entry's size).
    """

    exit_id: str
    kind: str
    product_id: str
    position: PositionSide
    size: Decimal
    native: bool
    status: str = "armed"
    stop: Decimal | None = None
    stop_limit: Decimal | None = None
    take_profit: Decimal | None = None
    trailing: Trailing | None = None
    order_coid: str | None = None
    leg: Leg | None = None
    filled: Decimal = _ZERO
    entry_coid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def side(self) -> Literal["BUY", "SELL"]:
        return exit_side(self.position)

    @property
    def live(self) -> bool:
        return self.status in ("pending", "armed", "triggered")

    @property
    def remaining(self) -> Decimal:
        return max(self.size - self.filled, _ZERO)

    def to_json(self) -> dict[str, Any]:
        return {
            "exit_id": self.exit_id,
            "kind": self.kind,
            "product_id": self.product_id,
            "position": self.position,
            "size": self.size,
            "native": self.native,
            "status": self.status,
            "stop": self.stop,
            "stop_limit": self.stop_limit,
            "take_profit": self.take_profit,
            "trailing": self.trailing.to_json() if self.trailing else None,
            "order_coid": self.order_coid,
            "leg": self.leg,
            "filled": self.filled,
            "entry_coid": self.entry_coid,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ExitRecord:
        trailing = doc.get("trailing")
        return cls(
            exit_id=doc["exit_id"],
            kind=doc["kind"],
            product_id=doc["product_id"],
            position=doc["position"],
            size=doc["size"],
            native=bool(doc["native"]),
            status=doc["status"],
            stop=doc.get("stop"),
            stop_limit=doc.get("stop_limit"),
            take_profit=doc.get("take_profit"),
            trailing=Trailing.from_json(trailing) if trailing else None,
            order_coid=doc.get("order_coid"),
            leg=doc.get("leg"),
            filled=doc.get("filled") or _ZERO,
            entry_coid=doc.get("entry_coid"),
            extra=dict(doc.get("extra") or {}),
        )


def position_left(position: PositionSide, held: Decimal) -> Decimal:
    """What an exit of a ``position`` may still close of the strategy's signed position
    ``held`` (zero when it is flat or the other way).

    Why: an exit is sized when it is armed; by the time it triggers the position may have
    been closed another way (a market sell, another exit that filled). Sent at its armed
    size, it would sell coins the strategy does not hold (the account's other coins, or a
    short). Other exits' orders still working are not taken off: one that rests unfilled
    (a gap through its limit) would leave the position with no exit that sells it.
    """
    return max(held if position == "long" else -held, _ZERO)


def evaluate(record: ExitRecord, price: Decimal) -> Leg | None:
    """Which leg of an armed, emulated exit a print at ``price`` triggers (None: none).

    Coinbase's rule: a stop triggers on a last trade at or through it; a take-profit on a
    trade at or through its price. When one print reaches both (a gap), the stop wins:
    the conservative reading, and the one a resting bracket would give (its stop pulls the
    take-profit).
    """
    if record.status != "armed" or record.native:
        return None
    long = record.position == "long"
    stop = record.trailing.stop if record.trailing is not None else record.stop
    if record.trailing is not None and not record.trailing.active:
        stop = None
    if stop is not None and (price <= stop if long else price >= stop):
        return "stop_loss"
    tp = record.take_profit
    if tp is not None and (price >= tp if long else price <= tp):
        return "take_profit"
    return None


def level_of(rec: ExitRecord, leg: Leg) -> Decimal | None:
    """The price of ``rec``'s ``leg`` (a trailing stop's current stop)."""
    if leg == "take_profit":
        return rec.take_profit
    return rec.trailing.stop if rec.trailing is not None else rec.stop


def leg_of_fill(rec: ExitRecord, price: Decimal) -> Leg:
    """Which leg a fill of a native exit came from (a bracket's: by its price)."""
    tp = rec.take_profit
    if rec.kind == "take_profit":
        return "take_profit"
    if tp is not None and (price >= tp if rec.position == "long" else price <= tp):
        return "take_profit"
    if tp is not None and rec.stop is None:
        return "take_profit"
    return "stop_loss"


def how_kept(rec: ExitRecord) -> str:
    """Where the exit lives, as the operator must know it (a restart, the bot down)."""
    if rec.native and rec.trailing is not None:
        return "native stop, re-priced by the bot: needs the bot running to trail"
    return "native" if rec.native else "emulated: needs the bot running"


def describe_exit(r: ExitRecord) -> dict[str, Any]:
    """One live exit as the status page and the run summary show it."""
    stop = r.trailing.stop if r.trailing is not None else r.stop
    return {
        "exit_id": r.exit_id,
        "kind": r.kind,
        "product_id": r.product_id,
        "side": r.side,
        "size": str(r.remaining if r.kind != "entry" else r.extra.get("entry_size")),
        "stop": None if stop is None else str(stop),
        "take_profit": None if r.take_profit is None else str(r.take_profit),
        "status": "cancelling" if "cancel" in r.extra else r.status,
        "how": how_kept(r),
    }
