"""The engine's precomputed band multipliers give the per-order formula's decisions.

The checks run per order on the tick-to-order path, so the engine precomputes; the
rules as first written (``reference_check``) are the specification it must match.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.risk.engine import MarketQuote, OrderCheck, RiskEngine, RiskLimits
from tests.risk.strategies import engine_says, limits_st, money, sizes

D = Decimal
PRODUCT = "BTC-USD"


def reference_check(
    lim: RiskLimits, order: OrderCheck, q: MarketQuote, position: Decimal, open_orders: int
) -> str:
    """The rules as first written (per-order arithmetic), as the specification."""
    if lim.block_on_invalid_book and not q.book_valid:
        return "RISK_BOOK_INVALID"
    ref = q.best_ask if order.side == "BUY" else q.best_bid
    ref = ref or q.best_bid or q.best_ask
    band = lim.price_band_pct
    if ref is None and (order.limit_price is None or band is not None):
        return "RISK_NO_PRICE"
    if band is not None and order.limit_price is not None:
        low = (q.best_bid or q.best_ask or D(0)) * (1 - band / D(100))
        high = (q.best_ask or q.best_bid or D(0)) * (1 + band / D(100))
        if not low <= order.limit_price <= high:
            return "RISK_PRICE_BAND"
    price = order.limit_price or ref or D(0)
    assert order.base_size is not None
    base, notional = order.base_size, order.base_size * price
    if lim.max_order_notional is not None and notional > lim.max_order_notional:
        return "RISK_MAX_NOTIONAL"
    limit = lim.position_limit(order.product_id)
    if limit is not None:
        after = position + (base if order.side == "BUY" else -base)
        if abs(after) > limit and abs(after) > abs(position):
            return "RISK_MAX_POSITION"
    if lim.max_open_orders is not None and open_orders >= lim.max_open_orders:
        return "RISK_MAX_OPEN_ORDERS"
    return "OK"


@settings(max_examples=400, deadline=None)
@given(
    lim=limits_st,
    side=st.sampled_from(["BUY", "SELL"]),
    size=sizes,
    price=money,
    bid=money,
    spread=st.decimals(min_value=D(0), max_value=D(5), places=2),
    position=st.decimals(min_value=D(-30), max_value=D(30), places=3),
    open_orders=st.integers(0, 4),
)
def test_engine_decides_as_the_per_order_formula(
    lim: RiskLimits,
    side: str,
    size: Decimal,
    price: Decimal,
    bid: Decimal,
    spread: Decimal,
    position: Decimal,
    open_orders: int,
) -> None:
    q = MarketQuote(bid, bid + spread)
    order = OrderCheck(PRODUCT, side, size, None, price)
    got = engine_says(RiskEngine(lim), order, q, position=position, open_orders=open_orders)
    assert got == reference_check(lim, order, q, position, open_orders)


def test_band_edges_are_inclusive_and_exact() -> None:
    engine = RiskEngine(RiskLimits(price_band_pct=D("5")))
    q = MarketQuote(D("100"), D("101"))
    for price, want in (
        (D("95"), "OK"),  # 100 * 0.95: on the edge
        (D("94.99"), "RISK_PRICE_BAND"),
        (D("106.05"), "OK"),  # 101 * 1.05
        (D("106.06"), "RISK_PRICE_BAND"),
    ):
        got = engine_says(
            engine, OrderCheck(PRODUCT, "BUY", D(1), None, price), q, position=D(0), open_orders=0
        )
        assert got == want, price
    engine.limits = RiskLimits(price_band_pct=D("1"))  # new limits: multipliers recomputed
    got = engine_says(
        engine, OrderCheck(PRODUCT, "BUY", D(1), None, D(95)), q, position=D(0), open_orders=0
    )
    assert got == "RISK_PRICE_BAND"
