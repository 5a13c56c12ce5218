"""botkit.sim: a local Coinbase Advanced Trade exchange (REST + WebSocket) for tests and sim mode.

See docs/simulator.md. The public surface is :class:`SimServer` (the running exchange), the
engine :class:`SimExchange` with its configuration types, and the fault knobs.
"""

from __future__ import annotations

from botkit.sim.exchange import FeeTier, ProductSpec, SimExchange, SimMarketConfig
from botkit.sim.faults import FaultPlan, RestFault
from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig, WsFaults

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
