"""REST wire shapes and quirks of the simulator, over real sockets."""

from __future__ import annotations

from decimal import Decimal

from botkit.sim.server import SimServer
from tests.sim.conftest import Caller

MARKET = {"market_market_ioc": {"quote_size": "50"}}


def _order(
    coid: str, config: dict[str, object] | None = None, side: str = "BUY"
) -> dict[str, object]:
    return {
        "client_order_id": coid,
        "product_id": "BTC-USD",
        "side": side,
        "order_configuration": config or MARKET,
    }


async def test_get_with_json_body_and_repeated_keys(call: Caller) -> None:
    status, body, _ = await call(
        "GET", "/best_bid_ask?product_ids=BTC-USD&product_ids=ETH-USD", body={}
    )
    assert status == 200 and [b["product_id"] for b in body["pricebooks"]] == ["BTC-USD", "ETH-USD"]
    for book in body["pricebooks"]:
        assert isinstance(book["bids"][0]["price"], str) and isinstance(
            book["asks"][0]["size"], str
        )


async def test_accounts_cursor_pagination(call: Caller) -> None:
    seen, cursor, pages = [], "", 0
    while True:
        status, body, _ = await call("GET", f"/accounts?limit=1&cursor={cursor}")
        assert status == 200 and body["size"] == len(body["accounts"]) == 1
        seen += [a["currency"] for a in body["accounts"]]
        pages += 1
        if not body["has_next"]:
            assert body["cursor"] == ""
            break
        cursor = body["cursor"]
    assert pages == len(seen) >= 3 and len(set(seen)) == len(seen)
    _, first, _ = await call("GET", "/accounts")
    assert [a["currency"] for a in first["accounts"]] == seen
    acct = first["accounts"][0]
    assert Decimal(acct["available_balance"]["value"]) >= 0 and "hold" in acct
    status, one, _ = await call("GET", f"/accounts/{acct['uuid']}")
    assert status == 200 and one["account"]["uuid"] == acct["uuid"]


async def test_malformed_requests_are_400(call: Caller) -> None:
    url = call.sim.rest_url + "/orders"
    data = b"{not json"
    async with call.session.post(url, data=data, headers=call.signer.sign("POST", url, data)) as r:
        assert r.status == 400
        body = await r.json()
        assert (
            set(body) == {"error", "error_details", "message"}
            and body["error"] == "INVALID_ARGUMENT"
        )
    status, body, _ = await call("GET", "/product_book")
    assert status == 400 and "product_id" in body["message"]
    status, body, _ = await call(
        "GET", "/products/BTC-USD/candles?start=1&end=2&granularity=TEN_YEARS"
    )
    assert status == 400


async def test_unknown_order_is_404(call: Caller) -> None:
    status, body, _ = await call("GET", "/orders/historical/00000000-0000-4000-8000-000000000000")
    assert status == 404 and body["error"] == "NOT_FOUND"


async def test_business_failure_is_200_success_false(call: Caller) -> None:
    status, body, _ = await call(
        "POST",
        "/orders",
        _order("tiny", {"limit_limit_gtc": {"base_size": "0.000000001", "limit_price": "1.00"}}),
    )
    assert status == 200 and body["success"] is False
    assert body["error_response"]["new_order_failure_reason"] in (
        "INVALID_SIZE_PRECISION",
        "INVALID_PRICE_PRECISION",
    )


async def test_client_order_id_is_idempotent(call: Caller, sim: SimServer) -> None:
    s1, first, _ = await call("POST", "/orders", _order("same-id"))
    s2, again, _ = await call("POST", "/orders", _order("same-id"))
    assert s1 == s2 == 200 and first["success"] and again["success"]
    assert again["success_response"]["order_id"] == first["success_response"]["order_id"]
    _, listed, _ = await call("GET", "/orders/historical/batch?limit=100")
    assert sum(1 for o in listed["orders"] if o["client_order_id"] == "same-id") == 1


async def test_orders_pagination_and_status_filter(call: Caller) -> None:
    for i in range(5):
        assert (await call("POST", "/orders", _order(f"p{i}")))[1]["success"]
    ids, cursor = [], ""
    while True:
        _, page, _ = await call(
            "GET", f"/orders/historical/batch?limit=2&order_status=FILLED&cursor={cursor}"
        )
        assert len(page["orders"]) <= 2 and all(o["status"] == "FILLED" for o in page["orders"])
        ids += [o["order_id"] for o in page["orders"]]
        if not page["has_next"]:
            break
        cursor = page["cursor"]
    assert len(ids) == len(set(ids)) == 5
    status, _, _ = await call(
        "GET", "/orders/historical/batch?order_status=OPEN&order_status=FILLED"
    )
    assert status == 400


async def test_batch_cancel_limit(call: Caller) -> None:
    status, _, _ = await call(
        "POST", "/orders/batch_cancel", {"order_ids": [f"id{i}" for i in range(101)]}
    )
    assert status == 400
    status, body, _ = await call("POST", "/orders/batch_cancel", {"order_ids": ["nope"]})
    assert status == 200 and body["results"][0]["success"] is False


async def test_preview(call: Caller) -> None:
    status, body, _ = await call(
        "POST", "/orders/preview", {k: v for k, v in _order("x").items() if k != "client_order_id"}
    )
    assert (
        status == 200
        and "order_total" in body
        and "commission_total" in body
        and "preview_id" in body
    )


async def test_same_seed_same_market() -> None:
    t0 = 1_790_000_000.0
    books = []
    for _ in range(2):
        server = SimServer(seed=99, clock=lambda: t0, tick_interval=0)
        server.exchange.advance(t0 + 30)
        books.append(
            (
                server.exchange.book("BTC-USD"),
                [t.trade_id for t in server.exchange.recent_trades("BTC-USD", 50)],
            )
        )
    assert books[0] == books[1]
    other = SimServer(seed=100, clock=lambda: t0, tick_interval=0)
    other.exchange.advance(t0 + 30)
    assert other.exchange.book("BTC-USD") != books[0][0]
