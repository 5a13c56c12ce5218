"""Prime's pure pieces: the create-body translation, the neutral order, the error map."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import SecretStr, ValidationError

from botkit.auth.hmac_sign import PrimeHmacSigner
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
from botkit.net.retry_policy import rule_for
from botkit.orders.intents import OrderIntent, limit_gtc, limit_ioc, market_ioc
from botkit.venues.prime.errors_map import (
    error_from_response,
    is_duplicate_client_order_id,
    order_rejected,
)
from botkit.venues.prime.models import PrimeOrder, neutral_order, prime_create_body
from botkit.venues.prime.settings import PrimeVenueSettings

COID = "00000000-0000-4000-8000-000000000002"


def test_create_body_reproduces_the_sdk_verified_signature_vector() -> None:
    """botkit's translation + signer give exactly the bytes and signature prime-sdk-py gives
    (reference §2.5, verified with prime-sdk-py)."""
    intent = OrderIntent(COID, "BTC-USD", "BUY", limit_gtc(Decimal("0.5"), Decimal("60000")))
    body = prime_create_body(intent.body())
    assert body == (
        b'{"product_id": "BTC-USD", "side": "BUY", "client_order_id": '
        b'"00000000-0000-4000-8000-000000000002", "type": "LIMIT", "base_quantity": "0.5", '
        b'"limit_price": "60000", "time_in_force": "GOOD_UNTIL_CANCELLED"}'
    )
    signer = PrimeHmacSigner(
        "AK1", "primeSigningKeyExample123", "pp", clock=ManualClock(1733385600)
    )
    headers = signer.sign("POST", "https://api.prime.coinbase.com/v1/portfolios/pf-1/order", body)
    assert headers["X-CB-ACCESS-SIGNATURE"] == "bj39cTt90trj9nLeARsRZ5l4w93bekfCRmaZkrtubAY="
    assert prime_create_body(intent.body()) == body  # a re-send is byte-identical


@pytest.mark.parametrize(
    ("config", "want"),
    [
        (market_ioc(quote_size=Decimal("25")), {"type": "MARKET", "quote_value": "25"}),
        (market_ioc(base_size=Decimal("0.01")), {"type": "MARKET", "base_quantity": "0.01"}),
        (
            limit_ioc(Decimal("0.1"), Decimal("100")),
            {"type": "LIMIT", "base_quantity": "0.1", "limit_price": "100",
             "time_in_force": "IMMEDIATE_OR_CANCEL"},
        ),
        (
            limit_gtc(Decimal("0.1"), Decimal("100"), post_only=True),
            {"type": "LIMIT", "base_quantity": "0.1", "limit_price": "100",
             "time_in_force": "GOOD_UNTIL_CANCELLED", "post_only": True},
        ),
    ],
)  # fmt: skip
def test_each_configuration_maps_to_prime(
    config: dict[str, object], want: dict[str, object]
) -> None:
    doc = json.loads(prime_create_body(OrderIntent("c1", "ETH-USD", "SELL", config).body()))
    assert doc == {"product_id": "ETH-USD", "side": "SELL", "client_order_id": "c1", **want}


@pytest.mark.parametrize(
    "intent",
    [
        OrderIntent("c1", "BTC-USD", "BUY", {"stop_limit_stop_limit_gtc": {"base_size": "1"}}),
        OrderIntent("c1", "BTC-USD", "BUY", market_ioc(base_size=Decimal(1)),
                    extra={"leverage": "2"}),
        OrderIntent("x" * 129, "BTC-USD", "BUY", market_ioc(base_size=Decimal(1))),
    ],
)  # fmt: skip
def test_what_prime_cannot_take_is_rejected_before_sending(intent: OrderIntent) -> None:
    with pytest.raises(OrderRejected) as refused:
        prime_create_body(intent.body())
    assert refused.value.reason == "UNSUPPORTED_ORDER_CONFIGURATION"


def test_neutral_order_from_prime() -> None:
    order = neutral_order(
        PrimeOrder(
            id="o1", product_id="BTC-USD", side="BUY", client_order_id="c1", type="LIMIT",
            base_quantity="0.5", limit_price="60000", time_in_force="GOOD_UNTIL_CANCELLED",
            status="CANCELLED", filled_quantity="0.2", filled_value="12000",
            average_filled_price="60000", commission="18", exchange_fee="",
            user_context="cancelled by user", post_only=True,
        )
    )  # fmt: skip
    assert (order.order_id, order.client_order_id, order.status) == ("o1", "c1", "CANCELLED")
    assert order.order_configuration == {
        "limit_limit_gtc": {"base_size": "0.5", "limit_price": "60000", "post_only": True}
    }
    assert order.filled_size == Decimal("0.2") and order.total_fees == Decimal(18)
    assert order.cancel_message == "cancelled by user" and order.reject_reason == ""


def _err(
    status: int, message: str, code: str = "", headers: dict[str, str] | None = None
) -> ExchangeError:
    body = json.dumps({"code": code, "message": message, "subcode": "", "trace_id": "t-1"})
    return error_from_response(status, body.encode(), headers or {}, now=0.0)


@pytest.mark.parametrize(
    ("status", "message", "code", "cls", "retried"),
    [
        (401, "request timestamp expired (more than 30s from server time)", "UNAUTHENTICATED",
         ClockSkew, True),
        (401, "invalid signature", "UNAUTHENTICATED", AuthError, True),
        (401, "invalid passphrase", "UNAUTHENTICATED", InvalidPassphrase, False),
        (403, "api key does not have the trade permission", "PERMISSION_DENIED",
         PermissionDenied, False),
        (403, "request from IP not in allowlist", "PERMISSION_DENIED", IpNotAllowed, False),
        (404, "order not found", "NOT_FOUND", NotFound, False),
        (429, "rate limit exceeded", "RESOURCE_EXHAUSTED", RateLimited, True),
        (500, "internal error", "INTERNAL", ServerError, False),  # not idempotent: create
        (400, "INVALID_LIMIT_PRICE: limit_price is required", "INVALID_ARGUMENT", BadRequest,
         False),
    ],
)  # fmt: skip
def test_error_map(status: int, message: str, code: str, cls: type, retried: bool) -> None:
    error = _err(status, message, code)
    assert type(error) is cls and error.status == status and error.request_id == "t-1"
    assert error.message == message and error.hint
    assert (rule_for(error).when.value == "always") is retried


def test_permission_hint_names_the_permission_and_the_portfolio() -> None:
    assert "Trade permission" in _err(403, "api key does not have the trade permission").hint
    assert "BOTKIT_PRIME__PORTFOLIO_ID" in _err(403, "not authorized for portfolio p").hint
    assert "BOTKIT_PRIME__PASSPHRASE" in _err(401, "invalid passphrase").hint


def test_retry_after_and_non_json_bodies() -> None:
    limited = _err(429, "slow down", headers={"Retry-After": "30"})
    assert isinstance(limited, RateLimited) and limited.retry_after == 30
    html = error_from_response(502, b"<html><title>Bad Gateway</title></html>", {}, now=0)
    assert isinstance(html, ServerError) and html.message == "Bad Gateway"


def test_refused_create_becomes_order_rejected() -> None:
    funds = _err(400, "INSUFFICIENT_FUND: Insufficient balance in source account")
    assert isinstance(funds, BadRequest)
    rejected = order_rejected(funds)
    assert isinstance(rejected, InsufficientFunds) and rejected.reason == "INSUFFICIENT_FUND"
    bad = _err(400, "bad size", "INVALID_ARGUMENT")
    assert isinstance(bad, BadRequest)
    other = order_rejected(bad)
    assert type(other) is OrderRejected and other.reason == "INVALID_ARGUMENT"
    dup = _err(400, "duplicate client_order_id: an active order already uses it")
    assert is_duplicate_client_order_id(dup) and not is_duplicate_client_order_id(funds)


def test_settings_keep_secrets_and_say_how_to_fix() -> None:
    ok = PrimeVenueSettings(
        access_key="ak", signing_key=SecretStr("sk-secret"), passphrase=SecretStr("pp-secret"),
        portfolio_id="pf", rest_url="http://127.0.0.1:1/v1/",
    )  # fmt: skip
    assert ok.rest_url == "http://127.0.0.1:1/v1"
    assert "sk-secret" not in repr(ok) and "pp-secret" not in repr(ok)
    with pytest.raises(ValidationError, match="BOTKIT_PRIME__SIGNING_KEY"):
        PrimeVenueSettings(access_key="ak", signing_key=SecretStr(" "),
                           passphrase=SecretStr("p"), portfolio_id="pf")  # fmt: skip
    with pytest.raises(ValidationError, match="must end with /v1"):
        PrimeVenueSettings(access_key="ak", signing_key=SecretStr("s"), passphrase=SecretStr("p"),
                           portfolio_id="pf", rest_url="https://api.prime.coinbase.com")  # fmt: skip
