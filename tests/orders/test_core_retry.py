"""The pure ring of the executor: retry table, backoff, token bucket, intents, state machine."""

from __future__ import annotations

import logging
import random
from decimal import Decimal

import pytest

from botkit.errors import (
    AuthError,
    BadRequest,
    ClockSkew,
    ConnectionLost,
    IpNotAllowed,
    NotFound,
    OrderRejected,
    PermissionDenied,
    RateLimited,
    RequestTimeout,
    ServerError,
)
from botkit.net.retry_policy import Decision, RetryPolicy, backoff_delay, decide, rule_for
from botkit.net.token_bucket import TokenBucket
from botkit.orders.intents import OrderIntent, dec_str, limit_gtc, market_ioc
from botkit.orders.state import OrderStateMachine, OrderStatus, normalise_status

POLICY = RetryPolicy()


def _d(error: Exception, n: int = 1, *, idem: bool = True, suspect: bool = False) -> Decision:
    return decide(
        error,
        occurrence=n,
        idempotent=idem,
        clock_suspect=suspect,
        policy=POLICY,
        rng=random.Random(1),
    )


@pytest.mark.parametrize(
    ("error", "idem", "retry", "reason"),
    [
        (AuthError("x", status=401), False, True, "unauthorized"),
        (ClockSkew("x", status=401), False, True, "clock_skew"),
        (PermissionDenied("x", status=403), False, True, "forbidden"),
        (IpNotAllowed("x", status=403), True, False, "ip_not_allowed"),
        (PermissionDenied("x", status=403, code="PERMISSION_DENIED"), True, False, "missing_scope"),
        (IpNotAllowed("x", status=403, code="PERMISSION_DENIED"), True, False, "ip_not_allowed"),
        (RateLimited("x", status=429), False, True, "rate_limited"),
        (ServerError("x", status=500), True, True, "server_error"),
        (ServerError("x", status=500), False, False, "server_error"),
        (RequestTimeout("x"), True, True, "timeout"),
        (RequestTimeout("x"), False, False, "timeout"),
        (ConnectionLost("x"), True, True, "connection_lost"),
        (BadRequest("x", status=400), True, False, "fatal"),
        (NotFound("x", status=404), True, False, "fatal"),
        (OrderRejected("x", reason="INSUFFICIENT_FUND"), True, False, "fatal"),
    ],
)
def test_table(error: Exception, idem: bool, retry: bool, reason: str) -> None:
    d = _d(error, idem=idem)
    assert (d.retry, d.reason) == (retry, reason)


def test_401_escalates_to_resync_and_is_bounded() -> None:
    e = AuthError("x", status=401)
    assert [(_d(e, n).retry, _d(e, n).resync_clock) for n in (1, 2, 3, 4)] == [
        (True, False),
        (True, True),
        (True, True),
        (False, False),
    ]
    assert _d(e, 1, suspect=True).resync_clock  # a 401 while the clock is suspect resyncs at once


def test_bare_403_gets_exactly_one_retry() -> None:
    """A 403 without Coinbase's PERMISSION_DENIED code (a gateway page): one re-signed retry."""
    e = PermissionDenied("x", status=403)
    assert [_d(e, n).retry for n in (1, 2)] == [True, False]


def test_clock_skew_resyncs_first_time() -> None:
    assert _d(ClockSkew("x", status=401)).resync_clock


def test_429_honours_retry_after_unscaled() -> None:
    e = RateLimited("x", status=429, retry_after=2.0)
    fast = RetryPolicy().scaled(0.001)
    d = decide(
        e, occurrence=1, idempotent=True, clock_suspect=False, policy=fast, rng=random.Random()
    )
    assert d.delay == 2.0
    no_hint = decide(
        RateLimited("x", status=429), occurrence=3, idempotent=True, clock_suspect=False,
        policy=POLICY, rng=random.Random(3),
    )  # fmt: skip
    assert 0 <= no_hint.delay <= POLICY.base_delay * 4


def test_backoff_is_full_jitter_capped_and_seeded() -> None:
    delays = [backoff_delay(n, POLICY, random.Random(5)) for n in range(1, 12)]
    assert all(
        0 <= d <= min(POLICY.max_delay, POLICY.base_delay * 2 ** (n - 1))
        for n, d in enumerate(delays, 1)
    )
    assert delays == [backoff_delay(n, POLICY, random.Random(5)) for n in range(1, 12)]


