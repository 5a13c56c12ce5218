"""Core ring: HMAC signers for Coinbase Exchange (CB-ACCESS-*) and Coinbase Prime (X-CB-ACCESS-*).

The two schemes look alike and differ in four places (reference §4), each of
which turns into a bare "invalid signature" when confused:

=================  ==============================  ==============================
                   Exchange                        Prime
=================  ==============================  ==============================
headers            ``CB-ACCESS-KEY/SIGN/...``      ``X-CB-ACCESS-KEY/SIGNATURE/...``
HMAC key           base64-**decoded** secret       secret's raw UTF-8 bytes
timestamp          Unix seconds (decimals allowed)  integer Unix seconds only
request path       path **plus** ``?query``         path only, query excluded
=================  ==============================  ==============================

Both sign ``timestamp + METHOD + requestPath + body`` with HMAC-SHA256 and
send the digest base64-encoded, with the passphrase header always present.
The body must be the exact bytes sent, so callers serialise once and pass
those bytes both here and to the transport.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import urlsplit

from botkit.clock import Clock
from botkit.errors import ConfigError

__all__ = [
    "ExchangeHmacSigner",
    "PrimeHmacSigner",
    "hmac_sha256_b64",
]


def hmac_sha256_b64(key: bytes, message: bytes) -> str:
    """Base64 of HMAC-SHA256(key, message): the signature format of both schemes."""
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


class ExchangeHmacSigner:
    """Signs Coinbase Exchange REST requests (``CB-ACCESS-*`` headers).

    Args:
        api_key: the Exchange API key (public identifier).
        secret: the base64 secret shown when the key was created.
        passphrase: the key's passphrase ("" if none; the header is sent anyway).
        clock: time source (with skew correction).
        decimal_timestamp: send ``1760000000.123`` instead of ``1760000000``;
            Exchange accepts both, the official Go SDK sends integers.

    Raises:
        ConfigError: the secret is not base64.
    """

    def __init__(
        self,
        api_key: str,
        secret: str,
        passphrase: str,
        *,
        clock: Clock,
        decimal_timestamp: bool = False,
    ) -> None:
        try:
            self._key = base64.b64decode("".join(secret.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(
                "the Coinbase Exchange API secret is not base64: Exchange secrets are the "
                "base64 string shown once when the key was created (a CDP key PEM or a Prime "
                "signing key does not work here)"
            ) from None
        self.api_key = api_key
        self._passphrase = passphrase
        self.clock = clock
        self.decimal_timestamp = decimal_timestamp

    @property
    def key_name(self) -> str:
        return self.api_key

    def timestamp(self) -> str:
        now = self.clock.time()
        return f"{now:.3f}" if self.decimal_timestamp else str(int(now))

    def sign(self, method: str, url: str, body: bytes = b"") -> dict[str, str]:
        """Headers for one attempt: a fresh timestamp and signature every call."""
        parts = urlsplit(url)
        request_path = parts.path + (f"?{parts.query}" if parts.query else "")
        ts = self.timestamp()
        message = (ts + method.upper() + request_path).encode() + body
        return {
            "CB-ACCESS-KEY": self.api_key,
            "CB-ACCESS-SIGN": hmac_sha256_b64(self._key, message),
            "CB-ACCESS-TIMESTAMP": ts,
            "CB-ACCESS-PASSPHRASE": self._passphrase,
        }

    def __repr__(self) -> str:
        return f"ExchangeHmacSigner(api_key={self.api_key!r})"


class PrimeHmacSigner:
    """Signs Coinbase Prime REST requests (``X-CB-ACCESS-*`` headers).

    Args:
        access_key: the Prime access key.
        signing_key: the Prime signing key, used as raw UTF-8 (not base64-decoded).
        passphrase: the key's passphrase (header always sent).
        clock: time source (with skew correction).
    """

    def __init__(self, access_key: str, signing_key: str, passphrase: str, *, clock: Clock) -> None:
        if "-----BEGIN" in signing_key:  # it passed `keys check` and failed at the venue (401)
            raise ConfigError(
                "the Coinbase Prime signing key is a PEM private key: that is an Advanced "
                "Trade (CDP) key; Prime's signing key is the secret string shown once with "
                "the Prime API key (BOTKIT_PRIME__SIGNING_KEY)"
            )
        self.access_key = access_key
        self._key = signing_key.strip().encode()
        self._passphrase = passphrase
        self.clock = clock

    @property
    def key_name(self) -> str:
        return self.access_key

    def sign(self, method: str, url: str, body: bytes = b"") -> dict[str, str]:
        """Headers for one attempt; the query string is not signed (Prime docs)."""
        ts = str(int(self.clock.time()))
        message = (ts + method.upper() + urlsplit(url).path).encode() + body
        return {
            "X-CB-ACCESS-KEY": self.access_key,
            "X-CB-ACCESS-SIGNATURE": hmac_sha256_b64(self._key, message),
            "X-CB-ACCESS-TIMESTAMP": ts,
            "X-CB-ACCESS-PASSPHRASE": self._passphrase,
        }

    def __repr__(self) -> str:
        return f"PrimeHmacSigner(access_key={self.access_key!r})"
