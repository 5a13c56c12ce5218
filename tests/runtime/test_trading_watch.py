"""A product the venue restricts: the bot reads it, refuses locally, notices when it lifts.

A real ``BotRuntime`` in live mode against the simulator over 127.0.0.1; the simulator
puts BTC-USD into a restricted mode as Coinbase does during an incident
(``SimServer.set_trading_mode``). The strategy tries a post-only bid on a timer. While the
product is cancel-only, the risk gate refuses each one (``PRODUCT_CANCEL_ONLY``) and none
reaches the venue; once the venue lists it as trading again the bid goes out.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from botkit.market.trading_status import TradingMode, TradingStatus
from botkit.market.types import StatusProduct
from botkit.orders.intents import OrderIntent, limit_gtc
from botkit.risk.engine import MarketQuote, RiskLimits, RiskRejected
from botkit.risk.gate import RiskGate
from botkit.runtime.api import RunOptions
from botkit.runtime.bot import BotRuntime
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.health import Health
from botkit.runtime.settings import load_settings
from botkit.runtime.trading_watch import ABSENT_SECONDS, FAIL_LOG_EVERY, TradingWatch
from botkit.runtime.venue import Endpoints
from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig
from tests.runtime.live_run import run_live
from tests.strategy.exit_helpers import quiet_market

STRATEGY = '''
from decimal import Decimal
from pydantic import BaseModel
from botkit import OrderRejected, Strategy, TradingStatus


class Quoter(Strategy):
    """A post-only bid 5 % under the best bid, tried every 0.05 s until one is placed."""

    class Params(BaseModel):
        hold: bool = False  # no bid until a test sets ``go`` (it changes the venue first)
        plain_first: bool = False  # the first bid without post_only

    placed = ""
    go = False
    reasons: list[str] = []
    statuses: list[str] = []

    async def on_start(self) -> None:
        self.reasons = []
        self.statuses = []

    async def on_trading_status(self, status: TradingStatus) -> None:
        now = self.ctx.trading_status(status.product_id)
        self.statuses.append(f"{status.mode.value} {now.mode.value} {status.message}")
        self.ctx.set_timer("quote", 0.05)

    async def on_timer(self, name: str) -> None:
        if self.placed or (self.params.hold and not self.go):
            return
        bid, _ = self.ctx.book("BTC-USD").best_bid()
        price = (bid * Decimal("0.95")).quantize(Decimal("0.01"))
        post = not (self.params.plain_first and not self.reasons)
        try:
            self.placed = await self.ctx.buy_limit(
                "BTC-USD", Decimal("0.001"), price, post_only=post
            )
        except OrderRejected as exc:
            self.reasons.append(exc.reason)
'''


def _config(tmp_path: Path, every: float, hold: bool, plain_first: bool = False) -> dict[str, Any]:
    strategy = tmp_path / "quoter.py"
    strategy.write_text(STRATEGY)
    return {
        "bot": {
            "mode": "live",
            "products": ["BTC-USD"],
            "channels": ["level2"],
            "trading_status_seconds": every,
        },
        "strategy": {
            "name": f"{strategy}:Quoter",
            "params": {"hold": hold, "plain_first": plain_first},
        },
        "risk": {"max_order_notional": "10000000", "max_position": "100"},
    }


async def _run(
    sim: SimServer,
    tmp_path: Path,
    every: float,
    step: Any,
    *,
    hold: bool = False,
    config: dict[str, Any] | None = None,
) -> BotRuntime:
    env = tmp_path / "sim.env"
    env.write_text(sim.env_text(sim.add_key("ES256")))
    config = config or _config(tmp_path, every, hold)
    return await run_live(config, env, tmp_path / "data", step)


def _orders(sim: SimServer) -> list[dict[str, Any]]:
    return sim.exchange.list_orders("default", {})


@pytest.mark.timeout(90)
async def test_a_cancel_only_product_is_refused_locally_until_the_venue_lifts_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="botkit.trading")
    async with SimServer(
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.2), market=quiet_market()
    ) as sim:
        sim.set_trading_mode("BTC-USD", "cancel_only", "incident: cancel only")
        seen_at_venue: list[int] = []

        def step(rt: BotRuntime) -> bool:
            strategy: Any = rt.ctx.strategy  # type: ignore[union-attr]
            if not seen_at_venue and len(getattr(strategy, "reasons", ())) >= 3:
                seen_at_venue.append(len(_orders(sim)))  # refused thrice: none went out
                sim.set_trading_mode("BTC-USD", "full")
            return bool(strategy.placed)

        runtime = await _run(sim, tmp_path, 0.2, step)
        strategy: Any = runtime.ctx.strategy  # type: ignore[union-attr]
        assert seen_at_venue == [0]
        assert set(strategy.reasons) == {"PRODUCT_CANCEL_ONLY"}
        assert runtime.gate is not None and runtime.gate.refusals["PRODUCT_CANCEL_ONLY"] >= 3
        assert runtime.gate.restricted == {}
        # the strategy heard it at start (its first event) and when it lifted
        assert strategy.statuses == ["cancel_only cancel_only incident: cancel only", "full full "]
        (order,) = _orders(sim)  # the bid went out once the product traded again
        assert order["client_order_id"] == strategy.placed and order["status"] == "OPEN"
        lines = [r.getMessage() for r in caplog.records if r.name == "botkit.trading"]
        assert any("BTC-USD is cancel-only: incident: cancel only" in m for m in lines), lines
        assert any("BTC-USD trades fully again" in m for m in lines), lines


@pytest.mark.timeout(90)
async def test_a_rejection_that_names_trading_status_has_it_read_at_once(tmp_path: Path) -> None:
    """No periodic reads (``trading_status_seconds = 0``): the venue's rejection of the first
    bid (its trading status changed while the bot ran) prompts a read, and the bids after
    it are refused locally instead of sent."""
    async with SimServer(
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.2), market=quiet_market()
    ) as sim:
        sim.set_trading_mode("BTC-USD", "limit_only")  # known at start: the bid is a limit
        changed: list[bool] = []

        def step(rt: BotRuntime) -> bool:
            strategy: Any = rt.ctx.strategy  # type: ignore[union-attr]
            if not changed:  # after the start's read: the bot believes the bid is taken
                changed.append(True)
                sim.set_trading_mode("BTC-USD", "halted", "maintenance")
                strategy.go = True
                return False
            reasons = getattr(strategy, "reasons", [])
            return reasons.count("PRODUCT_HALTED") >= 3

        runtime = await _run(sim, tmp_path, 0.0, step, hold=True)
        strategy: Any = runtime.ctx.strategy  # type: ignore[union-attr]
        assert runtime.gate is not None
        assert runtime.gate.restricted["BTC-USD"].message == "maintenance", strategy.reasons
        venue = [r for r in strategy.reasons if r != "PRODUCT_HALTED"]
        assert venue and set(venue) <= {"TRADING_DISABLED"}, strategy.reasons
        assert len(venue) <= 3, strategy.reasons  # the read came after the first rejection
        assert strategy.reasons[-3:] == ["PRODUCT_HALTED"] * 3
        assert _orders(sim) == []


class Venue:
    """The venue's product list as data, for the watch's own rules (``fetch`` is the seam
    the runtime fills with ``fetch_product_rules``: the bot's products the venue lists)."""

    def __init__(self, *rules: dict[str, Any]) -> None:
        self.rules: list[dict[str, Any]] | Exception = list(rules)
        self.during_read: Any = None  # called inside the next read (a hint mid-read)
        self.reads = asyncio.Event()

    async def fetch(self) -> list[dict[str, Any]]:
        self.reads.set()
        call, self.during_read = self.during_read, None
        if call is not None:
            call()
        if isinstance(self.rules, Exception):
            raise self.rules
        return list(self.rules)


class Changes(list[str]):
    """The watch's ``on_change`` calls, and an event set at each."""

    def __init__(self) -> None:
        super().__init__()
        self.event = asyncio.Event()

    def __call__(self, status: TradingStatus) -> None:
        self.append(f"{status.product_id} {status.mode.value}")
        self.event.set()


def _watch(venue: Venue, products: tuple[str, ...], clock: list[float], **kw: Any) -> Any:
    gate = RiskGate(RiskLimits(), None, wall=lambda: 0.0)
    changes = Changes()
    watch = TradingWatch(
        venue.fetch, products, gate, monotonic=lambda: clock[0], on_change=changes,
        **{"interval": 0.0, **kw},
    )  # fmt: skip
    return watch, gate, changes


async def test_a_product_missing_for_two_minutes_of_reads_is_halted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="botkit.trading")
    clock = [1000.0]
    venue = Venue({"product_id": "BTC-USD", "status": "online"})
    watch, gate, changes = _watch(venue, ("BTC-USD", "ETH-USD"), clock)
    await watch.read()
    clock[0] += ABSENT_SECONDS - 1
    await watch.read()
    assert changes == [] and gate.restricted == {}  # missing, but not for long: maybe a glitch
    venue.rules = [{"product_id": "BTC-USD"}, {"product_id": "ETH-USD"}]
    await watch.read()  # back: the count starts again
    venue.rules = [{"product_id": "BTC-USD"}]
    await watch.read()
    clock[0] += ABSENT_SECONDS - 1
    await watch.read()
    assert changes == []
    clock[0] += 1
    await watch.read()
    assert changes == ["ETH-USD halted"]  # missing from every read of two minutes: delisted
    assert gate.restricted["ETH-USD"].venue_status == "delisted"

    def failures() -> int:
        return sum("could not be read" in r.getMessage() for r in caplog.records)

    venue.rules = OSError("connection refused")
    assert await watch.read() == [] and await watch.read() == []
    assert failures() == 1  # once, then every FAIL_LOG_EVERY seconds while it lasts
    clock[0] += FAIL_LOG_EVERY
    await watch.read()
    assert failures() == 2
    assert gate.restricted["ETH-USD"].mode is TradingMode.HALTED  # the last status stands
    venue.rules = [{"product_id": "BTC-USD", "cancel_only": True}, {"product_id": "ETH-USD"}]
    await watch.read()
    assert changes == ["ETH-USD halted", "BTC-USD cancel_only", "ETH-USD full"]
    assert list(gate.restricted) == ["BTC-USD"]
    assert any("read again" in r.getMessage() for r in caplog.records)


async def test_a_one_product_bot_sees_its_product_delisted() -> None:
    """``fetch_product_rules`` lists only the bot's products: a one-product bot whose
    product is gone gets an empty list, which must count as missing (a review: it was
    taken for a failed read, and the product never read as delisted)."""
    clock = [0.0]
    venue = Venue({"product_id": "BTC-USD"})
    watch, gate, changes = _watch(venue, ("BTC-USD",), clock)
    await watch.read()
    venue.rules = []
    await watch.read()
    clock[0] += ABSENT_SECONDS
    await watch.read()
    assert changes == ["BTC-USD halted"]


async def test_the_status_channel_prompts_a_read_only_with_news() -> None:
    clock = [0.0]
    venue = Venue({"product_id": "BTC-USD", "cancel_only": True})
    watch, gate, _ = _watch(venue, ("BTC-USD", "ETH-USD"), clock)
    # before any read (the start's failed): only "not online" of a bot product is news
    watch.on_status_message([StatusProduct(id="BTC-USD", status="online")])
    watch.on_status_message([StatusProduct(id="SOL-USD", status="offline")])
    assert watch.hints == 0
    watch.on_status_message([StatusProduct(id="ETH-USD", status="offline")])
    assert watch.hints == 1
    venue.rules = [{"product_id": "BTC-USD", "cancel_only": True}, {"product_id": "ETH-USD"}]
    await watch.read()
    # the channel repeats every product on an interval, and has no cancel-only flag
    said = [StatusProduct(id="BTC-USD", status="online"), StatusProduct(id="ETH-USD")]
    watch.on_status_message(said)
    watch.on_status_message(said)
    assert watch.hints == 1
    watch.on_status_message([StatusProduct(id="BTC-USD", status="online", status_message="m")])
    assert watch.hints == 2  # its own words changed
    watch.on_status_message([StatusProduct(id="ETH-USD", status="offline")])
    assert watch.hints == 3  # offline while the read says it trades


async def test_the_loop_reads_on_time_on_refusals_and_after_a_hint_mid_read() -> None:
    """The supervised loop, on a real event loop: timed reads are not held to the hint
    pace; an order refused for its product's status prompts a read (so a restriction lifts
    with no periodic read at all); a hint that comes during a read is not lost."""
    clock = [1000.0]  # never moves: any pacing would hold the loop for good
    venue = Venue({"product_id": "BTC-USD"})
    watch, gate, changes = _watch(venue, ("BTC-USD",), clock, interval=0.01)
    task = asyncio.create_task(watch.run())
    try:
        async with asyncio.timeout(5):
            while watch.reads < 5:  # every 0.01 s: the interval, not the 5 s hint pace
                venue.reads.clear()
                await venue.reads.wait()
    finally:
        task.cancel()
    watch2, gate2, changes2 = _watch(venue, ("BTC-USD",), clock, refusal_gap=0.0)
    venue.rules = [{"product_id": "BTC-USD", "cancel_only": True}]
    await watch2.read()  # the start's
    gate2.on_trading_refusal = watch2.refused
    task = asyncio.create_task(watch2.run())  # interval 0: reads on hints only
    try:
        intent = OrderIntent("c1", "BTC-USD", "BUY", limit_gtc(Decimal(1), Decimal(100)))
        quote = MarketQuote(Decimal(99), Decimal(101))
        venue.rules = [{"product_id": "BTC-USD"}]  # lifted at the venue
        changes2.event.clear()
        with pytest.raises(RiskRejected, match="PRODUCT_CANCEL_ONLY"):
            gate2.check(intent, quote, position=Decimal(0), open_orders=0)
        async with asyncio.timeout(5):
            await changes2.event.wait()  # the refusal's hint: read, and it trades again
        assert changes2 == ["BTC-USD cancel_only", "BTC-USD full"]
        gate2.check(intent, quote, position=Decimal(0), open_orders=0)  # goes through now
        reads = watch2.reads
        venue.during_read = lambda: watch2.hint("mid-read", gap=0.0)
        watch2.hint("first", gap=0.0)
        async with asyncio.timeout(5):
            while watch2.reads < reads + 2:  # the hint that came mid-read: a second read
                venue.reads.clear()
                await venue.reads.wait()
    finally:
        task.cancel()


@pytest.mark.timeout(90)
async def test_a_status_channel_message_has_the_status_read_at_once(tmp_path: Path) -> None:
    """No periodic reads, no order: the ``status`` channel's update (the simulator pushes
    one when a product's mode changes) prompts the read that finds the product halted."""
    async with SimServer(
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.2), market=quiet_market()
    ) as sim:
        changed: list[bool] = []

        def step(rt: BotRuntime) -> bool:
            assert rt.gate is not None
            if not changed:
                changed.append(True)
                sim.set_trading_mode("BTC-USD", "halted", "delisting")
            return "BTC-USD" in rt.gate.restricted

        config = _config(tmp_path, 0.0, hold=True)
        config["bot"]["channels"] = ["level2", "status"]
        runtime = await _run(sim, tmp_path, 0.0, step, hold=True, config=config)
        assert runtime.gate is not None and runtime.trading is not None
        assert runtime.gate.restricted["BTC-USD"].describe() == (
            "BTC-USD is halted (status offline): delisting"
        )
        assert runtime.trading.reads >= 1  # read by the loop (the start's read is not counted)


@pytest.mark.timeout(90)
async def test_a_post_only_product_takes_a_post_only_bid_and_refuses_a_plain_one(
    tmp_path: Path,
) -> None:
    """The hot path reads whether the order is post-only (only while a product is
    restricted): the plain bid is refused before sending, the post-only one goes out."""
    async with SimServer(
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.2), market=quiet_market()
    ) as sim:
        sim.set_trading_mode("BTC-USD", "post_only", "post only after an outage")

        def step(rt: BotRuntime) -> bool:
            strategy: Any = rt.ctx.strategy  # type: ignore[union-attr]
            return bool(strategy.placed)

        config = _config(tmp_path, 60.0, False, plain_first=True)
        runtime = await _run(sim, tmp_path, 60.0, step, config=config)
        strategy: Any = runtime.ctx.strategy  # type: ignore[union-attr]
        assert strategy.reasons == ["PRODUCT_POST_ONLY"]
        (order,) = _orders(sim)
        assert order["client_order_id"] == strategy.placed
        assert order["order_configuration"]["limit_limit_gtc"]["post_only"] is True


@pytest.mark.timeout(90)
async def test_paper_mode_fills_as_the_venue_would_in_its_trading_mode(tmp_path: Path) -> None:
    """Paper trading takes the real venue's trading status too: with the local refusal off
    (``respect_trading_status = false``), the paper exchange refuses what the venue would
    (cancel only: ``TRADING_DISABLED``), so paper does not fill orders live would not."""

    def on_venue(ep: Endpoints) -> None:
        assert ep.sim is not None  # the data source: its product list says cancel-only
        ep.sim.set_trading_mode("BTC-USD", "cancel_only", "incident")

    def on_health(_: Health) -> None:
        if runtime.stats.rejected >= 2:
            runtime.request_stop()

    config = {
        "bot": {"mode": "paper", "sim_seed": 5, "channels": ["level2", "ticker"]},
        "strategy": {
            "name": "market_maker",
            "params": {"product_id": "BTC-USD", "size": "0.001", "requote_seconds": 0.3},
        },
        "risk": {"max_order_notional": "500", "respect_trading_status": False},
        "paper": {"source": "sim", "initial_balances": {"USD": "10000", "BTC": "0.02"}},
    }
    options = RunOptions(
        duration=60.0, data_dir=tmp_path, install_signals=False, sim_tick_interval=0.05,
        sim_ws=WsConfig(heartbeat_interval=0.2), on_health=on_health, on_venue=on_venue,
    )  # fmt: skip
    runtime = BotRuntime(parse_bot_config(config), load_settings(env_file=None), options)
    async with asyncio.timeout(80):
        result = await runtime.run()
    assert result.error is None and result.stats.rejected >= 2
    assert runtime.gate is not None and runtime.gate.restricted["BTC-USD"].message == "incident"
    assert not any(r.startswith("PRODUCT_") for r in runtime.gate.refusals)  # not local
    assert runtime.paper is not None
    paper = runtime.paper.exchange
    assert paper.trading_mode("BTC-USD")["mode"] == "cancel_only"
    assert [o for u in paper.user_ids() for o in paper.list_orders(u, {})
            if o["status"] == "OPEN"] == []  # fmt: skip
