"""Every documented query parameter of every served REST route is honoured or refused (issue 15).

The rule: a filter the simulator ignored would return everything, so a client bug that
depends on it would pass here and break on Coinbase. :func:`botkit.sim.api.route_params`
is the routes' table of documented parameters (each ``honoured``, ``spot-only`` or
``refused``). This file proves, in-process over one seeded scenario, that

* the table covers what Coinbase documents for each route: the reference's parameter
  lists (§2.2 table, §2.7, §2.8) and the official SDK's method signatures
  (coinbase-advanced-py 1.8.4), so a documented parameter cannot be left out;
* every (route, parameter) of the table has a probe here (and no probe is stale), so a new
  route or parameter cannot be added without one;
* each probe shows the parameter changing the answer as documented, or (``spot-only``)
  leaving a spot answer unchanged while derivative values are refused or match nothing, or
  (``refused``) being answered with Coinbase's 400 ``{error, error_details, message}``;
  values outside Coinbase's enums are 400s, so a typo never widens a filter.

The SDK, botkit's client and ccxt read the same filters over HTTP in test_rest_filters.py.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from coinbase.rest import RESTClient

from botkit.sim.api import BASE, SimApi, route_params
from botkit.sim.exchange import SimExchange, SimMarketConfig

T0 = 1_700_000_000.0
USER = "u-1"
REFERENCE = Path("/work/shared/reference/coinbase-api.md")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class World:
    """One exchange with a scripted history; reads happen at a fixed ``now`` (deterministic)."""

    api: SimApi
    now: float
    ids: dict[str, str] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)

    def call(self, method: str, path: str, query: dict[str, Any] | None = None) -> tuple[int, Any]:
        q = {k: (v if isinstance(v, list) else [str(v)]) for k, v in (query or {}).items()}
        answer = self.api.handle(method, BASE + path, q, b"", USER, self.now)
        return answer.status, answer.body

    def ok(self, path: str, **query: Any) -> Any:
        status, body = self.call("GET", path, query)
        assert status == 200, (path, query, body)
        return body

    def bad(self, path: str, **query: Any) -> dict[str, Any]:
        """A 400 in Coinbase's shape (reference §2.12)."""
        status, body = self.call("GET", path, query)
        assert status == 400, (path, query, status, body)
        assert set(body) == {"error", "error_details", "message"} and body["error_details"]
        return body  # type: ignore[no-any-return]


def _post(api: SimApi, path: str, body: dict[str, Any], now: float) -> Any:
    answer = api.handle("POST", BASE + path, {}, json.dumps(body).encode(), USER, now)
    assert answer.status == 200, answer.body
    return answer.body


def _order(api: SimApi, coid: str, pid: str, side: str, config: dict[str, Any], t: float) -> str:
    body = {"client_order_id": coid, "product_id": pid, "side": side, "order_configuration": config}
    placed = _post(api, "/orders", body, t)
    assert placed["success"] is True, placed
    return str(placed["success_response"]["order_id"])


@pytest.fixture(scope="module")
def world() -> World:
    """Five orders over four minutes: market buy, two resting limits, market sell, ETH buy."""
    api = SimApi(SimExchange(SimMarketConfig(), seed=3, start_time=T0))
    api.exchange.add_user(USER)
    t = T0 + 60
    bid = D(
        api.handle("GET", f"{BASE}/best_bid_ask", {}, b"", USER, t).body["pricebooks"][0]["bids"][
            0
        ]["price"]
    )
    ids, times = {}, {}
    ids["buy"] = _order(
        api, "m-buy", "BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "30000"}}, t
    )
    times["buy"] = t
    for name, share, dt in (("gtc_hi", "0.9", 1), ("gtc_lo", "0.8", 2)):
        price = str((bid * D(share)).quantize(D("0.01")))
        config = {
            "limit_limit_gtc": {"base_size": "0.001", "limit_price": price, "post_only": True}
        }
        ids[name] = _order(api, name, "BTC-USD", "BUY", config, t + dt)
    t2 = t + 60
    ids["sell"] = _order(
        api, "m-sell", "BTC-USD", "SELL", {"market_market_ioc": {"base_size": "0.2"}}, t2
    )
    times["sell"] = t2
    t3 = t2 + 60
    ids["eth"] = _order(
        api, "m-eth", "ETH-USD", "BUY", {"market_market_ioc": {"quote_size": "1000"}}, t3
    )
    times["eth"] = t3
    t4 = t3 + 60
    _post(api, "/orders/batch_cancel", {"order_ids": [ids["gtc_hi"]]}, t4)
    return World(api, t4 + 30, ids, times)


