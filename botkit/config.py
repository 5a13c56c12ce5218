"""Deprecated: ``botkit.config`` moved to :mod:`botkit.runtime.settings` (kept for one release)."""

import warnings

from botkit.runtime.settings import *  # noqa: F403
from botkit.runtime.settings import __all__ as __all__

warnings.warn(
    "botkit.config moved to botkit.runtime.settings; import from botkit",
    DeprecationWarning,
    stacklevel=2,
)
