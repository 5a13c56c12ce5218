"""Shared fixtures: keys generated per test session (never committed), in every form users paste."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from botkit.auth.keys import secret_to_base64, secret_to_pem

KEY_NAME = "organizations/0b4d0c8e-1111-4222-8333-444455556666/apiKeys/9f1e2d3c-aaaa-4bbb-8ccc-dddd0000eeee"


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def ec_pem(ec_key: ec.EllipticCurvePrivateKey) -> str:
    """SEC1 PEM, as the CDP portal shows ECDSA keys."""
    return secret_to_pem(ec_key)


@pytest.fixture(scope="session")
def ec_pkcs8_pem(ec_key: ec.EllipticCurvePrivateKey) -> str:
    return ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="session")
def ed_b64(ed_key: ed25519.Ed25519PrivateKey) -> str:
    """64-byte base64 (seed ‖ public), as the CDP portal shows Ed25519 keys."""
    return secret_to_base64(ed_key)


@pytest.fixture(scope="session")
def ed_pem(ed_key: ed25519.Ed25519PrivateKey) -> str:
    return secret_to_pem(ed_key)
