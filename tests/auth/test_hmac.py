"""Exchange vs Prime HMAC: checked against vectors computed independently with openssl."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from botkit.auth.hmac_sign import ExchangeHmacSigner, PrimeHmacSigner
from botkit.clock import ManualClock
from botkit.errors import ConfigError

EX_SECRET = base64.b64encode(bytes(range(64))).decode()
PRIME_SECRET = "prime-signing-key-XYZ"
T = 1_760_000_000.25

# printf '%s' '<prehash>' | openssl dgst -sha256 -mac HMAC -macopt hexkey:<00..3f> -binary | base64
EX_GET_QUERY = "WXTG1YlMaBT1kCAgPLOC2QdGqG0YWrd4WqEyPZkqESk="
EX_POST_BODY = "WoGlVJaRdotKFI+s5FUKWqy+x4KAei2BS0uiElTRw5A="
EX_DECIMAL_TS = "mY92vGrpvCX5Sjs+MjRnnlYxrNast5Oa4TW7kWiCPyc="
# printf '%s' '<prehash>' | openssl dgst -sha256 -mac HMAC -macopt key:prime-signing-key-XYZ -binary | base64
PRIME_GET = "3zd3COu48S3AXlbM4wWhxbsmpXDGX1Hq/vYyBVUgzu0="
PRIME_POST = "obF4q7w+gm5z8MFR3AltKs4zRnkc9L+6Qd1NbgVKHuc="


def test_exchange_get_signs_path_with_query() -> None:
    s = ExchangeHmacSigner("ex-key", EX_SECRET, "pass", clock=ManualClock(T))
    h = s.sign("get", "https://api.exchange.coinbase.com/orders?limit=5&status=open")
    assert h == {
        "CB-ACCESS-KEY": "ex-key",
        "CB-ACCESS-SIGN": EX_GET_QUERY,
        "CB-ACCESS-TIMESTAMP": "1760000000",
        "CB-ACCESS-PASSPHRASE": "pass",
    }


def test_exchange_post_signs_exact_body() -> None:
    body = b'{"size":"0.01","price":"65000.00","side":"buy","product_id":"BTC-USD"}'
    s = ExchangeHmacSigner("ex-key", EX_SECRET, "", clock=ManualClock(T))
    h = s.sign("POST", "https://api.exchange.coinbase.com/orders", body)
    assert h["CB-ACCESS-SIGN"] == EX_POST_BODY
    assert h["CB-ACCESS-PASSPHRASE"] == ""  # always sent, empty when there is none


def test_exchange_decimal_timestamp_option() -> None:
    s = ExchangeHmacSigner("k", EX_SECRET, "p", clock=ManualClock(T), decimal_timestamp=True)
    h = s.sign("GET", "https://api.exchange.coinbase.com/orders")
    assert h["CB-ACCESS-TIMESTAMP"] == "1760000000.250" and h["CB-ACCESS-SIGN"] == EX_DECIMAL_TS


def test_prime_excludes_query_and_uses_raw_secret() -> None:
    s = PrimeHmacSigner("prime-key", PRIME_SECRET, "pp", clock=ManualClock(T))
    h = s.sign("GET", "https://api.prime.coinbase.com/v1/portfolios/abc/orders?limit=10&cursor=x")
    assert h == {
        "X-CB-ACCESS-KEY": "prime-key",
        "X-CB-ACCESS-SIGNATURE": PRIME_GET,
        "X-CB-ACCESS-TIMESTAMP": "1760000000",
        "X-CB-ACCESS-PASSPHRASE": "pp",
    }


def test_prime_post_body() -> None:
    body = b'{"product_id": "BTC-USD", "side": "BUY"}'
    s = PrimeHmacSigner("prime-key", PRIME_SECRET, "pp", clock=ManualClock(T))
    assert (
        s.sign("POST", "https://api.prime.coinbase.com/v1/portfolios/abc/order", body)[
            "X-CB-ACCESS-SIGNATURE"
        ]
        == PRIME_POST
    )


def test_each_difference_matters() -> None:
    """Swap any one Exchange/Prime difference and the signature changes."""
    clock = ManualClock(T)
    prime = PrimeHmacSigner("k", EX_SECRET, "", clock=clock).sign("GET", "https://x/orders")
    exch = ExchangeHmacSigner("k", EX_SECRET, "", clock=clock).sign("GET", "https://x/orders")
    assert prime["X-CB-ACCESS-SIGNATURE"] != exch["CB-ACCESS-SIGN"]  # raw vs base64-decoded key
    with_q = ExchangeHmacSigner("k", EX_SECRET, "", clock=clock).sign("GET", "https://x/orders?a=1")
    assert with_q["CB-ACCESS-SIGN"] != exch["CB-ACCESS-SIGN"]  # Exchange signs the query
    p_q = PrimeHmacSigner("k", EX_SECRET, "", clock=clock).sign("GET", "https://x/orders?a=1")
    assert p_q["X-CB-ACCESS-SIGNATURE"] == prime["X-CB-ACCESS-SIGNATURE"]  # Prime does not
    raw = base64.b64encode(
        hmac.new(base64.b64decode(EX_SECRET), b"1760000000GET/orders", hashlib.sha256).digest()
    ).decode()
    assert exch["CB-ACCESS-SIGN"] == raw


def test_fresh_timestamp_per_attempt() -> None:
    clock = ManualClock(T)
    s = ExchangeHmacSigner("k", EX_SECRET, "", clock=clock)
    first = s.sign("GET", "https://x/orders")
    clock.advance(2)
    second = s.sign("GET", "https://x/orders")
    assert first["CB-ACCESS-TIMESTAMP"] != second["CB-ACCESS-TIMESTAMP"]
    assert first["CB-ACCESS-SIGN"] != second["CB-ACCESS-SIGN"]


def test_exchange_secret_must_be_base64() -> None:
    with pytest.raises(ConfigError, match="not base64") as info:
        ExchangeHmacSigner("k", "-----BEGIN EC PRIVATE KEY-----", "", clock=ManualClock(T))
    assert "BEGIN" not in str(info.value)


def test_a_pem_key_given_as_the_prime_signing_key_is_refused_before_any_request() -> None:
    """It passed `botkit keys check --venue prime` and failed only at the venue (401)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ConfigError, match="Advanced Trade \\(CDP\\) key") as info:
        PrimeHmacSigner("access", pem, "pass", clock=ManualClock())
    assert pem not in str(info.value)


def test_an_error_says_its_code_once_but_keeps_a_different_one() -> None:
    from botkit.errors import ExchangeError

    same = ExchangeError("INVALID_LIMIT_PRICE_POST_ONLY: would cross", status=400,
                         code="INVALID_LIMIT_PRICE_POST_ONLY")  # fmt: skip
    assert str(same) == "HTTP 400: INVALID_LIMIT_PRICE_POST_ONLY: would cross"
    longer = ExchangeError("INVALID_LIMIT_PRICE_POST_ONLY: would cross", status=400,
                           code="INVALID_LIMIT_PRICE")  # fmt: skip
    assert str(longer).startswith("HTTP 400: INVALID_LIMIT_PRICE: INVALID_LIMIT_PRICE_POST_ONLY")
