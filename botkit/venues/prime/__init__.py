"""Coinbase Prime: HMAC-signed, portfolio-scoped REST (phase 1: no WebSocket yet): settings, the
error map, Prime's shapes and their translation onto the neutral order model, and the typed REST
client (an :class:`botkit.orders.venue_api.OrderVenue`).
"""

__all__: list[str] = []
