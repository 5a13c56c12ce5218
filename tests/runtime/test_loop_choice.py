"""``[bot] loop``: asyncio's loop by default, uvloop only when asked for (issue 19 item 6).

Which loop is faster is measured in bench/ (``bench_runtime.py --parts live --loop uvloop``);
these check the choice itself: the default run is on asyncio's loop even with uvloop
installed, ``loop = "uvloop"`` runs on uvloop, and asking for uvloop where it is not
installed is a ConfigError with its fix (a child process where ``import uvloop`` fails).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from botkit.errors import ConfigError
from botkit.runtime.api import loop_factory, run_blocking
from botkit.runtime.bot import BotRuntime, RunOptions
from botkit.runtime.bot_config import parse_bot_config
from botkit.runtime.settings import load_settings
from botkit.sim.ws import WsConfig


def _loop_of_a_run(tmp_path: Path, bot: dict[str, object]) -> asyncio.AbstractEventLoop:
    """The loop a short sim run ran on, as ``botkit run`` runs it (``run_blocking``)."""
    config = parse_bot_config({"bot": bot, "strategy": {"name": "market_maker"}})
    seen: list[asyncio.AbstractEventLoop] = []
    options = RunOptions(
        data_dir=tmp_path,
        duration=0.5,
        install_signals=False,
        sim_tick_interval=0.05,
        sim_ws=WsConfig(heartbeat_interval=0.2),
        on_venue=lambda ep: seen.append(asyncio.get_running_loop()),
    )
    result = run_blocking(BotRuntime(config, load_settings(env_file=None), options).run)
    assert result.error is None
    assert len(seen) == 1
    return seen[0]


def test_the_default_loop_is_asyncios_even_with_uvloop_installed(tmp_path: Path) -> None:
    pytest.importorskip("uvloop")  # the point: installed, yet not used unless asked for
    loop = _loop_of_a_run(tmp_path, {})
    assert type(loop).__module__.startswith("asyncio")


def test_loop_uvloop_runs_the_bot_on_uvloop(tmp_path: Path) -> None:
    uvloop = pytest.importorskip("uvloop")
    loop = _loop_of_a_run(tmp_path, {"loop": "uvloop"})
    assert isinstance(loop, uvloop.Loop)


def test_an_explicit_loop_wins_over_the_config(tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    config = parse_bot_config({"bot": {"loop": "uvloop"}, "strategy": {"name": "market_maker"}})
    seen: list[asyncio.AbstractEventLoop] = []
    options = RunOptions(
        data_dir=tmp_path,
        duration=0.3,
        install_signals=False,
        sim_tick_interval=0.05,
        on_venue=lambda ep: seen.append(asyncio.get_running_loop()),
    )
    run_blocking(BotRuntime(config, load_settings(env_file=None), options).run, loop="asyncio")
    assert type(seen[0]).__module__.startswith("asyncio")


def test_an_unknown_loop_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match="loop") as err:
        parse_bot_config({"bot": {"loop": "trio"}, "strategy": {"name": "market_maker"}})
    assert "asyncio" in str(err.value) and "uvloop" in str(err.value)
    with pytest.raises(ConfigError, match="asyncio, uvloop"):
        loop_factory("trio")


@pytest.mark.parametrize(
    ("table", "typo", "known"),
    [("bot", "product", "products"), ("risk", "max_postion", "max_position"),
     ("paper", "intial_balances", "initial_balances")],
)  # fmt: skip
def test_a_misspelt_key_of_a_table_names_the_keys_it_has(
    table: str, typo: str, known: str
) -> None:
    doc = {table: {typo: 1}, "strategy": {"name": "market_maker"}}
    with pytest.raises(ConfigError, match=rf"\[{table}\] is invalid: unknown key {typo} ") as err:
        parse_bot_config(doc)
    assert "(known: " in str(err.value) and known in str(err.value)


def test_uvloop_asked_for_but_not_installed_is_a_config_error_with_its_fix() -> None:
    """In a child where ``import uvloop`` fails, as on a machine without it."""
    code = (
        "import sys\n"
        "sys.modules['uvloop'] = None  # not installed, as far as this process can tell\n"
        "from botkit.errors import ConfigError\n"
        "from botkit.runtime.api import loop_factory\n"
        "from botkit.runtime.bot_config import parse_bot_config\n"
        "for make in (lambda: parse_bot_config({'bot': {'loop': 'uvloop'}}),\n"
        "             lambda: loop_factory('uvloop')):\n"
        "    try:\n"
        "        make()\n"
        "    except ConfigError as exc:\n"
        "        print('CONFIG ERROR', exc)\n"
        "print('asyncio', loop_factory('asyncio'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    errors = [line for line in out.splitlines() if line.startswith("CONFIG ERROR")]
    assert len(errors) == 2, out
    for line in errors:
        assert "uvloop is not installed" in line and "pip install 'botkit[uvloop]'" in line
    assert "asyncio None" in out  # asyncio's loop needs nothing
