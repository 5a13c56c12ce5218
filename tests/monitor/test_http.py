"""The embedded HTTP server against a real bot on the simulator, over real sockets."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from botkit.cli.main import main as botkit_main
from botkit.errors import ConfigError
from botkit.monitor.ctl import call, find_token, render_status
from botkit.monitor.http import is_loopback, parse_listen
from botkit.runtime.bot import BotRuntime, RunOptions, RunResult
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.health import Health
from botkit.runtime.settings import load_settings
from botkit.runtime.venue import Endpoints
from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig

Probe = Callable[[BotRuntime, str, SimServer], Awaitable[None]]


async def run_with_http(
    tmp_path: Path, probe: Probe, risk: dict[str, Any] | None = None, **bot: Any
) -> tuple[BotRuntime, RunResult]:
    """Run the market maker on the sim with --http on a free port; ``probe`` drives the test."""
    config = parse_bot_config(
        {"bot": {"sim_seed": 5, **bot}, "strategy": {"name": "market_maker"},
         "risk": {"max_order_notional": 1000, **(risk or {})}}
    )  # fmt: skip
    healthy = asyncio.Event()

    def on_health(health: Health) -> None:
        if health.ready:
            healthy.set()

    options = RunOptions(
        duration=60.0,
        data_dir=tmp_path,
        install_signals=False,
        sim_tick_interval=0.05,
        sim_ws=WsConfig(heartbeat_interval=0.2),
        http="127.0.0.1:0",
        on_health=on_health,
    )
    rt = BotRuntime(config, load_settings(env_file=None), options)
    sims: list[SimServer] = []

    def on_venue(ep: Endpoints) -> None:
        assert ep.sim is not None
        sims.append(ep.sim)

        async def drive() -> None:
            await healthy.wait()
            try:
                await probe(rt, _url(rt), sims[0])
            finally:
                rt.request_stop()

        rt.supervisor.spawn("probe", drive, forever=False, restart=False)

    options.on_venue = on_venue
    async with asyncio.timeout(60):
        result = await rt.run()
    return rt, result


def _url(rt: BotRuntime) -> str:
    http = rt.http
    assert http is not None and http.bound is not None
    return http.url


def _metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    assert m, f"{name} not in metrics"
    return float(m.group(1))


async def test_metrics_status_and_health_endpoints_during_a_sim_run(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def probe(rt: BotRuntime, url: str, sim: SimServer) -> None:
        async with aiohttp.ClientSession() as http:
            while rt.stats.orders == 0 or rt.stats.fills == 0:  # the strategy trades first
                await rt.wait_health()
            async with http.get(url + "/metrics") as r:
                seen["metrics_ct"] = r.headers["Content-Type"]
                seen["metrics"] = await r.text()
            async with http.get(url + "/healthz") as r:
                seen["healthz"] = r.status
            async with http.get(url + "/readyz") as r:
                seen["readyz"] = (r.status, await r.json())
            async with http.get(url + "/api/status") as r:
                seen["status"] = await r.json()
            async with http.get(url + "/") as r:
                seen["page"] = (r.status, await r.text())

    rt, result = await run_with_http(tmp_path, probe)
    assert result.error is None
    text = seen["metrics"]
    assert seen["metrics_ct"].startswith("text/plain")
    assert _metric(text, "botkit_ready") == 1.0
    assert _metric(text, 'botkit_orders_total{status="placed"}') > 0
    assert _metric(text, 'botkit_feed_messages_total{channel="level2",product="BTC-USD"}') > 0
    assert _metric(text, "botkit_order_latency_seconds_count") > 0
    assert _metric(text, "process_resident_memory_bytes") > 1e6
    for name in ("botkit_feed_reconnects_total", "botkit_feed_sequence_gaps_total",
                 "botkit_feed_malformed_total", "botkit_open_orders", "botkit_pnl_quote",
                 "botkit_kill_switch_tripped"):  # fmt: skip
        _metric(text, name)
    assert 'botkit_feed_lag_seconds{product="BTC-USD"}' in text
    assert 'botkit_position{product="BTC-USD"}' in text or rt.stats.position == {}
    assert seen["healthz"] == 200
    assert seen["readyz"] == (
        200,
        {"verdict": "ready", "reasons": [], "products": {"BTC-USD": "live"}},
    )
    status = seen["status"]
    assert status["strategy"] == "MarketMaker" and status["health"]["verdict"] == "ready"
    assert status["orders_placed"] > 0 and status["fills"]
    page_status, page = seen["page"]
    assert page_status == 200 and "BTC-USD" in page and "<svg" in page and "READY" in page


async def test_readyz_flips_to_503_when_the_feed_drops_and_back_after_resync(
    tmp_path: Path,
) -> None:
    seen: list[tuple[int, dict[str, Any]]] = []

    async def probe(rt: BotRuntime, url: str, sim: SimServer) -> None:
        async with aiohttp.ClientSession() as http:
            # the next 8 connection attempts die at their first frame: a few seconds without
            # data, then the feed's backoff (at most 0.5 * 2**4 s here) brings it back
            sim.ws_faults.drop_next(1006, count=8)
            while (await rt.wait_health()).ready:
                pass
            async with http.get(url + "/readyz") as r:
                seen.append((r.status, await r.json()))
            while not (await rt.wait_health()).ready:
                pass
            async with http.get(url + "/readyz") as r:
                seen.append((r.status, await r.json()))

    _rt, result = await run_with_http(tmp_path, probe, ready_timeout=30)
    assert result.error is None
    (down_status, down), (up_status, up) = seen
    assert down_status == 503 and down["verdict"] in ("degraded", "down")
    assert any("BTC-USD" in r or "user channel" in r for r in down["reasons"])
    assert up_status == 200 and up["verdict"] == "ready"


async def test_control_needs_the_token_and_steers_the_bot(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def probe(rt: BotRuntime, url: str, sim: SimServer) -> None:
        token = (tmp_path / "sim" / "control.token").read_text()
        assert (tmp_path / "sim" / "control.token").stat().st_mode & 0o077 == 0
        async with aiohttp.ClientSession() as http:
            async with http.post(url + "/api/pause") as r:
                seen["none"] = r.status
            async with http.post(url + "/api/pause", headers={"Authorization": "Bearer nope"}) as r:
                seen["wrong"] = r.status
        found = find_token(None, None, tmp_path)
        assert found == token
        pause = await asyncio.to_thread(call, url, "pause", token)
        again = await asyncio.to_thread(call, url, "pause", token)  # idempotent
        seen["pause"] = (pause, again)
        refused_before = rt.gate.refusals["RISK_PAUSED"] if rt.gate else 0
        while rt.gate is not None and rt.gate.refusals["RISK_PAUSED"] == refused_before:
            await rt.wait_health()  # the strategy keeps trying; the gate refuses
        seen["resume"] = await asyncio.to_thread(call, url, "resume", token)
        seen["trip"] = await asyncio.to_thread(
            call, url, "kill-switch trip", token, body={"reason": "test"}
        )
        seen["tripped"] = rt.gate is not None and rt.gate.tripped
        seen["reset"] = await asyncio.to_thread(call, url, "kill-switch reset", token)
        seen["cancel"] = await asyncio.to_thread(call, url, "cancel-all", token)
        seen["status"] = render_status(await asyncio.to_thread(call, url, "status", None))

    rt, result = await run_with_http(tmp_path, probe)
    assert result.error is None
    assert (seen["none"], seen["wrong"]) == (401, 403)
    assert seen["pause"] == ({"changed": True, "paused": True}, {"changed": False, "paused": True})
    assert seen["resume"] == {"changed": True, "paused": False}
    assert seen["trip"]["changed"] and seen["tripped"]
    assert seen["reset"] == {"changed": True, "kill_switch": False}
    assert isinstance(seen["cancel"]["cancelled"], int) and seen["cancel"]["failed"] == []
    assert "MarketMaker" in seen["status"]
    journal = (tmp_path / "sim" / "control.jsonl").read_text().splitlines()
    actions = [line.split('"action": "')[1].split('"')[0] for line in journal]
    assert actions == ["pause", "resume", "kill-switch trip", "kill-switch reset", "cancel-all"]
    assert all('"who": "http 127.0.0.1"' in line for line in journal)


async def test_an_active_protection_is_shown_and_reset_by_the_operator(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def probe(rt: BotRuntime, url: str, sim: SimServer) -> None:
        assert rt.gate is not None
        token = (tmp_path / "sim" / "control.token").read_text()
        seen["before"] = (await asyncio.to_thread(call, url, "status", None))["protections"]
        await rt.gate.on_stop_loss("BTC-USD")  # what a stop-loss exit's fill does
        doc = await asyncio.to_thread(call, url, "status", None)
        seen["during"] = doc["protections"]
        seen["text"] = render_status(doc)
        async with aiohttp.ClientSession() as http, http.get(url + "/") as r:
            seen["page"] = await r.text()
        seen["reset"] = await asyncio.to_thread(call, url, "kill-switch reset", token)
        seen["after"] = (await asyncio.to_thread(call, url, "status", None))["protections"]

    rt, result = await run_with_http(tmp_path, probe, risk={"cooldown_after_stop_loss": 600})
    assert result.error is None
    assert seen["before"] == {} and seen["after"] == {}
    [(name, what)] = seen["during"].items()
    assert name == "cooldown BTC-USD" and "entries refused for" in what
    assert "protection cooldown BTC-USD: entries refused" in seen["text"]
    assert "cooldown BTC-USD" in seen["page"]
    assert seen["reset"]["changed"] is True


async def test_a_product_the_venue_restricts_is_shown_and_counted(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def probe(rt: BotRuntime, url: str, sim: SimServer) -> None:
        assert rt.trading is not None
        sim.set_trading_mode("BTC-USD", "cancel_only", "incident")
        await rt.trading.read()  # what its loop does every trading_status_seconds
        doc = await asyncio.to_thread(call, url, "status", None)
        seen["during"], seen["text"] = doc["trading"], render_status(doc)
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/") as r:
                seen["page"] = await r.text()
            async with http.get(url + "/metrics") as r:
                seen["metrics"] = await r.text()
        sim.set_trading_mode("BTC-USD", "full")
        await rt.trading.read()
        doc = await asyncio.to_thread(call, url, "status", None)
        seen["after"] = doc["trading"]
        async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as r:
            seen["metrics after"] = await r.text()

    rt, result = await run_with_http(tmp_path, probe, trading_status_seconds=3600)
    assert result.error is None
    assert seen["during"] == {"BTC-USD": "BTC-USD is cancel-only: incident"}
    assert "venue: BTC-USD is cancel-only: incident" in seen["text"]
    assert "VENUE: BTC-USD is cancel-only: incident" in seen["page"]
    assert 'botkit_product_restricted{product="BTC-USD"} 1.0' in seen["metrics"]
    assert seen["after"] == {}
    assert 'botkit_product_restricted{product="BTC-USD"} 0.0' in seen["metrics after"]


def test_ctl_says_when_no_bot_listens() -> None:
    with pytest.raises(Exception, match="no bot is listening at http://127.0.0.1:9"):
        call("http://127.0.0.1:9", "status", None, timeout=2)
    with pytest.raises(ConfigError, match="no control token"):
        call("http://127.0.0.1:9", "pause", None)


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:9108") == ("127.0.0.1", 9108)
    assert parse_listen("[::1]:0") == ("::1", 0)
    for bad in ("9108", "host:", ":80", "h:99999", "h:x"):
        with pytest.raises(ConfigError, match="HOST:PORT"):
            parse_listen(bad)
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


async def test_non_loopback_without_token_refuses_to_start(tmp_path: Path) -> None:
    config = parse_bot_config({"strategy": {"name": "market_maker"}})
    options = RunOptions(duration=5.0, data_dir=tmp_path, install_signals=False,
                         http="0.0.0.0:0")  # fmt: skip
    rt = BotRuntime(config, load_settings(env_file=None), options)
    with pytest.raises(ConfigError, match="not loopback.*without a token"):
        await rt.run()


def test_a_bad_secret_setting_is_not_echoed() -> None:
    from botkit.runtime.bot_config import parse_bot_config as parse

    with pytest.raises(ConfigError) as err:
        parse({"strategy": {"name": "x"}, "notify": {"urls": "tgram://123456:SECRETTOKEN/42"}})
    assert "notify" in str(err.value) and "SECRETTOKEN" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse({"strategy": {"name": "x"}, "http": {"token": 12345678901}})
    assert "12345678901" not in str(err.value)


def test_status_lines_print_amounts_plainly() -> None:
    """``Decimal`` as JSON keeps its exponent and trailing zeros (``0E-8``, ``-1.0375420000``):
    the operator's status line prints them as the run's own summary does."""
    doc = {"positions": {"BTC-USD": "0E-8", "ETH-USD": "0.50000"}, "pnl": "-1.0375420000"}
    text = render_status(doc)
    assert "position BTC-USD 0, ETH-USD 0.5 | PnL -1.037542 |" in text
    from botkit.monitor.ctl import plain

    long = "12345678901234567890.123456789012"  # beyond a Decimal context's 28 digits
    assert plain(long + "000") == long and plain("1E+50000000") == "1E+50000000"
    assert plain("abc") == "abc" and plain(None) == "None" and plain("100") == "100"
    # a PnL from an average-cost division runs to 28 digits (an operator QA pass saw them)
    pnl = {"pnl": "-13.59426792000000000000000004"}
    assert "| PnL -13.59426792 |" in render_status(pnl)
    assert plain(long + "000", 8) == "12345678901234567890.12345679"


@pytest.mark.parametrize(
    ("status", "body", "key", "message"),
    [
        # every cancel a 503: the failures named
        (503, None, "failed", "cancel(s) failed: the orders may still work"),
        # every cancel answered without being accepted (an empty result list: no error)
        (200, '{"results": []}', "left", "order(s) not cancelled"),
    ],
)
async def test_ctl_cancel_all_says_what_it_could_not_cancel(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    status: int,
    body: str | None,
    key: str,
    message: str,
) -> None:
    """The venue fails or refuses every cancel: ``ctl cancel-all`` printed
    {"cancelled": 0} and exited 0 with the quotes still working (an operator QA pass, then
    the refused case); it names the orders (``failed`` or ``left``) and exits 1."""
    seen: dict[str, Any] = {}

    async def probe(rt: BotRuntime, url: str, sim: SimServer) -> None:
        token = (tmp_path / "sim" / "control.token").read_text()
        while rt.ctx is None or not rt.ctx.open_orders():
            await rt.wait_health()  # the market maker's quotes rest
        await asyncio.to_thread(call, url, "pause", token)  # no requote cancels meanwhile
        sim.faults.fail_next(status, count=200, path="batch_cancel", body=body)
        seen["open"] = {o.client_order_id for o in rt.ctx.open_orders()}  # (may fill after)
        argv = ["ctl", "--url", url, "--token", token, "cancel-all"]
        seen["rc"] = await asyncio.to_thread(botkit_main, argv)
        sim.faults.clear()

    _rt, result = await run_with_http(tmp_path, probe)
    assert result.error is None
    out, err = capsys.readouterr()
    doc = json.loads(out.strip().splitlines()[-1])
    assert seen["rc"] == 1 and doc["cancelled"] == 0
    assert doc[key] and set(doc[key]) <= seen["open"]  # the quotes working at the call
    assert doc["failed" if key == "left" else "left"] == []
    assert message in err


def test_ctl_finds_the_token_of_an_exchange_or_prime_bot(tmp_path: Path) -> None:
    """Their data sits one folder deeper (<mode>/<venue>/): ctl said "no control token"
    for the data directory the bot was started with (a QA pass)."""
    token = tmp_path / "sim" / "prime" / "control.token"
    token.parent.mkdir(parents=True)
    token.write_text("t0ken\n")
    assert find_token(None, None, tmp_path) == "t0ken"


def test_a_generated_control_token_never_reads_as_an_option(tmp_path: Path) -> None:
    """A url-safe token may start with "-": `botkit ctl --token <it>` then failed with
    "expected one argument" (one CI run in 64)."""
    from botkit.monitor.http import control_token

    for i in range(200):
        token = control_token(None, "127.0.0.1:0", tmp_path / str(i))
        assert token and not token.startswith("-")
