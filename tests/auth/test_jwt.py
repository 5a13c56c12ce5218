"""JWTs: verifiable with PyJWT, claim-for-claim equal to the official SDK's, never a query in uri."""

from __future__ import annotations

import itertools

import jwt as pyjwt
import pytest
from coinbase import jwt_generator  # the official SDK, as an independent reference
from hypothesis import given
from hypothesis import strategies as st

from botkit.auth.jwt import JwtSigner, build_jwt, format_uri, host_of
from botkit.auth.keys import CdpKey, load_cdp_key
from botkit.clock import ManualClock
from tests.conftest import KEY_NAME

NOW = 1_760_000_000.75


def _keys(ec_pem: str, ed_b64: str) -> dict[str, tuple[CdpKey, str]]:
    return {
        "ES256": (load_cdp_key(KEY_NAME, ec_pem), ec_pem),
        "EdDSA": (load_cdp_key("d2efa49a-369c-43d7-a60e-ae26e28853c2", ed_b64), ed_b64),
    }


def _decode(token: str, key: CdpKey) -> tuple[dict[str, object], dict[str, object]]:
    header = pyjwt.get_unverified_header(token)
    claims = pyjwt.decode(
        token,
        key.private_key.public_key(),
        algorithms=[key.algorithm],
        options={"verify_nbf": False, "verify_exp": False},
    )
    return header, claims


def _signer(key: CdpKey, clock: ManualClock | None = None) -> JwtSigner:
    counter = itertools.count()
    return JwtSigner(key, clock=clock or ManualClock(NOW), nonce=lambda: f"{next(counter):064x}")


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_rest_jwt_verifies_with_pyjwt_and_has_exact_claims(
    alg: str, ec_pem: str, ed_b64: str
) -> None:
    key, _ = _keys(ec_pem, ed_b64)[alg]
    token = _signer(key).rest_token("get", "api.coinbase.com", "/api/v3/brokerage/accounts")
    header, claims = _decode(token, key)
    assert header == {"alg": alg, "kid": key.name, "nonce": f"{0:064x}", "typ": "JWT"}
    assert claims == {
        "sub": key.name,
        "iss": "cdp",
        "nbf": 1_760_000_000,
        "exp": 1_760_000_120,
        "uri": "GET api.coinbase.com/api/v3/brokerage/accounts",
    }


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v3/brokerage/accounts"),
        ("POST", "/api/v3/brokerage/orders"),
        ("GET", "/api/v3/brokerage/orders/historical/3f2a9c1e-0000-4000-8000-000000000001"),
    ],
)
def test_matches_official_sdk_key_for_key(
    alg: str, method: str, path: str, ec_pem: str, ed_b64: str
) -> None:
    key, secret = _keys(ec_pem, ed_b64)[alg]
    ours = _signer(key).rest_token(method, "api.coinbase.com", path)
    theirs = jwt_generator.build_rest_jwt(
        jwt_generator.format_jwt_uri(method, path), key.name, secret
    )
    our_header, our_claims = _decode(ours, key)
    sdk_header, sdk_claims = _decode(theirs, key)
    for volatile in ("nbf", "exp"):
        our_claims.pop(volatile)
        sdk_claims.pop(volatile)
    assert len(str(sdk_header.pop("nonce"))) > 0 and len(str(our_header.pop("nonce"))) > 0
    assert our_header == sdk_header
    assert our_claims == sdk_claims


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_ws_jwt_matches_sdk_and_has_no_uri(alg: str, ec_pem: str, ed_b64: str) -> None:
    key, secret = _keys(ec_pem, ed_b64)[alg]
    our_header, ours = _decode(_signer(key).ws_token(), key)
    sdk_header, theirs = _decode(jwt_generator.build_ws_jwt(key.name, secret), key)
    assert "uri" not in ours
    assert (
        set(ours) == set(theirs) and ours["iss"] == theirs["iss"] and ours["sub"] == theirs["sub"]
    )
    assert {k for k in our_header if k != "nonce"} == {k for k in sdk_header if k != "nonce"}


def test_every_token_is_fresh(ec_pem: str) -> None:
    key = load_cdp_key(KEY_NAME, ec_pem)
    import secrets

    signer = JwtSigner(key, clock=ManualClock(NOW), nonce=secrets.token_hex)
    tokens = {
        signer.sign("GET", "https://api.coinbase.com/api/v3/brokerage/accounts")["Authorization"]
        for _ in range(20)
    }
    assert len(tokens) == 20
    nonces = {pyjwt.get_unverified_header(t.split()[1])["nonce"] for t in tokens}
    assert len(nonces) == 20


def test_clock_offset_moves_nbf(ec_pem: str) -> None:
    key = load_cdp_key(KEY_NAME, ec_pem)
    clock = ManualClock(NOW)
    signer = _signer(key, clock)
    clock.set(NOW - 300)  # the host clock runs 5 minutes slow; the executor corrects by moving it
    _, claims = _decode(signer.ws_token(), key)
    assert claims["nbf"] == 1_760_000_000 - 300 and claims["exp"] == claims["nbf"] + 120


def test_issuer_and_lifetime_are_configurable(ec_pem: str) -> None:
    key = load_cdp_key(KEY_NAME, ec_pem)
    token = build_jwt(key, now=NOW, nonce="n", issuer="coinbase-cloud", lifetime=60)
    _, claims = _decode(token, key)
    assert claims["iss"] == "coinbase-cloud" and claims["exp"] == 1_760_000_060


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://api.coinbase.com/api/v3/brokerage", "api.coinbase.com"),
        ("https://api.coinbase.com:443/api/v3/brokerage", "api.coinbase.com"),
        ("https://127.0.0.1:8443/api/v3/brokerage", "127.0.0.1:8443"),
        ("http://127.0.0.1:80/x", "127.0.0.1"),
        ("http://localhost:8080/x?y=1", "localhost:8080"),
        ("wss://advanced-trade-ws.coinbase.com", "advanced-trade-ws.coinbase.com"),
        ("127.0.0.1:8443", "127.0.0.1:8443"),
        ("api.coinbase.com", "api.coinbase.com"),
    ],
)
def test_host_of(url: str, host: str) -> None:
    assert host_of(url) == host


_path_chars = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_/.", min_size=0, max_size=40)
_query = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789=&_-%.?", min_size=0, max_size=60)


@given(path=_path_chars, query=_query, method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]))
def test_query_string_never_reaches_uri(path: str, query: str, method: str) -> None:
    full = "/api/v3/brokerage/" + path
    uri = format_uri(method, "api.coinbase.com", f"{full}?{query}")
    assert uri == f"{method} api.coinbase.com{full}"
    assert "?" not in uri


def test_signer_sign_strips_query_and_keeps_port(ec_pem: str) -> None:
    key = load_cdp_key(KEY_NAME, ec_pem)
    headers = _signer(key).sign(
        "get",
        "https://127.0.0.1:8443/api/v3/brokerage/orders/historical/fills?order_ids=a&order_ids=b",
    )
    _, claims = _decode(headers["Authorization"].removeprefix("Bearer "), key)
    assert claims["uri"] == "GET 127.0.0.1:8443/api/v3/brokerage/orders/historical/fills"
