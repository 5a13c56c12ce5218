"""Core ring: Coinbase Advanced Trade JWTs (reference §1.2, §1.3), signed on the fast path.

The token must match what the official SDK produces, claim for claim, because
Coinbase gives nothing but a bare ``401 Unauthorized`` when anything is off:

* header ``{alg: ES256|EdDSA, kid: <key name>, nonce: <random hex>, typ: "JWT"}``
* claims ``{sub: <key name>, iss: "cdp", nbf: <int seconds>, exp: nbf + 120}``
  and, for REST only, ``uri: "<METHOD> <host[:port]><path>"`` — no scheme and
  **no query string** (putting the query in ``uri`` is a classic 401, ccxt#21640).

Signing uses ``cryptography`` directly rather than PyJWT: the key is parsed
once and the JOSE encoding is a few lines, which measured about 1.8× faster
than PyJWT with a cached key (perf-building-blocks.md). The constant parts of
header and claims are JSON-encoded once per key (``_Template``), so a token
costs the signature plus ~3 µs. The output is a standard JWS that PyJWT
verifies (see tests/auth/test_jwt.py).

:class:`PresignedTokens` keeps single-use create-order tokens signed ahead of
time, so the signature can leave the tick-to-order path (docs/executor.md).
"""

from __future__ import annotations

import json
from binascii import b2a_base64
from collections import deque
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring_ascii
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from botkit.auth.keys import CdpKey
from botkit.clock import Clock

__all__ = [
    "DEFAULT_ISSUER",
    "DEFAULT_LIFETIME",
    "JwtSigner",
    "PresignedTokens",
    "build_jwt",
    "format_uri",
    "host_of",
]

