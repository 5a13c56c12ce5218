"""Which exits each venue takes natively (``native_exits``), as the strategy side reads it.

The strategy side (issue 17) sends an exit as the venue's own order when the kind is in
``OrderExecutor.native_exits`` and emulates it otherwise, so the set must say what each
venue's client really translates: Advanced Trade (and the paper broker's client, which is
Advanced Trade's over the in-process transport, trading Advanced Trade) all three; Exchange stop-limit only (its
create translates ``stop_limit_stop_limit_gtc``); Prime stop-limit (``STOP_LIMIT``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from botkit.clock import ManualClock
from botkit.errors import ConfigError
from botkit.market.requests import Subscription
from botkit.orders.executor import OrderExecutor
from botkit.orders.fills import FillTracker
from botkit.orders.journal import OrderJournal
from botkit.orders.venue_api import EXIT_KINDS, OrderVenue
from botkit.paper.broker import PaperBroker
from botkit.paper.journal import PaperJournal
from botkit.paper.setup import paper_client, venue_native_exits
from botkit.runtime.settings import BotSettings
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol
from botkit.venues.exchange.rest_client import ExchangeRestClient
from botkit.venues.prime.rest_client import PrimeRestClient
from tests.paper.harness import Paper

URL = "https://127.0.0.1:9/unused"  # never called: these tests read attributes only


def test_exit_kinds_are_the_three_the_strategy_side_knows() -> None:
    assert frozenset({"stop_limit", "bracket", "attached"}) == EXIT_KINDS


async def test_each_venue_client_says_what_it_translates(tmp_path: Path) -> None:
    clients: list[tuple[OrderVenue, frozenset[str]]] = [
        (RestClient(URL, None), EXIT_KINDS),
        (ExchangeRestClient(URL, None), frozenset({"stop_limit"})),
        (PrimeRestClient(URL, None, portfolio_id="pf"), frozenset({"stop_limit"})),
    ]
    try:
        for i, (client, want) in enumerate(clients):
            assert client.native_exits == want, type(client).__name__
            assert client.native_exits <= EXIT_KINDS
            # the executor passes the client's set through, unchanged
            executor = OrderExecutor(client, OrderJournal(tmp_path / f"j{i}.sqlite"))
            try:
                assert executor.native_exits == want
            finally:
                await executor.close()
    finally:
        for client, _ in clients:
            await client.close()  # type: ignore[attr-defined]


async def test_paper_client_takes_all_three(tmp_path: Path) -> None:
    """The paper broker's engine implements stop-limit, brackets and attached TP/SL."""
    p = Paper()
    journal = PaperJournal(tmp_path / "paper.sqlite", durable=False)
    broker = PaperBroker(
        p.ex,
        journal,
        now=lambda: p.now,
        on_event=lambda _e: None,
        user_session=FeedProtocol("paper-user", [Subscription("user")], fills=FillTracker()),
    )
    broker.start()
    client = paper_client(broker, BotSettings(), ManualClock(p.now), unlimited=True)
    executor = OrderExecutor(client, OrderJournal(tmp_path / "j.sqlite"))
    try:
        assert executor.native_exits == EXIT_KINDS
    finally:
        await executor.close()
        await client.close()
    # paper on another venue reports that venue's set: exits are native or emulated in
    # paper exactly as they would be live there
    for venue, want in [
        ("advanced_trade", EXIT_KINDS),
        ("exchange", ExchangeRestClient.native_exits),
        ("prime", PrimeRestClient.native_exits),
    ]:
        client = paper_client(
            broker, BotSettings(), ManualClock(p.now), unlimited=True, venue=venue
        )
        try:
            assert client.native_exits == want, venue
        finally:
            await client.close()
    assert venue_native_exits("exchange") == frozenset({"stop_limit"})
    with pytest.raises(ConfigError, match="unknown venue 'kraken'"):
        venue_native_exits("kraken")
    journal.close()


@pytest.mark.parametrize("kind", sorted(EXIT_KINDS))
def test_a_kind_outside_the_set_is_emulated(kind: str) -> None:
    """Exchange takes stop-limit only: a bracket or attached exit must be emulated there."""
    native = ExchangeRestClient.native_exits
    assert (kind in native) == (kind == "stop_limit")
