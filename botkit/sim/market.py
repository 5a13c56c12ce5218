"""Seeded synthetic participants for one product: a fair price, makers and takers.

The point is that a user order in the simulator meets a *real* queue: the
synthetic makers rest lots in the same :class:`~botkit.market.matching.OrderBook`
the user trades against, and synthetic takers trade through it. So a resting
user order fills only after the size ahead of it is consumed, and a market
order slips through real levels.

Makers quote on a fixed price grid (multiples of ``level_spacing``) around a
random-walk fair price. Using integer grid indexes means a step only touches
the levels that entered or left the window, which keeps a 0.1 s step cheap.
Makers never post a crossing quote: if the fair price moved through a resting
user order, the maker sends a *taker* order at its desired quote instead, so the
user order fills by trades (docs/simulator.md, "Synthetic makers never cross").
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from botkit.market.matching import Fill, LevelChange, Lot, Side
from botkit.sim.candles import Candle
from botkit.sim.specs import ProductSpec, SimMarketConfig

__all__ = [
    "BookFactory",
    "MarketFactory",
    "MarketSource",
    "MatchBook",
    "SyntheticMarket",
    "TakerFn",
    "seed_history",
    "seed_tape",
]

#: Executes a synthetic taker order ``(side, size, limit or None for market)``
#: against the shared book, settling any user fills; provided by the exchange.
TakerFn = Callable[[Side, Decimal, Decimal | None], None]


class MatchBook(Protocol):
    """What the engine needs from a product's book (the book seam).

    :class:`~botkit.market.matching.OrderBook` is the simulator's implementation
    (synthetic makers and user orders in one FIFO book). The paper broker plugs
    in a book whose liquidity is the *real* level2 book and whose resting user
    orders queue behind it (``botkit.paper.book.PaperBook``), so order entry,
    holds, fees and settlement stay one code path for both.
    """

    def best(self, side: Side) -> tuple[Decimal, Decimal] | None:
        """Best ``(price, size)`` on ``side``."""
        ...

    def depth(self, side: Side, limit: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """Public levels best-first."""
        ...

    def crosses(self, side: Side, price: Decimal) -> bool:
        """Whether a ``side`` order at ``price`` would take liquidity."""
        ...

    def fillable(self, taker_side: Side, limit: Decimal | None, want: Decimal) -> Decimal:
        """Size a taker could fill now, up to ``want``."""
        ...

    def cost(self, taker_side: Side, size: Decimal) -> tuple[Decimal, Decimal]:
        """``(fillable size, notional)`` of a taker of ``size``."""
        ...

    def size_for_budget(
        self, taker_side: Side, budget: Decimal, fee_rate: Decimal, increment: Decimal
    ) -> Decimal:
        """Largest size whose notional plus fee fits ``budget``."""
        ...

    def match(self, taker_side: Side, size: Decimal, limit: Decimal | None = None) -> list[Fill]:
        """Trade a taker against resting liquidity."""
        ...

    def add(self, lot: Lot) -> None:
        """Rest a lot."""
        ...

    def cancel(self, order_id: str) -> object:
        """Remove a resting lot (no-op when absent)."""
        ...

    def reduce(self, order_id: str, new_size: Decimal) -> None:
        """Shrink a resting lot keeping its queue position."""
        ...

    def take_changes(self) -> list[LevelChange]:
        """Public level changes since the last call (for the L2 feed)."""
        ...


#: Builds the book of one product (the engine calls it once per product).
BookFactory = Callable[[ProductSpec], MatchBook]


class MarketSource(Protocol):
    """The seam between the exchange and whatever moves its market.

    The engine calls :meth:`step` once per market step; the source posts or pulls
    its own liquidity in the shared :class:`OrderBook` and sends taker orders
    through ``take``, so user orders always meet real queue positions.
    :class:`SyntheticMarket` is the seeded random source; a replayer of a
    recorded Coinbase session can implement the same two methods later.
    """

    def step(self, take: TakerFn) -> None:
        """Advance one market step."""
        ...

    def on_filled(self, order_id: str) -> None:
        """One of this source's resting lots was filled completely by a user taker."""
        ...


