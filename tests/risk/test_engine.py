"""Risk engine (pure): each rule refuses with its own reason; the daily loss trips the kill switch.

The kill switch's persistence and CLI: test_kill_switch.py."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botkit.errors import OrderRejected
from botkit.orders.intents import OrderIntent, limit_gtc, market_ioc
from botkit.risk.engine import MarketQuote, OrderCheck, RiskEngine, RiskLimits, RiskRejected

D = Decimal
QUOTE = MarketQuote(D("100"), D("101"))
DAY = 86_400.0


def limit(side: str, size: str, price: str, product: str = "BTC-USD") -> OrderCheck:
    return OrderCheck(product, side, D(size), None, D(price))


FLAT = D(0)  # no position


def refused(
    engine: RiskEngine,
    order: OrderCheck,
    quote: MarketQuote = QUOTE,
    *,
    position: D = FLAT,
    open_orders: int = 0,
) -> str:
    with pytest.raises(RiskRejected) as info:
        engine.check(order, quote, position=position, open_orders=open_orders)
    assert isinstance(info.value, OrderRejected) and info.value.code == info.value.reason
    return info.value.reason


def test_no_limits_allow_everything() -> None:
    engine = RiskEngine(RiskLimits())
    huge = limit("BUY", "1000", "1")
    # check() returns nothing: an allowed order is one it does not raise on
    engine.check(huge, QUOTE, position=D(5), open_orders=99)
    engine.check(huge, MarketQuote(), position=D(5), open_orders=99)  # no price
    assert engine.on_mark("BTC-USD", D("0.01"), now=0.0) is None  # no loss limit: never trips


@given(
    size=st.decimals(min_value=D("0.0001"), max_value=D("10"), places=4),
    price=st.decimals(min_value=D("99"), max_value=D("102"), places=2),
)
def test_max_order_notional(size: Decimal, price: Decimal) -> None:
    engine = RiskEngine(RiskLimits(max_order_notional=D("500")))
    order = limit("BUY", str(size), str(price))
    if size * price > 500:
        assert refused(engine, order) == "RISK_MAX_NOTIONAL"
    else:
        engine.check(order, QUOTE, position=D(0), open_orders=0)


def test_market_order_notional_uses_quote_size_or_the_touch() -> None:
    engine = RiskEngine(RiskLimits(max_order_notional=D("500")))
    big = OrderCheck.from_intent(
        OrderIntent("a", "BTC-USD", "BUY", market_ioc(quote_size=D("501")))
    )
    assert refused(engine, big) == "RISK_MAX_NOTIONAL"
    sell = OrderCheck.from_intent(
        OrderIntent("b", "BTC-USD", "SELL", market_ioc(base_size=D("5.1")))
    )
    assert refused(engine, sell) == "RISK_MAX_NOTIONAL"  # 5.1 × best bid 100
    engine.check(
        OrderCheck("BTC-USD", "SELL", D("4.9"), None, None), QUOTE, position=D(0), open_orders=0
    )
    assert refused(engine, sell, MarketQuote()) == "RISK_NO_PRICE"


@given(
    position=st.decimals(min_value=D("-3"), max_value=D("3"), places=2),
    size=st.decimals(min_value=D("0.01"), max_value=D("3"), places=2),
    side=st.sampled_from(["BUY", "SELL"]),
)
def test_max_position_allows_reducing(position: Decimal, size: Decimal, side: str) -> None:
    engine = RiskEngine(RiskLimits(max_position=D("2"), max_position_per_product={"ETH-USD": D(9)}))
    order = limit(side, str(size), "100")
    after = position + (size if side == "BUY" else -size)
    if abs(after) > 2 and abs(after) > abs(position):
        assert refused(engine, order, position=position) == "RISK_MAX_POSITION"
    else:
        engine.check(order, QUOTE, position=position, open_orders=0)
    engine.check(limit(side, str(size), "100", "ETH-USD"), QUOTE, position=position, open_orders=0)


def test_max_open_orders() -> None:
    engine = RiskEngine(RiskLimits(max_open_orders=3))
    engine.check(limit("BUY", "1", "100"), QUOTE, position=D(0), open_orders=2)
    assert refused(engine, limit("BUY", "1", "100"), open_orders=3) == "RISK_MAX_OPEN_ORDERS"


@given(price=st.decimals(min_value=D("90"), max_value=D("112"), places=2))
def test_price_band_around_bid_and_ask(price: Decimal) -> None:
    engine = RiskEngine(RiskLimits(price_band_pct=D("5")))  # [95, 106.05]
    order = limit("SELL", "0.1", str(price))
    if D("95") <= price <= D("106.05"):
        engine.check(order, QUOTE, position=D(0), open_orders=0)
    else:
        assert refused(engine, order) == "RISK_PRICE_BAND"


def test_an_exits_order_is_not_held_to_the_price_band() -> None:
    """An exit's prices are checked when it is armed; at trigger time the band would only
    stand between the position and its exit (a 2 % band refused every emulated stop, whose
    limit lies 5 % through its trigger, and a native stop 10 % away outright)."""
    engine = RiskEngine(RiskLimits(price_band_pct=D("2"), max_position=D("10")))
    deep = OrderCheck("BTC-USD", "SELL", D("1"), None, D("90"), True)
    engine.check(deep, QUOTE, position=D("1"), open_orders=0)
    engine.check(deep, QUOTE, position=D("0"), open_orders=0)  # a position held elsewhere
    plain = OrderCheck("BTC-USD", "SELL", D("1"), None, D("90"))  # not an exit's
    assert refused(engine, plain, position=D("1")) == "RISK_PRICE_BAND"
    big = OrderCheck("BTC-USD", "SELL", D("20"), None, D("90"), True)  # the rest still apply
    assert refused(engine, big, position=D("1")) == "RISK_MAX_POSITION"


def test_no_price_and_invalid_book() -> None:
    engine = RiskEngine(RiskLimits(price_band_pct=D("5")))
    assert refused(engine, limit("BUY", "1", "100"), MarketQuote()) == "RISK_NO_PRICE"
    invalid = MarketQuote(D("100"), D("101"), book_valid=False)
    assert refused(engine, limit("BUY", "1", "100"), invalid) == "RISK_BOOK_INVALID"
    RiskEngine(RiskLimits(block_on_invalid_book=False)).check(
        limit("BUY", "1", "100"), invalid, position=D(0), open_orders=0
    )


def test_unknown_order_configuration_is_refused() -> None:
    intent = OrderIntent("x", "BTC-USD", "BUY", {"twap_something": {"foo": "1"}})
    with pytest.raises(RiskRejected, match="cannot size") as info:
        OrderCheck.from_intent(intent)
    assert info.value.reason == "RISK_UNKNOWN_ORDER_TYPE"
    ok = OrderCheck.from_intent(OrderIntent("y", "BTC-USD", "BUY", limit_gtc(D("1"), D("100"))))
    assert ok.limit_price == D("100") and ok.base_size == D("1")


def test_limits_refuse_unknown_keys() -> None:
    with pytest.raises(ValueError, match="max_notional"):
        RiskLimits.model_validate({"max_notional": "5"})


def test_daily_loss_counts_realised_unrealised_and_fees_and_resets_at_utc_midnight() -> None:
    engine = RiskEngine(RiskLimits(daily_loss_limit=D("50")))
    t = 20_000 * DAY + 3600.0  # 01:00 UTC
    assert engine.on_fill("BTC-USD", "BUY", D("1"), D("100"), D("1"), now=t) is None
    assert engine.daily_pnl() == D("-1")  # the fee
    assert engine.on_mark("BTC-USD", D("80"), now=t + 1) is None
    assert engine.daily_pnl() == D("-21")
    assert engine.on_fill("BTC-USD", "SELL", D("0.5"), D("80"), D("0"), now=t + 2) is None
    assert engine.daily_pnl() == D("-21")  # realised -10, unrealised -10, fee -1
    # a new UTC day: yesterday's loss no longer counts, the open position's moves do
    assert engine.on_mark("BTC-USD", D("80"), now=t + DAY) is None
    assert engine.daily_pnl() == 0
    state = engine.on_mark("BTC-USD", D("0"), now=t + DAY + 1)  # -40 on 0.5 BTC
    assert state is None and engine.daily_pnl() == D("-40")
    engine.on_fill("ETH-USD", "BUY", D("1"), D("20"), D("0"), now=t + DAY + 2)
    state = engine.on_mark("ETH-USD", D("9"), now=t + DAY + 3)  # -11 more: -51
    assert state is not None and state.tripped and "daily loss 51.00" in state.reason
    assert refused(engine, limit("SELL", "0.1", "100")) == "RISK_KILL_SWITCH"
    assert engine.on_mark("ETH-USD", D("1"), now=t + DAY + 4) is None  # trips once


def test_a_tripped_kill_switch_lets_only_an_exit_that_reduces_through() -> None:
    """It refused every order, the stop-loss's too: the day it trips is the day a losing
    position most needs its exit. Letting every exit through (as a first fix did) let a
    stop armed for a position since closed sell the strategy short: only an exit's order
    that reduces the position goes."""
    engine = RiskEngine(RiskLimits())
    engine.trip("daily loss 51.00", now=0.0)
    exit_sell = OrderCheck("BTC-USD", "SELL", D("0.5"), None, D("95"), True)
    engine.check(exit_sell, QUOTE, position=D("1"), open_orders=0)  # closes part of a long
    assert refused(engine, exit_sell, position=D("0.2")) == "RISK_KILL_SWITCH"  # a flip
    assert refused(engine, exit_sell) == "RISK_KILL_SWITCH"  # flat (closed another way)
    assert refused(engine, limit("SELL", "0.5", "95"), position=D("1")) == "RISK_KILL_SWITCH"
