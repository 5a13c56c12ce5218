"""Core ring: parse Coinbase CDP API keys into ready-to-sign key objects.

The commonest Coinbase complaint is an unexplained 401, and most of those come
from a key that was mangled on its way into the program: PEM newlines turned
into literal ``\\n``, Windows CRLF, quotes kept from a ``.env`` file, an Ed25519
base64 secret fed to a PEM-only loader, or a legacy Exchange secret used where
a CDP key belongs (reference §1.1, §1.4, §6). This module accepts every
legitimate form, repairs harmless damage, and explains the rest. It parses the
key exactly once; signing reuses the parsed object.

Accepted secret forms:

* EC P-256 private key, PEM: SEC1 (``BEGIN EC PRIVATE KEY``) or PKCS8 (``BEGIN PRIVATE KEY``).
* Ed25519 private key, PKCS8 PEM (``BEGIN PRIVATE KEY``).
* Ed25519 raw, base64: 32-byte seed, or 64 bytes = seed ‖ public key (the CDP portal's form).

Error messages name the form that was found and the forms that are accepted,
and never contain any part of the secret.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from botkit.errors import ConfigError

__all__ = [
    "ACCEPTED_FORMS",
    "CdpKey",
    "KeyType",
    "PrivateKey",
    "load_cdp_key",
    "load_private_key",
    "normalize_secret",
    "parse_key_json",
    "secret_to_base64",
    "secret_to_pem",
    "validate_key_name",
]

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
KeyType = Literal["ECDSA P-256", "Ed25519"]

ACCEPTED_FORMS = (
    "accepted forms: an EC P-256 PEM ('-----BEGIN EC PRIVATE KEY-----' or "
    "'-----BEGIN PRIVATE KEY-----'), an Ed25519 PKCS8 PEM ('-----BEGIN PRIVATE KEY-----'), "
    "or an Ed25519 base64 secret of 32 or 64 bytes (44 or 88 characters), as shown once "
    "by the CDP portal when the key was created"
)

_PEM_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_QUOTES = "\"'"
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
_PLACEHOLDER_RE = re.compile(r"[{}<>]|\.\.\.|your[-_ ]?(api|key|org)", re.IGNORECASE)


@dataclass(frozen=True, repr=False, eq=False)
class CdpKey:
    """A parsed CDP API key: its name and its private key object.

    Attributes:
        name: the key name or id, used as JWT ``kid`` and ``sub``.
        private_key: the parsed private key (never printed).
    """

    name: str
    private_key: PrivateKey

    @property
    def key_type(self) -> KeyType:
        """``"ECDSA P-256"`` or ``"Ed25519"``."""
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey):
            return "Ed25519"
        return "ECDSA P-256"

    @property
    def algorithm(self) -> Literal["ES256", "EdDSA"]:
        """The JWT ``alg`` this key signs with."""
        return "EdDSA" if self.key_type == "Ed25519" else "ES256"

    def public_key_pem(self) -> str:
        """The public half as SubjectPublicKeyInfo PEM (safe to print or register)."""
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def __repr__(self) -> str:
        return f"CdpKey(name={self.name!r}, type={self.key_type!r}, alg={self.algorithm!r})"

    __str__ = __repr__


def normalize_secret(raw: str) -> str:
    """Undo the usual damage a secret suffers in env files and shells.

    Strips surrounding whitespace and matching quotes, turns literal ``\\n``
    escapes into newlines, and turns CRLF/CR into LF. A PEM block is rebuilt
    from its base64 body, so stray spaces, tabs or a one-line PEM still load.
    """
    s = raw.strip()
    while len(s) >= 2 and s[0] == s[-1] and s[0] in _QUOTES:
        s = s[1:-1].strip()
    s = s.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\\r", "")
    s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    match = _PEM_RE.search(s)
    if match:
        label, body = match.group(1), re.sub(r"\s+", "", match.group(2))
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        s = "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])
    return s


def validate_key_name(raw: str) -> str:
    """Check a CDP key name/id and return it cleaned (whitespace and quotes stripped).

    Raises:
        ConfigError: empty, a placeholder, containing whitespace, or a private key
            pasted into the name field.
    """
    name = raw.strip().strip(_QUOTES).strip()
    if not name:
        raise ConfigError(
            "the CDP key name is empty: set it to the key's name "
            "('organizations/{org_id}/apiKeys/{key_id}') or id (a UUID)"
        )
    if "BEGIN" in name and "KEY" in name:
        raise ConfigError(
            "the CDP key name looks like a private key: key name and secret appear to be "
            "swapped (the name is 'organizations/.../apiKeys/...' or a UUID)"
        )
    if _PLACEHOLDER_RE.search(name):
        raise ConfigError(
            f"the CDP key name {name!r} is still a placeholder: paste the real key name "
            "from the CDP portal"
        )
    if any(c.isspace() for c in name):
        raise ConfigError("the CDP key name contains whitespace: copy it again without spaces")
    return name


def load_private_key(raw_secret: str) -> PrivateKey:
    """Parse a CDP private key from any accepted form.

    Raises:
        ConfigError: the secret is not a usable CDP key; the message says what it
            looks like instead and lists the accepted forms.
    """
    secret = normalize_secret(raw_secret)
    if not secret:
        raise ConfigError(f"the CDP API secret is empty; {ACCEPTED_FORMS}")
    if secret.startswith("{"):
        raise ConfigError(
            "the CDP API secret looks like a whole key JSON file: point BOTKIT_COINBASE__KEY_FILE "
            "at the file instead, or use only its 'privateKey' value as the secret"
        )
    if "-----BEGIN" in secret:
        return _load_pem(secret)
    return _load_base64(secret)


def _load_pem(secret: str) -> PrivateKey:
    match = _PEM_RE.search(secret)
    if match is None:
        raise ConfigError(
            "the CDP API secret has a '-----BEGIN' line but no matching '-----END' line: it was "
            f"truncated when copied; copy the whole key; {ACCEPTED_FORMS}"
        )
    label = match.group(1)
    if "PUBLIC" in label:
        raise ConfigError(
            f"the CDP API secret is a public key ({label}); botkit needs the private key"
        )
    if "ENCRYPTED" in label:
        raise ConfigError(
            "the CDP API secret is an encrypted PEM; export it unencrypted "
            "(e.g. 'openssl pkcs8 -topk8 -nocrypt')"
        )
    if label == "RSA PRIVATE KEY":
        raise ConfigError(f"the CDP API secret is an RSA key; {ACCEPTED_FORMS}")
    if label == "OPENSSH PRIVATE KEY":
        raise ConfigError(f"the CDP API secret is an OpenSSH key; {ACCEPTED_FORMS}")
    try:
        key = serialization.load_pem_private_key(match.group(0).encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(
            f"the CDP API secret is a PEM block ({label}) whose contents do not parse as a "
            f"private key: part of it was lost or changed when copied; {ACCEPTED_FORMS}"
        ) from None
    return _check_key_type(key, f"PEM ({label})")


def _load_base64(secret: str) -> PrivateKey:
    compact = re.sub(r"\s+", "", secret)
    if _HEX_RE.match(compact) and len(compact) not in (44, 88):
        raise ConfigError(
            f"the CDP API secret is a hex string of {len(compact)} characters, not a CDP key; "
            f"{ACCEPTED_FORMS}"
        )
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            f"the CDP API secret is neither PEM nor base64 ({len(compact)} characters); "
            f"{ACCEPTED_FORMS}"
        ) from None
    if len(raw) == 32:
        return ed25519.Ed25519PrivateKey.from_private_bytes(raw)
    if len(raw) == 64:
        key = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        if public != raw[32:]:
            raise ConfigError(
                "the CDP API secret looks like a legacy Coinbase Exchange/Pro base64 secret "
                "(64 random bytes), not a CDP key: its second half is not the Ed25519 public "
                "key of its first half. Create a CDP API key for Advanced Trade, or configure "
                f"this secret as an Exchange key (BOTKIT_EXCHANGE__API_SECRET); {ACCEPTED_FORMS}"
            )
        return key
    try:  # a PKCS8/SEC1 DER body whose PEM armour was stripped
        der_key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(
            f"the CDP API secret is base64 of {len(raw)} bytes; an Ed25519 secret is 32 or 64 "
            f"bytes; {ACCEPTED_FORMS}"
        ) from None
    return _check_key_type(der_key, "base64 DER")


def _check_key_type(key: object, found: str) -> PrivateKey:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ConfigError(
                f"the CDP API secret is an EC key on curve {key.curve.name}; CDP keys use "
                f"P-256 (secp256r1); {ACCEPTED_FORMS}"
            )
        return key
    raise ConfigError(
        f"the CDP API secret ({found}) is a {type(key).__name__.replace('_', '')}; {ACCEPTED_FORMS}"
    )


def load_cdp_key(name: str, secret: str) -> CdpKey:
    """Parse a key name and secret into a :class:`CdpKey` (once; reuse it for signing)."""
    return CdpKey(name=validate_key_name(name), private_key=load_private_key(secret))


def parse_key_json(text: str, *, source: str = "key file") -> CdpKey:
    """Parse the CDP key JSON (``name`` or ``id``, plus ``privateKey``).

    Args:
        text: the file's contents.
        source: how to name the input in error messages (e.g. its path).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}); a CDP key "
            'file looks like {"name": "organizations/.../apiKeys/...", "privateKey": "-----BEGIN'
            ' EC PRIVATE KEY-----\\n..."}'
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must hold a JSON object with 'name' (or 'id') and 'privateKey'"
        )
    name = data.get("name") or data.get("id")
    if not isinstance(name, str):
        raise ConfigError(f"{source} has no 'name' or 'id' field (the key name)")
    secret = data.get("privateKey")
    if not isinstance(secret, str):
        fields = ", ".join(sorted(str(k) for k in data)) or "none"
        raise ConfigError(f"{source} has no 'privateKey' string field (fields found: {fields})")
    return load_cdp_key(name, secret)


def secret_to_pem(key: PrivateKey) -> str:
    """Serialise a private key the way the CDP portal shows it as PEM (SEC1 for EC)."""
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if isinstance(key, ec.EllipticCurvePrivateKey)
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def secret_to_base64(key: ed25519.Ed25519PrivateKey) -> str:
    """Serialise an Ed25519 key as the portal's 64-byte base64 (seed ‖ public key)."""
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(seed + public).decode()
