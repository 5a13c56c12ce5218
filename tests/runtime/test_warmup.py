"""Warm-up from history: the declared candles come from the simulator's public candles
endpoint (the runtime's own wiring, a real REST client), go through ``on_candle`` with
``ctx.warming_up`` set and every order refused, then orders are accepted; a fetch that
keeps failing is retried with a doubling delay and the bot starts without it; and
``ema_cross`` trades within seconds of a ``botkit run`` in sim mode."""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.errors import StrategyError
from botkit.history.ranges import closed_end
from botkit.history.store import series_dir, store_candles
from botkit.market.types import Candle
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.journal import OrderJournal
from botkit.runtime.settings import BotSettings
from botkit.runtime.venue import Endpoints, candle_history
from botkit.runtime.warmup import CandleHistory, dataset_history, warm_up
from botkit.sim.server import SimServer
from botkit.strategy.base import Strategy
from botkit.strategy.context import BotContext
from botkit.strategy.loader import create_strategy
from botkit.strategy.ports import ExecutorSink, MarketState
from botkit.strategy.warmup import Warmup
from botkit.venues.advanced_trade.rest_client import RestClient
from tests.botproc import placed_lines, run_until_placed

PRODUCT = "BTC-USD"


class Recorder(Strategy):
    """Tries to buy on every candle; records what it saw and what was refused."""

    warmup = Warmup(candles=30, granularity="ONE_MINUTE")

    def on_start(self) -> None:
        self.seen: list[Candle] = []
        self.flags: list[bool] = []
        self.refused: list[str] = []

    async def on_candle(self, candle: Candle) -> None:
        self.seen.append(candle)
        self.flags.append(self.ctx.warming_up)
        try:
            await self.ctx.buy_market(PRODUCT, base_size=Decimal("0.001"))
        except StrategyError as exc:
            self.refused.append(str(exc))


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=11, tick_interval=0.05) as server:
        yield server


@pytest.fixture
async def ctx(sim: SimServer, tmp_path: Path) -> AsyncIterator[BotContext]:
    clock = SystemClock()
    client = RestClient(
        sim.rest_url,
        JwtSigner(sim.add_key("ES256"), clock=clock, nonce=secrets.token_hex),
        clock=clock,
        policy=RetryPolicy().scaled(0.001),
        rng=random.Random(3),
        limiter=RateLimiter(float("inf"), float("inf")),
    )
    executor = OrderExecutor(client, OrderJournal(tmp_path / "journal.sqlite"))
    yield BotContext("recorder", ExecutorSink(executor), MarketState(), clock=clock)
    await executor.close()
    await client.close()


def history_of(sim: SimServer) -> CandleHistory:  # the runtime's wiring, on the sim's
    ep = Endpoints("sim", sim.rest_url, sim.ws_market_url, sim.ws_user_url, None, sim=sim)
    return candle_history(ep, BotSettings())


async def started(ctx: BotContext) -> Recorder:
    strategy = create_strategy(Recorder, ctx, {})
    await ctx.start()
    assert isinstance(strategy, Recorder)
    return strategy


async def test_history_is_replayed_with_orders_refused_then_orders_go(
    sim: SimServer, ctx: BotContext
) -> None:
    strategy = await started(ctx)
    report = await warm_up(ctx, Recorder.warmup, [PRODUCT], history_of(sim), now=time.time)
    assert report.candles == {PRODUCT: 30} and report.error is None
    end = closed_end(time.time(), 60)
    starts = [int(c.start) for c in strategy.seen]
    assert starts == list(range(starts[0], starts[0] + 30 * 60, 60))  # oldest first, no gap
    assert end - 60 <= starts[-1] + 60 <= end + 60  # the last *closed* minute (a minute may turn)
    truth = sim.exchange.candles(PRODUCT, starts[0], starts[-1] + 60, 60)[::-1]
    assert [(c.start, str(c.close), str(c.volume)) for c in strategy.seen] == [
        (t["start"], t["close"], t["volume"]) for t in truth
    ]
    assert strategy.flags == [True] * 30
    assert len(strategy.refused) == 30 and "warming up" in strategy.refused[0]
    assert sim.exchange.list_orders("default", {}) == []  # nothing reached the exchange
    assert ctx.warming_up is False
    coid = await ctx.buy_market(PRODUCT, base_size=Decimal("0.001"))  # live: accepted
    assert [o["client_order_id"] for o in sim.exchange.list_orders("default", {})] == [coid]


async def test_a_failing_history_endpoint_is_retried_then_the_bot_starts_without(
    sim: SimServer, ctx: BotContext
) -> None:
    strategy = await started(ctx)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # the retry delays, recorded instead of slept
        waits.append(seconds)

    sim.faults.fail_next(403, 3, path="candles")  # three attempts, three refusals
    report = await warm_up(
        ctx, Recorder.warmup, [PRODUCT], history_of(sim), now=time.time, sleep=sleep
    )
    assert report.candles == {} and report.error is not None  # the cause, for the log
    assert waits == [1.0, 2.0] and strategy.seen == [] and ctx.warming_up is False

    sim.faults.fail_next(403, 1, path="candles")  # one refusal: the retry replays it all
    report = await warm_up(
        ctx, Recorder.warmup, [PRODUCT], history_of(sim), now=time.time, sleep=sleep
    )
    assert waits == [1.0, 2.0, 1.0]
    # 30, or 29 when the simulator's first minute (made-up history up to its start, live
    # trades after) had no trade on a loaded machine: Coinbase omits empty buckets too
    assert report.candles[PRODUCT] in (29, 30) and len(strategy.seen) == report.candles[PRODUCT]


async def test_ema_cross_trades_within_seconds_of_a_sim_run(tmp_path: Path) -> None:
    # stopped (SIGTERM) at its first order; --duration only bounds a run that never trades
    run = await run_until_placed(
        ["run", "--strategy", "ema_cross", "--duration", "30", "--data-dir", str(tmp_path)],
        tmp_path,
        placed=1,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    msgs = [str(d.get("msg", "")) for d in run.lines]
    warm = next(i for i, m in enumerate(msgs) if m.startswith("warm-up: replayed 60 FIVE_MINUTE"))
    ready = next(d for d in run.lines if str(d.get("msg", "")).startswith("feed ready"))
    first = placed_lines(run.lines)[0]
    assert msgs.index(first["msg"]) > warm  # after the replay, never during it
    assert first["ts"] - ready["ts"] < 10.0  # seconds, not 100 minutes of live candles


async def test_a_backtest_warms_up_from_a_downloaded_dataset(
    ctx: BotContext, tmp_path: Path
) -> None:
    now = 1_767_225_600 + 45 * 60 + 17  # 2026-01-01 00:45:17Z: 00:44 is the last closed minute
    rows = [(1_767_225_600 + 60 * i, "1.0", "2.0", "0.5", f"1.{i}", "3") for i in range(50)]
    directory = series_dir(tmp_path, PRODUCT, "ONE_MINUTE")
    store_candles(directory, "ONE_MINUTE", [((rows[0][0], rows[-1][0] + 60), rows)])
    strategy = await started(ctx)
    report = await warm_up(
        ctx, Recorder.warmup, [PRODUCT], dataset_history(tmp_path), now=lambda: now
    )
    assert report.candles == {PRODUCT: 30}
    assert [c.close for c in strategy.seen] == [Decimal(f"1.{i}") for i in range(15, 45)]
    assert len(strategy.refused) == 30
