"""Newcomer traps (issue 14, item 5): each path a new user takes, taken for real.

Every test here failed before its fix: the set-up steps a README reader follows must work as
written, and every message must name something that exists.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from botkit.cli.main import main
from botkit.runtime.settings import BotSettings, load_settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the .env file of each test speaks: no BOTKIT_* / COINBASE_* from the caller."""
    import os

    for var in list(os.environ):
        if var.startswith(("BOTKIT_", "COINBASE_")):
            monkeypatch.delenv(var)


# -- .env.example copied to .env, key and secret filled in ------------------------------------


def _new_key_lines(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """``botkit keys new``, as the README tells a newcomer to run it."""
    assert main(["keys", "new"]) == 0
    out = capsys.readouterr().out
    pairs = [line.split("=", 1) for line in out.splitlines() if line and not line.startswith("#")]
    return {k: v for k, v in pairs}


def _dotenv_from_example(tmp_path: Path, fill: dict[str, str]) -> Path:
    """``cp .env.example .env`` and fill the named variables, leaving the others as shipped."""
    text = (REPO / ".env.example").read_text()
    for var, value in fill.items():
        text, n = re.subn(rf"^{var}=.*$", lambda _m: f"{var}={value}", text, flags=re.M)  # noqa: B023
        assert n == 1, f"{var} is not in .env.example"
    env = tmp_path / ".env"
    env.write_text(text)
    return env


def test_env_example_with_key_and_secret_filled_loads_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = _new_key_lines(capsys)
    env = _dotenv_from_example(tmp_path, key)
    assert re.search(r"^BOTKIT_COINBASE__KEY_FILE=$", env.read_text(), flags=re.M)  # still empty

    settings = load_settings(env_file=env)
    assert settings.coinbase.key_file is None  # not Path(".")
    assert main(["--env-file", str(env), "keys", "check"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "key name:  " + key["BOTKIT_COINBASE__API_KEY"].strip('"') in out


def _path_settings(model: type[BaseModel], prefix: str) -> Iterator[str]:
    """Every environment variable whose setting is a path, at any nesting depth."""
    for name, field in model.model_fields.items():
        ann = field.annotation
        args = typing.get_args(ann) if isinstance(ann, types.UnionType) else (ann,)
        var = f"{prefix}{name.upper()}"
        if any(isinstance(a, type) and issubclass(a, BaseModel) for a in args):
            sub = next(a for a in args if isinstance(a, type) and issubclass(a, BaseModel))
            yield from _path_settings(sub, var + "__")
        elif any(isinstance(a, type) and issubclass(a, Path) for a in args):
            yield var


def test_every_empty_path_setting_means_unset(tmp_path: Path) -> None:
    variables = list(_path_settings(BotSettings, "BOTKIT_"))
    assert "BOTKIT_COINBASE__KEY_FILE" in variables
    env = tmp_path / ".env"
    env.write_text("".join(f"{var}=\n" for var in variables))
    settings = load_settings(env_file=env)
    for var in variables:
        node: object = settings
        for part in var.removeprefix("BOTKIT_").lower().split("__"):
            node = getattr(node, part)
        assert node is None, f"{var}= gave {node!r}"


# -- every command logs JSON lines off a terminal ----------------------------------------------


@pytest.fixture
def _root_logger() -> Iterator[None]:
    """main() points the root logger at this test's captured stderr: undo that afterwards."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _log_records(stderr: str) -> list[dict[str, object]]:
    """The log records in ``stderr``; fails on a log line that is not one JSON object."""
    import json

    records = []
    for line in stderr.splitlines():
        if not line.strip() or line.startswith("botkit"):  # the CLI's own messages
            continue
        assert line.startswith("{"), f"a log line that is not JSON: {line!r}"
        doc = json.loads(line)
        assert {"ts", "level", "logger", "msg"} <= set(doc), doc
        records.append(doc)
    return records


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.usefixtures("_root_logger")
def test_doctor_logs_json_lines_off_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill = _new_key_lines(capsys)
    fill["BOTKIT_COINBASE__REST_URL"] = f"http://127.0.0.1:{_closed_port()}/api/v3/brokerage"
    env = _dotenv_from_example(tmp_path, fill)
    assert main(["--env-file", str(env), "doctor", "--timeout", "2"]) == 1  # nothing listens
    records = _log_records(capsys.readouterr().err)
    assert any(r["logger"] == "botkit.rest" and r["level"] == "WARNING" for r in records), records


@pytest.mark.usefixtures("_root_logger")
def test_record_and_backtest_log_json_lines_off_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = ["--env-file", str(tmp_path / "none.env"), "--log-level", "INFO"]
    rec = tmp_path / "rec.jsonl.gz"
    args = ["record", "--source", "sim", "--products", "BTC-USD", "--duration", "1"]
    assert main([*env, *args, "--out", str(rec)]) == 0
    records = _log_records(capsys.readouterr().err)
    assert any(str(r["logger"]).startswith("botkit.sim") for r in records), records

    cut = tmp_path / "cut.jsonl.gz"  # a recorder killed mid-write: the backtest warns
    cut.write_bytes(rec.read_bytes()[:-20])
    main([*env, "backtest", "--data", str(cut), "--out", str(tmp_path / "bt"), "--quiet"])
    records = _log_records(capsys.readouterr().err)
    assert any("ends abruptly" in str(r["msg"]) for r in records), records


# -- kill-switch status reads the file the bot writes --------------------------------------------

TRIPPING_STRATEGY = '''
import os
import signal

from botkit.strategy import Strategy

__all__ = ["Trip"]


class Trip(Strategy):
    """Trips the kill switch as soon as it starts."""

    async def on_start(self) -> None:
        assert self.ctx.risk is not None
        await self.ctx.risk.trip("tripped by the newcomer test")
        os.kill(os.getpid(), signal.SIGTERM)  # then stop, as an operator would (not a timer)
'''


@pytest.mark.usefixtures("_root_logger")
def test_kill_switch_status_reads_what_a_sim_run_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # a newcomer's project folder: botkit-data/ goes here
    (tmp_path / "trip.py").write_text(TRIPPING_STRATEGY)
    # the run ends on the strategy's SIGTERM once the switch is tripped; 30 s only bounds it
    main(["--env-file", "none.env", "run", "--strategy", "trip.py:Trip", "--duration", "30"])
    assert "kill switch is TRIPPED" in capsys.readouterr().out
    assert (tmp_path / "botkit-data" / "sim" / "kill_switch.json").is_file()

    assert main(["kill-switch", "status"]) == 0  # no options: the defaults of `botkit run`
    out = capsys.readouterr().out
    assert "kill switch: TRIPPED" in out, out
    assert "tripped by the newcomer test" in out
    assert main(["kill-switch", "status", "--mode", "live"]) == 0  # live has its own file
    assert "not tripped" in capsys.readouterr().out

    assert main(["kill-switch", "reset"]) == 0
    assert "kill switch reset" in capsys.readouterr().out
    assert main(["kill-switch", "status", "--data-dir", "botkit-data", "--mode", "sim"]) == 0
    assert "not tripped" in capsys.readouterr().out


def test_kill_switch_follows_the_config_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from botkit.risk.engine import KillSwitchState
    from botkit.risk.gate import save_kill_switch

    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'[bot]\nmode = "paper"\ndata_dir = "{tmp_path / "state"}"\n')
    save_kill_switch(tmp_path / "state" / "paper" / "kill_switch.json",
                     KillSwitchState(tripped=True, reason="paper trip", at=1.0))  # fmt: skip
    assert main(["kill-switch", "status", "--config", str(cfg)]) == 0
    assert "TRIPPED" in capsys.readouterr().out


# -- report on a sim run's journal says what to do, and the advice works ---------------------------


def _quoted_commands(message: str) -> list[list[str]]:
    """The ``'botkit ...'`` commands a message tells the user to run."""
    return [cmd.split()[1:] for cmd in re.findall(r"'(botkit [^']+)'", message)]


@pytest.mark.usefixtures("_root_logger")
def test_report_on_a_sim_journal_gives_advice_that_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from botkit.cli.main import _parser

    monkeypatch.chdir(tmp_path)
    assert main(["--env-file", "none.env", "run", "--duration", "1"]) == 0
    capsys.readouterr()
    assert main(["report", "botkit-data/sim/journal.sqlite"]) == 2
    err = capsys.readouterr().err
    assert "order journal of a sim or live run" in err, err
    commands = _quoted_commands(err)
    assert {c[0] for c in commands} >= {"run", "report", "record", "backtest"}, commands
    for argv in commands:  # every option it names exists (argparse exits 2 on an unknown one)
        _parser().parse_args(argv)

    # and following it gives a report: paper mode on the simulator, then the named file
    (tmp_path / "bot.toml").write_text('[paper]\nsource = "sim"\n')
    run = next(c for c in commands if c[0] == "run")
    assert main(["--env-file", "none.env", *run, "--duration", "2"]) == 0
    report = next(c for c in commands if c[0] == "report")
    assert main(report) == 0, capsys.readouterr().err
    assert (tmp_path / "botkit-data" / "paper" / "paper.html").is_file()


def test_report_on_a_file_that_is_no_journal_names_real_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.sqlite"
    notes.write_text("not a database " * 50)
    assert main(["report", str(notes)]) == 2
    err = capsys.readouterr().err
    assert "--journal" not in err  # no such option anywhere
    assert "botkit-data/paper/paper.sqlite" in err and "botkit-data/backtest/paper.sqlite" in err


# -- new-strategy NAME, then --strategy NAME; and an installed botkit's shipped strategies ---------


@pytest.mark.usefixtures("_root_logger")
def test_new_strategy_then_run_it_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # a project folder, not the botkit checkout
    assert main(["new-strategy", "dip_buyer"]) == 0
    assert (tmp_path / "strategies" / "dip_buyer.py").is_file()
    capsys.readouterr()

    assert main(["strategies"]) == 0
    listed = capsys.readouterr().out
    for name in ("dip_buyer", "ema_cross", "market_maker", "mean_reversion"):
        assert f"\n{name}: " in "\n" + listed, listed  # the user's and the shipped ones

    env = ["--env-file", "none.env"]
    assert main([*env, "run", "--strategy", "dip_buyer", "--duration", "1"]) == 0
    assert "strategy DipBuyer" in capsys.readouterr().out


def test_own_strategy_of_a_shipped_name_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botkit.strategy.loader import load_strategy

    monkeypatch.chdir(tmp_path)
    own = tmp_path / "strategies" / "ema_cross.py"
    own.parent.mkdir()
    own.write_text(TRIPPING_STRATEGY)
    assert load_strategy("ema_cross").__name__ == "Trip"
    assert load_strategy("market_maker").__name__ == "MarketMaker"  # shipped, still found


def test_an_installed_botkit_finds_its_shipped_strategies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """setup.py's build step makes the package an installed botkit runs from.

    The package is built by setup.py's own ``build_py`` (what ``pip install .`` runs) into
    a site folder, then imported from there by a fresh interpreter in an empty folder: no
    checkout beside it, no ./strategies, no symlink.
    """
    import os
    import subprocess
    import sys

    import setuptools

    captured: dict[str, typing.Any] = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kw: captured.update(kw))  # setuptools'
    monkeypatch.chdir(REPO)
    exec(compile((REPO / "setup.py").read_text(), "setup.py", "exec"), {"__name__": "__main__"})
    site = tmp_path / "site"
    package_data = _pyproject()["tool"]["setuptools"]["package-data"]
    dist = setuptools.Distribution(
        {
            "packages": setuptools.find_packages(include=["botkit*"]),
            "package_data": package_data,
            "script_name": "setup.py",
        }
    )
    build = captured["cmdclass"]["build_py"](dist)
    build.build_lib = str(site)
    build.ensure_finalized()
    build.run()
    assert (site / "botkit" / "py.typed").is_file()  # PEP 561
    assert sorted(p.name for p in (site / "botkit" / "_strategies").glob("*.py")) == sorted(
        p.name for p in (REPO / "strategies").glob("*.py")
    )

    empty = tmp_path / "elsewhere"
    empty.mkdir()
    code = (
        "import botkit, botkit.strategy.loader as L\n"
        "print(botkit.__file__)\n"
        "print(*(i.name for i in L.list_strategies()))\n"
        "print(L.load_strategy('ema_cross').__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=empty,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.splitlines()
    assert out[0].startswith(str(site)), out  # the built copy, not the checkout
    assert set(out[1].split()) >= {"ema_cross", "market_maker", "mean_reversion"}, out
    assert out[2] == "EmaCross"


# -- licence and typing metadata ---------------------------------------------------------------


def _pyproject() -> dict[str, typing.Any]:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_license_file_and_spdx_metadata() -> None:
    project = _pyproject()["project"]
    assert project["license"] == "MIT"  # an SPDX expression, not the deprecated table
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the botkit authors" in text
    # setuptools reads SPDX strings and license-files from 77 on; an older one refuses them
    requires = _pyproject()["build-system"]["requires"]
    versions = [int(m[1]) for r in requires if (m := re.fullmatch(r"setuptools>=(\d+)", r))]
    assert versions and versions[0] >= 77, requires


def test_package_is_marked_typed() -> None:
    assert (REPO / "botkit" / "py.typed").is_file()
    assert "py.typed" in _pyproject()["tool"]["setuptools"]["package-data"]["botkit"]


# -- a strategy that waits says so, and for how long ------------------------------------------------


@pytest.mark.usefixtures("_root_logger")
@pytest.mark.parametrize(
    ("strategy", "said"),
    [
        ("ema_cross", "warming up: needs 20 candles (~100 minutes"),
        ("mean_reversion", "warming up: needs 50 ticker prices"),
    ],
)
def test_a_warming_up_strategy_says_how_long(
    strategy: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--env-file", str(tmp_path / "none.env"), "run", "--strategy", strategy]
    # ema_cross trades on its first live candle after the replayed history: a bound with room
    # for a slow start (1 s failed once in a full run: 15 events, no order yet)
    seconds = "4" if strategy == "ema_cross" else "1"
    assert main([*argv, "--duration", seconds, "--data-dir", str(tmp_path / "data")]) == 0
    captured = capsys.readouterr()
    if strategy == "ema_cross":  # history is replayed at start (Warmup): it trades at once
        assert "orders placed:     0" not in captured.out, captured.out
        assert "orders placed:" in captured.out
    records = _log_records(captured.err)
    warming = [r for r in records if str(r["msg"]).startswith("warming up")]
    assert len(warming) == 1 and warming[0]["level"] == "INFO", records
    assert str(warming[0]["msg"]).startswith(said), warming
    assert "before the first order" in str(warming[0]["msg"])


# -- docs stay inside the repository ----------------------------------------------------------------

_DOCS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    REPO / "strategies" / "README.md",
]


def test_docs_point_at_nothing_outside_the_repository() -> None:
    problems = []
    for doc in _DOCS:
        text = doc.read_text()
        for bad in ("../shared", "shared/reference"):
            if bad in text:
                problems.append(f"{doc.name} mentions {bad}")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):  # [text](target)
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            path = (doc.parent / target).resolve()
            if not path.is_relative_to(REPO) or not path.exists():
                problems.append(f"{doc.name} links to {target}, which is not in the repository")
    assert not problems, problems


def test_every_cited_coinbase_section_is_in_the_notes() -> None:
    """``§n`` in the docs and ``reference §n`` / ``§n`` in the code name a section of
    docs/coinbase-notes.md (other documents' sections are cited with their name: RFC 6455
    §5.2, anchors §5.4)."""
    notes = (REPO / "docs" / "coinbase-notes.md").read_text()
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", notes, flags=re.M))
    assert {"1.2", "2.5", "3.5", "8"} <= sections
    sources = [
        *_DOCS,
        *sorted((REPO / "botkit").rglob("*.py")),
        *sorted(REPO.glob("strategies/*.py")),
    ]
    cited: dict[str, set[str]] = {}
    for src in sources:
        text = src.read_text()
        for m in re.finditer(r"(\w+[- ])?§ ?(\d+(?:\.\d+)?)", text):
            if m[1] and m[1].strip(" -").lower() in {"anchors", "6455", "rfc"}:
                continue
            cited.setdefault(m[2], set()).add(src.name)
    missing = {n: sorted(where) for n, where in cited.items() if n not in sections}
    assert not missing, missing


def test_new_strategy_refuses_a_shipped_name_unless_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A skeleton named market_maker hid the shipped one from `botkit strategies` and
    --strategy market_maker, while plain `botkit run` still ran the shipped one."""
    monkeypatch.chdir(tmp_path)
    assert main(["new-strategy", "market_maker"]) == 2
    assert "is the name of a shipped strategy" in capsys.readouterr().err
    assert not (tmp_path / "strategies" / "market_maker.py").exists()
    assert main(["new-strategy", "market_maker", "--force"]) == 0  # on purpose