# -- probes: one per (route family, parameter) ---------------------------------------------------

Probe = Callable[[World, str], None]  # (world, concrete path of the route)


def _order_ids(body: Any) -> list[str]:
    return [o["order_id"] for o in body["orders"]]


def _filter(param: str, value: Any, expect: Callable[[World], set[str]]) -> Probe:
    """An orders filter: the answer is exactly the expected orders, and differs from no filter."""

    def probe(w: World, path: str) -> None:
        everything = _order_ids(w.ok(path))
        got = _order_ids(w.ok(path, **{param: value}))
        assert set(got) == expect(w) and got != everything, (param, value, got)

    return probe


def _ordered(param: str, value: str, key: Callable[[dict[str, Any]], Any]) -> Probe:
    """A ``sort_by``: rows come back ordered by ``key`` and not in the default order."""

    def probe(w: World, path: str) -> None:
        rows_name = "orders" if "batch" in path else "fills"
        default = w.ok(path)[rows_name]
        rows = w.ok(path, **{param: value})[rows_name]
        assert sorted(rows, key=key) == rows and rows != default
        assert {json.dumps(r, sort_keys=True) for r in rows} == {
            json.dumps(r, sort_keys=True) for r in default
        }
        w.bad(path, **{param: "NEWEST"})

    return probe


def _enum_bad(param: str, good: Any, bad: str = "NOT_A_VALUE") -> Probe:
    def probe(w: World, path: str) -> None:
        w.ok(path, **{param: good})
        w.bad(path, **{param: bad})

    return probe


def _same(param: str, same: list[Any], refused: list[Any], bad: list[Any]) -> Probe:
    """``spot-only``: spot values leave the answer unchanged; others are 400s."""

    def probe(w: World, path: str) -> None:
        base = w.ok(path)
        for value in same:
            assert w.ok(path, **{param: value}) == base, (param, value)
        for value in refused + bad:
            w.bad(path, **{param: value})

    return probe


def _refused(param: str, value: str) -> Probe:
    def probe(w: World, path: str) -> None:
        body = w.bad(path, **{param: value})
        assert param in body["message"]

    return probe


def _products_param(param: str) -> Probe:
    def probe(w: World, path: str) -> None:
        every = [p["product_id"] for p in w.ok(path)["products"]]
        assert len(every) >= 2

        def ids(**q: Any) -> list[str]:
            return [p["product_id"] for p in w.ok(path, **q)["products"]]

        if param == "limit":
            assert ids(limit=1) == every[:1]
        elif param == "offset":
            assert ids(offset=1) == every[1:]
        elif param == "product_ids":
            assert ids(product_ids=[every[1]]) == [every[1]]
        elif param == "product_type":
            assert ids(product_type="SPOT") == every and ids(product_type="FUTURE") == []
            assert ids(product_type="UNKNOWN_PRODUCT_TYPE") == every
            w.bad(path, product_type="spot")
        elif param == "contract_expiry_type":
            assert ids(contract_expiry_type="EXPIRING") == []
            assert ids(contract_expiry_type="PERPETUAL") == []
            assert ids(contract_expiry_type="UNKNOWN_CONTRACT_EXPIRY_TYPE") == every
            w.bad(path, contract_expiry_type="DATED")
        elif param == "expiring_contract_status":
            _same(param, ["STATUS_ALL", "STATUS_UNEXPIRED"], [], ["EXPIRED"])(w, path)
        else:  # get_all_products, get_tradability_status: booleans with no spot effect
            _same(param, ["true", "false", "1"], [], ["yes"])(w, path)

    return probe