def test_outcome_unknown_flags() -> None:
    assert rule_for(ServerError("x")).outcome_unknown
    assert rule_for(RequestTimeout("x")).outcome_unknown
    assert not rule_for(AuthError("x")).outcome_unknown
    assert not rule_for(RateLimited("x")).outcome_unknown


def test_token_bucket_reserves_fifo() -> None:
    b = TokenBucket(rate=10, capacity=2)
    assert [b.reserve(0.0) for _ in range(4)] == [0.0, 0.0, pytest.approx(0.1), pytest.approx(0.2)]
    assert b.reserve(1.0) == 0.0  # refilled (capped at capacity)
    assert TokenBucket(float("inf")).reserve(0.0) == 0.0


def test_intent_body_is_exact_and_decimal() -> None:
    intent = OrderIntent("c1", "BTC-USD", "BUY", limit_gtc(Decimal("1E-8"), Decimal("65000.10")))
    assert intent.body() == (
        b'{"client_order_id":"c1","product_id":"BTC-USD","side":"BUY","order_configuration":'
        b'{"limit_limit_gtc":{"base_size":"0.00000001","limit_price":"65000.10","post_only":false}}}'
    )
    with pytest.raises(TypeError):
        dec_str(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        market_ioc()
    with pytest.raises(ValueError):
        OrderIntent("", "BTC-USD", "BUY", market_ioc(quote_size=Decimal(1)))


def test_state_machine_happy_path_and_partial_fill() -> None:
    sm = OrderStateMachine()
    sm.track("a", product_id="BTC-USD", side="BUY")
    sm.apply("OPEN", client_order_id="a", order_id="o1")
    sm.apply("OPEN", order_id="o1", filled_size=Decimal("0.5"), source="ws")
    assert sm.get("a").status is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]
    sm.apply("FILLED", order_id="o1", filled_size=Decimal("1"))
    state = sm.get("a")
    assert state is not None and state.status is OrderStatus.FILLED and state.terminal
    assert state.filled_size == Decimal("1") and not sm.illegal


def test_state_machine_late_pending_is_stale_not_illegal() -> None:
    sm = OrderStateMachine()
    sm.apply("OPEN", client_order_id="c", order_id="o3", source="create")
    t = sm.apply("PENDING", order_id="o3", source="ws")  # the user channel's late first word
    assert t is not None and not t.legal and not sm.illegal
    assert sm.get("c").status is OrderStatus.OPEN  # type: ignore[union-attr]
    sm.apply("FILLED", client_order_id="c")
    sm.apply("OPEN", client_order_id="c", source="ws")  # a real regression is still flagged
    assert len(sm.illegal) == 1


def test_state_machine_cancel_path() -> None:
    sm = OrderStateMachine()
    for status in ("PENDING", "OPEN", "CANCEL_QUEUED", "CANCELLED"):
        t = sm.apply(status, client_order_id="b")
        assert t is not None and t.legal
    assert sm.get("b").status is OrderStatus.CANCELLED  # type: ignore[union-attr]


def test_illegal_transitions_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "botkit.orders")
    sm = OrderStateMachine()
    sm.apply("FILLED", client_order_id="c", filled_size=Decimal("2"))
    t = sm.apply("OPEN", client_order_id="c", filled_size=Decimal("1"))  # late, stale message
    assert t is not None and not t.legal
    state = sm.get("c")
    assert state is not None and state.status is OrderStatus.FILLED and state.filled_size == 2
    assert sm.apply("NONSENSE", client_order_id="c") is None
    assert "illegal transition FILLED -> PARTIALLY_FILLED" in caplog.text
    assert sm.apply("REJECTED", client_order_id="d") is not None
    assert not sm.apply("OPEN", client_order_id="d").legal  # type: ignore[union-attr]


def test_normalise_status() -> None:
    assert normalise_status("QUEUED", None) is OrderStatus.PENDING
    assert normalise_status("open", Decimal("0.1")) is OrderStatus.PARTIALLY_FILLED
    assert normalise_status("UNKNOWN_ORDER_STATUS", None) is None