DEFAULT_ISSUER = "cdp"
DEFAULT_LIFETIME = 120
_DEFAULT_PORTS = {"https": 443, "wss": 443, "http": 80, "ws": 80}
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_URI_CACHE = 256
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64url(data: bytes) -> bytes:
    """base64url without padding (``urlsafe_b64encode`` minus two Python call layers)."""
    return b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def _json(obj: Mapping[str, object]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# What ``json.dumps`` uses for a str (ensure_ascii): the tokens below are assembled from
# pre-encoded pieces and are byte-identical to ``_json`` of the same dicts, at a fifth of
# the cost (tests/auth/test_jwt.py compares them).
_str = encode_basestring_ascii


def host_of(url: str) -> str:
    """The ``host[:port]`` part of a URL as Coinbase expects it in the JWT ``uri``.

    The port is kept only when it is not the scheme's default, so
    ``https://api.coinbase.com/...`` gives ``api.coinbase.com`` and
    ``https://127.0.0.1:8443/...`` gives ``127.0.0.1:8443``. A bare
    ``host[:port]`` (the SDK's ``base_url`` style) is returned unchanged.
    """
    if "://" not in url:
        return url.split("/", 1)[0]
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        return f"{host}:{port}"
    return host


def format_uri(method: str, host: str, path: str) -> str:
    """Build the REST ``uri`` claim: ``"METHOD host/path"``, query string removed."""
    return f"{method.upper()} {host}{path.split('?', 1)[0]}"


def build_jwt(
    key: CdpKey,
    *,
    now: float,
    nonce: str,
    uri: str | None = None,
    issuer: str = DEFAULT_ISSUER,
    lifetime: int = DEFAULT_LIFETIME,
) -> str:
    """Sign one JWT. Pure: time and nonce are passed in.

    Args:
        key: the parsed CDP key.
        now: Unix time in seconds; ``nbf`` is its integer part.
        nonce: a fresh random string (hex) for this token.
        uri: the REST ``uri`` claim, or None for a WebSocket token.
        issuer: ``iss`` claim; ``"cdp"`` (current SDK) or ``"coinbase-cloud"`` (older SDKs).
        lifetime: seconds from ``nbf`` to ``exp`` (Coinbase documents 120).
    """
    return _Template(key, issuer, lifetime).token(now, nonce, uri)


class _Template:
    """A key's constant token parts, JSON-encoded once; :meth:`token` adds the varying ones.

    The output equals signing ``{alg, kid, nonce, typ}`` and ``{sub, iss, nbf, exp[, uri]}``
    dumped compactly in that key order (the official SDK's order, via PyJWT).
    """

    __slots__ = ("_claims_head", "_header_head", "_lifetime", "_private")

    def __init__(self, key: CdpKey, issuer: str, lifetime: int) -> None:
        self._private = key.private_key
        self._lifetime = lifetime
        self._header_head = f'{{"alg":{_str(key.algorithm)},"kid":{_str(key.name)},"nonce":'
        self._claims_head = f'{{"sub":{_str(key.name)},"iss":{_str(issuer)},"nbf":'

    def token(self, now: float, nonce: str, uri: str | None) -> str:
        nbf = int(now)
        header = f'{self._header_head}{_str(nonce)},"typ":"JWT"}}'
        tail = "}" if uri is None else f',"uri":{_str(uri)}}}'
        claims = f'{self._claims_head}{nbf},"exp":{nbf + self._lifetime}{tail}'
        signing_input = _b64url(header.encode()) + b"." + _b64url(claims.encode())
        private = self._private
        if isinstance(private, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(private.sign(signing_input, _ECDSA_SHA256))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            signature = private.sign(signing_input)
        return (signing_input + b"." + _b64url(signature)).decode()


class JwtSigner:
    """Signs every REST request and WebSocket subscribe with a fresh JWT.

    Implements the :class:`botkit.auth.signing.RequestSigner` interface. A
    token is never reused: each call gets a new nonce and a new ``nbf`` from
    the clock, whose offset the executor corrects after a clock-skew error.

    Args:
        key: the parsed CDP key (parsed once, reused for every token).
        clock: source of "now"; carries the skew correction.
        nonce: returns a fresh random hex string per call (e.g. ``secrets.token_hex``).
        issuer: ``iss`` claim. Coinbase accepts ``cdp``; configurable because
            the accepted set is not documented (reference §8).
        lifetime: seconds until ``exp``.
    """

    def __init__(
        self,
        key: CdpKey,
        *,
        clock: Clock,
        nonce: Callable[[], str],
        issuer: str = DEFAULT_ISSUER,
        lifetime: int = DEFAULT_LIFETIME,
    ) -> None:
        self.key = key
        self.clock = clock
        self._nonce = nonce
        self._template = _Template(key, issuer, lifetime)
        self._issuer = issuer
        self._lifetime = lifetime
        self._uris: dict[tuple[str, str], str] = {}  # (method, url) -> uri claim

    @property
    def issuer(self) -> str:
        return self._issuer

    @issuer.setter
    def issuer(self, value: str) -> None:
        self._issuer = value
        self._template = _Template(self.key, value, self._lifetime)

    @property
    def lifetime(self) -> int:
        return self._lifetime

    @lifetime.setter
    def lifetime(self, value: int) -> None:
        self._lifetime = value
        self._template = _Template(self.key, self._issuer, value)

    @property
    def key_name(self) -> str:
        """The key name (``kid``/``sub``); safe to log."""
        return self.key.name

    def rest_token(self, method: str, host: str, path: str) -> str:
        """A REST JWT for one request (``uri`` = METHOD host path, no query)."""
        return self._template.token(
            self.clock.time(), self._nonce(), format_uri(method, host, path)
        )

    def ws_token(self) -> str:
        """A WebSocket JWT (no ``uri``), for one subscribe/unsubscribe message."""
        return self._template.token(self.clock.time(), self._nonce(), None)

    def uri_for(self, method: str, url: str) -> str:
        """The ``uri`` claim for a request to ``url`` (cached: URLs repeat)."""
        uri = self._uris.get((method, url))
        if uri is None:
            if len(self._uris) >= _URI_CACHE:  # query strings vary: keep the cache bounded
                self._uris.clear()
            uri = format_uri(method, host_of(url), urlsplit(url).path)
            self._uris[(method, url)] = uri
        return uri

    def token_for(self, method: str, url: str) -> str:
        """A fresh REST JWT for ``method`` on ``url`` (the query, if any, is not signed)."""
        return self._template.token(self.clock.time(), self._nonce(), self.uri_for(method, url))

    def sign(self, method: str, url: str, body: bytes = b"") -> dict[str, str]:
        """Headers for one attempt of a request: ``Authorization: Bearer <fresh jwt>``."""
        return {"Authorization": f"Bearer {self.token_for(method, url)}"}

    def __repr__(self) -> str:
        return f"JwtSigner(key={self.key!r}, issuer={self.issuer!r})"


class PresignedTokens:
    """Single-use REST tokens for one route, signed ahead of time (off the order's hot path).

    A REST JWT binds the method, host and path, ``nbf``/``exp`` and a nonce, but **not the
    body** (reference §1.2), so a create-order token can be signed before the order exists.
    This pool holds a few such tokens; the REST client hands one out per create-order
    attempt and signs a replacement after the request is done (``botkit.net.rest_base``).

    Rules, which keep a pre-signed token as good as a fresh one:

    * **single use**: :meth:`take` removes the token; nothing ever returns it to the pool;
    * **young**: a token older than ``max_age`` seconds (by the signer's clock) is thrown
      away, never sent; so is one "from the future" (the clock went back);
    * **invalidated** by :meth:`invalidate` when the signing clock is corrected or a
      request is answered 401 (the pool's tokens would carry the same mistake).

    Pure: time is the signer's injected clock.

    Args:
        signer: signs the tokens; its clock dates them.
        method: the route's method (``POST``).
        url: the route's full URL, without a query.
        size: tokens kept ready (a burst of this many orders needs no inline signature).
        max_age: seconds a token may wait; at most half the token lifetime.
    """

    def __init__(
        self, signer: JwtSigner, method: str, url: str, *, size: int = 4, max_age: float = 5.0
    ) -> None:
        if size < 1:
            raise ValueError("a token pool needs size >= 1")
        if not 0 < max_age <= signer.lifetime / 2:
            raise ValueError(
                f"max_age must be in (0, {signer.lifetime / 2:g}] s (half the token lifetime)"
            )
        self.signer = signer
        self.method = method
        self.url = url
        self.size = size
        self.max_age = max_age
        self._tokens: deque[tuple[float, str]] = deque()  # (signed at, token), oldest first
        self.taken = 0  # tokens handed out
        self.misses = 0  # take() found nothing usable (the caller signs inline)
        self.discarded = 0  # tokens dropped unused: too old, from the future, invalidated

    def __len__(self) -> int:
        return len(self._tokens)

    @property
    def wanted(self) -> int:
        """How many tokens the pool is short of ``size``."""
        return max(0, self.size - len(self._tokens))

    def take(self) -> str | None:
        """The oldest usable token, removed from the pool; None if there is none."""
        now = self.signer.clock.time()
        tokens = self._tokens
        while tokens:
            signed_at, token = tokens.popleft()
            if 0 <= now - signed_at <= self.max_age:
                self.taken += 1
                return token
            self.discarded += 1
        self.misses += 1
        return None

    def mint(self) -> None:
        """Sign one more token for the route (about one signature's time)."""
        signed_at = self.signer.clock.time()
        self._tokens.append((signed_at, self.signer.token_for(self.method, self.url)))

    def prune(self, older_than: float) -> int:
        """Drop tokens older than ``older_than`` seconds (or from the future); return how many.

        The idle refresh prunes at ``max_age / 2``, so a token handed out is at most
        ``max_age`` old even when the refresh runs late.
        """
        now = self.signer.clock.time()
        keep = deque((t, tok) for t, tok in self._tokens if 0 <= now - t <= older_than)
        dropped = len(self._tokens) - len(keep)
        self._tokens = keep
        self.discarded += dropped
        return dropped

    def invalidate(self) -> int:
        """Drop every token (the clock was corrected, or a request was answered 401)."""
        dropped = len(self._tokens)
        self._tokens.clear()
        self.discarded += dropped
        return dropped
