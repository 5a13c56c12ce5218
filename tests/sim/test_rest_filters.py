"""The filters the simulator used to ignore, read over HTTP by three clients (issue 15).

test_rest_params.py walks every parameter in-process; here the ones issue 15 named are
sent by the official SDK, botkit's RestClient and ccxt (whose ``fetchMyTrades`` sends the
fills' ``start_sequence_timestamp``, ``fetchTrades`` the market trades' ``start``/``end``),
each of which must see the filter applied, not everything.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal as D
from typing import Any

import pytest
from coinbase.rest import RESTClient

from tests.sim.clients_harness import NO_CCXT, Readers, open_readers

PID = "BTC-USD"


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _history(sdk: RESTClient) -> dict[str, Any]:
    """A market buy, a resting GTC limit, then (a moment later) a market sell."""
    bid = D(sdk.get_best_bid_ask(product_ids=[PID]).to_dict()["pricebooks"][0]["bids"][0]["price"])
    buy = sdk.market_order_buy(client_order_id="f-b", product_id=PID, quote_size="20000")
    rest = sdk.limit_order_gtc_buy(
        client_order_id="f-l",
        product_id=PID,
        base_size="0.001",
        limit_price=str((bid * D("0.9")).quantize(D("0.01"))),
        post_only=True,
    )
    buy_id = buy.to_dict()["success_response"]["order_id"]
    buy_fill = sdk.get_fills(order_ids=[buy_id]).to_dict()["fills"][0]["sequence_timestamp"]
    sell = sdk.market_order_sell(client_order_id="f-s", product_id=PID, base_size="0.2")
    sell_id = sell.to_dict()["success_response"]["order_id"]
    sell_fills = sdk.get_fills(order_ids=[sell_id]).to_dict()["fills"]
    assert _ts(sell_fills[0]["sequence_timestamp"]) > _ts(buy_fill)  # real time moved on
    return {
        "buy": buy_id,
        "limit": rest.to_dict()["success_response"]["order_id"],
        "sell": sell_id,
        "sell_time": min(_ts(f["sequence_timestamp"]) for f in sell_fills),
    }


@pytest.fixture
async def readers() -> AsyncIterator[Readers]:
    async with open_readers() as r:
        yield r


def _sdk_story(sdk: RESTClient) -> None:
    h = _history(sdk)
    iso = datetime.fromtimestamp(h["sell_time"]).astimezone().isoformat()

    every = sdk.get_fills(limit=1000).to_dict()["fills"]
    late = sdk.get_fills(start_sequence_timestamp=iso).to_dict()["fills"]
    early = sdk.get_fills(end_sequence_timestamp=iso).to_dict()["fills"]
    assert {f["order_id"] for f in late} == {h["sell"]}
    assert {f["order_id"] for f in early} == {h["buy"]}
    assert len(late) + len(early) == len(every)
    by_price = sdk.get_fills(sort_by="PRICE").to_dict()["fills"]
    assert [D(f["price"]) for f in by_price] == sorted((D(f["price"]) for f in every), reverse=True)
    assert by_price != every  # newest first by default: the sell's lower prices come first

    limits = sdk.list_orders(order_types=["LIMIT"]).to_dict()["orders"]
    assert [o["order_id"] for o in limits] == [h["limit"]]
    gtc = sdk.list_orders(time_in_forces=["GOOD_UNTIL_CANCELLED"]).to_dict()["orders"]
    assert [o["order_id"] for o in gtc] == [h["limit"]]
    assert sdk.list_orders(product_type="FUTURE").to_dict()["orders"] == []
    by_limit = sdk.list_orders(sort_by="LIMIT_PRICE").to_dict()["orders"]
    assert by_limit[0]["order_id"] == h["limit"]  # the only order with a limit price comes first

    assert sdk.get_products(product_type="FUTURE").to_dict()["products"] == []
    spot = sdk.get_products(product_type="SPOT").to_dict()["products"]
    assert PID in {p["product_id"] for p in spot}
    assert sdk.get_products(contract_expiry_type="PERPETUAL").to_dict()["products"] == []

    book = sdk.get_product_book(product_id=PID, aggregation_price_increment="100").to_dict()
    prices = [D(b["price"]) for b in book["pricebook"]["bids"]]
    assert prices and all(p % 100 == 0 for p in prices) and len(set(prices)) == len(prices)

    start, end = int(h["sell_time"]) - 30, int(h["sell_time"]) + 1
    trades = sdk.get_market_trades(product_id=PID, limit=1000, start=str(start), end=str(end))
    times = [_ts(t["time"]) for t in trades.to_dict()["trades"]]
    assert times and all(start <= t < end for t in times)
    everything = sdk.get_market_trades(product_id=PID, limit=1000).to_dict()["trades"]
    assert len(times) < len(everything)


async def test_the_sdk_sees_each_filter_applied(readers: Readers) -> None:
    await asyncio.to_thread(_sdk_story, readers.sdk)


async def test_botkit_sends_and_gets_each_filter(readers: Readers) -> None:
    h = await asyncio.to_thread(_history, readers.sdk)
    bk = readers.bk
    late = (await bk.list_fills(start=h["sell_time"])).fills
    early = (await bk.list_fills(end=h["sell_time"])).fills
    assert {f.order_id for f in late} == {h["sell"]} and {f.order_id for f in early} == {h["buy"]}
    by_price = (await bk.list_fills(sort_by="PRICE")).fills
    assert [f.price for f in by_price] == sorted((f.price for f in by_price), reverse=True)
    one = by_price[-1].trade_id
    assert [f.trade_id for f in (await bk.list_fills(trade_ids=[one])).fills] == [one]

    limits = (
        await bk.list_orders(order_types=["LIMIT"], time_in_forces=["GOOD_UNTIL_CANCELLED"])
    ).orders
    assert [o.order_id for o in limits] == [h["limit"]]
    assert (await bk.list_orders(product_type="FUTURE")).orders == []
    assert (await bk.list_orders(sort_by="LIMIT_PRICE")).orders[0].order_id == h["limit"]

    assert await bk.products(product_type="FUTURE") == []
    assert PID in {p.product_id for p in await bk.products(product_type="SPOT")}
    book = await bk.product_book(PID, aggregation_price_increment=D("50"))
    assert book.pricebook.bids and all(level.price % 50 == 0 for level in book.pricebook.bids)
    start, end = int(h["sell_time"]) - 30, int(h["sell_time"]) + 1
    trades = (await bk.market_trades(PID, limit=1000, start=start, end=end)).trades
    assert trades and all(start <= _ts(t.time) < end for t in trades)


async def test_ccxt_reads_fills_since_and_trades_in_a_window(readers: Readers) -> None:
    if readers.cx is None:
        pytest.skip(NO_CCXT)
    h = await asyncio.to_thread(_history, readers.sdk)
    cx = readers.cx
    await cx.load_markets()
    since = int(h["sell_time"] * 1000)
    mine = await cx.fetch_my_trades("BTC/USD", since=since)  # start_sequence_timestamp
    assert mine and {t["order"] for t in mine} == {h["sell"]}
    before = await cx.fetch_my_trades("BTC/USD", params={"until": since})  # end_sequence_timestamp
    assert before and {t["order"] for t in before} == {h["buy"]}
    start = since - 30_000
    public = await cx.fetch_trades(
        "BTC/USD", since=start, limit=1000, params={"until": since + 1000}
    )
    assert public and all(start <= t["timestamp"] < since + 1000 for t in public)
    book = await cx.fetch_order_book("BTC/USD", params={"aggregation_price_increment": "100"})
    assert book["bids"] and all(D(str(price)) % 100 == 0 for price, _ in book["bids"])
