"""The executor's fault matrix, run the same way on the Exchange and the Prime dialect.

One parametrized module instead of one copy per venue: every case arms the simulator's fault
plan (``server.faults``), places one order through :class:`botkit.orders.executor.OrderExecutor`
with the venue's own REST client over loopback, and checks three records that the client
does not control: the requests the server saw, the orders the simulated exchange holds for
the client id (a duplicate would show: the dialects suffix the engine's copy of a repeated
id with ``~``), and the journal's state.

Both venues' create-order is **not** idempotent (neither deduplicates the client id once an
order is done), so an unknown outcome (reset, 5xx, timeout) is never re-sent by the client;
the executor resolves it by looking the client id up. A 5xx answered *before* the order was
accepted therefore ends OrderOutcomeUnknown (intent PENDING, nothing at the exchange) until
:meth:`~botkit.orders.executor.OrderExecutor.resolve` (what the next start runs) looks again
and re-sends it once: that is how "5xx is retried" reads on these venues.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from botkit.auth.clock import SystemClock
from botkit.errors import AuthError, OrderOutcomeUnknown, PermissionDenied
from botkit.net.ratelimit import RateLimiter
from botkit.net.retry_policy import RetryPolicy
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, limit_gtc, market_ioc
from botkit.orders.journal import OrderJournal
from botkit.sim.exchange import SimMarketConfig
from botkit.sim.exchange_rest import ExchangeSimServer
from botkit.sim.prime_rest import PrimeSimServer
from botkit.venues.exchange.rest_client import ExchangeRestClient
from botkit.venues.exchange.settings import ExchangeVenueSettings
from botkit.venues.prime.rest_client import PrimeRestClient
from botkit.venues.prime.settings import PrimeVenueSettings
from tests.orders.conftest import Sleeps

pytestmark = pytest.mark.timeout(60)
FAST = RetryPolicy().scaled(0.001)  # backoffs of a fraction of a millisecond
Seen = list[tuple[str, str, dict[str, str]]]
Client = ExchangeRestClient | PrimeRestClient
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _recorder(seen: Seen) -> Any:
    """An outermost middleware noting every request (method, path, headers) as it arrives."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen.append((request.method, request.path, dict(request.headers)))
        return await handler(request)

    return record


class RecordingExchange(ExchangeSimServer):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.seen: Seen = []

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.middlewares.insert(0, _recorder(self.seen))
        return app


class RecordingPrime(PrimeSimServer):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.seen: Seen = []

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.middlewares.insert(0, _recorder(self.seen))
        return app


@dataclass
class Venue:
    """One dialect server plus what a case needs to know about it.

    Attributes:
        name: ``exchange`` or ``prime``.
        server: the recording dialect server.
        create: regex of the create-order path (POST), for the fault plan.
        lookup: regex of the list-orders path (GET) the executor's lookup reads.
        time_path: regex of the path the client reads the venue's clock from.
        sign_header: the header carrying the HMAC signature.
        make: builds a client for (key, can_trade) with RestClientBase options.
    """

    name: str
    server: RecordingExchange | RecordingPrime
    create: str
    lookup: str
    time_path: str
    sign_header: str
    make: Callable[..., Client]
    clients: list[Client] = field(default_factory=list)
    owner: str = ""  # the profile / portfolio of the last client made

    def client(self, *, can_trade: bool = True, **kw: Any) -> Client:
        kw.setdefault("policy", FAST)
        kw.setdefault("rng", random.Random(5))
        kw.setdefault("limiter", RateLimiter(float("inf"), float("inf")))
        kw.setdefault("read_timeout", 5.0)
        client = self.make(can_trade, **kw)
        self.clients.append(client)
        return client

    def orders_with(self, coid: str) -> list[dict[str, Any]]:
        """The exchange's own records (not the client's view) of orders with this client id."""
        return [
            o
            for o in self.server.exchange.list_orders(self.owner, {})
            if str(o["client_order_id"]).split("~")[0] == coid
        ]

    def requests(self, method: str, pattern: str) -> list[dict[str, str]]:
        """Headers of every request the server saw for ``method`` and a path matching."""
        return [h for m, p, h in self.server.seen if m == method and re.search(pattern, p)]


def _exchange(server: RecordingExchange) -> Venue:
    venue: Venue

    def make(can_trade: bool, **kw: Any) -> ExchangeRestClient:
        key = server.add_key(can_trade=can_trade)
        venue.owner = key.profile_id
        settings = ExchangeVenueSettings(
            api_key=key.key,
            api_secret=SecretStr(key.secret),
            passphrase=SecretStr(key.passphrase),
            rest_url=server.rest_url,
        )
        return ExchangeRestClient.from_settings(settings, clock=SystemClock(), **kw)

    venue = Venue(
        "exchange", server, r"^/orders$", r"^/orders$", r"^/time$", "CB-ACCESS-SIGN", make
    )
    return venue


