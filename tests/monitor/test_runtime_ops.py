"""A real bot on the simulator, seen from the operator's side: alerts arrive at a local
apprise receiver, systemd notifications at a real datagram socket, in order."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from botkit.errors import BotkitError, ConfigError
from botkit.monitor.alerts import load_stop_memory
from botkit.monitor.systemd import SdNotifier
from botkit.runtime.bot import BotRuntime, RunOptions
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.settings import load_settings
from botkit.sim.ws import WsConfig


def _runtime(tmp_path: Path, doc: dict[str, Any], **kw: Any) -> BotRuntime:
    config = parse_bot_config({"bot": {"sim_seed": 2}, "strategy": {"name": "market_maker"}, **doc})
    options = RunOptions(data_dir=tmp_path, install_signals=False, sim_tick_interval=0.05,
                         sim_ws=WsConfig(heartbeat_interval=0.2), **kw)  # fmt: skip
    return BotRuntime(config, load_settings(env_file=None), options)


class AlertReceiver:
    """A local apprise ``json://`` receiver: what it was sent, in order."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.started = asyncio.Event()  # a "started" alert arrived
        self._arrived = asyncio.Event()  # any alert arrived
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def notify(self) -> dict[str, Any]:
        return {"notify": {"urls": [f"json://127.0.0.1:{self.port}/alerts"]}}

    async def _receive(self, request: web.Request) -> web.Response:
        self.posts.append(json.loads(await request.read()))
        if "started" in self.posts[-1].get("title", "").lower():
            self.started.set()
        self._arrived.set()
        return web.Response(text="ok")

    async def title(self, text: str, *, after: int = 0) -> dict[str, Any]:
        """The first alert from the ``after``-th on whose title contains ``text``, once
        it has arrived."""
        while True:
            for post in self.posts[after:]:
                if text in post.get("title", ""):
                    return post
            self._arrived.clear()
            await self._arrived.wait()

    async def __aenter__(self) -> AlertReceiver:
        app = web.Application()
        app.router.add_post("/alerts", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def _stop_once_started(rt: BotRuntime, alerts: AlertReceiver) -> None:
    """Stop ``rt`` as soon as its "started" alert has reached the receiver."""

    async def stop_after_start() -> None:
        await alerts.started.wait()
        rt.request_stop()

    rt.options.on_venue = lambda ep: rt.supervisor.spawn("t", stop_after_start, forever=False)


async def test_start_and_stop_alerts_reach_a_local_apprise_receiver(tmp_path: Path) -> None:
    async with AlertReceiver() as alerts:
        rt = _runtime(tmp_path, alerts.notify, duration=30.0)
        _stop_once_started(rt, alerts)
        async with asyncio.timeout(40):
            result = await rt.run()
    posts = alerts.posts
    assert result.error is None
    titles = [p["title"] for p in posts]
    assert len(titles) == 2, titles
    assert "started" in titles[0].lower() and "stopped" in titles[1].lower()
    assert all(t.startswith("botkit MarketMaker") for t in titles)
    assert rt.alerter.sent == 2 and rt.alerter.failed == 0
    assert "The bot stopped: asked to stop" in posts[1]["message"] and posts[1]["type"] == "info"


async def test_a_start_that_fails_sends_a_failure_alert_with_its_error_and_exit_code(
    tmp_path: Path,
) -> None:
    """It said "The bot stopped: stopped." (info) for every start that failed: a bad key's
    401, a port in use. A config error exits 2 (not restarted), and the alert says so."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        async with AlertReceiver() as alerts:
            rt = _runtime(
                tmp_path,
                alerts.notify,
                duration=30.0,
                http=f"127.0.0.1:{busy.getsockname()[1]}",  # in use: the start fails (exit 2)
            )
            async with asyncio.timeout(40):
                with pytest.raises(ConfigError):
                    await rt.run()
    finally:
        busy.close()
    posts = alerts.posts
    (stopped,) = [p for p in posts if "stopped" in p["title"].lower()]
    assert stopped["type"] == "failure" and "in use" in stopped["message"]
    assert "exits 2" in stopped["message"] and "stopped: stopped" not in stopped["message"]


async def test_systemd_gets_ready_watchdog_and_stopping_in_order(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    got: list[str] = []
    stopping = asyncio.Event()
    notifier = SdNotifier(path, watchdog_usec=200_000)  # ours to close: the runtime borrows it
    rt = _runtime(tmp_path / "data", {}, duration=30.0, systemd=notifier)

    async def listen() -> None:
        while True:
            msg = (await loop.sock_recv(sock, 4096)).decode()
            got.append(msg)
            if "STOPPING=1" in msg:
                stopping.set()
            if sum("WATCHDOG=1" in m for m in got) >= 3:
                rt.request_stop()

    listener = asyncio.create_task(listen())
    try:
        async with asyncio.timeout(40):
            result = await rt.run()
            await stopping.wait()  # the datagram is queued: let the reader take it
    finally:
        listener.cancel()
        notifier.close()
        sock.close()
    assert result.error is None
    assert got[0].startswith("READY=1") and "STATUS=ready" in got[0]
    kinds = ["READY" if m.startswith("READY") else "WATCHDOG" if "WATCHDOG=1" in m
             else "STOPPING" if "STOPPING=1" in m else "STATUS" for m in got]  # fmt: skip
    assert kinds[-1] == "STOPPING" and kinds.count("WATCHDOG") >= 3
    assert kinds.index("WATCHDOG") > 0  # never before READY


async def test_a_failure_before_the_run_starts_its_components_still_sends_the_alert(
    tmp_path: Path,
) -> None:
    """A bad ``--http`` value fails the run before the shutdown path exists: the stopped
    alert still goes out, as a failure naming the error."""
    async with AlertReceiver() as alerts:
        rt = _runtime(tmp_path, alerts.notify, duration=10.0, http="no-port-here")
        async with asyncio.timeout(30):
            with pytest.raises(ConfigError) as info:
                await rt.run()
    posts = alerts.posts
    (stopped,) = posts
    assert stopped["type"] == "failure" and str(info.value) in stopped["message"]
    assert "exits 2" in stopped["message"]


async def test_the_stopped_alert_names_the_end_of_duration(tmp_path: Path) -> None:
    async with AlertReceiver() as alerts:
        rt = _runtime(tmp_path, alerts.notify, duration=1.0)
        async with asyncio.timeout(30):
            result = await rt.run()
    assert result.error is None
    (stopped,) = [p for p in alerts.posts if "stopped" in p["title"].lower()]
    assert "The bot stopped: --duration 1 s ended." in stopped["message"]


async def test_a_bot_restarted_after_each_failure_sends_its_alert_once(tmp_path: Path) -> None:
    """Under Restart=on-failure a bot that fails at every start (revoked keys, a venue
    down) sent "stopped on an error" at every restart. The second run's is held back
    (restart-alerts.json in the data directory), and the start that works says how many
    stops came before."""
    async with AlertReceiver() as alerts:
        for _ in range(2):  # no market data within 1 ms: exit 1, restarted
            rt = _runtime(
                tmp_path, {**alerts.notify, "bot": {"sim_seed": 2, "ready_timeout": 0.001}}
            )
            async with asyncio.timeout(30):
                with pytest.raises(BotkitError, match="no market data within"):
                    await rt.run()
        assert [p["type"] for p in alerts.posts] == ["failure"]
        memory = json.loads((tmp_path / "sim" / "restart-alerts.json").read_text())
        assert memory["stops"] == 2 and memory["held"] == 1
        rt = _runtime(tmp_path, alerts.notify, duration=30.0)
        _stop_once_started(rt, alerts)
        async with asyncio.timeout(40):
            assert (await rt.run()).error is None
    started, stopped = alerts.posts[1:]
    assert "had stopped on an error 2 time(s)" in started["message"]
    assert "no market data within" in started["message"] and stopped["type"] == "info"
    assert load_stop_memory(tmp_path / "sim" / "restart-alerts.json") is None  # a clean stop forgets


@pytest.mark.timeout(120)
async def test_a_key_revoked_mid_run_alerts_and_the_refused_user_channel_is_not_back(
    tmp_path: Path,
) -> None:
    """A key deleted while the bot ran raised no authentication alert, and its user
    channel, whose subscription the venue refused (the socket stays open after Coinbase's
    error frame), counted as up: a "user channel back" alert even went out (a headless QA
    pass). Now: a failure alert at the first refused REST call, the user channel down
    with the refusal named, and the key "accepted again" at the first call after."""
    async with AlertReceiver() as alerts:
        rt = _runtime(tmp_path, {**alerts.notify, "notify": {**alerts.notify["notify"],
                                                              "feed_down_after": 1.0}},
                      duration=90.0)  # fmt: skip
        seen: dict[str, Any] = {}

        async def revoke_and_restore(sim: Any) -> None:
            await alerts.started.wait()
            keys = dict(sim.registry.keys)
            for name in keys:
                assert sim.registry.revoke(name)
            sim.ws_faults.drop_next(count=3)  # every connection subscribes again, refused
            seen["key"] = await alerts.title("API key refused")
            seen["user"] = await alerts.title("user channel down")
            seen["market"] = await alerts.title("BTC-USD market data refused")
            assert rt.reporter is not None
            for _ in range(3):  # three more verdicts while refused: not "back"
                await rt.reporter.next()
            restored = len(alerts.posts)
            seen["during"] = alerts.posts[:restored]
            for record in keys.values():
                sim.registry.register(record)
            # the channels come back at their next reconnect, after the stale watchdog and
            # a backoff grown by the refused sessions (tests/market/test_feed_refusal.py)
            seen["accepted"] = await alerts.title("API key accepted again", after=restored)
            rt.request_stop()

        rt.options.on_venue = lambda ep: rt.supervisor.spawn(
            "t", lambda: revoke_and_restore(ep.sim), forever=False
        )
        async with asyncio.timeout(100):
            result = await rt.run()
    assert result.error is None
    key, user = seen["key"], seen["user"]
    assert key["type"] == "failure" and "HTTP 401" in key["message"]
    assert "botkit doctor" in key["message"]
    assert "refused its subscription" in user["message"]
    assert "'authentication failure'" in user["message"]
    assert not [p for p in seen["during"] if "user channel back" in p["title"]]
    assert "check the API key" in seen["market"]["message"]  # not "the network"
    assert "status.coinbase.com" not in seen["market"]["message"]
    assert seen["accepted"]["type"] == "info"


async def test_a_bot_killed_with_sigkill_is_named_by_the_next_start(tmp_path: Path) -> None:
    """kill -9 (the out-of-memory killer's way) left no alert and no trace: the unit
    restarted the bot, which started as after a clean stop (a headless QA pass)."""
    import signal

    from tests.botproc import run_until_placed

    killed = await run_until_placed(
        ["run", "--data-dir", str(tmp_path), "--duration", "60"],
        tmp_path,
        placed=1,
        stop=signal.SIGKILL,
    )
    assert killed.returncode == -signal.SIGKILL
    async with AlertReceiver() as alerts:
        rt = _runtime(tmp_path, alerts.notify, duration=30.0)
        _stop_once_started(rt, alerts)
        async with asyncio.timeout(40):
            assert (await rt.run()).error is None
    said, started = alerts.posts[:2]
    assert said["type"] == "failure" and "was killed without stopping" in said["message"]
    assert "oom" in said["message"]
    assert "had stopped on an error 1 time(s)" in started["message"]


async def test_a_data_directory_unwritable_mid_run_alerts_and_is_not_ready(tmp_path: Path) -> None:
    """A quiet strategy's bot whose data directory turned read-only (or full) only
    warned every second and stayed "ready": the journal says so at the next order only
    (a headless QA pass). Made unwritable here by a directory where health.json's
    temporary file goes; then writable again."""
    async with AlertReceiver() as alerts:
        rt = _runtime(tmp_path, alerts.notify, duration=60.0)
        seen: dict[str, Any] = {}

        async def block_then_free() -> None:
            await alerts.started.wait()
            assert rt.reporter is not None
            rt.reporter.storage_clear_writes = 3  # 30 s by default: the test's patience
            blocker = rt.root / "health.tmp"
            blocker.mkdir()
            seen["alert"] = await alerts.title("data directory cannot be written")
            for _ in range(2):  # a write that works between failures does not clear it
                blocker.rmdir()
                await rt.reporter.next()
                blocker.mkdir()
                seen["health"] = await rt.reporter.next()
                assert not seen["health"].ready
            assert len([p for p in alerts.posts if "data directory" in p["title"]]) == 1
            blocker.rmdir()
            seen["back"] = await alerts.title("data directory writable again")
            rt.request_stop()

        rt.options.on_venue = lambda ep: rt.supervisor.spawn("t", block_then_free, forever=False)
        async with asyncio.timeout(60):
            assert (await rt.run()).error is None
    assert seen["alert"]["type"] == "failure" and "health.tmp" not in seen["alert"]["message"]
    assert "health.json" in seen["alert"]["message"]
    assert not seen["health"].ready
    assert seen["back"]["type"] == "info"
