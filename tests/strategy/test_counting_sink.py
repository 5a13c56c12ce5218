"""The runtime's list of sent ids stays bounded (issue 20): the journal keeps them all."""

from __future__ import annotations

from decimal import Decimal

import pytest

from botkit.orders.executor import OrderExecutor
from botkit.orders.intents import OrderIntent, limit_gtc
from botkit.runtime.dispatch import CountingSink
from botkit.runtime.ui import RunStats
from botkit.strategy.context import new_client_order_id


def far_bid() -> OrderIntent:
    """A bid far below the simulator's market: it rests, it never fills."""
    config = limit_gtc(Decimal("0.001"), Decimal(1000))
    return OrderIntent(new_client_order_id(), "BTC-USD", "BUY", config)


async def test_the_sent_ids_keep_only_the_latest(executor: OrderExecutor) -> None:
    ids: list[str] = []
    stats = RunStats()
    sink = CountingSink(executor, stats, ids, keep_ids=5)
    sent = []
    for _ in range(23):
        intent = far_bid()
        sent.append(intent.client_order_id)
        await sink.place(intent)
    assert stats.orders == 23
    assert 5 <= len(ids) < 10
    assert ids == sent[-len(ids) :]


async def test_every_id_is_kept_when_asked(executor: OrderExecutor) -> None:
    ids: list[str] = []
    sink = CountingSink(executor, RunStats(), ids, keep_ids=None)
    for _ in range(12):
        await sink.place(far_bid())
    assert len(ids) == 12


def test_keep_ids_must_be_positive(executor: OrderExecutor) -> None:
    with pytest.raises(ValueError, match="keep_ids"):
        CountingSink(executor, RunStats(), [], keep_ids=0)
