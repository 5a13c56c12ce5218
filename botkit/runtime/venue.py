"""The mode seam: ``sim`` / ``live`` / ``paper`` → where the bot's orders and data go.

The runtime never asks which mode it is in. It asks a :class:`Venue` for :class:`Endpoints`
(URLs, a key, a CA file) and runs the same feed, executor and signing code against them.
That is what makes ``sim`` a faithful rehearsal of ``live``: the only difference is the
address and the key. ``paper`` is a venue too: its *market data* endpoints are real
(Coinbase's public feed, or the embedded simulator offline) while orders go to the
in-process paper broker the runtime builds (:mod:`botkit.paper.broker`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from botkit.auth.keys import CdpKey
from botkit.errors import ConfigError
from botkit.runtime.settings import BotSettings
from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig

__all__ = ["Endpoints", "open_venue"]


@dataclass(frozen=True)
class Endpoints:
    """Everything the runtime needs to reach an exchange.

    Attributes:
        mode: the mode these endpoints serve (for logs and the summary).
        rest_url / ws_market_url / ws_user_url: the three endpoints.
        key: the CDP key that signs REST requests and WebSocket subscribes (``paper``:
            the market-data key, None for unauthenticated public market data).
        ca_file: an extra CA to trust (the simulator's self-signed certificate).
        sim: the embedded simulator in ``sim`` mode, or ``paper`` mode's offline
            market-data source (tests inspect its exchange).
        paper: orders go to the paper broker; ``rest_url`` only serves product rules.
    """

    mode: str
    rest_url: str
    ws_market_url: str
    ws_user_url: str
    key: CdpKey | None
    ca_file: Path | None = None
    sim: SimServer | None = None
    paper: bool = False


@contextlib.asynccontextmanager
async def open_venue(
    mode: str,
    settings: BotSettings,
    *,
    seed: int = 1,
    tick_interval: float = 0.1,
    ws_config: WsConfig | None = None,
    paper_source: str = "coinbase",
) -> AsyncIterator[Endpoints]:
    """Yield the endpoints of ``mode`` for the life of the bot.

    ``sim`` starts the embedded simulator in this process on 127.0.0.1 and registers a
    freshly generated key, so it needs no configuration and no network.

    ``paper`` takes its market data from ``paper_source``: ``coinbase`` (public market
    data; signed only when a key is configured) or ``sim`` (the embedded simulator).

    Raises:
        ConfigError: an unknown mode or paper source, or ``live`` without a key.
    """
    if mode == "sim":
        async with SimServer(seed=seed, tick_interval=tick_interval, ws_config=ws_config) as sim:
            key = sim.add_key("ES256")
            yield Endpoints(
                "sim", sim.rest_url, sim.ws_market_url, sim.ws_user_url, key, sim.cert_path, sim
            )
    elif mode == "live":
        from botkit.auth.factory import resolve_cdp_key

        cb = settings.coinbase
        yield Endpoints(
            "live", cb.rest_url, cb.ws_market_url, cb.ws_user_url, resolve_cdp_key(settings)
        )
    elif mode == "paper":
        if paper_source == "sim":
            sim_server = SimServer(seed=seed, tick_interval=tick_interval, ws_config=ws_config)
            async with sim_server as sim:
                yield Endpoints(
                    "paper", sim.rest_url, sim.ws_market_url, "", None, sim.cert_path, sim, True
                )
        elif paper_source == "coinbase":
            cb = settings.coinbase
            key = None
            if cb.key_file or cb.api_key or settings.coinbase_api_key:
                from botkit.auth.factory import resolve_cdp_key

                key = resolve_cdp_key(settings)
            yield Endpoints("paper", cb.rest_url, cb.ws_market_url, "", key, paper=True)
        else:
            raise ConfigError(f"unknown [paper] source {paper_source!r}; use coinbase or sim")
    else:
        raise ConfigError(f"unknown mode {mode!r}; use sim, live or paper")
