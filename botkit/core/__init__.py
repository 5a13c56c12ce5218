"""The pure ring: no I/O, no event loop, no ambient time or randomness (see README, Layout)."""

NO_EXTENSIONS = False
"""When True before ``botkit.core.book`` is imported, the compiled book kernel is never
loaded (``botkit`` sets it from ``BOTKIT_NO_EXTENSIONS``; the core reads no environment)."""

__all__ = ["NO_EXTENSIONS"]
