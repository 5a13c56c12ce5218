"""WebSocket hub market channels: level2 rebuilds the exchange book exactly; ticker, ticker_batch, market_trades (batched like Coinbase), candles and status.

Harness and conventions: tests/sim/ws_harness.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from botkit.sim.events import TradePrint
from tests.sim.ws_harness import apply_l2, book_of, chan


async def test_level2_rebuild_equals_exchange_book(make_sim, connect):
    sim = await make_sim()
    c = await connect(sim.url)
    sim.step(20)  # changes before the subscription must not matter
    await c.sub("level2", "BTC-USD", "ETH-USD")
    snap = await c.until(chan("l2_data"))
    assert snap["events"][0]["type"] == "snapshot"
    sides = {u["side"] for u in snap["events"][0]["updates"]}
    assert sides == {"bid", "offer"}
    for i in range(300):
        sim.step()
        if i % 50 == 10:
            (bid, _), (ask, _) = sim.exchange.best_bid_ask("BTC-USD")
            sim.order("user-ec", "BUY", str(bid), "0.01")
            sim.order("user-ec", "SELL", str(ask + Decimal("1.00")), "0.02")
            sim.order("user-ec", "BUY", str(ask + Decimal("5.00")), "0.001")  # crosses
    await c.barrier()
    for pid in ("BTC-USD", "ETH-USD"):
        assert apply_l2(c.frames, pid) == book_of(sim.exchange, pid)
    updates = [fr for fr in c.frames if fr["channel"] == "l2_data"][2:]
    assert updates and all(ev["type"] == "update" for fr in updates for ev in fr["events"])


async def test_market_trades_are_batched_per_interval_like_coinbase(make_sim, connect):
    """§3.5: trades batched over 250 ms. Every print arrives once, in order, in few frames."""
    sim = await make_sim(market_trades_interval=0.25)
    c = await connect(sim.url)
    await c.sub("market_trades", "BTC-USD")
    await c.until(chan("market_trades"))  # the snapshot
    c.frames.clear()
    printed: list[str] = []
    for _ in range(40):  # 40 market steps published at once: well inside one interval
        sim.t += 0.1
        sim.exchange.advance(sim.t)
        events = sim.exchange.drain_events()
        printed += [
            str(e.trade_id)
            for e in events
            if isinstance(e, TradePrint) and e.product_id == "BTC-USD"
        ]
        sim.hub.publish(events)
    assert len(printed) >= 5, "the seeded market printed too little to test batching"
    got: list[str] = []
    while len(got) < len(printed):
        fr = await c.until(chan("market_trades"))
        assert fr["events"][0]["type"] == "update"
        got += [t["trade_id"] for t in fr["events"][0]["trades"]]
    updates = [fr for fr in c.frames if fr["channel"] == "market_trades"]
    assert got == printed  # none lost, none twice, in order
    assert len(updates) <= 2  # one flush (two if the steps straddled a flush)


async def test_prints_pending_for_an_unsubscribed_product_are_dropped(make_sim, connect):
    """Re-subscribing within one batching interval must not replay old prints as updates."""
    sim = await make_sim(market_trades_interval=0.25)
    c = await connect(sim.url)
    await c.sub("market_trades", "BTC-USD", "ETH-USD")
    await c.until(chan("market_trades"))  # the snapshot
    sim.step(20)  # prints for both products, pending until the next flush
    await c.send(type="unsubscribe", channel="market_trades", product_ids=["ETH-USD"])
    await c.sub("market_trades", "ETH-USD")
    snapshot = await c.until(
        lambda fr: chan("market_trades")(fr) and fr["events"][0]["type"] == "snapshot"
    )
    old = {t["trade_id"] for t in snapshot["events"][0]["trades"]}
    await c.until(lambda fr: chan("market_trades")(fr) and fr["events"][0]["type"] == "update")
    updates = [fr for fr in c.frames if fr["channel"] == "market_trades"]
    replayed = [
        t
        for fr in updates
        if fr["events"][0]["type"] == "update"
        for t in fr["events"][0]["trades"]
        if t["product_id"] == "ETH-USD" and t["trade_id"] in old
    ]
    assert replayed == []


async def test_ticker_trades_batch_candles_status(make_sim, connect):
    sim = await make_sim(ticker_batch_interval=0.05, candles_interval=0.05, status_interval=0.05)
    c = await connect(sim.url)
    sim.step(50)
    for channel in ("ticker", "ticker_batch", "market_trades", "candles"):
        await c.sub(channel, "BTC-USD")
    await c.sub("status", "BTC-USD")
    snaps: dict[str, dict[str, Any]] = {}  # the first frame of each channel
    while len(snaps) < 5:
        fr = await c.until(lambda fr: fr["channel"] not in ("subscriptions",))
        snaps.setdefault(fr["channel"], fr)
    tick = snaps["ticker"]["events"][0]
    assert tick["type"] == "snapshot" and tick["tickers"][0]["product_id"] == "BTC-USD"
    assert {"best_bid", "best_ask", "price"} <= set(tick["tickers"][0])
    batch = snaps["ticker_batch"]["events"][0]["tickers"][0]
    assert "best_bid" not in batch and "price" in batch
    trades = snaps["market_trades"]["events"][0]
    assert trades["type"] == "snapshot" and trades["trades"]
    assert all(isinstance(t["trade_id"], str) for t in trades["trades"])
    candle = snaps["candles"]["events"][0]["candles"][0]
    assert candle["product_id"] == "BTC-USD" and int(candle["start"]) % 300 == 0
    assert isinstance(candle["start"], str)
    product = snaps["status"]["events"][0]["products"][0]
    assert product["id"] == "BTC-USD" and product["status"] == "online"
    sim.step(30)
    await c.barrier()
    last_trade = sim.exchange.recent_trades("BTC-USD", 1)[0]
    ticks = [fr for fr in c.frames if fr["channel"] == "ticker"][1:]
    assert ticks and all(fr["events"][0]["type"] == "update" for fr in ticks)
    assert ticks[-1]["events"][0]["tickers"][0]["price"] == str(last_trade.price)
    await c.find(lambda fr: fr["channel"] == "ticker_batch" and fr["events"][0]["type"] == "update")
    mt = await c.find(
        lambda fr: fr["channel"] == "market_trades" and fr["events"][0]["type"] == "update"
    )
    assert mt["events"][0]["trades"][0]["side"] in ("BUY", "SELL")
    await c.find(lambda fr: fr["channel"] == "status" and fr["events"][0]["type"] == "update")
