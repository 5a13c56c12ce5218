"""Hypothesis strategies and a verdict helper shared by the risk tests and the strategy context's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from botkit.risk.engine import MarketQuote, OrderCheck, RiskEngine, RiskLimits, RiskRejected

D = Decimal

money = st.decimals(min_value=D("0.01"), max_value=D("200"), places=2)
sizes = st.decimals(min_value=D("0.001"), max_value=D("20"), places=3)
limits_st = st.builds(
    RiskLimits,
    max_order_notional=st.none() | st.decimals(min_value=D(1), max_value=D(2000), places=2),
    max_position=st.none() | st.decimals(min_value=D(0), max_value=D(30), places=3),
    max_open_orders=st.none() | st.integers(0, 3),
    price_band_pct=st.none() | st.decimals(min_value=D("0.1"), max_value=D(20), places=1),
)


def engine_says(engine: RiskEngine, order: OrderCheck, q: MarketQuote, **kw: Any) -> str:
    """The engine's verdict as a string: the refusal reason, or "OK"."""
    try:
        engine.check(order, q, **kw)
    except RiskRejected as exc:
        return exc.reason
    return "OK"
