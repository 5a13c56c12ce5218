"""The risk engine refuses what a restricted product does not take, before anything is sent.

The status itself: tests/market/test_trading_status.py; read from the venue by the runtime:
tests/runtime/test_trading_watch.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from botkit.market.trading_status import TradingMode, TradingStatus
from botkit.orders.intents import OrderIntent, limit_gtc, market_ioc, stop_limit
from botkit.risk.engine import MarketQuote, OrderCheck, RiskEngine, RiskLimits, RiskRejected

D = Decimal
QUOTE = MarketQuote(D("100"), D("101"))


def check(engine: RiskEngine, config: dict[str, object], *, exit_order: bool = False) -> str | None:
    order = OrderCheck.from_intent(OrderIntent("c1", "BTC-USD", "SELL", config))
    if exit_order:
        order = OrderCheck(
            order.product_id, order.side, order.base_size, order.quote_size,
            order.limit_price, True, order.post_only,
        )  # fmt: skip
    try:
        engine.check(order, QUOTE, position=D(1), open_orders=0)
    except RiskRejected as exc:
        assert exc.code == exc.reason
        assert str(exc).startswith(f"{exc.reason}: ")
        return str(exc)
    return None


MARKET = market_ioc(base_size=D("0.1"))
POST = limit_gtc(D("0.1"), D("102"), post_only=True)
PLAIN = limit_gtc(D("0.1"), D("102"))
STOP = stop_limit(D("0.1"), D("95"), D("96"), "STOP_DIRECTION_STOP_DOWN")


def test_a_fully_trading_product_is_not_checked_and_a_lifted_restriction_refuses_nothing() -> None:
    engine = RiskEngine(RiskLimits())
    assert [check(engine, c) for c in (MARKET, POST, PLAIN, STOP)] == [None] * 4
    assert engine.set_trading_status(TradingStatus("BTC-USD", TradingMode.CANCEL_ONLY))
    assert check(engine, POST) is not None
    assert engine.set_trading_status(TradingStatus("BTC-USD", TradingMode.FULL))
    assert not engine.set_trading_status(TradingStatus("BTC-USD", TradingMode.FULL))  # no change
    assert engine.restricted == {}
    assert [check(engine, c) for c in (MARKET, POST, PLAIN, STOP)] == [None] * 4


@pytest.mark.parametrize(
    ("mode", "refused"),
    [
        (TradingMode.LIMIT_ONLY, {"MARKET"}),
        (TradingMode.POST_ONLY, {"MARKET", "PLAIN", "STOP"}),
        (TradingMode.CANCEL_ONLY, {"MARKET", "POST", "PLAIN", "STOP"}),
        (TradingMode.HALTED, {"MARKET", "POST", "PLAIN", "STOP"}),
    ],
)
def test_each_mode_refuses_what_the_venue_would(mode: TradingMode, refused: set[str]) -> None:
    engine = RiskEngine(RiskLimits())
    status = TradingStatus("BTC-USD", mode, "online", "volatility")
    assert engine.set_trading_status(status)
    assert not engine.set_trading_status(status)  # the same mode again: no change
    orders = {"MARKET": MARKET, "POST": POST, "PLAIN": PLAIN, "STOP": STOP}
    got = {name for name, config in orders.items() if check(engine, config) is not None}
    assert got == refused
    # an exit's order goes to the venue, which decides: a stop-loss retried while trading
    # is halted is taken the moment it resumes, not at botkit's next read of the status
    assert [check(engine, c, exit_order=True) for c in orders.values()] == [None] * 4
    message = check(engine, MARKET)
    assert message is not None and message.startswith(f"PRODUCT_{mode.name}: BTC-USD is ")
    assert "volatility" in message  # the venue's own words reach the strategy
    other = OrderCheck.from_intent(OrderIntent("c2", "ETH-USD", "BUY", MARKET))
    engine.check(other, QUOTE, position=D(0), open_orders=0)  # another product trades on


def test_respect_trading_status_false_leaves_it_to_the_venue() -> None:
    engine = RiskEngine(RiskLimits(respect_trading_status=False))
    engine.set_trading_status(TradingStatus("BTC-USD", TradingMode.HALTED))
    assert check(engine, MARKET) is None
    assert "BTC-USD" in engine.restricted  # still known (status page, alerts)


def test_the_kill_switch_is_named_first() -> None:
    engine = RiskEngine(RiskLimits())
    engine.set_trading_status(TradingStatus("BTC-USD", TradingMode.CANCEL_ONLY))
    engine.trip("by hand", now=0.0)
    message = check(engine, PLAIN)
    assert message is not None and message.startswith("RISK_KILL_SWITCH")