def _prime(server: RecordingPrime) -> Venue:
    venue: Venue

    def make(can_trade: bool, **kw: Any) -> PrimeRestClient:
        key = server.add_key(can_trade=can_trade)
        venue.owner = key.portfolio_ids[0]
        settings = PrimeVenueSettings(
            access_key=key.access_key,
            signing_key=SecretStr(key.signing_key),
            passphrase=SecretStr(key.passphrase),
            portfolio_id=key.portfolio_ids[0],
            entity_id=key.entity_id,
            service_account_id=key.svc_account_id,
            rest_url=server.rest_url,
        )
        return PrimeRestClient.from_settings(settings, clock=SystemClock(), **kw)

    # Prime has no time endpoint: the client reads the Date header of an unsigned GET
    venue = Venue(
        "prime",
        server,
        r"/portfolios/[^/]+/order$",
        r"/portfolios/[^/]+/orders$",
        r"^/v1/portfolios$",
        "X-CB-ACCESS-SIGNATURE",
        make,
    )
    return venue


@pytest.fixture(params=["exchange", "prime"])
async def venue(request: pytest.FixtureRequest) -> AsyncIterator[Venue]:
    market = SimMarketConfig(cancel_latency_steps=0)
    server: RecordingExchange | RecordingPrime
    if request.param == "exchange":
        server = RecordingExchange(seed=61, market=market, tick_interval=0.05)
    else:
        server = RecordingPrime(seed=62, market=market, tick_interval=0.05)
    async with server:
        v = _exchange(server) if isinstance(server, RecordingExchange) else _prime(server)
        yield v
        for client in v.clients:
            await client.close()


@pytest.fixture
def journal(tmp_path: Path) -> OrderJournal:
    return OrderJournal(tmp_path / "journal.sqlite")


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def coid() -> Iterator[str]:
    yield str(uuid.uuid4())  # Exchange requires a UUID client_oid; Prime takes any


def _limit(coid: str) -> OrderIntent:
    """A resting post-only buy far below the market: it stays OPEN, so nothing moves under it."""
    return OrderIntent(coid, "BTC-USD", "BUY", limit_gtc(Decimal("0.002"), Decimal("1000.00"),
                                                        post_only=True))  # fmt: skip


def _market(coid: str) -> OrderIntent:
    """A market buy: done at once, so neither venue would refuse its client id a second time."""
    return OrderIntent(coid, "BTC-USD", "BUY", market_ioc(quote_size=Decimal("50")))


def _kinds(venue: Venue) -> list[str]:
    return [kind for kind, _, _ in venue.server.faults.history]


# -- refused before acting: the client retries (a fresh signature each time) ---------------


async def test_401_once_is_resigned_and_placed(
    venue: Venue, journal: OrderJournal, coid: str
) -> None:
    client = venue.client()
    executor = OrderExecutor(client, journal)
    venue.server.faults.fail_next(401, path=venue.create, method="POST")
    placed = await executor.place(_limit(coid))
    assert placed.resolved_by == "response" and _kinds(venue) == ["status"]
    attempts = venue.requests("POST", venue.create)
    assert len(attempts) == 2 and all(h.get(venue.sign_header) for h in attempts)
    assert client.resyncs == 0  # a first 401 is only re-signed
    [order] = venue.orders_with(coid)
    assert order["order_id"] == placed.order_id and order["status"] == "OPEN"
    assert journal.counts() == {"PLACED": 1}
    await executor.close()


async def test_401_that_persists_ends_typed_failed_with_nothing_placed(
    venue: Venue, journal: OrderJournal, coid: str
) -> None:
    client = venue.client()
    executor = OrderExecutor(client, journal)
    venue.server.faults.fail_next(401, count=50, path=venue.create, method="POST")
    with pytest.raises(AuthError) as refused:
        await executor.place(_limit(coid))
    assert refused.value.status == 401 and "doctor" in str(refused.value)
    assert len(venue.requests("POST", venue.create)) == 4  # re-sign, then resync, then give up
    assert client.resyncs >= 1
    assert venue.orders_with(coid) == [] and journal.counts() == {"FAILED": 1}
    await executor.close()


@pytest.mark.parametrize("offset", [90.0, -90.0])
async def test_clock_beyond_the_window_is_resynced_from_the_venue(
    venue: Venue, journal: OrderJournal, coid: str, offset: float
) -> None:
    """The venue's clock is 90 s off ours (the window is 30 s): every signature is refused
    until the client reads the venue's clock (Exchange: GET /time; Prime: a Date header)."""
    client = venue.client()
    venue.server.faults.clock_offset = offset
    executor = OrderExecutor(client, journal)
    placed = await executor.place(_limit(coid))
    assert placed.resolved_by == "response" and client.resyncs == 1
    assert client.last_offset is not None and abs(client.last_offset - offset) < 2.0
    assert len(venue.requests("GET", venue.time_path)) == 1
    assert len(venue.requests("POST", venue.create)) == 2  # refused, then placed
    assert len(venue.orders_with(coid)) == 1 and journal.counts() == {"PLACED": 1}
    await executor.close()


