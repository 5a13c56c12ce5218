"""Market data: wire-neutral events, the sans-I/O feed protocol, the level-2 book (and its compiled
kernel), the limit-order matching model (pure), and the asyncio feed, its connections, config,
high-water-mark store and session recording (adapters)."""

NO_EXTENSIONS = False
"""When True before ``botkit.market.book`` is imported, the compiled book kernel is never
loaded (``botkit`` sets it from ``BOTKIT_NO_EXTENSIONS``; the pure modules read no environment)."""

__all__ = ["NO_EXTENSIONS"]
