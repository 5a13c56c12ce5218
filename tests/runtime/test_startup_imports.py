"""A live bot's start path imports only what a live bot runs (issue 19 item 6).

Start-up time and memory are measured in bench/ (``bench_runtime.py --parts live``); this
guards the lazy imports that buy them, without timing anything: a real ``botkit run --mode
live`` child against the simulator (in this process, reached over 127.0.0.1 as Coinbase
would be), which prints its ``sys.modules`` once the run is over. The simulator, aiohttp's
server side, the paper broker, report/backtest/research code, the HTTP server's monitor
modules and uvloop (asyncio's loop is the default) must not be among them. Nor does it
load the system's CA store a second time (aiohttp's verifying context, built at its
import, serves the REST client and the feed).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig

FORBIDDEN = (
    "botkit.sim",
    "botkit.paper",
    "botkit.report",
    "botkit.backtest",
    "botkit.research",
    "botkit.monitor.http",
    "botkit.monitor.bot_view",
    "botkit.venues.exchange",
    "botkit.venues.prime",
    "aiohttp.web",
    "jwt",  # PyJWT: only the simulator verifies tokens with it
    "uvloop",
    "prometheus_client",
    "apprise",
)
ALLOWED = {"botkit.report", "botkit.report.cli"}
"""The ``report`` subcommand's argument parser (argparse only): the CLI registers it."""

CHILD = """
import json, sys
from botkit.cli.main import main
code = main(sys.argv[1:])
print("MODULES " + json.dumps(sorted(sys.modules)), flush=True)
from botkit.net.transport import _system_context
print("CA_STORES_OF_BOTKIT", _system_context.cache_info().currsize, flush=True)
sys.exit(code)
"""


def _loaded(names: list[str], prefix: str) -> list[str]:
    return [m for m in names if (m == prefix or m.startswith(prefix + ".")) and m not in ALLOWED]


async def _child(*args: str, cwd: Path) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTKIT_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_live_run_loads_no_simulator_server_paper_or_report_code(tmp_path: Path) -> None:
    async with SimServer(tick_interval=0.05, ws_config=WsConfig(heartbeat_interval=0.2)) as sim:
        env_file = tmp_path / "sim.env"
        env_file.write_text(sim.env_text(sim.add_key("ES256")))
        code, out, err = await _child(
            "--env-file",
            str(env_file),
            "run",
            "--mode",
            "live",
            "--live",
            "--duration",
            "1.5",
            "--data-dir",
            str(tmp_path / "data"),
            cwd=tmp_path,
        )
    assert code == 0, err[-3000:]
    assert "first subscription acknowledged" in err  # the start path ran to the feed
    modules = json.loads(next(x for x in out.splitlines() if x.startswith("MODULES "))[8:])
    assert "botkit.runtime.bot" in modules and "aiohttp" in modules  # the listing is real
    loaded = {p: _loaded(modules, p) for p in FORBIDDEN}
    assert not any(loaded.values()), {p: ms for p, ms in loaded.items() if ms}
    assert "CA_STORES_OF_BOTKIT 0" in out  # aiohttp's own context: one copy of the store


SERVER_SIDE = (
    "botkit.sim.server",
    "botkit.sim.rest",
    "botkit.sim.ws",
    "botkit.sim.tls",
    "botkit.sim.exchange_rest",
    "botkit.sim.prime_rest",
    "aiohttp.web",
    "jwt",
    "uvloop",
    "botkit.report.html",
    "botkit.backtest",
    "botkit.research",
)


async def test_a_paper_run_uses_the_engine_but_not_the_simulators_server_side(
    tmp_path: Path,
) -> None:
    """Paper mode fills on the simulator's matching engine (``botkit.sim.exchange``...);
    importing one of its modules must not load the package's server side with it."""
    async with SimServer(tick_interval=0.05, ws_config=WsConfig(heartbeat_interval=0.2)) as sim:
        env_file = tmp_path / "sim.env"
        env_file.write_text(sim.env_text(sim.add_key("ES256")))
        code, out, err = await _child(
            "--env-file",
            str(env_file),
            "run",
            "--mode",
            "paper",
            "--duration",
            "1.5",
            "--data-dir",
            str(tmp_path / "data"),
            cwd=tmp_path,
        )
    assert code == 0, err[-3000:]
    assert "first subscription acknowledged" in err
    modules = json.loads(next(x for x in out.splitlines() if x.startswith("MODULES "))[8:])
    assert "botkit.paper.broker" in modules and "botkit.sim.exchange" in modules
    loaded = {p: _loaded(modules, p) for p in SERVER_SIDE}
    assert not any(loaded.values()), {p: ms for p, ms in loaded.items() if ms}


async def test_importing_botkit_and_its_runtime_names_loads_no_simulator(tmp_path: Path) -> None:
    code = (
        "import json, sys, botkit\n"
        "botkit.run_blocking, botkit.BotRuntime, botkit.RunOptions, botkit.load_bot_config\n"
        "import botkit.runtime.venue, botkit.cli.run\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=tmp_path, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0
    modules = json.loads(out)
    assert "botkit.runtime.bot" in modules
    loaded = {p: _loaded(modules, p) for p in FORBIDDEN}
    assert not any(loaded.values()), {p: ms for p, ms in loaded.items() if ms}
