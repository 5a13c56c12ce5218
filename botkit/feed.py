"""Deprecated: ``botkit.feed`` moved to :mod:`botkit.market.feed` (kept for one release)."""

import warnings

from botkit.market.feed import *  # noqa: F403
from botkit.market.feed import __all__ as __all__

warnings.warn(
    "botkit.feed moved to botkit.market.feed; import from botkit.market.feed",
    DeprecationWarning,
    stacklevel=2,
)