def _book_param(param: str) -> Probe:
    def probe(w: World, path: str) -> None:
        plain = w.ok(path, product_id="BTC-USD")["pricebook"]
        if param == "product_id":
            assert w.ok(path, product_id="ETH-USD")["pricebook"]["product_id"] == "ETH-USD"
            w.bad(path)
        elif param == "limit":
            assert len(w.ok(path, product_id="BTC-USD", limit=3)["pricebook"]["bids"]) == 3
        else:
            grouped = w.ok(path, product_id="BTC-USD", aggregation_price_increment="10")[
                "pricebook"
            ]
            for side in ("bids", "asks"):
                prices = [D(level["price"]) for level in grouped[side]]
                assert all(p % 10 == 0 for p in prices) and len(prices) == len(set(prices))
                assert len(prices) < len(plain[side])
                total = sum(D(level["size"]) for level in plain[side])
                assert sum(D(level["size"]) for level in grouped[side]) == total
            best_bid, best_ask = D(plain["bids"][0]["price"]), D(plain["asks"][0]["price"])
            assert D(grouped["bids"][0]["price"]) <= best_bid  # never better than the book
            assert D(grouped["asks"][0]["price"]) >= best_ask
            capped = w.ok(path, product_id="BTC-USD", aggregation_price_increment="10", limit=2)[
                "pricebook"
            ]
            assert capped["bids"] == grouped["bids"][:2]
            w.bad(
                path, product_id="BTC-USD", aggregation_price_increment="0.001"
            )  # finer than a tick
            w.bad(path, product_id="BTC-USD", aggregation_price_increment="-1")
            w.bad(path, product_id="BTC-USD", aggregation_price_increment="ten")

    return probe


def _candles_param(param: str) -> Probe:
    def probe(w: World, path: str) -> None:
        end = int(w.now)
        q: dict[str, Any] = {"start": end - 3600, "end": end, "granularity": "FIVE_MINUTE"}
        every = w.ok(path, **q)["candles"]
        assert len(every) >= 10
        if param == "limit":
            assert w.ok(path, **q, limit=2)["candles"] == every[:2]
        elif param == "granularity":
            assert len(w.ok(path, **{**q, "granularity": "FIFTEEN_MINUTE"})["candles"]) < len(every)
            w.bad(path, **{**q, "granularity": "FIVE_MINUTES"})
        else:
            narrow = {**q, param: q[param] + (1800 if param == "start" else -1800)}
            fewer = w.ok(path, **narrow)["candles"]
            assert 0 < len(fewer) < len(every)
            w.bad(path, **{k: v for k, v in q.items() if k != param})  # required

    return probe


