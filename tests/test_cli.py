"""The CLI, run as a real subprocess: output, exit codes, no secrets printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt as pyjwt
import pytest

from botkit.auth.keys import load_cdp_key
from tests.conftest import KEY_NAME


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "botkit", *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_jwt_prints_export_line_that_verifies(tmp_path: Path, ec_pem: str) -> None:
    env = {
        "BOTKIT_COINBASE__API_KEY": KEY_NAME,
        "BOTKIT_COINBASE__API_SECRET": ec_pem.replace("\n", "\\n"),
    }
    out = run(["jwt", "GET", "/api/v3/brokerage/accounts?limit=5"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith("export JWT=") and "\n" not in line
    token = line.removeprefix("export JWT=")
    key = load_cdp_key(KEY_NAME, ec_pem)
    claims = pyjwt.decode(token, key.private_key.public_key(), algorithms=["ES256"])
    assert claims["uri"] == "GET api.coinbase.com/api/v3/brokerage/accounts"
    assert "query string" in out.stderr


def test_jwt_host_override_and_ws(tmp_path: Path, ed_b64: str) -> None:
    env = {
        "COINBASE_API_KEY": "d2efa49a-369c-43d7-a60e-ae26e28853c2",
        "COINBASE_API_SECRET": ed_b64,
    }
    key = load_cdp_key("d2efa49a-369c-43d7-a60e-ae26e28853c2", ed_b64)
    pub = key.private_key.public_key()
    out = run(
        ["jwt", "POST", "/api/v3/brokerage/orders", "--host", "127.0.0.1:8443"], env, tmp_path
    )
    claims = pyjwt.decode(out.stdout.strip().split("=", 1)[1], pub, algorithms=["EdDSA"])
    assert claims["uri"] == "POST 127.0.0.1:8443/api/v3/brokerage/orders"
    ws = run(["jwt", "--ws"], env, tmp_path)
    assert "uri" not in pyjwt.decode(ws.stdout.strip().split("=", 1)[1], pub, algorithms=["EdDSA"])


def test_keys_check_prints_no_secret(tmp_path: Path, ec_pem: str) -> None:
    (tmp_path / ".env").write_text(
        f'BOTKIT_COINBASE__API_KEY={KEY_NAME}\nBOTKIT_COINBASE__API_SECRET="{ec_pem.replace(chr(10), chr(92) + "n")}"\n'
    )
    out = run(["keys", "check"], {}, tmp_path)
    assert out.returncode == 0, out.stderr
    assert KEY_NAME in out.stdout and "ECDSA P-256" in out.stdout and "ES256" in out.stdout
    body = "".join(ec_pem.splitlines()[1:-1])
    assert body[:20] not in out.stdout + out.stderr and "PRIVATE" not in out.stdout


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({}, "no Coinbase CDP key is configured"),
        (
            {
                "BOTKIT_COINBASE__API_KEY": KEY_NAME,
                "BOTKIT_COINBASE__API_SECRET": "bm90IGEga2V5IGF0IGFsbCBpbmRlZWQgbm8=",
            },
            "base64 of",
        ),
        ({"BOTKIT_MODE": "nope"}, "BOTKIT_MODE"),
    ],
)
def test_bad_config_exits_2_with_clear_message(
    tmp_path: Path, env: dict[str, str], needle: str
) -> None:
    out = run(["keys", "check"], env, tmp_path)
    assert out.returncode == 2
    assert needle in out.stderr and out.stderr.startswith("botkit: error:")


def test_a_named_env_file_that_does_not_exist_is_named_beside_no_keys(tmp_path: Path) -> None:
    out = run(["--env-file", "nonexist.env", "keys", "check"], {}, tmp_path)
    assert out.returncode == 2  # no keys: as before (a missing file reads as nothing)
    assert "--env-file nonexist.env does not exist" in out.stderr  # but a typo shows
    assert "no Coinbase CDP key" in out.stderr
    quiet = run(["--env-file", os.devnull, "keys", "check"], {}, tmp_path)
    assert quiet.returncode == 2 and "does not exist" not in quiet.stderr  # "read nothing"


def test_run_exits_zero(tmp_path: Path) -> None:
    out = run(["run", "--duration", "1"], {}, tmp_path)
    assert out.returncode == 0 and "botkit run summary" in out.stdout


def test_keys_new_roundtrips(tmp_path: Path) -> None:
    out = run(["keys", "new", "--type", "EdDSA"], {}, tmp_path)
    (tmp_path / ".env").write_text(out.stdout)
    check = run(["keys", "check"], {}, tmp_path)
    assert check.returncode == 0 and "Ed25519" in check.stdout
