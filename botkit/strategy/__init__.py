"""Strategy plugins: the API (:class:`Strategy`, :class:`Context`), the loader and the guard.

See docs/strategies.md.
"""

from __future__ import annotations

from botkit.strategy.base import API_VERSION, NoParams, Strategy
from botkit.strategy.protocol import Context

__all__ = ["API_VERSION", "Context", "NoParams", "Strategy"]
