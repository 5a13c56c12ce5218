"""sd_notify on a real AF_UNIX datagram socket: what systemd would receive, in order.

The receiver is a SOCK_DGRAM socket bound where NOTIFY_SOCKET points (a path in a temp
dir, or an abstract name), read with ``loop.sock_recv`` under a timeout: no sleeps to
synchronise. The watchdog loop's verdict is the real health model's (``assess``), so
"the feed is held down" means what it means in the runtime.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from botkit.monitor.systemd import SdNotifier, watchdog_loop
from botkit.runtime.health import FeedState, HealthInputs, assess, watchdog_verdict

WATCHDOG_USEC = 200_000  # 0.2 s: the loop pings every 0.1 s
RECV_TIMEOUT = 5.0


class Receiver:
    """systemd's side of the notify socket."""

    def __init__(self, sock: socket.socket, env_value: str) -> None:
        self.sock = sock
        self.env_value = env_value

    async def recv(self) -> str:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(RECV_TIMEOUT):
            return (await loop.sock_recv(self.sock, 4096)).decode()

    def pending(self) -> list[str]:
        """Every datagram already queued (non-blocking)."""
        out = []
        while True:
            try:
                out.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return out

    async def until(self, pred: Callable[[str], bool]) -> list[str]:
        """Datagrams up to and including the first one ``pred`` accepts."""
        seen = []
        while True:
            seen.append(msg := await self.recv())
            if pred(msg):
                return seen


def _short_dir(tmp_path: Path) -> Iterator[Path]:
    # a unix socket path is limited to 107 bytes; pytest's tmp_path can be longer
    if len(str(tmp_path / "notify")) < 100:
        yield tmp_path
    else:
        with tempfile.TemporaryDirectory(prefix="sd") as d:
            yield Path(d)


@pytest.fixture
def path_receiver(tmp_path: Path) -> Iterator[Receiver]:
    for folder in _short_dir(tmp_path):
        path = folder / "notify"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(path))
        sock.setblocking(False)
        try:
            yield Receiver(sock, str(path))
        finally:
            sock.close()


@pytest.fixture
def abstract_receiver() -> Iterator[Receiver]:
    name = f"botkit-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    try:
        yield Receiver(sock, "@" + name)
    finally:
        sock.close()


def env(receiver: Receiver, **extra: str) -> dict[str, str]:
    return {"NOTIFY_SOCKET": receiver.env_value, "WATCHDOG_USEC": str(WATCHDOG_USEC), **extra}


class Bot:
    """The facts the runtime would feed the health model, and what systemd's STATUS shows."""

    def __init__(self) -> None:
        self.feed: FeedState = "live"
        self.calls = 0
        self.called = asyncio.Event()

    journal_ok = True

    def verdict(self) -> str:  # as the runtime feeds the watchdog
        inputs = HealthInputs(
            started=True, products={"BTC-USD": self.feed}, journal_ok=self.journal_ok
        )
        return watchdog_verdict(assess(inputs))

    def status(self) -> str:
        self.calls += 1
        self.called.set()
        return f"feed {self.feed}"

    async def ticks(self, n: int) -> None:
        """Wait until the loop has run ``n`` more times (it asks for STATUS every time)."""
        target = self.calls + n
        async with asyncio.timeout(RECV_TIMEOUT):
            while self.calls < target:
                self.called.clear()
                await self.called.wait()