MarketFactory = Callable[[ProductSpec, SimMarketConfig, random.Random, MatchBook], MarketSource]


def _quantize_size(value: float, spec: ProductSpec) -> Decimal:
    size = Decimal(repr(value)).quantize(spec.base_increment, rounding=ROUND_DOWN)
    return max(size, spec.base_min_size)


class SyntheticMarket:
    """The synthetic flow of one product. Deterministic given its ``rng``."""

    def __init__(
        self, spec: ProductSpec, config: SimMarketConfig, rng: random.Random, book: MatchBook
    ) -> None:
        self.spec = spec
        self.book = book
        self._config = config
        self._rng = rng
        self._spacing = float(spec.level_spacing)
        self.fair = float(spec.start_price)
        # grid index -> live synthetic lot ids at that level, and the reverse map
        self._lots: dict[Side, dict[int, list[str]]] = {"BUY": {}, "SELL": {}}
        self._where: dict[str, tuple[Side, int]] = {}
        self._next_id = 0
        self._trade_p = config.trade_rate * config.step_seconds
        self._requote(lambda side, size, limit: None)

    # ----------------------------------------------------------------- helpers
    def _price(self, index: int) -> Decimal:
        return Decimal(index) * self.spec.level_spacing

    def _window(self) -> tuple[range, range]:
        top = math.floor(self.fair / self._spacing)
        n = self._config.book_levels
        bids = range(max(top - n + 1, 1), top + 1)
        return bids, range(top + 1, top + 1 + n)

    def on_filled(self, order_id: str) -> None:
        """Forget a synthetic lot the book fully filled (the exchange reports every one)."""
        where = self._where.pop(order_id, None)
        if where is None:
            return
        side, index = where
        ids = self._lots[side][index]
        ids.remove(order_id)
        if not ids:
            del self._lots[side][index]

    def _post(self, side: Side, index: int) -> None:
        price = self._price(index)
        if price <= 0 or self.book.crosses(side, price):
            return
        lo, hi = self._config.maker_notional
        size = _quantize_size(self._rng.uniform(lo, hi) / self.fair, self.spec)
        self._next_id += 1
        oid = f"~{self.spec.product_id}~{self._next_id}"
        self.book.add(Lot(oid, side, price, size))
        self._lots[side].setdefault(index, []).append(oid)
        self._where[oid] = (side, index)

    def _pull(self, side: Side, index: int) -> None:
        for oid in self._lots[side].pop(index, []):
            del self._where[oid]
            self.book.cancel(oid)

    # -------------------------------------------------------------------- step
    def step(self, take: TakerFn) -> None:
        """Advance one step: move the fair price, re-quote, churn, then print trades."""
        if self._config.volatility:
            self.fair *= math.exp(self._config.volatility * self._rng.gauss(0.0, 1.0))
        self._requote(take)
        self._churn()
        self._trade(take)

    def _requote(self, take: TakerFn) -> None:
        bids, asks = self._window()
        sides: tuple[tuple[Side, range], ...] = (("BUY", bids), ("SELL", asks))
        for side, window in sides:
            lo, hi = window.start, window.stop
            for index in [i for i in self._lots[side] if not lo <= i < hi]:
                self._pull(side, index)
        # User orders the fair price moved through are taken, never crossed.
        if bids:
            top_bid = self._price(bids[-1])
            if self.book.crosses("BUY", top_bid):
                size = self.book.fillable("BUY", top_bid, self.spec.base_max_size)
                take("BUY", size, top_bid)
        top_ask = self._price(asks[0])
        if self.book.crosses("SELL", top_ask):
            size = self.book.fillable("SELL", top_ask, self.spec.base_max_size)
            take("SELL", size, top_ask)
        for side, window in sides:
            present = self._lots[side]
            for index in window:
                if index not in present:
                    self._post(side, index)

    def _churn(self) -> None:
        churn = self._config.maker_churn
        if not churn:
            return
        bids, asks = self._window()
        sides: tuple[tuple[Side, range], ...] = (("BUY", bids), ("SELL", asks))
        for side, window in sides:
            if not window:
                continue
            if self._rng.random() < churn:
                self._post(side, self._rng.choice(window))
            if self._rng.random() < churn / 2:
                index = self._rng.choice(window)
                ids = self._lots[side].get(index, [])
                if len(ids) > 1:
                    oid = ids.pop(0)
                    del self._where[oid]
                    self.book.cancel(oid)

    def _trade(self, take: TakerFn) -> None:
        p = self._trade_p
        count = int(p)
        if self._rng.random() < p - count:
            count += 1
        for _ in range(count):
            side: Side = "BUY" if self._rng.random() < 0.5 else "SELL"
            notional = self._rng.expovariate(1.0 / self._config.taker_notional)
            take(side, _quantize_size(notional / self.fair, self.spec), None)


