"""A small persistent key-value store for strategy state (JSON file, atomic writes).

Strategies need to remember a handful of things across restarts (last signal, grid
anchor, a counter). A JSON file is enough, readable by a human, and written atomically
(temp file + ``fsync`` + ``rename``) so a crash leaves the old or the new version, never
half of one. ``Decimal`` values round-trip exactly (stored as tagged strings), because
a strategy's remembered price must not turn into a float.

Not a database: each ``set`` rewrites the file. Keep it to small, rarely changed values.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from botkit.errors import ConfigError

__all__ = ["JsonState", "MemoryState"]

_DEC = "__decimal__"


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {_DEC: str(value)}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"state values must be JSON types or Decimal, got {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_DEC}:
            return Decimal(value[_DEC])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class MemoryState:
    """The same interface, not persisted (tests, backtests)."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return _decode(self._data[key]) if key in self._data else default

    def set(self, key: str, value: Any) -> None:
        self._data[key] = _encode(value)
        self._flush()

    def delete(self, key: str) -> None:
        if self._data.pop(key, None) is not None:
            self._flush()

    def keys(self) -> list[str]:
        return sorted(self._data)

    def _flush(self) -> None:
        """Persist (nothing to do in memory)."""


class JsonState(MemoryState):
    """Key-value state persisted to ``path`` on every change.

    Raises:
        ConfigError: the file exists but is not valid JSON (fix or delete it).
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raw = {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"strategy state file {path} is unreadable: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"strategy state file {path} must hold a JSON object")
        self._data = raw

    def _flush(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(self._data, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
