"""A strategy's order whose create-order ended unknown is settled in the run, not at the
next start.

An operator QA pass sent a POST into a two-minute outage: the venue took it when it came
back and filled it, while the bot kept the order PENDING for the whole run (counted open,
its fill unattributed) until a restart. ``BotContext.settle_unknown`` (the runtime calls
it after each user-channel read-back) asks the executor about each such order: found →
OPEN with its id; not found → re-sent with the same id while young, FAILED (STALE_INTENT)
once older than ``resend_max_age`` (REJECTED here), as at start-up; an order it ends is
told to the strategy's ``on_order_update`` (no venue ever sends an update of it). BotContext
→ the real executor → the simulator over loopback; the outage is the simulator's fault plan.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from botkit.errors import OrderOutcomeUnknown
from botkit.market.events import OrderUpdate
from botkit.orders.executor import OrderExecutor
from botkit.orders.journal import OrderJournal
from botkit.sim.server import SimServer
from botkit.strategy.ports import ExecutorSink
from tests.strategy.conftest import book_event, sim_client
from tests.strategy.exit_helpers import PRODUCT, Recorder, open_at_sim
from tests.strategy.test_exit_sim import context
from tests.strategy.test_exit_sim import sim as sim  # noqa: F401 - the frozen market fixture

SIZE = Decimal("0.001")


class Updates(Recorder):
    """Records its order updates too."""

    def __init__(self, ctx: object, params: object) -> None:
        super().__init__(ctx, params)
        self.updates: list[OrderUpdate] = []

    def on_order_update(self, update: OrderUpdate) -> None:
        self.updates.append(update)


def _outage(sim: SimServer, *, processed: bool) -> None:
    """Every create-order answer lost (the order taken, or never reaching the venue), and
    every lookup failing: the placement ends with an unknown outcome."""
    if processed:
        sim.faults.fail_after_accept(500, count=20)
    else:
        sim.faults.fail_next(503, count=20, path=r"/orders$", method="POST")
    sim.faults.fail_next(503, count=60, path=r"/orders/historical", method="GET")


@pytest.mark.parametrize(
    ("processed", "resend_max_age", "outcome"),
    [
        (True, 60.0, "OPEN"),  # taken during the outage: found, adopted
        (False, 60.0, "OPEN"),  # never arrived, young: sent again with the same id
        (False, 0.0, "REJECTED"),  # never arrived, stale: not sent at a price that old (STALE_INTENT)
    ],
)
async def test_an_order_of_unknown_outcome_is_settled_after_the_outage(
    sim: SimServer, tmp_path: Path, processed: bool, resend_max_age: float, outcome: str
) -> None:
    client = sim_client(sim)
    executor = OrderExecutor(
        client, OrderJournal(tmp_path / "journal.sqlite"), resend_max_age=resend_max_age
    )
    try:
        ctx, strategy = context(sim, ExecutorSink(executor), tmp_path, Updates)
        assert isinstance(strategy, Updates)
        await ctx.dispatch(book_event(sim))
        price = (sim.exchange.last_trade_price(PRODUCT) * Decimal("0.9")).quantize(Decimal("1"))
        _outage(sim, processed=processed)
        with pytest.raises(OrderOutcomeUnknown):
            await ctx.buy_limit(PRODUCT, SIZE, price)
        (coid,) = [o.client_order_id for o in ctx.open_orders()]
        assert ctx.orders.get(coid).status == "PENDING"  # type: ignore[union-attr]
        assert await ctx.settle_unknown() == 0  # the outage goes on: kept, asked again later
        counted = ctx.unknown_outcomes()  # what the health model reads
        assert counted is not None and counted[0] == 1
        sim.faults.clear()  # the venue is back
        assert await ctx.settle_unknown() == 1
        state = ctx.orders.get(coid)
        assert state is not None and state.status == outcome
        # an order settled OPEN is the user channel's to report (none here); one ended
        # here is the strategy's news now: no venue will ever send an update of it
        told = [(u.client_order_id, u.status, u.product_id, u.side) for u in strategy.updates]
        assert told == ([] if outcome == "OPEN" else [(coid, "REJECTED", PRODUCT, "BUY")])
        at_sim = [o for o in open_at_sim(sim.exchange) if o["client_order_id"] == coid]
        if outcome == "OPEN":
            assert [o["order_id"] for o in at_sim] == [state.order_id]  # one order, its id
        else:
            assert at_sim == [] and ctx.open_orders() == []
        assert await ctx.settle_unknown() == 0  # settled once
        assert ctx.unknown_outcomes() is None
        assert len(strategy.updates) == (0 if outcome == "OPEN" else 1)  # told once
    finally:
        await executor.close()
        await client.close()


async def test_an_ended_order_goes_to_the_callers_tell_not_to_the_hook(
    sim: SimServer, tmp_path: Path
) -> None:
    """The runtime settles from its read-back task while its driver dispatches events: the
    update of an order settle_unknown ended goes to ``tell`` (the runtime's event queue),
    so that hooks still run one at a time; the hook sees it when it is dispatched."""
    client = sim_client(sim)
    executor = OrderExecutor(client, OrderJournal(tmp_path / "journal.sqlite"), resend_max_age=0)
    try:
        ctx, strategy = context(sim, ExecutorSink(executor), tmp_path, Updates)
        assert isinstance(strategy, Updates)
        await ctx.dispatch(book_event(sim))
        price = (sim.exchange.last_trade_price(PRODUCT) * Decimal("0.9")).quantize(Decimal("1"))
        _outage(sim, processed=False)
        with pytest.raises(OrderOutcomeUnknown):
            await ctx.buy_limit(PRODUCT, SIZE, price)
        sim.faults.clear()
        queued: list[OrderUpdate] = []
        assert await ctx.settle_unknown(queued.append) == 1
        assert [u.status for u in queued] == ["REJECTED"] and strategy.updates == []
        await ctx.dispatch(queued[0])  # the driver's turn
        assert strategy.updates == queued
    finally:
        await executor.close()
        await client.close()
