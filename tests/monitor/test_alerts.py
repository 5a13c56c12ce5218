"""The Alerter against a real local receiver: apprise's ``json://`` to a 127.0.0.1 aiohttp
server started here. No sleeps to synchronise: the receiver's handler signals arrivals."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from botkit.errors import ConfigError
from botkit.monitor.alert_rules import Alert, AlertRules
from botkit.monitor.alerts import Alerter, redact_url
from botkit.runtime.health import HealthInputs, assess

CANARY = "CANARYn0t1fyT0k3n"


class Receiver:
    """A webhook endpoint: records each JSON post; can answer late, never, or with an error."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.arrived = asyncio.Condition()
        self.started = asyncio.Event()  # set when a request reaches the handler
        self.hold: asyncio.Event | None = None  # answer only once this is set
        self.delay = 0.0  # answer after this long (a slow receiver)
        self.status = 200
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.started.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.delay:
            await asyncio.sleep(self.delay)  # the slowness under test, not synchronisation
        async with self.arrived:
            self.posts.append((request.path, payload))
            self.arrived.notify_all()
        return web.Response(status=self.status, text="ok")

    async def wait_for(self, n: int, within: float = 10.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: len(self.posts) >= n)
        return [p for _, p in self.posts]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)  # it would log the paths
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        assert self._runner is not None
        await self._runner.cleanup()

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


