"""Log set-up for every ``botkit`` command: text on a terminal, JSON lines anywhere else.

On a terminal a human reads the logs, so they are short text lines (and ``botkit run`` redraws
a status line in place). Anywhere else (systemd, Docker, a pipe, a CI log) a machine reads
them, so every record is one JSON object per line, and every line about an order carries its
``client_order_id`` as a field: that id is the key to follow one order through the strategy,
the executor, the journal and the exchange.

Kept apart from :mod:`botkit.runtime.ui` and free of third-party imports because the CLI sets
logging up before every command, including the quick ones.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import IO, Any

__all__ = ["JsonFormatter", "StatusHandler", "configure_logging"]

_COID = re.compile(r"client_order_id=([0-9A-Za-z_.:-]+)")
_OURS = "_botkit_handler"  # marks the handler configure_logging installed
_STD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, ``msg``, extras.

    ``client_order_id`` is lifted out of the message (``client_order_id=...``) when a
    caller did not pass it as an extra, so that ``jq 'select(.client_order_id == ...)'``
    finds every line about one order.
    """

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        doc: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "msg": msg,
        }
        for key, value in vars(record).items():
            if key not in _STD and not key.startswith("_"):
                doc[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if "client_order_id" not in doc and (m := _COID.search(msg)):
            doc["client_order_id"] = m.group(1)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class StatusHandler(logging.StreamHandler[IO[str]]):
    """A stream handler that clears the status line before a log line, then redraws it."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self.status = ""

    def emit(self, record: logging.LogRecord) -> None:
        if self.status:
            self.stream.write("\r\x1b[K")
        super().emit(record)
        if self.status:
            self.stream.write(self.status)
            self.flush()

    def show(self, text: str) -> None:
        """Redraw the status line in place."""
        self.status = text
        self.stream.write("\r\x1b[K" + text)
        self.flush()

    def clear(self) -> None:
        if self.status:
            self.stream.write("\r\x1b[K")
            self.flush()
        self.status = ""


def configure_logging(level: str, *, tty: bool | None = None) -> StatusHandler | None:
    """Route the root logger to stderr: text on a TTY, JSON lines otherwise.

    Called by the CLI before every command (and again by ``botkit run`` for its status
    line): it replaces the handler an earlier call installed, and a bare stderr handler
    from ``logging.basicConfig``, so no record is written twice; handlers someone else
    attached (an embedding application, a test harness's capture) are left alone.

    Returns:
        the handler that can draw a status line (TTY only), else None.

    Raises:
        ValueError: an unknown level name.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
    is_tty = sys.stderr.isatty() if tty is None else tty
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _OURS, False) or type(old) is logging.StreamHandler:
            root.removeHandler(old)  # ours from an earlier call, or a basicConfig() one
    handler: logging.StreamHandler[IO[str]]
    status: StatusHandler | None = None
    if is_tty:
        handler = status = StatusHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.getLogger("aiohttp.access").setLevel(max(numeric, logging.WARNING))
    return status
