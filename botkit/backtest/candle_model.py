"""The candle fill model: what a candle is taken to have traded, and at what price (pure).

A candle says only where the market opened, closed, and how far it went either way.
Anything finer is assumed, and every assumption here leans against the strategy:

* **Limits fill only when the candle trades through them**, strictly beyond the price:
  a buy at ``L`` fills if the candle's low is below ``L``, a sell if its high is above.
  A candle that only touches ``L`` does not fill it (the queue at ``L`` may never have
  reached the order). The fill is at ``L``, never at the better price the candle reached.
* **Market orders fill at the next candle's open plus slippage** (``slippage_bps``,
  rounded to the tick against the taker). An order decided on a candle's close cannot
  have traded at that close: the close is only known once it has passed.
* **Stops trigger at touch** (Coinbase triggers on the last trade price reaching the
  stop), then work as limits against the price the candle had reached.
* **The order of the extremes inside a candle** is a setting: ``"ohlc"`` (default) walks
  open → high → low → close for an up candle (close ≥ open) and open → low → high → close
  for a down one; ``"pessimistic"`` visits the extreme *against* the current position
  first (the low first while long, the high first while short), so of a bracket's two
  legs in one candle the stop-loss is the one that fills.

The backtest engine (:mod:`botkit.backtest.candles`) drives the paper exchange with
these prices; the functions below are the rules, checked case by case in
``tests/backtest/test_candle_model.py``. Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

__all__ = [
    "FillModel",
    "Intrabar",
    "intrabar_path",
    "limit_fills",
    "market_price",
    "stop_triggers",
]

Intrabar = Literal["ohlc", "pessimistic"]

_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class FillModel:
    """The candle fill model's settings (``[backtest]`` in the bot TOML).

    Attributes:
        slippage_bps: added against the taker to the next open for market orders (and to
            every price a taker meets inside a candle), in basis points (1 bps = 0.01 %).
        intrabar: the order of a candle's high and low (see the module docstring).
    """

    slippage_bps: Decimal = Decimal(5)
    intrabar: Intrabar = "ohlc"

    def __post_init__(self) -> None:
        if not (Decimal(0) <= self.slippage_bps < _BPS):
            raise ValueError(
                f"slippage_bps must be in [0, 10000), not {self.slippage_bps}: "
                "5 means 0.05 % worse than the next open"
            )
        if self.intrabar not in ("ohlc", "pessimistic"):
            raise ValueError(f"intrabar must be 'ohlc' or 'pessimistic', not {self.intrabar!r}")


def intrabar_path(
    open_: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    *,
    intrabar: Intrabar = "ohlc",
    position: Decimal = Decimal(0),
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """The four prices a candle is taken to have printed, in order.

    Args:
        open_, high, low, close: the candle.
        intrabar: ``"ohlc"`` (by the candle's direction) or ``"pessimistic"`` (by the
            position: the adverse extreme first).
        position: the account's base position before the candle (only read when
            pessimistic; flat falls back to the candle's direction).
    """
    low_first = position > 0 if intrabar == "pessimistic" and position else close < open_
    if low_first:
        return (open_, low, high, close)
    return (open_, high, low, close)


def limit_fills(side: str, limit: Decimal, high: Decimal, low: Decimal) -> bool:
    """Whether a resting limit fills in a candle: only if the candle trades *through* it."""
    return low < limit if side == "BUY" else high > limit


def stop_triggers(direction: str, stop: Decimal, high: Decimal, low: Decimal) -> bool:
    """Whether a stop triggers in a candle: at touch, like Coinbase's last-trade trigger.

    ``direction`` is Advanced Trade's ``STOP_DIRECTION_STOP_UP`` or ``..._STOP_DOWN``.
    """
    return high >= stop if direction == "STOP_DIRECTION_STOP_UP" else low <= stop


def market_price(side: str, reference: Decimal, slippage_bps: Decimal, tick: Decimal) -> Decimal:
    """A taker's price: ``reference`` moved ``slippage_bps`` against it, rounded to the tick
    against it too (a buy pays up, a sell receives down)."""
    if side == "BUY":
        raw = reference * (1 + slippage_bps / _BPS)
        return (raw / tick).to_integral_value(ROUND_CEILING) * tick
    raw = reference * (1 - slippage_bps / _BPS)
    return max((raw / tick).to_integral_value(ROUND_FLOOR) * tick, tick)
