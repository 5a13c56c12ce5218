"""The equity curve across a restart: a held position is never valued without a price.

A paper bot killed while holding a position restarts with no book yet. On the Exchange
and Prime venues the product rules carry no price either, so until the first book or
trade print the product has no mark at all; an equity point sampled then valued the
position at zero (a QA run: 'max drawdown 0.65 % (65.36 USD)' for a session that lost
1.58 USD). The broker now waits for the price; the report leaves such points of older
journals out.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from botkit.market.book import L2Book
from botkit.paper.broker import PaperBroker
from botkit.paper.journal import PaperJournal
from botkit.paper.records import BalanceRecord, EquityPoint
from botkit.paper.setup import build_broker
from botkit.report.html import charts
from botkit.report.metrics import build_report, compute
from botkit.runtime.bot_config import parse_bot_config
from tests.paper.harness import BTC, T0, Lv

D = Decimal

CONFIG: dict[str, Any] = {
    "bot": {"mode": "paper", "venue": "exchange"},
    "strategy": {"name": "market_maker", "params": {"product_id": BTC, "size": "0.001"}},
    "risk": {"max_order_notional": "500", "max_open_orders": 4, "max_position": "0.05"},
    "paper": {
        "source": "sim",
        "initial_balances": {"USD": "10000"},
        "submit_latency": 0,
        "cancel_latency": 0,
        "equity_interval": 1.0,
    },
}

# Exchange's public /products, as botkit.runtime.venue.fetch_product_rules maps it: no price
RULES = {
    "product_id": BTC, "base_currency_id": "BTC", "quote_currency_id": "USD",
    "base_increment": "0.00000001", "price_increment": "0.01", "quote_increment": "0.01",
    "base_min_size": "0.00000001", "quote_min_size": "1",
}  # fmt: skip


class Session:
    """One run of a paper bot on ``path``: the broker over books fed by hand."""

    def __init__(self, path: Path, now: float) -> None:
        self.now = now
        self.books: dict[str, L2Book] = {}
        self.broker: PaperBroker = build_broker(
            parse_bot_config(json.loads(json.dumps(CONFIG))),
            [RULES],
            self.books,
            path,
            now=lambda: self.now,
            on_event=lambda e: None,
            durable=True,
            meta={"mode": "paper", "strategy": "test"},
        )

    def book(self, bid: str, ask: str) -> None:
        """The product's book arrives (or moves): a one-level snapshot, then a flush."""
        book = self.books.get(BTC) or L2Book(BTC)
        book.apply_snapshot([Lv("bid", bid, "5"), Lv("offer", ask, "5")])
        self.books[BTC] = book
        self.broker.exchange.on_book(BTC, self.now)
        self.broker.flush()

    def buy(self, size: str) -> None:
        body = {
            "client_order_id": f"buy-{self.now}",
            "product_id": BTC,
            "side": "BUY",
            "order_configuration": {"market_market_ioc": {"base_size": size}},
        }
        self.broker.exchange.create_order("paper", body, self.now)
        self.broker.flush()

    def at(self, seconds: float) -> None:
        self.now = T0 + seconds
        self.broker.advance()


