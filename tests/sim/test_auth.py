"""Simulator authentication: what Coinbase accepts is accepted, everything else is a bare 401."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Literal

import jwt as pyjwt
import pytest

from botkit.auth.factory import generate_cdp_key
from botkit.auth.jwt import DEFAULT_ISSUER, build_jwt, format_uri
from botkit.sim.server import SimServer
from tests.sim.conftest import Caller

ACCOUNTS = "/api/v3/brokerage/accounts"


async def _get(call: Caller, token: str, path: str = ACCOUNTS) -> tuple[int, str, dict[str, str]]:
    url = f"http://{call.sim.authority}{path}"
    async with call.session.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.text(), dict(r.headers)


def _token(
    call: Caller, *, uri: str | None = None, now: float | None = None, issuer: str = DEFAULT_ISSUER
) -> str:
    key = call.signer.key
    return build_jwt(
        key,
        now=now if now is not None else time.time(),
        nonce=secrets.token_hex(),
        uri=uri if uri is not None else format_uri("GET", call.sim.authority, ACCOUNTS),
        issuer=issuer,
    )


async def test_valid_token_accepted_both_issuers(call: Caller) -> None:
    assert (await _get(call, _token(call)))[0] == 200
    assert (await _get(call, _token(call, issuer="coinbase-cloud")))[0] == 200


@pytest.mark.parametrize("kind", ["ES256", "EdDSA"])
async def test_both_key_types(
    sim: SimServer, call: Caller, kind: Literal["ES256", "EdDSA"]
) -> None:
    key = sim.add_key(kind)
    token = build_jwt(
        key, now=time.time(), nonce="n1", uri=format_uri("GET", sim.authority, ACCOUNTS)
    )
    assert (await _get(call, token))[0] == 200


async def test_unknown_key_is_401_plain_text(call: Caller) -> None:
    stranger = generate_cdp_key("ES256")
    token = build_jwt(
        stranger, now=time.time(), nonce="n", uri=format_uri("GET", call.sim.authority, ACCOUNTS)
    )
    status, body, headers = await _get(call, token)
    assert (status, body) == (401, "Unauthorized")
    assert "unknown key" in headers["x-botkit-sim-reason"]


async def test_same_name_wrong_key_is_bad_signature(call: Caller) -> None:
    impostor = generate_cdp_key("ES256", name=call.signer.key.name)
    token = build_jwt(
        impostor, now=time.time(), nonce="n", uri=format_uri("GET", call.sim.authority, ACCOUNTS)
    )
    status, _, headers = await _get(call, token)
    assert status == 401 and "bad signature" in headers["x-botkit-sim-reason"]


async def test_tampered_token_is_401(call: Caller) -> None:
    header, claims, sig = _token(call).split(".")
    data = json.loads(base64.urlsafe_b64decode(claims + "=="))
    data["exp"] += 3600
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    status, _, headers = await _get(call, f"{header}.{forged}.{sig}")
    assert status == 401 and "bad signature" in headers["x-botkit-sim-reason"]


async def test_query_string_in_uri_is_401(call: Caller) -> None:
    uri = f"GET {call.sim.authority}{ACCOUNTS}?limit=5"
    status, _, headers = await _get(call, _token(call, uri=uri), ACCOUNTS + "?limit=5")
    assert status == 401 and "uri" in headers["x-botkit-sim-reason"]
    good = _token(call)  # the same request with the uri signed without the query passes
    assert (await _get(call, good, ACCOUNTS + "?limit=5"))[0] == 200


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        (f"POST 127.0.0.1:1{ACCOUNTS}", "uri"),  # wrong method / host
        (f"GET api.coinbase.com{ACCOUNTS}", "uri"),  # the SDK's constant host, not ours
    ],
)
async def test_wrong_uri_is_401(call: Caller, uri: str, reason: str) -> None:
    status, _, headers = await _get(call, _token(call, uri=uri))
    assert status == 401 and reason in headers["x-botkit-sim-reason"]


async def test_expired_and_future_tokens_are_401(call: Caller) -> None:
    status, _, headers = await _get(call, _token(call, now=time.time() - 600))
    assert status == 401 and "expired" in headers["x-botkit-sim-reason"]
    status, _, headers = await _get(call, _token(call, now=time.time() + 600))
    assert status == 401 and "not yet valid" in headers["x-botkit-sim-reason"]


async def test_typ_not_required_unknown_claims_ignored(call: Caller) -> None:
    key = call.signer.key
    now = int(time.time())
    claims = {
        "sub": key.name,
        "iss": "cdp",
        "nbf": now,
        "exp": now + 120,
        "aud": ["retail_rest_api_proxy"],
        "iat": now,
        "uris": [format_uri("GET", call.sim.authority, ACCOUNTS)],
    }
    token = pyjwt.encode(
        claims, key.private_key, algorithm="ES256", headers={"kid": key.name, "nonce": "x"}
    )
    h, c, s = token.split(".")
    hdr = json.loads(base64.urlsafe_b64decode(h + "=="))
    assert hdr.pop("typ") == "JWT"
    # re-sign without typ
    token2 = pyjwt.api_jws.encode(
        json.dumps(claims).encode(),
        key.private_key,
        algorithm="ES256",
        headers={"kid": key.name, "nonce": "y", "typ": None},
    )
    assert "typ" not in pyjwt.get_unverified_header(token2)
    assert (await _get(call, token2))[0] == 200


async def test_view_only_key_gets_403_on_orders(sim: SimServer, call: Caller) -> None:
    viewer = sim.add_key("EdDSA", can_trade=False)
    url = sim.rest_url + "/orders"
    body = json.dumps(
        {
            "client_order_id": "x",
            "product_id": "BTC-USD",
            "side": "BUY",
            "order_configuration": {"market_market_ioc": {"quote_size": "10"}},
        }
    ).encode()
    token = build_jwt(
        viewer,
        now=time.time(),
        nonce="n",
        uri=format_uri("POST", sim.authority, "/api/v3/brokerage/orders"),
    )
    async with call.session.post(url, data=body, headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 403
        assert await r.json() == {
            "error": "PERMISSION_DENIED",
            "error_details": "Missing required scopes",
            "message": "Missing required scopes",
        }
    read = build_jwt(
        viewer, now=time.time(), nonce="m", uri=format_uri("GET", sim.authority, ACCOUNTS)
    )
    assert (await _get(call, read))[0] == 200


async def test_public_endpoints_need_no_auth(call: Caller) -> None:
    for path in (
        "/time",
        "/market/products",
        "/market/product_book?product_id=BTC-USD",
        "/market/products/BTC-USD/ticker?limit=3",
    ):
        status, body, _ = await call("GET", path, sign=False)
        assert status == 200, (path, body)
    assert (await call("GET", "/products", sign=False))[0] == 401


async def test_replayed_nonce_rejected_when_enabled(call: Caller) -> None:
    call.sim.registry.config.reject_replayed_nonces = True
    token = _token(call)
    assert (await _get(call, token))[0] == 200
    status, _, headers = await _get(call, token)
    assert status == 401 and "replayed" in headers["x-botkit-sim-reason"]
