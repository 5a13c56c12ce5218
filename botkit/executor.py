"""Deprecated: ``botkit.executor`` moved to :mod:`botkit.orders.executor` (kept for one release)."""

import warnings

from botkit.orders.executor import *  # noqa: F403
from botkit.orders.executor import __all__ as __all__

warnings.warn(
    "botkit.executor moved to botkit.orders.executor; import from botkit.orders.executor",
    DeprecationWarning,
    stacklevel=2,
)
