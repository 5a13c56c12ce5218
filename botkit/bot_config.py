"""Deprecated: ``botkit.bot_config``
moved to :mod:`botkit.runtime.bot_config` (kept for one release)."""

import warnings

from botkit.runtime.bot_config import *  # noqa: F403
from botkit.runtime.bot_config import __all__ as __all__

warnings.warn(
    "botkit.bot_config moved to botkit.runtime.bot_config; import from botkit",
    DeprecationWarning,
    stacklevel=2,
)