def _trades_param(param: str) -> Probe:
    def probe(w: World, path: str) -> None:
        every = w.ok(path, limit=1000)["trades"]
        times = sorted({t["time"] for t in every})
        assert len(times) >= 3
        if param == "limit":
            assert w.ok(path, limit=2)["trades"] == every[:2]
            w.bad(path)  # limit is required
            return
        middle = int(
            datetime.fromisoformat(times[len(times) // 2].replace("Z", "+00:00")).timestamp()
        )
        got = w.ok(path, limit=1000, **{param: middle})["trades"]
        assert 0 < len(got) < len(every)
        for t in got:
            at = datetime.fromisoformat(t["time"].replace("Z", "+00:00")).timestamp()
            assert at >= middle if param == "start" else at < middle
        assert got == [t for t in every if t in got]  # newest first, as without the bound
        w.bad(path, limit=10, start=middle, end=middle)  # empty window
        w.bad(path, limit=10, **{param: "yesterday"})

    return probe


def _accounts_param(param: str) -> Probe:
    def probe(w: World, path: str) -> None:
        every = w.ok(path)["accounts"]
        assert len(every) >= 3
        if param == "limit":
            assert w.ok(path, limit=1)["accounts"] == every[:1]
        elif param == "cursor":
            first = w.ok(path, limit=1)
            second = w.ok(path, limit=1, cursor=first["cursor"])
            assert second["accounts"] == every[1:2]
            w.bad(path, limit=1, cursor="1")
        else:
            assert w.ok(path, retail_portfolio_id=USER)["accounts"] == every
            assert every[0]["retail_portfolio_id"] == USER
            assert w.ok(path, retail_portfolio_id="someone-else")["accounts"] == []

    return probe


def _orders_param(param: str) -> Probe:
    def probe(w: World, path: str) -> None:
        i = w.ids
        filters: dict[str, tuple[Any, set[str]]] = {
            "order_ids": ([i["buy"], i["eth"]], {i["buy"], i["eth"]}),
            "product_ids": (["ETH-USD"], {i["eth"]}),
            "order_status": (["CANCELLED"], {i["gtc_hi"]}),
            "order_types": (["LIMIT"], {i["gtc_hi"], i["gtc_lo"]}),
            "order_side": ("SELL", {i["sell"]}),
            "time_in_forces": (["GOOD_UNTIL_CANCELLED"], {i["gtc_hi"], i["gtc_lo"]}),
            "start_date": (_iso(w.times["sell"]), {i["sell"], i["eth"]}),
            "end_date": (_iso(w.times["sell"]), {i["buy"], i["gtc_hi"], i["gtc_lo"]}),
            "asset_filters": (["ETH"], {i["eth"]}),
            "product_type": ("FUTURE", set()),
            "contract_expiry_type": ("PERPETUAL", set()),
            "order_placement_source": ("RETAIL_SIMPLE", set()),
            "retail_portfolio_id": ("someone-else", set()),
        }
        if param in filters:
            value, expect = filters[param]
            _filter(param, value, lambda _w: expect)(w, path)
            if param in ("product_type", "contract_expiry_type", "order_placement_source"):
                keep = {"product_type": "SPOT", "order_placement_source": "RETAIL_ADVANCED"}
                if param in keep:
                    assert w.ok(path, **{param: keep[param]}) == w.ok(path)
                w.bad(path, **{param: "NOPE"})
            if param == "retail_portfolio_id":
                assert w.ok(path, retail_portfolio_id=USER) == w.ok(path)
            if param in ("order_status", "order_types", "time_in_forces", "order_side"):
                w.bad(path, **{param: "nope"})
        elif param == "sort_by":
            for value, key in (
                ("LIMIT_PRICE", _limit_price_key),
                ("LAST_FILL_TIME", lambda o: _desc_time(o["last_fill_time"])),
                ("LAST_UPDATE_TIME", lambda o: _desc_time(o["last_update_time"])),
            ):
                _ordered("sort_by", value, key)(w, path)
        elif param == "limit":
            assert w.ok(path, limit=2)["orders"] == w.ok(path)["orders"][:2]
        else:  # cursor
            _cursor_probe(w, path, "orders")

    return probe


def _fills_param(param: str) -> Probe:
    def probe(w: World, path: str) -> None:
        every = w.ok(path)["fills"]
        by_order = {f["order_id"] for f in every}
        assert {w.ids["buy"], w.ids["sell"], w.ids["eth"]} <= by_order and len(every) >= 4

        def orders_of(**q: Any) -> set[str]:
            return {f["order_id"] for f in w.ok(path, **q)["fills"]}

        sell = _iso(w.times["sell"])
        if param == "order_ids":
            assert orders_of(order_ids=[w.ids["sell"]]) == {w.ids["sell"]}
        elif param == "trade_ids":
            one = every[-1]["trade_id"]
            assert [f["trade_id"] for f in w.ok(path, trade_ids=[one])["fills"]] == [one]
        elif param == "product_ids":
            assert orders_of(product_ids=["ETH-USD"]) == {w.ids["eth"]}
        elif param == "product_id":  # the older docs' singular name (ccxt's fetchMyTrades)
            assert orders_of(product_id="ETH-USD") == {w.ids["eth"]}
        elif param == "start_sequence_timestamp":
            assert orders_of(start_sequence_timestamp=sell) == {w.ids["sell"], w.ids["eth"]}
            w.bad(path, start_sequence_timestamp="last tuesday")
        elif param == "end_sequence_timestamp":
            assert orders_of(end_sequence_timestamp=sell) == {w.ids["buy"]}
            w.bad(path, end_sequence_timestamp="1700000000")  # Unix seconds: not RFC 3339
        elif param == "retail_portfolio_id":
            assert w.ok(path, retail_portfolio_id=USER) == w.ok(path)
            assert every[0]["retail_portfolio_id"] == USER
            assert w.ok(path, retail_portfolio_id="someone-else")["fills"] == []
        elif param == "sort_by":
            _ordered("sort_by", "PRICE", lambda f: -D(f["price"]))(w, path)
            rows = w.ok(path, sort_by="TRADE_TIME")["fills"]
            assert rows == sorted(rows, key=lambda f: _desc_time(f["trade_time"]))
        elif param == "limit":
            assert w.ok(path, limit=2)["fills"] == every[:2]
        else:
            _cursor_probe(w, path, "fills")

    return probe


def _desc_time(text: str | None) -> tuple[bool, float]:
    if text is None:
        return (True, 0.0)
    return (False, -datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _limit_price_key(order: dict[str, Any]) -> tuple[bool, D]:
    config = next(iter(order["order_configuration"].values()))
    price = config.get("limit_price")
    return (price is None, -D(price) if price is not None else D(0))


def _cursor_probe(w: World, path: str, rows: str) -> None:
    """Pages chain through opaque cursors; a tampered or re-scoped cursor is a 400."""
    every = w.ok(path)[rows]
    seen: list[Any] = []
    cursor = ""
    while True:
        page = w.ok(path, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += page[rows]
        cursor = page["cursor"]
        if not cursor:
            break
        assert not cursor.lstrip("-").isdigit()
    assert seen == every
    first = w.ok(path, limit=1)["cursor"]
    assert first
    flipped = first[:-2] + ("A" if first[-2] != "A" else "B") + first[-1]
    w.bad(path, limit=1, cursor=flipped)
    w.bad(path, limit=1, cursor="1")
    w.bad(path, limit=1, cursor=first, product_ids="BTC-USD")  # other filters: other scope


def _best_bid_ask_ids(w: World, path: str) -> None:
    assert len(w.ok(path)["pricebooks"]) >= 2
    books = w.ok(path, product_ids=["ETH-USD"])["pricebooks"]
    assert [b["product_id"] for b in books] == ["ETH-USD"]


def _portfolio_type(w: World, path: str) -> None:
    assert [p["uuid"] for p in w.ok(path, portfolio_type="DEFAULT")["portfolios"]] == [USER]
    assert w.ok(path, portfolio_type="CONSUMER")["portfolios"] == []
    assert w.ok(path, portfolio_type="UNDEFINED") == w.ok(path)
    w.bad(path, portfolio_type="default")


def _breakdown_currency(w: World, path: str) -> None:
    assert w.ok(path, currency="USD") == w.ok(path)
    assert w.ok(path)["breakdown"]["portfolio_balances"]["total_balance"]["currency"] == "USD"
    w.bad(path, currency="EUR")


PROBES: dict[tuple[str, str], Probe] = {
    **{
        ("/products", p): _products_param(p)
        for p in (
            "limit",
            "offset",
            "product_type",
            "product_ids",
            "contract_expiry_type",
            "expiring_contract_status",
            "get_all_products",
            "get_tradability_status",
        )
    },  # fmt: skip
    ("/products/{product_id}", "get_tradability_status"): _same(
        "get_tradability_status", ["true", "false"], [], ["maybe"]
    ),
    **{
        ("/product_book", p): _book_param(p)
        for p in ("product_id", "limit", "aggregation_price_increment")
    },
    **{
        ("/products/{product_id}/candles", p): _candles_param(p)
        for p in ("start", "end", "granularity", "limit")
    },
    **{("/products/{product_id}/ticker", p): _trades_param(p) for p in ("limit", "start", "end")},
    **{("/accounts", p): _accounts_param(p) for p in ("limit", "cursor", "retail_portfolio_id")},
    ("/best_bid_ask", "product_ids"): _best_bid_ask_ids,
    ("/transaction_summary", "product_type"): _same(
        "product_type", ["SPOT", "UNKNOWN_PRODUCT_TYPE"], ["FUTURE"], ["spot"]
    ),
    ("/transaction_summary", "contract_expiry_type"): _same(
        "contract_expiry_type", ["UNKNOWN_CONTRACT_EXPIRY_TYPE"], ["EXPIRING", "PERPETUAL"], ["X"]
    ),
    ("/transaction_summary", "product_venue"): _same(
        "product_venue", ["CBE", "UNKNOWN_VENUE_TYPE"], ["FCM", "INTX"], ["cbe"]
    ),
    ("/portfolios", "portfolio_type"): _portfolio_type,
    ("/portfolios/{portfolio_uuid}", "currency"): _breakdown_currency,
    **{
        ("/orders/historical/batch", p): _orders_param(p)
        for p in (
            "limit",
            "cursor",
            "order_ids",
            "product_ids",
            "product_type",
            "order_status",
            "order_types",
            "order_side",
            "time_in_forces",
            "start_date",
            "end_date",
            "order_placement_source",
            "contract_expiry_type",
            "asset_filters",
            "retail_portfolio_id",
            "sort_by",
        )
    },  # fmt: skip
    **{
        ("/orders/historical/fills", p): _fills_param(p)
        for p in (
            "limit",
            "cursor",
            "order_ids",
            "trade_ids",
            "product_ids",
            "product_id",
            "start_sequence_timestamp",
            "end_sequence_timestamp",
            "retail_portfolio_id",
            "sort_by",
        )
    },  # fmt: skip
    ("/orders/historical/{order_id}", "client_order_id"): _refused("client_order_id", "m-buy"),
    ("/orders/historical/{order_id}", "user_native_currency"): _refused(
        "user_native_currency", "USD"
    ),
}


def _family(template: str) -> str:
    """``/market/...`` mirrors share their private route's probes."""
    return template.removeprefix("/market")


def _concrete(w: World, template: str) -> str:
    account = w.ok("/accounts", limit=1)["accounts"][0]["uuid"]
    return (
        template.replace("{product_id}", "BTC-USD")
        .replace("{account_uuid}", account)
        .replace("{portfolio_uuid}", USER)
        .replace("{order_id}", w.ids["buy"])
    )


CASES = [
    (method, template, param)
    for (method, template), params in sorted(route_params().items())
    for param in params
]


@pytest.mark.parametrize(("method", "template", "param"), CASES)
def test_each_documented_parameter_changes_the_answer_or_is_refused(
    world: World, method: str, template: str, param: str
) -> None:
    assert method == "GET", "POST routes take bodies: a query parameter here needs a probe kind"
    probe = PROBES.get((_family(template), param))
    assert probe is not None, f"no probe for {param} of {template}: add one to PROBES"
    probe(world, _concrete(world, template))


def test_every_probe_belongs_to_a_served_parameter() -> None:
    served = {(_family(t), p) for (_, t), params in route_params().items() for p in params}
    assert set(PROBES) == served


def test_refused_parameters_are_400s_before_anything_else(world: World) -> None:
    """The table's ``refused`` entries are enforced by the router itself."""
    refused = [
        (t, p)
        for (_, t), params in route_params().items()
        for p, what in params.items()
        if what == "refused"
    ]
    assert refused
    for template, param in refused:
        world.bad(_concrete(world, template), **{param: "x"})


# -- the table covers what Coinbase documents -------------------------------------------------

_SDK_METHODS = {
    "/time": "get_unix_time",
    "/products": "get_products",
    "/market/products": "get_public_products",
    "/products/{product_id}": "get_product",
    "/market/products/{product_id}": "get_public_product",
    "/product_book": "get_product_book",
    "/market/product_book": "get_public_product_book",
    "/products/{product_id}/candles": "get_candles",
    "/market/products/{product_id}/candles": "get_public_candles",
    "/products/{product_id}/ticker": "get_market_trades",
    "/market/products/{product_id}/ticker": "get_public_market_trades",
    "/accounts": "get_accounts",
    "/accounts/{account_uuid}": "get_account",
    "/best_bid_ask": "get_best_bid_ask",
    "/transaction_summary": "get_transaction_summary",
    "/key_permissions": "get_api_key_permissions",
    "/portfolios": "get_portfolios",
    "/portfolios/{portfolio_uuid}": "get_portfolio_breakdown",
    "/orders/historical/batch": "list_orders",
    "/orders/historical/fills": "get_fills",
    "/orders/historical/{order_id}": "get_order",
}


def test_every_served_get_route_lists_the_official_sdks_parameters() -> None:
    """The SDK's method signature is an independent list of each route's query parameters."""
    gets = {t: params for (m, t), params in route_params().items() if m == "GET"}
    assert set(gets) == set(_SDK_METHODS), "a served GET route has no SDK method mapped here"
    for template, method in _SDK_METHODS.items():
        names = set(inspect.signature(getattr(RESTClient, method)).parameters)
        path_params = set(re.findall(r"{(\w+)}", template))
        documented = names - {"self", "kwargs"} - path_params
        assert documented <= set(gets[template]), (template, documented - set(gets[template]))


def _reference_params() -> dict[str, set[str]]:
    """Query parameters the reference lists: §2.2's ``GET /path?a=&b=`` rows, §2.7, §2.8."""
    text = REFERENCE.read_text()
    out: dict[str, set[str]] = {}
    for path, query in re.findall(r"`GET (/[^?`\s]+)\?([^`]*)`", text):
        path = path.replace("{id}", "{product_id}")
        names = {re.sub(r"\[\]$", "", part.split("=")[0]) for part in query.split("&") if part}
        out.setdefault(path, set()).update(n for n in names if re.fullmatch(r"[a-z_]+", n))
    for path in ("/orders/historical/batch", "/orders/historical/fills"):
        line = next(ln for ln in text.splitlines() if f"`GET {path}` params:" in ln)
        line = line.split("Response")[0]
        out[path] = {n for n in re.findall(r"`([a-z_]+)(?:\[\])?`", line)}
    return out


@pytest.mark.skipif(not REFERENCE.exists(), reason="the shared reference is not on this machine")
def test_every_served_route_lists_the_references_parameters() -> None:
    table = {t: set(params) for (_, t), params in route_params().items()}
    listed = _reference_params()
    assert len(listed) >= 8
    for path, names in listed.items():
        if path not in table:
            continue  # documented but not served (e.g. /portfolios/{uuid} writes): a known gap
        assert names <= table[path], (path, names - table[path])
    for path in ("/orders/historical/fills", "/orders/historical/batch", "/product_book"):
        assert path in listed and listed[path] <= table[path]
