"""Pure parts under the strategy API: positions/PnL, timers, the JSON state, the market view."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botkit.errors import ConfigError
from botkit.orders.positions import Positions, split_product
from botkit.strategy.state import JsonState
from botkit.strategy.timers import TimerFired, Timers

D = Decimal


def test_average_cost_flip_and_balances() -> None:
    p = Positions({"USD": D("1000")})
    assert p.apply_fill("BTC-USD", "BUY", D("1"), D("100"), D("1")) == D("-1")
    p.apply_fill("BTC-USD", "BUY", D("1"), D("110"))
    assert p.get("BTC-USD").avg_price == D("105")
    assert p.apply_fill("BTC-USD", "SELL", D("3"), D("120")) == D("30")  # closes 2, shorts 1
    assert p.quantity("BTC-USD") == D("-1") and p.get("BTC-USD").avg_price == D("120")
    assert p.unrealised({"BTC-USD": D("100")}) == D("20")
    assert p.balances() == {"USD": D("1000") - 100 - 1 - 110 + 360, "BTC": D("-1")}
    with pytest.raises(ValueError, match="BASE-QUOTE"):
        split_product("BTCUSD")


@given(
    st.lists(
        st.tuples(st.sampled_from(["BUY", "SELL"]), st.integers(1, 5), st.integers(90, 110)),
        max_size=30,
    )
)
def test_round_trip_pnl_equals_cash_flow(fills: list[tuple[str, int, int]]) -> None:
    """Realised + unrealised at any mark equals the change in account value (up to the
    28-digit rounding of the average price, e.g. 272/3)."""
    p = Positions()
    realised = D(0)
    for side, size, price in fills:
        realised += p.apply_fill("ETH-USD", side, D(size), D(price))
    mark = D(100)
    bal = p.balances()
    value = bal.get("USD", D(0)) + bal.get("ETH", D(0)) * mark
    assert abs(realised + p.unrealised({"ETH-USD": mark}) - value) < D("1e-20")


def test_timers_fire_in_order_repeat_and_skip_missed_intervals() -> None:
    t = Timers()
    t.set("a", 5, now=0)
    t.set("once", 3, now=0, repeat=False)
    assert t.due(2) == []
    assert t.due(5) == [TimerFired("once", 5), TimerFired("a", 5)]
    assert t.due(31) == [TimerFired("a", 31)]  # fell behind: fires once
    assert t.due(35) == [] and t.due(36) == [TimerFired("a", 36)]
    assert t.cancel("a") and t.names() == []
    with pytest.raises(ValueError, match="interval"):
        t.set("z", 0, now=0)


def test_json_state_round_trips_decimals_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s" / "state.json"
    s = JsonState(path)
    s.set("anchor", D("101.25"))
    s.set("levels", [D("1"), {"x": D("2")}])
    s.delete("missing")
    again = JsonState(path)
    assert again.get("anchor") == D("101.25") and again.get("levels") == [D("1"), {"x": D("2")}]
    assert again.get("nope", 7) == 7 and again.keys() == ["anchor", "levels"]
    with pytest.raises(TypeError, match="JSON types or Decimal"):
        again.set("bad", object())
    path.write_text("[1]")
    with pytest.raises(ConfigError, match="JSON object"):
        JsonState(path)
