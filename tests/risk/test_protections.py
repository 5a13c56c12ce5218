"""Protections in the pure engine, with explicit times: cooldown after a stop-loss, the
losing-trade lock, the drawdown latch — each refuses entries with its own reason and lets
exits through. Persistence across a restart: test_protections_gate.py."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from botkit.errors import OrderRejected
from botkit.risk.engine import MarketQuote, OrderCheck, RiskEngine, RiskLimits, RiskRejected

D = Decimal
QUOTE = MarketQuote(D("100"), D("101"))
T0 = 1_765_000_000.0  # 2025-12-06, a plain Unix time


def limit(side: str, size: str, price: str = "100", product: str = "BTC-USD") -> OrderCheck:
    return OrderCheck(product, side, D(size), None, D(price))


def verdict(engine: RiskEngine, order: OrderCheck, *, position: str = "0", now: float) -> str:
    try:
        engine.check(order, QUOTE, position=D(position), open_orders=0, now=now)
    except RiskRejected as exc:
        assert isinstance(exc, OrderRejected) and exc.code == exc.reason
        return exc.reason
    return "OK"


def message(engine: RiskEngine, order: OrderCheck, *, position: str = "0", now: float) -> str:
    with pytest.raises(RiskRejected) as info:
        engine.check(order, QUOTE, position=D(position), open_orders=0, now=now)
    return str(info.value)


def round_trip(
    engine: RiskEngine, buy: str, sell: str, *, now: float, fee: str = "0", size: str = "1"
) -> None:
    engine.on_fill("BTC-USD", "BUY", D(size), D(buy), D(fee), now=now)
    engine.on_fill("BTC-USD", "SELL", D(size), D(sell), D(fee), now=now + 1)


def test_all_protections_are_off_by_default() -> None:
    limits = RiskLimits()
    assert not limits.protections
    engine = RiskEngine(limits)
    assert engine.on_stop_loss("BTC-USD", now=T0) is False
    for i in range(5):
        round_trip(engine, "100", "90", now=T0 + 10 * i)
    assert engine.on_mark("BTC-USD", D("1"), now=T0 + 99) is None
    assert verdict(engine, limit("BUY", "1"), now=T0 + 100) == "OK"
    assert engine.protection.losses == [] and engine.protection_changed is False


def test_cooldown_refuses_entries_on_the_product_until_it_ends_but_not_exits() -> None:
    engine = RiskEngine(RiskLimits(cooldown_after_stop_loss=60))
    assert engine.on_stop_loss("BTC-USD", now=T0)
    assert verdict(engine, limit("BUY", "1"), now=T0 + 59.9) == "RISK_COOLDOWN"
    text = message(engine, limit("BUY", "1"), now=T0 + 30)
    assert "2025-12-06T05:47:40Z" in text and "(30 s;" in text and "exits" in text
    # short side entries too, and adding to a position
    assert verdict(engine, limit("SELL", "1"), now=T0 + 1) == "RISK_COOLDOWN"
    assert verdict(engine, limit("BUY", "1"), position="2", now=T0 + 1) == "RISK_COOLDOWN"
    # exits: the whole position, or part of it, on either side
    assert verdict(engine, limit("SELL", "2"), position="2", now=T0 + 1) == "OK"
    assert verdict(engine, limit("SELL", "0.5"), position="2", now=T0 + 1) == "OK"
    assert verdict(engine, limit("BUY", "3"), position="-3", now=T0 + 1) == "OK"
    # a flip is a new position: an entry
    assert verdict(engine, limit("SELL", "3"), position="2", now=T0 + 1) == "RISK_COOLDOWN"
    # another product is not cooling down
    assert verdict(engine, limit("BUY", "1", product="ETH-USD"), now=T0 + 1) == "OK"
    # it lifts by itself, exactly at the end
    assert verdict(engine, limit("BUY", "1"), now=T0 + 60) == "OK"
    assert engine.protection.cooldowns == {}


def test_cooldown_scope_all_covers_every_product_and_a_later_stop_extends_it() -> None:
    engine = RiskEngine(RiskLimits(cooldown_after_stop_loss=60, cooldown_scope="all"))
    engine.on_stop_loss("BTC-USD", now=T0)
    assert verdict(engine, limit("BUY", "1", product="ETH-USD"), now=T0 + 10) == "RISK_COOLDOWN"
    assert "every product" in message(engine, limit("BUY", "1", product="ETH-USD"), now=T0 + 10)
    engine.on_stop_loss("ETH-USD", now=T0 + 50)  # runs to T0 + 110 now
    assert verdict(engine, limit("BUY", "1"), now=T0 + 100) == "RISK_COOLDOWN"
    assert verdict(engine, limit("BUY", "1"), now=T0 + 110) == "OK"


def test_a_quote_sized_market_order_counts_as_reducing_only_if_it_fits_the_position() -> None:
    short = D("-2")
    fits = OrderCheck("BTC-USD", "BUY", None, D("202"), None)  # 2 at the 101 ask
    too_big = OrderCheck("BTC-USD", "BUY", None, D("203"), None)
    assert RiskEngine.is_reducing(fits, QUOTE, short)
    assert not RiskEngine.is_reducing(too_big, QUOTE, short)
    assert not RiskEngine.is_reducing(fits, MarketQuote(), short)  # no price: cannot tell
    assert not RiskEngine.is_reducing(fits, QUOTE, D(0))


def test_losing_trades_in_the_window_lock_entries_for_the_lock_time() -> None:
    limits = RiskLimits(max_losing_trades=2, losing_trades_window=3600, losing_trades_lock=600)
    engine = RiskEngine(limits)
    round_trip(engine, "100", "99", now=T0)  # a loss
    round_trip(engine, "100", "105", now=T0 + 100)  # a win does not count
    assert verdict(engine, limit("BUY", "1"), now=T0 + 200) == "OK"
    round_trip(engine, "100", "100", fee="0.01", now=T0 + 300)  # break-even but for fees
    assert engine.protection.streak_until == T0 + 301 + 600
    assert verdict(engine, limit("BUY", "1"), now=T0 + 400) == "RISK_LOSING_STREAK"
    text = message(engine, limit("BUY", "1"), now=T0 + 400)
    assert "2 losing trades within 3600 s" in text and "(501 s)" in text
    assert verdict(engine, limit("SELL", "1"), position="1", now=T0 + 400) == "OK"  # exit
    assert verdict(engine, limit("BUY", "1"), now=T0 + 901) == "OK"
    assert engine.protection.streak_until is None
    # the count started afresh with the lock: one more loss is not a second lock
    round_trip(engine, "100", "99", now=T0 + 1000)
    assert verdict(engine, limit("BUY", "1"), now=T0 + 1100) == "OK"


def test_losses_older_than_the_window_do_not_count() -> None:
    engine = RiskEngine(RiskLimits(max_losing_trades=2, losing_trades_window=3600))
    round_trip(engine, "100", "99", now=T0)
    round_trip(engine, "100", "99", now=T0 + 3601)
    assert engine.protection.streak_until is None
    round_trip(engine, "100", "99", now=T0 + 3700)
    assert engine.protection.streak_until == math.inf  # no lock time: until a reset
    assert "an operator reset" in message(engine, limit("BUY", "1"), now=T0 + 10**6)
    assert engine.reset_protections() is True
    assert verdict(engine, limit("BUY", "1"), now=T0 + 10**6) == "OK"


def test_a_trade_closes_on_flat_or_flip_with_its_fees_split_on_a_flip() -> None:
    engine = RiskEngine(RiskLimits(max_losing_trades=1, losing_trades_lock=10))
    pid = "BTC-USD"
    engine.on_fill(pid, "BUY", D("1"), D("100"), D("0.5"), now=T0)
    engine.on_fill(pid, "BUY", D("1"), D("102"), D("0.5"), now=T0 + 1)  # avg 101
    engine.on_fill(pid, "SELL", D("1"), D("103"), D("0"), now=T0 + 2)  # partial: +2, open
    assert engine.protection.trade_pnl[pid] == D("1")
    # sells 1 to close (+2) and 3 to open a short; fee 4 -> 1 to the close, 3 to the short
    engine.on_fill(pid, "SELL", D("4"), D("103"), D("4"), now=T0 + 3)
    assert engine.protection.losses == []  # the long made 1 + 2 - 1 = 2
    assert engine.protection.trade_pnl[pid] == D("-3")
    assert engine.protection.positions[pid] == (D("-3"), D("103"))
    engine.on_fill(pid, "BUY", D("3"), D("103"), D("0"), now=T0 + 4)  # flat: the short lost 3
    assert engine.protection.streak_until == T0 + 14 and pid not in engine.protection.trade_pnl
    assert engine.protection.positions == {}


def test_drawdown_from_the_peak_latches_until_reset_and_lets_exits_through() -> None:
    engine = RiskEngine(RiskLimits(max_drawdown=D("5")))
    pid = "BTC-USD"
    engine.on_fill(pid, "BUY", D("1"), D("100"), D("0"), now=T0)
    engine.on_mark(pid, D("110"), now=T0 + 1)
    assert engine.protection.peak == D("10")
    engine.on_mark(pid, D("105.01"), now=T0 + 2)
    assert verdict(engine, limit("BUY", "1"), position="1", now=T0 + 2) == "OK"
    engine.on_mark(pid, D("105"), now=T0 + 3)
    assert verdict(engine, limit("BUY", "1"), position="1", now=T0 + 3) == "RISK_MAX_DRAWDOWN"
    text = message(engine, limit("BUY", "1"), position="1", now=T0 + 3)
    assert "drawdown 5.00" in text and "peak 10.00" in text and "kill-switch reset" in text
    assert "reached max_drawdown 5;" in text and "None" not in text and "(0.00%)" not in text
    assert verdict(engine, limit("SELL", "1"), position="1", now=T0 + 3) == "OK"
    engine.on_mark(pid, D("200"), now=T0 + 4)  # a recovery does not lift the latch
    assert verdict(engine, limit("BUY", "1"), position="1", now=T0 + 5) == "RISK_MAX_DRAWDOWN"
    assert engine.kill_switch.tripped is False  # not the kill switch: exits keep working
    assert engine.reset_protections()
    assert verdict(engine, limit("BUY", "1"), position="1", now=T0 + 6) == "OK"
    engine.on_mark(pid, D("196"), now=T0 + 7)  # the peak restarted at the reset's equity
    assert engine.protection.peak == D("96") and not engine.protection.drawdown_tripped


def test_drawdown_percent_is_of_the_capital_plus_the_peak() -> None:
    limits = RiskLimits(max_drawdown_pct=D("1"), drawdown_capital=D("990"))
    engine = RiskEngine(limits)
    pid = "BTC-USD"
    engine.on_fill(pid, "BUY", D("1"), D("100"), D("0"), now=T0)
    engine.on_mark(pid, D("110"), now=T0 + 1)  # equity 1000 at the peak: 1 % is 10
    engine.on_mark(pid, D("100.01"), now=T0 + 2)
    assert not engine.protection.drawdown_tripped
    engine.on_mark(pid, D("100"), now=T0 + 3)
    assert engine.protection.drawdown_tripped
    assert "(1.00%)" in engine.protection.drawdown_reason


def test_percent_without_capital_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="drawdown_capital"):
        RiskLimits(max_drawdown_pct=D("5"))


def test_a_removed_setting_stops_refusing() -> None:
    engine = RiskEngine(RiskLimits(max_drawdown=D("1"), cooldown_after_stop_loss=60))
    engine.on_fill("BTC-USD", "BUY", D("1"), D("100"), D("0"), now=T0)
    engine.on_mark("BTC-USD", D("90"), now=T0 + 1)
    engine.on_stop_loss("BTC-USD", now=T0 + 1)
    assert verdict(engine, limit("BUY", "1"), now=T0 + 2) == "RISK_MAX_DRAWDOWN"
    engine.limits = RiskLimits(cooldown_after_stop_loss=60)
    assert verdict(engine, limit("BUY", "1"), now=T0 + 2) == "RISK_COOLDOWN"
    engine.limits = RiskLimits(max_open_orders=5)
    assert verdict(engine, limit("BUY", "1"), now=T0 + 2) == "OK"


fills_st = st.lists(
    st.tuples(
        st.sampled_from(["BUY", "SELL", "MARK"]),
        st.decimals(min_value=D("0.1"), max_value=D("3"), places=1),
        st.decimals(min_value=D("50"), max_value=D("150"), places=2),
        st.decimals(min_value=D("0"), max_value=D("0.5"), places=2),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(steps=fills_st, limit_=st.decimals(min_value=D("0.5"), max_value=D("30"), places=2))
def test_drawdown_latches_exactly_when_cash_plus_holdings_fall_limit_below_their_peak(
    steps: list[tuple[str, Decimal, Decimal, Decimal]], limit_: Decimal
) -> None:
    """Equity checked against a model independent of average cost (cash spent/received -
    fees + quantity x mark); the latch against a running maximum of it: it never trips at
    the peak, and trips the first time the drop from the peak reaches the limit."""
    mark: Decimal | None
    engine = RiskEngine(RiskLimits(max_drawdown=limit_))
    cash, qty, peak = D(0), D(0), None
    mark = None
    tripped_at = None
    for i, (kind, size, price, fee) in enumerate(steps):
        if kind == "MARK":
            engine.on_mark("BTC-USD", price, now=T0 + i)
        else:
            engine.on_fill("BTC-USD", kind, size, price, fee, now=T0 + i)
            signed = size if kind == "BUY" else -size
            cash -= signed * price + fee
            qty += signed
        if kind == "MARK" or mark is None:
            mark = price  # marks come from ticks; a fill only sets the first one
        # average cost divides, so the engine may differ in the 28th digit
        assert abs(engine.equity() - (cash + qty * mark)) < D("1e-18")
        equity = engine.equity()
        if tripped_at is None and kind == "MARK" and qty == 0:
            pass  # a flat product's mark cannot move equity; the engine skips it
        elif tripped_at is None:
            if peak is not None and peak - equity >= limit_:
                tripped_at = i
            peak = equity if peak is None else max(peak, equity)
        assert engine.protection.drawdown_tripped == (tripped_at is not None)
        if equity == peak and tripped_at == i:
            pytest.fail("tripped at the peak")


def test_the_risk_table_of_the_bot_toml_sets_them() -> None:
    import tomllib

    from botkit.errors import ConfigError
    from botkit.runtime.bot_config import load_bot_config, parse_bot_config

    assert not load_bot_config(None).risk.protections  # the built-in config: all off
    doc = tomllib.loads(
        """
        [strategy]
        name = "market_maker"
        [risk]
        cooldown_after_stop_loss = 900
        cooldown_scope = "all"
        max_losing_trades = 3
        losing_trades_window = 7200
        losing_trades_lock = 3600
        max_drawdown = "150"
        max_drawdown_pct = "5"
        drawdown_capital = "3000"
        """
    )
    risk = parse_bot_config(doc).risk
    assert risk.protections and risk.cooldown_scope == "all" and risk.max_losing_trades == 3
    assert risk.max_drawdown == D("150") and risk.losing_trades_lock == 3600.0
    doc["risk"] = {"max_drawdown_pct": "5"}
    with pytest.raises(ConfigError, match=r"\[risk\] is invalid.*drawdown_capital"):
        parse_bot_config(doc)
    doc["risk"] = {"cooldown_scope": "everything"}
    with pytest.raises(ConfigError, match="cooldown_scope"):
        parse_bot_config(doc)


@given(
    position=st.decimals(min_value=D("-5"), max_value=D("5"), places=2),
    side=st.sampled_from(["BUY", "SELL"]),
    size=st.decimals(min_value=D("0.01"), max_value=D("10"), places=2),
)
def test_reducing_means_the_position_shrinks_without_flipping(
    position: Decimal, side: str, size: Decimal
) -> None:
    after = position + size if side == "BUY" else position - size
    shrinks = abs(after) < abs(position) and (after == 0 or (after > 0) == (position > 0))
    assert RiskEngine.is_reducing(limit(side, str(size)), QUOTE, position) == shrinks
    # and exactly those pass a cooldown
    engine = RiskEngine(RiskLimits(cooldown_after_stop_loss=60))
    engine.on_stop_loss("BTC-USD", now=T0)
    expected = "OK" if shrinks else "RISK_COOLDOWN"
    assert verdict(engine, limit(side, str(size)), position=str(position), now=T0) == expected
