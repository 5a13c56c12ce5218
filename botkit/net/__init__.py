"""Adapter ring: thin asyncio network adapters (WebSocket connectors; REST transport)."""

from __future__ import annotations

__all__: list[str] = []
