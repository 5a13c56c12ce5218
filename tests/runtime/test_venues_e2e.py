"""One strategy, three Coinbase APIs: the shipped market maker runs unchanged on each venue.

In ``sim`` mode the runtime serves the simulator in the venue's dialect (Exchange's HMAC
REST and WebSocket, Prime's portfolio-scoped REST and signed WebSocket) with a generated
key of that kind, and wires the venue's REST client and feed protocol. The run stops on an
outcome (orders placed and filled), and the simulated exchange — not the bot — is asked
what happened: every order the bot placed exists there exactly once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from botkit.orders.journal import OrderJournal
from botkit.runtime.bot import BotRuntime, RunOptions
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.health import Health
from botkit.runtime.settings import load_settings
from botkit.runtime.venue import Endpoints
from botkit.sim.exchange_rest import ExchangeSimServer
from botkit.sim.ws import WsConfig


def _config(venue: str) -> dict[str, object]:
    return {
        "bot": {"venue": venue, "sim_seed": 5, "channels": ["level2", "ticker"]},
        "strategy": {
            "name": "market_maker",
            "params": {
                "product_id": "BTC-USD",
                "size": "0.001",
                "half_spread_bps": "0",
                "requote_seconds": 0.3,
            },
        },
        "risk": {"max_order_notional": "500", "max_open_orders": 4, "max_position": "0.05"},
    }


@pytest.mark.timeout(90)
@pytest.mark.parametrize("venue", ["exchange", "prime"])
async def test_the_market_maker_trades_on_each_venue_in_sim_mode(
    tmp_path: Path, venue: str
) -> None:
    def on_health(_: Health) -> None:
        if runtime.stats.orders >= 4 and runtime.stats.fills >= 1:
            runtime.request_stop()

    options = RunOptions(
        duration=60.0,  # only bounds a run that never trades
        data_dir=tmp_path,
        install_signals=False,
        sim_tick_interval=0.05,
        sim_ws=WsConfig(heartbeat_interval=0.2),
        on_health=on_health,
        cancel_on_exit=True,
    )
    runtime = BotRuntime(parse_bot_config(_config(venue)), load_settings(env_file=None), options)
    async with asyncio.timeout(80):
        result = await runtime.run()
    assert result.error is None
    assert result.stats.orders >= 4 and result.stats.fills >= 1
    assert runtime.feed is not None and runtime.feed.backfill is not None  # user-gap fills
    assert (tmp_path / "sim" / venue / "journal.sqlite").exists()  # a journal per venue
    # Prime publishes no trading status: its product list is read at start only
    assert ("trading-status" in runtime.supervisor.components) is (venue != "prime")
    assert result.sim is not None
    ex = result.sim.exchange
    at_exchange = Counter(
        o["client_order_id"] for u in ex.user_ids() for o in ex.list_orders(u, {})
    )
    assert result.journal_path is not None
    journal = OrderJournal(result.journal_path)
    try:
        states = {r.client_order_id: r.state for r in journal.all()}
    finally:
        journal.close()
    placed = {c for c, state in states.items() if state == "PLACED"}
    assert len(placed) >= 4 and all(at_exchange[c] == 1 for c in placed), "missing or doubled"
    assert all(at_exchange[c] <= 1 for c in states)  # a refusal was never sent twice
    open_left = [o for u in ex.user_ids() for o in ex.list_orders(u, {}) if o["status"] == "OPEN"]
    assert open_left == []  # --cancel-on-exit cancelled through the venue


@pytest.mark.timeout(90)
@pytest.mark.parametrize("venue", ["exchange", "prime"])
async def test_paper_mode_trades_on_each_venues_market_data(tmp_path: Path, venue: str) -> None:
    """Paper on Exchange's or Prime's feed: the paper broker fills against that venue's book
    (served in its dialect by the simulator); the data source receives no order."""

    def on_health(_: Health) -> None:
        if runtime.stats.orders >= 2:
            runtime.request_stop()

    config = _config(venue)
    config["bot"] = {**config["bot"], "mode": "paper"}  # type: ignore[dict-item]
    config["paper"] = {
        "source": "sim",
        "initial_balances": {"USD": "10000", "BTC": "0.02"},
        "submit_latency": 0.02,
        "cancel_latency": 0.02,
    }
    options = RunOptions(
        duration=60.0,
        data_dir=tmp_path,
        install_signals=False,
        sim_tick_interval=0.05,
        sim_ws=WsConfig(heartbeat_interval=0.2),
        on_health=on_health,
    )
    runtime = BotRuntime(parse_bot_config(config), load_settings(env_file=None), options)
    async with asyncio.timeout(80):
        result = await runtime.run()
    assert result.error is None and result.stats.orders >= 2
    assert runtime.paper is not None
    assert (tmp_path / "paper" / venue / "paper.sqlite").exists()
    assert result.sim is not None
    ex = result.sim.exchange
    assert all(ex.list_orders(u, {}) == [] for u in ex.user_ids())  # none at the source
    assert runtime.feed is not None and runtime.feed.books["BTC-USD"].best_bid() is not None


@pytest.mark.timeout(90)
async def test_paper_on_exchanges_public_feed_needs_no_key(tmp_path: Path) -> None:
    """``[paper] source = "coinbase"`` on Exchange: the public ``level2_batch`` feed and public
    ``/products``, no credentials (an Exchange dialect server stands in for the real host)."""
    async with ExchangeSimServer(tick_interval=0.05) as server:

        def on_health(_: Health) -> None:
            if runtime.stats.orders >= 2:
                runtime.request_stop()

        config = _config("exchange")
        config["bot"] = {**config["bot"], "mode": "paper"}  # type: ignore[dict-item]
        config["paper"] = {"source": "coinbase", "initial_balances": {"USD": "10000"}}
        settings = load_settings(
            env_file=None, exchange={"rest_url": server.rest_url, "ws_url": server.ws_url}
        )
        assert settings.exchange.api_key is None
        options = RunOptions(
            duration=60.0, data_dir=tmp_path, install_signals=False, on_health=on_health
        )
        runtime = BotRuntime(parse_bot_config(config), settings, options)
        async with asyncio.timeout(80):
            result = await runtime.run()
        assert result.error is None and result.stats.orders >= 2
        ex = server.exchange  # the data source took no order
        assert all(ex.list_orders(u, {}) == [] for u in ex.user_ids())


SHIPPED = {
    "ema_cross": {"product_id": "BTC-USD", "fast": 2, "slow": 3, "closed_only": False},
    "mean_reversion": {"product_id": "BTC-USD", "window": 5, "entry_z": "0.5", "exit_z": "0.1"},
}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("venue", ["exchange", "prime"])
@pytest.mark.parametrize("strategy", sorted(SHIPPED))
async def test_the_other_shipped_strategies_trade_unchanged_on_each_venue(
    tmp_path: Path, venue: str, strategy: str
) -> None:
    """Exchange builds five-minute candles from ``matches``, Prime from the book's mid; Prime's
    ticker is the book's: the shipped candle and ticker strategies run unchanged and trade."""

    def on_health(_: Health) -> None:
        if runtime.stats.orders >= 1:
            runtime.request_stop()

    config: dict[str, object] = {
        "bot": {"venue": venue, "sim_seed": 5, "channels": ["level2", "candles", "ticker"]},
        "strategy": {"name": strategy, "params": SHIPPED[strategy]},
        "risk": {"max_order_notional": "500", "max_position": "0.05"},
    }
    options = RunOptions(
        duration=60.0,
        data_dir=tmp_path,
        install_signals=False,
        sim_tick_interval=0.05,
        sim_ws=WsConfig(heartbeat_interval=0.2),
        on_health=on_health,
    )
    runtime = BotRuntime(parse_bot_config(config), load_settings(env_file=None), options)
    async with asyncio.timeout(80):
        result = await runtime.run()
    assert result.error is None and result.stats.orders >= 1


