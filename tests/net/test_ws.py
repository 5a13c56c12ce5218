"""Both WebSocket connectors over a real socket, and aiohttp's buffered-frame fast path.

A raw server on 127.0.0.1 writes exact RFC 6455 frames in one burst (so that many are
queued at once in the client, where ``_AiohttpConnection.recv`` takes data frames straight
from aiohttp's queue): text and binary frames, a ping between them, a fragmented message,
a close frame, and frames after the close. Both connectors must return the same payloads
in the same order, answer the ping, report the same close code and deliver nothing after
the close; an oversized frame ends the connection with 1009 after the frames before it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from botkit.net.ws import AiohttpConnector, WsConnection, make_connector

MAX_SIZE = 64 * 1024


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """An unmasked server->client frame (RFC 6455 §5.2)."""
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        head = bytes([first, n])
    elif n < 1 << 16:
        head = bytes([first, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, 127]) + n.to_bytes(8, "big")
    return head + payload


def text(i: int, pad: int = 0) -> bytes:
    return json.dumps({"n": i, "pad": "x" * pad}).encode()


@dataclass
class Server:
    url: str
    blob: bytes = b""
    pongs: list[bytes] = field(default_factory=list)
    closes: list[int | None] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server(url="")

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False, max_msg_size=0)
        await ws.prepare(request)
        first = await ws.receive()
        assert first.type is aiohttp.WSMsgType.TEXT
        assert request.transport is not None
        request.transport.write(srv.blob)  # one burst: the client queues many frames at once
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.PONG:
                srv.pongs.append(msg.data)
        srv.closes.append(ws.close_code)
        srv.ended.set()
        return ws

    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        yield srv
    finally:
        await runner.cleanup()


async def drain(conn: WsConnection) -> list[bytes]:
    out: list[bytes] = []
    async with asyncio.timeout(10):
        while (data := await conn.recv()) is not None:
            assert isinstance(data, bytes)
            out.append(data)
    return out


async def session(name: str, url: str) -> tuple[list[bytes], int | None]:
    connector = make_connector(name, text_as_bytes=True)
    conn = await connector.connect(url, max_size=MAX_SIZE, ssl_ctx=None)
    try:
        await conn.send('{"type":"subscribe"}')
        got = await drain(conn)
        return got, conn.close_code
    finally:
        await conn.close()
        await connector.aclose()


def burst() -> tuple[bytes, list[bytes]]:
    """Frames for one burst, and the payloads a client must return for them."""
    out: list[bytes] = []
    expected: list[bytes] = []
    for i in range(300):
        out.append(frame(0x1, text(i, pad=i % 50)))
        expected.append(text(i, pad=i % 50))
        if i == 100:
            out.append(frame(0x9, b"ping-1"))  # a control frame between data frames
        if i == 150:
            out.append(frame(0x2, b"\x00\x01binary"))
            expected.append(b"\x00\x01binary")
        if i == 200:  # one message in three fragments, a ping between two of them
            out += [frame(0x1, b'{"frag', fin=False), frame(0x9, b"ping-2")]
            out += [frame(0x0, b'ment":', fin=False), frame(0x0, b"1}")]
            expected.append(b'{"fragment":1}')
    out.append(frame(0x8, (1001).to_bytes(2, "big") + b"going away"))
    out += [frame(0x1, text(999))] * 5  # after the close: never delivered
    return b"".join(out), expected


async def test_aiohttp_uses_its_fast_path_with_the_installed_aiohttp(server: Server) -> None:
    """An aiohttp upgrade that changed the internals the fast path reads is caught here."""
    server.blob, expected = burst()
    connector = AiohttpConnector(text_as_bytes=True)
    conn = await connector.connect(server.url, max_size=MAX_SIZE, ssl_ctx=None)
    try:
        assert getattr(conn, "fast_path", False), (
            f"aiohttp {aiohttp.__version__}: the receive fast path no longer fits its "
            "internals; botkit.net.ws._AiohttpConnection needs a look"
        )
        await conn.send("{}")
        assert await drain(conn) == expected
        assert getattr(conn, "fast_path", False), "the fast path gave up during the burst"
    finally:
        await conn.close()
        await connector.aclose()


@pytest.mark.parametrize("name", ["aiohttp", "websockets"])
async def test_data_control_fragments_and_close_in_one_burst(server: Server, name: str) -> None:
    server.blob, expected = burst()
    got, code = await session(name, server.url)
    assert got == expected
    assert code == 1001
    async with asyncio.timeout(5):
        await server.ended.wait()  # the server's handler ends after the close handshake
    assert server.pongs == [b"ping-1", b"ping-2"]


@pytest.mark.parametrize(
    ("name", "close_code"),
    # websockets' connector reports the close code it *received*: none came (it closed)
    [("aiohttp", 1009), ("websockets", 1006)],
)
async def test_an_oversized_frame_ends_the_connection_after_the_frames_before_it(
    server: Server, name: str, close_code: int
) -> None:
    before = [text(i) for i in range(50)]
    server.blob = b"".join(frame(0x1, p) for p in before)
    server.blob += frame(0x1, b"y" * (MAX_SIZE + 1)) + frame(0x1, text(1))
    got, code = await session(name, server.url)
    assert got == before
    assert code == close_code
