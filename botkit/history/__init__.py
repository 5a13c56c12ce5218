"""Candle and trade history on disk: what ``botkit download`` writes and backtests read.

``ranges`` (pure) is the interval arithmetic: which buckets a request covers, what is
still missing given what was fetched, how to page it. ``store`` reads and writes the
documented on-disk layout (docs/data.md) and its coverage index; ``download`` fetches
the holes through any candle source (the CLI passes the public REST client).
"""

from __future__ import annotations

__all__: list[str] = []
