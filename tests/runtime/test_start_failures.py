"""A start that fails on the venue's word: credentials it refuses end the run with exit 1
(a 401 may be transient: the shipped systemd unit restarts it, a bounded number of times),
the venue's message and its fix on stderr, and no secret.

A real ``botkit run --mode live`` child against the simulator, which does not know the key.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from botkit.auth.factory import generate_cdp_key
from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig


async def _botkit(tmp_path: Path, *args: str) -> tuple[int | None, str, str]:
    """``python -m botkit ARGS --duration 20 --data-dir tmp/data`` in ``tmp_path`` without
    the caller's BOTKIT_ settings: exit code, stdout, stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTKIT_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", *args, "--duration", "20",
        "--data-dir", str(tmp_path / "data"), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode, out.decode(), err.decode()


async def test_a_key_the_venue_refuses_at_start_exits_1_naming_it(tmp_path: Path) -> None:
    async with SimServer(tick_interval=0.05, ws_config=WsConfig(heartbeat_interval=0.2)) as sim:
        unknown = generate_cdp_key("ES256")  # never registered with the simulator: 401
        env_file = tmp_path / "sim.env"
        env_file.write_text(sim.env_text(unknown))
        code, out, text = await _botkit(
            tmp_path, "--env-file", str(env_file), "run", "--mode", "live", "--live"
        )
    assert code == 1, text[-2000:]
    assert "401" in text
    assert sim.secret_of(unknown).splitlines()[1] not in text + out  # no secret


async def test_a_strategy_whose_on_start_raises_stops_the_bot_with_exit_1(tmp_path: Path) -> None:
    """It was logged once and ignored: the bot said ready and ran a strategy that never
    initialised, exit 0 at the end. Now the run stops (exit 1) naming the error."""
    strategy = tmp_path / "broken.py"
    strategy.write_text(
        "from botkit import Strategy\n\n\n"
        "class Broken(Strategy):\n"
        "    async def on_start(self) -> None:\n"
        "        raise RuntimeError('cannot load my model')\n"
    )
    code, _, text = await _botkit(tmp_path, "run", "--strategy", f"{strategy}:Broken")
    assert code == 1, text[-2000:]
    assert "on_start raised RuntimeError('cannot load my model')" in text
    assert "does not run a strategy that could not start" in text


async def test_a_hung_on_start_still_ends_at_the_duration_and_shows_in_health(
    tmp_path: Path,
) -> None:
    """on_start has no hook timeout (it may load data for minutes); a review found that a
    hung one then kept the bot from stopping at all (--duration, SIGTERM). The stop ends it,
    and meanwhile the health names the hook."""
    from botkit.runtime.api import RunOptions
    from botkit.runtime.bot import BotRuntime
    from botkit.runtime.bot_config import parse_bot_config
    from botkit.runtime.health import Health
    from botkit.runtime.settings import load_settings

    strategy = tmp_path / "hang.py"
    strategy.write_text(
        "import asyncio\nfrom botkit import Strategy\n\n\n"
        "class Hang(Strategy):\n"
        "    async def on_start(self) -> None:\n"
        "        await asyncio.Event().wait()\n"
    )
    seen: list[Health] = []
    config = parse_bot_config({"bot": {"sim_seed": 2}, "strategy": {"name": f"{strategy}:Hang"}})
    options = RunOptions(data_dir=tmp_path, install_signals=False, duration=6.5,
                         on_health=seen.append)  # fmt: skip
    runtime = BotRuntime(config, load_settings(env_file=None), options)
    async with asyncio.timeout(40):
        result = await runtime.run()
    assert result.error is None
    assert any("strategy hook on_start running for" in r for h in seen for r in h.reasons)
