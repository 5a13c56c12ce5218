"""The generic price-time-priority book: FIFO, level walking, change reporting."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from botkit.market.matching import LevelChange, Lot, OrderBook


def _book() -> OrderBook:
    book = OrderBook()
    book.add(Lot("b1", "BUY", D("99"), D("1")))
    book.add(Lot("b2", "BUY", D("98"), D("2")))
    book.add(Lot("a1", "SELL", D("101"), D("1"), owner="u"))
    book.add(Lot("a2", "SELL", D("101"), D("2")))
    book.add(Lot("a3", "SELL", D("102"), D("3")))
    book.take_changes()
    return book


def test_depth_is_best_first_and_aggregated() -> None:
    book = _book()
    assert book.depth("BUY") == [(D("99"), D("1")), (D("98"), D("2"))]
    assert book.depth("SELL") == [(D("101"), D("3")), (D("102"), D("3"))]
    assert book.depth("SELL", 1) == [(D("101"), D("3"))]
    assert book.best("BUY") == (D("99"), D("1"))


def test_taker_walks_levels_fifo_at_resting_prices() -> None:
    book = _book()
    fills = book.match("BUY", D("4.5"))
    assert [(f.maker_order_id, f.price, f.size) for f in fills] == [
        ("a1", D("101"), D("1")),
        ("a2", D("101"), D("2")),
        ("a3", D("102"), D("1.5")),
    ]
    assert fills[0].maker_owner == "u" and fills[0].maker_remaining == 0
    assert fills[2].maker_remaining == D("1.5")
    assert book.depth("SELL") == [(D("102"), D("1.5"))]
    assert "a1" not in book and "a3" in book


def test_limit_stops_the_walk_and_empty_book_stops_market() -> None:
    book = _book()
    fills = book.match("BUY", D("10"), limit=D("101"))
    assert sum(f.size for f in fills) == D("3")
    assert book.best("SELL") == (D("102"), D("3"))
    fills = book.match("SELL", D("10"))
    assert sum(f.size for f in fills) == D("3")
    assert book.best("BUY") is None


def test_take_changes_reports_absolute_sizes_once() -> None:
    book = _book()
    book.match("BUY", D("1.5"))
    assert book.take_changes() == [LevelChange("SELL", D("101"), D("1.5"))]
    assert book.take_changes() == []
    book.add(Lot("x", "BUY", D("97"), D("1")))
    book.cancel("x")  # touched but unchanged overall: not reported
    book.cancel("b1")
    assert book.take_changes() == [LevelChange("BUY", D("99"), D("0"))]


def test_reduce_keeps_priority_and_cancel_removes() -> None:
    book = _book()
    book.reduce("a1", D("0.5"))
    fills = book.match("BUY", D("0.5"))
    assert [f.maker_order_id for f in fills] == ["a1"]
    assert book.cancel("nope") is None
    lot = book.cancel("a2")
    assert lot is not None and lot.size == D("2")
    assert book.best("SELL") == (D("102"), D("3"))
    with pytest.raises(ValueError):
        book.reduce("a3", D("4"))


def test_add_rejects_crossing_and_duplicates() -> None:
    book = _book()
    with pytest.raises(ValueError):
        book.add(Lot("c", "BUY", D("101"), D("1")))
    with pytest.raises(ValueError):
        book.add(Lot("c", "SELL", D("99"), D("1")))
    with pytest.raises(ValueError):
        book.add(Lot("b1", "BUY", D("90"), D("1")))
    assert book.crosses("BUY", D("101")) and not book.crosses("BUY", D("100.99"))


def test_previews_do_not_mutate() -> None:
    book = _book()
    assert book.fillable("BUY", D("101"), D("5")) == D("3")
    assert book.fillable("BUY", None, D("5")) == D("5")
    assert book.cost("BUY", D("4")) == (D("4"), D("3") * 101 + 102)
    size = book.size_for_budget("BUY", D("303"), D("0"), D("0.01"))
    assert size == D("3")
    size = book.size_for_budget("BUY", D("404"), D("0.01"), D("0.01"))
    assert D("3") < size < D("4")
    assert book.depth("SELL") == [(D("101"), D("3")), (D("102"), D("3"))]
