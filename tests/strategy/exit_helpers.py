"""Helpers of the exit tests: a quiet simulator, its user channel, prints, a recording strategy."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from botkit.clock import ManualClock
from botkit.market.events import FillEvent, OrderUpdate, TickersReceived, TradesReceived
from botkit.market.types import MarketTrade, Ticker
from botkit.sim.exchange import SimExchange, SimMarketConfig
from botkit.sim.ratelimit import RateLimitConfig
from botkit.sim.server import SimServer
from botkit.strategy.base import Strategy
from botkit.strategy.context import BotContext
from botkit.strategy.exits import ExitFilled, ExitTriggered
from botkit.strategy.ports import ExecutorSink

D = Decimal
PRODUCT = "BTC-USD"
ZERO, ONE = D(0), D(1)
RICH = {"USD": D("10000000"), "BTC": D("100"), "ETH": D("1000")}


def quiet_market(**kw: Any) -> SimMarketConfig:
    """A frozen market: the fair price fixed, no synthetic trades, no churn."""
    base: dict[str, Any] = dict(
        volatility=0.0, trade_rate=0.0, maker_churn=0.0, history_minutes=0, initial_balances=RICH
    )
    return SimMarketConfig(**{**base, **kw})


class EmulatingSink(ExecutorSink):
    """The executor sink of a venue with no native exits (Prime today): all emulated."""

    @property
    def native_exits(self) -> frozenset[str]:
        return frozenset()


class StopOnlySink(ExecutorSink):
    """The executor sink of a venue with native stop-limit only (Exchange)."""

    @property
    def native_exits(self) -> frozenset[str]:
        return frozenset({"stop_limit"})


class Recorder(Strategy):
    """Records what it is told (exits especially)."""

    def __init__(self, ctx: Any, params: Any) -> None:
        super().__init__(ctx, params)
        self.exits: list[ExitTriggered | ExitFilled] = []
        self.fills: list[FillEvent] = []

    def on_exit(self, event: ExitTriggered | ExitFilled) -> None:
        self.exits.append(event)

    def on_fill(self, fill: FillEvent) -> None:
        self.fills.append(fill)


class UserChannel:
    """What Coinbase's ``user`` channel would tell the bot, read from the simulator.

    Each call of :meth:`sync` delivers, for every order of the default user whose state
    changed, the order update and the fill of its cumulative delta (as botkit's fill
    tracker synthesises them), in creation order. Deterministic: no socket timing.
    """

    def __init__(self, exchange: SimExchange, user: str = "default") -> None:
        self.exchange = exchange
        self.user = user
        self.seen: dict[str, tuple[str, Decimal, Decimal, Decimal]] = {}

    async def sync(self, ctx: BotContext) -> int:
        delivered = 0
        for o in sorted(self.exchange.list_orders(self.user, {}), key=lambda o: o["created_time"]):
            oid = o["order_id"]
            filled, value = D(o["filled_size"] or 0), D(o["filled_value"] or 0)
            fees = D(o["total_fees"] or 0)
            prev = self.seen.get(oid, ("", D(0), D(0), D(0)))
            if prev == (o["status"], filled, value, fees):
                continue
            self.seen[oid] = (o["status"], filled, value, fees)
            coid = o["client_order_id"]
            await ctx.dispatch(
                OrderUpdate(
                    order_id=oid, client_order_id=coid, product_id=o["product_id"],
                    side=o["side"], order_type=o["order_type"], status=o["status"],
                    cumulative_quantity=filled, leaves_quantity=D(0),
                    avg_price=D(o["average_filled_price"] or 0), total_fees=fees, snapshot=False,
                )
            )  # fmt: skip
            if filled > prev[1]:
                size = filled - prev[1]
                await ctx.dispatch(
                    FillEvent(
                        fill_id=f"{oid}:{filled}", order_id=oid, client_order_id=coid,
                        product_id=o["product_id"], side=o["side"], size=size,
                        price=(value - prev[2]) / size, fee=fees - prev[3],
                        cumulative_quantity=filled,
                    )
                )  # fmt: skip
            delivered += 1
        return delivered


def ticker(price: Decimal, product: str = PRODUCT) -> TickersReceived:
    return TickersReceived("update", (Ticker(product_id=product, price=price),), False)


def trade_print(price: Decimal, n: int = 1, product: str = PRODUCT) -> TradesReceived:
    return TradesReceived(
        "update",
        (MarketTrade(trade_id=str(n), product_id=product, price=price, size=D("0.1"), side="BUY"),),
    )


def now() -> float:
    return time.time()


def ex_now(ex: SimExchange) -> float:
    """The exchange's own time. Orders of the test's other users are stamped with it: a
    later time would step the simulator's market, which re-quotes its synthetic book, and
    the book would no longer be what the test arranged."""
    return ex._now


def frozen_sim(rate_limits: RateLimitConfig | None = None, **market: Any) -> SimServer:
    """A simulator whose clock stands still (a quiet market that never re-quotes between
    the test's moves); JWTs are checked with a wide leeway against that clock."""
    return SimServer(
        seed=5,
        market=quiet_market(**market),
        tick_interval=3600,
        clock=ManualClock(time.time()).time,
        leeway=300.0,
        rate_limits=rate_limits,
    )


def sell_down_to(ex: SimExchange, price: Decimal, user: str = "b") -> Decimal:
    """User ``user`` sells into the bids until the last trade is at or below ``price``
    (every bid at or above it, and the first level below)."""
    bids, _ = ex.book(PRODUCT)
    size = sum((s for p, s in bids if p >= price), D(0))
    size += next((s for p, s in bids if p < price), D(0))
    body = {"client_order_id": "", "product_id": PRODUCT, "side": "SELL",
            "order_configuration": {"market_market_ioc": {"base_size": str(size)}}}  # fmt: skip
    assert ex.create_order(user, body, ex_now(ex))["success"]
    assert ex.last_trade_price(PRODUCT) <= price
    return ex.last_trade_price(PRODUCT)


def buy_up_to(ex: SimExchange, price: Decimal, extra: Decimal = ZERO, user: str = "b") -> Decimal:
    """User ``user`` lifts every ask below ``price`` (and ``extra`` at it)."""
    _, asks = ex.book(PRODUCT)
    size = sum((s for p, s in asks if p < price), D(0)) + extra
    body = {"client_order_id": "", "product_id": PRODUCT, "side": "BUY",
            "order_configuration": {"market_market_ioc": {"base_size": str(size)}}}  # fmt: skip
    assert ex.create_order(user, body, ex_now(ex))["success"]
    return ex.last_trade_price(PRODUCT)


def open_at_sim(ex: SimExchange, user: str = "default") -> list[dict[str, Any]]:
    return [o for o in ex.list_orders(user, {}) if o["status"] in ("OPEN", "PENDING")]


def bid(ex: SimExchange, price: Decimal, size: Decimal = ONE, user: str = "b") -> None:
    """User ``user`` rests a bid (the liquidity a triggered stop sells into)."""
    body = {"client_order_id": "", "product_id": PRODUCT, "side": "BUY",
            "order_configuration": {"limit_limit_gtc": {"base_size": str(size),
                                                         "limit_price": str(price)}}}  # fmt: skip
    assert ex.create_order(user, body, ex_now(ex))["success"]
