"""The synthetic market: determinism, candles, live flow (its speed: bench/bench_sim_market.py)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from botkit.sim.events import BookChange, TradePrint
from botkit.sim.exchange import SimExchange, SimMarketConfig

T0 = 1_800_000_000.0
BTC = "BTC-USD"


def _run(seed: int, steps: int = 600, **kw: Any) -> tuple[Any, ...]:
    ex = SimExchange(SimMarketConfig(history_minutes=30, **kw), seed=seed, start_time=T0)
    ex.add_user("u")
    ex.advance(T0 + steps * 0.1)
    resp = ex.create_order(
        "u",
        {
            "client_order_id": "x",
            "product_id": BTC,
            "side": "BUY",
            "order_configuration": {"market_market_ioc": {"quote_size": "1000.00"}},
        },
        T0 + steps * 0.1,
    )
    return (
        ex.book(BTC),
        ex.book("ETH-USD"),
        ex.recent_trades(BTC, 1000),
        ex.candles(BTC, int(T0) - 3600, int(T0) + 3600, 60),
        resp,
        ex.list_fills("u", {}),
        ex.drain_events(),
    )


def test_same_seed_same_market_and_ids() -> None:
    assert _run(11) == _run(11)


def test_different_seed_different_market() -> None:
    a, b = _run(11), _run(12)
    assert a[0] != b[0] and a[2] != b[2] and a[4]["order_id"] != b[4]["order_id"]


def test_live_flow_prints_trades_and_keeps_book_sane() -> None:
    ex = SimExchange(SimMarketConfig(history_minutes=0), seed=3, start_time=T0)
    start = ex.book(BTC)
    ex.advance(T0 + 60)
    events = ex.drain_events()
    prints = [e for e in events if isinstance(e, TradePrint) and e.product_id == BTC]
    assert 100 < len(prints) < 300  # ~3 trades/s
    assert all(p.side in ("BUY", "SELL") and p.size > 0 for p in prints)
    assert len({p.trade_id for p in prints}) == len(prints)
    bids, asks = ex.book(BTC)
    assert bids[0][0] < asks[0][0] and len(bids) == len(asks) == 50
    assert ex.last_trade_price(BTC) == prints[-1].price
    assert ex.recent_trades(BTC, 1)[0] == prints[-1]
    # replaying BookChange on the starting snapshot reproduces the book
    levels = {("bid", p): s for p, s in start[0]} | {("offer", p): s for p, s in start[1]}
    for e in events:
        if isinstance(e, BookChange) and e.product_id == BTC:
            levels[(e.side, e.price)] = e.new_quantity
    live = {k: v for k, v in levels.items() if v}
    assert live == {("bid", p): s for p, s in bids} | {("offer", p): s for p, s in asks}
    assert ex.stats_24h(BTC)["price"] == str(prints[-1].price)


def test_candles_omit_empty_buckets_and_aggregate() -> None:
    cfg = SimMarketConfig(volatility=0.0, trade_rate=0.0, maker_churn=0.0, history_minutes=0)
    ex = SimExchange(cfg, seed=1, start_time=T0)
    ex.add_user("u")
    for minute in (0, 3):
        body = {
            "client_order_id": "",
            "product_id": BTC,
            "side": "BUY",
            "order_configuration": {"market_market_ioc": {"base_size": "0.01"}},
        }
        ex.create_order("u", body, T0 + minute * 60 + 5)
    minutes = ex.candles(BTC, int(T0), int(T0) + 600, 60)
    assert [c["start"] for c in minutes] == [str(int(T0) + 180), str(int(T0))]
    assert minutes[0]["volume"] == "0.01"
    assert ex.candles(BTC, int(T0) + 60, int(T0) + 170, 60) == []

    hist = SimExchange(SimMarketConfig(history_minutes=120), seed=5, start_time=T0)
    one = hist.candles(BTC, int(T0) - 7200, int(T0), 60)
    assert len(one) == 120 and one[0]["start"] == str(int(T0) - 60)
    assert D(one[0]["close"]) == D("65000.00")  # history joins the live start price
    five = hist.candles(BTC, int(T0) - 7200, int(T0), 300)
    assert len(five) == 24
    for bucket in five:
        start = int(bucket["start"])
        parts = [c for c in one if start <= int(c["start"]) < start + 300]
        assert bucket["open"] == parts[-1]["open"] and bucket["close"] == parts[0]["close"]
        assert D(bucket["high"]) == max(D(c["high"]) for c in parts)
        assert D(bucket["low"]) == min(D(c["low"]) for c in parts)
        assert D(bucket["volume"]) == sum(D(c["volume"]) for c in parts)
        assert D(bucket["low"]) <= min(D(bucket["open"]), D(bucket["close"]))
    hour = hist.candles(BTC, int(T0) - 7200, int(T0), 3600)
    assert len(hour) == 2
