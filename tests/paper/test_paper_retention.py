"""A paper session of days holds its live orders and the last minutes of finished ones.

The simulator's engine keeps every order and fill it ever had, as an exchange does; the
paper exchange runs it inside the bot for days: ~1.6 KB an order, ~18 MB an hour at a
market maker's 190 orders a minute, and ``list_orders`` formatting them all on the event
loop (an audit of unbounded growth). Finished orders now leave memory
``KEEP_FINISHED_SECONDS`` after their last change (the paper journal keeps them all), and
the exchange's minute candles keep a day. What is asked about recent orders still works.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from botkit.clock import ManualClock
from botkit.market.events import FillEvent
from botkit.orders.fills import FillTracker, MemoryHwmStore
from botkit.orders.ledger import FillLedger
from botkit.orders.types import ReconcileReport
from botkit.paper.exchange import KEEP_CANDLE_MINUTES, KEEP_FINISHED_SECONDS
from botkit.paper.journal import PaperJournal
from botkit.paper.setup import paper_client
from botkit.runtime.resume import read_back_fills
from botkit.runtime.settings import BotSettings
from botkit.sim.matcher import FORGET_FROM
from botkit.sim.specs import SimNotFound
from tests.paper.harness import BTC, T0
from tests.paper.test_paper_equity_restart import Session

D = Decimal
STEP = 2.0  # a re-quote every 2 s: two orders
MINUTES = 80


def _quote(s: Session, n: int, side: str, price: str) -> str:
    body = {
        "client_order_id": f"q{n}",
        "product_id": BTC,
        "side": side,
        "order_configuration": {"limit_limit_gtc": {"base_size": "0.001", "limit_price": price}},
    }
    out = s.broker.exchange.create_order("paper", body, s.now)
    assert out["success"], out
    return str(out["success_response"]["order_id"])


def _market_buy(s: Session, n: int) -> None:
    body = {
        "client_order_id": f"m{n}",
        "product_id": BTC,
        "side": "BUY",
        "order_configuration": {"market_market_ioc": {"base_size": "0.0001"}},
    }
    s.broker.exchange.create_order("paper", body, s.now)


def test_a_long_paper_session_holds_live_and_recent_orders_only(tmp_path: Path) -> None:
    path = tmp_path / "paper.sqlite"
    s = Session(path, T0)
    s.book("64999", "65001")
    ex = s.broker.exchange
    keeper = _quote(s, -1, "BUY", "60000")  # rests the whole session
    first = ""
    quotes: list[str] = []
    n = 0
    most = 0
    for i in range(int(MINUTES * 60 / STEP)):
        s.at(i * STEP)
        if quotes:
            ex.cancel_orders("paper", quotes, s.now)
        quotes = [_quote(s, n, "BUY", "64000"), _quote(s, n + 1, "BUY", "63000")]
        first = first or quotes[0]
        n += 2
        if i % 15 == 0:  # a fill now and then: fills of finished orders leave too
            _market_buy(s, i)
        s.broker.flush()
        most = max(most, len(ex._orders))
    placed = n + int(MINUTES * 60 / STEP) // 15 + 1
    # bounded: a sweep once FORGET_FROM are held keeps ~15 minutes' worth (~930 here)
    recent = int(KEEP_FINISHED_SECONDS / STEP) * 2 + 70
    assert placed > 2 * FORGET_FROM and most <= max(FORGET_FROM, 2 * recent) + 4
    assert len(ex._by_client) <= most and len(ex._user_orders["paper"]) <= most
    assert keeper in ex._orders and ex.get_order("paper", keeper)["status"] == "OPEN"
    with pytest.raises(SimNotFound):  # finished over an hour ago: the journal has it
        ex.get_order("paper", first)
    # a re-sent client id of a recent order is still the same order (deduplicated)
    again = {
        "client_order_id": f"q{n - 2}", "product_id": BTC, "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "0.001", "limit_price": "64000"}},
    }  # fmt: skip
    assert ex.create_order("paper", again, s.now)["success_response"]["order_id"] == quotes[0]
    fills_held = len(ex._fills["paper"])
    _market_buy(s, 10**6)  # fills after a sweep are journalled as before
    s.broker.flush()
    s.broker.journal.close()
    with PaperJournal(path, readonly=True) as journal:
        orders, fills, _ = journal.load()
    assert len({o.order_id for o in orders}) == placed + 1  # every order, the last buy too
    assert len({f.fill_id for f in fills}) > fills_held  # every fill, the forgotten ones too
    assert f"m{10**6}" in {o.state.get("client_order_id") for o in orders}

    # a restart restores the live orders and the recent ones, not the session's history
    back = Session(path, s.now + 1)
    held = back.broker.exchange._orders
    assert keeper in held and first not in held and len(held) <= most


def test_the_paper_exchanges_minute_candles_keep_a_day(tmp_path: Path) -> None:
    s = Session(tmp_path / "paper.sqlite", T0)
    store = s.broker.exchange._candles[BTC]
    assert store.max_minutes == KEEP_CANDLE_MINUTES
    for minute in range(KEEP_CANDLE_MINUTES + 600):
        store.record_trade(T0 + 60 * minute, D(65000), D("0.01"))
    assert KEEP_CANDLE_MINUTES <= len(store._starts) <= KEEP_CANDLE_MINUTES + 256
    last = store.minutes(T0, T0 + 60 * (KEEP_CANDLE_MINUTES + 600))
    assert last[-1].start == int(T0 + 60 * (KEEP_CANDLE_MINUTES + 599)) // 60 * 60


async def test_a_restart_after_a_long_downtime_still_reads_back_what_ended_before_the_stop(
    tmp_path: Path,
) -> None:
    """The window counts from the restart for what the journal restores: a market buy
    filled, its fill-ledger mark still at zero, then ``kill -9``; 20 minutes later the
    restarted bot asks about the order (its mark is unfinished) and gets its fill. Counted
    from the order's end, it was forgotten at the restart: the mark closed as CANCELLED with
    nothing, the BTC the paper account held never counted (a review's finding)."""
    path = tmp_path / "paper.sqlite"
    s = Session(path, T0)
    s.book("64999", "65001")
    body = {"client_order_id": "buy-1", "product_id": BTC, "side": "BUY",
            "order_configuration": {"market_market_ioc": {"base_size": "0.001"}}}  # fmt: skip
    oid = s.broker.exchange.create_order("paper", body, s.now)["success_response"]["order_id"]
    s.broker.flush()
    ledger = FillLedger(tmp_path / "fills.sqlite")
    ledger.opened(oid, "buy-1", BTC, "BUY", "OPEN")  # the mark at the answer; then killed
    s.broker.journal.close()

    back = Session(path, T0 + 1 + 20 * 60)
    assert back.broker.exchange.forget_finished() == 0  # a sweep now: it counts from the restart
    client = paper_client(back.broker, BotSettings(), ManualClock(back.now), unlimited=True)
    try:
        tracker = FillTracker(MemoryHwmStore(ledger.seed()))
        events = await read_back_fills(
            ReconcileReport([], []), ledger, tracker, client.backfill_fills, client.get_order
        )
        fills = [e for e in events if isinstance(e, FillEvent)]
        assert [f.size for f in fills] == [D("0.001")]
        # ... and it still leaves memory once the restarted bot ran the window
        ex = back.broker.exchange
        back.at(1 + 20 * 60 + KEEP_FINISHED_SECONDS + 1)
        assert ex.forget_finished() == 1 and oid not in ex._orders
    finally:
        ledger.close()
        await client.close()


def test_a_late_print_older_than_every_kept_minute_is_no_error(tmp_path: Path) -> None:
    s = Session(tmp_path / "paper.sqlite", T0)
    store = s.broker.exchange._candles[BTC]
    store.max_minutes = 10
    for minute in range(10 + 256):
        store.record_trade(T0 + 60 * minute, D(65000), D("0.01"))
    store.record_trade(T0 - 3600, D(65000), D("0.01"))  # its minute is trimmed at once
    assert len(store._starts) == 10 and len(store._by_start) == 10