@pytest.fixture
async def loop_task() -> AsyncIterator[Callable[..., asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    notifiers: list[SdNotifier] = []

    def start(notifier: SdNotifier, *args: object, **kwargs: object) -> asyncio.Task[None]:
        notifiers.append(notifier)
        tasks.append(asyncio.create_task(watchdog_loop(notifier, *args, **kwargs)))  # type: ignore[arg-type]
        return tasks[-1]

    yield start
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for notifier in notifiers:  # closed once no loop can send on them any more
        notifier.close()


@pytest.fixture
def closing() -> Iterator[Callable[[SdNotifier], SdNotifier]]:
    """Closes each notifier handed to it when the test ends, passed or failed."""
    opened: list[SdNotifier] = []

    def track(notifier: SdNotifier) -> SdNotifier:
        opened.append(notifier)
        return notifier

    yield track
    for notifier in opened:
        notifier.close()


# -- the environment ---------------------------------------------------------------------


def test_unset_notify_socket_is_a_silent_no_op() -> None:
    n = SdNotifier.from_env({"WATCHDOG_USEC": "200000"})
    assert not n.enabled
    assert n.watchdog_interval is None
    assert n.ready() is False and n.watchdog() is False and n.stopping() is False


def test_watchdog_usec_and_pid(path_receiver: Receiver) -> None:
    assert SdNotifier.from_env(env(path_receiver)).watchdog_interval == pytest.approx(0.2)
    mine = env(path_receiver, WATCHDOG_PID=str(os.getpid()))
    assert SdNotifier.from_env(mine).watchdog_interval == pytest.approx(0.2)
    # the watchdog belongs to another process (we are its child): not ours to feed
    other = env(path_receiver, WATCHDOG_PID=str(os.getpid() + 1))
    n = SdNotifier.from_env(other)
    assert n.enabled and n.watchdog_interval is None
    assert (
        SdNotifier.from_env({**env(path_receiver), "WATCHDOG_USEC": "0"}).watchdog_interval is None
    )
    assert (
        SdNotifier.from_env({**env(path_receiver), "WATCHDOG_USEC": "x"}).watchdog_interval is None
    )
    assert SdNotifier.from_env({"NOTIFY_SOCKET": path_receiver.env_value}).watchdog_interval is None


def test_a_non_unix_address_is_refused_not_fatal() -> None:
    n = SdNotifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not n.enabled and n.ready() is False


# -- messages on a real socket -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["path", "abstract"])
async def test_messages_arrive_in_order(
    kind: str,
    request: pytest.FixtureRequest,
    loop_task: Callable[..., asyncio.Task[None]],
    closing: Callable[[SdNotifier], SdNotifier],
) -> None:
    rx: Receiver = request.getfixturevalue(f"{kind}_receiver")
    n = closing(SdNotifier.from_env(env(rx)))
    bot = Bot()
    assert n.ready("starting")
    task = loop_task(n, bot.verdict, bot.status)
    await bot.ticks(3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert n.stopping("stopping")
    got = [await rx.recv() for _ in range(5)]
    assert got == [
        "READY=1\nSTATUS=starting",
        "WATCHDOG=1\nSTATUS=feed live",  # STATUS only when it changed
        "WATCHDOG=1",
        "WATCHDOG=1",
        "STOPPING=1\nSTATUS=stopping",
    ]
    assert rx.pending() == []


async def test_watchdog_stops_while_down_and_resumes(
    path_receiver: Receiver, loop_task: Callable[..., asyncio.Task[None]]
) -> None:
    rx, bot = path_receiver, Bot()
    n = SdNotifier.from_env(env(rx))
    assert n.ready()
    await rx.recv()
    loop_task(n, bot.verdict, bot.status, market_grace=0)
    await rx.until(lambda m: m == "WATCHDOG=1")

    bot.feed = "down"  # every product's market data down: the health model says down
    first = await rx.until(lambda m: "STATUS=feed down" in m)
    assert first[-1] == "STATUS=feed down", "no WATCHDOG=1 once the verdict is down"
    await bot.ticks(4)  # the loop ran 4 more times; each would have sent by now
    assert rx.pending() == [], "nothing to say while down: no WATCHDOG=1"

    bot.feed = "stale"  # degraded is not down: a restart would not cure a stale product
    assert await rx.recv() == "WATCHDOG=1\nSTATUS=feed stale"
    bot.feed = "live"
    assert await rx.recv() == "WATCHDOG=1\nSTATUS=feed live"
    assert await rx.recv() == "WATCHDOG=1"


async def test_a_market_data_outage_is_fed_for_a_grace_anything_else_down_is_not(
    path_receiver: Receiver, loop_task: Callable[..., asyncio.Task[None]]
) -> None:
    """A venue outage is not mended by a restart: withheld at once, systemd's 30 s watchdog
    killed the bot before its 60 s feed-down alert could go out (a headless QA pass). The
    grace is counted on the loop's clock; a broken journal is down at once."""
    rx, bot = path_receiver, Bot()
    n = SdNotifier.from_env(env(rx))
    loop_task(n, bot.verdict, bot.status, market_grace=3600)
    await rx.until(lambda m: m == "WATCHDOG=1")
    bot.feed = "down"
    assert await rx.recv() == "WATCHDOG=1\nSTATUS=feed down"  # still fed: in its grace
    assert await rx.recv() == "WATCHDOG=1"
    bot.journal_ok = False  # another reason to be down: no grace for it
    await bot.ticks(3)
    rx.pending()  # (a ping sent before the change)
    await bot.ticks(3)
    assert rx.pending() == []


async def test_watchdog_period_is_half_the_timeout(
    path_receiver: Receiver, loop_task: Callable[..., asyncio.Task[None]]
) -> None:
    """Counted against a reference task ticking every half timeout on the same event loop.

    A busy machine delays both alike, so the count holds at any speed (no wall-clock
    bound): a period of the full timeout would give half the pings, a busy loop far more.
    The reference's sleeps are the yardstick here, not a synchronisation.
    """
    rx, bot = path_receiver, Bot()
    n = SdNotifier.from_env(env(rx))
    assert n.watchdog_interval == WATCHDOG_USEC / 1e6
    loop_task(n, bot.verdict, bot.status)
    assert (await rx.recv()).startswith("WATCHDOG=1")  # the first one at once
    for _ in range(10):
        await asyncio.sleep(WATCHDOG_USEC / 2e6)
    pings = rx.pending()
    assert all(m.startswith("WATCHDOG=1") for m in pings), pings
    assert 9 <= len(pings) <= 11, len(pings)


async def test_without_watchdog_only_status_is_refreshed(
    path_receiver: Receiver, loop_task: Callable[..., asyncio.Task[None]]
) -> None:
    rx, bot = path_receiver, Bot()
    n = SdNotifier.from_env({"NOTIFY_SOCKET": rx.env_value})
    loop_task(n, bot.verdict, bot.status, idle_refresh=0.02)
    assert await rx.recv() == "STATUS=feed live"
    bot.feed = "stale"
    assert await rx.recv() == "STATUS=feed stale"
    await bot.ticks(3)
    assert rx.pending() == []  # never WATCHDOG=1, and STATUS only on a change


async def test_status_is_one_line_and_cannot_smuggle_an_assignment(
    path_receiver: Receiver, closing: Callable[[SdNotifier], SdNotifier]
) -> None:
    n = closing(SdNotifier.from_env(env(path_receiver)))
    assert n.status("feed ok\nREADY=1\r\n  fills 3")
    assert await path_receiver.recv() == "STATUS=feed ok READY=1 fills 3"
    assert n.status("x" * 500)
    msg = await path_receiver.recv()
    assert len(msg) == len("STATUS=") + 200 and msg.endswith("...")


# -- failures never raise ------------------------------------------------------------------


async def test_send_failure_is_logged_once_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, closing: Callable[[SdNotifier], SdNotifier]
) -> None:
    for folder in _short_dir(tmp_path):
        path = folder / "later"
        n = closing(SdNotifier.from_env({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"}))
        with caplog.at_level(logging.DEBUG, logger="botkit.systemd"):
            assert [n.ready(), n.watchdog(), n.watchdog()] == [False, False, False]
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and str(path) in warnings[0].getMessage()
        assert sum(r.levelno == logging.DEBUG for r in caplog.records) == 2

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # systemd comes back
        sock.bind(str(path))
        try:
            assert n.watchdog()
            assert sock.recv(100) == b"WATCHDOG=1"
        finally:
            sock.close()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="botkit.systemd"):
            assert n.watchdog() is False  # gone again: warned again (once)
            assert n.watchdog() is False
        assert len(caplog.records) == 1


@pytest.mark.timeout(10)  # a blocking send would hang here, not fail
def test_a_full_queue_never_blocks(
    path_receiver: Receiver, closing: Callable[[SdNotifier], SdNotifier]
) -> None:
    n = closing(SdNotifier.from_env(env(path_receiver)))
    # nobody reads: a blocking send would hang (the timeout mark fails it, at any speed)
    results = [n.status(f"line {i}") for i in range(2000)]
    assert results[0] is True and False in results
