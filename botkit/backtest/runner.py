"""``botkit backtest``: replay a recorded session through the real bot, on a virtual clock.

The replay does not re-implement anything: recorded frames go through the same
venue protocol (:class:`~botkit.venues.advanced_trade.ws_protocol.FeedProtocol`: decoding,
sequence checks, L2 books) as live, events reach the strategy through the same dispatch
rules as the runtime, orders go through the same context, risk gate, executor, signer
and REST client, and fill against the same paper broker as ``--mode paper``. Only the
clock differs: it
is set to each record's receive time, so timers, latency and the daily loss window
all run on market time.

Determinism: everything happens inline in one task — a frame is decoded, the paper
exchange sees it, the strategy's hooks run to completion (orders included, answered
in-process), the resulting user events are delivered, due timers fire — before the
next record is read. Order ids come from seeded generators. So the same recording,
config and code give byte-identical journals (``PaperJournal.dump()``), which a test
checks.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
import uuid
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import msgspec

from botkit.clock import ManualClock
from botkit.errors import ConfigError
from botkit.market.book import L2Book
from botkit.market.events import (
    BookChanged,
    FeedEvent,
    FillEvent,
    OrderUpdate,
    TradesReceived,
)
from botkit.market.requests import Subscription
from botkit.orders.executor import OrderExecutor
from botkit.orders.journal import OrderJournal
from botkit.paper.broker import PaperBroker
from botkit.paper.setup import build_broker, paper_client
from botkit.risk.gate import RiskGate
from botkit.runtime.bot_config import BotConfig
from botkit.runtime.dispatch import (
    STRATEGY_TYPES,
    CountingSink,
    dispatch_batch,
    dispatch_ready,
)
from botkit.runtime.settings import BotSettings
from botkit.runtime.ui import RunStats
from botkit.strategy.context import BotContext
from botkit.strategy.exits import limits_from_rules
from botkit.strategy.loader import build_params, create_strategy, load_strategy
from botkit.strategy.ports import MarketState, MarketView, OrderSink
from botkit.strategy.state import JsonState
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol

__all__ = [
    "Backtest",
    "BacktestResult",
    "Progress",
    "Recording",
    "deliver",
    "read_record_blocks",
    "read_records",
]

log = logging.getLogger("botkit.backtest.runner")


class Record(msgspec.Struct):
    """One line of a recording (see :mod:`botkit.market.recorder`)."""

    t: float
    kind: str
    conn: str = ""
    data: Any = None
    meta: str = ""
    code: int | None = None
    detail: str = ""
    v: int = 1


_record_decoder = msgspec.json.Decoder(Record)
_decode_record = _record_decoder.decode


_READ = 1 << 18  # compressed bytes per read: ~4 MB of recording text per inflate call
_META_CHUNK = 1 << 16  # text bytes per block when only the leading meta records are read


def _gunzip_blocks(path: Path, chunk: int) -> Generator[tuple[bytes, int], None, None]:
    """Yield ``(decompressed block, compressed bytes read so far)`` of a gzip file.

    Inflates with :mod:`zlib` directly, at most ``chunk`` bytes of output per block: no
    :class:`gzip.GzipFile` layers (8 KiB reads, Python calls per piece). Members are
    read one after another (the recorder appends one per session; zero padding between
    them is skipped, as ``gzip`` does); zlib checks each member's CRC. A file that ends
    inside a member yields what is complete and logs a warning (a recorder killed
    mid-write).

    Raises:
        OSError: the file cannot be read.
        zlib.error: it is not gzip, or is corrupt.
    """
    with path.open("rb") as raw:
        inflater = zlib.decompressobj(wbits=31)
        started = False  # the current inflater has been given bytes of a member
        pending = b""
        while True:
            if not pending:
                pending = raw.read(_READ)
                if not pending:
                    if started:
                        log.warning("%s ends abruptly; replaying the complete records", path)
                    return
            if not started:
                pending = pending.lstrip(b"\0")
                if not pending:
                    continue
                started = True
            block = inflater.decompress(pending, chunk)
            pending = inflater.unconsumed_tail
            if inflater.eof:  # the end of a member: another may follow
                pending = inflater.unused_data
                inflater = zlib.decompressobj(wbits=31)
                started = False
            if block:
                yield block, raw.tell()


def read_records(path: Path, *, chunk: int = 1 << 22) -> Generator[tuple[Record, int], None, None]:
    """Yield ``(record, compressed bytes read so far)`` for a gzip JSON-lines recording.

    The records of :func:`read_record_blocks`, one by one.

    Raises:
        ConfigError: the file is missing, not gzip, or has a line that is not a record.
    """
    blocks = read_record_blocks(path, chunk=chunk)
    try:
        for records, pos in blocks:
            for rec in records:
                yield rec, pos
    finally:
        blocks.close()


def read_record_blocks(
    path: Path, *, chunk: int = 1 << 22
) -> Generator[tuple[list[Record], int], None, None]:
    """Yield ``(records, compressed bytes read so far)`` for a gzip JSON-lines recording,
    the records of one inflated block at a time, in file order.

    Decompresses in blocks of ``chunk`` bytes and decodes each block's complete lines
    in one ``msgspec`` call (``decode_lines``: no ``bytes`` object and no Python step per
    line; blank lines are skipped). ``readline`` on a gzip file cost more than decoding
    the record. (Inflating in a thread ahead of the loop was tried: zlib runs without
    the GIL, but on a loaded 2-core machine the replay got no faster, and parallel
    research runs leave no core free anyway.) The replay loops over each block's list
    itself: a generator step and a tuple per record were ~0.15 us of its ~18 us.

    Raises:
        ConfigError: the file is missing, not gzip, or has a line that is not a record.
    """
    if not path.is_file():
        raise ConfigError(f"recording {path} does not exist (make one with `botkit record`)")
    decode_lines = _record_decoder.decode_lines
    blocks = _gunzip_blocks(path, chunk)
    try:
        tail = b""
        for k, (block, pos) in enumerate(blocks):
            buf = tail + block if tail else block
            end = buf.rfind(b"\n") + 1
            tail = buf[end:]
            if not end:
                continue
            whole = memoryview(buf)[:end]
            try:
                records = decode_lines(whole)
            except msgspec.DecodeError:
                # the lines before this block are counted only now (a tail holds none):
                # counting every block as it passed cost ~4 % of a replay
                before = sum(b.count(b"\n") for b, _ in islice(_gunzip_blocks(path, chunk), k))
                raise _bad_line(path, bytes(whole), before) from None
            yield records, pos
        if tail.strip():
            log.warning("%s: the last line is cut off; ignored", path)
    except (OSError, zlib.error) as exc:
        raise ConfigError(f"{path} is not a readable gzip recording: {exc}") from None
    finally:
        blocks.close()


def _bad_line(path: Path, lines: bytes, lines_before: int) -> ConfigError:
    """The error for the first line of ``lines`` that is not a record (found line by line)."""
    for i, line in enumerate(lines.split(b"\n"), lines_before + 1):
        if not line.strip():
            continue
        try:
            _decode_record(line)
        except msgspec.DecodeError as exc:
            return ConfigError(f"{path}: line {i} is not a botkit record: {exc}")
    return ConfigError(f"{path}: lines {lines_before + 1}.. are not botkit records")


@dataclass
class Recording:
    """A recording's metadata: the product rules and what was subscribed."""

    path: Path
    rules: list[dict[str, Any]]
    products: list[str]
    channels: list[str]
    start: float
    size: int

    @classmethod
    def open(cls, path: Path) -> Recording:
        """Read the leading ``meta`` records (product rules, session) of ``path``.

        Raises:
            ConfigError: no product rules in the file (not made by ``botkit record``).
        """
        rules: list[dict[str, Any]] = []
        session: dict[str, Any] = {}
        start = None
        # small blocks: the meta records lead the file, and the default 4 MiB block would be
        # inflated and decoded whole for them (~8 ms, 2 % of a 21 k-record replay)
        for rec, _ in read_records(path, chunk=_META_CHUNK):
            if rec.kind != "meta":
                start = rec.t
                break
            if rec.meta == "products":
                rules = list(rec.data)
            elif rec.meta == "session":
                session = dict(rec.data)
        if not rules or start is None:
            raise ConfigError(
                f"{path} has no product rules or no data: record sessions with `botkit record`"
            )
        products = session.get("products") or [str(r["product_id"]) for r in rules]
        channels = session.get("channels") or ["level2", "market_trades"]
        return cls(path, rules, list(products), list(channels), start, path.stat().st_size)


@dataclass(frozen=True)
class Progress:
    """Where a replay is (for the progress bar)."""

    records: int
    level_updates: int
    fraction: float
    wall: float


@dataclass
class BacktestResult:
    """What a replay produced."""

    journal_path: Path
    stats: RunStats
    records: int = 0
    frames: int = 0
    level_updates: int = 0
    market_seconds: float = 0.0
    wall_seconds: float = 0.0
    replay_seconds: float = 0.0  # the record loop alone (wall_seconds includes set-up)
    client_order_ids: list[str] = field(default_factory=list)


class Backtest:
    """One replay of ``data`` with ``config``'s strategy, risk limits and ``[paper]`` account.

    Args:
        config: the bot config (``[bot].products`` must be in the recording).
        settings: botkit settings (only JWT options matter: no network is used).
        data: the recording.
        out_dir: where the journals and strategy state go (emptied first: a backtest
            always starts from the configured portfolio).
        progress: called every few thousand records (a TTY progress bar).
        strategies_dir: where shipped strategies are looked up by name.
    """

    def __init__(
        self,
        config: BotConfig,
        settings: BotSettings,
        data: Path,
        out_dir: Path,
        *,
        progress: Callable[[Progress], None] | None = None,
        strategies_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.recording = Recording.open(data)
        self.out_dir = out_dir
        self.progress = progress
        self.strategy_cls = load_strategy(
            config.strategy or "market_maker", strategies_dir=strategies_dir
        )
        build_params(self.strategy_cls, config.params)
        missing = [p for p in config.products() if p not in self.recording.products]
        if missing:
            raise ConfigError(
                f"{data} has no data for {', '.join(missing)} "
                f"(it holds {', '.join(self.recording.products)})"
            )
        self.stats = RunStats(
            mode="backtest",
            strategy=self.strategy_cls.strategy_name(),
            products=config.products(),
        )
        self._pending: list[FeedEvent] = []
        self._ids: list[str] = []

    def _protocol(self, conn: str, books: dict[str, L2Book]) -> FeedProtocol:
        products = tuple(self.recording.products)
        subs = [Subscription(ch, products) for ch in self.recording.channels]
        return FeedProtocol(conn, subs, books=books)

    async def run(self) -> BacktestResult:
        """Replay the whole recording; return the counts and the journal's path."""
        wall0 = time.perf_counter()
        rec_info = self.recording
        shutil.rmtree(self.out_dir, ignore_errors=True)
        self.out_dir.mkdir(parents=True)
        clock = ManualClock(rec_info.start)
        books: dict[str, L2Book] = {}
        broker = build_broker(
            self.config,
            rec_info.rules,
            books,
            self.out_dir / "paper.sqlite",
            now=clock.time,
            on_event=self._pending.append,
            durable=False,
            meta={"mode": "backtest", "strategy": self.stats.strategy, "data": rec_info.path.name},
        )
        client, executor, ctx = wire(
            self.config,
            self.settings,
            broker,
            clock,
            self.out_dir,
            self.stats.strategy,
            lambda executor: CountingSink(executor, self.stats, self._ids),
            MarketState(books),
            rec_info.rules,
        )
        create_strategy(self.strategy_cls, ctx, self.config.params)
        await executor.start()
        result = BacktestResult(self.out_dir / "paper.sqlite", self.stats)
        try:
            await self._replay(ctx, executor, broker, clock, books, result)
            broker.flush()
            broker.sample_equity(clock.time())
        finally:
            await executor.close()
            await client.close()
            broker.journal.close()
        result.level_updates = sum(b.updates for b in books.values())
        result.market_seconds = clock.time() - rec_info.start
        result.wall_seconds = time.perf_counter() - wall0
        result.client_order_ids = list(self._ids)
        return result

    async def _replay(
        self,
        ctx: BotContext,
        executor: OrderExecutor,
        broker: PaperBroker,
        clock: ManualClock,
        books: dict[str, L2Book],
        result: BacktestResult,
    ) -> None:
        protocols: dict[str, FeedProtocol] = {}
        wanted = self.config.products()
        started = False
        size = max(self.recording.size, 1)
        wall0 = time.perf_counter()
        pending = self._pending
        stats = self.stats
        progress = self.progress
        exchange = broker.exchange
        on_market = broker.on_market_event
        flush = broker.flush
        timers = ctx.timers
        now, set_now = clock.time, clock.set
        conn, proto = "", None
        frames = n = 0
        for records, pos in read_record_blocks(self.recording.path):
            for rec in records:
                n += 1
                kind = rec.kind
                if kind == "meta":
                    continue
                t = rec.t
                if t > now():
                    set_now(t)
                exchange.advance(t)  # what fell due (latency, expiries) before this record
                if rec.conn != conn or proto is None:
                    conn = rec.conn
                    proto = protocols.get(conn)
                    if proto is None:
                        proto = protocols[conn] = self._protocol(conn, books)
                if kind == "frame" or kind == "binary":
                    frames += 1
                    events = proto.receive(rec.data)
                elif kind == "connected":
                    events = proto.connection_opened()
                else:  # closed, stale, connect_failed: the recorded connection went away
                    events = proto.connection_lost(rec.detail or kind)
                # the protocol's list (new per call) goes to the strategy as it is unless
                # an event is not for it (a heartbeat): no list per record
                batch: list[FeedEvent] | None = events
                for event in events:
                    cls = type(event)
                    if cls is BookChanged or cls is TradesReceived:
                        on_market(event, flush=False)
                    elif cls not in STRATEGY_TYPES:
                        batch = None
                flush()  # once per record: journal, user events, equity
                if not started:
                    if all(p in books and books[p].valid for p in wanted):
                        await ctx.start()
                        started = True
                    else:
                        await self._deliver(ctx, executor, started)
                        continue
                if batch is None:
                    batch = [e for e in events if type(e) in STRATEGY_TYPES]
                if batch:
                    rest = dispatch_ready(ctx, batch, stats)
                    if rest is not None:
                        await rest
                if pending:
                    await self._deliver(ctx, executor, started)
                if timers:
                    await ctx.fire_timers()
                    if pending:
                        await self._deliver(ctx, executor, started)
                if progress is not None and n % 4096 == 0:
                    updates = sum(b.updates for b in books.values())
                    progress(Progress(n, updates, pos / size, time.perf_counter() - wall0))
        result.records = n
        result.frames = frames
        result.replay_seconds = time.perf_counter() - wall0
        if started:
            await ctx.stop()

    async def _deliver(self, ctx: BotContext, executor: OrderExecutor, started: bool) -> None:
        await deliver(self._pending, ctx, executor, self.stats, to_strategy=started)


def wire(
    config: BotConfig,
    settings: BotSettings,
    broker: PaperBroker,
    clock: ManualClock,
    out_dir: Path,
    strategy: str,
    sink: Callable[[OrderExecutor], OrderSink],
    market: MarketView,
    rules: list[dict[str, Any]],
) -> tuple[RestClient, OrderExecutor, BotContext]:
    """A backtest's order path and strategy context, the same for recordings and candles.

    ``rules``: the products' rules (the recording's, the candle series'), from which the
    context knows each product's ticks and minimum size, as the runtime's does from the
    venue: without them an exit's ``Offset.ticks`` was refused in every backtest and its
    prices were rounded by how the price happened to be written (a QA pass).

    The paper client reports ``[bot] venue``'s native exits (as in paper and live), the
    intent journal is not fsynced and runs inline (a backtest is re-run, not recovered),
    timers run on the data's time (``monotonic`` too: replays stay exact) and order ids
    come from ``[paper] seed``, so the same data, config and code give the same journals.
    """
    client = paper_client(broker, settings, clock, unlimited=True, venue=config.bot.venue)
    journal = OrderJournal(out_dir / "journal.sqlite", synchronous="OFF", wall=clock.time)
    executor = OrderExecutor(client, journal, wall=clock.time, inline_io=True)
    ids = random.Random(config.paper.seed)
    ctx = BotContext(
        strategy,
        sink(executor),
        market,
        clock=clock,
        risk=RiskGate(config.risk, out_dir / "kill_switch.json", wall=clock.time),
        state=JsonState(out_dir / "state" / f"{strategy}.json"),
        balances=broker.balances(),
        guard=config.guard,
        guard_clock=clock,
        monotonic=clock.time,
        new_id=lambda: str(uuid.UUID(int=ids.getrandbits(128), version=4)),
        product_limits=limits_from_rules(rules),
    )
    return client, executor, ctx


async def deliver(
    pending: list[FeedEvent],
    ctx: BotContext,
    executor: OrderExecutor,
    stats: RunStats,
    *,
    to_strategy: bool = True,
) -> None:
    """A backtest's user events from the paper broker: the executor first, then the
    strategy (unless it has not started), in order — as the runtime delivers them.

    Delivering can place orders, which can produce more events: loop until quiet.
    """
    while pending:
        batch = pending[:]
        pending.clear()
        for i, event in enumerate(batch):
            if type(event) is OrderUpdate:
                executor.on_order_update(event)
                batch[i] = executor.named(event)
            elif type(event) is FillEvent:  # the runtime's rule: id-only messages named
                batch[i] = executor.named(event)
        if to_strategy:
            await dispatch_batch(ctx, batch, stats)
