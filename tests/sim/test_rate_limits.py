"""Coinbase's REST rate limits in botkit.sim, read by the official SDK and by botkit's client.

The simulator and botkit's client share one virtual clock here (``Virtual``): a client that
waits advances it, the simulator's token buckets refill from it, so pacing is exercised
without sleeping. The virtual time starts at the real time and moves a few seconds at most,
so the SDK's JWTs (signed with the real clock) stay valid.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import random
import secrets
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import aiohttp
import pytest
import requests
from coinbase.rest import RESTClient
from requests.adapters import HTTPAdapter

from botkit.auth.jwt import JwtSigner
from botkit.auth.keys import CdpKey
from botkit.errors import RateLimited
from botkit.net.ratelimit import RateLimiter
from botkit.net.rest_types import ApiCall, RestRequest, RestResponse
from botkit.net.retry_policy import RetryPolicy
from botkit.sim.ratelimit import RATE_LIMIT_BODY, RateLimitConfig
from botkit.sim.server import SimServer
from botkit.venues.advanced_trade.errors_map import parse_retry_after
from botkit.venues.advanced_trade.rest_client import RestClient

T = TypeVar("T")
BODY = {"errors": [{"id": "rate_limit_exceeded", "message": "Too many requests"}]}


class Virtual:
    """One clock for the simulator (``clock``), botkit's limiter, its retries and its JWTs.

    Alone, ``sleep(d)`` just moves the clock ``d`` on. For concurrent callers,
    :meth:`run_concurrently` drives time like an event loop would: it waits until every
    unfinished task is asleep (its request answered: the clock does not move while one is in
    flight), then wakes the earliest deadline and moves the clock to it. So each request
    reaches the simulator at exactly the virtual time it was sent, and no more time passes
    than the waits asked for (a rate violation cannot hide behind time running fast).
    """

    def __init__(self) -> None:
        self.t = time.time()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0
        self._changed = asyncio.Event()
        self._driven = False

    def __call__(self) -> float:
        return self.t

    def time(self) -> float:  # the signer's clock
        return self.t

    async def sleep(self, seconds: float) -> None:
        if not self._driven:
            self.t += max(0.0, seconds)
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.t + max(0.0, seconds), self._seq, future))
        self._changed.set()
        await future

    async def run_concurrently(self, coros: list[Coroutine[Any, Any, T]]) -> list[T]:
        self._driven = True
        tasks = [asyncio.create_task(c) for c in coros]
        for task in tasks:
            task.add_done_callback(lambda _: self._changed.set())
        try:
            while True:
                self._changed.clear()
                unfinished = sum(not task.done() for task in tasks)
                if unfinished == 0:
                    return [task.result() for task in tasks]
                if len(self._sleepers) < unfinished:  # someone is talking to the simulator
                    await asyncio.wait_for(self._changed.wait(), timeout=10)
                    continue
                deadline, _, future = heapq.heappop(self._sleepers)
                self.t = max(self.t, deadline)
                future.set_result(None)
        finally:
            self._driven = False
            for task in tasks:
                task.cancel()


@pytest.fixture
def vt() -> Virtual:
    return Virtual()


_OPEN: list[RESTClient] = []


def _close_sdk_sessions() -> None:
    """Close every SDK client's ``requests`` session (its sockets) before the server stops."""
    while _OPEN:
        _OPEN.pop().session.close()


def _sdk(sim: SimServer, key: CdpKey, source: str | None = None) -> RESTClient:
    client = RESTClient(
        api_key=key.name,
        api_secret=sim.secret_of(key),
        base_url=sim.authority,
        timeout=10,
        rate_limit_headers=True,
    )
    client.session.verify = str(sim.cert_path)
    client.session.trust_env = False
    if source is not None:  # another client IP: connect from another loopback address
        client.session.mount("https://", _FromAddress(source))
    _OPEN.append(client)
    return client


