"""Portfolios (issue 15): ``GET /portfolios`` and the breakdown, read by three clients.

Bots resolve ``retail_portfolio_id`` through these endpoints: the uuid ``/portfolios``
lists is the one ``/key_permissions`` names and the one every account, order and fill
carries (reference §2.2, §2.7, §2.8, §2.9). The breakdown values each account at the
last trade price; its positions must agree with the accounts. Read through the official
SDK, botkit's RestClient and ccxt (``fetch_portfolios``/``fetch_portfolio_details``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D
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
        yield r


def _sdk_error(call: Any, *args: Any, **kw: Any) -> tuple[int, dict[str, Any]]:
    """The status and body of an SDK call that must fail (the SDK raises ``HTTPError``)."""
    try:
        call(*args, **kw)
    except requests.HTTPError as exc:
        assert exc.response is not None  # the SDK raises from a response
        return exc.response.status_code, exc.response.json()
    raise AssertionError(f"{call.__name__} succeeded; a 4xx was expected")


def _sdk_story(sdk: RESTClient) -> None:
    """One thread, one connection pool: the SDK is synchronous."""
    listed = sdk.get_portfolios().to_dict()["portfolios"]
    assert len(listed) == 1 and listed[0]["type"] == "DEFAULT" and listed[0]["deleted"] is False
    uuid = listed[0]["uuid"]
    assert sdk.get_api_key_permissions().to_dict()["portfolio_uuid"] == uuid
    assert sdk.get_portfolios(portfolio_type="DEFAULT").to_dict()["portfolios"] == listed
    assert sdk.get_portfolios(portfolio_type="CONSUMER").to_dict()["portfolios"] == []
    status, body = _sdk_error(sdk.get_portfolios, portfolio_type="PERSONAL")
    assert (
        status == 400
        and body["error"] == "INVALID_ARGUMENT"
        and "portfolio_type" in body["message"]
    )

    placed = (
        sdk.market_order_buy(client_order_id="pf-1", product_id=PID, quote_size="500")
    ).to_dict()
    oid = placed["success_response"]["order_id"]
    accounts = sdk.get_accounts().to_dict()["accounts"]
    assert {a["retail_portfolio_id"] for a in accounts} == {uuid}
    assert sdk.get_order(oid).to_dict()["order"]["retail_portfolio_id"] == uuid
    fills = sdk.get_fills(order_ids=[oid]).to_dict()["fills"]
    assert fills and {f["retail_portfolio_id"] for f in fills} == {uuid}

    breakdown = sdk.get_portfolio_breakdown(uuid).to_dict()["breakdown"]
    assert breakdown["portfolio"]["uuid"] == uuid
    positions = {p["asset"]: p for p in breakdown["spot_positions"]}
    assert set(positions) == {a["currency"] for a in accounts}
    last = D(sdk.get_product(PID).to_dict()["price"])
    for account in accounts:
        pos = positions[account["currency"]]
        held = D(account["available_balance"]["value"]) + D(account["hold"]["value"])
        assert pos["account_uuid"] == account["uuid"]
        assert D(str(pos["total_balance_crypto"])) == held  # JSON numbers, as Coinbase sends
        assert pos["is_cash"] is (account["currency"] == "USD")
    # valued at the last trade price (the market moves between requests: 1 % band)
    btc = positions["BTC"]
    implied = D(str(btc["total_balance_fiat"])) / D(str(btc["total_balance_crypto"]))
    assert abs(implied / last - 1) < D("0.01")
    total = D(breakdown["portfolio_balances"]["total_balance"]["value"])
    assert abs(total - sum(D(str(p["total_balance_fiat"])) for p in positions.values())) < D("0.02")
    assert abs(sum(p["allocation"] for p in positions.values()) - 1) < 1e-9

    same = sdk.get_portfolio_breakdown(uuid, currency="USD").to_dict()["breakdown"]
    assert same["portfolio_balances"]["total_balance"]["currency"] == "USD"
    assert [p["total_balance_crypto"] for p in same["spot_positions"]] == [
        p["total_balance_crypto"] for p in breakdown["spot_positions"]
    ]
    status, body = _sdk_error(sdk.get_portfolio_breakdown, uuid, currency="EUR")
    assert status == 400 and "currency" in body["message"]
    status, body = _sdk_error(sdk.get_portfolio_breakdown, "not-my-portfolio")
    assert status == 404 and body["error"] == "NOT_FOUND"


async def test_the_sdk_resolves_the_portfolio_every_record_carries(readers: Readers) -> None:
    await asyncio.to_thread(_sdk_story, readers.sdk)


async def test_botkit_lists_portfolios_and_reads_the_breakdown_typed(readers: Readers) -> None:
    bk = readers.bk
    portfolios = await bk.list_portfolios()
    assert [p.type for p in portfolios] == ["DEFAULT"]
    uuid = portfolios[0].uuid
    assert (await bk.key_permissions()).portfolio_uuid == uuid
    assert await bk.list_portfolios(portfolio_type="INTX") == []
    with pytest.raises(ExchangeError) as info:
        await bk.list_portfolios(portfolio_type="default")
    assert info.value.status == 400

    placed = await asyncio.to_thread(
        readers.sdk.market_order_buy, client_order_id="pf-2", product_id=PID, quote_size="500"
    )
    oid = placed.to_dict()["success_response"]["order_id"]
    fills = (await bk.list_fills(order_ids=[oid])).fills
    assert fills and {f.retail_portfolio_id for f in fills} == {uuid}
    assert (await bk.get_order(oid)).retail_portfolio_id == uuid
    accounts = [a async for a in bk.iter_accounts()]
    assert {a.retail_portfolio_id for a in accounts} == {uuid}

    breakdown = await bk.portfolio_breakdown(uuid, currency="USD")
    assert breakdown.portfolio.uuid == uuid
    assert breakdown.portfolio_balances.total_balance.currency == "USD"
    by_asset = {p.asset: p for p in breakdown.spot_positions}
    for account in accounts:
        held = account.available_balance.value + (account.hold.value if account.hold else D(0))
        assert by_asset[account.currency].total_balance_crypto == held
        assert by_asset[account.currency].account_uuid == account.uuid
    assert by_asset["USD"].is_cash and not by_asset["BTC"].is_cash
    with pytest.raises(ExchangeError) as info:
        await bk.portfolio_breakdown("someone-elses")
    assert info.value.status == 404


async def test_ccxt_fetches_portfolios_and_their_details(readers: Readers) -> None:
    if readers.cx is None:
        pytest.skip(NO_CCXT)
    cx = readers.cx
    portfolios = await cx.fetch_portfolios()
    assert [(p["type"], p["info"]["name"]) for p in portfolios] == [("DEFAULT", "Default")]
    uuid = portfolios[0]["id"]
    details = await cx.fetch_portfolio_details(uuid)
    accounts = (await asyncio.to_thread(readers.sdk.get_accounts)).to_dict()["accounts"]
    assert {d["currency"] for d in details} == {a["currency"] for a in accounts}
    assert {d["account_id"] for d in details} == {uuid}
    usd = next(d for d in details if d["currency"] == "USD")
    account = next(a for a in accounts if a["currency"] == "USD")
    assert usd["is_cash"] is True and usd["account_uuid"] == account["uuid"]
    assert D(str(usd["total_balance_crypto"])) == D(account["available_balance"]["value"]) + D(
        account["hold"]["value"]
    )
