"""Finished orders leave the order state machine after a bounded retention (issue 20).

A bot that trades for weeks places millions of orders; keeping every finished one (with
its ``order_id`` index entry) grew memory by 5-20 MB an hour. A finished order is
released once it is both older than ``keep_seconds`` and not among the last
``keep_finished`` finished orders; a late update for a released order is ignored (it
must not re-create an entry that nothing would ever finish again).
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.orders.state import OrderStateMachine, OrderStatus

S = OrderStatus


def _run(machine: OrderStateMachine, n: int, *, step: float = 1.0, t0: float = 1000.0) -> float:
    """Place and finish ``n`` orders one ``step`` apart (alternately filled and cancelled)."""
    now = t0
    for i in range(n):
        coid = f"c{i}"
        machine.track(coid, product_id="BTC-USD", side="BUY")
        machine.apply("OPEN", client_order_id=coid, order_id=f"o{i}", now=now)
        final = "FILLED" if i % 2 else "CANCELLED"
        machine.apply(final, order_id=f"o{i}", filled_size=Decimal(i % 2), now=now)
        now += step
    return now


def test_a_long_run_keeps_the_machine_bounded() -> None:
    released: list[str] = []
    machine = OrderStateMachine(
        keep_finished=100,
        keep_seconds=30.0,
        on_release=lambda s: released.append(s.client_order_id),
    )
    _run(machine, 5000)
    assert len(machine) == 100
    assert machine.sizes()["order_ids"] == 100  # the order_id index shrinks with it
    assert machine.get("c4999") is not None and machine.get("c4899") is None
    assert machine.by_order_id("o4999") is not None and machine.by_order_id("o0") is None
    assert released[:3] == ["c0", "c1", "c2"] and len(released) == 4900
    assert machine.sizes()["released_ids"] <= machine.remember_released


def test_recent_finished_orders_are_kept_beyond_the_count() -> None:
    """Within ``keep_seconds`` an order stays, so its late user-channel updates still land."""
    machine = OrderStateMachine(keep_finished=10, keep_seconds=60.0)
    end = _run(machine, 200, step=0.1)  # 200 orders in 20 s
    assert len(machine) == 200
    _run(machine, 1, t0=end + 61)  # a minute later: only the last 10 remain
    assert len(machine) == 10


def test_live_orders_are_never_released() -> None:
    machine = OrderStateMachine(keep_finished=5, keep_seconds=1.0)
    for i in range(50):
        machine.apply("OPEN", client_order_id=f"live{i}", order_id=f"L{i}", now=10.0)
    _run(machine, 1000, t0=100.0)
    assert all(machine.get(f"live{i}") is not None for i in range(50))
    assert len(machine) == 55


def test_a_late_update_for_a_released_order_is_ignored_not_resurrected() -> None:
    machine = OrderStateMachine(keep_finished=10, keep_seconds=0.0)
    _run(machine, 100)
    assert machine.get("c0") is None
    size = len(machine)
    # the user channel replays an old order after a reconnect, by client id or by order id
    assert machine.apply("OPEN", client_order_id="c0", order_id="o0", now=5000.0) is None
    assert machine.apply("FILLED", order_id="o1", filled_size=Decimal(1), now=5000.0) is None
    assert machine.get("c0") is None and machine.get("order:o1") is None
    assert len(machine) == size


def test_a_late_terminal_update_for_a_forgotten_order_leaves_again() -> None:
    """Past the remembered ids, a late terminal update is tracked again, then released."""
    machine = OrderStateMachine(keep_finished=10, keep_seconds=0.0, remember_released=20)
    _run(machine, 500)
    assert machine.apply("FILLED", order_id="o0", filled_size=Decimal(1), now=9000.0)
    _run(machine, 50, t0=9001.0)
    assert machine.get("order:o0") is None
    assert len(machine) == 10


def test_tracking_a_released_id_again_is_an_explicit_restart() -> None:
    """``track`` is an intent being (re)submitted: it is honoured even for a released id."""
    machine = OrderStateMachine(keep_finished=1, keep_seconds=0.0)
    _run(machine, 10)
    assert machine.get("c0") is None
    machine.track("c0", product_id="BTC-USD", side="BUY")
    assert machine.apply("OPEN", client_order_id="c0", order_id="o0", now=20_000.0) is not None
    assert machine.get("c0") is not None and machine.get("c0").status is S.OPEN  # type: ignore[union-attr]


def test_updates_without_a_time_still_release_by_count() -> None:
    """The executor's REJECTED/FAILED carry no time: they count from the latest time seen."""
    machine = OrderStateMachine(keep_finished=10, keep_seconds=5.0)
    machine.apply("OPEN", client_order_id="first", order_id="f", now=100.0)
    for i in range(200):
        machine.track(f"r{i}")
        machine.apply("REJECTED", client_order_id=f"r{i}")
    machine.apply("CANCELLED", client_order_id="first", now=200.0)
    assert len(machine) == 10


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 300),  # order number
            st.sampled_from(["OPEN", "FILLED", "CANCELLED", "PENDING", "EXPIRED"]),
            st.floats(0, 5),  # time step
        ),
        max_size=400,
    ),
    st.integers(1, 20),
    st.floats(0, 10),
)
def test_finished_orders_held_never_exceed_the_retention(
    updates: list[tuple[int, str, float]], keep: int, keep_seconds: float
) -> None:
    """Whatever arrives, in any order: finished orders held <= keep + those inside the window."""
    machine = OrderStateMachine(keep_finished=keep, keep_seconds=keep_seconds)
    now = 1.0
    finished_at: dict[str, float] = {}
    for n, status, step in updates:
        now += step
        t = machine.apply(status, client_order_id=f"c{n}", order_id=f"o{n}", now=now)
        state = machine.get(f"c{n}")
        if t is not None and state is not None and state.terminal:
            finished_at.setdefault(f"c{n}", now)
        held = [s for s in machine.states() if s.terminal]
        recent = sum(
            1 for s in held if finished_at.get(s.client_order_id, now) > now - keep_seconds
        )
        assert len(held) <= max(keep, recent)
