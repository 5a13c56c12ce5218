"""Simulator adapter: registered API keys and JWT verification as Coinbase does it (reference §1.5).

Verification deliberately uses PyJWT, an implementation independent of
botkit's own signer, so a bug in :mod:`botkit.auth.jwt` cannot hide itself by
agreeing with a twin on the server side.

Coinbase answers every authentication failure with a bare ``401 Unauthorized``.
The simulator does too, but it also records *why* (``KeyRegistry.last_failure``,
the ``x-botkit-sim-reason`` response header and a log line), which is the
single most useful thing a local exchange can tell someone debugging a 401.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from botkit.auth.keys import CdpKey

__all__ = ["AuthConfig", "AuthFailure", "KeyRegistry", "RegisteredKey"]

log = logging.getLogger("botkit.sim.auth")

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class AuthFailure(Exception):
    """A token was rejected; ``str(exc)`` is the reason (never shown to Coinbase clients)."""


@dataclass
class AuthConfig:
    """How strict verification is. Coinbase's real leeway is unknown (reference §8).

    Attributes:
        host: the ``host[:port]`` the server was configured with; REST ``uri`` must use it.
        leeway: seconds of tolerance on ``nbf`` and ``exp``.
        issuers: accepted ``iss`` values.
        max_lifetime: reject tokens whose ``exp - nbf`` exceeds this.
        reject_replayed_nonces: refuse a nonce seen before within its token's lifetime
            (Coinbase's behaviour is unknown, so off by default).
    """

    host: str
    leeway: float = 5.0
    issuers: tuple[str, ...] = ("cdp", "coinbase-cloud")
    max_lifetime: int = 300
    reject_replayed_nonces: bool = False


@dataclass
class RegisteredKey:
    """A key the simulator knows: its public half, owner and permissions."""

    name: str
    public_key: PublicKey
    user_id: str
    can_view: bool = True
    can_trade: bool = True
    can_transfer: bool = False
    portfolio_uuid: str = ""

    @property
    def algorithm(self) -> str:
        return "EdDSA" if isinstance(self.public_key, ed25519.Ed25519PublicKey) else "ES256"


@dataclass
class KeyRegistry:
    """Keys by name, and the verifier for REST and WebSocket JWTs."""

    config: AuthConfig
    keys: dict[str, RegisteredKey] = field(default_factory=dict)
    last_failure: str = ""
    _nonces: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def register(
        self,
        key: CdpKey | RegisteredKey,
        *,
        user_id: str = "default",
        can_view: bool = True,
        can_trade: bool = True,
    ) -> RegisteredKey:
        """Register a key (only its public half is kept) and return the record."""
        if isinstance(key, RegisteredKey):
            record = key
        else:
            record = RegisteredKey(
                name=key.name,
                public_key=key.private_key.public_key(),
                user_id=user_id,
                can_view=can_view,
                can_trade=can_trade,
            )
        self.keys[record.name] = record
        return record

    def revoke(self, name: str) -> bool:
        """Forget key ``name`` (a key deleted in the CDP portal): every later request or
        subscribe signed with it is refused as an unknown key. False when there was none.
        Connections subscribed before stay subscribed (**assumed**: Coinbase does not say)."""
        return self.keys.pop(name, None) is not None

    def verify_rest(
        self, authorization: str | None, method: str, path: str, now: float
    ) -> RegisteredKey:
        """Verify an ``Authorization: Bearer`` header for ``METHOD path`` (no query).

        Raises:
            AuthFailure: with the reason; the caller answers 401 ``Unauthorized``.
        """
        if not authorization or not authorization.startswith("Bearer "):
            return self._fail("missing 'Authorization: Bearer <jwt>' header")
        expected = f"{method.upper()} {self.config.host}{path}"
        return self._verify(authorization[7:].strip(), now, expected_uri=expected)

    def verify_ws(self, token: str, now: float) -> RegisteredKey:
        """Verify the ``jwt`` field of a WebSocket subscribe message (no ``uri`` claim needed)."""
        return self._verify(token, now, expected_uri=None)

    def _fail(self, reason: str) -> RegisteredKey:
        self.last_failure = reason
        log.info("sim: 401 Unauthorized: %s", reason)
        raise AuthFailure(reason)

    def _verify(self, token: str, now: float, *, expected_uri: str | None) -> RegisteredKey:
        try:
            header = pyjwt.get_unverified_header(token)
        except pyjwt.PyJWTError:
            return self._fail("token is not a JWT")
        kid = header.get("kid")
        record = self.keys.get(kid) if isinstance(kid, str) else None
        if record is None:
            return self._fail(f"unknown key id (kid) {kid!r}")
        if header.get("alg") != record.algorithm:
            return self._fail(
                f"alg {header.get('alg')!r} does not match the {record.algorithm} key"
            )
        try:
            claims: dict[str, Any] = pyjwt.decode(
                token,
                record.public_key,
                algorithms=[record.algorithm],
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "require": [],
                },
            )
        except pyjwt.InvalidSignatureError:
            return self._fail("bad signature (token tampered with, or signed by another key)")
        except pyjwt.PyJWTError as exc:
            return self._fail(f"token rejected: {exc}")
        return self._check_claims(record, claims, header, now, expected_uri)

    def _check_claims(
        self,
        record: RegisteredKey,
        claims: dict[str, Any],
        header: dict[str, Any],
        now: float,
        expected_uri: str | None,
    ) -> RegisteredKey:
        cfg = self.config
        if claims.get("sub") != record.name:
            return self._fail("sub does not equal kid")
        if claims.get("iss") not in cfg.issuers:
            return self._fail(f"iss {claims.get('iss')!r} not in {list(cfg.issuers)}")
        nbf, exp = claims.get("nbf"), claims.get("exp")
        if not isinstance(nbf, int | float) or not isinstance(exp, int | float):
            return self._fail("nbf and exp must be numbers")
        if nbf > now + cfg.leeway:
            return self._fail(
                f"token not yet valid: nbf is {nbf - now:.0f}s in the future (clock skew?)"
            )
        if now >= exp + cfg.leeway:
            return self._fail(f"token expired {now - exp:.0f}s ago (clock skew, or a reused token)")
        if exp - nbf > cfg.max_lifetime:
            return self._fail(f"token lifetime {exp - nbf}s exceeds {cfg.max_lifetime}s")
        if expected_uri is not None:
            uris = claims.get("uris")
            uri = claims.get("uri")
            ok = uri == expected_uri or (isinstance(uris, list) and expected_uri in uris)
            if not ok:
                shown = uri if uri is not None else uris
                return self._fail(f"uri {shown!r} != expected {expected_uri!r}")
        if cfg.reject_replayed_nonces:
            nonce = str(header.get("nonce", ""))
            while self._nonces and next(iter(self._nonces.values())) < now:
                self._nonces.popitem(last=False)
            if nonce in self._nonces:
                return self._fail("nonce replayed")
            self._nonces[nonce] = float(exp) + cfg.leeway
        return record
