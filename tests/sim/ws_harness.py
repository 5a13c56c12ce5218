"""Harness for the WebSocket hub tests (tests/sim/test_ws_*.py): keys, a driven hub, a recording client.

The market is driven by the test (virtual clock, ``exchange.advance`` then
``hub.publish(exchange.drain_events())``). Waits are on frames with bounded
timeouts; a "barrier" (an unsubscribe of an unused channel, answered by an ack
queued behind everything published before it) proves that all earlier frames
have arrived. The fixtures ``make_sim`` and ``connect`` live in tests/sim/conftest.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import jwt
from aiohttp import WSMsgType
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from botkit.sim.exchange import SimExchange
from botkit.sim.ws import SimWsHub, WsAuthError, WsFaults

T0 = 1_767_268_800.0  # 2026-01-01T12:00:00Z
WAIT = 10.0
GO_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} \+0000 UTC m=\+\d+\.\d{9}$")


# -- keys and JWTs -------------------------------------------------------------


@dataclass
class Keys:
    """Two CDP-style keys (ES256 and Ed25519) registered for one user each."""

    ec_kid: str = "organizations/org-1/apiKeys/key-ec"
    ed_kid: str = "d2efa49a-369c-43d7-a60e-ae26e28853c2"
    ec_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    ed_key: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)

    def users(self) -> dict[str, tuple[Any, str]]:
        return {
            self.ec_kid: (self.ec_key.public_key(), "user-ec"),
            self.ed_kid: (self.ed_key.public_key(), "user-ed"),
        }

    def ec_pem(self) -> str:
        return self.ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()

    def ed_b64(self) -> str:
        seed = self.ed_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        pub = self.ed_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(seed + pub).decode()

    def token(self, *, ed: bool = False, age: float = 0.0) -> str:
        kid, key, alg = (
            (self.ed_kid, self.ed_key, "EdDSA") if ed else (self.ec_kid, self.ec_key, "ES256")
        )
        nbf = int(time.time() - age)
        claims = {"sub": kid, "iss": "cdp", "nbf": nbf, "exp": nbf + 120}
        headers = {"kid": kid, "nonce": secrets.token_hex()}
        return jwt.encode(claims, key, algorithm=alg, headers=headers)


def make_verifier(keys: Keys) -> Callable[[str], str]:
    """Stand-in for botkit.sim.auth: verify signature, nbf/exp; map kid to user."""
    users = keys.users()

    def verify(token: str) -> str:
        try:
            kid = jwt.get_unverified_header(token)["kid"]
            pub, user_id = users[kid]
            claims = jwt.decode(
                token, pub, algorithms=["ES256", "EdDSA"], options={"require": ["exp", "nbf"]}
            )
        except (jwt.PyJWTError, KeyError) as exc:
            raise WsAuthError(str(exc)) from exc
        if claims.get("sub") != kid:
            raise WsAuthError("sub does not match kid")
        return user_id

    return verify


# -- harness -------------------------------------------------------------------


@dataclass
class Sim:
    """A running hub on 127.0.0.1 plus the virtual clock that drives the market."""

    exchange: SimExchange
    hub: SimWsHub
    faults: WsFaults
    keys: Keys
    url: str
    t: float = T0

    def now(self) -> float:
        return self.t

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.t += 0.1
            self.exchange.advance(self.t)
            self.hub.publish(self.exchange.drain_events())

    def order(self, user: str, side: str, price: str, size: str, **kw: Any) -> dict[str, Any]:
        body = {
            "client_order_id": secrets.token_hex(8),
            "product_id": kw.get("product_id", "BTC-USD"),
            "side": side,
            "order_configuration": {
                "limit_limit_gtc": {"base_size": size, "limit_price": price, "post_only": False}
            },
        }
        resp = self.exchange.create_order(user, body, self.t)
        self.hub.publish(self.exchange.drain_events())
        assert resp["success"], resp
        return resp


class Client:
    """aiohttp WS client that records every frame (parsed) for later assertions."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.raw: list[str] = []

    async def send(self, **msg: Any) -> None:
        await self.ws.send_str(json.dumps(msg))

    async def sub(self, channel: str, *pids: str, jwt_: str | None = None) -> None:
        msg: dict[str, Any] = {"type": "subscribe", "channel": channel, "product_ids": list(pids)}
        if jwt_ is not None:
            msg["jwt"] = jwt_
        await self.send(**msg)

    async def next_msg(self) -> aiohttp.WSMessage:
        return await asyncio.wait_for(self.ws.receive(), WAIT)

    async def recv(self) -> dict[str, Any]:
        msg = await self.next_msg()
        assert msg.type == WSMsgType.TEXT, msg
        self.raw.append(msg.data)
        frame: dict[str, Any] = json.loads(msg.data)
        self.frames.append(frame)
        return frame

    async def until(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async def loop() -> dict[str, Any]:
            while True:
                frame = await self.recv()
                if pred(frame):
                    return frame

        return await asyncio.wait_for(loop(), WAIT)

    async def find(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first frame already received that matches, else the next one to arrive."""
        for frame in self.frames:
            if pred(frame):
                return frame
        return await self.until(pred)

    async def barrier(self) -> None:
        """Every frame queued before this call has arrived once this returns."""
        await self.send(type="unsubscribe", channel="status", product_ids=["ETH-USD"])
        await self.until(lambda fr: fr.get("channel") == "subscriptions")


def chan(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda fr: fr.get("channel") == name


def apply_l2(frames: list[dict[str, Any]], pid: str) -> tuple[dict[Decimal, Decimal], ...]:
    """A client's book: snapshot then updates; quantity 0 deletes."""
    sides: dict[str, dict[Decimal, Decimal]] = {"bid": {}, "offer": {}}
    for fr in frames:
        if fr.get("channel") != "l2_data":
            continue
        for ev in fr["events"]:
            if ev["product_id"] != pid:
                continue
            if ev["type"] == "snapshot":
                sides = {"bid": {}, "offer": {}}
            for u in ev["updates"]:
                qty, price = Decimal(u["new_quantity"]), Decimal(u["price_level"])
                if qty == 0:
                    sides[u["side"]].pop(price, None)
                else:
                    sides[u["side"]][price] = qty
    return sides["bid"], sides["offer"]


def book_of(ex: SimExchange, pid: str) -> tuple[dict[Decimal, Decimal], ...]:
    bids, asks = ex.book(pid)
    return dict(bids), dict(asks)