class _FromAddress(HTTPAdapter):
    """A requests adapter whose connections leave from ``address`` (e.g. 127.0.0.2)."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


def _sdk_429(fn: Any, *args: Any) -> requests.Response:
    """Call the SDK, expect its HTTPError for a 429, return the raw response."""
    with pytest.raises(requests.exceptions.HTTPError) as info:
        fn(*args)
    response = info.value.response
    assert response is not None and response.status_code == 429, info.value
    return response


@pytest.fixture
async def tls_sim(vt: Virtual) -> AsyncIterator[SimServer]:
    async with SimServer(seed=41, tls=True, clock=vt, tick_interval=0) as server:
        try:
            yield server
        finally:
            _close_sdk_sessions()


# -- the official SDK ---------------------------------------------------------------------------


async def test_sdk_sees_coinbase_figures_and_a_countdown(tls_sim: SimServer, vt: Virtual) -> None:
    """Default: 30/s per user on private endpoints, 10/s per IP on public ones; 429 after."""
    sdk = _sdk(tls_sim, tls_sim.add_key("ES256"))

    def private_then_public() -> list[Any]:
        return [sdk.get_accounts() for _ in range(3)] + [sdk.get_unix_time() for _ in range(3)]

    answers = await asyncio.to_thread(private_then_public)
    assert [a.rate_limit_limit for a in answers] == ["30"] * 3 + ["10"] * 3
    assert [a.rate_limit_remaining for a in answers] == ["29", "28", "27", "9", "8", "7"]
    for a in answers:  # integer epoch seconds, when the bucket is full again (< 1 s here)
        assert vt.t < int(a.rate_limit_reset) <= vt.t + 2

    def exhaust_public() -> requests.Response:
        for _ in range(7):
            sdk.get_unix_time()
        return _sdk_429(sdk.get_unix_time)

    refused = await asyncio.to_thread(exhaust_public)
    assert refused.json() == BODY == RATE_LIMIT_BODY
    assert refused.headers["x-ratelimit-limit"] == "10"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert "Retry-After" not in refused.headers  # Coinbase documents none: read the reset
    # The public bucket is empty; the private one (per user) is untouched.
    accounts = await asyncio.to_thread(sdk.get_accounts)
    assert accounts.rate_limit_remaining == "26"
    vt.t += 1.0  # a second later the public bucket is full again
    assert (await asyncio.to_thread(sdk.get_unix_time)).rate_limit_remaining == "9"
    assert tls_sim.rest.limiter.rejected == 1


async def test_sdk_private_limit_is_per_user_and_public_limit_per_ip(tls_sim: SimServer) -> None:
    tls_sim.set_rate_limits(RateLimitConfig(private_rate=3, public_rate=2))
    alice1 = _sdk(tls_sim, tls_sim.add_key("ES256", user_id="alice"))
    alice2 = _sdk(tls_sim, tls_sim.add_key("EdDSA", user_id="alice"))
    bob = _sdk(tls_sim, tls_sim.add_key("ES256", user_id="bob"))
    elsewhere = _sdk(tls_sim, tls_sim.add_key("ES256", user_id="carol"), source="127.0.0.2")

    def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["alice1"] = [alice1.get_accounts().rate_limit_remaining for _ in range(2)]
        out["alice2"] = alice2.get_accounts().rate_limit_remaining  # the same user's bucket
        out["alice2_429"] = _sdk_429(alice2.get_accounts).json()
        out["bob"] = bob.get_accounts().rate_limit_remaining  # another user: a full bucket
        out["public"] = [alice1.get_unix_time().rate_limit_remaining for _ in range(2)]
        out["public_429"] = _sdk_429(bob.get_unix_time).status_code  # same IP, other user
        out["other_ip"] = elsewhere.get_unix_time().rate_limit_remaining
        return out

    got = await asyncio.to_thread(run)
    assert got["alice1"] == ["2", "1"] and got["alice2"] == "0"
    assert got["alice2_429"] == BODY
    assert got["bob"] == "2"
    assert got["public"] == ["1", "0"] and got["public_429"] == 429
    assert got["other_ip"] == "1"

    # Per key instead of per user (a setting: Coinbase documents "per user").
    tls_sim.set_rate_limits(RateLimitConfig(private_rate=3, private_key="key"))

    def per_key() -> list[str]:
        return [c.get_accounts().rate_limit_remaining for c in (alice1, alice1, alice2)]

    assert await asyncio.to_thread(per_key) == ["2", "1", "2"]


async def test_sdk_off_switch_no_limit_no_headers(vt: Virtual) -> None:
    off = RateLimitConfig(enabled=False)
    async with SimServer(seed=42, tls=True, clock=vt, tick_interval=0, rate_limits=off) as sim:
        sdk = _sdk(sim, sim.add_key("ES256"))

        def burst() -> list[Any]:
            return [sdk.get_unix_time() for _ in range(25)]  # 2.5x the public limit, at once

        try:
            answers = await asyncio.to_thread(burst)
        finally:
            _close_sdk_sessions()
        assert all(a.rate_limit_limit is None for a in answers)  # the SDK found no header
        assert sim.rest.limiter.rejected == 0


# -- the switch, the admin API and the header variants (raw HTTP) -------------------------------


async def test_admin_api_switches_limits_and_variants_answer_as_configured(vt: Virtual) -> None:
    async with (
        SimServer(seed=43, clock=vt, tick_interval=0) as sim,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
    ):
        admin = sim.ws_market_url.replace("ws", "http", 1) + "/_sim/rate_limits"
        token = {"X-Sim-Admin-Token": sim.admin_token}
        time_url = sim.rest_url + "/time"

        async def public_burst(n: int) -> list[tuple[int, dict[str, str]]]:
            out = []
            for _ in range(n):
                async with http.get(time_url) as r:
                    await r.read()
                    out.append((r.status, {k.lower(): v for k, v in r.headers.items()}))
            return out

        async with http.post(admin, json={"enabled": False}, headers=token) as r:
            assert r.status == 200 and (await r.json())["rate_limits"]["enabled"] is False
        answers = await public_burst(15)
        assert [s for s, _ in answers] == [200] * 15
        assert not any("x-ratelimit-limit" in h for _, h in answers)

        config = {"public_rate": 4, "reset_format": "delta", "retry_after": True}
        async with http.post(admin, json=config, headers=token) as r:
            assert r.status == 200
        answers = await public_burst(5)
        assert [s for s, _ in answers] == [200] * 4 + [429]
        status, headers = answers[-1]
        assert headers["x-ratelimit-reset"] == "1.000"  # seconds until full: 4 tokens at 4/s
        assert headers["retry-after"] == "1"
        assert parse_retry_after(headers, now=vt.t) == 1.0  # botkit reads it as a delay

        async with http.post(admin, json={"public_rate": -1}, headers=token) as r:
            assert r.status == 400 and "public_rate" in (await r.json())["error"]
        async with http.post(admin, json={"enabled": False}) as r:
            assert r.status == 401  # the admin token is still required
        async with http.get(sim.ws_market_url.replace("ws", "http", 1) + "/_sim/state",
                            headers=token) as r:  # fmt: skip
            state = await r.json()
        assert state["rate_limited"] == 1 and state["rate_limits"]["public_rate"] == 4


# -- botkit's own client ------------------------------------------------------------------------


def _client(sim: SimServer, key: CdpKey, vt: Virtual, **limiter: Any) -> RestClient:
    signer = JwtSigner(key, clock=vt, nonce=secrets.token_hex)
    return RestClient(
        sim.rest_url,
        signer,
        limiter=RateLimiter(monotonic=vt, sleep=vt.sleep, **limiter),
        sleep=vt.sleep,
        wall=vt,
        rng=random.Random(3),
        policy=RetryPolicy(),
    )


@pytest.fixture
async def slow_sim(vt: Virtual) -> AsyncIterator[SimServer]:
    """A simulator far stricter than botkit's configured 30/s: 5 private requests/s."""
    limits = RateLimitConfig(private_rate=5, public_rate=2)
    async with SimServer(seed=44, clock=vt, tick_interval=0, rate_limits=limits) as sim:
        yield sim


