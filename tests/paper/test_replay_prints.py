"""``PaperExchange.on_trades``'s quiet path (no resting order, stop or exit) against the old loop.

The reference is ``on_trades`` as it was before the quiet path (eb4209f: one loop for every
print, ``_in_order`` with generators), kept verbatim here but for reading the exchange's
registries from outside. Two paper exchanges with the same seed see the same random
steps: print batches (repeated, unordered, non-numeric ids; zero and negative prices and
sizes; any side spelling), resting limits, stop-limits, brackets, entries with attached
exits, cancels, book changes and time. After every step their whole observable state
must match: tape, minute candles, last price and stop range, the trade-id memory,
orders, fills, balances, engine events and the queue of every resting order.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.market.matching import Side
from botkit.paper.exchange import PaperExchange, Trade
from botkit.sim.events import TradePrint

from .harness import BTC, T0, USER, D, Paper


def reference_in_order(trades: list[Trade]) -> list[Trade]:
    rows = list(trades)
    if len(rows) > 1 and all(str(row[0]).isdigit() for row in rows):
        ids = [int(row[0]) for row in rows]
        if any(a > b for a, b in zip(ids, ids[1:], strict=False)):
            rows.sort(key=lambda row: int(row[0]))
    return rows


def reference_on_trades(
    ex: PaperExchange, product_id: str, trades: list[Trade], now: float
) -> None:
    """``on_trades`` before the quiet path, one loop for every print."""
    ex.advance(now)
    book = ex._paper_books.get(product_id)
    if book is None:
        return
    seen, order = ex._seen_trades[product_id]
    memory = ex.paper.trade_id_memory
    recent = ex._recent[product_id]
    candles = ex._candles[product_id]
    taker_view = ex.paper.trade_side != "maker"
    for raw_id, price, size, side in reference_in_order(trades):
        trade_id = str(raw_id)
        if trade_id in seen or price <= 0 or size <= 0:
            continue
        seen.add(trade_id)
        order.append(trade_id)
        if len(order) > memory:
            seen.discard(order.popleft())
        upper = str(side).upper()
        maker: Side | None = None
        if upper == "BUY" or upper == "SELL":
            buy = (upper == "BUY") != taker_view
            maker = "BUY" if buy else "SELL"
            recent.append(TradePrint(trade_id, product_id, price, size, maker, now))
        candles.record_trade(now, price, size)
        ex._note_print(product_id, price)
        for lot, qty in book.allocate(price, size, maker, now):
            ex._fill_maker(ex._orders[lot.order_id], lot.price, qty, trade_id, now)
        if ex._stops[product_id] or ex._exits:
            ex._check_stops(product_id, now)
        else:
            ex._range[product_id] = None
    ex._flush_books(ex._now)


def state(p: Paper) -> tuple[object, ...]:
    """Everything a print can change, read back."""
    ex = p.ex
    store = ex._candles[BTC]
    seen, order = ex._seen_trades[BTC]
    book = ex.paper_book(BTC)
    return (
        [(t.trade_id, t.product_id, t.price, t.size, t.side, t.time) for t in ex._recent[BTC]],
        [
            (c.start, c.open, c.high, c.low, c.close, c.volume)
            for c in (store._by_start[s] for s in store._starts)
        ],
        ex._last_price[BTC],
        ex._range[BTC],
        sorted(seen),
        list(order),
        ex.take_delta(),
        ex.drain_events(),
        [
            (q.order_id, q.side, q.price, q.size, q.queue_ahead, q.credit, q.credit_time)
            for q in book._lots.values()
        ],
        sorted(ex._stops[BTC]),
        sorted(ex._exits),
        ex._now,
    )


PRICES = ["97", "98", "98.5", "99", "99.5", "99.9", "100", "100.5", "101", "102"]
PRINT = st.tuples(
    st.one_of(st.integers(1, 30).map(str), st.sampled_from(["x1", "07", "", "2x"])),
    st.one_of(st.sampled_from(PRICES), st.sampled_from(["0", "-1", "0.00"])),
    st.sampled_from(["0", "0.1", "0.5", "1", "3", "-1"]),
    st.sampled_from(["BUY", "SELL", "buy", "sell", "", "UNKNOWN"]),
)
STEP = st.one_of(
    st.tuples(st.just("prints"), st.lists(PRINT, min_size=0, max_size=6)),
    st.tuples(
        st.just("limit"),
        st.sampled_from(["BUY", "SELL"]),
        st.sampled_from(PRICES),
        st.sampled_from(["0.5", "1", "2"]),
    ),
    st.tuples(st.just("stop"), st.sampled_from(["up", "down"])),
    st.tuples(st.just("bracket"), st.sampled_from(["0.5", "1"])),
    st.tuples(st.just("attached"), st.sampled_from(["99.9", "99", "100"])),
    st.tuples(st.just("cancel"), st.integers(0, 7)),
    st.tuples(st.just("level"), st.sampled_from(["bid", "offer"]), st.sampled_from(PRICES)),
    st.tuples(st.just("at"), st.sampled_from([0.1, 0.3, 1.0, 61.0])),
)


def apply(p: Paper, step: tuple[Any, ...], quiet: bool, oids: list[str]) -> None:
    what = step[0]
    if what == "prints":
        rows: list[Trade] = [(i, D(pr), D(sz), side) for i, pr, sz, side in step[1]]
        if quiet:
            p.ex.on_trades(BTC, rows, p.now)
        else:
            reference_on_trades(p.ex, BTC, rows, p.now)
        return
    made: dict[str, Any] | None = None
    if what == "limit":
        made = p.limit(step[1], step[3], step[2])
    elif what == "stop":
        up = step[1] == "up"
        stop = {
            "base_size": "1",
            "limit_price": "101" if up else "98",
            "stop_price": "100.5" if up else "98.5",
            "stop_direction": "STOP_DIRECTION_STOP_UP" if up else "STOP_DIRECTION_STOP_DOWN",
        }
        made = p.create("BUY" if up else "SELL", {"stop_limit_stop_limit_gtc": stop})
    elif what == "bracket":
        cfg = {"base_size": step[1], "limit_price": "100.50", "stop_trigger_price": "99.50"}
        made = p.create("SELL", {"trigger_bracket_gtc": cfg})
    elif what == "attached":
        body = {
            "client_order_id": "",
            "product_id": BTC,
            "side": "BUY",
            "order_configuration": {
                "limit_limit_gtc": {"base_size": "0.5", "limit_price": step[1]}
            },
            "attached_order_configuration": {
                "trigger_bracket_gtc": {"limit_price": "100.50", "stop_trigger_price": "99.50"}
            },
        }
        made = p.ex.create_order(USER, body, p.now)
    elif what == "cancel":
        if oids:
            p.ex.cancel_orders(USER, [oids[step[1] % len(oids)]], p.now)
    elif what == "level":
        p.level(step[1], step[2], "1.5")
    else:
        p.at(p.now - T0 + step[1])
    if made is not None and made.get("success"):
        oids.append(str(made["order_id"]))


@settings(max_examples=250, deadline=None)
@given(
    steps=st.lists(STEP, max_size=30),
    memory=st.sampled_from([3, 10_000]),
    trade_side=st.sampled_from(["maker", "taker"]),
    latency=st.sampled_from([0.0, 0.5]),
)
def test_quiet_prints_leave_what_the_old_loop_left(
    steps: list[tuple[Any, ...]], memory: int, trade_side: str, latency: float
) -> None:
    kw: dict[str, Any] = {"trade_id_memory": memory, "trade_side": trade_side}
    kw |= {"submit_latency": latency, "cancel_latency": latency}
    new, old = Paper(**kw), Paper(**kw)
    assert state(new) == state(old)
    new_ids: list[str] = []
    old_ids: list[str] = []
    for step in steps:
        apply(new, step, True, new_ids)
        apply(old, step, False, old_ids)
        assert new_ids == old_ids
        assert state(new) == state(old), step


def test_a_quiet_batch_still_dedupes_sorts_and_records() -> None:
    """The quiet path's own outcome on one hand-checked batch (no order anywhere)."""
    p = Paper(trade_id_memory=2)
    p.at(600)  # a minute of its own: no seeded candle
    minute = int(p.now // 60) * 60
    store = p.ex._candles[BTC]
    assert minute not in store._by_start
    assert not len(p.ex.paper_book(BTC)) and not p.ex.has_live_orders()
    rows: list[Trade] = [
        ("12", D("99.5"), D("1"), "BUY"),
        ("11", D("99"), D("0.5"), "sell"),
        ("12", D("98"), D("1"), "BUY"),  # a repeat: ignored
        ("13", D("0"), D("1"), "BUY"),  # not a price: ignored
        ("14", D("100"), D("2"), "?"),  # unknown side: candles and last price, not the tape
    ]
    p.ex.on_trades(BTC, rows, p.now)
    tape = [(t.trade_id, t.price, t.side, t.time) for t in p.ex.recent_trades(BTC, 2)]
    assert tape == [("12", D("99.5"), "BUY", p.now), ("11", D("99"), "SELL", p.now)]  # newest first
    assert p.ex.last_trade_price(BTC) == D("100")
    c = store._by_start[minute]
    assert (c.open, c.high, c.low, c.close, c.volume) == (D(99), D(100), D(99), D(100), D("3.5"))
    assert list(p.ex._seen_trades[BTC][1]) == ["12", "14"]  # memory 2: "11" forgotten
    p.ex.on_trades(BTC, [("11", D("101"), D("1"), "BUY")], p.now)
    assert p.ex.last_trade_price(BTC) == D("101")


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(STEP, max_size=30), forget_at=st.sampled_from([0, 2000]))
def test_quiet_is_true_exactly_when_a_flush_finds_nothing(
    steps: list[tuple[Any, ...]], forget_at: int
) -> None:
    """``PaperExchange.quiet()``, which the broker's flush asks first, is True exactly when
    ``take_delta()`` would return the empty delta with no sweep due and ``drain_events()``
    no event, after any step (orders, prints, cancels, latency, book changes, time)."""
    p = Paper(submit_latency=0.5, cancel_latency=0.5)
    oids: list[str] = []
    for step in [None, *steps]:
        if step is not None:
            apply(p, step, True, oids)
        p.ex._forget_at = forget_at  # 0: a sweep is due whenever an order is held
        quiet, sweep = p.ex.quiet(), p.ex.sweep_due()
        delta, events = p.ex.take_delta(), p.ex.drain_events()
        assert quiet == (not delta and not events and not sweep), step
        assert p.ex.quiet()  # all taken (and swept)
    # an event or a fill comes with a changed order in the engine; each is seen on its own too
    p.ex._events.append(None)  # type: ignore[arg-type]
    assert not p.ex.quiet()
    p.ex._events.clear()
    p.ex._fills_reported -= 1
    assert not p.ex.quiet()
