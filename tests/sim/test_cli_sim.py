"""`botkit sim` serves a working exchange and prints usable credentials in .env form."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys

import aiohttp

from botkit.auth.clock import SystemClock
from botkit.auth.jwt import JwtSigner
from botkit.auth.keys import load_cdp_key


async def test_botkit_sim_cli() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "botkit",
        "sim",
        "--seed",
        "5",
        "--key-type",
        "EdDSA",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        values: dict[str, str] = {}
        while "BOTKIT_COINBASE__API_SECRET" not in values:
            line = (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode()
            assert line, "botkit sim exited early"
            if line.startswith("BOTKIT_"):
                name, value = line.strip().split("=", 1)
                values[name] = value.strip('"')
        assert values["BOTKIT_COINBASE__WS_MARKET_URL"].startswith("ws://127.0.0.1:")
        key = load_cdp_key(
            values["BOTKIT_COINBASE__API_KEY"], values["BOTKIT_COINBASE__API_SECRET"]
        )
        assert key.algorithm == "EdDSA"
        signer = JwtSigner(key, clock=SystemClock(), nonce=secrets.token_hex)
        url = values["BOTKIT_COINBASE__REST_URL"] + "/accounts"
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as s,
            s.get(url, headers=signer.sign("GET", url)) as r,
        ):
            assert r.status == 200
            assert any(a["currency"] == "USD" for a in (await r.json())["accounts"])
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