async def test_botkit_client_sees_the_headers_count_down(slow_sim: SimServer, vt: Virtual) -> None:
    async with _client(slow_sim, slow_sim.add_key("EdDSA"), vt) as client:
        seen = []
        for _ in range(3):
            response = await client.call(ApiCall("GET", "/accounts"))
            seen.append(response.headers["x-ratelimit-remaining"])
        assert seen == ["4", "3", "2"]
        assert response.headers["x-ratelimit-limit"] == "5"
        public = await client.call(ApiCall("GET", "/time", private=False))
        assert public.headers["x-ratelimit-limit"] == "2"
        assert public.headers["x-ratelimit-remaining"] == "1"


async def test_botkit_client_paces_from_the_headers_and_never_sees_a_429(
    slow_sim: SimServer, vt: Virtual
) -> None:
    async with _client(slow_sim, slow_sim.add_key("ES256"), vt) as client:
        t0 = vt.t
        for _ in range(20):  # one after another: 4x what the simulator allows per second
            await client.list_accounts()
        assert slow_sim.rest.limiter.rejected == 0 and not client.retry_counts
        assert client.limiter.adopted == 1 and client.limiter.private.rate == 5
        assert client.limiter.holds >= 1  # "remaining: 0" held the next request to the reset
        assert vt.t - t0 >= (20 - 5) / 5  # it waited, at the server's rate
        t1 = vt.t
        # Now that it knows the limit, concurrent callers share the paced bucket too.
        await vt.run_concurrently([client.list_accounts() for _ in range(20)])
        assert slow_sim.rest.limiter.rejected == 0 and not client.retry_counts
        assert vt.t - t1 >= (20 - 5) / 5 - 1e-9
        # Public endpoints: a separate budget (2/s per IP), paced the same way.
        for _ in range(6):
            await client.server_time()
        assert slow_sim.rest.limiter.rejected == 0


