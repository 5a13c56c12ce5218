"""botkit.sim: a local Coinbase Advanced Trade exchange (REST + WebSocket) for tests and sim mode.

See docs/simulator.md. The public surface is :class:`SimServer` (the running exchange), the
engine :class:`SimExchange` with its configuration types, and the fault knobs.

The names load on first use (PEP 562): the paper broker and backtests import the engine's
modules (``botkit.sim.exchange``, ``botkit.sim.specs``...), which must not pull in the
server side (aiohttp's web server, the REST and WebSocket handlers, TLS) with this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botkit.sim.exchange import FeeTier, ProductSpec, SimExchange, SimMarketConfig
    from botkit.sim.faults import FaultPlan, RestFault
    from botkit.sim.server import SimServer
    from botkit.sim.ws import WsConfig, WsFaults

_LAZY = {
    "FaultPlan": "botkit.sim.faults",
    "FeeTier": "botkit.sim.exchange",
    "ProductSpec": "botkit.sim.exchange",
    "RestFault": "botkit.sim.faults",
    "SimExchange": "botkit.sim.exchange",
    "SimMarketConfig": "botkit.sim.exchange",
    "SimServer": "botkit.sim.server",
    "WsConfig": "botkit.sim.ws",
    "WsFaults": "botkit.sim.ws",
}

__all__ = [
    "FaultPlan",
    "FeeTier",
    "ProductSpec",
    "RestFault",
    "SimExchange",
    "SimMarketConfig",
    "SimServer",
    "WsConfig",
    "WsFaults",
]


def __getattr__(name: str) -> Any:
    """The public names, and ``botkit.sim.<submodule>`` as before, loaded when first used."""
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    else:
        try:  # e.g. ``import botkit.sim`` then ``botkit.sim.ws_frames``: it was loaded eagerly
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value
