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
import json
import logging
import os
import signal
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from botkit.auth import make_jwt_signer
from botkit.bot_config import BotConfig
from botkit.clock import SystemClock
from botkit.config import BotSettings
from botkit.core.book import kernel_in_use
from botkit.core.event_buffer import EventBuffer
from botkit.core.feed_events import FeedEvent, OrderUpdate, Subscribed
from botkit.core.health import Health, HealthInputs, assess, product_state
from botkit.dispatch import FOR_STRATEGY, CountingSink, dispatch_batch
from botkit.errors import BotkitError, JournalError, StaleFeed
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
from botkit.supervisor import Supervisor
from botkit.venue import Endpoints, open_venue

if TYPE_CHECKING:
    from botkit.paper.broker import PaperBroker

__all__ = ["BotRuntime", "RunOptions", "RunResult", "run_blocking"]

log = logging.getLogger("botkit.runtime")
R = TypeVar("R")

HEALTH_FILE = "health.json"
"""Written to the mode's data directory every second; ``botkit doctor --bot DIR`` reads it."""


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
        self.events = EventBuffer(config.bot.event_buffer)
        """Feed events on their way to the strategy (bounded: see EventBuffer)."""
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._t0 = 0.0
        self._ids: list[str] = []
        self._fatal: BotkitError | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.supervisor = Supervisor(self._fatal_error, policy=self.options.restart_policy)
        """Runs every long-lived task; an embedding app may ``spawn`` its own under it."""
        self.health: Health | None = None
        """The last verdict of the health model (refreshed every second while running)."""
        self._started = False
        self._feed: MarketDataFeed | None = None
        self._client: Any = None
        self._sink: CountingSink | None = None
        self._clock = self.options.clock or SystemClock()

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
        self._fatal_error(exc)

    def _fatal_error(self, exc: BotkitError) -> None:
        """Something the bot cannot carry on without failed: stop gracefully, exit 1.

        Called by the journals (:meth:`_journal_failed`) and by the supervisor when a
        component cannot be restarted. The first error is the run's error.
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
            clock = self._clock
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
            gate = RiskGate(self.config.risk, root / "kill_switch.json", wall=clock.time)
            sink = self._sink = CountingSink(executor, self.stats, self._ids)
            ctx = self.ctx = BotContext(
                self.stats.strategy,
                sink,
                MarketState(feed.books),
                clock=clock,
                risk=gate,
                state=JsonState(root / "state" / f"{self.stats.strategy}.json"),
                balances=balances,
                guard=self.config.guard,
            )
            create_strategy(self.strategy_cls, ctx, self.config.params)
            self._feed, self._client = feed, client
            started = False
            try:
                resolved = await executor.start()  # pending intents first, then anything new
                if resolved:
                    log.warning("resolved %d pending intent(s) from the journal", len(resolved))
                await gate.enforce()
                with self._signals():
                    started = await self._run_components(feed, ctx)
            finally:
                await self._shutdown(ctx, started, feed, executor, client)
        self._refresh(ctx)
        self._write_health()
        return RunResult(
            self.stats,
            time.perf_counter() - self._t0,
            list(self._ids),
            ep.sim,
            journal_path,
            self._fatal,
        )

    async def _run_components(self, feed: MarketDataFeed, ctx: BotContext) -> bool:
        """Start the supervised components, wait for a stop; True once the strategy started.

        Start-up order: the feed's connections, the health reporter and the status line;
        then, once the books are valid, the strategy's ``on_start`` and the driver. A stop
        (signal, ``--duration``, a fatal component failure) may come at any point.
        """
        sup = self.supervisor
        await feed.start()
        sup.spawn("health", self._health_loop)
        if self.options.status is not None:
            sup.spawn("status", self._status_loop)
        if not await self._unless_stopped(self._wait_ready(feed)):
            self._stop.set()
            return False
        await ctx.start()
        self._started = True
        sup.spawn("driver", lambda: self._drive(ctx))
        await self._wait_stop()
        self._stop.set()  # --duration ended: the health file says "stopping" from here on
        return True

    def _deadline(self) -> float | None:
        if self.options.duration is None:
            return None
        return self.options.duration - (time.perf_counter() - self._t0)

    async def _wait_stop(self) -> None:
        """Until :meth:`request_stop`, a fatal error, or the end of ``--duration``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._deadline()):
                await self._stop.wait()

    async def _unless_stopped(self, step: Awaitable[None]) -> bool:
        """Await ``step`` unless a stop comes first (then cancel it); True when it finished."""
        task = asyncio.ensure_future(step)
        stopper = asyncio.ensure_future(self._wait_stop())
        try:
            await asyncio.wait((task, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (task, stopper):
                t.cancel()
            await asyncio.gather(task, stopper, return_exceptions=True)
        if task.cancelled():
            return False
        task.result()  # re-raise a failure of the step
        return True

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
            now=self._clock.time,
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
        """Stop the components, then on_stop, optional cancel-all, and close everything.

        Every step is bounded in time and a failing or slow step is logged and does not
        keep the next ones from running: the journal is always closed (flushed).
        """
        await self.supervisor.close(within=5.0)
        if started:
            await self._step("strategy on_stop", ctx.stop(), 10.0)
        if self.options.cancel_on_exit:
            n = await self._step("cancel open orders", ctx.cancel_all(), 10.0)
            if n is not None:
                self.stats.cancelled_on_exit = n
                log.info("cancelled %d open order(s) on exit", n)
        await self._step("feed stop", feed.stop(), 5.0)
        await self._step("journal close", executor.close(), 10.0)  # every outcome written
        await self._step("REST client close", client.close(), 5.0)
        if self.paper is not None:
            with contextlib.suppress(JournalError):  # already reported: stopping for it
                self.paper.sample_equity(self._clock.time())
            self.paper.journal.close()

    async def _step(self, what: str, step: Awaitable[R], within: float) -> R | None:
        """One shutdown step: its result, or None when it failed or timed out (logged)."""
        try:
            async with asyncio.timeout(within):
                return await step
        except TimeoutError:
            log.error("shutdown: %s did not finish within %.0f s; going on", what, within)
        except JournalError as exc:  # reported by the journal itself: the run's error
            log.error("shutdown: %s: %s", what, exc)
        except Exception:
            log.exception("shutdown: %s failed; going on", what)
        return None

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

    async def _wait_ready(self, feed: MarketDataFeed) -> None:
        """Wait for the connections and, with level2, a valid book of every product."""
        need_books = "level2" in self.config.bot.channels

        def ready() -> bool:
            books = feed.books
            return feed.ready() and (
                not need_books or all(p in books and books[p].valid for p in self.products)
            )

        try:
            await feed.wait_for(ready, self.config.bot.ready_timeout)
        except TimeoutError:
            raise StaleFeed(
                f"no market data within {self.config.bot.ready_timeout:g} s of starting "
                f"({', '.join(self.products)}): the venue is unreachable or sends no level2 "
                "for these products. Fix: check the network and the product ids, or raise "
                "[bot] ready_timeout"
            ) from None
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
            self.events.push(event)
            self._wake.set()
            if self.paper is not None:  # after queueing: a fill it causes follows the print
                # a JournalError was reported by the journal itself: the runtime is stopping
                with contextlib.suppress(JournalError):
                    self.paper.on_market_event(event)
        elif isinstance(event, Subscribed) and self.stats.first_subscribe is None:
            self.stats.first_subscribe = time.perf_counter() - self._t0
            log.info("first subscription acknowledged after %.3f s", self.stats.first_subscribe)

    async def _drive(self, ctx: BotContext) -> None:
        """The single driver: buffered events in order (books conflated), then due timers."""
        buffer, wake, tick = self.events, self._wake, self.config.bot.timer_resolution
        while True:
            if not len(buffer):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(tick):
                        await wake.wait()
            wake.clear()
            batch = buffer.drain()
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

    # -- health ---------------------------------------------------------------------------

    async def _health_loop(self) -> None:
        """Every second: assess health, log verdict changes, write ``health.json``."""
        last = None
        while True:
            if self.ctx is not None:
                self._refresh(self.ctx)
            health = self.assess_health()
            if last is not None and health.verdict != last:
                level = logging.INFO if health.ready else logging.WARNING
                log.log(
                    level,
                    "health: %s -> %s: %s",
                    last,
                    health.verdict,
                    "; ".join(health.reasons) or "all good",
                )
            last = health.verdict
            self._write_health()
            if self.options.on_health is not None:
                self.options.on_health(health)
            await asyncio.sleep(1.0)

    def assess_health(self) -> Health:
        """The health model's verdict on this bot now (also kept in :attr:`health`)."""
        feed = self._feed
        products: dict[str, Any] = {}
        user: Literal["up", "down"] | None = None
        if feed is not None:
            for pid in self.products:
                conns = [
                    c for c in feed.conns if any(pid in s.product_ids for s in c.plan.subscriptions)
                ]
                book = feed.books.get(pid)
                products[pid] = product_state(
                    connected=bool(conns) and all(c.ws is not None for c in conns),
                    valid=book is None or book.valid,
                    stale=book is not None and book.stale,
                )
            user_conns = [c for c in feed.conns if c.plan.name == "user"]
            if user_conns:
                user = "up" if user_conns[0].ws is not None else "down"
        sink = self._sink
        self.health = assess(
            HealthInputs(
                started=self._started,
                stopping=self._stop.is_set(),
                products=products,
                user_channel=user,
                clock_offset=getattr(self._client, "last_offset", None),
                journal_ok=not isinstance(self._fatal, JournalError),
                strategy_halted=self.stats.halted,
                kill_switch=self.stats.kill_switch,
                last_order_rtt=getattr(sink, "last_rtt", None),
                components={n: c.state for n, c in self.supervisor.components.items()},
            )
        )
        return self.health

    def _write_health(self) -> None:
        """``health.json`` in the data directory, replaced atomically (readers never see half)."""
        health = self.health or self.assess_health()
        doc = {
            **health.to_dict(),
            "time": self._clock.time(),
            "pid": os.getpid(),
            "mode": self.mode,
            "strategy": self.stats.strategy,
            "running": not self._stop.is_set(),
            "components": {
                n: {
                    "state": c.state,
                    "crashes": c.crashes,
                    "restarts": c.restarts,
                    "last_error": c.last_error,
                }
                for n, c in self.supervisor.components.items()
            },
            "events": {
                "queued": len(self.events),
                "dropped": self.events.dropped,
                "coalesced": self.events.coalesced,
                "high_water": self.events.high_water,
            },
            "error": str(self._fatal) if self._fatal is not None else None,
        }
        path = self.root / HEALTH_FILE
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(doc, indent=1))
            os.replace(tmp, path)
        except OSError as exc:  # a full disk must not crash the reporter: the journal reports it
            log.warning("health: cannot write %s: %s", path, exc)
