"""The supervisor: restart with backoff, or report a fatal failure once; bounded close."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from botkit.errors import BotkitError, ComponentFailed, JournalError
from botkit.runtime.restart import CrashHistory, RestartPolicy
from botkit.runtime.supervisor import Supervisor

FAST = RestartPolicy(max_restarts=3, window=60.0, backoff_initial=0.001, backoff_max=0.01)


def _record(fatal: list[BotkitError], reported: asyncio.Event) -> Callable[[BotkitError], None]:
    """An ``on_fatal`` that keeps every fatal error and signals the first one."""

    def on_fatal(error: BotkitError) -> None:
        fatal.append(error)
        reported.set()

    return on_fatal


def test_crash_history_backs_off_then_gives_up() -> None:
    h = CrashHistory(
        RestartPolicy(max_restarts=3, window=10.0, backoff_initial=1.0, backoff_max=3.0)
    )
    assert [h.crashed(t) for t in (0.0, 1.0, 2.0)] == [1.0, 2.0, 3.0]
    assert h.crashed(3.0) is None  # a fourth crash within 10 s


def test_crash_history_forgets_old_crashes() -> None:
    h = CrashHistory(
        RestartPolicy(max_restarts=1, window=10.0, backoff_initial=1.0, backoff_max=3.0)
    )
    assert h.crashed(0.0) == 1.0
    assert h.crashed(20.0) == 1.0  # the first is out of the window
    assert h.crashed(21.0) is None


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        RestartPolicy(window=0)
    with pytest.raises(ValueError):
        RestartPolicy(backoff_initial=2.0, backoff_max=1.0)


async def test_component_restarts_after_crashes() -> None:
    fatal: list[BotkitError] = []
    sup = Supervisor(fatal.append, policy=FAST)
    calls = 0
    third = asyncio.Event()

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RuntimeError(f"boom {calls}")
        third.set()
        await asyncio.Event().wait()

    sup.spawn("flaky", flaky)
    async with asyncio.timeout(5):
        await third.wait()
    status = sup.components["flaky"]
    assert (status.state, status.crashes, status.restarts) == ("running", 2, 2)
    assert status.last_error == "RuntimeError: boom 2"
    assert fatal == []
    assert await sup.close(1.0) == []
    assert status.state == "stopped"


async def test_component_that_keeps_crashing_stops_the_bot_once() -> None:
    fatal: list[BotkitError] = []
    done = asyncio.Event()
    sup = Supervisor(_record(fatal, done), policy=FAST)

    async def broken() -> None:
        raise ValueError("always")

    sup.spawn("broken", broken)
    sup.spawn("broken-too", broken)
    async with asyncio.timeout(5):
        await done.wait()
    assert len(fatal) == 1 and isinstance(fatal[0], ComponentFailed)
    assert fatal[0].component in ("broken", "broken-too")
    assert "ValueError: always" in str(fatal[0])
    assert sup.components[fatal[0].component].crashes == FAST.max_restarts + 1
    await sup.close(1.0)
    assert len(fatal) == 1  # reported once, whatever fails after


async def test_journal_error_is_fatal_without_restart() -> None:
    fatal: list[BotkitError] = []
    failed = asyncio.Event()
    sup = Supervisor(_record(fatal, failed), policy=FAST)
    calls = 0

    async def writer() -> None:
        nonlocal calls
        calls += 1
        raise JournalError("disk full", path="/x")

    sup.spawn("journal", writer)
    async with asyncio.timeout(5):
        await failed.wait()
    assert sup.components["journal"].state == "failed"
    assert calls == 1 and isinstance(fatal[0], JournalError)
    await sup.close(1.0)


async def test_not_restartable_component_is_fatal_on_first_crash() -> None:
    fatal: list[BotkitError] = []
    failed = asyncio.Event()
    sup = Supervisor(_record(fatal, failed), policy=FAST)

    async def once() -> None:
        raise RuntimeError("no")

    sup.spawn("once", once, restart=False)
    async with asyncio.timeout(5):
        await failed.wait()
    assert isinstance(fatal[0], ComponentFailed) and "not restartable" in str(fatal[0])
    await sup.close(1.0)


async def test_a_forever_component_that_returns_is_a_crash() -> None:
    fatal: list[BotkitError] = []
    sup = Supervisor(fatal.append, policy=FAST)
    runs = 0
    again = asyncio.Event()

    async def quits() -> None:
        nonlocal runs
        runs += 1
        if runs == 2:
            again.set()
            await asyncio.Event().wait()

    sup.spawn("quits", quits)
    sup.spawn("finite", quits, forever=False)  # returning is fine for this one
    async with asyncio.timeout(5):
        await again.wait()
    assert sup.components["quits"].crashes >= 1
    assert "returned while it should run" in (sup.components["quits"].last_error or "")
    await sup.close(1.0)
    assert fatal == []


async def test_close_is_bounded_and_names_what_would_not_stop() -> None:
    sup = Supervisor(lambda e: None, policy=FAST)
    release = asyncio.Event()
    entered = asyncio.Event()

    async def stubborn() -> None:
        entered.set()
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                await release.wait()  # ignores the first cancellation until released
                return

    sup.spawn("stubborn", stubborn)
    await entered.wait()
    assert await sup.close(0.05) == ["stubborn"]
    release.set()
    with pytest.raises(RuntimeError):
        sup.spawn("late", stubborn)
