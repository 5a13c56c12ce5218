"""A canary secret must never appear in a log line, repr, str or exception text."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from botkit.auth.factory import (
    make_exchange_signer,
    make_jwt_signer,
    make_prime_signer,
    resolve_cdp_key,
)
from botkit.auth.keys import load_private_key
from botkit.auth.signing import RequestSigner
from botkit.clock import ManualClock
from botkit.errors import ConfigError
from botkit.runtime.settings import load_settings
from tests.conftest import KEY_NAME

CANARY = "CANARYc4n4ry5ecr3tDONOTLEAK"


def _fragments(secret: str) -> list[str]:
    core = "".join(secret.split())
    body = core.replace("-----BEGINECPRIVATEKEY-----", "").replace("-----ENDECPRIVATEKEY-----", "")
    return [body[i : i + 16] for i in range(0, len(body) - 16, 8)]


def test_no_secret_anywhere(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ec_pem: str
) -> None:
    caplog.set_level(logging.DEBUG)
    exchange_secret = base64.b64encode(CANARY.encode() * 2).decode()
    monkeypatch.setenv("BOTKIT_COINBASE__API_KEY", KEY_NAME)
    monkeypatch.setenv("BOTKIT_COINBASE__API_SECRET", ec_pem.replace("\n", "\\n"))
    monkeypatch.setenv("BOTKIT_EXCHANGE__API_KEY", "ex-key")
    monkeypatch.setenv("BOTKIT_EXCHANGE__API_SECRET", exchange_secret)
    monkeypatch.setenv("BOTKIT_EXCHANGE__PASSPHRASE", CANARY + "pass")
    monkeypatch.setenv("BOTKIT_PRIME__ACCESS_KEY", "prime-key")
    monkeypatch.setenv("BOTKIT_PRIME__SIGNING_KEY", CANARY)
    monkeypatch.setenv("BOTKIT_PRIME__PASSPHRASE", CANARY + "pp")
    settings = load_settings(env_file=None)
    key = resolve_cdp_key(settings)
    clock = ManualClock()
    signers: list[RequestSigner] = [
        make_jwt_signer(key, settings, clock=clock),
        make_exchange_signer(settings, clock=clock),
        make_prime_signer(settings, clock=clock),
    ]
    texts = [repr(settings), str(settings), repr(key), str(key), str(settings.model_dump())]
    for signer in signers:
        texts += [repr(signer), str(signer)]
        signer.sign("GET", "https://api.coinbase.com/api/v3/brokerage/accounts")
    # bad inputs whose text is secret-like must not be echoed in the error
    for bad in (CANARY, CANARY * 3, base64.b64encode(CANARY.encode()).decode(), f'"{CANARY}"'):
        with pytest.raises(ConfigError) as info:
            load_private_key(bad)
        texts += [str(info.value), repr(info.value)]
    monkeypatch.setenv("BOTKIT_MODE", CANARY)
    with pytest.raises(ConfigError) as bad_mode:
        load_settings(env_file=None)
    texts.append(str(bad_mode.value))
    texts += [r.getMessage() for r in caplog.records]
    blob = "\n".join(texts)
    assert CANARY not in blob
    assert exchange_secret not in blob
    for fragment in _fragments(ec_pem):
        assert fragment not in blob