async def test_without_header_pacing_the_same_calls_hit_429_and_are_retried(
    slow_sim: SimServer, vt: Virtual
) -> None:
    """The control for the test above: the configured 30/s alone is too fast for this server."""
    async with _client(slow_sim, slow_sim.add_key("ES256"), vt, follow_headers=False) as client:
        for _ in range(20):
            await client.list_accounts()  # each 429 is retried after x-ratelimit-reset
        assert slow_sim.rest.limiter.rejected > 0
        assert client.retry_counts["RateLimited"] == slow_sim.rest.limiter.rejected
        assert client.limiter.adopted == 0


async def test_botkit_client_maps_the_429_to_rate_limited_with_the_reset(
    slow_sim: SimServer, vt: Virtual
) -> None:
    unlimited = {"private_rate": float("inf"), "public_rate": float("inf")}
    async with _client(slow_sim, slow_sim.add_key("ES256"), vt, **unlimited) as client:
        client.policy = RetryPolicy(max_attempts=1)
        for _ in range(5):
            await client.call(ApiCall("GET", "/accounts"))
        with pytest.raises(RateLimited) as info:
            await client.call(ApiCall("GET", "/accounts"))
        assert info.value.status == 429 and info.value.code == "rate_limit_exceeded"
        # Integer epoch reset, rounded up: a wait between the true 1 s and 2 s.
        assert info.value.retry_after is not None and 1.0 <= info.value.retry_after <= 2.0
        assert client.limiter.holds == 0  # an unlimited client stays unlimited


class _FromLoopback2:
    """A minimal botkit transport that connects from 127.0.0.2 (another client IP)."""

    def __init__(self) -> None:
        connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        self.session = aiohttp.ClientSession(connector=connector)

    async def send(self, request: RestRequest) -> RestResponse:
        async with self.session.request(
            request.method, request.url, data=request.body or None, headers=request.headers
        ) as r:
            return RestResponse(
                r.status, await r.read(), {k.lower(): v for k, v in r.headers.items()}
            )

    async def close(self) -> None:
        await self.session.close()


async def test_botkit_public_budget_is_per_ip(slow_sim: SimServer, vt: Virtual) -> None:
    key = slow_sim.add_key("ES256")
    async with _client(slow_sim, key, vt) as here:
        first = [await here.call(ApiCall("GET", "/time", private=False)) for _ in range(2)]
        assert [r.headers["x-ratelimit-remaining"] for r in first] == ["1", "0"]
        there = RestClient(slow_sim.rest_url, None, transport=_FromLoopback2(), wall=vt)
        async with there:
            other = await there.call(ApiCall("GET", "/time", private=False))
        assert other.headers["x-ratelimit-remaining"] == "1"
        assert slow_sim.rest.limiter.rejected == 0


def test_cli_has_the_switch() -> None:
    from botkit.cli.main import _parser

    args = _parser().parse_args(["sim", "--no-rate-limits", "--public-rate", "3"])
    assert args.no_rate_limits is True and args.public_rate == 3.0
    defaults = _parser().parse_args(["sim"])
    assert (defaults.no_rate_limits, defaults.private_rate, defaults.public_rate) == (
        False,
        30.0,
        10.0,
    )


async def test_a_jump_of_the_exchange_clock_neither_stalls_nor_frees_the_buckets(
    slow_sim: SimServer, vt: Virtual
) -> None:
    """The buckets run on true time; only the epoch ``reset`` is in the exchange's clock."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def get_time() -> tuple[int, dict[str, str]]:
            async with http.get(slow_sim.rest_url + "/time") as r:
                await r.read()
                return r.status, {k.lower(): v for k, v in r.headers.items()}

        assert [(await get_time())[0] for _ in range(2)] == [200, 200]  # 2/s per IP: spent
        slow_sim.faults.clock_offset = -120.0  # the exchange's clock jumps two minutes back
        status, headers = await get_time()
        assert status == 429  # a jump frees nothing
        assert int(headers["x-ratelimit-reset"]) == math.ceil(vt.t - 120 + 1.0)
        vt.t += 1.0  # one true second later the bucket is full, though the exchange's
        assert [(await get_time())[0] for _ in range(3)] == [200, 200, 429]  # clock went back
