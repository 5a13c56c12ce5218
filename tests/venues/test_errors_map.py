"""Error mapping: each Coinbase error shape becomes the right typed error with a useful hint."""

from __future__ import annotations

import pytest

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
from botkit.venues.advanced_trade.errors_map import (
    error_from_response,
    order_rejected,
    parse_retry_after,
)

NOW = 1_760_000_000.0
CASES = [
    (
        400,
        '{"error":"INVALID_ARGUMENT","error_details":"ProductID is invalid","message":"ProductID is invalid"}',
        BadRequest,
        "INVALID_ARGUMENT",
    ),
    (400, '{"message":"Invalid Passphrase"}', InvalidPassphrase, "BOTKIT_EXCHANGE__PASSPHRASE"),
    (401, "Unauthorized", AuthError, "botkit doctor"),
    (401, '{"message":"request timestamp expired"}', ClockSkew, "NTP"),
    (400, '{"message":"invalid timestamp"}', ClockSkew, "GET /time"),
    (
        403,
        '{"error":"PERMISSION_DENIED","error_details":"Missing required scopes","message":"Missing required scopes"}',
        PermissionDenied,
        "Trade",
    ),
    (403, '{"message":"IP address not in allowlist"}', IpNotAllowed, "allow-list"),
    (
        404,
        '{"error":"NOT_FOUND","error_details":"order with this orderID was not found","message":"order not found"}',
        NotFound,
        "does not exist",
    ),
    (
        429,
        '{"errors":[{"id":"rate_limit_exceeded","message":"Too many requests"}]}',
        RateLimited,
        "rate_limit_exceeded",
    ),
    (
        429,
        "<html><title>429 Too Many Requests</title></html>",
        RateLimited,
        "429 Too Many Requests",
    ),
    (502, "<html><head><title>502 Bad Gateway</title></head></html>", ServerError, "Bad Gateway"),
    (500, "", ServerError, "retried"),
]


@pytest.mark.parametrize(("status", "body", "cls", "needle"), CASES)
def test_mapping(status: int, body: str, cls: type[ExchangeError], needle: str) -> None:
    err = error_from_response(status, body.encode(), {"x-request-id": "req-42"}, now=NOW)
    assert type(err) is cls
    assert err.status == status and err.request_id == "req-42"
    assert needle in str(err)


def test_prime_trace_id_is_request_id() -> None:
    err = error_from_response(
        401, '{"message":"invalid signature","code":401,"trace_id":"t-9"}', {}, now=NOW
    )
    assert (
        isinstance(err, AuthError)
        and err.request_id == "t-9"
        and err.message == "invalid signature"
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"x-ratelimit-reset": "2"}, 2.0),
        ({"x-ratelimit-reset": str(int(NOW) + 7)}, 7.0),
        ({"Retry-After": "Wed, 01 Jan 2020 00:00:00 GMT"}, 0.0),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, NOW) == expected
    err = error_from_response(429, b"", headers, now=NOW)
    assert isinstance(err, RateLimited) and err.retry_after == expected


def test_order_rejected_prefers_new_order_failure_reason() -> None:
    resp = {
        "success": False,
        "error_response": {
            "error": "UNKNOWN_FAILURE_REASON",
            "message": "m",
            "preview_failure_reason": "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE",
        },
    }
    err = order_rejected(resp)
    assert type(err) is OrderRejected and err.reason == "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE"
    funds = order_rejected({"error_response": {"new_order_failure_reason": "INSUFFICIENT_FUND"}})
    assert isinstance(funds, InsufficientFunds) and funds.code == "INSUFFICIENT_FUND"
