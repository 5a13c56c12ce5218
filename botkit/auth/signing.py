"""Core ring: the one interface every request signer implements.

The REST client never knows which Coinbase product it talks to: it serialises
the body once, asks the signer for headers for *this attempt*, and sends. A
retry calls :meth:`RequestSigner.sign` again, so every attempt carries a fresh
JWT or HMAC timestamp (a token is never reused across retries).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["RequestSigner"]


@runtime_checkable
class RequestSigner(Protocol):
    """Produces authentication headers for one request attempt.

    Implemented by :class:`botkit.auth.jwt.JwtSigner` (Advanced Trade CDP keys),
    :class:`botkit.auth.hmac_sign.ExchangeHmacSigner` and
    :class:`botkit.auth.hmac_sign.PrimeHmacSigner`.
    """

    @property
    def key_name(self) -> str:
        """The public key identifier, safe to log."""
        ...

    def sign(self, method: str, url: str, body: bytes = b"") -> dict[str, str]:
        """Return the auth headers for sending ``body`` with ``method`` to ``url`` now."""
        ...
