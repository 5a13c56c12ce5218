"""Retry policy end to end: faults injected by botkit.sim, retries applied by tenacity."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from botkit.auth.clock import SystemClock
from botkit.errors import (
    AuthError,
    ConnectionLost,
    PermissionDenied,
    RateLimited,
    RequestTimeout,
    ServerError,
)
from botkit.net.retrying import CallTrace
from botkit.orders.intents import OrderIntent, limit_gtc
from tests.orders.conftest import ClientFactory, RecordingSim, Sleeps


async def test_every_attempt_is_signed_afresh(
    sim: RecordingSim, make_client: ClientFactory
) -> None:
    """With replayed nonces refused, a burst of 401s still ends in success: new JWT per attempt."""
    sim.registry.config.reject_replayed_nonces = True
    sim.faults.fail_next(401, count=2, path="/accounts$")
    c = make_client()
    page = await c.list_accounts()
    assert page.accounts
    tokens = sim.auth_headers("/accounts")
    assert len(tokens) == 3 and len(set(tokens)) == 3  # three attempts, three distinct JWTs
    assert sim.registry.last_failure == ""


async def test_401_burst_resign_then_resync(
    sim: RecordingSim, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "botkit.rest")
    sim.faults.fail_next(401, count=3, path="/key_permissions")
    c = make_client()
    trace = CallTrace()
    from botkit.net.rest_types import ApiCall

    await c.call(ApiCall("GET", "/key_permissions"), trace)
    assert trace.attempts == 4 and trace.resyncs == 2  # re-sign, then resync on repeats
    assert "after attempt 1: unauthorized" in caplog.text
    assert "after attempt 2: unauthorized (AuthError HTTP 401); resyncing clock" in caplog.text


async def test_401_forever_gives_up_with_typed_error(
    sim: RecordingSim, make_client: ClientFactory
) -> None:
    sim.faults.fail_next(401, count=50, path="/key_permissions")
    with pytest.raises(AuthError) as info:
        await make_client().key_permissions()
    assert info.value.status == 401 and "botkit doctor" in str(info.value)
    notes = "\n".join(info.value.__notes__)
    assert "gave up after 4 attempt(s)" in notes and "response body: Unauthorized" in notes


async def test_403_missing_scope_is_final_at_once(
    sim: RecordingSim, make_client: ClientFactory
) -> None:
    """PERMISSION_DENIED names a scope the key lacks: no retry can change it (issue 20)."""
    sim.faults.fail_next(403, count=5, path="/accounts$")
    with pytest.raises(PermissionDenied) as info:
        await make_client().list_accounts()
    assert "Trade" in str(info.value) and "View" in str(info.value)
    assert len(sim.auth_headers("/accounts")) == 1


async def test_bare_403_one_resigned_retry(sim: RecordingSim, make_client: ClientFactory) -> None:
    """A 403 without the code (a gateway's page) is retried once, re-signed."""
    page = "<html><title>403 Forbidden</title></html>"
    sim.faults.fail_next(403, count=5, path="/accounts$", body=page)
    with pytest.raises(PermissionDenied):
        await make_client().list_accounts()
    tokens = sim.auth_headers("/accounts")
    assert len(tokens) == 2 and tokens[0] != tokens[1]
    sim.faults.clear()
    sim.faults.fail_next(403, count=1, path="/accounts$", body=page)  # a transient one is survived
    assert (await make_client().list_accounts()).accounts


async def test_429_waits_retry_after(
    sim: RecordingSim, make_client: ClientFactory, sleeps: Sleeps
) -> None:
    sim.faults.fail_next(429, count=1, retry_after=2, path="/accounts$")
    assert (await make_client().list_accounts()).accounts
    assert sleeps.calls == [2.0]  # the server's hint, not the (tiny) test backoff


async def test_429_without_hint_uses_jittered_backoff(
    sim: RecordingSim, make_client: ClientFactory, sleeps: Sleeps
) -> None:
    sim.faults.fail_next(429, count=3, path="/accounts$")
    assert (await make_client().list_accounts()).accounts
    assert len(sleeps.calls) == 3 and len(set(sleeps.calls)) == 3
    assert all(0 <= s <= 0.001 for s in sleeps.calls)
    sim.faults.fail_next(429, count=50, path="/accounts$")
    with pytest.raises(RateLimited):
        await make_client().list_accounts()


@pytest.mark.parametrize("offset", [300.0, -300.0])
async def test_clock_skew_is_measured_and_corrected(
    sim: RecordingSim, make_client: ClientFactory, offset: float
) -> None:
    sim.faults.clock_offset = offset
    clock = SystemClock()
    c = make_client(clock=clock)
    assert (await c.key_permissions()).can_view
    assert clock.offset == pytest.approx(offset, abs=0.5)
    assert c.last_offset == pytest.approx(offset, abs=0.5)
    assert not c.clock_suspect  # corrected: no longer suspect (a later 401 only re-signs)
    before = c.resyncs
    assert (await c.list_accounts()).accounts  # corrected: no more 401s, no more resyncs
    assert c.resyncs == before


async def test_5xx_retried_for_idempotent_calls_only(
    sim: RecordingSim, make_client: ClientFactory
) -> None:
    c = make_client()
    sim.faults.fail_next(503, count=2, path="/accounts$")
    assert (await c.list_accounts()).accounts
    book = await c.product_book("BTC-USD", limit=1)
    low = (book.pricebook.bids[0].price * Decimal("0.8")).quantize(Decimal("0.01"))
    created = await c.create_order(
        OrderIntent("e-1", "BTC-USD", "BUY", limit_gtc(Decimal("0.001"), low, post_only=True))
    )
    assert created.success_response is not None
    sim.faults.fail_next(500, count=1, path="/orders/edit$")
    with pytest.raises(ServerError) as info:  # edit is not idempotent: unknown outcome surfaces
        await c.edit_order(created.success_response.order_id, price=low - 1, size=Decimal("0.002"))
    assert info.value.status == 500 and len(sim.auth_headers("/orders/edit")) == 1
    sim.faults.fail_next(500, count=50, path="/accounts$")
    with pytest.raises(ServerError):
        await c.list_accounts()


async def test_timeout_and_reset_are_retried(sim: RecordingSim, make_client: ClientFactory) -> None:
    c = make_client(read_timeout=0.2)
    sim.faults.delay_next(0.6, path="/accounts$")
    assert (await c.list_accounts()).accounts
    sim.faults.reset_next(path="/accounts$")
    assert (await c.list_accounts()).accounts
    sim.faults.reset_next(count=50, path="/accounts$")
    with pytest.raises(ConnectionLost):
        await c.list_accounts()
    sim.faults.clear()
    sim.faults.delay_next(0.6, count=50, path="/accounts$")
    c2 = make_client(read_timeout=0.05, policy=c.policy.__class__(max_attempts=2).scaled(0.001))
    with pytest.raises(RequestTimeout):
        await c2.list_accounts()
    sim.faults.clear()
