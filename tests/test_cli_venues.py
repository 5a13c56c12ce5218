"""The CLI on the Exchange and Prime venues, as real subprocesses: credentials checked
without echoing a secret, ``botkit sim --venue all`` serving every dialect, and
``botkit doctor --venue`` passing against it."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import run

SECRET = base64.b64encode(secrets.token_bytes(64)).decode()
PASSPHRASE = "pass-" + secrets.token_hex(6)


def test_keys_check_on_exchange_prints_no_secret(tmp_path: Path) -> None:
    env = {
        "BOTKIT_EXCHANGE__API_KEY": "k-123",
        "BOTKIT_EXCHANGE__API_SECRET": SECRET,
        "BOTKIT_EXCHANGE__PASSPHRASE": PASSPHRASE,
    }
    out = run(["keys", "check", "--venue", "exchange"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "k-123" in out.stdout and "OK" in out.stdout
    assert SECRET[:16] not in out.stdout + out.stderr and PASSPHRASE not in out.stdout


@pytest.mark.parametrize(
    ("venue", "env", "needle"),
    [
        ("exchange", {"BOTKIT_EXCHANGE__API_KEY": "k"}, "BOTKIT_EXCHANGE__API_SECRET"),
        (
            "exchange",
            {"BOTKIT_EXCHANGE__API_KEY": "k", "BOTKIT_EXCHANGE__API_SECRET": "not base64 !!"},
            "BOTKIT_EXCHANGE__API_SECRET: Value error, is not a base64 string",
        ),
        (
            "prime",
            {"BOTKIT_PRIME__ACCESS_KEY": "a", "BOTKIT_PRIME__SIGNING_KEY": "s3cr3t-value"},
            "BOTKIT_PRIME__PORTFOLIO_ID",
        ),
    ],
)
def test_half_set_venue_credentials_exit_2_naming_the_variable(
    tmp_path: Path, venue: str, env: dict[str, str], needle: str
) -> None:
    for args in (
        ["keys", "check", "--venue", venue],
        ["run", "--venue", venue, "--mode", "live", "--live", "--duration", "5"],
    ):
        out = run(args, env, tmp_path)
        assert out.returncode == 2, (args, out.stderr)
        assert needle in out.stderr and out.stderr.startswith("botkit: error:")
        assert "not base64 !!" not in out.stderr and "s3cr3t-value" not in out.stderr


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, as an operator's Ctrl-C; killed if it does not end within 30 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def _sim_env(proc: asyncio.subprocess.Process) -> dict[str, str]:
    """Read ``botkit sim --venue all`` output until every dialect's .env lines are printed."""
    assert proc.stdout is not None
    env: dict[str, str] = {}
    while not {"BOTKIT_PRIME__SERVICE_ACCOUNT_ID", "BOTKIT_EXCHANGE__PASSPHRASE",
               "BOTKIT_COINBASE__API_SECRET"} <= env.keys():  # fmt: skip
        line = (await proc.stdout.readline()).decode()
        assert line, "botkit sim exited early"
        if line.startswith(("BOTKIT_", "COINBASE_")) and "=" in line:
            name, _, value = line.strip().partition("=")
            env[name] = value.strip('"')
    return env


@pytest.mark.timeout(120)
async def test_sim_serves_every_dialect_and_doctor_passes_on_each(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", "sim", "--venue", "all", "--no-rate-limits",
        env=base, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            env = await _sim_env(proc)
        for venue in ("exchange", "prime"):
            out = await asyncio.to_thread(run, ["doctor", "--venue", venue], env, tmp_path)
            assert out.returncode == 0, (venue, out.stdout, out.stderr)
            assert "signed read accepted" in out.stdout
            secret = env["BOTKIT_EXCHANGE__API_SECRET" if venue == "exchange"
                         else "BOTKIT_PRIME__SIGNING_KEY"]  # fmt: skip
            assert secret not in out.stdout + out.stderr
        env["BOTKIT_EXCHANGE__PASSPHRASE"] = "wrong"
        out = await asyncio.to_thread(run, ["doctor", "--venue", "exchange"], env, tmp_path)
        assert out.returncode == 1 and "passphrase does not match" in out.stdout
        # what `botkit run` refuses, doctor does not call healthy (it did)
        no_account = {k: v for k, v in env.items() if k != "BOTKIT_PRIME__SERVICE_ACCOUNT_ID"}
        out = await asyncio.to_thread(run, ["doctor", "--venue", "prime"], no_account, tmp_path)
        assert out.returncode == 1 and "BOTKIT_PRIME__SERVICE_ACCOUNT_ID is not set" in out.stdout
        wrong_portfolio = {
            **env,
            "BOTKIT_PRIME__PORTFOLIO_ID": "11111111-1111-1111-1111-111111111111",
        }
        out = await asyncio.to_thread(
            run, ["doctor", "--venue", "prime"], wrong_portfolio, tmp_path
        )
        assert out.returncode == 1 and "set BOTKIT_PRIME__PORTFOLIO_ID" in out.stdout, out.stdout
    finally:
        await _stop(proc)
    assert proc.returncode == 0


def test_run_help_names_the_venues(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "botkit", "run", "--help"], capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    assert "advanced_trade,exchange,prime" in out.stdout


@pytest.mark.timeout(60)
async def test_a_dialect_sim_says_where_the_warm_up_candles_come_from(tmp_path: Path) -> None:
    """An Exchange or Prime bot warms up from Advanced Trade's public candles: pointed at
    `botkit sim --venue exchange`, it fetched them from api.coinbase.com, since nothing
    said otherwise (a QA pass)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", "sim", "--venue", "exchange", "--no-rate-limits",
        env=base, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    env: dict[str, str] = {}
    try:
        async with asyncio.timeout(40):
            while "BOTKIT_COINBASE__REST_URL" not in env or "BOTKIT_EXCHANGE__REST_URL" not in env:
                line = (await proc.stdout.readline()).decode()
                assert line, "botkit sim exited early"
                if line.startswith("BOTKIT_") and "=" in line:
                    name, _, value = line.strip().partition("=")
                    env[name] = value
    finally:
        await _stop(proc)
    assert env["BOTKIT_COINBASE__REST_URL"].startswith("http://127.0.0.1:")
