"""Candle backtests: a candle dataset through the real strategy, risk gate, executor and
paper broker, on a virtual clock.

This is :class:`~botkit.backtest.runner.Backtest` for history that has no order book:
the strategy's orders go through the same :class:`~botkit.strategy.context.BotContext`,
:class:`~botkit.risk.gate.RiskGate`, :class:`~botkit.orders.executor.OrderExecutor`
(signed requests, journal) into the same :class:`~botkit.paper.broker.PaperBroker`, and
the paper exchange settles them with its own rules (increments, holds, fees, stops,
brackets, attached exits). What replaces the recorded feed is a one-level book and four
trade prints per candle, placed by the candle fill model
(:mod:`botkit.backtest.candle_model`, docs/research.md "Candle backtests"):

1. **the open** (``start + latency``): the book moves to the open ± slippage, and orders
   the strategy sent on the previous close reach the matching engine: market orders and
   marketable limits fill there, as takers (the paper exchange's submit latency is set to
   ``latency`` so that no order decided on a close trades at that close);
2. **the range**: prints at the path's four prices (open, then the high and low in the
   model's order, then the close), each with the candle's volume and no aggressor side,
   so a resting limit fills only if a print goes strictly *through* it
   (:meth:`~botkit.paper.book.PaperBook.allocate`), at its own price; stops trigger at
   touch and then meet the book at that print;
3. **the close** (``start + granularity``): the book moves to the close (the mark of the
   equity curve), the strategy's ``on_candle`` runs with the closed candle, its timers
   fire, and the equity curve is sampled.

Fast path (``fast_path=True``, the default), none of which changes a fill or the equity
(``tests/backtest/test_candle_fast_path.py`` compares it with ``fast_path=False`` on random
candles and random orders):

* steps 1 and 2 run only while the paper exchange holds a live order
  (:meth:`~botkit.paper.exchange.PaperExchange.has_live_orders`); of a quiet candle
  the exchange is only told the close as its last trade price
  (:meth:`~botkit.paper.exchange.PaperExchange.quiet_print`), which a stop placed on
  that close is checked against — and only when the strategy next sends an order;
* nothing is looked at during an idle stretch (no hook, no timers, no order): the
  exchange and the timers change only when botkit code runs;
* the book is *placed* at the close only when something reads it (the exchange meeting
  an order or valuing the account, the risk gate's quote): each close only notes the
  price. A strategy that takes the book object itself (``ctx.book``) may keep it, so
  from then on every close places it at once;
* step 3 is skipped for a strategy with no ``on_candle`` hook and no timers (the common
  case of a strategy that is waiting is a loop over integers); a plain (sync)
  ``on_candle`` is called through ``HookGuard.call_plain`` (the guard's rules: errors
  counted, slow calls reported), without a coroutine per candle.

Equity is sampled at most ``equity_points`` times over the run, plus after every fill.

Deterministic like the recording replay: one task, inline, seeded ids; the same dataset,
config and code give identical fills (``tests/backtest/test_candles.py``).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from botkit.backtest.candle_model import FillModel, intrabar_path, market_price
from botkit.backtest.runner import Progress, deliver, wire
from botkit.clock import ManualClock
from botkit.errors import ConfigError
from botkit.market.book import L2Book
from botkit.market.events import CandlesReceived, FeedEvent
from botkit.market.types import Candle, L2Update
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent
from botkit.orders.model import Order
from botkit.paper.exchange import PaperExchange
from botkit.paper.setup import build_broker
from botkit.risk.engine import MarketQuote
from botkit.runtime.bot_config import BotConfig
from botkit.runtime.dispatch import CountingSink
from botkit.runtime.settings import BotSettings
from botkit.runtime.ui import RunStats
from botkit.strategy.base import Strategy
from botkit.strategy.context import BotContext
from botkit.strategy.loader import build_params, create_strategy, load_strategy
from botkit.strategy.ports import MarketState

__all__ = ["CandleBacktest", "CandleResult", "CandleSeries", "default_rules"]

log = logging.getLogger("botkit.backtest")
_DEPTH = "1000000000"  # base units at the synthetic level: the model has no depth limit
_MIN_TICK = Decimal("0.01")


class _LazyBooks(Mapping[str, L2Book]):
    """The run's one book as the paper exchange reads it: moved to the candle's price
    only when something reads it.

    Placing the one-level book costs a few microseconds (two taker prices, a snapshot);
    between two orders nothing reads it, so each close only notes the price
    (:attr:`due`) and the first read — the exchange valuing the account or meeting an
    order, the risk gate's quote, the strategy's ``ctx.book`` — places it. A read sees
    exactly the book an eager move would have left.
    """

    __slots__ = ("_book", "_pid", "_place", "due", "eager", "quiet")

    def __init__(self, pid: str, book: L2Book, place: Callable[[L2Book, Decimal], None]) -> None:
        self._pid = pid
        self._book = book
        self._place = place
        self.due: Decimal | None = None
        self.eager = False
        """Move at once (the strategy holds the book object, or the fast path is off)."""
        self.quiet = -1
        """The latest quiet candle whose close the exchange has not been told yet (-1:
        none; see :class:`_CandleSink`)."""

    def move(self, price: Decimal) -> None:
        """The book is now at ``price`` (placed now if eager, else on the next read)."""
        if self.eager:
            self.due = None
            self._place(self._book, price)
        else:
            self.due = price

    def settle(self) -> None:
        """Place the book at the price it is due at, if it has not been yet."""
        price = self.due
        if price is not None:
            self.due = None
            self._place(self._book, price)

    def __getitem__(self, key: str) -> L2Book:
        if key != self._pid:
            raise KeyError(key)
        if self.due is not None:
            self.settle()
        return self._book

    def __iter__(self) -> Iterator[str]:
        return iter((self._pid,))

    def __len__(self) -> int:
        return 1


class _CandleSink(CountingSink):
    """The strategy's orders, after the exchange has caught up with the quiet candles
    (:meth:`~botkit.paper.exchange.PaperExchange.quiet_print` of the latest one): the
    last trade price is only read by an order, so it is only brought up to date then."""

    def __init__(
        self, executor: OrderExecutor, stats: RunStats, ids: list[str], catch_up: Callable[[], None]
    ) -> None:
        super().__init__(executor, stats, ids)
        self._catch_up = catch_up

    async def place(self, intent: OrderIntent) -> str:
        self._catch_up()
        return await super().place(intent)

    async def cancel(self, order_id: str) -> bool:
        self._catch_up()
        return await super().cancel(order_id)

    async def order(self, order_id: str) -> Order:
        self._catch_up()
        return await super().order(order_id)

    async def attached_order_id(self, order_id: str) -> str:
        self._catch_up()
        return await super().attached_order_id(order_id)


class _CandleMarket(MarketState):
    """What the strategy reads: quotes from the lazily moved book (settled first); once
    it has taken the book object itself (it may keep it and read it later), every
    close moves the book at once."""

    def __init__(self, books: _LazyBooks) -> None:
        super().__init__(books)
        self._lazy = books

    def book(self, product_id: str) -> L2Book | None:
        self._lazy.eager = True
        self._lazy.settle()
        return super().book(product_id)

    def quote(self, product_id: str) -> MarketQuote:
        self._lazy.settle()
        return super().quote(product_id)


@dataclass(frozen=True, slots=True)
class CandleSeries:
    """One product's candles, oldest first, in columns (cheap to slice and to pickle).

    Args:
        product_id: e.g. ``"BTC-USD"``.
        granularity: seconds per candle (60 for Advanced Trade's ``ONE_MINUTE``).
        start: each candle's start, Unix seconds, strictly increasing.
        open, high, low, close, volume: prices and base volume, ``Decimal``.
        rules: the product's rules (a Coinbase ``/market/products`` object); None uses
            :func:`default_rules`.

    Raises:
        ConfigError: columns of different lengths, starts not increasing, or a candle
            whose high/low do not contain its open and close.
    """

    product_id: str
    granularity: int
    start: Sequence[int]
    open: Sequence[Decimal]
    high: Sequence[Decimal]
    low: Sequence[Decimal]
    close: Sequence[Decimal]
    volume: Sequence[Decimal]
    rules: Mapping[str, Any] | None = None
    checked: bool = field(default=False, compare=False, repr=False)
    """Already validated (a slice of a validated series): skips the O(n) checks."""

    def __post_init__(self) -> None:
        if self.checked:
            return
        n = len(self.start)
        cols = (self.open, self.high, self.low, self.close, self.volume)
        if any(len(c) != n for c in cols):
            raise ConfigError(f"{self.product_id}: candle columns have different lengths")
        if self.granularity <= 0:
            raise ConfigError(f"{self.product_id}: granularity must be positive seconds")
        for i in range(1, n):
            if self.start[i] <= self.start[i - 1]:
                raise ConfigError(
                    f"{self.product_id}: candle starts must increase (index {i}: "
                    f"{self.start[i]} after {self.start[i - 1]}); sort and de-duplicate the data"
                )
        for i in range(n):
            lo, hi = self.low[i], self.high[i]
            if not (lo <= self.open[i] <= hi and lo <= self.close[i] <= hi) or lo <= 0:
                raise ConfigError(
                    f"{self.product_id}: candle at {self.start[i]} is inconsistent "
                    f"(low {lo}, high {hi}, open {self.open[i]}, close {self.close[i]})"
                )

    def __len__(self) -> int:
        return len(self.start)

    @classmethod
    def from_candles(
        cls,
        candles: Iterable[Candle],
        *,
        granularity: int | None = None,
        rules: Mapping[str, Any] | None = None,
    ) -> CandleSeries:
        """Columns from botkit :class:`~botkit.market.types.Candle` objects (one product).

        ``granularity`` defaults to the smallest gap between two starts.

        Raises:
            ConfigError: no candles, several products, or an unknown granularity.
        """
        rows = list(candles)
        if not rows:
            raise ConfigError("no candles: download some first (botkit download)")
        products = {c.product_id for c in rows}
        if len(products) != 1:
            raise ConfigError(f"one product per series, got {sorted(products)}")
        starts = [int(float(c.start)) for c in rows]
        if granularity is None:
            gaps = [b - a for a, b in zip(starts, starts[1:], strict=False) if b > a]
            if not gaps:
                raise ConfigError("cannot tell the granularity of a single candle: pass it")
            granularity = min(gaps)
        return cls(
            rows[0].product_id,
            granularity,
            starts,
            [c.open for c in rows],
            [c.high for c in rows],
            [c.low for c in rows],
            [c.close for c in rows],
            [c.volume for c in rows],
            rules,
        )

    def slice(self, lo: int, hi: int) -> CandleSeries:
        """Candles ``lo`` to ``hi - 1`` (walk-forward folds)."""
        return CandleSeries(
            self.product_id,
            self.granularity,
            self.start[lo:hi],
            self.open[lo:hi],
            self.high[lo:hi],
            self.low[lo:hi],
            self.close[lo:hi],
            self.volume[lo:hi],
            self.rules,
            checked=True,
        )

    def candle(self, i: int) -> Candle:
        """Candle ``i`` as the strategy sees it."""
        return Candle(
            start=str(self.start[i]),
            high=self.high[i],
            low=self.low[i],
            open=self.open[i],
            close=self.close[i],
            volume=self.volume[i],
            product_id=self.product_id,
        )


def default_rules(series: CandleSeries) -> dict[str, Any]:
    """Product rules when the dataset has none: a tick as fine as the data's prices (at
    least 0.01), sizes in satoshi-like steps (1e-8), no practical maximum."""
    exponent = min(
        (int(p.as_tuple().exponent) for p in series.close[:1000]),
        default=-2,
    )
    tick = min(Decimal(1).scaleb(min(exponent, 0)), _MIN_TICK)
    return {
        "product_id": series.product_id,
        "base_increment": "0.00000001",
        "quote_increment": str(tick),
        "price_increment": str(tick),
        "base_min_size": "0.00000001",
        "base_max_size": "1000000",
        "quote_min_size": "0",
        "price": str(series.close[0]) if len(series) else "1",
    }


@dataclass
class CandleResult:
    """What a candle backtest produced (``journal_path`` feeds ``botkit report``)."""

    journal_path: Path
    stats: RunStats
    candles: int = 0
    wall_seconds: float = 0.0
    replay_seconds: float = 0.0  # the candle loop alone
    client_order_ids: list[str] = field(default_factory=list)
    strategy: Strategy | None = None
    """The strategy instance after the run (its state; ``strategy.ctx.guard`` counts its
    hook errors)."""

    @property
    def candles_per_second(self) -> float:
        """Candles replayed per second of the loop."""
        return self.candles / self.replay_seconds if self.replay_seconds > 0 else 0.0


_WARNED: set[type[Strategy]] = set()
_FED = ("on_candle", "on_timer")


def _warn_if_unfed(cls: type[Strategy]) -> None:
    """WARNING (once per class and process: an optimize builds one per trial) when the
    strategy has market-data hooks (ticker, book, trades) but neither ``on_candle`` nor
    ``on_timer``: a candle backtest feeds candles and timers only, so such a strategy
    placed nothing and said nothing (a QA pass)."""
    if cls in _WARNED or any(getattr(cls, h) is not getattr(Strategy, h) for h in _FED):
        return  # (a timer's strategy trades on the candles' time)
    fed = sorted(h for h in ("on_ticker", "on_book", "on_trade") if getattr(cls, h) is not
                 getattr(Strategy, h))  # fmt: skip
    if not fed:
        return  # no market-data hook: it may order from on_start and its fills (a grid)
    _WARNED.add(cls)
    log.warning(
        "strategy %s has no on_candle (nor on_timer): a candle backtest calls only those, "
        "never its %s; "
        "record a session with `botkit record` and replay it with `botkit backtest --data "
        "FILE.jsonl.gz` to test it on tickers and books",
        cls.strategy_name(),
        ", ".join(fed),
    )


class CandleBacktest:
    """One run of ``series`` with ``config``'s strategy, risk limits and ``[paper]`` account.

    Args:
        config: the bot config (its strategy's ``product_id`` must be the series').
        settings: botkit settings (only JWT options matter: no network is used).
        series: the candles.
        out_dir: where the journals and strategy state go (emptied first).
        model: the candle fill model.
        latency: seconds after a candle's start at which orders sent on the previous
            close reach the engine (the paper exchange's submit latency for the run).
        equity_points: about how many equity samples to keep (plus one per fill).
        progress: called every 65,536 candles.
        checkpoint: called ``checkpoints`` times, evenly spaced, with the step (1, 2, ...)
            and the account's equity at that candle's close; it may raise to stop the run
            (an optimiser pruning a trial does).
        checkpoints: how many checkpoints (0: none).
        strategies_dir: where shipped strategies are looked up by name.
        fast_path: skip what cannot change a fill (see the module docstring); False runs
            every step of every candle and moves the book at once (the reference the
            differential test compares the fast path with: same fills, same equity).
        strategy_cls: the config's strategy class, already loaded (an optimiser's worker
            runs one strategy for many trials; finding it by name scans the installed
            packages' entry points, ~10 ms).
    """

    def __init__(
        self,
        config: BotConfig,
        settings: BotSettings,
        series: CandleSeries,
        out_dir: Path,
        *,
        model: FillModel | None = None,
        latency: float = 0.05,
        equity_points: int = 2000,
        progress: Callable[[Progress], None] | None = None,
        checkpoint: Callable[[int, Decimal], None] | None = None,
        checkpoints: int = 0,
        strategies_dir: Path | None = None,
        fast_path: bool = True,
        strategy_cls: type[Strategy] | None = None,
    ) -> None:
        if len(series) == 0:
            raise ConfigError("the candle dataset is empty: nothing to backtest")
        if not 0 < latency < series.granularity / 8:
            raise ConfigError(
                f"latency must be in (0, {series.granularity / 8}) seconds for "
                f"{series.granularity}-second candles, not {latency}"
            )
        self.series = series
        self.model = model or FillModel()
        self.latency = latency
        self.equity_points = max(equity_points, 2)
        self.out_dir = out_dir
        self.progress = progress
        self.checkpoint = checkpoint
        self.checkpoints = checkpoints if checkpoint is not None else 0
        self.settings = settings
        self.strategy_cls = strategy_cls or load_strategy(
            config.strategy or "market_maker", strategies_dir=strategies_dir
        )
        build_params(self.strategy_cls, config.params)
        _warn_if_unfed(self.strategy_cls)
        wanted = [p for p in config.products() if p != series.product_id]
        if wanted:
            raise ConfigError(
                f"the candle dataset holds {series.product_id} only; the config also wants "
                f"{', '.join(wanted)} (set [bot] products and the strategy's product_id to "
                f"{series.product_id})"
            )
        paper = config.paper.model_copy(update={"submit_latency": latency})
        self.config = dataclasses.replace(config, paper=paper)
        self.rules = dict(series.rules) if series.rules is not None else default_rules(series)
        self.stats = RunStats(
            mode="backtest",
            strategy=self.strategy_cls.strategy_name(),
            products=(series.product_id,),
        )
        self.fast_path = fast_path
        self._tick = Decimal(
            str(self.rules.get("price_increment") or self.rules["quote_increment"])
        )
        self._levels: dict[Decimal, list[L2Update]] = {}
        self._pending: list[FeedEvent] = []
        self._ids: list[str] = []

    async def run(self) -> CandleResult:
        """Run every candle; return the counts and the paper journal's path."""
        wall0 = time.perf_counter()
        series = self.series
        shutil.rmtree(self.out_dir, ignore_errors=True)
        self.out_dir.mkdir(parents=True)
        clock = ManualClock(float(series.start[0]))
        pid = series.product_id
        book = L2Book(pid)
        books = _LazyBooks(pid, book, self._set_book)
        books.eager = not self.fast_path
        span = float(series.start[-1] - series.start[0] + series.granularity)
        broker = build_broker(
            self.config,
            [self.rules],
            books,
            self.out_dir / "paper.sqlite",
            now=clock.time,
            on_event=self._pending.append,
            durable=False,
            meta={
                "mode": "backtest",
                "strategy": self.stats.strategy,
                "data": f"{pid} candles",
                "granularity": series.granularity,
                "fill_model": {
                    "slippage_bps": str(self.model.slippage_bps),
                    "intrabar": self.model.intrabar,
                },
            },
        )
        broker.equity_interval = max(series.granularity, span / self.equity_points)
        g = series.granularity

        def catch_up() -> None:
            i = books.quiet
            if i >= 0:
                books.quiet = -1
                broker.exchange.quiet_print(pid, series.close[i], float(series.start[i] + g))

        client, executor, ctx = wire(
            self.config,
            self.settings,
            broker,
            clock,
            self.out_dir,
            self.stats.strategy,
            lambda executor: _CandleSink(executor, self.stats, self._ids, catch_up),
            _CandleMarket(books),
            [self.rules],
        )
        strategy = create_strategy(self.strategy_cls, ctx, self.config.params)
        await executor.start()
        result = CandleResult(self.out_dir / "paper.sqlite", self.stats)
        try:
            books.move(series.open[0])
            broker.exchange.on_book(pid, clock.time())
            broker.flush()
            await ctx.start()
            await self._deliver(ctx, executor)
            t0 = time.perf_counter()
            hook = (
                strategy.on_candle if type(strategy).on_candle is not Strategy.on_candle else None
            )
            await self._loop(ctx, executor, broker, clock, books, hook)
            result.replay_seconds = time.perf_counter() - t0
            await ctx.stop()
            await self._deliver(ctx, executor)
            books.move(series.close[-1])
            broker.exchange.on_book(pid, clock.time())
            broker.flush()
            broker.sample_equity(clock.time())
        finally:
            await executor.close()
            await client.close()
            broker.journal.close()
        result.candles = len(series)
        result.wall_seconds = time.perf_counter() - wall0
        result.client_order_ids = list(self._ids)
        result.strategy = strategy
        return result

    def _set_book(self, book: L2Book, price: Decimal) -> None:
        """One level each side of ``price``, ``slippage_bps`` away (at least a tick wide)."""
        levels = self._levels.get(price)
        if levels is None:
            tick = self._tick
            bps = self.model.slippage_bps
            ask = market_price("BUY", price, bps, tick)
            bid = market_price("SELL", price, bps, tick)
            if bid >= ask:
                bid = ask - tick
            levels = [
                L2Update(side="bid", price_level=str(bid), new_quantity=_DEPTH),
                L2Update(side="offer", price_level=str(ask), new_quantity=_DEPTH),
            ]
            if len(self._levels) >= 4096:  # a bounded memo: prices recur around the path
                self._levels.clear()
            self._levels[price] = levels
        book.apply_snapshot(levels)

    async def _loop(
        self,
        ctx: BotContext,
        executor: OrderExecutor,
        broker: Any,
        clock: ManualClock,
        books: _LazyBooks,
        hook: Callable[[Candle], Any] | None,
    ) -> None:
        series = self.series
        pid = series.product_id
        g = series.granularity
        lat = self.latency
        step = (g - 2 * lat) / 4
        exchange: PaperExchange = broker.exchange
        pending = self._pending
        timers = ctx.timers
        stats = self.stats
        flush = broker.flush
        book = books._book
        set_book = self._set_book
        model = self.model
        pessimistic = model.intrabar == "pessimistic"
        starts, opens, highs, lows = series.start, series.open, series.high, series.low
        closes, volumes = series.close, series.volume
        base = exchange.product(pid).base_currency
        start_base = Decimal(self.config.paper.initial_balances.get(base, 0))
        progress = self.progress
        wall0 = time.perf_counter()
        interval = broker.equity_interval
        next_sample = float(starts[0]) + interval
        n = len(series)
        checkpoint, every = self.checkpoint, n // self.checkpoints if self.checkpoints else 0
        cp_at = every - 1 if every else -1  # the index of the next checkpoint's candle
        quote = self.config.paper.quote
        full = not self.fast_path  # the reference: every step of every candle, eagerly
        live = exchange.has_live_orders
        watch = ctx.exits.watch
        on_print = ctx.on_print
        working = exchange.has_working_orders
        guard = ctx.guard
        busy = hook is not None or full
        # the exchange's and the timers' state change only when botkit code runs (steps
        # 1-2, the close): an idle stretch looks at them once
        touched, quiet, has_timers = True, True, False
        # a plain function is called in this loop, a coroutine function by the guard
        direct = hook is not None and not full and not inspect.iscoroutinefunction(hook)
        for i in range(n):
            start = float(starts[i])
            # 1-2: the open and the range, only while an order is live at the exchange
            if touched:  # else nothing ran since the last look: nothing can have changed
                # ... or while an exit evaluated here (emulated, trailing) watches the product
                quiet = not (full or live() or pid in watch)
                has_timers = bool(timers)
            if not quiet:
                o, h, lo, c = opens[i], highs[i], lows[i], closes[i]
                position = Decimal(0)
                if pessimistic:  # the base held (orders' holds too) beyond the start's
                    position = exchange.holding(base) - start_base
                path = intrabar_path(o, h, lo, c, intrabar=model.intrabar, position=position)
                t = start + lat
                clock.set(t)
                books.due = None
                set_book(book, o)
                exchange.on_book(pid, t)  # activates what is due (market orders fill here)
                flush()
                if pending:
                    await self._deliver(ctx, executor)
                vol = volumes[i]
                for k, price in enumerate(path):
                    if k:
                        t = start + lat + k * step
                        clock.set(t)
                        books.due = None
                        set_book(book, price)
                        exchange.on_book(pid, t)
                    # a print's id is its place in the run: the same with the fast path off
                    exchange.on_trades(pid, [(str(4 * i + k + 1), price, vol, "")], t)
                    flush()
                    if pending:
                        await self._deliver(ctx, executor)
                    if pid in watch:  # emulated/trailing exits see the print, the hooks not
                        await on_print(pid, price)
                        flush()
                        if pending:
                            await self._deliver(ctx, executor)
            # 3: the close
            end = start + g
            due = i == cp_at
            if due:
                cp_at += every
            elif not (busy or has_timers or end >= next_sample):
                if progress is not None and i & 0xFFFF == 0xFFFF:
                    progress(Progress(i + 1, 0, (i + 1) / n, time.perf_counter() - wall0))
                touched = not quiet  # the prints above may have changed the exchange
                continue  # nothing reads the close: an idle strategy's whole candle
            touched = True
            clock.set(end)
            if quiet:  # the exchange learns this close as its last price before an order
                books.quiet = i
            if books.eager:
                books.move(closes[i])
            else:
                books.due = closes[i]  # placed when something reads it
            if full or (not quiet and working()):  # queue caps, due cancels
                exchange.on_book(pid, end)
            if hook is not None:
                stats.events += 1
                candle = Candle(
                    start=str(starts[i]),
                    high=highs[i],
                    low=lows[i],
                    open=opens[i],
                    close=closes[i],
                    volume=volumes[i],
                    product_id=pid,
                )
                if direct:  # a sync hook, guarded without a coroutine per candle
                    finish = guard.call_plain("on_candle", hook, candle)
                    if finish is not None:
                        await finish
                elif full:
                    await ctx.dispatch(CandlesReceived("update", (candle,)))
                else:
                    await guard.call("on_candle", hook, candle)
            if pending:
                await self._deliver(ctx, executor)
            if timers:
                await ctx.fire_timers()
                if pending:
                    await self._deliver(ctx, executor)
            if end >= next_sample:
                flush()  # orders sent above were flushed by the broker's transport
                next_sample = end + interval
            if due and checkpoint is not None:
                checkpoint((i + 1) // every, exchange.portfolio_value(quote)[0])
            if progress is not None and i & 0xFFFF == 0xFFFF:
                progress(Progress(i + 1, 0, (i + 1) / n, time.perf_counter() - wall0))
        end = float(starts[-1] + g)
        clock.set(end)
        books.quiet = -1  # superseded by the last close:
        if not exchange.has_live_orders():  # (the last candles may have been skipped)
            exchange.quiet_print(pid, closes[-1], end)

    async def _deliver(self, ctx: BotContext, executor: OrderExecutor) -> None:
        await deliver(self._pending, ctx, executor, self.stats)
