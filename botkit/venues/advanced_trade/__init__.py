"""Coinbase Advanced Trade: WebSocket wire schemas, REST result models, the error map and the
typed REST client.
"""

__all__: list[str] = []
