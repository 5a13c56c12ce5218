"""Benchmark: REST JWT signing, botkit vs the official SDK (coinbase-advanced-py) in one run.

Run:  .venv/bin/python bench/bench_sign.py [--n 3000]

Prints the median per-token cost of each variant over several repeats, and ratios against
botkit. The floor is one bare ``key.sign()`` (+ DER -> raw for ES256): no signer can beat it.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from collections.abc import Callable

import jwt as pyjwt
from coinbase import jwt_generator
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from botkit.auth.clock import SystemClock
from botkit.auth.factory import generate_cdp_key
from botkit.auth.jwt import JwtSigner
from botkit.auth.keys import CdpKey, secret_to_base64, secret_to_pem

PATH = "/api/v3/brokerage/orders"


def per_call_us(fn: Callable[[], object], n: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(samples)


def variants(key: CdpKey) -> dict[str, Callable[[], object]]:
    secret = (
        secret_to_pem(key.private_key)
        if key.algorithm == "ES256"
        else secret_to_base64(key.private_key)
    )  # type: ignore[arg-type]
    signer = JwtSigner(key, clock=SystemClock(), nonce=secrets.token_hex)
    uri = jwt_generator.format_jwt_uri("POST", PATH)
    priv = key.private_key

    def pyjwt_cached() -> str:
        now = int(time.time())
        return pyjwt.encode(
            {"sub": key.name, "iss": "cdp", "nbf": now, "exp": now + 120, "uri": uri},
            priv,
            algorithm=key.algorithm,
            headers={"kid": key.name, "nonce": secrets.token_hex()},
        )  # type: ignore[arg-type]

    def floor() -> object:
        if isinstance(priv, ec.EllipticCurvePrivateKey):
            return decode_dss_signature(priv.sign(b"x" * 300, ec.ECDSA(hashes.SHA256())))
        return priv.sign(b"x" * 300)

    return {
        "botkit JwtSigner.rest_token": lambda: signer.rest_token("POST", "api.coinbase.com", PATH),
        "PyJWT, key cached": pyjwt_cached,
        "official SDK build_rest_jwt": lambda: jwt_generator.build_rest_jwt(uri, key.name, secret),
        "floor: key.sign() only": floor,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    for alg in ("ES256", "EdDSA"):
        key = generate_cdp_key(alg)  # type: ignore[arg-type]
        results = {
            name: per_call_us(fn, args.n, args.repeats) for name, fn in variants(key).items()
        }
        base = results["botkit JwtSigner.rest_token"]
        print(f"\n{alg}  (median µs per token, n={args.n} x {args.repeats})")
        for name, us in results.items():
            print(f"  {name:32s} {us:8.1f} µs  {us / base:5.2f}x botkit")


if __name__ == "__main__":
    main()
