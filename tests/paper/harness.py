"""A paper exchange over hand-driven L2 books: the tests' only way in (no network, no mocks)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botkit.market.book import L2Book
from botkit.paper.config import PaperConfig
from botkit.paper.exchange import PaperExchange
from botkit.sim.specs import FeeTier, ProductSpec

D = Decimal
T0 = 1_790_000_000.0
BTC = "BTC-USD"
USER = "paper"
SPEC = ProductSpec(
    product_id=BTC,
    base_currency="BTC",
    quote_currency="USD",
    base_increment=D("0.0001"),
    quote_increment=D("0.01"),
    base_min_size=D("0.001"),
    base_max_size=D("1000"),
    quote_min_size=D("1"),
    quote_max_size=D("1000000"),
    start_price=D("100"),
    level_spacing=D("0.01"),
)


@dataclass(frozen=True)
class Lv:
    """A level2 level as the feed hands it to the book."""

    side: str
    price_level: str
    new_quantity: str


def config(**kw: Any) -> PaperConfig:
    base: dict[str, Any] = {
        "products": (SPEC,),
        "initial_balances": {"USD": D("100000"), "BTC": D("10")},
        "fee_tier": FeeTier(maker_fee_rate=D("0.004"), taker_fee_rate=D("0.006")),
        "submit_latency": 0.0,
        "cancel_latency": 0.0,
    }
    base.update(kw)
    return PaperConfig(**base)


class Paper:
    """A paper exchange, its live books and a virtual clock."""

    def __init__(self, *, book: bool = True, seed: int = 7, **kw: Any) -> None:
        self.books: dict[str, L2Book] = {}
        self.now = T0
        self.ex = PaperExchange(config(**kw), self.books, seed=seed, start_time=T0)
        self._trade = 1000
        if book:
            self.snapshot({"99": "2", "98": "5"}, {"100": "1", "101": "3"})

    # -- market data --------------------------------------------------------------------
    def snapshot(self, bids: dict[str, str], asks: dict[str, str]) -> None:
        book = self.books.get(BTC) or L2Book(BTC)
        book.apply_snapshot(
            [Lv("bid", p, q) for p, q in bids.items()]
            + [Lv("offer", p, q) for p, q in asks.items()]
        )
        self.books[BTC] = book
        self.ex.on_book(BTC, self.now)

    def level(self, side: str, price: str, qty: str) -> None:
        self.books[BTC].apply_updates([Lv(side, price, qty)])
        self.ex.on_book(BTC, self.now)

    def trade(self, price: str, size: str, side: str, trade_id: str | None = None) -> None:
        """One print; ``side`` is the market_trades field (the maker's side by default)."""
        if trade_id is None:
            self._trade += 1
            trade_id = str(self._trade)
        self.ex.on_trades(BTC, [(trade_id, D(price), D(size), side)], self.now)

    def at(self, seconds: float) -> None:
        self.now = T0 + seconds
        self.ex.advance(self.now)

    # -- orders -------------------------------------------------------------------------
    def limit(
        self, side: str, size: str, price: str, *, post_only: bool = False, coid: str = ""
    ) -> dict[str, Any]:
        cfg = {"base_size": size, "limit_price": price, "post_only": post_only}
        return self.create(side, {"limit_limit_gtc": cfg}, coid)

    def market(self, side: str, coid: str = "", **sizes: str) -> dict[str, Any]:
        return self.create(side, {"market_market_ioc": sizes}, coid)

    def create(self, side: str, conf: dict[str, Any], coid: str = "") -> dict[str, Any]:
        body = {
            "client_order_id": coid,
            "product_id": BTC,
            "side": side,
            "order_configuration": conf,
        }
        return self.ex.create_order(USER, body, self.now)

    def order(self, order_id: str) -> dict[str, Any]:
        return self.ex.get_order(USER, order_id)

    def fills(self, order_id: str | None = None) -> list[dict[str, Any]]:
        query = {"order_ids": [order_id]} if order_id else {}
        return list(reversed(self.ex.list_fills(USER, query)))

    def balance(self, currency: str) -> tuple[Decimal, Decimal]:
        for acct in self.ex.accounts(USER):
            if acct["currency"] == currency:
                return D(acct["available_balance"]["value"]), D(acct["hold"]["value"])
        raise KeyError(currency)

    def queue(self, order_id: str) -> Decimal | None:
        lot = self.ex.paper_book(BTC).queued(order_id)
        return None if lot is None else lot.queue_ahead