class Running:
    """``alerter.run()`` as a task for the test's duration; checks it never ended."""

    def __init__(self, alerter: Alerter) -> None:
        self.alerter = alerter
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Alerter:
        self.task = asyncio.create_task(self.alerter.run())
        return self.alerter

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        assert not self.task.done(), "run() ended: it must run until cancelled"
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def dead_port() -> int:
    """A 127.0.0.1 port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


A = Alert("feed:BTC-USD", "warning", "BTC-USD market data down", "down for 61 s")


async def test_alerts_arrive_with_title_body_and_type(receiver: Receiver) -> None:
    alerter = Alerter([receiver.url("hooks/abc")], title_prefix="bot-1")
    async with Running(alerter):
        assert alerter.send(Alert("started", "info", "started: mm (sim)", "on BTC-USD"))
        assert alerter.send(A)
        assert alerter.send(Alert("kill-switch", "failure", "kill switch tripped", "loss"))
        posts = await receiver.wait_for(3)
        assert await alerter.flush(within=5.0)  # the counters follow the answers
    assert [(p["title"], p["message"], p["type"]) for p in posts] == [
        ("bot-1: started: mm (sim)", "on BTC-USD", "info"),
        ("bot-1: BTC-USD market data down", "down for 61 s", "warning"),
        ("bot-1: kill switch tripped", "loss", "failure"),
    ]
    assert {path for path, _ in receiver.posts} == {"/hooks/abc"}
    assert (alerter.sent, alerter.failed, alerter.suppressed) == (3, 0, 0)


async def test_every_url_gets_each_alert(receiver: Receiver) -> None:
    alerter = Alerter([receiver.url("one"), SecretStr(receiver.url("two"))])
    async with Running(alerter):
        alerter.send(A)
        await receiver.wait_for(2)
        assert await alerter.flush(within=5.0)
    assert sorted(path for path, _ in receiver.posts) == ["/one", "/two"]
    assert alerter.sent == 2


async def test_rules_through_the_alerter_dedupe_a_long_outage(receiver: Receiver) -> None:
    """A feed down for two hours, assessed every second: one alert, then one recovery."""
    rules = AlertRules(feed_down_after=60, repeat_after=3600)
    alerter = Alerter([receiver.url()])
    down = assess(HealthInputs(started=True, products={"BTC-USD": "down", "ETH-USD": "live"}))
    live = assess(HealthInputs(started=True, products={"BTC-USD": "live", "ETH-USD": "live"}))
    async with Running(alerter):
        for now in range(7200):
            alerter.send_all(rules.on_health(down, now=float(now)))
        alerter.send_all(rules.on_health(live, now=7200.0))
        posts = await receiver.wait_for(2)
        assert await alerter.flush(within=5.0)
    assert [(p["type"], p["title"]) for p in posts] == [
        ("warning", "botkit: BTC-USD market data down"),
        ("info", "botkit: BTC-USD market data live again"),
    ]
    assert len(receiver.posts) == 2 and alerter.suppressed == 0


async def test_rate_limit_keeps_room_for_failures_and_tells_what_it_dropped(
    receiver: Receiver,
) -> None:
    clock = [0.0]
    alerter = Alerter([receiver.url()], max_per_hour=5, monotonic=lambda: clock[0])
    warnings = [alerter.send(Alert(f"w{i}", "warning", f"w{i}", "x")) for i in range(10)]
    assert warnings == [True] * 4 + [False] * 6  # a fifth of the budget kept for failures
    assert alerter.send(Alert("k", "failure", "kill switch tripped", "loss"))
    assert not alerter.send(Alert("k2", "failure", "journal", "disk"))  # budget used up
    assert alerter.suppressed == 7
    clock[0] = 3599.0
    assert not alerter.send(A)
    clock[0] = 3600.0  # the first ones are an hour old: room again
    assert alerter.send(Alert("later", "warning", "later", "body"))
    async with Running(alerter):
        posts = await receiver.wait_for(6)
        assert await alerter.flush(within=5.0)
    assert [p["title"] for p in posts] == [
        "botkit: w0",
        "botkit: w1",
        "botkit: w2",
        "botkit: w3",
        "botkit: kill switch tripped",
        "botkit: later",
    ]
    assert "6 earlier alert(s) suppressed" in posts[4]["message"]  # w4..w9
    assert "2 earlier alert(s) suppressed" in posts[5]["message"]  # k2, A
    assert (alerter.sent, alerter.suppressed) == (6, 8)


async def test_full_queue_refuses() -> None:
    alerter = Alerter([f"json://127.0.0.1:{dead_port()}/x"], max_queue=2)
    assert alerter.send(A) and alerter.send(A)
    assert not alerter.send(A)
    assert (alerter.suppressed, alerter.queued) == (1, 2)


async def test_dead_receiver_is_counted_and_logged_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    port = dead_port()
    alerter = Alerter([f"json://admin:{CANARY}pw@127.0.0.1:{port}/{CANARY}"])
    async with Running(alerter):
        assert alerter.send(A)
        assert await alerter.flush(within=10.0)  # returns once the delivery failed
        assert (alerter.sent, alerter.failed) == (0, 1)
        assert alerter.send(A)  # still working
        assert await alerter.flush(within=10.0)
    assert alerter.failed == 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "botkit.alerts"]
    assert any(f"notify[0] json://127.0.0.1:{port}/***" in w for w in warnings), warnings
    assert CANARY not in caplog.text
    assert CANARY not in repr(alerter)


async def test_secrets_are_scrubbed_from_apprise_and_urllib3_debug_logs(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="apprise")
    caplog.set_level(logging.DEBUG, logger="urllib3")
    alerter = Alerter([f"json://bot:{CANARY}pw@127.0.0.1:{receiver.port}/{CANARY}/hook"])
    async with Running(alerter):
        alerter.send(A)
        await receiver.wait_for(1)
        assert await alerter.flush(within=5.0)
    assert receiver.posts[0][0] == f"/{CANARY}/hook"  # the secret path was really used
    loggers = {r.name for r in caplog.records}
    assert {"apprise", "urllib3.connectionpool"} <= loggers  # they did log the request
    assert CANARY not in caplog.text


async def test_refusing_receiver_is_a_failure(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.status = 500
    alerter = Alerter([receiver.url()])
    async with Running(alerter):
        alerter.send(A)
        await receiver.wait_for(1)
        assert await alerter.flush(within=5.0)
    assert (alerter.sent, alerter.failed) == (0, 1)
    assert "not delivered to notify[0]" in caplog.text


async def test_slow_receiver_does_not_block_the_loop(receiver: Receiver) -> None:
    """A delivery waiting on its receiver leaves the event loop free.

    The receiver runs on this loop and holds its answer: the request reaching it, and
    another task making progress meanwhile, show the loop was never blocked (no timing).
    """
    receiver.hold = asyncio.Event()
    alerter = Alerter([receiver.url()])
    enough = asyncio.Event()

    async def other_work() -> None:
        for _ in range(200):
            await asyncio.sleep(0)
        enough.set()

    async with Running(alerter):
        assert alerter.send(A)
        async with asyncio.timeout(10):
            await receiver.started.wait()  # in flight, unanswered
            other = asyncio.create_task(other_work())
            await enough.wait()
        await other
        assert (alerter.sent, receiver.posts) == (0, [])  # still held, yet the loop turned
        receiver.hold.set()
        assert await alerter.flush(within=5.0)
    assert alerter.sent == 1 and len(receiver.posts) == 1


async def test_a_receiver_that_never_answers_times_out(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.hold = asyncio.Event()  # released at teardown
    alerter = Alerter([receiver.url()], delivery_timeout=0.3)
    async with Running(alerter):
        alerter.send(A)
        await receiver.started.wait()
        # the receiver never answers: only the 0.3 s delivery timeout can empty the queue
        assert await alerter.flush(within=5.0)
        assert (alerter.sent, alerter.failed) == (0, 1)
    assert "no answer within 0.3 s" in caplog.text


async def test_flush_delivers_the_queue_without_run(receiver: Receiver) -> None:
    alerter = Alerter([receiver.url()])
    alerter.send(A)
    alerter.send(Alert("stopped", "info", "stopped", "SIGTERM"))
    assert await alerter.flush(within=5.0)
    assert [p["title"] for _, p in receiver.posts] == [
        "botkit: BTC-USD market data down",
        "botkit: stopped",
    ]


async def test_flush_is_bounded(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.hold = asyncio.Event()  # never answers (until teardown)
    # an hour's delivery timeout: only flush's own bound can end it inside the test's bound
    alerter = Alerter([receiver.url()], delivery_timeout=3600.0)
    for i in range(3):
        alerter.send(Alert(f"a{i}", "info", f"a{i}", "x"))
    async with asyncio.timeout(10):
        assert not await alerter.flush(within=0.5)
    assert (alerter.sent, alerter.failed, alerter.queued) == (0, 3, 0)
    assert "2 alert(s) not delivered within 0.5 s" in caplog.text


async def test_send_from_another_thread(receiver: Receiver) -> None:
    alerter = Alerter([receiver.url()])
    async with Running(alerter):
        await asyncio.sleep(0)  # let run() start and register its loop
        results: list[bool] = []
        thread = threading.Thread(target=lambda: results.append(alerter.send(A)))
        thread.start()
        posts = await receiver.wait_for(1)
        thread.join(timeout=5)
    assert results == [True] and posts[0]["message"] == "down for 61 s"


async def test_no_urls_means_alerts_off() -> None:
    alerter = Alerter([])
    assert not alerter.enabled
    async with Running(alerter):
        assert not alerter.send(A)
        await asyncio.sleep(0)
    assert (alerter.sent, alerter.failed, alerter.suppressed) == (0, 0, 0)
    assert await alerter.flush(within=0.1)


@pytest.mark.parametrize(
    ("urls", "index"),
    [
        (["json://127.0.0.1:9/ok", f"tgram://{CANARY}/"], 1),
        ([f"nosuchservice://{CANARY}@example.com"], 0),
        ([f"{CANARY}"], 0),
        (["json://127.0.0.1:9/ok", "json://127.0.0.1:9/ok", "  "], 2),
    ],
)
def test_bad_urls_are_a_config_error_naming_the_index(
    urls: list[str], index: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as err:
        Alerter(urls)
    message = str(err.value)
    assert f"urls[{index}]" in message
    assert "docs/alerts.md" in message
    assert CANARY not in message
    assert CANARY not in caplog.text  # apprise's own complaint is scrubbed too


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100123", "tgram://***"),
        ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "discord://***"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F/#general", "slack://***"),
        ("ntfys://my-secret-topic", "ntfys://***"),
        ("mailtos://alice:app-password@gmail.com?to=bob@example.com", "mailtos://gmail.com/***"),
        ("json://user:pw@10.0.0.5:8080/hook/SECRET", "json://10.0.0.5:8080/***"),
        ("jsons://hooks.example.com/T0KEN", "jsons://hooks.example.com/***"),
        (
            "https://discord.com/api/webhooks/4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
            "https://discord.com/***",
        ),
        ("a bare secret string", "***"),
        ("json://[::1:bad/x", "json://***"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_url_without_a_scheme_is_scrubbed_whole_from_apprises_own_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An ntfy topic (or a typo) with no ``scheme://`` is all secret: apprise logs
    "Unsupported URL: <it>" before botkit refuses it (it was logged verbatim)."""
    caplog.set_level(logging.DEBUG, logger="apprise")
    with pytest.raises(
        ConfigError, match=r"urls\[0\] \(the TOML.s or BOTKIT_NOTIFY__URLS\) is not a usable"
    ):
        Alerter([f"my-bot-{CANARY}"])
    assert any(r.name == "apprise" for r in caplog.records)  # it did log the URL's error
    assert CANARY not in caplog.text


