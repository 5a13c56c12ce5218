"""The bot runtime: the ONE module that wires settings, venue, feed, executor, risk and strategy.

Everything else in botkit is a part with seams; this is where the parts meet. One run:

1. load the strategy class and validate its parameters (a bad config stops here, exit 2);
2. open the venue for the mode (``sim`` starts the embedded simulator in-process);
3. build the signer, REST client, journalled executor, risk gate, feed and context;
4. resolve pending journal intents (``executor.start()``) and enforce a tripped kill
   switch *before* the strategy can place anything;
5. run every long-lived task in one :class:`asyncio.TaskGroup`: the feed, the driver
   (feed events → ``BotContext.dispatch``, then due timers), the status line, and the
   stopper (signal, ``--duration``);
6. shut down in order: ``on_stop``, optionally cancel open orders, stop the feed, close
   the journal (flushing it) and the client.

Feed events arrive through a synchronous callback. Order updates go to the executor's
state machine at once (so its view never lags the exchange); everything the strategy
sees goes through a queue to a single driver task, so hooks run one at a time, in event
order, and a slow hook delays only the strategy, never the socket reader. Book events
carry the live book, so of several queued updates of one book only the last is
delivered: the earlier ones would show the same (current) book anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botkit.auth import make_jwt_signer
from botkit.bot_config import BotConfig
from botkit.clock import SystemClock
from botkit.config import BotSettings
from botkit.core.book import kernel_in_use
from botkit.core.feed_events import FeedEvent, OrderUpdate, Subscribed
from botkit.dispatch import FOR_STRATEGY, CountingSink, dispatch_batch
from botkit.errors import JournalError
from botkit.executor import OrderExecutor
from botkit.feed import MarketDataFeed
from botkit.feed_config import FeedConfig
from botkit.journal import OrderJournal
from botkit.net.rest_client import RestClient
from botkit.risk_gate import RiskGate
from botkit.runtime_api import RunOptions, RunResult, run_blocking
from botkit.runtime_ui import RunStats, refresh_stats
from botkit.strategy.base import Strategy
from botkit.strategy.context import BotContext
from botkit.strategy.loader import build_params, create_strategy, load_strategy
from botkit.strategy.ports import MarketState
from botkit.strategy.state import JsonState
from botkit.venue import Endpoints, open_venue

if TYPE_CHECKING:
    from botkit.paper.broker import PaperBroker

__all__ = ["BotRuntime", "RunOptions", "RunResult", "run_blocking"]

log = logging.getLogger("botkit.runtime")


class _Stop(Exception):
    """Raised inside the task group to end the run (every task is then cancelled)."""


class BotRuntime:
    """One bot: a config, the settings, and the options of this run.

    The strategy class is loaded and its parameters validated in the constructor, so a
    bad config raises :class:`~botkit.errors.ConfigError` before anything connects.
    """

    def __init__(
        self, config: BotConfig, settings: BotSettings, options: RunOptions | None = None
    ) -> None:
        self.config = config
        self.settings = settings
        self.options = options or RunOptions()
        self.mode = self.options.mode or config.bot.mode
        self.strategy_cls: type[Strategy] = load_strategy(
            config.strategy or "market_maker", strategies_dir=self.options.strategies_dir
        )
        build_params(self.strategy_cls, config.params)  # validate now: fail before connecting
        self.products = config.products()
        self.stats = RunStats(
            mode=self.mode, strategy=self.strategy_cls.strategy_name(), products=self.products
        )
        self.ctx: BotContext | None = None
        self.executor: OrderExecutor | None = None
        self.paper: PaperBroker | None = None
        self._queue: asyncio.Queue[FeedEvent] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._t0 = 0.0
        self._ids: list[str] = []
        self._fatal: JournalError | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- control ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask for a graceful shutdown (signal handlers and embedding apps call this)."""
        self._stop.set()

    def _journal_failed(self, exc: JournalError) -> None:
        """A journal write failed: stop now (gracefully), and report it as the run's error.

        Journals call this from wherever the write happened (an order, a fill, a feed
        callback), so no caller can swallow it; the intent journal calls it from its
        own thread, hence ``call_soon_threadsafe`` (``asyncio.Event`` is not
        thread-safe).
        """
        if self._fatal is None:
            self._fatal = exc
            log.error("stopping: %s", exc)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._stop.set()
        else:
            loop.call_soon_threadsafe(self._stop.set)

    @property
    def root(self) -> Path:
        """This mode's data directory: the journal, kill switch and strategy state."""
        base = self.options.data_dir or self.config.bot.data_dir
        return base / self.mode if self.mode in ("sim", "paper") else base

    def _prepare(self, root: Path) -> Path:
        """Create the data directory; in sim mode start from an empty journal.

        The embedded exchange starts empty every run, so a journal left from an earlier
        run would make ``executor.start()`` re-place old intents on a new exchange.
        """
        root.mkdir(parents=True, exist_ok=True)
        journal_path = root / "journal.sqlite"
        if self.mode == "sim":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{journal_path}{suffix}").unlink(missing_ok=True)
        return journal_path

    # -- the run ------------------------------------------------------------------------------

    async def run(self) -> RunResult:
        """Run until stopped; return the result. Raises ConfigError / BotkitError on failure."""
        self._t0 = time.perf_counter()
        self._loop = asyncio.get_running_loop()
        self.stats.started = time.time()
        root = self.root
        journal_path = self._prepare(root)
        bot = self.config.bot
        async with open_venue(
            self.mode,
            self.settings,
            seed=bot.sim_seed,
            tick_interval=self.options.sim_tick_interval,
            ws_config=self.options.sim_ws,
            paper_source=self.config.paper.source,
        ) as ep:
            if self.options.on_venue is not None:
                self.options.on_venue(ep)
            clock = SystemClock()
            signer = make_jwt_signer(ep.key, self.settings, clock=clock) if ep.key else None
            feed = MarketDataFeed(
                FeedConfig(
                    market_url=ep.ws_market_url,
                    user_url=ep.ws_user_url,
                    products=self.products,
                    channels=self._channels(ep),
                    user=not ep.paper,  # paper: order updates come from the paper broker
                    ca_file=ep.ca_file,
                ),
                signer=signer,
                on_event=self._on_event,
            )
            balances = None
            if ep.paper:
                from botkit.paper.setup import paper_client

                broker = self.paper = await self._open_paper(ep, root, feed)
                client = paper_client(broker, self.settings, clock, unlimited=False)
                balances = broker.balances()
            else:
                assert signer is not None  # sim and live always have a key
                cb = self.settings.coinbase
                client = RestClient(
                    ep.rest_url,
                    signer,
                    clock=clock,
                    ca_file=ep.ca_file,
                    presign=cb.presign,
                    presign_max_age=cb.presign_max_age,
                )
            journal = OrderJournal(journal_path, on_failure=self._journal_failed)
            executor = self.executor = OrderExecutor(client, journal)
            gate = RiskGate(self.config.risk, root / "kill_switch.json", wall=time.time)
            ctx = self.ctx = BotContext(
                self.stats.strategy,
                CountingSink(executor, self.stats, self._ids),
                MarketState(feed.books),
                clock=clock,
                risk=gate,
                state=JsonState(root / "state" / f"{self.stats.strategy}.json"),
                balances=balances,
                guard=self.config.guard,
            )
            create_strategy(self.strategy_cls, ctx, self.config.params)
            started = False
            try:
                resolved = await executor.start()  # pending intents first, then anything new
                if resolved:
                    log.warning("resolved %d pending intent(s) from the journal", len(resolved))
                await gate.enforce()
                with self._signals():
                    try:
                        async with asyncio.TaskGroup() as tg:
                            tg.create_task(self._stopper(), name="stopper")
                            tg.create_task(self._own_feed(feed), name="feed")
                            await self._wait_ready(feed)
                            await ctx.start()
                            started = True
                            tg.create_task(self._drive(ctx), name="driver")
                            if self.options.status is not None:
                                tg.create_task(self._status_loop(), name="status")
                    except* _Stop:
                        pass
                    except* JournalError as group:  # reported by the journal itself
                        if self._fatal is None:
                            self._fatal = _first_leaf(group)
            finally:
                await self._shutdown(ctx, started, feed, executor, client)
        self._refresh(ctx)
        return RunResult(
            self.stats,
            time.perf_counter() - self._t0,
            list(self._ids),
            ep.sim,
            journal_path,
            self._fatal,
        )

    def _channels(self, ep: Endpoints) -> tuple[str, ...]:
        """``[bot].channels``; paper fills need trade prints, so ``market_trades`` is added."""
        channels = self.config.bot.channels
        if ep.paper and "market_trades" not in channels:
            channels = (*channels, "market_trades")
        return channels

    async def _open_paper(self, ep: Endpoints, root: Path, feed: MarketDataFeed) -> PaperBroker:
        """The paper account (resumed from ``root/paper.sqlite`` if a session is there)."""
        from botkit.paper.setup import build_broker, fetch_rules

        rules = await fetch_rules(ep.rest_url, self.products, ca_file=ep.ca_file)
        broker = build_broker(
            self.config,
            rules,
            feed.books,
            root / "paper.sqlite",
            now=time.time,
            on_event=self._on_event,
            durable=True,
            meta={"mode": "paper", "strategy": self.stats.strategy, "source": ep.ws_market_url},
            on_failure=self._journal_failed,
        )
        if broker.resumed:
            log.info("paper account resumed from %s", root / "paper.sqlite")
        return broker

    async def _shutdown(
        self,
        ctx: BotContext,
        started: bool,
        feed: MarketDataFeed,
        executor: OrderExecutor,
        client: RestClient,
    ) -> None:
        """on_stop, optional cancel-all, then close everything (each step bounded)."""
        try:
            if started:
                await ctx.stop()
            if self.options.cancel_on_exit:
                async with asyncio.timeout(10):
                    self.stats.cancelled_on_exit = await ctx.cancel_all()
                log.info("cancelled %d open order(s) on exit", self.stats.cancelled_on_exit)
        finally:
            with contextlib.suppress(Exception):
                await feed.stop()
            await executor.close()  # journal closed: every outcome written
            await client.close()
            if self.paper is not None:
                with contextlib.suppress(JournalError):  # already reported: stopping for it
                    self.paper.sample_equity(time.time())
                self.paper.journal.close()

    @contextlib.contextmanager
    def _signals(self) -> Any:
        loop = asyncio.get_running_loop()
        sigs = (signal.SIGINT, signal.SIGTERM) if self.options.install_signals else ()
        for sig in sigs:
            loop.add_signal_handler(sig, self.request_stop)
        try:
            yield
        finally:
            for sig in sigs:
                loop.remove_signal_handler(sig)

    async def _stopper(self) -> None:
        remaining = None
        if self.options.duration is not None:
            remaining = max(0.0, self.options.duration - (time.perf_counter() - self._t0))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(remaining):
                await self._stop.wait()
        raise _Stop

    async def _own_feed(self, feed: MarketDataFeed) -> None:
        """Keep the feed for the life of the task group (its socket tasks are its own)."""
        async with feed:
            await asyncio.Event().wait()

    async def _wait_ready(self, feed: MarketDataFeed) -> None:
        """Wait for the connections and, with level2, a valid book of every product."""
        need_books = "level2" in self.config.bot.channels

        def ready() -> bool:
            books = feed.books
            return feed.ready() and (
                not need_books or all(p in books and books[p].valid for p in self.products)
            )

        await feed.wait_for(ready, self.config.bot.ready_timeout)
        log.info(
            "feed ready after %.3f s (book level loop: %s)",
            time.perf_counter() - self._t0,
            "compiled" if kernel_in_use() else "Python, the kernel is not built: docs/feed.md",
        )

    def _on_event(self, event: FeedEvent) -> None:
        """The feed's synchronous callback: executor first, then the strategy's queue."""
        if isinstance(event, FOR_STRATEGY):
            if isinstance(event, OrderUpdate) and self.executor is not None:
                self.executor.on_order_update(event)
            self._queue.put_nowait(event)
            if self.paper is not None:  # after queueing: a fill it causes follows the print
                # a JournalError was reported by the journal itself: the runtime is stopping
                with contextlib.suppress(JournalError):
                    self.paper.on_market_event(event)
        elif isinstance(event, Subscribed) and self.stats.first_subscribe is None:
            self.stats.first_subscribe = time.perf_counter() - self._t0
            log.info("first subscription acknowledged after %.3f s", self.stats.first_subscribe)

    async def _drive(self, ctx: BotContext) -> None:
        """The single driver: queued events in order (books conflated), then due timers."""
        queue, tick = self._queue, self.config.bot.timer_resolution
        while True:
            batch: list[FeedEvent] = []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):
                    batch.append(await queue.get())
            while not queue.empty():
                batch.append(queue.get_nowait())
            if batch:
                await dispatch_batch(ctx, batch, self.stats)
            if self.paper is not None:
                self.paper.advance()  # latency and expiries come due in a quiet market too
            await ctx.fire_timers()

    async def _status_loop(self) -> None:
        status = self.options.status
        assert status is not None
        while True:
            if self.ctx is not None:
                self._refresh(self.ctx)
                status.show(self.stats.line())
            await asyncio.sleep(1.0)

    def _refresh(self, ctx: BotContext) -> None:
        refresh_stats(self.stats, ctx, self.products)


def _first_leaf(group: BaseExceptionGroup[JournalError]) -> JournalError:
    """The first :class:`JournalError` of a (possibly nested) exception group."""
    first = group.exceptions[0]
    return first if isinstance(first, JournalError) else _first_leaf(first)
