"""The fault matrix (tests/venues/test_fault_matrix.py) for stop-limit exits on Exchange and Prime.

A stop-loss far below the market stays untriggered, so it stays *active* at the venue: on
both venues a live order's client id cannot simply be re-sent (Exchange makes a second
order, Prime refuses the duplicate), and an untriggered stop is reported in each venue's own
words (Exchange ``active``, Prime ``OPEN``) — the lookup that resolves an unknown outcome
must still find it. Each case checks the simulator's own records: exactly one order for the
client id, a stop-limit, untriggered; the journal PLACED with its id.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from botkit.errors import OrderOutcomeUnknown
from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, stop_limit
from botkit.orders.journal import OrderJournal
from tests.venues.test_fault_matrix import Venue, coid, journal, venue

__all__ = ["coid", "journal", "venue"]  # the fixtures, shared with the venues' fault matrix

pytestmark = pytest.mark.timeout(60)


def _stop(venue: Venue, coid: str) -> OrderIntent:
    """A sell stop-loss 5 % under the last trade (GTC): it rests untriggered."""
    last = venue.server.exchange.last_trade_price("BTC-USD")
    stop = (last * Decimal("0.95")).quantize(Decimal("0.01"))
    limit = (stop * Decimal("0.99")).quantize(Decimal("0.01"))
    config = stop_limit(Decimal("0.002"), limit, stop, "STOP_DIRECTION_STOP_DOWN")
    return OrderIntent(coid, "BTC-USD", "SELL", config)


def _one_untriggered_stop(venue: Venue, coid: str, order_id: str) -> None:
    [order] = venue.orders_with(coid)
    assert order["order_id"] == order_id
    assert "stop_limit_stop_limit_gtc" in order["order_configuration"]
    assert (order["status"], order["trigger_status"]) == ("OPEN", "STOP_PENDING")


@pytest.mark.parametrize(
    "fault",
    ["none", "401_once", "429", "drop_after_accept", "502_after_accept", "504_after_accept"],
)
async def test_stop_limit_placed_once_under_fault(
    venue: Venue, journal: OrderJournal, coid: str, fault: str
) -> None:
    executor = OrderExecutor(venue.client(), journal)
    faults, path = venue.server.faults, venue.create
    if fault == "401_once":
        faults.fail_next(401, path=path, method="POST")
    elif fault == "429":
        faults.fail_next(429, path=path, method="POST", retry_after=0.001)
    elif fault == "drop_after_accept":
        faults.drop_after_accept(path=path, method="POST")
    elif fault != "none":
        faults.fail_after_accept(int(fault[:3]), path=path, method="POST")
    try:
        placed = await executor.place(_stop(venue, coid))
        want = "lookup" if "after_accept" in fault else "response"
        assert placed.resolved_by == want
        _one_untriggered_stop(venue, coid, placed.order_id)
        assert journal.counts() == {"PLACED": 1}
        assert executor.native_exits == frozenset({"stop_limit"})
    finally:
        await executor.close()


@pytest.mark.parametrize("fault", ["500_before_accept", "timeout"])
async def test_unknown_stop_limit_is_resolved_once(
    venue: Venue, journal: OrderJournal, coid: str, fault: str
) -> None:
    """Not accepted (a 5xx answered first, or held past the read timeout): unknown, looked
    up (not there), then ``resolve()`` sends it once."""
    executor = OrderExecutor(venue.client(read_timeout=0.3), journal)
    if fault == "timeout":
        venue.server.faults.delay_next(0.8, path=venue.create, method="POST")
    else:
        venue.server.faults.fail_next(500, path=venue.create, method="POST")
    intent = _stop(venue, coid)
    try:
        with pytest.raises(OrderOutcomeUnknown):
            await executor.place(intent)
        assert venue.orders_with(coid) == [] and journal.counts() == {"PENDING": 1}
        placed = await executor.resolve(coid)
        _one_untriggered_stop(venue, coid, placed.order_id)
        assert journal.counts() == {"PLACED": 1}
        again = await executor.place(intent)  # the journal answers; nothing is sent
        assert (again.order_id, again.resolved_by) == (placed.order_id, "journal")
        assert len(venue.requests("POST", venue.create)) == 2
    finally:
        await executor.close()


async def test_lookup_after_restart_finds_the_live_stop(
    venue: Venue, journal: OrderJournal, coid: str
) -> None:
    """Accepted, answer lost, process gone: the next start's lookup (list by product and
    side, matched by client id) finds the untriggered stop instead of re-sending it."""
    client = venue.client()  # one key (one profile/portfolio) for both runs
    first = OrderExecutor(client, journal)
    venue.server.faults.drop_after_accept(path=venue.create, method="POST")
    venue.server.faults.fail_next(503, count=20, path=venue.lookup, method="GET")
    try:
        with pytest.raises(OrderOutcomeUnknown):
            await first.place(_stop(venue, coid))
    finally:
        await first.close()
    venue.server.faults.clear()
    second = OrderExecutor(client, OrderJournal(journal.path))
    try:
        [placed] = await second.start()
        assert placed.resolved_by == "lookup"
        _one_untriggered_stop(venue, coid, placed.order_id)
        assert len(venue.requests("POST", venue.create)) == 1
        recon = await second.reconcile(["BTC-USD"])
        assert [o.order_id for o in recon.open_orders] == [placed.order_id]
    finally:
        await second.close()
