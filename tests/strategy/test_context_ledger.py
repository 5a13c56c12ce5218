"""A placed order has its fill-ledger mark as soon as the exchange answers.

Why: a restart asks the exchange about every unfinished mark (``botkit.runtime.resume``);
an order given its mark only at its first user-channel update would be forgotten by a bot
that died before that update, if it then filled and finished while the bot was down for
longer than reconciliation's window. And a ledger that cannot be written while a strategy
places (inside its hook) must still reach the runtime, which stops on it.
"""

from __future__ import annotations

import resource
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest

from botkit.auth.clock import SystemClock
from botkit.errors import JournalError
from botkit.orders.executor import OrderExecutor
from botkit.orders.journal import OrderJournal
from botkit.orders.ledger import FillLedger
from botkit.runtime.resume import mark_placed
from botkit.strategy.base import Strategy
from botkit.strategy.context import BotContext
from botkit.strategy.loader import create_strategy
from botkit.strategy.ports import ExecutorSink
from tests.orders.test_local_transport import _bid_ask, _paper


class Still(Strategy):
    """Places nothing by itself: the test places through its context."""


async def test_a_placed_order_has_its_mark_before_any_update(tmp_path: Path) -> None:
    ledger = FillLedger(tmp_path / "fills.sqlite")
    paper = _paper()
    executor = OrderExecutor(paper.client, OrderJournal(tmp_path / "journal.sqlite"))
    executor.on_placed = partial(mark_placed, ledger)  # as the runtime wires it
    ctx = BotContext("still", ExecutorSink(executor), clock=SystemClock(), ledger=ledger)
    create_strategy(Still, ctx, {})
    await ctx.start()
    try:
        bid, _ = await _bid_ask(paper.client)
        price = (bid * Decimal("0.9")).quantize(Decimal("0.01"))
        coid = await ctx.buy_limit("BTC-USD", Decimal("0.001"), price)
        order = ctx.orders.get(coid)
        assert order is not None and order.order_id
        (mark,) = ledger.unfinished()  # no update was delivered: the answer made it
        assert (mark.order_id, mark.client_order_id) == (order.order_id, coid)
        assert mark.cumulative_quantity == 0
    finally:
        await executor.close()
        await paper.client.close()
        ledger.close()


def test_a_ledger_write_that_fails_is_reported_before_it_is_raised(tmp_path: Path) -> None:
    """The mark is written inside the strategy's hook (its ``buy_limit``), and the hook
    guard leaves journal failures to their reporter: the ledger reports to ``on_failure``
    (the runtime's stop) before it raises."""
    reports: list[JournalError] = []
    ledger = FillLedger(tmp_path / "fills.sqlite", on_failure=reports.append)
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        ledger.opened("o-1", "c-1", "BTC-USD", "BUY", "OPEN")  # the file exists
        # (Python ignores SIGXFSZ: a write past the limit fails with EFBIG, as a full disk)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, limit[1]))
        try:
            with pytest.raises(JournalError) as info:
                ledger.opened("o-2", "c-2", "BTC-USD", "BUY", "OPEN")
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        assert reports == [info.value]
        assert "fill ledger" in str(info.value) and str(ledger.path) in str(info.value)
    finally:
        ledger.close()
