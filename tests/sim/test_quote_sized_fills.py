"""Quote-sized fills ("buy $N of BTC"): the simulator reports them as Coinbase does, three
independent readers agree on them, and botkit books them in base.

Coinbase reports each fill of an order placed with ``quote_size`` with ``size_in_quote:
true`` and ``size`` in the *quote* currency (the fill's notional before fees), and a
commission that is the fee rate times that size. Sources: ccxt's ``parse_trade``
(``size / price`` when ``size_in_quote``) and its recorded ``fetchMyTrades`` sample,
used verbatim in the last test here. Read through the official SDK, botkit's own
RestClient and ccxt (all unmodified, over TLS loopback sockets); booked through botkit's
FillTracker from REST fills and from the ``user`` channel's cumulative updates.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator, Iterator
from decimal import ROUND_DOWN, Decimal
from typing import Any

import ccxt.async_support as ccxt
import msgspec
import pytest
from coinbase.rest import RESTClient

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.market.config import FeedConfig
from botkit.market.events import FeedEvent, FillEvent, UserSnapshotDone
from botkit.market.feed import MarketDataFeed
from botkit.net.ratelimit import RateLimiter
from botkit.net.ws import make_connector
from botkit.orders.fills import FillTracker, rest_fill_amounts, ws_base_quantity
from botkit.orders.positions import Positions
from botkit.sim.server import SimServer
from botkit.sim.wire import QuantityUnit
from botkit.sim.ws import WsConfig
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol

D = Decimal
TAKER = D("0.006")  # the simulator's default taker rate, as Coinbase's lowest tier
PID = "BTC-USD"
SPEND = "30000"  # walks several levels of the simulated book: several fills


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(
        seed=12, tls=True, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.1)
    ) as server:
        yield server


@pytest.fixture
def sdk(sim: SimServer) -> Iterator[RESTClient]:
    key = sim.add_key("ES256")
    client = RESTClient(
        api_key=key.name, api_secret=sim.secret_of(key), base_url=sim.authority, timeout=10
    )
    client.session.verify = str(sim.cert_path)
    client.session.trust_env = False  # else REQUESTS_CA_BUNDLE would win over .verify
    yield client
    client.session.close()  # its pooled sockets, even when the test failed half-way


def _botkit(sim: SimServer) -> RestClient:
    signer = JwtSigner(sim.add_key("ES256"), clock=SystemClock(), nonce=secrets.token_hex)
    return RestClient(
        sim.rest_url,
        signer,
        ca_file=sim.cert_path,
        limiter=RateLimiter(float("inf"), float("inf")),
        read_timeout=5.0,
    )


def _ccxt(sim: SimServer) -> Any:
    key = sim.add_key("ES256")
    ex = ccxt.coinbase(
        {
            "apiKey": key.name,
            "secret": sim.secret_of(key),
            "cafile": str(sim.cert_path),
            "timeout": 10_000,
            "enableRateLimit": False,
        }
    )
    ex.urls["api"]["rest"] = f"https://{sim.authority}"
    # load_markets() would also read the Coinbase *app* API's /v2/currencies, which is
    # not Advanced Trade and not served; markets come from /api/v3 either way.
    ex.has["fetchCurrencies"] = False
    return ex


def _usd(accounts: list[dict[str, Any]]) -> D:
    acct = next(a for a in accounts if a["currency"] == "USD")
    return D(acct["available_balance"]["value"]) + D(acct["hold"]["value"])


async def test_a_quote_sized_buy_reads_the_same_through_the_sdk_botkit_and_ccxt(
    sim: SimServer, sdk: RESTClient
) -> None:
    run = asyncio.to_thread
    usd_before = _usd((await run(sdk.get_accounts)).to_dict()["accounts"])
    placed = (
        await run(sdk.market_order_buy, client_order_id="qf-1", product_id=PID, quote_size=SPEND)
    ).to_dict()
    assert placed["success"] is True, placed
    oid = placed["success_response"]["order_id"]
    order = (await run(sdk.get_order, oid)).to_dict()["order"]
    base, value, fees = D(order["filled_size"]), D(order["filled_value"]), D(order["total_fees"])
    assert order["status"] == "FILLED" and order["size_in_quote"] is True
    assert int(order["number_of_fills"]) >= 2  # a multi-level walk: several fills to add up
    assert D("29000") < value + fees <= D(SPEND) and D("0.3") < base < D("0.5")

    # (1) the official SDK: size is quote, commission a fixed share of it
    fills = (await run(sdk.get_fills, order_ids=[oid])).to_dict()["fills"]
    assert len(fills) == int(order["number_of_fills"])
    assert all(f["size_in_quote"] is True for f in fills)
    assert sum(D(f["size"]) for f in fills) == value
    assert sum(D(f["size"]) / D(f["price"]) for f in fills) == base
    assert sum(D(f["commission"]) for f in fills) == fees
    for f in fills:
        assert D(f["commission"]) == (D(f["size"]) * TAKER).quantize(D("1e-8"), ROUND_DOWN)
    usd_after = _usd((await run(sdk.get_accounts)).to_dict()["accounts"])
    assert usd_before - usd_after == value + fees

    # (2) botkit's RestClient, booked through FillTracker into Positions
    client = _botkit(sim)
    try:
        typed = [f async for f in client.iter_fills(order_ids=[oid], limit=2)]
        mine = await client.get_order(oid)
    finally:
        await client.close()
    assert mine.filled_size == base
    assert len(typed) == len(fills) and all(f.size_in_quote for f in typed)
    amounts = [rest_fill_amounts(f) for f in typed]
    assert sum(a[0] for a in amounts) == base
    assert sum(a[1] for a in amounts) == value
    assert sum(a[2] for a in amounts) == fees
    (event,) = FillTracker().reconcile_rest_fills(typed)
    assert (event.size, event.size * event.price, event.fee) == (base, value, fees)
    assert event.side == "BUY" and event.product_id == PID and len(event.trade_ids) == len(fills)
    positions = Positions({"USD": usd_before, "BTC": D(0)})
    realised = positions.apply_fill(PID, event.side, event.size, event.price, event.fee)
    assert positions.quantity(PID) == base and realised == -fees
    assert positions.balances() == {"USD": usd_after, "BTC": base}
    assert positions.unrealised({PID: event.price}) == 0

    # (3) ccxt, unmodified: its parser divides by price because size_in_quote is true
    ex = _ccxt(sim)
    try:
        trades = await ex.fetch_my_trades("BTC/USD", params={"order_ids": [oid]})
        via_ccxt = await ex.fetch_order(oid)
    finally:
        await ex.close()
    assert len(trades) == len(fills) and {t["order"] for t in trades} == {oid}
    # ccxt works in floats: agreement to float precision is what it can state
    assert sum(t["amount"] for t in trades) == pytest.approx(float(base), rel=1e-12)
    assert sum(t["cost"] for t in trades) == pytest.approx(float(value), rel=1e-12)
    assert sum(t["fee"]["cost"] for t in trades) == pytest.approx(float(fees), rel=1e-12)
    assert {t["fee"]["currency"] for t in trades} == {"USD"}
    assert via_ccxt["filled"] == pytest.approx(float(base), rel=1e-12)
    # the old (wrong) wire, size in base under size_in_quote, would give ~1/65000 of this
    assert sum(t["amount"] for t in trades) > 0.3


async def _user_feed(sim: SimServer, events: list[FeedEvent]) -> MarketDataFeed:
    signer = JwtSigner(sim.add_key("ES256"), clock=SystemClock(), nonce=secrets.token_hex)
    feed = MarketDataFeed(
        FeedConfig(
            market_url=sim.ws_market_url,
            user_url=sim.ws_user_url,
            products=(PID,),
            channels=(),
            user=True,
            stale_after=5.0,
            backoff_initial=0.01,
            backoff_max=0.05,
            ca_file=sim.cert_path,
        ),
        protocol=FeedProtocol,
        connector=make_connector("aiohttp", ping_interval=5, text_as_bytes=True),
        on_event=events.append,
        rng=random.Random(1),
        signer=signer,
    )
    await feed.start()
    await feed.wait_for(lambda: any(isinstance(e, UserSnapshotDone) for e in events), 10)
    return feed


def _buy(sim: SimServer, spend: str) -> str:
    body = {
        "client_order_id": secrets.token_hex(8),
        "product_id": PID,
        "side": "BUY",
        "order_configuration": {"market_market_ioc": {"quote_size": spend}},
    }
    resp = sim.exchange.create_order("default", body, sim.clock())
    sim.publish()
    assert resp["success"], resp
    return str(resp["success_response"]["order_id"])


def _booked(events: list[FeedEvent], oid: str) -> Positions:
    positions = Positions()
    for e in events:
        if isinstance(e, FillEvent) and e.order_id == oid:
            positions.apply_fill(e.product_id, e.side, e.size, e.price, e.fee)
    return positions


def _filled(events: list[FeedEvent], oid: str) -> D:
    return sum((e.size for e in events if isinstance(e, FillEvent) and e.order_id == oid), D(0))


@pytest.mark.parametrize("unit", ["base", "quote"])
async def test_user_channel_updates_of_a_quote_sized_buy_book_base(
    sim: SimServer, unit: QuantityUnit
) -> None:
    """Cumulative ``user`` updates book the base quantity; REST then adds nothing.

    ``unit="quote"`` is the simulator's setting for the undocumented other reading of
    ``cumulative_quantity`` (the quote spent): botkit must still book base.
    """
    sim.exchange.ws_quote_sized_quantity = unit  # the SimMarketConfig field, switched live
    events: list[FeedEvent] = []
    feed = await _user_feed(sim, events)
    try:
        oid = _buy(sim, SPEND)
        order = sim.exchange.get_order("default", oid)
        base, value, fees = (
            D(order["filled_size"]),
            D(order["filled_value"]),
            D(order["total_fees"]),
        )
        assert int(order["number_of_fills"]) >= 2
        # "quote": avg_price is rounded to 1e-10, so the base implied from it is close, not exact
        exact = unit == "base"
        await feed.wait_for(lambda: _filled(events, oid) >= base * D("0.999999"), 10)
        positions = _booked(events, oid)
        held = positions.quantity(PID)
        assert held == base if exact else abs(held - base) < D("1e-12")
        assert positions.get(PID).realised == -fees
        spent = -positions.balances()["USD"]
        assert spent == value + fees if exact else abs(spent - value - fees) < D("1e-6")
        # the REST backfill of the same order reports nothing more (base, not quote, on
        # both paths); with the "quote" reading only a rounding residue may be left
        assert feed.fills is not None
        rows = sim.exchange.list_fills("default", {"order_ids": [oid]})
        assert all(r["size_in_quote"] is True for r in rows)
        late = feed.fills.reconcile_rest_fills(rows)
        assert late == [] if exact else sum(f.size for f in late) < D("1e-12")
    finally:
        await feed.stop()


def test_ccxts_recorded_coinbase_fill_reads_as_base() -> None:
    """ccxt's recorded ``fetchMyTrades`` sample of real Coinbase, read by botkit."""
    row = {
        "entry_id": "b88b82cc89e326a2778874795102cbafd08dd979a2a7a3c69603fc4c23c2e010",
        "trade_id": "cdc39e45-bbd3-44ec-bf02-61742dfb16a1",
        "order_id": "813a53c5-3e39-47bb-863d-2faf685d22d8",
        "trade_time": "2023-01-18T01:37:38.091377090Z",
        "trade_type": "FILL",
        "price": "21220.64",
        "size": "0.0046830664333996",
        "commission": "0.0000280983986004",
        "product_id": "BTC-USDT",
        "sequence_timestamp": "2023-01-18T01:37:38.092520Z",
        "liquidity_indicator": "UNKNOWN_LIQUIDITY_INDICATOR",
        "size_in_quote": True,
        "user_id": "1111111-1111-1111-1111-111111111111",
        "side": "BUY",
    }
    base, notional, fee = rest_fill_amounts(row)
    assert notional == D("0.0046830664333996") and fee == D("0.0000280983986004")
    assert base == D("0.0046830664333996") / D("21220.64")
    assert (notional * D("0.006")).quantize(D("1e-16")) == fee  # the fixed share of size
    from botkit.venues.advanced_trade.models import Fill

    typed = msgspec.convert(row, Fill)
    assert rest_fill_amounts(typed) == (base, notional, fee)
    assert rest_fill_amounts({**row, "size_in_quote": False})[0] == notional  # base as sent


def test_ws_base_quantity_only_overrides_a_self_contradicting_update() -> None:
    # ccxt's recorded order: filled_size 0.000297920684505 base for 6.36 quote spent
    avg, value, fees = D("21220.6399999973697697"), D("6.3220675944333996"), D("0.0379324055666004")
    base = D("0.000297920684505")
    assert ws_base_quantity(base, avg, value, fees) == base
    assert ws_base_quantity(value + fees, avg, value, fees) == value / avg  # quote spent
    assert ws_base_quantity(value, avg, value, fees) == value / avg  # notional
    # a stablecoin pair: base and quote are the same number; nothing to correct
    assert ws_base_quantity(D("100"), D("1.0001"), D("100.01"), D("0.6")) == D("100")
    # neither base nor quote: taken as sent (a real partial-update race, not a unit error)
    assert ws_base_quantity(D("0.2"), avg, value, fees) == D("0.2")
    assert ws_base_quantity(D(0), D(0), D(0), D(0)) == D(0)
