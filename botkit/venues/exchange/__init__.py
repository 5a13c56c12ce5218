"""Coinbase Exchange (``api.exchange.coinbase.com``, HMAC keys): REST client, shapes, error map.

Phase 1: REST only (the WebSocket feed and ``user`` channel come later). Only the wiring
imports this package; everything else uses the venue protocols.
"""

__all__: list[str] = []
