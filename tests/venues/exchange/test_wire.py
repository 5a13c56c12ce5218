"""Coinbase Exchange's pure parts: the create-body translation, the order translation, the error
map with its retry classes, the settings; and botkit's signer against the simulator's verifier
(two implementations written apart from the reference must agree)."""

from __future__ import annotations

import base64
import json
import random
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from botkit.auth.hmac_sign import ExchangeHmacSigner
from botkit.clock import ManualClock
from botkit.errors import (
    AuthError,
    BadRequest,
    ClockSkew,
    ExchangeError,
    InsufficientFunds,
    InvalidPassphrase,
    IpNotAllowed,
    NotFound,
    OrderRejected,
    PermissionDenied,
    RateLimited,
    ServerError,
)
from botkit.net.retry_policy import RetryPolicy, decide
from botkit.orders.intents import OrderIntent, dec_str, limit_gtc, limit_ioc, market_ioc
from botkit.sim.exchange_auth import ExchangeKey, ExchangeRefusals, verify_request
from botkit.venues.exchange.errors_map import error_from_response, order_rejected
from botkit.venues.exchange.models import ExchangeOrder, exchange_create_body, neutral_order
from botkit.venues.exchange.settings import ExchangeVenueSettings

COID = "6f0d3c1e-8f9b-4c2a-9d1e-0a1b2c3d4e5f"


def _body(config: dict[str, object], side: str = "BUY") -> bytes:
    return OrderIntent(COID, "BTC-USD", side, config).body()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("config", "want"),
    [
        (market_ioc(base_size=Decimal("0.01")), {"type": "market", "size": "0.01"}),
        (market_ioc(quote_size=Decimal("25.50")), {"type": "market", "funds": "25.50"}),
        (
            limit_gtc(Decimal("0.5"), Decimal("60000.00"), post_only=True),
            {"type": "limit", "price": "60000.00", "size": "0.5", "time_in_force": "GTC",
             "post_only": True},
        ),
        (
            limit_gtc(Decimal("0.5"), Decimal("60000.00")),
            {"type": "limit", "price": "60000.00", "size": "0.5", "time_in_force": "GTC"},
        ),
        (
            limit_ioc(Decimal("0.5"), Decimal("60000.00")),
            {"type": "limit", "price": "60000.00", "size": "0.5", "time_in_force": "IOC"},
        ),
        (
            {"limit_limit_fok": {"base_size": "1", "limit_price": "2"}},
            {"type": "limit", "price": "2", "size": "1", "time_in_force": "FOK"},
        ),
        (
            {"stop_limit_stop_limit_gtc": {"base_size": "1", "limit_price": "90",
                                           "stop_price": "95",
                                           "stop_direction": "STOP_DIRECTION_STOP_DOWN"}},
            {"type": "limit", "price": "90", "size": "1", "stop": "loss", "stop_price": "95"},
        ),
    ],
)  # fmt: skip
def test_each_configuration_maps_to_an_exchange_body(
    config: dict[str, object], want: dict[str, object]
) -> None:
    body = exchange_create_body(_body(config, "SELL"))
    head = {"client_oid": COID, "product_id": "BTC-USD", "side": "sell"}
    assert json.loads(body) == head | want
    assert list(json.loads(body)) == list(head) + list(want)  # fixed key order
    assert b" " not in body  # compact


@given(
    size=st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1000"), places=8),
    price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2),
)
def test_the_translation_is_a_function_of_the_journaled_bytes(
    size: Decimal, price: Decimal
) -> None:
    journaled = _body(limit_gtc(size, price))
    first = exchange_create_body(journaled)
    assert exchange_create_body(bytes(journaled)) == first  # a re-send is byte-identical
    doc = json.loads(first)
    assert (doc["size"], doc["price"]) == (dec_str(size), dec_str(price))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (OrderIntent("my-order-1", "BTC-USD", "BUY", market_ioc(base_size=Decimal(1))).body(),
         "INVALID_CLIENT_OID"),
        (_body({"limit_limit_gtc": {"quote_size": "10", "limit_price": "5"}}),
         "UNSUPPORTED_ORDER_CONFIGURATION"),
        (_body({"limit_limit_gtd": {"base_size": "1", "limit_price": "5",
                                    "end_time": "2030-01-01T00:00:00Z"}}),
         "UNSUPPORTED_ORDER_CONFIGURATION"),
        (OrderIntent(COID, "BTC-USD", "BUY", market_ioc(base_size=Decimal(1)),
                     extra={"self_trade_prevention_id": "x"}).body(),
         "UNSUPPORTED_ORDER_CONFIGURATION"),
    ],
)  # fmt: skip
def test_what_exchange_cannot_take_is_rejected_before_sending(body: bytes, reason: str) -> None:
    with pytest.raises(OrderRejected) as refused:
        exchange_create_body(body)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("status", "done_reason", "want"),
    [
        ("pending", "", "PENDING"),
        ("open", "", "OPEN"),
        ("active", "", "OPEN"),
        ("done", "filled", "FILLED"),
        ("done", "canceled", "CANCELLED"),
        ("rejected", "", "FAILED"),
    ],
)
def test_exchange_orders_map_onto_the_neutral_model(
    status: str, done_reason: str, want: str
) -> None:
    order = ExchangeOrder(
        id="o1", product_id="ETH-USD", side="sell", type="limit", price="3000.00", size="2",
        time_in_force="IOC", status=status, done_reason=done_reason, client_oid=COID,
        filled_size=Decimal("1.5"), executed_value=Decimal("4500"), fill_fees=Decimal("27"),
        cancel_reason="101:Time In Force",
    )  # fmt: skip
    neutral = neutral_order(order)
    assert (neutral.status, neutral.side, neutral.client_order_id) == (want, "SELL", COID)
    assert neutral.order_configuration == {
        "sor_limit_ioc": {"base_size": "2", "limit_price": "3000.00"}
    }
    assert neutral.average_filled_price == Decimal(3000) and neutral.total_fees == 27
    assert neutral.cancel_message == ("101:Time In Force" if want == "CANCELLED" else "")


