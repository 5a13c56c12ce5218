"""The three shipped strategies, each run through the real runtime against the simulator.

Each run is the same code path as ``botkit run`` in sim mode (embedded simulator, signed
REST, feed with the user channel, executor with a journal, risk gate, guard), stopped as
soon as the outcome under test is seen (``duration`` only bounds it). The simulator's own order list is the evidence: the orders exist there, so
they were signed (the simulator verifies every JWT) and accepted, and their sizes, prices
and the resulting position stay within the configured risk limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from botkit.runtime.bot import BotRuntime, RunOptions, RunResult
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.health import Health
from botkit.runtime.settings import BotSettings, load_settings
from botkit.runtime.ui import RunStats
from botkit.sim.ws import WsConfig
from botkit.venues.advanced_trade.rest_client import RestClient

RISK: dict[str, str | int] = {
    "max_order_notional": "150",
    "max_position": "0.002",
    "max_open_orders": 3,
    "price_band_pct": "2",
    "daily_loss_limit": "100",
}


BOUND = 40.0  # seconds: only bounds a run whose outcome never comes (the test then fails)


def traded(stats: RunStats) -> bool:
    return stats.orders > 0


async def run_strategy(
    name: str,
    params: dict[str, Any],
    tmp_path: Path,
    until: Callable[[RunStats], bool] = traded,
    settings: BotSettings | None = None,
    runtime: list[BotRuntime] | None = None,
) -> RunResult:
    """Run until ``until(stats)`` holds at a health tick (about every second), then stop.

    Stopping on the outcome, not after a fixed number of real seconds, keeps the test
    independent of the machine's speed: a slow box just takes more ticks to get there.
    """
    config = parse_bot_config(
        {"bot": {"sim_seed": 7}, "strategy": {"name": name, "params": params}, "risk": RISK}
    )
    box: list[BotRuntime] = []

    def on_health(_: Health) -> None:
        if until(box[0].stats):
            box[0].request_stop()

    options = RunOptions(
        duration=BOUND,
        data_dir=tmp_path,
        install_signals=False,
        sim_tick_interval=0.05,
        sim_ws=WsConfig(candles_interval=0.05, heartbeat_interval=0.2),
        on_health=on_health,
    )
    rt = BotRuntime(config, settings or load_settings(env_file=None), options)
    box.append(rt)
    if runtime is not None:
        runtime.append(rt)
    async with asyncio.timeout(BOUND + 15):
        result = await rt.run()
    assert until(result.stats), result.stats  # reached, not cut off by BOUND
    return result


def assert_traded_within_limits(result: RunResult) -> None:
    assert result.sim is not None
    orders = result.sim.exchange.list_orders("default", {})
    mine = {o["client_order_id"]: o for o in orders}
    accepted = [c for c in result.client_order_ids if c in mine]
    # an order still in flight when the run's duration ends is cancelled on our side (counted
    # neither placed nor rejected); it may or may not have reached the exchange
    in_flight = len(result.client_order_ids) - result.stats.orders - result.stats.rejected
    assert result.stats.orders > 0, result.stats
    assert result.stats.orders <= len(accepted) <= result.stats.orders + in_flight, (
        result.stats,
        len(mine),
    )
    assert set(mine) <= set(result.client_order_ids)  # nothing the runtime did not send
    position = Decimal(0)
    for order in mine.values():
        filled = Decimal(order["filled_size"])
        position += filled if order["side"] == "BUY" else -filled
        cfg = order["order_configuration"]
        if "limit_limit_gtc" in cfg:
            leg = cfg["limit_limit_gtc"]
            notional = Decimal(leg["base_size"]) * Decimal(leg["limit_price"])
        else:
            leg = cfg["market_market_ioc"]
            notional = Decimal(leg["base_size"]) * Decimal(order["average_filled_price"] or 0)
        assert notional <= Decimal(str(RISK["max_order_notional"])) * Decimal("1.01")
    assert abs(position) <= Decimal(str(RISK["max_position"]))
    assert result.stats.open_orders <= int(RISK["max_open_orders"])
    assert not result.stats.halted and not result.stats.kill_switch


async def test_market_maker_quotes_both_sides(tmp_path: Path) -> None:
    result = await run_strategy(
        "market_maker",
        {"half_spread_bps": "0", "requote_seconds": 0.5, "max_inventory": "0.002"},
        tmp_path,
        until=lambda stats: stats.orders >= 2,
    )
    assert_traded_within_limits(result)
    assert result.sim is not None
    sides = {o["side"] for o in result.sim.exchange.list_orders("default", {})}
    assert sides == {"BUY", "SELL"}


async def test_ema_cross_trades_on_candles(tmp_path: Path) -> None:
    params = {"fast": 2, "slow": 4, "closed_only": False}
    result = await run_strategy("ema_cross", params, tmp_path, until=lambda s: s.fills > 0)
    assert_traded_within_limits(result)
    assert result.stats.fills > 0  # market orders fill


async def test_mean_reversion_fades_moves(tmp_path: Path) -> None:
    result = await run_strategy(
        "mean_reversion",
        {"window": 8, "entry_z": "1", "exit_z": "0.2", "source": "book", "max_position": "0.002"},
        tmp_path,
    )
    assert_traded_within_limits(result)


async def test_presign_setting_reaches_the_order_client(tmp_path: Path) -> None:
    """BOTKIT_COINBASE__PRESIGN=0 signs every order inline; the default keeps a token pool."""
    params = {"half_spread_bps": "0", "requote_seconds": 0.5, "max_inventory": "0.002"}
    for presign, pooled in ((0, False), (4, True)):
        runtimes: list[BotRuntime] = []
        settings = load_settings(env_file=None, coinbase={"presign": presign})
        result = await run_strategy(
            "market_maker", params, tmp_path / str(presign), traded, settings, runtimes
        )
        assert_traded_within_limits(result)  # the simulator verified every order's JWT
        executor = runtimes[0].executor
        assert executor is not None
        client = executor.client
        assert isinstance(client, RestClient)  # live-like signing: the Advanced Trade client
        assert bool(client.presigned) is pooled
        for pool in client.presigned.values():
            assert pool.size == presign and pool.max_age == 5.0


def test_no_shipped_strategy_is_warned_about_when_loaded(caplog: Any) -> None:
    """``mean_reversion`` named a helper ``on_price``, so every start warned that botkit
    never calls it (a fresh-user QA pass): the shipped strategies must load cleanly."""
    from botkit.strategy.loader import list_strategies, load_strategy

    names = [info.name for info in list_strategies()]
    assert {"market_maker", "mean_reversion", "breakout", "ema_cross"} <= set(names)
    caplog.set_level("WARNING", logger="botkit")
    for name in names:
        load_strategy(name)
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []
