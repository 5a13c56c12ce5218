"""The same exits on two engines, fed the same market: botkit.sim and the paper broker.

The simulator is the exchange here: another user moves its market, and everything it
prints, and its book after each move, is mirrored into a paper broker as a feed would
deliver it (trade prints first, then the level2 snapshot). Two strategy contexts, one on
each engine (each with the real executor: signed REST over loopback to the simulator,
in-process to the paper broker), hold the same position and arm the same exit. Native
and emulated, each kind must end with the same fills (price and size) on both: the
trigger semantics the issue asks to be identical (trigger on the last trade, the stop
becomes a limit at its limit price) are then the same in sim, paper and backtest (which
replays through this paper broker).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from botkit.clock import ManualClock
from botkit.market.book import L2Book
from botkit.market.events import BookChanged, FeedEvent, TradesReceived
from botkit.market.types import MarketTrade
from botkit.orders.executor import OrderExecutor
from botkit.orders.journal import OrderJournal
from botkit.paper.broker import PaperBroker
from botkit.paper.setup import build_broker, paper_client
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.settings import load_settings
from botkit.sim.server import SimServer
from botkit.strategy.context import BotContext
from botkit.strategy.exits import ExitFilled, Offset, limits_from_rules
from botkit.strategy.loader import create_strategy
from botkit.strategy.ports import ExecutorSink, MarketState, OrderSink
from botkit.strategy.state import MemoryState
from botkit.venues.advanced_trade.rest_client import RestClient
from tests.strategy.conftest import sim_book
from tests.strategy.exit_helpers import (
    PRODUCT,
    EmulatingSink,
    Recorder,
    UserChannel,
    buy_up_to,
    ex_now,
    frozen_sim,
    now,
    ticker,
)

D = Decimal
SIZE = D("0.01")


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    # cancels take effect at once, as the paper broker's do with cancel_latency = 0; the
    # simulator's clock stands still, so its market is never stepped
    async with frozen_sim(cancel_latency_steps=0) as server:
        server.exchange.add_user("b")
        yield server


@dataclass
class Engines:
    """The simulator, a paper broker mirroring it, and a context on each."""

    sim: SimServer
    broker: PaperBroker
    books: dict[str, L2Book]
    clock: ManualClock
    ctx_sim: BotContext
    ctx_paper: BotContext
    rec_sim: Recorder
    rec_paper: Recorder
    user: UserChannel
    paper_events: list[FeedEvent] = field(default_factory=list)
    seen_trades: set[str] = field(default_factory=set)
    seq: int = 1

    async def drain_paper(self) -> None:
        self.broker.advance()
        while self.paper_events:
            event = self.paper_events.pop(0)
            await self.ctx_paper.dispatch(event)

    async def mirror(self) -> None:
        """What the simulator printed since the last call, then its book, to both sides."""
        trades = [
            t for t in self.sim.exchange.recent_trades(PRODUCT, 10_000)
            if t.trade_id not in self.seen_trades
        ]  # fmt: skip
        trades.sort(key=lambda t: int(t.trade_id))
        self.seen_trades.update(t.trade_id for t in trades)
        self.clock.advance(1)
        if trades:
            prints = TradesReceived(
                "update",
                tuple(
                    MarketTrade(trade_id=t.trade_id, product_id=PRODUCT, price=t.price,
                                size=t.size, side=t.side)
                    for t in trades
                ),
            )  # fmt: skip
            self.broker.on_market_event(prints)  # native paper exits trigger on these
            await self.drain_paper()
        book = self.books[PRODUCT] = sim_book(self.sim)  # the paper exchange reads this dict
        self.seq += 1
        self.broker.on_market_event(BookChanged(PRODUCT, book, True, self.seq))
        await self.drain_paper()
        await self.ctx_paper.dispatch(BookChanged(PRODUCT, book, True, self.seq))
        await self.ctx_sim.dispatch(BookChanged(PRODUCT, sim_book(self.sim), True, self.seq))
        if trades:  # the strategies see the prints (emulated exits trigger on these)
            self.clock.advance(1)  # a bot reacts after the print, never at its instant
            await self.ctx_sim.dispatch(prints)
            await self.ctx_paper.dispatch(prints)
            await self.drain_paper()
        last = self.sim.exchange.last_trade_price(PRODUCT)
        await self.ctx_sim.dispatch(ticker(last))
        await self.ctx_paper.dispatch(ticker(last))
        await self.user.sync(self.ctx_sim)
        await self.drain_paper()

    def exit_fills(self, rec: Recorder) -> list[tuple[str, Decimal, Decimal]]:
        return [(e.leg, e.price, e.size) for e in rec.exits if isinstance(e, ExitFilled)]


def sell_into(sim: SimServer, size: Decimal) -> None:
    body = {"client_order_id": "", "product_id": PRODUCT, "side": "SELL",
            "order_configuration": {"market_market_ioc": {"base_size": str(size)}}}  # fmt: skip
    assert sim.exchange.create_order("b", body, ex_now(sim.exchange))["success"]


async def fall_through(e: Engines, stop: Decimal) -> None:
    """Sell every bid at or above ``stop`` (prints, no trigger), then one small lot into
    the next level: the print through the stop. The level keeps enough size for the stop,
    so both engines fill it at the same price whatever order they apply things in."""
    bids, _ = e.sim.exchange.book(PRODUCT)
    sell_into(e.sim, sum((s for p, s in bids if p > stop), D(0)))
    await e.mirror()
    sell_into(e.sim, D("0.001"))
    assert e.sim.exchange.last_trade_price(PRODUCT) <= stop
    await e.mirror()


def context(sink: OrderSink, clock: ManualClock, limits: dict[str, object]) -> BotContext:
    return BotContext(
        "exits", sink, MarketState(), clock=clock, guard_clock=clock, monotonic=clock.time,
        exit_state=MemoryState(), product_limits=limits,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
async def engines(
    sim: SimServer, executor: OrderExecutor, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Engines]:
    emulated: bool = request.param
    wire = sim.exchange.product_wire(PRODUCT)
    config = parse_bot_config({
        "bot": {"products": [PRODUCT]},
        "paper": {"initial_balances": {"USD": "1000000", "BTC": "10"},
                  "submit_latency": 0, "cancel_latency": 0,
                  "maker_fee_rate": "0.004", "taker_fee_rate": "0.006"},
    })  # fmt: skip
    clock = ManualClock(now())
    books: dict[str, L2Book] = {PRODUCT: sim_book(sim)}
    events: list[FeedEvent] = []
    broker = build_broker(
        config, [wire], books, tmp_path / "paper.sqlite", now=clock.time,
        on_event=events.append, durable=False, meta={"mode": "test"},
    )  # fmt: skip
    client: RestClient = paper_client(broker, load_settings(env_file=None), clock, unlimited=True)
    paper_ex = OrderExecutor(client, OrderJournal(tmp_path / "paper-journal.sqlite"))
    limits = limits_from_rules([wire])
    sink_cls = EmulatingSink if emulated else ExecutorSink
    ctx_sim = context(sink_cls(executor), clock, limits)  # type: ignore[arg-type]
    ctx_paper = context(sink_cls(paper_ex), clock, limits)  # type: ignore[arg-type]
    rec_sim = create_strategy(Recorder, ctx_sim, {})
    rec_paper = create_strategy(Recorder, ctx_paper, {})
    assert isinstance(rec_sim, Recorder) and isinstance(rec_paper, Recorder)
    e = Engines(sim, broker, books, clock, ctx_sim, ctx_paper, rec_sim, rec_paper,
                UserChannel(sim.exchange), events)  # fmt: skip
    e.seen_trades.update(t.trade_id for t in sim.exchange.recent_trades(PRODUCT, 10_000))
    await e.mirror()
    # the same long position on both: a market buy against the same asks
    await ctx_paper.buy_market(PRODUCT, base_size=SIZE)
    await e.drain_paper()
    await ctx_sim.buy_market(PRODUCT, base_size=SIZE)
    await e.mirror()
    assert ctx_sim.position(PRODUCT) == ctx_paper.position(PRODUCT) == SIZE
    assert [f.price for f in rec_sim.fills] == [f.price for f in rec_paper.fills]
    try:
        yield e
    finally:
        await paper_ex.close()
        await client.close()
        broker.journal.close()


both = pytest.mark.parametrize("engines", [False, True], ids=["native", "emulated"], indirect=True)


@both
async def test_stop_loss_fills_alike(engines: Engines) -> None:
    e = engines
    for ctx in (e.ctx_sim, e.ctx_paper):
        await ctx.stop_loss(PRODUCT, SIZE, Offset.bps(2))
    (a,), (b,) = e.ctx_sim.open_exits(), e.ctx_paper.open_exits()
    assert a.stop == b.stop and a.native == b.native and a.stop is not None
    await fall_through(e, a.stop)
    fills = e.exit_fills(e.rec_sim)
    assert fills and sum(s for _, _, s in fills) == SIZE
    assert fills == e.exit_fills(e.rec_paper)
    assert all(leg == "stop_loss" and p <= a.stop for leg, p, _ in fills)


@both
async def test_bracket_stop_leg_fills_alike(engines: Engines) -> None:
    e = engines
    for ctx in (e.ctx_sim, e.ctx_paper):
        await ctx.bracket(PRODUCT, SIZE, take_profit=Offset.pct(1), stop_loss=Offset.bps(2))
    (a,) = e.ctx_sim.open_exits()
    assert a.stop is not None
    await fall_through(e, a.stop)
    fills = e.exit_fills(e.rec_sim)
    assert fills and sum(s for _, _, s in fills) == SIZE
    assert fills == e.exit_fills(e.rec_paper)


@both
async def test_bracket_take_profit_fills_alike(engines: Engines) -> None:
    e = engines
    last = e.sim.exchange.last_trade_price(PRODUCT)
    tp = last + D("9.75")  # between the simulator's half-dollar levels: alone at its price
    for ctx in (e.ctx_sim, e.ctx_paper):
        await ctx.bracket(PRODUCT, SIZE, take_profit=tp, stop_loss=Offset.bps(5))
    buy_up_to(e.sim.exchange, tp + 1)  # native: the resting take-profit is lifted
    await e.mirror()
    # emulated: the print through it triggered it and only then was the limit sent: it
    # rests (the market already went through) until a buyer comes back to it
    emulated = not e.ctx_sim.exits.records[next(iter(e.ctx_sim.exits.records))].native
    assert (e.exit_fills(e.rec_sim) == []) is emulated
    buy_up_to(e.sim.exchange, tp + D("0.5"), extra=SIZE)
    await e.mirror()
    fills = e.exit_fills(e.rec_sim)
    assert fills == [("take_profit", tp, SIZE)]
    assert fills == e.exit_fills(e.rec_paper)


@both
async def test_trailing_stop_fills_alike(engines: Engines) -> None:
    e = engines
    for ctx in (e.ctx_sim, e.ctx_paper):
        await ctx.trailing_stop(PRODUCT, SIZE, distance=D("12"))
    last = e.sim.exchange.last_trade_price(PRODUCT)
    buy_up_to(e.sim.exchange, last + 8)
    await e.mirror()  # the ratchet on both; native: cancel/replace on both
    await e.mirror()
    (a,), (b,) = e.ctx_sim.open_exits(), e.ctx_paper.open_exits()
    assert a.trailing is not None and b.trailing is not None
    stop = a.trailing.stop
    assert stop is not None and stop == b.trailing.stop and stop > last - 12
    await fall_through(e, stop)
    fills = e.exit_fills(e.rec_sim)
    assert fills and sum(s for _, _, s in fills) == SIZE
    assert fills == e.exit_fills(e.rec_paper)


@both
async def test_entry_with_take_profit_and_stop_loss_fills_alike(engines: Engines) -> None:
    """Native: the venue's attached TP/SL on both engines; emulated: armed after the fill."""
    e = engines
    for ctx in (e.ctx_paper, e.ctx_sim):
        await ctx.buy(PRODUCT, SIZE, stop_loss=Offset.bps(2), take_profit=Offset.pct(1))
        if ctx is e.ctx_paper:
            await e.drain_paper()
    await e.mirror()
    assert e.ctx_sim.position(PRODUCT) == e.ctx_paper.position(PRODUCT) == 2 * SIZE
    (a,), (b,) = e.ctx_sim.open_exits(), e.ctx_paper.open_exits()
    assert (a.kind, a.native, a.stop) == (b.kind, b.native, b.stop) and a.stop is not None
    await fall_through(e, a.stop)
    fills = e.exit_fills(e.rec_sim)
    assert fills and sum(s for _, _, s in fills) == SIZE
    assert fills == e.exit_fills(e.rec_paper)