def _err(status: int, message: str | None, headers: dict[str, str] | None = None) -> ExchangeError:
    body = (
        b"<html><title>Bad Gateway</title></html>"
        if message is None
        else json.dumps({"message": message}).encode()
    )
    return error_from_response(status, body, headers or {}, now=0.0)


@pytest.mark.parametrize(
    ("status", "message", "cls", "retried"),
    [
        (401, "invalid signature", AuthError, True),
        (401, "Invalid API Key", AuthError, True),
        (401, "request timestamp expired", ClockSkew, True),
        (400, "request timestamp expired", ClockSkew, True),
        (400, "Invalid Passphrase", InvalidPassphrase, False),
        (403, "You do not have access to the requested resource: this API key lacks the "
              "trade permission", PermissionDenied, False),
        (403, "IP address 1.2.3.4 is not allowed for this API key", IpNotAllowed, False),
        (403, None, PermissionDenied, True),  # a gateway's page: one re-signed retry
        (404, "NotFound", NotFound, False),
        (429, "Private rate limit exceeded", RateLimited, True),
        (503, None, ServerError, False),  # create-order: outcome unknown, not repeated
        (400, "size is too small. Minimum size is 0.001", BadRequest, False),
    ],
)  # fmt: skip
def test_error_map_types_each_answer_for_the_retry_table(
    status: int, message: str | None, cls: type, retried: bool
) -> None:
    error = _err(status, message)
    assert type(error) is cls
    assert isinstance(error, BaseException)
    decision = decide(error, occurrence=1, idempotent=False, clock_suspect=False,
                      policy=RetryPolicy(), rng=random.Random(1))  # fmt: skip
    assert decision.retry is retried


def test_hints_name_the_fix_and_the_permission() -> None:
    trade = _err(403, "this API key lacks the trade permission")
    assert isinstance(trade, PermissionDenied) and "Trade permission" in trade.hint
    assert "BOTKIT_EXCHANGE__API_SECRET" in str(_err(401, "invalid signature"))
    assert "BOTKIT_EXCHANGE__API_KEY" in str(_err(401, "Invalid API Key"))
    limited = _err(429, "Private rate limit exceeded", {"Retry-After": "2"})
    assert isinstance(limited, RateLimited) and limited.retry_after == 2.0


def test_refused_creates_become_typed_rejections() -> None:
    funds = order_rejected(BadRequest("Insufficient funds", status=400))
    assert isinstance(funds, InsufficientFunds) and funds.reason == "INSUFFICIENT_FUND"
    assert order_rejected(BadRequest("price too precise", status=400)).reason == (
        "INVALID_LIMIT_PRICE"
    )
    assert order_rejected(NotFound("Product not found", status=404)).reason == (
        "INVALID_PRODUCT_ID"
    )


@given(
    query=st.lists(st.sampled_from(["a=1", "start_date=2026-12-05T08:00:00Z", "limit=2"])),
    body=st.binary(max_size=64),
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    ts=st.floats(min_value=1.7e9, max_value=1.9e9),
)
def test_botkit_signer_and_the_simulator_verifier_agree(
    query: list[str], body: bytes, method: str, ts: float
) -> None:
    secret = base64.b64encode(bytes(range(64))).decode()
    key = ExchangeKey("k1", secret, "pass phrase", "profile-1")
    signer = ExchangeHmacSigner("k1", secret, "pass phrase", clock=ManualClock(ts),
                                decimal_timestamp=True)  # fmt: skip
    target = "/orders" + ("?" + "&".join(query) if query else "")
    headers = signer.sign(method, "http://127.0.0.1:1" + target, body)
    found = verify_request({"k1": key}, headers, method, target, body, ts,
                           refusals=ExchangeRefusals())  # fmt: skip
    assert found is key


def test_settings_refuse_a_non_base64_secret_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as bad:
        ExchangeVenueSettings(api_key="k", api_secret=SecretStr("not base64 !!"))
    assert "BOTKIT_EXCHANGE__API_SECRET" in str(bad.value)
    assert "not base64 !!" not in str(bad.value)
    ok = ExchangeVenueSettings(api_key="k", api_secret=SecretStr(base64.b64encode(b"x" * 64)
                               .decode()), rest_url="http://127.0.0.1:9/")  # fmt: skip
    assert ok.rest_url == "http://127.0.0.1:9" and "x" not in repr(ok.api_secret)
