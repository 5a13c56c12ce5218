"""User channel end to end: cumulative updates -> OrderUpdate + fills, dedup across reconnects
and restarts (SQLite HWMs), and the REST fills backfill after a reconnect."""

from __future__ import annotations

import secrets
from decimal import Decimal

from botkit.market.events import FeedEvent, FillEvent, OrderUpdate, UserSnapshotDone
from botkit.orders.fills import MemoryHwmStore
from botkit.orders.ledger import FillLedger
from botkit.orders.positions import Positions

from .conftest import signer_for

USER = "default"


def limit(sim, side: str, price: Decimal, size: Decimal, t: float) -> str:
    body = {
        "client_order_id": secrets.token_hex(8),
        "product_id": "BTC-USD",
        "side": side,
        "order_configuration": {
            "limit_limit_gtc": {
                "base_size": format(size, "f"),
                "limit_price": format(price, "f"),
                "post_only": False,
            }
        },
    }
    resp = sim.exchange.create_order(USER, body, t)
    sim.publish()
    assert resp["success"], resp
    return str(resp["success_response"]["order_id"])


def filled(events, oid):
    return sum(
        (e.size for e in events if isinstance(e, FillEvent) and e.order_id == oid), Decimal(0)
    )


def rest_totals(sim, oid):
    rows = sim.exchange.list_fills(USER, {"order_ids": [oid]})
    return sum(Decimal(r["size"]) for r in rows), sum(
        Decimal(r["size"]) * Decimal(r["price"]) for r in rows
    )


async def test_fills_dedup_reconnect_restart_and_backfill(market, make_feed, tmp_path):
    sim = market.sim
    signer = signer_for(sim)
    asked: list[list[str]] = []

    async def backfill(order_ids):
        asked.append(list(order_ids))
        return sim.exchange.list_fills(USER, {"order_ids": list(order_ids)})

    store = MemoryHwmStore()
    events: list[FeedEvent] = []
    feed = await make_feed(
        sim,
        events=events,
        signer=signer,
        channels=(),
        user=True,
        hwm_store=store,
        backfill=backfill,
    )
    await feed.wait_for(lambda: any(isinstance(e, UserSnapshotDone) for e in events), 10)

    # 1. a partial fill: BUY at the best ask for more than it holds; the rest rests
    (ask, ask_qty) = sim.exchange.best_bid_ask("BTC-USD")[1]
    oid = limit(sim, "BUY", ask, ask_qty + Decimal("0.1"), market.t)
    qty, value = rest_totals(sim, oid)
    assert qty == ask_qty
    await feed.wait_for(lambda: filled(events, oid) == qty, 10)
    (fill,) = [e for e in events if isinstance(e, FillEvent)]
    assert fill.price == value / qty and fill.source == "ws" and fill.side == "BUY"
    assert any(
        isinstance(e, OrderUpdate) and e.order_id == oid and e.status == "OPEN" for e in events
    )

    # 2. reconnect (1006): the snapshot replays the cumulative state; no duplicate fill
    conn = feed.conns[0]
    snapshots = sum(isinstance(e, UserSnapshotDone) for e in events)
    sim.ws_faults.drop_next(1006)  # fires on the next heartbeat; the book stays as it is
    await feed.wait_for(
        lambda: (
            conn.connects >= 2 and sum(isinstance(e, UserSnapshotDone) for e in events) > snapshots
        ),
        10,
    )
    await feed.sync(10)
    assert filled(events, oid) == qty
    await feed.stop()
    # the runtime's context counts the fill in its position: the ledger records the mark
    positions = Positions()
    positions.apply_fill("BTC-USD", fill.side, fill.size, fill.price, fill.fee)
    ledger = FillLedger(tmp_path / "fills.sqlite")
    ledger.count(fill, positions.get("BTC-USD"))
    ledger.close()

    # 3. while the bot is down, our own SELL fills the rest; restart with the same store
    before = Decimal(sim.exchange.get_order(USER, oid)["filled_size"])
    limit(sim, "SELL", ask, Decimal("0.1"), market.t)  # our BUY is alone at the best bid
    assert sim.exchange.get_order(USER, oid)["status"] == "FILLED"
    ledger2 = FillLedger(tmp_path / "fills.sqlite")
    seed = ledger2.seed()
    assert seed[oid].cumulative_quantity == qty and seed[oid].value == value
    assert ledger2.positions()["BTC-USD"].quantity == qty
    store2 = MemoryHwmStore(seed)
    events2: list[FeedEvent] = []
    feed2 = await make_feed(
        sim,
        events=events2,
        signer=signer,
        channels=(),
        user=True,
        hwm_store=store2,
        backfill=backfill,
    )
    total, _ = rest_totals(sim, oid)
    await feed2.wait_for(lambda: filled(events2, oid) == total - before, 10)
    late = [e for e in events2 if isinstance(e, FillEvent) and e.order_id == oid]
    assert late[-1].source == "rest" and late[-1].trade_ids
    assert oid in asked[-1]
    assert filled(events, oid) + filled(events2, oid) == total
    # a second backfill (e.g. after another reconnect) reports nothing new
    assert feed2.fills is not None and feed2.fills.reconcile_rest_fills(await backfill([oid])) == []
    ledger2.close()