@pytest.mark.timeout(90)
async def test_a_cancel_only_product_on_exchange_is_refused_before_sending(tmp_path: Path) -> None:
    """Exchange publishes ``cancel_only`` in its ``/products``: read at start, the market
    maker's quotes are refused by the risk gate (``PRODUCT_CANCEL_ONLY``), none is sent."""

    def on_venue(ep: Endpoints) -> None:
        assert isinstance(ep.dialect, ExchangeSimServer)
        ep.dialect.set_trading_mode("BTC-USD", "cancel_only", "Cancel only mode")

    def on_health(_: Health) -> None:
        if runtime.gate is not None and runtime.gate.refusals["PRODUCT_CANCEL_ONLY"] >= 3:
            runtime.request_stop()

    options = RunOptions(
        duration=60.0, data_dir=tmp_path, install_signals=False, sim_tick_interval=0.05,
        sim_ws=WsConfig(heartbeat_interval=0.2), on_health=on_health, on_venue=on_venue,
    )  # fmt: skip
    config = parse_bot_config(_config("exchange"))
    runtime = BotRuntime(config, load_settings(env_file=None), options)
    async with asyncio.timeout(80):
        result = await runtime.run()
    assert result.error is None
    assert runtime.gate is not None and runtime.gate.refusals["PRODUCT_CANCEL_ONLY"] >= 3
    assert runtime.gate.restricted["BTC-USD"].describe() == (
        "BTC-USD is cancel-only: Cancel only mode"
    )
    assert result.sim is not None
    ex = result.sim.exchange
    assert [o for u in ex.user_ids() for o in ex.list_orders(u, {})] == []  # none sent
