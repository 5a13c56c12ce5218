"""``botkit record``: capture a market-data session for replay (adapter ring).

A recording is the feed's own raw capture (:mod:`botkit.market.recorder`: every frame as
received, with its receive time and the connection events) preceded by one ``meta``
record holding the products' trading rules (increments, minimums), so a backtest
needs no exchange at all. The same feed code that trades live does the capturing:
a recording is exactly what the bot saw, gaps and reconnects included.

Sources:

* ``coinbase`` — Coinbase's public market data (unauthenticated unless a key is
  configured, in which case subscribes are signed);
* ``sim`` — the embedded simulator, offline (how the repo's sample session was made).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botkit.auth.clock import SystemClock
from botkit.auth.factory import make_jwt_signer
from botkit.errors import ConfigError
from botkit.market.config import FeedConfig
from botkit.market.feed import MarketDataFeed
from botkit.market.recorder import FLUSH_EVERY, Recorder
from botkit.paper.setup import fetch_rules
from botkit.runtime.settings import BotSettings
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol

__all__ = ["RecordOptions", "RecordResult", "record_session", "run_record"]

log = logging.getLogger("botkit.cli.record")

DEFAULT_CHANNELS = ("level2", "market_trades", "ticker", "candles")


@dataclass(frozen=True)
class RecordOptions:
    """What to record.

    Attributes:
        products: product ids to subscribe.
        out: the ``.jsonl.gz`` file (appended to if it exists: gzip members concatenate,
            but a replay expects one session per file, so the CLI refuses to overwrite).
        source: ``coinbase`` or ``sim``.
        duration: seconds to record (None: until SIGINT/SIGTERM).
        channels: market channels (``heartbeats`` is always added).
        seed: the simulator's seed (``sim`` source).
        tick_interval: the simulator's market step (``sim`` source).
    """

    products: tuple[str, ...]
    out: Path
    source: str = "coinbase"
    duration: float | None = None
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    seed: int = 1
    tick_interval: float = 0.1


@dataclass(frozen=True)
class RecordResult:
    """What a finished recording holds."""

    path: Path
    frames: int
    seconds: float
    bytes: int


@dataclass(frozen=True)
class _Source:
    rest_url: str
    ws_url: str
    ca_file: Path | None
    signer: Any


@contextlib.asynccontextmanager
async def _open_source(options: RecordOptions, settings: BotSettings) -> AsyncIterator[_Source]:
    if options.source == "sim":
        from botkit.sim.server import SimServer

        async with SimServer(seed=options.seed, tick_interval=options.tick_interval) as sim:
            signer = make_jwt_signer(sim.add_key("ES256"), settings, clock=SystemClock())
            yield _Source(sim.rest_url, sim.ws_market_url, sim.cert_path, signer)
    elif options.source == "coinbase":
        cb = settings.coinbase
        signer = None
        if cb.key_file or cb.api_key or settings.coinbase_api_key:  # signed if a key is set
            from botkit.auth.factory import resolve_cdp_key

            signer = make_jwt_signer(resolve_cdp_key(settings), settings, clock=SystemClock())
        yield _Source(cb.rest_url, cb.ws_market_url, None, signer)
    else:
        raise ConfigError(f"unknown source {options.source!r}; use coinbase or sim")


async def record_session(
    options: RecordOptions, settings: BotSettings, *, stop: asyncio.Event | None = None
) -> RecordResult:
    """Record until ``duration`` elapses or ``stop`` is set; return what was written.

    Raises:
        ConfigError: an unknown source or product, or an output file that already exists.
    """
    if not options.products:
        raise ConfigError("--products needs at least one product id, e.g. BTC-USD")
    if options.out.exists():
        raise ConfigError(f"{options.out} already exists; choose a new file (one session each)")
    options.out.parent.mkdir(parents=True, exist_ok=True)
    stop = stop or asyncio.Event()
    t0 = time.monotonic()
    async with _open_source(options, settings) as source:
        rules = await fetch_rules(source.rest_url, options.products, ca_file=source.ca_file)
        recorder = Recorder(options.out)
        recorder.meta("products", rules)
        recorder.meta(
            "session",
            {"source": options.source, "products": list(options.products),
             "channels": list(options.channels)},
        )  # fmt: skip
        feed = MarketDataFeed(
            FeedConfig(
                market_url=source.ws_url,
                products=options.products,
                channels=options.channels,
                ca_file=source.ca_file,
            ),
            protocol=FeedProtocol,  # recordings are of Advanced Trade's wire frames
            signer=source.signer,
            recorder=recorder,
        )
        async with feed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(options.duration):
                    while not stop.is_set():  # a quiet feed's last frames reach the file too
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), FLUSH_EVERY)
                        recorder.flush()
        frames = recorder.frames  # the feed closed the recorder on stop
    return RecordResult(options.out, frames, time.monotonic() - t0, options.out.stat().st_size)


def run_record(options: RecordOptions, settings: BotSettings) -> RecordResult:
    """Blocking entry for the CLI: SIGINT/SIGTERM end the recording cleanly."""

    async def main() -> RecordResult:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await record_session(options, settings, stop=stop)

    return asyncio.run(main())