def test_a_restart_holding_a_position_records_no_equity_until_it_has_a_price(
    tmp_path: Path,
) -> None:
    path = tmp_path / "paper.sqlite"
    first = Session(path, T0)
    first.book("64999", "65001")
    first.buy("0.001")  # 65.001 USD plus the taker fee
    first.at(1.0)
    first.broker.journal.close()  # killed: everything acknowledged is journalled

    second = Session(path, T0 + 10)  # restarted: no book yet, and the rules carry no price
    assert second.broker.resumed
    assert second.broker.exchange.unpriced("USD") == [BTC]
    second.at(11.0)
    second.at(12.5)
    with PaperJournal(path, readonly=True) as journal:
        assert [p.t for p in journal.equity() if p.t > T0 + 9] == []  # no point without a price
    second.book("64899", "64901")  # the first book after the restart: valued at its mid
    second.at(14.0)
    second.broker.journal.close()

    with PaperJournal(path, readonly=True) as journal:
        curve = journal.equity()
        usd = {b.currency: b.available + b.hold for b in journal.balances()}["USD"]
    after = [p for p in curve if p.t > T0 + 9]
    assert after and after[0].t == T0 + 12.5
    assert after[0].marks == {BTC: D("64900")}
    assert after[0].equity == usd + D("0.001") * D("64900")
    assert all(p.equity > D("9990") for p in curve), curve
    report = build_report(path)
    assert report.equity_left_out == 0 and report.notes == []
    dd = report.max_drawdown
    assert dd is not None and dd.amount < D("1"), dd  # the fee and the 100 USD move, no more


def test_a_fresh_session_without_a_position_still_starts_its_curve_at_once(
    tmp_path: Path,
) -> None:
    """Only a held position waits for a price: cash alone is worth what it is."""
    session = Session(tmp_path / "paper.sqlite", T0)
    session.broker.journal.close()
    with PaperJournal(tmp_path / "paper.sqlite", readonly=True) as journal:
        curve = journal.equity()
    assert [(p.t, p.equity, p.marks) for p in curve] == [(T0, D("10000"), {})]


def _qa_journal() -> tuple[list[BalanceRecord], list[EquityPoint]]:
    """The QA session's rows (shortened): flat at the start, long 0.001 BTC from t=4, the
    restart's point at t=8 with BTC-USD marked 0, the session ending near where it was."""

    def point(t: float, equity: str, mark: str) -> EquityPoint:
        return EquityPoint(T0 + t, D(equity), "USD", {BTC: D(mark)})

    history = [
        BalanceRecord("USD", D("10000"), D("0"), T0),
        BalanceRecord("BTC", D("0"), D("0"), T0),
        BalanceRecord("USD", D("9934.638671"), D("0"), T0 + 4),
        BalanceRecord("BTC", D("0.001"), D("0"), T0 + 4),
    ]
    equity = [
        point(0, "10000", "0"),  # the fresh start: nothing held, so the zero mark is unused
        point(1, "10000", "64976.75"),
        point(4, "9999.609421", "64970.75"),
        point(5, "9999.614921", "64976.25"),
        point(8, "9934.638671", "0"),  # the restart: the BTC valued at nothing
        point(9, "9999.603421", "64964.75"),
        point(10, "9998.420182", "64954.50"),
    ]
    return history, equity


def test_the_report_leaves_out_an_old_journals_points_that_value_a_position_at_zero() -> None:
    history, equity = _qa_journal()
    meta = {"quote": "USD", "products": [BTC], "initial_balances": {"USD": "10000"}}
    report = compute(journal="paper.sqlite", meta=meta, orders=[], fills=[], history=history,
                     equity=equity)  # fmt: skip
    assert report.equity_left_out == 1
    assert [p.t - T0 for p in report.equity] == [0, 1, 4, 5, 9, 10]
    assert any("zero mark" in n for n in report.notes), report.notes
    dd = report.max_drawdown
    assert dd is not None and dd.amount == D("10000") - D("9998.420182"), dd
    assert report.initial_equity == D("10000") and report.pnl == D("-1.579818")
    # the price chart draws no zero mark (the fresh start's is no price either)
    price = [c for c in charts(report) if c.title.startswith(BTC)][0]
    drawn = [y for s in price.series for _, y in s.points]
    assert drawn == [64976.75, 64970.75, 64976.25, 64964.75, 64954.50]
    # the same journal with no position at the zero mark: nothing is left out
    flat = [p for p in equity if p.t != T0 + 8]
    again = compute(journal="j", meta=meta, orders=[], fills=[], history=history, equity=flat)
    assert again.equity_left_out == 0 and len(again.equity) == len(flat)
