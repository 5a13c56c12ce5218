"""Restricted trading modes (cancel-only, limit-only, post-only, halted) in the simulator.

Over real loopback sockets: the admin endpoint, the official SDK (coinbase-advanced-py,
unmodified) reading the product flags and having its orders refused, ccxt's
``coinbaseexchange`` against the Exchange dialect, and the ``status`` WebSocket channels.
What is refused is checked against the exchange's own records too (a refused order leaves
no order behind), not only against the answers.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import pytest
from coinbase.rest import RESTClient

from botkit.sim.entry import MODE_REFUSALS, TRADING_MODES
from botkit.sim.exchange import SimExchange, SimMarketConfig
from botkit.sim.exchange_rest import ExchangeSimServer
from botkit.sim.exchange_ws import ExchangeWsConfig
from botkit.sim.ratelimit import RateLimitConfig
from botkit.sim.server import SimServer
from botkit.venues.exchange.errors_map import error_from_response, order_rejected
from tests.sim.clients_harness import sdk_client

pytestmark = pytest.mark.timeout(60)

PID = "BTC-USD"
MSG = "scheduled maintenance"
FLAGS = ("cancel_only", "limit_only", "post_only", "trading_disabled")
NO_MARKET = SimMarketConfig(cancel_latency_steps=0)


@pytest.fixture
async def tls_server() -> AsyncIterator[SimServer]:
    """TLS (the SDK speaks https only), a market that moves only before each request, cancels
    at once, rate limits off (these tests read semantics, not pacing)."""
    async with SimServer(
        seed=51,
        tls=True,
        tick_interval=0,
        market=NO_MARKET,
        rate_limits=RateLimitConfig(enabled=False),
    ) as sim:
        yield sim


@pytest.fixture
async def sdk(tls_server: SimServer) -> AsyncIterator[RESTClient]:
    client = sdk_client(tls_server)
    yield client
    client.session.close()


def _admin(sim: SimServer, path: str) -> str:
    return f"http://{sim.authority}/_sim/{path}"


# -- the pure exchange -----------------------------------------------------------------------


def test_set_trading_mode_names_the_allowed_values_when_refusing() -> None:
    ex = SimExchange(SimMarketConfig(), seed=3, start_time=1_767_268_800.0)
    with pytest.raises(ValueError, match="full, limit_only, post_only, cancel_only, halted"):
        ex.set_trading_mode(PID, "closed")
    with pytest.raises(ValueError, match="unknown product 'DOGE-USD'.*BTC-USD"):
        ex.set_trading_mode("DOGE-USD", "halted")
    assert ex.trading_mode(PID)["mode"] == "full"  # a refused call changed nothing
    state = ex.set_trading_mode(PID, "post_only", MSG)
    assert (state["mode"], state["message"], state["post_only"]) == ("post_only", MSG, True)
    assert ex.trading_mode("ETH-USD")["mode"] == "full"
    assert set(MODE_REFUSALS) == set(TRADING_MODES) - {"full"}


# -- the admin endpoint ----------------------------------------------------------------------


async def test_admin_endpoint_sets_the_mode_and_refuses_bad_bodies() -> None:
    async with (
        SimServer(seed=52, tick_interval=0) as sim,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
    ):
        token = {"X-Sim-Admin-Token": sim.admin_token}
        url = _admin(sim, "trading_mode")
        body = {"product_id": PID, "mode": "cancel_only", "message": MSG}
        async with http.post(url, json=body, headers=token) as r:
            assert r.status == 200
            answer = await r.json()
        assert answer["trading_mode"] == {
            "product_id": PID,
            "mode": "cancel_only",
            "message": MSG,
            "status": "online",
            "status_message": MSG,
            "cancel_only": True,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": False,
        }
        assert sim.exchange.trading_mode(PID)["mode"] == "cancel_only"
        async with http.get(_admin(sim, "state"), headers=token) as r:
            modes = (await r.json())["trading_modes"]
        assert modes == {
            PID: {"mode": "cancel_only", "message": MSG},
            "ETH-USD": {"mode": "full", "message": ""},
        }

        bad: list[tuple[Any, str]] = [
            (b"{not json", "body must be"),
            ([PID, "halted"], "body must be"),
            ({"product_id": PID}, "body must be"),
            ({"product_id": PID, "mode": "closed"}, "full, limit_only, post_only"),
            ({"product_id": "DOGE-USD", "mode": "halted"}, "unknown product"),
            ({"product_id": PID, "mode": "halted", "message": 7}, "message must be a string"),
        ]
        for payload, words in bad:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            async with http.post(url, data=data, headers=token) as r:
                assert r.status == 400, payload
                assert words in (await r.json())["error"], payload
        async with http.post(url, json={"product_id": PID, "mode": "full"}) as r:
            assert r.status == 401  # the admin token is required
        assert sim.exchange.trading_mode(PID)["mode"] == "cancel_only"  # none of them applied
        async with http.post(url, json={"product_id": PID, "mode": "full"}, headers=token) as r:
            assert r.status == 200 and (await r.json())["trading_mode"]["status_message"] == ""


# -- Advanced Trade through the official SDK -------------------------------------------------


@pytest.mark.parametrize("mode", TRADING_MODES)
async def test_sdk_get_product_shows_the_mode(
    tls_server: SimServer, sdk: RESTClient, mode: str
) -> None:
    tls_server.set_trading_mode(PID, mode, MSG)
    product = (await asyncio.to_thread(sdk.get_product, PID)).to_dict()
    listed = (await asyncio.to_thread(sdk.get_products)).to_dict()["products"]
    other = next(p for p in listed if p["product_id"] == "ETH-USD")
    expected = {flag: False for flag in FLAGS}
    if mode != "full":
        expected["trading_disabled" if mode == "halted" else mode] = True
    assert {flag: product[flag] for flag in FLAGS} == expected
    assert product["status"] == ("offline" if mode == "halted" else "online")
    assert product["status_message"] == MSG
    in_list = next(p for p in listed if p["product_id"] == PID)
    status_fields = (*FLAGS, "status", "status_message")
    assert {k: in_list[k] for k in status_fields} == {k: product[k] for k in status_fields}
    assert {flag: other[flag] for flag in FLAGS} == dict.fromkeys(FLAGS, False)
    assert (other["status"], other["status_message"]) == ("online", "")


_REFUSED: dict[str, dict[str, str | None]] = {
    # mode: {order kind: failure reason, or None when accepted}
    "full": {"market": None, "limit": None, "post_only": None},
    "limit_only": {"market": "UNSUPPORTED_ORDER_CONFIGURATION", "limit": None, "post_only": None},
    "post_only": {
        "market": "INVALID_LIMIT_PRICE_POST_ONLY",
        "limit": "INVALID_LIMIT_PRICE_POST_ONLY",
        "post_only": None,
    },
    "cancel_only": dict.fromkeys(("market", "limit", "post_only"), "TRADING_DISABLED"),
    "halted": dict.fromkeys(("market", "limit", "post_only"), "TRADING_DISABLED"),
}
_WORDS = {
    "limit_only": "BTC-USD is in limit-only mode",
    "post_only": "BTC-USD is in post-only mode",
    "cancel_only": "BTC-USD is in cancel-only mode",
    "halted": "BTC-USD is halted (trading disabled)",
}


def _place(sdk: RESTClient, kind: str, bid: Decimal) -> dict[str, Any]:
    coid = f"tm-{kind}-{secrets.token_hex(4)}"
    if kind == "market":
        answer = sdk.market_order_buy(client_order_id=coid, product_id=PID, quote_size="20")
    else:
        answer = sdk.limit_order_gtc_buy(
            client_order_id=coid,
            product_id=PID,
            base_size="0.001",
            limit_price=str((bid * Decimal("0.9")).quantize(Decimal("0.01"))),  # never crosses
            post_only=kind == "post_only",
        )
    body: dict[str, Any] = answer.to_dict()
    return body


@pytest.mark.parametrize("mode", TRADING_MODES)
async def test_sdk_orders_are_refused_per_mode_and_accepted_again_after_full(
    tls_server: SimServer, sdk: RESTClient, mode: str
) -> None:
    ex = tls_server.exchange
    bid = ex.best_bid_ask(PID)[0]
    assert bid is not None
    tls_server.set_trading_mode(PID, mode, MSG)
    for kind, reason in _REFUSED[mode].items():
        before = len(ex.list_orders("default", {}))
        answer = await asyncio.to_thread(_place, sdk, kind, bid[0])
        after = len(ex.list_orders("default", {}))
        if reason is None:
            assert answer["success"] is True, (kind, answer)
            assert after == before + 1
            continue
        assert answer["success"] is False, (kind, answer)
        err = answer["error_response"]
        assert (err["error"], err["new_order_failure_reason"]) == (reason, reason), kind
        assert err["message"] == f"{_WORDS[mode]}: {MSG}", err
        assert after == before  # nothing was created
    eth = await asyncio.to_thread(
        sdk.market_order_buy, client_order_id="tm-eth", product_id="ETH-USD", quote_size="20"
    )
    assert eth.to_dict()["success"] is True  # only the restricted product refuses
    tls_server.set_trading_mode(PID, "full")
    again = await asyncio.to_thread(_place, sdk, "market", bid[0])
    assert again["success"] is True, again
    order = ex.get_order("default", again["success_response"]["order_id"])
    assert order["status"] == "FILLED"


async def test_sdk_cancels_still_work_in_cancel_only_and_halted(
    tls_server: SimServer, sdk: RESTClient
) -> None:
    ex = tls_server.exchange
    bid = ex.best_bid_ask(PID)[0]
    assert bid is not None
    placed = [await asyncio.to_thread(_place, sdk, "limit", bid[0]) for _ in range(2)]
    ids = [p["success_response"]["order_id"] for p in placed]
    for order_id, mode in zip(ids, ("cancel_only", "halted"), strict=True):
        tls_server.set_trading_mode(PID, mode, MSG)
        result = (await asyncio.to_thread(sdk.cancel_orders, order_ids=[order_id])).to_dict()
        assert result["results"][0]["success"] is True, result
        assert ex.get_order("default", order_id)["status"] == "CANCELLED"
    hold = next(a for a in ex.accounts("default") if a["currency"] == "USD")["hold"]["value"]
    assert Decimal(hold) == 0  # the cancels released the holds


# -- the Coinbase Exchange dialect through ccxt ----------------------------------------------


@pytest.fixture
async def exchange_sim() -> AsyncIterator[ExchangeSimServer]:
    cfg = ExchangeWsConfig(subscribe_deadline=5.0)
    t0 = time.time()  # the clock stands still: the market does not move under the test
    async with ExchangeSimServer(
        seed=53, market=NO_MARKET, clock=lambda: t0, tick_interval=0, ws_config=cfg
    ) as sim:
        yield sim


def _ccxt(sim: ExchangeSimServer) -> Any:
    key = sim.add_key()
    client = ccxt.coinbaseexchange(
        {"apiKey": key.key, "secret": key.secret, "password": key.passphrase, "timeout": 10_000}
    )
    client.urls["api"] = {"public": sim.rest_url, "private": sim.rest_url}
    return client


def _attempt(make: Callable[[], Any]) -> Any:
    """The order ccxt placed, or the exception it raised."""
    try:
        return make()
    except ccxt.BaseError as exc:
        return exc


async def test_ccxt_exchange_dialect_refuses_with_the_exchange_texts(
    exchange_sim: ExchangeSimServer,
) -> None:
    sim = exchange_sim
    bid = sim.exchange.best_bid_ask(PID)[0]
    assert bid is not None
    low = float((bid[0] * Decimal("0.9")).quantize(Decimal("0.01")))

    ex = _ccxt(sim)
    await asyncio.to_thread(ex.load_markets)
    resting = await asyncio.to_thread(ex.create_order, "BTC/USD", "limit", "buy", 0.001, low)
    orders = {
        "market": lambda: ex.create_order("BTC/USD", "market", "buy", 0.001),
        "limit": lambda: ex.create_order("BTC/USD", "limit", "buy", 0.001, low),
        "post": lambda: ex.create_order("BTC/USD", "limit", "buy", 0.001, low, {"postOnly": True}),
    }
    got: dict[str, Any] = {}
    for mode in ("cancel_only", "halted", "limit_only", "post_only"):
        sim.set_trading_mode(PID, mode, MSG)  # on the event loop, between ccxt's calls
        info = await asyncio.to_thread(ex.fetch_markets)
        got[f"{mode}:info"] = next(m for m in info if m["id"] == PID)["info"]
        for kind, place in orders.items():
            got[f"{mode}:{kind}"] = await asyncio.to_thread(_attempt, place)
        if mode == "cancel_only":
            got["cancel"] = await asyncio.to_thread(
                _attempt, lambda: ex.cancel_order(resting["id"])
            )
    sim.set_trading_mode(PID, "full")
    got["full:market"] = await asyncio.to_thread(_attempt, orders["market"])

    def refused(key: str, cls: type[Exception], text: str) -> None:
        exc = got[key]
        assert type(exc) is cls, (key, exc)
        assert str(exc) == f"coinbaseexchange {text}", key

    for kind in ("market", "limit", "post"):
        refused(f"cancel_only:{kind}", ccxt.OnMaintenance, "Cancel only mode")
        refused(f"halted:{kind}", ccxt.ExchangeError, "Trading is disabled")
    refused("limit_only:market", ccxt.ExchangeError, "Limit only mode")
    refused("post_only:market", ccxt.ExchangeError, "Post only mode")
    refused("post_only:limit", ccxt.ExchangeError, "Post only mode")
    for key in ("limit_only:limit", "limit_only:post", "post_only:post", "full:market"):
        assert isinstance(got[key], dict) and got[key]["id"], (key, got[key])
    assert not isinstance(got["cancel"], Exception), got["cancel"]
    records = {o["order_id"]: o for o in sim.exchange.list_orders(_profile(sim), {})}
    assert records[resting["id"]]["status"] == "CANCELLED"
    assert len(records) == 5  # resting, two in limit-only, one in post-only, one after full
    for mode, flag in (("cancel_only", "cancel_only"), ("halted", "trading_disabled"),
                       ("limit_only", "limit_only"), ("post_only", "post_only")):  # fmt: skip
        info = got[f"{mode}:info"]
        assert info[flag] is True and info["status_message"] == MSG, mode
        assert info["status"] == ("offline" if mode == "halted" else "online"), mode
        assert [f for f in FLAGS if info[f] is True] == [flag], mode


def _profile(sim: ExchangeSimServer) -> str:
    users = sim.exchange.user_ids()
    assert len(users) == 1
    return users[0]


@pytest.mark.parametrize("mode", ["cancel_only", "halted"])
def test_exchange_texts_read_as_trading_disabled_by_botkits_error_map(mode: str) -> None:
    body = json.dumps({"message": MODE_REFUSALS[mode].exchange_message}).encode()
    error = error_from_response(400, body, {}, now=0.0)
    assert order_rejected(error).code == "TRADING_DISABLED"


# -- the status WebSocket channels -----------------------------------------------------------


async def _frame(ws: aiohttp.ClientWebSocketResponse, pred: Callable[[Any], bool]) -> Any:
    async with asyncio.timeout(5):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            frame = json.loads(msg.data)
            if pred(frame):
                return frame


def _status(frame: dict[str, Any]) -> bool:
    return frame.get("channel") == "status"


async def test_advanced_trade_status_channel_hears_a_mode_change_at_once() -> None:
    async with (
        SimServer(seed=54, tick_interval=0) as sim,  # the status period stays 60 s
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.ws_connect(sim.ws_market_url) as ws,
    ):
        await ws.send_json({"type": "subscribe", "channel": "status", "product_ids": [PID]})
        snap = (await _frame(ws, _status))["events"][0]
        assert snap["type"] == "snapshot"
        assert (snap["products"][0]["status"], snap["products"][0]["status_message"]) == (
            "online",
            "",
        )
        token = {"X-Sim-Admin-Token": sim.admin_token}
        url = _admin(sim, "trading_mode")
        other = {"product_id": "ETH-USD", "mode": "halted", "message": "not yours"}
        async with http.post(url, json=other, headers=token) as r:
            assert r.status == 200
        body = {"product_id": PID, "mode": "halted", "message": MSG}
        async with http.post(url, json=body, headers=token) as r:
            assert r.status == 200
        event = (await _frame(ws, _status))["events"][0]  # the next one: not ETH-USD's
        assert event["type"] == "update"
        assert [(p["id"], p["status"], p["status_message"]) for p in event["products"]] == [
            (PID, "offline", MSG)
        ]
        sim.set_trading_mode(PID, "cancel_only", "cancels only")
        event = (await _frame(ws, _status))["events"][0]
        # the channel has no flags: a cancel-only product is online, with its message
        assert [(p["status"], p["status_message"]) for p in event["products"]] == [
            ("online", "cancels only")
        ]


async def test_exchange_status_channel_hears_a_mode_change_at_once(
    exchange_sim: ExchangeSimServer,
) -> None:
    sim = exchange_sim
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.ws_connect(sim.ws_url) as ws,
    ):
        await ws.send_json({"type": "subscribe", "channels": ["status"]})
        first = await _frame(ws, lambda f: f.get("type") == "status")
        assert {p["id"]: p["cancel_only"] for p in first["products"]} == {
            PID: False,
            "ETH-USD": False,
        }
        sim.set_trading_mode(PID, "cancel_only", MSG)
        frame = await _frame(ws, lambda f: f.get("type") == "status")
        btc = next(p for p in frame["products"] if p["id"] == PID)
        assert (btc["cancel_only"], btc["status"], btc["status_message"]) == (True, "online", MSG)
