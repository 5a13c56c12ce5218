"""``python -m botkit doctor`` as a subprocess against a SimServer running in the test process."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from botkit.auth.factory import generate_cdp_key
from botkit.auth.keys import CdpKey
from botkit.sim.server import SimServer

ROOT = Path(__file__).resolve().parents[2]


def _fragment(secret: str) -> str:
    """A 20-character piece of the secret's key material (PEM body or base64)."""
    lines = [ln for ln in secret.splitlines() if ln and not ln.startswith("-----")]
    return lines[0][:20]


async def _doctor(
    sim: SimServer, key: CdpKey | None, tmp_path: Path, *args: str, **extra: str
) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
    env["BOTKIT_COINBASE__REST_URL"] = sim.rest_url
    if key is not None:
        env["BOTKIT_COINBASE__API_KEY"] = key.name
        env["BOTKIT_COINBASE__API_SECRET"] = sim.secret_of(key)
    env.update(extra)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", "--env-file", str(tmp_path / "none.env"), "doctor",
        "--timeout", "5", *args,
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=40)
    text = out.decode()
    if key is not None:
        assert _fragment(sim.secret_of(key)) not in text  # never print the secret
    assert proc.returncode is not None
    return proc.returncode, text


@pytest.fixture
async def sim() -> object:
    async with SimServer(seed=31) as server:
        yield server


async def test_healthy(sim: SimServer, tmp_path: Path) -> None:
    code, out = await _doctor(sim, sim.add_key("ES256"), tmp_path)
    assert code == 0, out
    assert "ok    trade permission" in out and "botkit doctor: healthy" in out
    assert "ok    book kernel: compiled level loop in use" in out or "Python level loop" in out


async def test_view_only_key(sim: SimServer, tmp_path: Path) -> None:
    code, out = await _doctor(sim, sim.add_key("EdDSA", can_trade=False), tmp_path)
    assert code == 1, out
    assert "FAIL  trade permission: the key is view-only" in out
    assert "fix: enable the Trade permission" in out


async def test_server_clock_offset(sim: SimServer, tmp_path: Path) -> None:
    sim.faults.clock_offset = 30.0
    code, out = await _doctor(sim, sim.add_key(), tmp_path)
    assert code == 1, out
    assert "FAIL  clock: local clock is -30" in out and "timedatectl" in out
    assert "ok    auth" in out  # signed with the corrected clock, so the key itself is fine


async def test_wrong_key(sim: SimServer, tmp_path: Path) -> None:
    sim.add_key()
    stranger = generate_cdp_key("ES256")  # never registered: Coinbase would say 401
    env_secret = SimServer.secret_of(stranger)
    code, out = await _doctor(sim, stranger, tmp_path)
    assert code == 1, out
    assert "FAIL  auth: 401" in out and "do not match" in out
    assert _fragment(env_secret) not in out


async def test_ip_allow_list(sim: SimServer, tmp_path: Path) -> None:
    body = '{"error":"PERMISSION_DENIED","message":"IP address not in allowlist"}'
    sim.faults.fail_next(403, count=5, path="/key_permissions", body=body)
    code, out = await _doctor(sim, sim.add_key(), tmp_path)
    assert code == 1, out
    assert "allow-list" in out


async def test_config_errors_exit_2(sim: SimServer, tmp_path: Path) -> None:
    code, out = await _doctor(sim, None, tmp_path)
    assert code == 2 and "no Coinbase CDP key is configured" in out
    code, out = await _doctor(
        sim, sim.add_key(), tmp_path,
        BOTKIT_EXCHANGE__API_KEY="ex", BOTKIT_EXCHANGE__API_SECRET="c2VjcmV0",
    )  # fmt: skip
    assert code == 2 and "BOTKIT_EXCHANGE__PASSPHRASE" in out


async def test_tls_simulator_with_ca_file(tmp_path: Path) -> None:
    async with SimServer(seed=32, tls=True) as tls:
        key = tls.add_key()
        code, out = await _doctor(tls, key, tmp_path, "--ca-file", str(tls.cert_path))
        assert code == 0, out
        code, out = await _doctor(tls, key, tmp_path)  # without the CA: not trusted
        assert code == 1 and "did not verify" in out
