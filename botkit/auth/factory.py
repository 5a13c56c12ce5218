"""Adapter ring: find the configured keys, read key files, build signers, make new keys.

The pure parsing lives in :mod:`botkit.auth.keys`; this module does the I/O
around it (files, permissions, randomness) and decides which source wins:

1. ``BOTKIT_COINBASE__KEY_FILE`` (the CDP key JSON file),
2. ``BOTKIT_COINBASE__API_KEY`` + ``BOTKIT_COINBASE__API_SECRET``,
3. the conventional ``COINBASE_API_KEY`` + ``COINBASE_API_SECRET``.
"""

from __future__ import annotations

import logging
import secrets
import stat
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from botkit.auth.clock import SystemClock
from botkit.auth.hmac_sign import ExchangeHmacSigner, PrimeHmacSigner
from botkit.auth.jwt import JwtSigner
from botkit.auth.keys import CdpKey, load_cdp_key, parse_key_json
from botkit.clock import Clock
from botkit.errors import ConfigError
from botkit.runtime.settings import BotSettings

__all__ = [
    "generate_cdp_key",
    "make_exchange_signer",
    "make_jwt_signer",
    "make_prime_signer",
    "read_key_file",
    "resolve_cdp_key",
]

log = logging.getLogger("botkit.auth.factory")


def read_key_file(path: Path) -> CdpKey:
    """Load a CDP key JSON file, warning if other users can read it."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"CDP key file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"CDP key file {path} cannot be read: {exc.strerror}") from None
    mode = path.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("CDP key file %s is readable by other users; run: chmod 600 %s", path, path)
    return parse_key_json(text, source=f"CDP key file {path}")


def resolve_cdp_key(settings: BotSettings) -> CdpKey:
    """Return the configured CDP key, parsed once.

    Raises:
        ConfigError: no key configured, half a key configured, or an unusable key.
    """
    cb = settings.coinbase
    if cb.key_file is not None:
        return read_key_file(cb.key_file)
    for name, secret, names in (
        (cb.api_key, cb.api_secret, "BOTKIT_COINBASE__API_KEY / BOTKIT_COINBASE__API_SECRET"),
        (
            settings.coinbase_api_key,
            settings.coinbase_api_secret,
            "COINBASE_API_KEY / COINBASE_API_SECRET",
        ),
    ):
        if name and secret is not None and secret.get_secret_value():
            return load_cdp_key(name, secret.get_secret_value())
        if name or (secret is not None and secret.get_secret_value()):
            missing = "secret" if name else "key name"
            raise ConfigError(
                f"only half a CDP key is configured in {names}: the {missing} is missing"
            )
    raise ConfigError(
        "no Coinbase CDP key is configured: set BOTKIT_COINBASE__KEY_FILE to the key JSON file, "
        "or BOTKIT_COINBASE__API_KEY and BOTKIT_COINBASE__API_SECRET (COINBASE_API_KEY and "
        "COINBASE_API_SECRET also work), in the environment or in .env. "
        "The default 'sim' mode needs no key."
    )


def make_jwt_signer(
    key: CdpKey, settings: BotSettings | None = None, *, clock: Clock | None = None
) -> JwtSigner:
    """A JWT signer for ``key`` with a system clock and cryptographically random nonces."""
    cb = settings.coinbase if settings is not None else None
    return JwtSigner(
        key,
        clock=clock or SystemClock(),
        nonce=secrets.token_hex,
        issuer=cb.jwt_issuer if cb else "cdp",
        lifetime=cb.jwt_lifetime if cb else 120,
    )


def make_exchange_signer(
    settings: BotSettings, *, clock: Clock | None = None
) -> ExchangeHmacSigner:
    """The Exchange HMAC signer from ``settings.exchange``."""
    ex = settings.exchange
    if not ex.api_key or ex.api_secret is None:
        raise ConfigError(
            "Coinbase Exchange key not configured: set BOTKIT_EXCHANGE__API_KEY, "
            "BOTKIT_EXCHANGE__API_SECRET and BOTKIT_EXCHANGE__PASSPHRASE"
        )
    return ExchangeHmacSigner(
        ex.api_key,
        ex.api_secret.get_secret_value(),
        ex.passphrase.get_secret_value(),
        clock=clock or SystemClock(),
        decimal_timestamp=ex.decimal_timestamp,
    )


def make_prime_signer(settings: BotSettings, *, clock: Clock | None = None) -> PrimeHmacSigner:
    """The Prime HMAC signer from ``settings.prime``."""
    pr = settings.prime
    if not pr.access_key or pr.signing_key is None:
        raise ConfigError(
            "Coinbase Prime key not configured: set BOTKIT_PRIME__ACCESS_KEY, "
            "BOTKIT_PRIME__SIGNING_KEY and BOTKIT_PRIME__PASSPHRASE"
        )
    return PrimeHmacSigner(
        pr.access_key,
        pr.signing_key.get_secret_value(),
        pr.passphrase.get_secret_value(),
        clock=clock or SystemClock(),
    )


def generate_cdp_key(kind: Literal["ES256", "EdDSA"] = "ES256", name: str | None = None) -> CdpKey:
    """Make a fresh CDP-style key (for the simulator and tests; Coinbase issues real ones).

    Args:
        kind: ``ES256`` for an EC P-256 key, ``EdDSA`` for Ed25519.
        name: key name; defaults to a new ``organizations/<uuid>/apiKeys/<uuid>``.
    """
    private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if kind == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    if name is None:
        import uuid

        name = f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"
    return CdpKey(name=name, private_key=private)
