"""The market seam: the exchange runs with any MarketSource, not only the synthetic one."""

from __future__ import annotations

import random
from decimal import Decimal

from botkit.sim.exchange import ProductSpec, SimExchange, SimMarketConfig
from botkit.sim.market import MatchBook, SyntheticMarket, TakerFn


class ScriptedSource:
    """A stand-in for a replayer: every step it sells a fixed size into the book."""

    def __init__(
        self, spec: ProductSpec, config: SimMarketConfig, rng: random.Random, book: MatchBook
    ) -> None:
        self.inner = SyntheticMarket(spec, config, rng, book)  # initial liquidity
        self.steps = 0

    def step(self, take: TakerFn) -> None:
        self.steps += 1
        take("SELL", Decimal("0.01"), None)

    def on_filled(self, order_id: str) -> None:
        self.inner.on_filled(order_id)


def test_exchange_accepts_a_custom_market_source() -> None:
    ex = SimExchange(
        SimMarketConfig(), seed=1, start_time=1_790_000_000.0, market_factory=ScriptedSource
    )
    bids_before, _ = ex.book("BTC-USD")
    ex.advance(1_790_000_000.0 + 1.0)
    # the tape starts with the seeded history's prints; the session's own come after
    trades = [t for t in ex.recent_trades("BTC-USD", 100) if t.time >= 1_790_000_000.0]
    assert len(trades) == 10  # 10 steps of 0.1 s, one scripted sale each
    assert all(
        t.size == Decimal("0.01") and t.side == "BUY" for t in trades
    )  # maker side = the bids
    bids_after, _ = ex.book("BTC-USD")
    assert sum(s for _, s in bids_after) == sum(s for _, s in bids_before) - Decimal("0.10")
