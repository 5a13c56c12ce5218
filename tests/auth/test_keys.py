"""Key loading: every legitimate form loads, harmless damage is repaired, the rest is explained."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from botkit.auth.keys import (
    CdpKey,
    PrivateKey,
    load_cdp_key,
    load_private_key,
    parse_key_json,
    validate_key_name,
)
from botkit.errors import ConfigError
from tests.conftest import KEY_NAME


def _same_key(a: PrivateKey, b: PrivateKey) -> bool:
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return a.public_key().public_bytes(enc, pub) == b.public_key().public_bytes(enc, pub)


def test_ec_sec1_pem_loads_as_es256(ec_pem: str, ec_key: ec.EllipticCurvePrivateKey) -> None:
    key = load_cdp_key(KEY_NAME, ec_pem)
    assert key.algorithm == "ES256" and key.key_type == "ECDSA P-256"
    assert _same_key(key.private_key, ec_key)


def test_ec_pkcs8_pem_loads(ec_pkcs8_pem: str, ec_key: ec.EllipticCurvePrivateKey) -> None:
    assert _same_key(load_private_key(ec_pkcs8_pem), ec_key)


def test_ed25519_pkcs8_pem_loads(ed_pem: str, ed_key: ed25519.Ed25519PrivateKey) -> None:
    key = load_cdp_key("d2efa49a-369c-43d7-a60e-ae26e28853c2", ed_pem)
    assert key.algorithm == "EdDSA"
    assert _same_key(key.private_key, ed_key)


def test_ed25519_base64_64_and_32_bytes(ed_b64: str, ed_key: ed25519.Ed25519PrivateKey) -> None:
    assert _same_key(load_private_key(ed_b64), ed_key)
    seed_only = base64.b64encode(base64.b64decode(ed_b64)[:32]).decode()
    assert _same_key(load_private_key(seed_only), ed_key)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda s: s.replace("\n", "\\n"), id="literal-backslash-n"),
        pytest.param(lambda s: s.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda s: f'"{s}"', id="double-quoted"),
        pytest.param(lambda s: f"'{s}'", id="single-quoted"),
        pytest.param(lambda s: f"  \t{s}\n\n  ", id="stray-whitespace"),
        pytest.param(lambda s: s.replace("\n", " "), id="one-line-spaces"),
        pytest.param(lambda s: '"' + s.replace("\n", "\\r\\n") + '"', id="quoted-escaped-crlf"),
        pytest.param(lambda s: s.replace("\n", "\n  "), id="indented-lines"),
    ],
)
def test_pem_damage_is_repaired(
    mangle: Callable[[str], str], ec_pem: str, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    assert _same_key(load_private_key(mangle(ec_pem)), ec_key)


def test_base64_with_whitespace_and_quotes(ed_b64: str, ed_key: ed25519.Ed25519PrivateKey) -> None:
    messy = f'"{ed_b64[:40]}\n {ed_b64[40:]}"\r\n'
    assert _same_key(load_private_key(messy), ed_key)


def _rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


BAD_SECRETS = {
    "empty": ("", "empty"),
    "legacy-exchange-secret": (
        base64.b64encode(os.urandom(64)).decode(),
        "legacy Coinbase Exchange",
    ),
    "hex": (os.urandom(32).hex(), "hex string"),
    "garbage": ("this is not a key at all!", "neither PEM nor base64"),
    "wrong-length-base64": (base64.b64encode(os.urandom(48)).decode(), "base64 of 48 bytes"),
    "truncated-pem": ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB", "no matching '-----END'"),
    "rsa": (_rsa_pem(), "RSA key"),
    "json-pasted": ('{"name": "x", "privateKey": "y"}', "whole key JSON"),
    "public-key": (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "public key",
    ),
    "wrong-curve": (
        ec.generate_private_key(ec.SECP384R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode(),
        "secp384r1",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_SECRETS))
def test_bad_secret_gets_clear_config_error(name: str) -> None:
    secret, expected = BAD_SECRETS[name]
    with pytest.raises(ConfigError) as info:
        load_private_key(secret)
    text = str(info.value)
    assert expected in text
    # the message never contains secret material
    core = "".join(secret.split())
    for i in range(0, max(len(core) - 12, 0), 6):
        chunk = core[i : i + 12]
        if "BEGIN" not in chunk and "-----" not in chunk and "PRIVATE" not in chunk:
            assert chunk not in text


def test_corrupted_pem_body_is_explained(ec_pem: str) -> None:
    lines = ec_pem.splitlines()
    lines[2] = lines[2][::-1]
    with pytest.raises(ConfigError, match="do not parse"):
        load_private_key("\n".join(lines))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "empty"),
        ("organizations/{org_id}/apiKeys/{key_id}", "placeholder"),
        ("organizations/abc/apiKeys/ def", "whitespace"),
        ("-----BEGIN EC PRIVATE KEY-----", "swapped"),
    ],
)
def test_bad_key_names(name: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        validate_key_name(name)


def test_key_name_is_cleaned() -> None:
    assert validate_key_name(f'  "{KEY_NAME}"\n') == KEY_NAME


def test_key_json_name_or_id(ec_pem: str, ed_b64: str) -> None:
    by_name = parse_key_json(json.dumps({"name": KEY_NAME, "privateKey": ec_pem}))
    assert by_name.name == KEY_NAME and by_name.algorithm == "ES256"
    by_id = parse_key_json(
        json.dumps({"id": "d2efa49a-369c-43d7-a60e-ae26e28853c2", "privateKey": ed_b64})
    )
    assert by_id.algorithm == "EdDSA"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"privateKey": "x"}', "no 'name' or 'id'"),
        ('{"name": "a/b", "private_key": "x"}', "no 'privateKey'"),
    ],
)
def test_bad_key_json(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_key_json(text)


def test_repr_hides_the_secret(ec_pem: str) -> None:
    key = load_cdp_key(KEY_NAME, ec_pem)
    assert isinstance(key, CdpKey)
    for text in (repr(key), str(key)):
        assert KEY_NAME in text and "PRIVATE" not in text and "ES256" in text
