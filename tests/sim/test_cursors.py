"""Opaque cursors (issue 15): the simulator's page cursors are opaque, signed strings.

Coinbase's cursors are opaque (reference §2.10); a client that parsed the simulator's old
integer cursors would break on Coinbase. Each reader follows cursors to the end and sees
every row once; a cursor that is a number, edited, or replayed with other filters is
Coinbase's 400 ``INVALID_ARGUMENT``. Through the official SDK, botkit's RestClient and ccxt
(``fetch_accounts`` with ``paginate``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import requests
from coinbase.rest import RESTClient

from botkit.errors import ExchangeError
from tests.sim.clients_harness import NO_CCXT, Readers, open_readers

PID = "BTC-USD"


@pytest.fixture
async def readers() -> AsyncIterator[Readers]:
    async with open_readers() as r:
        await asyncio.to_thread(_place_orders, r.sdk)
        yield r


def _place_orders(sdk: RESTClient) -> None:
    for i in range(5):
        placed = sdk.market_order_buy(client_order_id=f"cur-{i}", product_id=PID, quote_size="200")
        assert placed.to_dict()["success"] is True


def _status(call: Any, *args: Any, **kw: Any) -> tuple[int, dict[str, Any]]:
    try:
        call(*args, **kw)
    except requests.HTTPError as exc:
        assert exc.response is not None  # the SDK raises from a response
        return exc.response.status_code, exc.response.json()
    raise AssertionError("a 400 was expected")


def _tamper(cursor: str) -> str:
    return cursor[:-3] + ("x" if cursor[-3] != "x" else "y") + cursor[-2:]


def _sdk_story(sdk: RESTClient) -> None:
    every = [o["order_id"] for o in sdk.list_orders(limit=100).to_dict()["orders"]]
    assert len(every) == 5
    seen, cursor = [], None
    while True:
        page = sdk.list_orders(limit=2, cursor=cursor).to_dict()
        seen += [o["order_id"] for o in page["orders"]]
        if not page["has_next"]:
            assert page["cursor"] == ""
            break
        cursor = page["cursor"]
        assert not cursor.isdigit() and len(cursor) >= 16  # opaque, not an offset
    assert seen == every
    first = sdk.list_orders(limit=2).to_dict()["cursor"]
    for bad in ("2", _tamper(first), "not-a-cursor"):
        status, body = _status(sdk.list_orders, limit=2, cursor=bad)
        assert status == 400 and body["error"] == "INVALID_ARGUMENT" and "cursor" in body["message"]
    status, _ = _status(sdk.list_orders, limit=2, cursor=first, order_side="BUY")  # other filters
    assert status == 400
    status, _ = _status(sdk.get_fills, limit=2, cursor=first)  # another route's cursor
    assert status == 400

    fills: list[str] = []
    cursor = None
    while True:  # fills have no has_next: an empty cursor ends (§2.8)
        page = sdk.get_fills(limit=3, cursor=cursor).to_dict()
        fills += [f["trade_id"] for f in page["fills"]]
        cursor = page["cursor"] or None
        if cursor is None:
            break
    assert fills == [f["trade_id"] for f in sdk.get_fills(limit=1000).to_dict()["fills"]]
    accounts = sdk.get_accounts(limit=1).to_dict()
    assert accounts["has_next"] and not accounts["cursor"].isdigit()


async def test_the_sdk_follows_opaque_cursors_and_tampering_is_a_400(readers: Readers) -> None:
    await asyncio.to_thread(_sdk_story, readers.sdk)


async def test_botkit_iterates_every_page_and_rejects_a_forged_cursor(readers: Readers) -> None:
    bk = readers.bk
    every = (await bk.list_orders(limit=100)).orders
    assert [o.order_id async for o in bk.iter_orders(limit=2)] == [o.order_id for o in every]
    all_fills = (await bk.list_fills(limit=1000)).fills
    assert [f.trade_id async for f in bk.iter_fills(limit=2)] == [f.trade_id for f in all_fills]
    currencies = [a.currency async for a in bk.iter_accounts(limit=1)]
    assert len(currencies) == len(set(currencies)) >= 3
    page = await bk.list_orders(limit=2)
    for forged in ("2", _tamper(page.cursor)):
        with pytest.raises(ExchangeError) as info:
            await bk.list_orders(limit=2, cursor=forged)
        assert info.value.status == 400


async def test_ccxt_paginates_accounts_through_the_cursor(readers: Readers) -> None:
    if readers.cx is None:
        pytest.skip(NO_CCXT)
    cx = readers.cx
    await cx.load_markets()
    one_call = [a["id"] for a in await cx.fetch_accounts()]
    paged: list[str] = []
    cursor = None
    while True:  # ccxt's parser hands the cursor back in the last account's info
        page = await cx.fetch_accounts({"limit": 1, **({"cursor": cursor} if cursor else {})})
        paged += [a["id"] for a in page]
        cursor = page[-1]["info"].get("cursor") if page else None
        if not cursor:
            break
    assert paged == one_call and len(paged) >= 3
    cursor = (await cx.v3PrivateGetBrokerageAccounts({"limit": 1}))["cursor"]
    assert cursor and not cursor.isdigit()
    with pytest.raises(Exception) as info:  # ccxt maps the 400 to one of its own error types
        await cx.v3PrivateGetBrokerageAccounts({"limit": 1, "cursor": _tamper(cursor)})
    assert "cursor" in str(info.value)
