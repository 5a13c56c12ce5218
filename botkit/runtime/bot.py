"""The bot runtime: the ONE module that wires settings, venue, feed, executor, risk and strategy.

Everything else in botkit is a part with seams; this is where the parts meet. One run:

1. load the strategy class and validate its parameters (a bad config stops here, exit 2);
2. open the venue (``sim`` starts the embedded simulator in-process), build the signer,
   REST client, journalled executor, risk gate, feed, context and monitor parts;
3. resolve pending intents, reconcile with the exchange, enforce a tripped kill switch,
   all *before* the strategy can place anything;
4. run every long-lived task under the :class:`~botkit.runtime.supervisor.Supervisor` (feed
   connections, HTTP, health, alerts, systemd watchdog, status line, then the driver:
   events → ``BotContext.dispatch``, then due timers) until a signal, ``--duration``
   or a fatal failure;
5. shut down, each step bounded: components, ``on_stop``, optional cancel-all, feed,
   journal (flushed), client, the last alert.

Feed events arrive through a synchronous callback. Order updates go to the executor's
state machine at once (so its view never lags the exchange); everything the strategy
sees goes through a bounded buffer to a single driver task, so hooks run one at a time,
in event order, and a slow hook delays only the strategy, never the socket reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from botkit.auth.clock import SystemClock
from botkit.errors import (
    BotkitError,
    ConfigError,
    InsufficientFunds,
    JournalError,
    KillSwitchNotSaved,
    OrderRejected,
    StaleFeed,
)
from botkit.market.book import kernel_in_use
from botkit.market.config import FeedConfig
from botkit.market.events import (
    FeedErrorReceived,
    FeedEvent,
    FillEvent,
    OrderUpdate,
    SequenceGapDetected,
    StatusReceived,
    Subscribed,
    TradingStatusChanged,
)
from botkit.market.feed import MarketDataFeed
from botkit.market.trading_status import TradingStatus
from botkit.monitor.alert_rules import Alert, AlertRules, killed_error
from botkit.monitor.alerts import Alerter, gate_across_restarts
from botkit.monitor.reporter import HealthReporter
from botkit.monitor.systemd import watchdog_loop
from botkit.orders.executor import OrderExecutor
from botkit.orders.fills import FillTracker, MemoryHwmStore
from botkit.orders.intents import OrderIntent
from botkit.orders.journal import OrderJournal
from botkit.orders.ledger import FILE_NAME as LEDGER_FILE
from botkit.orders.ledger import FillLedger
from botkit.orders.types import startup_updates
from botkit.risk.gate import RiskGate
from botkit.runtime.api import RunOptions, RunResult, run_blocking
from botkit.runtime.bot_config import BotConfig, data_root
from botkit.runtime.collector import freeze_after_start, thaw
from botkit.runtime.data_lock import DataDirLock, unusable_dir
from botkit.runtime.dispatch import FOR_STRATEGY, CountingSink, FeedTroubleLog, dispatch_batch
from botkit.runtime.event_buffer import EventBuffer
from botkit.runtime.health import Health, watchdog_verdict
from botkit.runtime.resume import (
    Backfill,
    ReadBackInRun,
    mark_placed,
    read_back_fills,
    resume_positions,
)
from botkit.runtime.retention import retention_loop
from botkit.runtime.settings import BotSettings
from botkit.runtime.signals import stop_on_signals
from botkit.runtime.supervisor import Supervisor
from botkit.runtime.trading_watch import HINT_REASONS, TradingWatch
from botkit.runtime.ui import RunStats, refresh_stats
from botkit.runtime.venue import (
    Endpoints,
    OrderClient,
    candle_history,
    feed_protocol,
    fetch_product_rules,
    make_order_client,
    open_venue,
)
from botkit.strategy.base import Strategy
from botkit.strategy.context import BotContext
from botkit.strategy.exits import ProductLimits, limits_from_rules
from botkit.strategy.loader import build_params, create_strategy, load_strategy
from botkit.strategy.ports import MarketState
from botkit.strategy.state import JsonState

if TYPE_CHECKING:
    from botkit.monitor.bot_view import BotView
    from botkit.monitor.http import HttpServer
    from botkit.monitor.metrics import BotMetrics
    from botkit.paper.broker import PaperBroker

__all__ = ["BotRuntime", "RunOptions", "RunResult", "run_blocking"]

log = logging.getLogger("botkit.runtime.bot")
R = TypeVar("R")


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
        config.check_risk(self.mode)
        self.strategy_cls: type[Strategy] = load_strategy(
            config.strategy or "market_maker", strategies_dir=self.options.strategies_dir
        )
        params = build_params(self.strategy_cls, config.params)  # fail before connecting
        self.params: dict[str, Any] = params.model_dump(mode="json")
        """The strategy's effective parameters (defaults filled in), for the status page."""
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
        self._failed: Exception | None = None  # what ended a run that raised (the alert's why)
        self._stop_reason = ""  # what asked for the stop, for the stopped alert
        self._stopped_alert = False  # sent (once, by the shutdown or by run())
        self._loop: asyncio.AbstractEventLoop | None = None
        self.supervisor = Supervisor(self._fatal_error, policy=self.options.restart_policy)
        """Runs every long-lived task; an embedding app may ``spawn`` its own under it."""
        self._started = False
        self.feed: MarketDataFeed | None = None
        self.client: Any = None
        """The REST client (Coinbase's, the simulator's, or the paper broker's)."""
        self.gate: RiskGate | None = None
        self.trading: TradingWatch | None = None
        self.ledger: FillLedger | None = None
        """Positions and the fills they counted, on disk (botkit/orders/ledger.py)."""
        self._read_back: tuple[FillTracker, Backfill] | None = None
        """The fill tracker and REST fills call that count fills missed while down."""
        self.read_back_in_run: ReadBackInRun | None = None
        """After each user (re)subscription: what working orders became meanwhile."""
        self._feed_trouble = FeedTroubleLog()
        self.view: BotView | None = None
        """Counters, snapshots and controls for the HTTP server (None when it is off)."""
        self.metrics: BotMetrics | None = None
        self.http: HttpServer | None = None
        self.sink: CountingSink | None = None
        """The executor sink counting orders (its last round trip feeds the health model)."""
        self._clock = self.options.clock or SystemClock()
        notify = config.notify
        self.alerter = Alerter(  # a bad URL is a ConfigError now, before anything connects
            [*notify.urls, *settings.notify.url_list()],
            max_per_hour=notify.max_per_hour,
            title_prefix=f"botkit {self.stats.strategy}",
        )
        self.alert_rules = AlertRules(
            feed_down_after=notify.feed_down_after, summary_hour=notify.daily_summary_hour
        )
        self.reporter = HealthReporter(
            self, self.alerter, self.alert_rules, on_health=self.options.on_health
        )

    # -- what the monitor reads ---------------------------------------------------------------

    @property
    def health(self) -> Health | None:
        """The last verdict of the health model (refreshed every second while running)."""
        return self.reporter.health

    def assess_health(self) -> Health:
        """The health model's verdict on this bot now."""
        return self.reporter.assess()

    async def wait_health(self) -> Health:
        """The next verdict of the health loop (once a second while the bot runs)."""
        return await self.reporter.next()

    @property
    def started(self) -> bool:
        """The strategy has started (its ``on_start`` ran)."""
        return self._started

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def error(self) -> BotkitError | None:
        """Why the run is stopping early, if it is (the run's result error)."""
        return self._fatal

    def refresh_stats(self) -> None:
        """Recompute the status counters (position, PnL, open orders) from the context."""
        if self.ctx is not None:
            refresh_stats(self.stats, self.ctx, self.products)

    # -- control ------------------------------------------------------------------------------

    def wall(self) -> float:
        """Wall-clock time, exchange-corrected (the clock seam every timestamp uses)."""
        return self._clock.time()

    def request_stop(self) -> None:
        """Ask for a graceful shutdown (signal handlers and embedding apps call this)."""
        self._stop_reason = self._stop_reason or "asked to stop (a signal or the embedding app)"
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
        if self._fatal is None or (  # the first error is the run's, but for a kill switch
            isinstance(exc, KillSwitchNotSaved) and not isinstance(self._fatal, ConfigError)
        ):  # not saved: its exit 2 keeps a restart from trading without it (a review)
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
        return data_root(base, self.mode, self.config.bot.venue)

    def _prepare(self, root: Path) -> Path:
        """Create the data directory; in sim mode start from an empty journal.

        The embedded exchange starts empty every run, so a journal left from an earlier
        run would make ``executor.start()`` re-place old intents on a new exchange, and
        the fill ledger would resume positions the new exchange never filled.
        """
        root.mkdir(parents=True, exist_ok=True)
        journal_path = root / "journal.sqlite"
        if self.mode == "sim":
            try:  # a directory turned read-only: a raw traceback here (a QA pass)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{journal_path}{suffix}").unlink(missing_ok=True)
                    Path(f"{root / LEDGER_FILE}{suffix}").unlink(missing_ok=True)  # positions
                Path(f"{journal_path}-intents").unlink(missing_ok=True)  # its intent log
                self._exit_state_path(root).unlink(missing_ok=True)  # its exits were there too
            except OSError as exc:
                raise unusable_dir(root, exc) from None
        return journal_path

    def _exit_state_path(self, root: Path) -> Path:
        """The strategy's journaled exits (botkit/strategy/exit_manager.py)."""
        return root / "state" / f"{self.stats.strategy}.exits.json"

    # -- the run ------------------------------------------------------------------------------

    async def run(self) -> RunResult:
        """Run until stopped; return the result. Raises ConfigError / BotkitError on failure.

        The mode's data directory is held for the whole run (:mod:`botkit.runtime.data_lock`):
        a second bot on it fails here (exit 2), before it touches anything.
        """
        lock: DataDirLock | None = None
        try:
            lock = DataDirLock(self.root)  # in here: a directory it cannot write alerts too
            if lock.unclean is not None:  # the run before was killed: nothing else says so
                self._killed_before(lock.unclean)
            return await self._run()
        except Exception as exc:
            if not self._stopped_alert:  # it failed before the shutdown could say so
                self._stopped_alert = True
                code = 2 if isinstance(exc, ConfigError) else 1
                alerts = self.alert_rules.stopped("error", str(exc), exit_code=code)
                if code == 1:  # restarted by a service manager: maybe again and again
                    alerts = self._across_restarts(alerts, str(exc))
                self.alerter.send_all(alerts)
                await self.alerter.flush(within=5.0)
            raise
        finally:
            if lock is not None:
                lock.release()
            thaw()  # what was frozen at start is the collector's again (an embedder's next run)

    async def _run(self) -> RunResult:
        self._t0 = time.perf_counter()
        self.settings.warn_unknown()  # BOTKIT_* variables no setting reads (logging is set up)
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
            venue=bot.venue,
        ) as ep:
            if self.options.on_venue is not None:
                self.options.on_venue(ep)
            http = self.http = self._http_server(ep)  # a bad [http] stops here (exit 2)
            clock = self._clock
            protocol, signer = feed_protocol(ep, self.settings, clock)
            # positions and what they counted, resumed (docs/strategies.md, restarts)
            ledger = self.ledger = FillLedger(root / LEDGER_FILE, on_failure=self._journal_failed)
            counted = ledger.seed()  # the marks a fill tracker starts from
            feed = MarketDataFeed(
                FeedConfig(
                    market_url=ep.ws_market_url,
                    user_url=ep.ws_user_url,
                    products=self.products,
                    channels=self._channels(ep),
                    user=not ep.paper,  # paper: order updates come from the paper broker
                    # Exchange's user channel is per product; Advanced Trade's: all of them
                    user_products=self.products if ep.venue != "advanced_trade" else (),
                    ca_file=ep.ca_file,
                ),
                protocol=protocol,  # the venue's WebSocket protocol
                signer=signer,
                on_event=self._on_event,
                spawn=self.supervisor.spawn,  # each connection is a supervised component
                # a replay reports only what the positions have not counted
                hwm_store=MemoryHwmStore(counted),
            )
            balances = None
            client: OrderClient
            if ep.paper:
                from botkit.paper.setup import paper_client

                tracker = FillTracker(MemoryHwmStore(counted))
                broker = self.paper = await self._open_paper(ep, root, feed, tracker)
                client = paper_client(broker, self.settings, clock, unlimited=False, venue=ep.venue)
                balances = broker.balances()
                self._read_back = (tracker, client.backfill_fills)
            else:
                client = make_order_client(ep, self.settings, clock)
                feed.backfill = client.backfill_fills  # (the feed's own, fills only)
                assert feed.fills is not None
                self._read_back = (feed.fills, client.backfill_fills)
                # what the working orders became while the user channel was down (a
                # reconnect's snapshot lists open orders only): statuses and fills by REST,
                # in place of the feed's fills-only backfill
                feed.read_back = self._read_back_now
                self.read_back_in_run = ReadBackInRun(
                    ledger, feed.fills, client.backfill_fills, client.get_order,
                    lambda: self.ctx.exits.attached_aliases() if self.ctx is not None else {},
                    self._on_event,
                    self._settle_unknown,
                )  # fmt: skip
                feed.listing_lost = self.read_back_in_run.forget_listing
            journal = OrderJournal(journal_path, on_failure=self._journal_failed)
            executor = self.executor = OrderExecutor(
                client, journal, resend_max_age=self.config.bot.resend_max_age or None
            )
            # every order the exchange has gets its mark before its intent is PLACED
            executor.on_placed = partial(mark_placed, ledger)
            gate = self.gate = RiskGate(
                self.config.risk, root / "kill_switch.json", wall=clock.time
            )
            trading = self.trading = TradingWatch(
                partial(fetch_product_rules, ep, self.products, missing_ok=True),
                self.products,
                gate,
                interval=self.config.bot.trading_status_seconds,
                on_change=self._trading_changed,
            )
            gate.on_trading_refusal = trading.refused
            gate.on_failure = self._fatal_error  # the kill switch or a protection not saved
            sink = self.sink = CountingSink(
                executor,
                self.stats,
                self._ids,
                # the result's ids: 1 000-2 000 of the latest (the journal has every one);
                # the default 10 000-20 000 took hours to reach its bound (the soak's slope)
                keep_ids=1000,
                on_latency=self.metrics.observe_order_latency if self.metrics else None,
                on_reject=self._order_failed,
            )
            ctx = self.ctx = BotContext(
                self.stats.strategy,
                sink,
                MarketState(feed.books),
                clock=clock,
                risk=gate,
                state=JsonState(root / "state" / f"{self.stats.strategy}.json"),
                exit_state=JsonState(self._exit_state_path(root)),
                product_limits=await self._product_limits(ep, trading),
                balances=balances,
                guard=self.config.guard,
                ledger=ledger,
            )
            resume_positions(ctx, gate, ledger)
            create_strategy(self.strategy_cls, ctx, self.config.params)
            self.feed, self.client = feed, client
            self._history = candle_history(ep, self.settings)  # warm-up (runtime/warmup.py)
            started = False
            try:
                await self._startup_orders(executor, ctx)
                await gate.enforce()
                with stop_on_signals(self.request_stop, install=self.options.install_signals):
                    started = await self._run_components(feed, ctx, http)
            except Exception as exc:  # a start that failed (401, a port in use...): the
                self._failed = exc  # stopped alert says so, as for a fatal component error
                raise
            finally:
                await self._shutdown(ctx, started, feed, executor, client)
        self.refresh_stats()
        self.reporter.write()
        return RunResult(
            self.stats,
            time.perf_counter() - self._t0,
            list(self._ids),
            ep.sim,
            journal_path,
            self._fatal,
        )

    async def _run_components(
        self, feed: MarketDataFeed, ctx: BotContext, http: HttpServer | None
    ) -> bool:
        """Start the supervised components, wait for a stop; True once the strategy started.

        Start-up order: the feed's connections, the health reporter and the status line;
        then, once the books are valid, the strategy's ``on_start`` and the driver. A stop
        (signal, ``--duration``, a fatal component failure) may come at any point.
        """
        sup = self.supervisor
        if http is not None:
            await http.start()  # bind now: a port in use is a ConfigError (exit 2)
            sup.spawn("http", http.serve)
        await feed.start()
        sup.spawn("health", self.reporter.run)
        if self.alerter.enabled:
            sup.spawn("alerts", self.alerter.run)
        if self.options.status is not None:
            sup.spawn("status", self._status_loop)
        if not await self._unless_stopped(self._wait_ready(feed)):
            self._stop.set()
            return False
        # on_start has no hook timeout (it may load data for minutes): a stop still ends it
        started_ok = await self._unless_stopped(ctx.start())
        self._started = True
        if not started_ok:
            return True  # stopped during on_start
        if not await self._unless_stopped(self._warm_up(ctx)):
            return True  # stopped while replaying history
        if self.config.bot.gc_freeze:
            freeze_after_start()  # (a full collection held the loop ~24 ms: collector.py)
        started = self.alert_rules.started(self.mode, self.stats.strategy, self.products)
        self.alerter.send_all(self._across_restarts(started, None))
        sd = self.options.systemd
        if sd is not None and sd.enabled:  # systemd arms the watchdog at READY=1: start after
            sd.ready(self._sd_status())
            verdict = lambda: watchdog_verdict(self.assess_health())  # noqa: E731 - fresh
            sup.spawn("systemd", lambda: watchdog_loop(sd, verdict, self._sd_status))
        sup.spawn("driver", lambda: self._drive(ctx))
        if self.trading is not None and self.config.bot.venue != "prime":  # it has no status
            sup.spawn("trading-status", self.trading.run)
        days, executor = self.config.bot.journal_retention_days, self.executor
        if executor is not None:
            sup.spawn("journal-retention", lambda: retention_loop(executor, self.ledger, days))
        await self._wait_stop()
        self._stop.set()  # --duration ended: the health file says "stopping" from here on
        return True

    async def _warm_up(self, ctx: BotContext) -> None:
        """The strategy's declared history, replayed before live events (docs/data.md)."""
        from botkit.runtime.warmup import warm_up

        warmup, now = self.strategy_cls.warmup, self._clock.time
        await warm_up(ctx, warmup, self.products, self._history, now=now)

    def _http_server(self, ep: Endpoints) -> HttpServer | None:
        """The HTTP server when ``--http``, ``BOTKIT_HTTP__LISTEN`` or ``[http] listen`` asks."""
        env, toml = self.settings.http, self.config.http
        listen = self.options.http or env.listen or toml.listen
        if not listen:
            return None
        from botkit.monitor.bot_view import BotView  # here: a bot without [http] saves ~4 MB
        from botkit.monitor.http import HttpServer, control_token
        from botkit.monitor.metrics import BotMetrics

        secret = env.token or toml.token
        token = control_token(secret.get_secret_value() if secret else None, listen, self.root)
        # the venue as the operator knows it, and where it is (status page, ctl status)
        where = "the embedded simulator" if ep.sim is not None else ep.rest_url
        view = self.view = BotView(self, venue=f"{ep.venue} ({where})")
        metrics = self.metrics = BotMetrics(view.snapshot)
        return HttpServer(
            listen,
            token=token,
            snapshot=view.snapshot,
            control=view,
            metrics=metrics,
            refresh=toml.refresh,
            on_serve=(view.attach, view.detach),
        )

    def _sd_status(self) -> str:
        return f"{self.assess_health().verdict}: {self.stats.line()}"  # fresh, not cached

    def _order_failed(self, intent: OrderIntent, exc: BotkitError) -> None:
        """Alert when orders keep failing: auth, permissions, transport, missing funds
        (a business rejection, e.g. a post-only quote that would cross, is routine); a
        rejection that may mean the product's trading status changed has it read again."""
        if isinstance(exc, OrderRejected) and exc.reason in HINT_REASONS and self.trading:
            self.trading.hint(f"{intent.product_id}: rejected {exc.reason}")
        if isinstance(exc, OrderRejected) and not isinstance(exc, InsufficientFunds):
            return
        why, now = f"{type(exc).__name__}: {exc}", time.monotonic()
        coid, pid = intent.client_order_id, intent.product_id
        self.alerter.send_all(self.alert_rules.order_failed(coid, pid, why, now=now))

    def _trading_changed(self, status: TradingStatus) -> None:
        """A product's trading status changed at the venue: the operator hears of it, the
        strategy too (``on_trading_status``; one restricted at start: its first event)."""
        self.alerter.send_all(self.alert_rules.trading_status(status, now=time.monotonic()))
        self.events.push(TradingStatusChanged(status))
        self._wake.set()
        if self.paper is not None:  # paper fills as the venue would: the same mode refuses
            try:  # there what it refuses live (with respect_trading_status off, too)
                self.paper.exchange.set_trading_mode(
                    status.product_id, status.mode.value, status.message
                )
            except ValueError as exc:  # a product the paper account does not trade
                log.warning("paper: trading status of %s not applied: %s", status.product_id, exc)

    async def _startup_orders(self, executor: OrderExecutor, ctx: BotContext) -> None:
        """Resolve pending intents, reconcile with the exchange; tell the strategy the outcome.

        Runs before the strategy starts: intents the exchange refused at the re-send, and
        orders the exchange has that the journal did not know (adopted), become the
        strategy's orders and arrive as order updates right after its ``on_start``.
        """
        try:
            resolved = await executor.start()  # pending intents first, then anything new
        finally:  # also when a later intent's outcome stays unknown (start-up stops then)
            for placed in executor.startup.placed:  # an entry posted as the bot stopped:
                if placed.attached_order_id:  # its exit state learns the venue's TP/SL
                    ctx.exits.entry_resolved(placed.client_order_id, placed.attached_order_id)
        if resolved:
            log.warning("resolved %d pending intent(s) from the journal", len(resolved))
        recon = await executor.reconcile(self.products)
        for update in startup_updates(executor.startup, recon):
            ctx.adopt(
                update.client_order_id, product_id=update.product_id, side=update.side,
                known=update,
            )  # fmt: skip
            self.events.push(update)
        if self._read_back is not None and self.ledger is not None:
            tracker, backfill = self._read_back
            aliases = ctx.exits.attached_aliases()
            for order in recon.attached_exits:  # of entries the exit state does not know
                # (a lost or fresh data directory adopted the entry, and counts its fills):
                # its exit's fills count too, now and later in the run, or the position
                # shows what the exit sold
                if order.order_id in aliases:
                    continue
                alias = aliases[order.order_id] = f"attached:{order.order_id}"
                ctx.alias_order(order.order_id, alias, order.product_id, order.side)
                if self.ledger.mark(order.order_id) is None:  # a restart asks about it
                    self.ledger.opened(order.order_id, alias, order.product_id, order.side, "OPEN")
            missed = await read_back_fills(
                recon, self.ledger, tracker, backfill, executor.client.get_order, aliases
            )
            for event in missed:
                if isinstance(event, OrderUpdate):
                    pid, side = event.product_id, event.side
                    if event.order_id in aliases:  # an entry's attached exit
                        ctx.alias_order(event.order_id, event.client_order_id, pid, side)
                    else:
                        ctx.adopt(event.client_order_id, product_id=pid, side=side, known=event)
                self.events.push(event)
        refused, adopted = len(executor.startup.rejected), len(recon.adopted)
        if refused or adopted:
            log.warning("start-up: %d pending intent(s) refused by the exchange, %d order(s) "
                        "adopted; the strategy gets their updates", refused, adopted)  # fmt: skip

    async def _settle_unknown(self) -> int:
        """After a read-back: the strategy's orders whose create-order ended unknown. The
        update of one it ends goes through the driver's queue (hooks run one at a time)."""
        return await self.ctx.settle_unknown(self._queue) if self.ctx is not None else 0

    def _queue(self, event: OrderUpdate) -> None:
        self.events.push(event)
        self._wake.set()

    @staticmethod
    async def _settle_inflight(ctx: BotContext, executor: OrderExecutor) -> None:
        """Wait for the placements in flight; the context learns the order ids of those the
        exchange took (the strategy's own wait was cancelled with it)."""
        tasks = executor.inflight
        if tasks:
            await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled() and task.exception() is None:
                placed = task.result()
                ctx.placed_meanwhile(placed.client_order_id, placed.order_id)

    def _read_back_now(self, reason: str, listed: Sequence[OrderUpdate]) -> None:
        """The feed's read-back hook (a user (re)subscription, with what its snapshot
        listed; a gap, with ``()``): see ReadBackInRun."""
        if self.read_back_in_run is not None:
            log.debug("reading back the working orders (%s)", reason)
            self.read_back_in_run.request(listed)

    def _deadline(self) -> float | None:
        if self.options.duration is None:
            return None
        return self.options.duration - (time.perf_counter() - self._t0)

    async def _wait_stop(self) -> None:
        """Until :meth:`request_stop`, a fatal error, or the end of ``--duration``."""
        try:
            async with asyncio.timeout(self._deadline()):
                await self._stop.wait()
        except TimeoutError:
            self._stop_reason = self._stop_reason or (
                f"--duration {self.options.duration:g} s ended"
            )

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

    async def _product_limits(
        self, ep: Endpoints, trading: TradingWatch
    ) -> dict[str, ProductLimits]:
        """Each product's minimum size and ticks, which the strategy's exits are checked on,
        and its trading status (to ``trading``, the risk gate's).

        One public products request at start-up; if it fails, exits are checked without
        them (an ``Offset.ticks`` is then refused with its fix) rather than not starting.
        A product the venue does not list stops the start (exit 2, named): it waited for
        market data that never comes, then said "the venue is unreachable" (exit 1).
        """
        try:
            rules = await fetch_product_rules(ep, self.products)
            trading.apply(rules)
            return limits_from_rules(rules)
        except ConfigError as exc:
            raise ConfigError(
                f"{exc}: check [bot] products and the strategy's product_id (Coinbase "
                "writes them BASE-QUOTE in capitals, e.g. BTC-USD)"
            ) from None
        except (BotkitError, OSError, ValueError) as exc:
            log.warning("product rules unavailable (%s): exits are not checked on them", exc)
            return {}

    async def _open_paper(
        self, ep: Endpoints, root: Path, feed: MarketDataFeed, fills: FillTracker
    ) -> PaperBroker:
        """The paper account (resumed from ``root/paper.sqlite`` if a session is there)."""
        from botkit.paper.setup import build_broker

        rules = await fetch_product_rules(ep, self.products)
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
            fills=fills,
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
        client: OrderClient,
    ) -> None:
        """Stop the components, then on_stop, optional cancel-all, and close everything.

        Every step is bounded in time and a failing or slow step is logged and does not
        keep the next ones from running: the journal is always closed (flushed).
        """
        if self.options.systemd is not None:
            self.options.systemd.stopping("stopping")  # systemd stops watching the watchdog
        await self.supervisor.close(within=5.0)
        if self.read_back_in_run is not None:  # before on_stop and a cancel-on-exit: no
            # settle may re-send an order after them
            await self._step("read-back stop", self.read_back_in_run.close(), 5.0)
        if started:
            await self._step("strategy on_stop", ctx.stop(), 10.0)
        if self.options.cancel_on_exit:
            # a placement still in flight when the strategy stopped is answered first, or
            # the cancel-all misses it (an operator QA pass found orders left working)
            await self._step("placements in flight", self._settle_inflight(ctx, executor), 10.0)
            n = await self._step("cancel open orders", ctx.cancel_all(), 10.0)
            if n is not None:
                self.stats.cancelled_on_exit = n
                log.info("cancelled %d open order(s) on exit", n)
        await self._step("feed stop", feed.stop(), 5.0)
        # the executor first: a placement answered while it waits for it gets its ledger
        # mark (on_placed), so the ledger must still be open
        await self._step("journal close", executor.close(), 10.0)  # every outcome written
        if self.ledger is not None:
            self.ledger.close()  # every counted fill is committed already
        await self._step("REST client close", client.close(), 5.0)
        cause = self._fatal if self._fatal is not None else self._failed
        if cause is None:
            alert = self._across_restarts(
                self.alert_rules.stopped(self._stop_reason or "stopped", None), None
            )
        else:  # a config error at start exits 2 (no restart), any other failure 1
            code = 2 if isinstance(cause, ConfigError) else 1
            alert = self.alert_rules.stopped("error", str(cause), exit_code=code)
            if code == 1:  # restarted by a service manager: maybe again and again
                alert = self._across_restarts(alert, str(cause))
        self._stopped_alert = True
        self.alerter.send_all(alert)
        await self.alerter.flush(within=5.0)
        if self.paper is not None:
            with contextlib.suppress(JournalError):  # already reported: stopping for it
                self.paper.sample_equity(self._clock.time())
            self.paper.journal.close()

    def _killed_before(self, pid: int) -> None:
        error = killed_error(pid)
        log.warning("the run before this one was killed: %s", error)
        self.alerter.send_all(self._across_restarts(self.alert_rules.killed(pid), error))

    def _across_restarts(self, alerts: list[Alert], error: str | None) -> list[Alert]:
        """A start or stop alert, gated by the runs before this one (a bot restarted
        after each failure says so once an hour, not at every restart: see
        :func:`~botkit.monitor.alert_rules.after_restart`); only with alerts on."""
        if not self.alerter.enabled:
            return alerts
        rules = self.alert_rules
        return gate_across_restarts(
            alerts, error, self.root, wall=self._clock.time(), repeat_after=rules.repeat_after
        )

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
            if self.view is not None:
                self.view.on_event(event)
            if isinstance(event, OrderUpdate) and self.executor is not None:
                self.executor.on_order_update(event)
                event = self.executor.named(event)
            elif isinstance(event, FillEvent) and self.executor is not None:
                event = self.executor.named(event)
            self.events.push(event)
            self._wake.set()
            if self.paper is not None:  # after queueing: a fill it causes follows the print
                # a JournalError was reported by the journal itself: the runtime is stopping
                with contextlib.suppress(JournalError):
                    self.paper.on_market_event(event)
        elif isinstance(event, FeedErrorReceived | SequenceGapDetected):
            self._feed_trouble(event)
        elif isinstance(event, StatusReceived) and self.trading is not None:
            self.trading.on_status_message(event.products)
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
                self.refresh_stats()
                status.show(self.stats.line())
            await asyncio.sleep(1.0)
