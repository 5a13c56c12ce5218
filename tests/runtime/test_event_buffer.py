"""The strategy event buffer: bounded for market data, lossless for orders and fills."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.errors import BookInvalid
from botkit.market.book import L2Book
from botkit.market.events import (
    BookChanged,
    BookInvalidated,
    FeedEvent,
    FillEvent,
    OrderUpdate,
    TickersReceived,
    TradesReceived,
    book_changed,
)
from botkit.runtime.event_buffer import EventBuffer
from botkit.venues.advanced_trade.messages import MarketTrade, Ticker

BOOKS = {p: L2Book(p) for p in ("BTC-USD", "ETH-USD")}


def _book(pid: str, seq: int) -> BookChanged:
    return book_changed(pid, BOOKS[pid], False, seq)


def _ticker(pid: str, price: int) -> TickersReceived:
    return TickersReceived("update", (Ticker(product_id=pid, price=Decimal(price)),), False)


def _trade(n: int) -> TradesReceived:
    t = MarketTrade(
        trade_id=str(n),
        product_id="BTC-USD",
        price=Decimal(1),
        size=Decimal(1),
        side="BUY",
        time="2026-01-01T00:00:00Z",
    )
    return TradesReceived("update", (t,))


def _order(n: int) -> OrderUpdate:
    return OrderUpdate(
        order_id=f"o{n}",
        client_order_id=f"c{n}",
        product_id="BTC-USD",
        side="BUY",
        order_type="LIMIT",
        status="OPEN",
        cumulative_quantity=Decimal(0),
        leaves_quantity=Decimal(1),
        avg_price=Decimal(0),
        total_fees=Decimal(0),
        snapshot=False,
    )


def _fill(n: int) -> FillEvent:
    return FillEvent(
        fill_id=f"o{n}:1",
        order_id=f"o{n}",
        client_order_id=f"c{n}",
        product_id="BTC-USD",
        side="BUY",
        size=Decimal(1),
        price=Decimal(1),
        fee=Decimal(0),
        cumulative_quantity=Decimal(1),
    )


def test_books_coalesce_latest_wins_at_the_end() -> None:
    buf = EventBuffer(capacity=100)
    a1, t, a2 = _book("BTC-USD", 1), _ticker("BTC-USD", 1), _book("BTC-USD", 2)
    for ev in (a1, t, a2):
        buf.push(ev)
    assert buf.drain() == [t, a2]
    assert buf.coalesced == 1 and len(buf) == 0


def test_under_capacity_every_ticker_and_trade_is_kept_in_order() -> None:
    buf = EventBuffer(capacity=10)
    evs: list[FeedEvent] = [_ticker("BTC-USD", i) for i in range(5)]
    evs += [_trade(i) for i in range(4)]
    for ev in evs:
        buf.push(ev)
    assert buf.drain() == evs and buf.dropped == 0 and buf.coalesced == 0


def test_over_capacity_market_data_coalesces_or_drops_but_orders_never() -> None:
    buf = EventBuffer(capacity=3)
    for i in range(3):
        buf.push(_trade(i))
    orders = [_order(i) for i in range(50)]
    inval = BookInvalidated("BTC-USD", BookInvalid("gap"))
    for i, o in enumerate(orders):
        buf.push(o)
        buf.push(_trade(100 + i))  # dropped: full
        buf.push(_ticker("ETH-USD", i))  # coalesced: latest wins
    buf.push(inval)
    out = buf.drain()
    assert [e for e in out if isinstance(e, OrderUpdate)] == orders
    assert inval in out
    tickers = [e for e in out if isinstance(e, TickersReceived)]
    assert len(tickers) == 1 and tickers[0].tickers[0].price == 49
    assert buf.dropped == 50 and buf.coalesced == 49


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("BTOFK"), st.integers(0, 9)), max_size=300),
    st.integers(1, 20),
)
def test_property_bounded_and_lossless_for_orders(ops: list[tuple[str, int]], cap: int) -> None:
    buf = EventBuffer(capacity=cap)
    must: list[FeedEvent] = []
    for kind, n in ops:
        ev: FeedEvent
        if kind == "B":
            ev = _book("BTC-USD" if n % 2 else "ETH-USD", n)
        elif kind == "T":
            ev = _ticker("BTC-USD", n)
        elif kind == "K":
            ev = _trade(n)
        elif kind == "O":
            ev = _order(n)
            must.append(ev)
        else:
            ev = _fill(n)
            must.append(ev)
        buf.push(ev)
        # market data never takes the buffer beyond capacity + one book per product + one ticker key
        assert len(buf) <= cap + len(must) + 3
    out = buf.drain()
    assert [e for e in out if type(e) in (OrderUpdate, FillEvent)] == must
    assert sum(type(e) is BookChanged for e in out) <= 2