async def test_key_without_trade_permission_is_refused_typed_and_not_retried(
    venue: Venue, journal: OrderJournal, coid: str
) -> None:
    client = venue.client(can_trade=False)
    executor = OrderExecutor(client, journal)
    with pytest.raises(PermissionDenied) as refused:
        await executor.place(_market(coid))
    assert refused.value.status == 403 and "Trade permission" in str(refused.value)
    assert len(venue.requests("POST", venue.create)) == 1  # a key's permissions do not change
    assert venue.orders_with(coid) == [] and journal.counts() == {"FAILED": 1}
    await executor.close()


@pytest.mark.parametrize("retry_after", [1.5, None])
async def test_429_backs_off_and_places(
    venue: Venue, journal: OrderJournal, coid: str, sleeps: Sleeps, retry_after: float | None
) -> None:
    """With ``Retry-After`` the client waits exactly that (never scaled: earlier only earns
    another 429); without it, jittered exponential backoff (here the test's tiny policy)."""
    client = venue.client(sleep=sleeps)
    executor = OrderExecutor(client, journal)
    venue.server.faults.fail_next(
        429, count=2, path=venue.create, method="POST", retry_after=retry_after
    )
    placed = await executor.place(_limit(coid))
    assert placed.resolved_by == "response" and _kinds(venue) == ["status", "status"]
    if retry_after is None:
        assert len(sleeps.calls) == 2 and all(0 <= s <= FAST.base_delay * 2 for s in sleeps.calls)
    else:
        assert sleeps.calls == [retry_after, retry_after]
    assert len(venue.requests("POST", venue.create)) == 3
    assert len(venue.orders_with(coid)) == 1 and journal.counts() == {"PLACED": 1}
    await executor.close()


# -- unknown outcomes: never re-sent blindly, resolved by the client id ----------------------


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_before_accept_is_looked_up_then_resent_once(
    venue: Venue, journal: OrderJournal, coid: str, status: int
) -> None:
    client = venue.client()
    executor = OrderExecutor(client, journal)
    venue.server.faults.fail_next(status, path=venue.create, method="POST")
    intent = _market(coid)
    with pytest.raises(OrderOutcomeUnknown):
        await executor.place(intent)
    assert len(venue.requests("POST", venue.create)) == 1  # not re-sent blindly
    assert len(venue.requests("GET", venue.lookup)) == 1  # looked up: not there
    assert venue.orders_with(coid) == [] and journal.counts() == {"PENDING": 1}

    placed = await executor.resolve(coid)  # what the next start does: look, then re-send
    assert placed.resolved_by == "response"
    assert len(venue.requests("POST", venue.create)) == 2
    [order] = venue.orders_with(coid)
    assert order["order_id"] == placed.order_id and order["status"] == "FILLED"
    assert journal.counts() == {"PLACED": 1}
    again = await executor.place(intent)  # answered by the journal, not sent
    assert (again.order_id, again.resolved_by) == (placed.order_id, "journal")
    assert len(venue.requests("POST", venue.create)) == 2
    await executor.close()


@pytest.mark.parametrize("fault", ["drop_after_accept", "502_after_accept", "504_after_accept"])
async def test_accepted_then_lost_is_found_by_client_id_not_duplicated(
    venue: Venue, journal: OrderJournal, coid: str, fault: str
) -> None:
    """A market order fills at once, so a re-send of its id would be a second order on both
    venues; the executor must find it instead."""
    client = venue.client()
    executor = OrderExecutor(client, journal)
    faults = venue.server.faults
    if fault == "drop_after_accept":
        faults.drop_after_accept(path=venue.create, method="POST")
    else:
        faults.fail_after_accept(int(fault[:3]), path=venue.create, method="POST")
    placed = await executor.place(_market(coid))
    assert placed.resolved_by == "lookup"
    assert len(venue.requests("POST", venue.create)) == 1
    [order] = venue.orders_with(coid)
    assert order["order_id"] == placed.order_id and order["status"] == "FILLED"
    assert journal.counts() == {"PLACED": 1}
    await executor.close()


