"""Pre-signed create-order tokens: single use, young, invalidated on 401 and clock correction.

The simulator's ``reject_replayed_nonces`` is the referee for "single use": it refuses any
token whose nonce it has already seen, so an order that reuses a token fails loudly.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets
import time
from collections.abc import Callable
from decimal import Decimal

import aiohttp
import pytest

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner, PresignedTokens
from botkit.auth.keys import CdpKey
from botkit.clock import ManualClock
from botkit.net.rest_types import ApiCall
from botkit.net.retrying import CallTrace
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, limit_gtc, market_ioc
from botkit.orders.journal import OrderJournal
from botkit.venues.advanced_trade.rest_client import RestClient
from tests.orders.conftest import ClientFactory, RecordingSim

ORDERS = "/orders"


def _parts(authorization: str) -> tuple[dict[str, object], dict[str, object]]:
    """(header, claims) of a ``Bearer <jwt>`` value, decoded without verification."""
    header, claims, _ = authorization.split()[1].split(".")

    def dec(part: str) -> dict[str, object]:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]

    return dec(header), dec(claims)


def _counting_nonces() -> tuple[Callable[[], str], list[str]]:
    issued: list[str] = []
    counter = itertools.count()

    def nonce() -> str:
        value = f"n{next(counter):04d}-{secrets.token_hex(8)}"
        issued.append(value)
        return value

    return nonce, issued


def _post_auths(sim: RecordingSim) -> list[str]:
    return [h["Authorization"] for m, p, h in sim.seen if m == "POST" and p.endswith(ORDERS)]


def _intent(i: int) -> OrderIntent:
    return OrderIntent(f"ps-{i}", "BTC-USD", "BUY", market_ioc(quote_size=Decimal("5")))


def _pool(client: RestClient) -> PresignedTokens:
    return client.presigned[("POST", ORDERS)]


# -- the pool on its own (pure) ----------------------------------------------------------------


def test_pool_hands_out_each_token_once_oldest_first_and_drops_old_ones(key: CdpKey) -> None:
    clock = ManualClock(1_760_000_000.0)
    nonce, issued = _counting_nonces()
    signer = JwtSigner(key, clock=clock, nonce=nonce)
    pool = PresignedTokens(signer, "POST", "https://api.coinbase.com/api/v3/brokerage/orders",
                           size=3, max_age=5.0)  # fmt: skip
    for _ in range(3):
        pool.mint()
        clock.advance(1.0)
    got = [pool.take() for _ in range(3)]
    assert None not in got and len(set(got)) == 3  # three different tokens
    assert [_parts(f"Bearer {t}")[0]["nonce"] for t in got if t] == issued  # oldest first
    assert pool.take() is None and pool.misses == 1 and pool.taken == 3  # never handed out twice
    _, claims = _parts(f"Bearer {got[0]}")
    assert claims["uri"] == "POST api.coinbase.com/api/v3/brokerage/orders"

    pool.mint()
    clock.advance(5.01)  # older than max_age: dropped, not sent
    assert pool.take() is None and pool.discarded == 1
    pool.mint()
    clock.set(clock.time() - 1)  # the clock went back: a token "from the future" is dropped too
    assert pool.take() is None and pool.discarded == 2

    for _ in range(3):
        pool.mint()
        clock.advance(1.0)
    assert pool.prune(1.5) == 2 and len(pool) == 1  # the idle refresh drops the older two
    assert pool.invalidate() == 1 and len(pool) == 0 and pool.wanted == 3


def test_pool_max_age_must_stay_well_inside_the_token_lifetime(key: CdpKey) -> None:
    signer = JwtSigner(key, clock=ManualClock(), nonce=secrets.token_hex)
    with pytest.raises(ValueError, match="max_age"):
        PresignedTokens(signer, "POST", "https://h/orders", max_age=61)
    with pytest.raises(ValueError, match="size"):
        PresignedTokens(signer, "POST", "https://h/orders", size=0)


def test_tokens_are_byte_identical_to_json_dumps_of_the_claims(key: CdpKey) -> None:
    """The pre-encoded template writes exactly what json.dumps of the dicts would."""
    clock = ManualClock(1_760_000_000.9)
    signer = JwtSigner(key, clock=clock, nonce=lambda: 'ab\u00e9"c', issuer="coinbase-cloud")
    token = signer.token_for("POST", "https://127.0.0.1:8443/api/v3/brokerage/orders?x=1")
    head, body, _ = token.split(".")
    compact = {"separators": (",", ":")}
    want_head = json.dumps(
        {"alg": "ES256", "kid": key.name, "nonce": 'ab\u00e9"c', "typ": "JWT"},
        **compact,  # type: ignore[arg-type]
    )
    want_body = json.dumps(
        {
            "sub": key.name,
            "iss": "coinbase-cloud",
            "nbf": 1_760_000_000,
            "exp": 1_760_000_120,
            "uri": "POST 127.0.0.1:8443/api/v3/brokerage/orders",
        },
        **compact,  # type: ignore[arg-type]
    )
    assert base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode() == want_head
    assert base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode() == want_body


# -- the pool in the REST client and the executor, against the simulator ---------------------


async def test_every_presigned_token_is_used_once(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    """With replayed nonces refused, sequential and concurrent orders all pass."""
    sim.registry.config.reject_replayed_nonces = True
    client = make_client()
    ex = OrderExecutor(client, journal)
    await ex.start()
    client.refill_presigned()
    for i in range(10):
        await ex.place(_intent(i))
    await asyncio.gather(*(ex.place(_intent(100 + i)) for i in range(8)))  # a burst > pool size
    auths = _post_auths(sim)
    assert len(auths) == 18 and len(set(auths)) == 18
    assert sim.registry.last_failure == ""
    pool = _pool(client)
    assert pool.taken >= 4  # the feature was really exercised (at least the primed tokens)
    # the referee works: sending a used token again is refused
    async with (
        aiohttp.ClientSession() as raw,
        raw.post(
            sim.rest_url + ORDERS,
            data=_intent(999).body(),
            headers={"Authorization": auths[0], "Content-Type": "application/json"},
        ) as resp,
    ):
        assert resp.status == 401
    assert sim.registry.last_failure == "nonce replayed"
    await ex.close()


async def test_executor_start_primes_the_pool_by_loop_callbacks(
    sim: RecordingSim, make_client: ClientFactory, journal: OrderJournal
) -> None:
    client = make_client(presign=3)
    ex = OrderExecutor(client, journal)
    pool = _pool(client)
    assert len(pool) == 0
    await ex.start()
    for _ in range(pool.size + 1):  # one signature per loop iteration, never a burst
        await asyncio.sleep(0)
    assert len(pool) == 3
    await ex.place(_intent(1))
    assert pool.taken == 1 and pool.misses == 0
    for _ in range(pool.size + 1):  # the used token is replaced once the order was answered
        await asyncio.sleep(0)
    assert len(pool) == 3
    await ex.close()
    await client.close()
    assert len(pool) == 0  # the client's close() discards what is left


async def test_max_age_is_respected(sim: RecordingSim, key: CdpKey) -> None:
    """A token older than max_age is never sent: the order signs inline, dated now."""
    clock = ManualClock(time.time() - 60)  # behind the sim by a minute: tokens stay valid
    nonce, issued = _counting_nonces()
    signer = JwtSigner(key, clock=clock, nonce=nonce)
    # max_age 50 s: its idle refresh (25 s of real time) cannot fire during this test
    client = RestClient(sim.rest_url, signer, presign=2, presign_max_age=50.0)
    pool = _pool(client)
    client.refill_presigned()
    minted = list(issued)
    clock.advance(50.5)
    await client.create_order(_intent(1))
    header, claims = _parts(_post_auths(sim)[-1])
    assert header["nonce"] not in minted and claims["nbf"] == int(clock.time())  # signed inline
    assert pool.discarded == 2 and pool.misses == 1 and pool.taken == 0

    client.refill_presigned()  # tokens dated now; 49.5 s later they are still young enough
    fresh = issued[-2:]
    signed_at = int(clock.time())
    clock.advance(49.5)
    await client.create_order(_intent(2))
    header, claims = _parts(_post_auths(sim)[-1])
    assert header["nonce"] == fresh[0] and claims["nbf"] == signed_at and pool.taken == 1
    await client.close()


async def test_401_on_a_presigned_token_retries_with_a_fresh_signature(
    sim: RecordingSim, key: CdpKey
) -> None:
    nonce, issued = _counting_nonces()
    clock = SystemClock()
    signer = JwtSigner(key, clock=clock, nonce=nonce)
    client = RestClient(sim.rest_url, signer, clock=clock, presign=3)
    pool = _pool(client)
    client.refill_presigned()
    minted = list(issued)
    sim.faults.fail_next(401, count=1, path="/orders$", method="POST")
    trace = CallTrace()
    call = ApiCall("POST", ORDERS, body=_intent(1).body(), client_order_id="ps-1")
    await client.call(call, trace)
    assert trace.attempts == 2
    first, retry = (_parts(a)[0]["nonce"] for a in _post_auths(sim))
    assert first == minted[0]  # attempt 1: the pre-signed token
    assert retry not in minted  # attempt 2: signed inline, after the pool was emptied
    assert pool.discarded == 2  # the two unused siblings were dropped, not kept for later
    await client.create_order(_intent(2))  # later orders never see the invalidated tokens
    assert _parts(_post_auths(sim)[-1])[0]["nonce"] not in minted
    await client.close()


async def test_clock_correction_invalidates_the_pool(make_client: ClientFactory) -> None:
    client = make_client()
    pool = _pool(client)
    assert client.refill_presigned() == pool.size
    await client.sync_clock()
    assert len(pool) == 0 and pool.discarded == pool.size


async def test_presigning_is_off_for_other_routes_and_when_disabled(
    sim: RecordingSim, make_client: ClientFactory
) -> None:
    client = make_client()
    assert set(client.presigned) == {("POST", ORDERS)}
    client.refill_presigned()
    await client.list_accounts()  # a GET signs inline; the pool is untouched
    assert len(_pool(client)) == _pool(client).size and _pool(client).taken == 0
    off = make_client(presign=0)
    assert off.presigned == {}
    await off.create_order(OrderIntent("ps-off", "BTC-USD", "BUY", limit_gtc(
        Decimal("0.001"), Decimal("1000"))))  # fmt: skip
    assert len(_post_auths(sim)) == 1
