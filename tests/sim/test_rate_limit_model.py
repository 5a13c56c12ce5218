"""The pure rate-limit models: the simulator's buckets and botkit's header-driven corrections."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.net.ratelimit import RateLimiter, read_rate_limit_headers
from botkit.net.token_bucket import TokenBucket
from botkit.sim.ratelimit import RateLimitConfig, SimRateLimiter

T0 = 1_800_000_000.0

gaps = st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=120)


@settings(max_examples=200, deadline=None)
@given(gaps=gaps, rate=st.sampled_from([1.0, 3.0, 10.0, 30.0]))
def test_admitted_requests_never_exceed_burst_plus_rate_times_window(
    gaps: list[float], rate: float
) -> None:
    limiter = SimRateLimiter(RateLimitConfig(private_rate=rate))
    now, admitted = T0, []
    for gap in gaps:
        now += gap
        decision = limiter.check("private", "u", now)
        assert decision is not None
        assert 0 <= decision.remaining <= decision.limit == int(rate)
        assert 0 <= decision.reset_in <= decision.limit / rate + 1e-9
        if decision.allowed:
            admitted.append(now)
        else:
            assert decision.remaining == 0 and 0 < decision.retry_in <= 1 / rate + 1e-9
    for i, start in enumerate(admitted):  # every window [start, end]
        for j in range(i, len(admitted)):
            window = admitted[j] - start
            assert j - i + 1 <= rate + rate * window + 1e-6


@settings(max_examples=200, deadline=None)
@given(gaps=gaps)
def test_waiting_until_the_announced_reset_is_always_enough(gaps: list[float]) -> None:
    """A client that waits for ``reset`` after ``remaining: 0`` gets a full bucket back."""
    limiter = SimRateLimiter(RateLimitConfig(public_rate=10))
    now = T0
    for gap in gaps:
        now += gap
        decision = limiter.check("public", "1.2.3.4", now)
        assert decision is not None
        headers = limiter.headers(decision)
        reset = int(headers["x-ratelimit-reset"])
        assert reset == math.ceil(now + decision.reset_in) >= now
    later = float(reset)
    burst = [limiter.check("public", "1.2.3.4", later) for _ in range(11)]
    assert [d.allowed for d in burst if d is not None] == [True] * 10 + [False]


def test_identities_and_scopes_are_separate_and_off_means_none() -> None:
    limiter = SimRateLimiter(RateLimitConfig(private_rate=1, public_rate=1))
    assert limiter.check("private", "a", T0).allowed  # type: ignore[union-attr]
    assert not limiter.check("private", "a", T0).allowed  # type: ignore[union-attr]
    assert limiter.check("private", "b", T0).allowed  # type: ignore[union-attr]
    assert limiter.check("public", "a", T0).allowed  # type: ignore[union-attr]
    assert limiter.rejected == 1
    assert SimRateLimiter(RateLimitConfig(enabled=False)).check("private", "a", T0) is None


def test_config_refuses_nonsense_with_the_field_name() -> None:
    with pytest.raises(ValueError, match="private_rate"):
        RateLimitConfig(private_rate=0)
    with pytest.raises(ValueError, match="reset_format"):
        RateLimitConfig(reset_format="iso")  # type: ignore[arg-type]
    assert RateLimitConfig(private_burst=60).capacity("private") == 60
    assert RateLimitConfig().capacity("public") == 10


def test_forgets_full_buckets_past_the_cap() -> None:
    limiter = SimRateLimiter(RateLimitConfig())
    limiter.MAX_BUCKETS = 3
    for ip in ("a", "b", "c"):
        limiter.check("public", ip, T0)
    limiter.check("public", "d", T0 + 5)  # a, b, c are full again by now
    assert set(limiter._buckets) == {("public", "d")}


# -- botkit's side ----------------------------------------------------------------------------


def test_headers_are_read_as_epoch_or_delta() -> None:
    now = T0
    assert read_rate_limit_headers(
        {"x-ratelimit-limit": "30", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(T0 + 2)},
        now,
    ) == (30, 0, 2.0)
    assert read_rate_limit_headers({"x-ratelimit-reset": "0.250"}, now) == (None, None, 0.25)
    assert read_rate_limit_headers({"x-ratelimit-remaining": "nan"}, now) == (None, None, None)
    assert read_rate_limit_headers({"x-ratelimit-remaining": "-1"}, now) == (None, None, None)
    assert read_rate_limit_headers({}, now) == (None, None, None)


def test_bucket_hold_cap_and_adopt() -> None:
    bucket = TokenBucket(10.0)
    bucket.hold(0.0, 0.5)
    assert bucket.reserve(0.0) == pytest.approx(0.5)  # the server said: none left for 0.5 s
    fresh = TokenBucket(10.0)
    fresh.cap(0.0, 2.0)
    assert fresh.reserve(0.0) == 0 and fresh.reserve(0.0) == 0 and fresh.reserve(0.0) > 0
    assert fresh.adopt(5.0) and (fresh.rate, fresh.capacity) == (5.0, 5.0)
    assert not fresh.adopt(8.0)  # a higher announced limit is not adopted
    off = TokenBucket(float("inf"))
    assert not off.adopt(5.0)
    off.hold(0.0, 10.0)
    assert off.reserve(0.0) == 0  # off stays off


async def test_limiter_observe_adopts_caps_and_holds() -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    limiter = RateLimiter(30, 10, monotonic=lambda: now[0], sleep=sleep)
    limiter.observe(True, {"x-ratelimit-limit": "5", "x-ratelimit-remaining": "2"}, T0)
    assert limiter.adopted == 1 and limiter.private.rate == 5
    await limiter.acquire(True)
    await limiter.acquire(True)
    assert waits == []
    await limiter.acquire(True)
    assert waits == [pytest.approx(0.2)]  # capped at the server's 2, then 5/s
    hdrs = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(T0) + 3)}
    limiter.observe(False, hdrs, T0)
    await limiter.acquire(False)
    assert limiter.holds == 1 and waits[-1] == pytest.approx(3.0)
    quiet = RateLimiter(30, 10, follow_headers=False)
    quiet.observe(True, {"x-ratelimit-limit": "1", "x-ratelimit-remaining": "0"}, T0)
    assert quiet.adopted == 0 and quiet.private.rate == 30
