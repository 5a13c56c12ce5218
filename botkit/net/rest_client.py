"""Deprecated: ``botkit.net.rest_client``
moved to :mod:`botkit.venues.advanced_trade.rest_client` (kept for one release)."""

import warnings

from botkit.venues.advanced_trade.rest_client import *  # noqa: F403
from botkit.venues.advanced_trade.rest_client import __all__ as __all__

warnings.warn(
    "botkit.net.rest_client moved to botkit.venues.advanced_trade.rest_client",
    DeprecationWarning,
    stacklevel=2,
)