def test_the_restart_memory_survives_where_no_new_file_can_be_written(tmp_path: Any) -> None:
    """A full disk restarts a bot again and again, and the memory that holds its alerts
    back could not be written there (a new file needs a block): an alert per restart (a
    headless QA pass). The file is kept, padded; when it cannot be replaced it is
    overwritten in place. Here the replacement is made impossible by a directory in the
    temporary file's place."""
    from botkit.monitor.alert_rules import StopMemory
    from botkit.monitor.alerts import load_stop_memory, save_stop_memory

    path = tmp_path / "restart-alerts.json"
    save_stop_memory(path, None)  # a start with no failure: the file exists, forgetting
    assert path.exists() and load_stop_memory(path) is None
    (tmp_path / "restart-alerts.json.tmp").mkdir()
    memory = StopMemory("journal: disk is full", "journal: disk is full", 1.0, 1.0)
    save_stop_memory(path, memory)
    assert load_stop_memory(path) == memory
    save_stop_memory(path, None)
    assert load_stop_memory(path) is None


def test_a_memory_written_in_place_over_a_longer_one_leaves_no_tail(tmp_path: Any) -> None:
    """Escaped text can make the memory longer than the padding: a shorter one written
    over it in place left the old tail, and the file read as no memory (a review)."""
    from botkit.monitor.alert_rules import StopMemory
    from botkit.monitor.alerts import load_stop_memory, save_stop_memory

    path = tmp_path / "restart-alerts.json"
    long = StopMemory("é" * 500, "é" * 500, 1.0, 1.0, earlier=("é" * 500,) * 4)
    save_stop_memory(path, long)
    assert path.stat().st_size > 4096 and load_stop_memory(path) == long
    (tmp_path / "restart-alerts.json.tmp").mkdir()  # replacing fails from now on
    short = StopMemory("journal: disk is full", "journal: disk is full", 2.0, 2.0)
    save_stop_memory(path, short)
    assert load_stop_memory(path) == short