def seed_history(
    spec: ProductSpec, config: SimMarketConfig, rng: random.Random, start_time: float
) -> list[Candle]:
    """``history_minutes`` one-minute candles ending just before ``start_time``.

    The walk runs *backwards* from ``start_price`` so the history joins the
    live market without a jump. Oldest candle first.
    """
    minutes = config.history_minutes
    if minutes <= 0:
        return []
    sigma = config.volatility * math.sqrt(60.0 / config.step_seconds)
    first = int(start_time // 60) * 60 - minutes * 60
    q = spec.quote_increment
    trades_per_minute = max(config.trade_rate * 60.0, 1.0)
    close = float(spec.start_price)
    out: list[Candle] = []
    for i in range(minutes - 1, -1, -1):
        open_ = close / math.exp(sigma * rng.gauss(0.0, 1.0))
        high = max(open_, close) * (1.0 + abs(rng.gauss(0.0, sigma / 2)))
        low = min(open_, close) * (1.0 - abs(rng.gauss(0.0, sigma / 2)))
        volume = trades_per_minute * config.taker_notional / close * rng.uniform(0.3, 1.7)

        def px(value: float) -> Decimal:
            return Decimal(repr(value)).quantize(q)

        out.append(
            Candle(
                first + i * 60,
                px(open_),
                px(high),
                px(low),
                px(close),
                Decimal(repr(volume)).quantize(spec.base_increment, rounding=ROUND_DOWN),
            )
        )
        close = open_
    out.reverse()
    return out


def seed_tape(
    spec: ProductSpec, history: list[Candle], rng: random.Random, minutes: int = 10
) -> list[tuple[float, Decimal, Decimal, Side]]:
    """Public prints for the last ``minutes`` seeded candles, so the tape is not empty at start.

    Why: with 24 h of candles but no trades, ``market_trades`` and the ticker's last trade
    would be empty for the first moments of a session, which no real market shows. Each
    candle gets four prints that *are* that candle: the first at its open, one at its high
    and one at its low (in random order), the last at its close, spread over the minute;
    their sizes add up to the candle's volume. So the tape and the candles agree, and the
    newest print is the last close (the live market's start price). Returns ``(time, price,
    size, maker side)`` oldest first; the caller numbers them as trades.
    """
    out: list[tuple[float, Decimal, Decimal, Side]] = []
    for candle in history[-minutes:] if minutes > 0 else []:
        middle = [candle.high, candle.low]
        rng.shuffle(middle)
        prices = [candle.open, *middle, candle.close]
        step = spec.base_increment
        quarter = (candle.volume / 4).quantize(step, rounding=ROUND_DOWN)
        sizes = [quarter, quarter, quarter, candle.volume - 3 * quarter]
        for k, (price, size) in enumerate(zip(prices, sizes, strict=True)):
            if size <= 0:
                continue
            side: Side = "BUY" if rng.random() < 0.5 else "SELL"
            out.append((candle.start + 5.0 + k * 15.0, price, size, side))
    return out
