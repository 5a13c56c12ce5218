"""Adapter ring: raw capture of a feed session (frames + connection events), gzip JSON lines.

The capture is the input for replay and backtests: every frame exactly as received
(text, or base64 for binary), its receive time, the connection it arrived on, and
the connection events (connected / closed with code / stale / connect_failed) in
order. Outbound subscribe messages are *not* recorded: they carry JWTs (secrets).

Format (one JSON object per line, gzip-compressed; see docs/feed.md)::

    {"v":1,"t":1767268800.123456,"conn":"market-0","kind":"frame","data":"{...}"}
    {"v":1,"t":1767268801.5,"conn":"market-0","kind":"closed","code":1006,"detail":"closed"}
    {"v":1,"t":1767268800.0,"conn":"","kind":"meta","meta":"products","data":[{...}]}

Writes go through gzip's buffer, flushed to the file (a zlib sync flush: no fsync) at
least every :data:`FLUSH_EVERY` seconds of receive time, and by ``botkit record`` every
second while the feed is quiet, so a recorder killed at any moment leaves a file whose
complete records replay, losing about a second at most (it lost everything since the
last 32 KiB of compressed output: ~15 s of a BTC-USD session);
:meth:`Recorder.close` writes the rest (the feed closes its recorder on stop).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["FORMAT_VERSION", "Recorder", "read_recording"]

FORMAT_VERSION = 1
FLUSH_EVERY = 1.0
"""Seconds of receive time between two flushes of the gzip stream to the file."""


class Recorder:
    """Append-only gzip JSON-lines writer.

    Args:
        path: the ``.jsonl.gz`` file (appended to; gzip members concatenate).
        clock: wall time for connection events.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] | None = None) -> None:
        import time

        self.path = path
        self.clock = clock or time.time
        self._raw = gzip.open(path, "ab", compresslevel=5)  # noqa: SIM115 - lives with self
        self._out = io.TextIOWrapper(self._raw, encoding="utf-8", newline="\n")
        self.frames = 0
        self._flushed_at = float("-inf")

    def frame(self, conn: str, t: float, data: str | bytes) -> None:
        """Record one received frame."""
        if isinstance(data, bytes):
            rec: dict[str, Any] = {"v": 1, "t": t, "conn": conn, "kind": "binary"}
            rec["data"] = base64.b64encode(data).decode()
        else:
            rec = {"v": 1, "t": t, "conn": conn, "kind": "frame", "data": data}
        self._out.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self.frames += 1
        if not 0 <= t - self._flushed_at < FLUSH_EVERY:  # (a wall clock stepped back too)
            self.flush()
            self._flushed_at = t

    def event(self, conn: str, kind: str, *, code: int | None = None, detail: str = "") -> None:
        """Record a connection event (connected, closed, stale, connect_failed)."""
        rec = {"v": 1, "t": self.clock(), "conn": conn, "kind": kind, "code": code}
        rec["detail"] = detail
        self._out.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self.flush()  # rare, and what a replay of a failure needs most

    def meta(self, kind: str, data: Any) -> None:
        """Record session metadata a replay needs (e.g. ``kind="products"``: product rules).

        Written by ``botkit record`` before the first frame, so a backtest knows the
        products' increments and minimums without asking an exchange.
        """
        rec = {"v": 1, "t": self.clock(), "conn": "", "kind": "meta", "meta": kind, "data": data}
        self._out.write(json.dumps(rec, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        """Push what is buffered to the file as complete gzip blocks (readable after a kill)."""
        self._out.flush()  # the text layer, then gzip's (a zlib sync flush) into the file

    def close(self) -> None:
        if not self._out.closed:
            self._out.close()


def read_recording(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a capture in order (binary frames decoded back to bytes)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec: dict[str, Any] = json.loads(line)
            if rec.get("kind") == "binary":
                rec["data"] = base64.b64decode(rec["data"])
            yield rec
