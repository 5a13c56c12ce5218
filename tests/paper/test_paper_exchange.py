"""PaperExchange as a whole: restore, determinism, conservation, views, configuration."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from botkit.market.book import L2Book
from botkit.paper.config import PaperConfig, spec_from_wire
from botkit.paper.exchange import PaperExchange
from botkit.paper.records import BalanceRecord, FillRecord, OrderRecord, StateDelta
from botkit.paper.state import order_from_state, order_state
from botkit.sim.api import BASE, SimApi
from botkit.sim.events import OrderChanged
from tests.paper.harness import BTC, SPEC, T0, USER, D, Lv, Paper, config


def _oid(res: dict[str, Any]) -> str:
    assert res["success"], res
    return str(res["order_id"])


class Journal:
    """What a journal keeps: the latest record per order and currency, every fill."""

    def __init__(self) -> None:
        self.orders: dict[str, OrderRecord] = {}
        self.fills: dict[str, FillRecord] = {}
        self.balances: dict[str, BalanceRecord] = {}

    def save(self, delta: StateDelta) -> None:
        self.orders.update({o.order_id: o for o in delta.orders})
        self.fills.update({f.fill_id: f for f in delta.fills})
        self.balances.update({b.currency: b for b in delta.balances})

    def load(self) -> tuple[list[OrderRecord], list[FillRecord], list[BalanceRecord]]:
        # through JSON, as a database would hand state back
        orders = [
            OrderRecord(**{**_fields(o), "state": json.loads(json.dumps(o.state))})
            for o in self.orders.values()
        ]
        return orders, list(self.fills.values()), list(self.balances.values())


def _fields(rec: OrderRecord) -> dict[str, Any]:
    return {name: getattr(rec, name) for name in OrderRecord.__slots__}


# ------------------------------------------------------------------------------ restore
def _session(j: Journal) -> tuple[Paper, dict[str, str]]:
    p = Paper(submit_latency=0.1, cancel_latency=0.1)
    ids = {
        "a": _oid(p.limit("BUY", "1", "99", coid="a")),
        "b": _oid(p.limit("SELL", "0.5", "101", coid="b")),
        "d": _oid(p.limit("BUY", "0.2", "98", coid="d")),
        "m": _oid(p.market("BUY", coid="m", base_size="0.5")),
    }
    p.at(0.1)
    p.trade("98.5", "0.4", "BUY")  # through a: partial fill
    j.save(p.ex.take_delta())
    p.ex.cancel_orders(USER, [ids["d"]], p.now)  # cancel queued at the kill
    ids["c"] = _oid(p.limit("BUY", "0.3", "97", coid="c"))  # in flight at the kill
    ids["e"] = _oid(p.market("SELL", coid="e", base_size="0.1"))  # in flight too
    j.save(p.ex.take_delta())
    return p, ids


def test_restore_reproduces_balances_open_orders_and_idempotency() -> None:
    j = Journal()
    before, ids = _session(j)
    after = Paper(submit_latency=0.1, cancel_latency=0.1)
    after.now = before.now
    after.ex.restore(*j.load())

    # balances and fills as journaled, less the in-flight market sell's hold (see below)
    assert after.balance("USD") == before.balance("USD")
    btc, btc_hold = before.balance("BTC")
    assert after.balance("BTC") == (btc + D("0.1"), btc_hold - D("0.1"))
    assert [a["uuid"] for a in after.ex.accounts(USER)] == [
        a["uuid"] for a in before.ex.accounts(USER)
    ]
    assert after.ex.list_fills(USER, {}) == before.ex.list_fills(USER, {})
    for key in ("a", "b", "d", "m"):
        assert after.order(ids[key]) == before.order(ids[key]), key
    # idempotency survives: the same client_order_id returns the original, creates nothing
    again = after.limit("BUY", "1", "99", coid="a")
    assert again["success"] and again["order_id"] == ids["a"]
    assert len(after.ex.list_orders(USER, {})) == len(before.ex.list_orders(USER, {}))
    # a resting order re-joins at the back of the current queue
    assert after.queue(ids["a"]) == D("2")
    # in-flight market order: cancelled (the book it would have met is gone)
    e = after.order(ids["e"])
    assert e["status"] == "CANCELLED" and "restarted" in e["cancel_message"]
    delta = after.ex.take_delta()
    assert [o.order_id for o in delta.orders] == [ids["e"]]
    assert [b.currency for b in delta.balances] == ["BTC"] and not delta.fills
    # in-flight limit order and queued cancel carry on on schedule
    after.at(0.2)
    assert after.order(ids["c"])["status"] == "OPEN"
    assert after.order(ids["d"])["status"] == "CANCELLED"
    # holds still add up and the account keeps trading with fresh ids
    hold = sum(D(o["outstanding_hold_amount"]) for o in after.ex.list_orders(USER, {}))
    assert hold == after.balance("USD")[1] + after.balance("BTC")[1]
    after.trade("98", "5", "BUY")
    assert after.order(ids["a"])["status"] == "FILLED"
    new = _oid(after.limit("BUY", "0.1", "90", coid="new"))
    assert new not in ids.values()


def test_restore_is_only_for_a_fresh_exchange() -> None:
    p = Paper()
    _oid(p.limit("BUY", "1", "99"))
    with pytest.raises(ValueError, match="fresh"):
        p.ex.restore([], [], [])


def test_restore_before_the_book_arrives_joins_the_queue_later() -> None:
    j = Journal()
    before, ids = _session(j)
    after = Paper(book=False, submit_latency=0.1, cancel_latency=0.1)
    after.ex.restore(*j.load())
    assert after.queue(ids["a"]) is None
    after.trade("99", "5", "BUY")  # at our price, queue unknown: no fill
    assert after.order(ids["a"])["filled_size"] == before.order(ids["a"])["filled_size"]
    after.snapshot({"99": "3"}, {"100": "1"})
    assert after.queue(ids["a"]) == D("3")


def test_order_state_is_json_and_round_trips() -> None:
    p = Paper()
    oid = _oid(p.limit("BUY", "1", "99", coid="x"))
    p.ex.edit_order(USER, {"order_id": oid, "price": "98.5", "size": "0.8"}, p.now)
    order = p.ex._orders[oid]  # private on purpose: the state codec works on the order object
    state = json.loads(json.dumps(order_state(order)))
    assert order_from_state(state) == order
    with pytest.raises(ValueError, match="version"):
        order_from_state({**state, "_v": 99})


# -------------------------------------------------------------------------- determinism
def _script(seed: int) -> list[str]:
    p = Paper(seed=seed, submit_latency=0.05, cancel_latency=0.05)
    out = [repr(p.ex.take_delta())]
    a = _oid(p.limit("BUY", "1", "99"))
    p.market("BUY", quote_size="150")
    p.at(0.05)
    p.level("bid", "99", "1.5")
    p.trade("99", "2", "BUY")
    p.limit("SELL", "2", "100.5")
    p.ex.cancel_orders(USER, [a], p.now)
    p.at(0.2)
    p.trade("101", "3", "SELL")
    out.append(repr(p.ex.take_delta()))
    out.append(repr(p.ex.drain_events()))
    out.append(repr(p.ex.portfolio_value("USD")))
    return out


def test_same_inputs_give_byte_identical_outputs() -> None:
    first, second = _script(11), _script(11)
    assert first == second
    assert "FILLED" in first[1] and "MAKER" in first[1] and "TAKER" in first[1]
    assert _script(12)[1] != first[1]  # ids come from the seed


# -------------------------------------------------------------- conservation (property)
_PRICES = [D("97.5"), D("98"), D("98.5"), D("99"), D("99.5"), D("100"), D("100.5"), D("101")]


@settings(max_examples=150, deadline=None)
@given(
    orders=st.lists(
        st.tuples(st.sampled_from(["BUY", "SELL"]), st.sampled_from(_PRICES), st.integers(1, 30)),
        min_size=1,
        max_size=6,
    ),
    events=st.lists(
        st.one_of(
            st.tuples(
                st.just("print"),
                st.sampled_from(_PRICES),
                st.integers(1, 40),
                st.sampled_from(["BUY", "SELL", "?"]),
            ),
            st.tuples(
                st.just("level"),
                st.sampled_from(_PRICES),
                st.integers(0, 40),
                st.sampled_from(["bid", "offer"]),
            ),
            st.tuples(st.just("cancel"), st.integers(0, 5), st.just(0), st.just("")),
        ),
        max_size=30,
    ),
)
def test_prints_never_overfill_and_balances_conserve_value_minus_fees(
    orders: list[tuple[str, Decimal, int]], events: list[tuple[str, Any, int, str]]
) -> None:
    p = Paper(cancel_latency=0.05)
    ids = []
    selling = 0  # tenths of BTC held for sells: the account starts with 10 BTC
    for side, price, tenths in orders:
        best_ask, best_bid = D("100"), D("99")
        if (side == "BUY" and price >= best_ask) or (side == "SELL" and price <= best_bid):
            continue  # resting orders only: prints are what we test here
        if side == "SELL":
            if selling + tenths > 100:
                continue  # would be INSUFFICIENT_FUND: funding is tested elsewhere
            selling += tenths
        ids.append(_oid(p.limit(side, str(D(tenths) / 10), str(price))))
    printed: dict[str, Decimal] = {}
    for n, (kind, a, b, c) in enumerate(events):
        p.now += 0.01
        if kind == "print":
            printed[str(5000 + n)] = D(b) / 10
            p.trade(str(a), str(D(b) / 10), c, trade_id=str(5000 + n))
        elif kind == "level":
            p.level(c, str(a), str(D(b) / 10))
        elif ids:
            p.ex.cancel_orders(USER, [ids[a % len(ids)]], p.now)
        for cur in ("USD", "BTC"):
            available, hold = p.balance(cur)
            assert available >= 0 and hold >= 0
        open_hold = sum(
            D(o["outstanding_hold_amount"])
            for o in p.ex.list_orders(USER, {})
            if o["status"] not in ("FILLED", "CANCELLED")
        )
        assert open_hold == p.balance("USD")[1] + p.balance("BTC")[1]
    fills = p.fills()
    event(f"fills: {'some' if fills else 'none'}")
    for trade_id, size in printed.items():
        assert sum(D(f["size"]) for f in fills if f["trade_id"] == trade_id) <= size
    assert all(f["liquidity_indicator"] == "MAKER" for f in fills)
    usd, btc = D("100000"), D("10")
    for f in fills:
        notional, fee = D(f["price"]) * D(f["size"]), D(f["commission"])
        assert fee == (notional * D("0.004")).quantize(D("1e-8"), "ROUND_DOWN")
        if f["side"] == "BUY":
            usd, btc = usd - notional - fee, btc + D(f["size"])
        else:
            usd, btc = usd + notional - fee, btc - D(f["size"])
    assert sum(p.balance("USD")) == usd and sum(p.balance("BTC")) == btc


# ------------------------------------------------------------------------------- views
def test_views_are_built_from_the_real_book_and_prints() -> None:
    p = Paper()
    bids, asks = p.ex.book(BTC)
    assert bids == [(D("99"), D("2")), (D("98"), D("5"))]
    assert asks == [(D("100"), D("1")), (D("101"), D("3"))]
    assert p.ex.best_bid_ask(BTC) == ((D("99"), D("2")), (D("100"), D("1")))
    p.trade("99.5", "0.25", "BUY")
    (tape,) = p.ex.recent_trades(BTC, 10)
    assert (tape.price, tape.size, tape.side) == (D("99.5"), D("0.25"), "BUY")
    assert p.ex.last_trade_price(BTC) == D("99.5")
    assert p.ex.product_wire(BTC)["mid_market_price"] == "99.500"
    oid = _oid(p.limit("BUY", "1", "98"))
    events = p.ex.drain_events()
    changes = [e for e in events if isinstance(e, OrderChanged)]
    assert events and changes == events  # order changes only
    assert changes[-1].order["order_id"] == oid and changes[-1].order["status"] == "OPEN"


def test_the_simulators_rest_router_works_unchanged() -> None:
    p = Paper()
    api = SimApi(p.ex)

    def call(method: str, path: str, body: Any = None, **query: str) -> Any:
        raw = json.dumps(body).encode() if body is not None else b""
        res = api.handle(method, BASE + path, {k: [v] for k, v in query.items()}, raw, USER, p.now)
        assert res.status == 200, (path, res.body)
        return res.body

    conf = {"limit_limit_gtc": {"base_size": "1", "limit_price": "99"}}
    body = {"client_order_id": "r1", "product_id": BTC, "side": "BUY", "order_configuration": conf}
    oid = call("POST", "/orders", body)["success_response"]["order_id"]
    p.trade("98", "1", "BUY")
    assert call("GET", f"/orders/historical/{oid}")["order"]["status"] == "FILLED"
    assert call("GET", "/orders/historical/fills")["fills"][0]["price"] == "99"
    book = call("GET", "/market/product_book", product_id=BTC)["pricebook"]
    assert book["bids"][0] == {"price": "99.00", "size": "2"}
    for path in ("/accounts", "/best_bid_ask", "/transaction_summary", "/market/products"):
        call("GET", path)
    call("GET", f"/market/products/{BTC}/ticker", limit="5")
    call(
        "GET",
        f"/market/products/{BTC}/candles",
        start=str(int(T0) - 600),
        end=str(int(T0) + 60),
        granularity="ONE_MINUTE",
    )
    preview = call(
        "POST",
        "/orders/preview",
        {**body, "order_configuration": {"market_market_ioc": {"base_size": "2"}}},
    )
    assert preview["errs"] == [] and D(preview["slippage"]) > 0


def test_portfolio_value_marks_at_mid_then_last_trade() -> None:
    p = Paper()
    equity, marks = p.ex.portfolio_value("USD")
    assert marks == {BTC: D("99.5")} and equity == D("100000") + 10 * D("99.5")
    p.trade("97", "0.1", "SELL")
    p.books[BTC].invalidate("gap")
    equity, marks = p.ex.portfolio_value("USD")
    assert marks == {BTC: D("97")} and equity == D("100970")
    inverse, _ = p.ex.portfolio_value("BTC")
    assert inverse == D("10") + D("100000") / D("97")
    with pytest.raises(ValueError, match="EUR"):
        Paper(initial_balances={"EUR": D("5")}).ex.portfolio_value("USD")


# ------------------------------------------------------------------------ configuration
def test_spec_from_wire_reads_a_coinbase_product() -> None:
    product = {
        "product_id": "ETH-USD",
        "price": "3500.12",
        "base_increment": "0.00000001",
        "quote_increment": "0.01",
        "price_increment": "0.05",
        "base_min_size": "0.00001",
        "base_max_size": "5000",
        "quote_min_size": "1",
        "quote_max_size": "10000000",
        "base_currency_id": "ETH",
        "quote_currency_id": "USD",
        "base_name": "Ethereum",
    }
    spec = spec_from_wire(product)
    assert spec.product_id == "ETH-USD" and spec.base_currency == "ETH"
    assert spec.base_increment == D("0.00000001") and spec.price_tick == D("0.05")
    assert spec.quote_increment == D("0.01") and spec.start_price == D("3500.12")
    assert spec.base_min_size == D("0.00001") and spec.quote_max_size == D("10000000")
    with pytest.raises(KeyError):
        spec_from_wire({"product_id": "X-USD", "quote_increment": "0.01"})
    with pytest.raises(ValueError):
        spec_from_wire({**product, "base_increment": "nope"})


def test_price_increment_is_enforced_apart_from_quote_increment() -> None:
    spec = spec_from_wire(
        {"product_id": BTC, "base_increment": "0.0001", "quote_increment": "0.01",
         "price_increment": "0.5", "base_min_size": "0.001", "price": "100"}
    )  # fmt: skip
    p = Paper(products=(spec,))
    bad = p.limit("BUY", "1", "99.25")
    assert bad["error_response"]["new_order_failure_reason"] == "INVALID_PRICE_PRECISION"
    assert p.limit("BUY", "1", "99.5")["success"]


@pytest.mark.parametrize(
    "kw",
    [
        {"submit_latency": -1.0},
        {"cancel_latency": float("nan")},
        {"trade_side": "aggressor"},
        {"products": (SPEC, SPEC)},
        {"max_open_orders_per_product": 0},
    ],
)
def test_config_rejects_nonsense(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        config(**kw)


def test_books_may_appear_later_in_the_live_mapping() -> None:
    books: dict[str, L2Book] = {}
    ex = PaperExchange(PaperConfig(products=(SPEC,)), books, seed=1, start_time=T0)
    assert ex.book(BTC) == ([], [])
    book = L2Book(BTC)
    book.apply_snapshot([Lv("bid", "99", "1"), Lv("offer", "100", "2")])
    books[BTC] = book
    assert ex.best_bid_ask(BTC) == ((D("99"), D("1")), (D("100"), D("2")))
    book.invalidate("gap")
    assert ex.book(BTC) == ([], []) and not ex.paper_book(BTC).valid


def test_restore_refuses_orders_on_products_no_longer_configured() -> None:
    j = Journal()
    _session(j)
    eth = spec_from_wire(
        {"product_id": "ETH-USD", "base_increment": "0.001", "quote_increment": "0.01",
         "base_min_size": "0.001"}
    )  # fmt: skip
    with pytest.raises(ValueError, match="BTC-USD"):
        Paper(products=(eth,), book=False).ex.restore(*j.load())