@pytest.mark.parametrize("status", [503, 401, 429])
async def test_a_failing_lookup_is_retried_and_the_order_found(
    venue: Venue, journal: OrderJournal, coid: str, status: int
) -> None:
    """The lookup is a GET: safe to repeat, so even its 5xx is retried (with backoff), as
    are a 401 (re-signed) and a 429."""
    client = venue.client()
    executor = OrderExecutor(client, journal)
    venue.server.faults.drop_after_accept(path=venue.create, method="POST")
    venue.server.faults.fail_next(status, count=2, path=venue.lookup, method="GET")
    placed = await executor.place(_market(coid))
    assert placed.resolved_by == "lookup"
    assert _kinds(venue) == ["drop_after_accept", "status", "status"]
    assert len(venue.requests("GET", venue.lookup)) == 3
    assert len(venue.orders_with(coid)) == 1 and journal.counts() == {"PLACED": 1}
    await executor.close()


@pytest.mark.parametrize("offset", [400.0, -400.0])
async def test_a_reset_hiding_a_skew_refusal_places_nothing_until_resolved(
    venue: Venue, journal: OrderJournal, coid: str, offset: float
) -> None:
    """The venue's clock is 400 s off and the connection of the first create is reset after
    the venue answered it: that answer was the skew refusal, so nothing exists. The executor
    must not call it placed nor re-send blindly: unknown, then the lookup (which resyncs the
    clock on its own refusal) finds nothing; resolve() then sends it once, correctly signed."""
    client = venue.client()
    executor = OrderExecutor(client, journal)
    venue.server.faults.clock_offset = offset
    venue.server.faults.drop_after_accept(path=venue.create, method="POST")
    with pytest.raises(OrderOutcomeUnknown):
        await executor.place(_market(coid))
    assert client.resyncs == 1 and venue.orders_with(coid) == []
    assert journal.counts() == {"PENDING": 1}
    placed = await executor.resolve(coid)
    assert placed.resolved_by == "response"
    assert len(venue.requests("POST", venue.create)) == 2
    [order] = venue.orders_with(coid)
    assert order["order_id"] == placed.order_id and journal.counts() == {"PLACED": 1}
    await executor.close()


async def test_delay_within_the_read_timeout_is_one_order(
    venue: Venue, journal: OrderJournal, coid: str
) -> None:
    client = venue.client(read_timeout=5.0)
    executor = OrderExecutor(client, journal)
    venue.server.faults.delay_next(0.3, path=venue.create, method="POST")
    placed = await executor.place(_market(coid))
    assert placed.resolved_by == "response" and _kinds(venue) == ["delay"]
    assert len(venue.requests("POST", venue.create)) == 1
    assert len(venue.orders_with(coid)) == 1 and journal.counts() == {"PLACED": 1}
    await executor.close()


async def test_delay_beyond_the_read_timeout_is_unknown_then_resolved_once(
    venue: Venue, journal: OrderJournal, coid: str
) -> None:
    """The client gives up at its read timeout: unknown, not re-sent, looked up; then resolved
    once. (The simulator's delay holds the request *before* reading it, so a request whose
    client left is never accepted: a late-landing original is not simulated here.)"""
    client = venue.client(read_timeout=0.3)
    executor = OrderExecutor(client, journal)
    venue.server.faults.delay_next(0.8, path=venue.create, method="POST")
    with pytest.raises(OrderOutcomeUnknown):
        await executor.place(_market(coid))
    assert _kinds(venue) == ["delay"] and journal.counts() == {"PENDING": 1}
    assert len(venue.requests("POST", venue.create)) == 1
    assert len(venue.requests("GET", venue.lookup)) == 1
    placed = await executor.resolve(coid)
    assert placed.resolved_by == "response"
    assert len(venue.requests("POST", venue.create)) == 2
    [order] = venue.orders_with(coid)
    assert order["order_id"] == placed.order_id and order["status"] == "FILLED"
    assert journal.counts() == {"PLACED": 1}
    await executor.close()


async def test_a_lookup_that_fails_at_resolution_sends_nothing_again(
    venue: Venue, journal: OrderJournal, coid: str
) -> None:
    """The order was accepted but its answer lost, and at the resolution (the next start)
    the lookup fails too. The executor re-sent it anyway ("the id deduplicates"), true on
    Advanced Trade only: on these venues that was a second order. It stays unknown."""
    client = venue.client()
    executor = OrderExecutor(client, journal)
    faults = venue.server.faults
    faults.drop_after_accept(path=venue.create, method="POST")
    faults.fail_next(503, count=100, path=venue.lookup, method="GET")
    with pytest.raises(OrderOutcomeUnknown):
        await executor.place(_market(coid))
    with pytest.raises(OrderOutcomeUnknown, match="does not deduplicate"):
        await executor.resolve(coid)
    assert len(venue.requests("POST", venue.create)) == 1  # never a second POST
    assert len(venue.orders_with(coid)) == 1 and journal.counts() == {"PENDING": 1}
    faults.clear()
    placed = await executor.resolve(coid)  # a lookup that answers: found, nothing sent
    assert placed.resolved_by == "lookup" and len(venue.requests("POST", venue.create)) == 1
    await executor.close()
