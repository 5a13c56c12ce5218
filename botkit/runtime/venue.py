"""The mode seam: ``sim`` / ``live`` / ``paper`` → where the bot's orders and data go.

The runtime never asks which mode it is in. It asks a :class:`Venue` for :class:`Endpoints`
(URLs, a key, a CA file) and runs the same feed, executor and signing code against them.
That is what makes ``sim`` a faithful rehearsal of ``live``: the only difference is the
address and the key. ``paper`` is a venue too: its *market data* endpoints are real
(Coinbase's public feed, or the embedded simulator offline) while orders go to the
in-process paper broker the runtime builds (:mod:`botkit.paper.broker`).

**Which Coinbase API** is the second axis (``[bot] venue``): ``advanced_trade`` (CDP key,
JWT), ``exchange`` (HMAC key, passphrase) or ``prime`` (HMAC key, portfolio). In ``sim``
mode every venue is the same embedded simulator — one market, one matching engine — served
in that venue's dialect (:mod:`botkit.sim.exchange_rest`, :mod:`botkit.sim.prime_rest`) next
to the Advanced Trade server, with a freshly generated key of that venue's kind.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec
from pydantic import ValidationError

from botkit.auth.clock import SystemClock
from botkit.auth.keys import CdpKey
from botkit.errors import ConfigError
from botkit.market.feed import WsTokenSource
from botkit.market.session import SessionFactory
from botkit.market.types import Candle
from botkit.runtime.settings import BotSettings
from botkit.venues.advanced_trade.rest_client import RestClient

if TYPE_CHECKING:  # loaded where used: a live bot imports neither the simulator (its aiohttp
    # server side, matching engine, candle history) nor the venues it does not trade on
    from botkit.runtime.warmup import CandleHistory  # the module loads when a strategy warms up
    from botkit.sim.dialect_server import DialectServer
    from botkit.sim.server import SimServer
    from botkit.sim.ws import WsConfig
    from botkit.venues.exchange.rest_client import ExchangeRestClient
    from botkit.venues.exchange.settings import ExchangeVenueSettings
    from botkit.venues.prime.rest_client import PrimeRestClient
    from botkit.venues.prime.settings import PrimeVenueSettings

__all__ = [
    "VENUES",
    "Endpoints",
    "OrderClient",
    "candle_history",
    "exchange_settings",
    "feed_protocol",
    "fetch_product_rules",
    "make_order_client",
    "open_venue",
    "prime_settings",
    "SIM_KEEP_FINISHED_SECONDS",
]

VENUES = ("advanced_trade", "exchange", "prime")
"""The ``[bot] venue`` values: the three Coinbase trading APIs."""
SIM_KEEP_FINISHED_SECONDS = 3600.0
"""How long the embedded simulator of ``--mode sim`` keeps a finished order (and its fills)
after its last change: it runs in the bot's process, ~1.6 KB an order kept for the run
otherwise. What the bot asks about an order it asks within minutes of its end, or of the
user channel's return (docs/paper.md, "Memory stays bounded"): an hour covers an outage the
simulator's faults can make (the simulator is new at every start; longer, a fill of an
order that ended during the outage would be read back as "not found", nothing filled)."""


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
        venue: which Coinbase API the endpoints speak (:data:`VENUES`).
        exchange / prime: the credentials and URLs of that venue (None on the others).
        dialect: the simulator's Exchange or Prime server in ``sim`` mode.
    """

    mode: str
    rest_url: str
    ws_market_url: str
    ws_user_url: str
    key: CdpKey | None
    ca_file: Path | None = None
    sim: SimServer | None = None
    paper: bool = False
    venue: str = "advanced_trade"
    exchange: ExchangeVenueSettings | None = None
    prime: PrimeVenueSettings | None = None
    dialect: DialectServer | None = None


OrderClient: TypeAlias = "RestClient | ExchangeRestClient | PrimeRestClient"
"""The venues' signed REST clients: each an :class:`~botkit.orders.venue_api.OrderVenue`."""


def _venue_error(section: str, exc: ValidationError) -> ConfigError:
    """A ConfigError naming each bad ``BOTKIT_<SECTION>__<FIELD>`` (never the value)."""
    problems = []
    for err in exc.errors():
        field = "__".join(str(p).upper() for p in err["loc"])
        problems.append(f"BOTKIT_{section}__{field}: {err['msg']}")
    return ConfigError(f"{section.lower()} credentials: " + "; ".join(problems))


def exchange_settings(settings: BotSettings) -> ExchangeVenueSettings:
    """The Exchange venue's settings from ``BOTKIT_EXCHANGE__*``.

    Raises:
        ConfigError: the key or secret is missing or malformed (named, never echoed).
    """
    ex = settings.exchange
    if not ex.api_key or ex.api_secret is None:
        raise ConfigError(
            "venue exchange needs a Coinbase Exchange API key: set BOTKIT_EXCHANGE__API_KEY, "
            "BOTKIT_EXCHANGE__API_SECRET (the base64 secret shown once when the key was "
            "created) and BOTKIT_EXCHANGE__PASSPHRASE in .env (docs/venues.md)"
        )
    from botkit.venues.exchange.settings import ExchangeVenueSettings

    try:
        return ExchangeVenueSettings(
            api_key=ex.api_key,
            api_secret=ex.api_secret,
            passphrase=ex.passphrase,
            rest_url=ex.rest_url,
            decimal_timestamp=ex.decimal_timestamp,
        )
    except ValidationError as exc:
        raise _venue_error("EXCHANGE", exc) from None


def prime_settings(settings: BotSettings) -> PrimeVenueSettings:
    """The Prime venue's settings from ``BOTKIT_PRIME__*``.

    Raises:
        ConfigError: a credential or the portfolio id is missing or malformed.
    """
    pr = settings.prime
    missing = [
        f"BOTKIT_PRIME__{name.upper()}"
        for name, value in (
            ("access_key", pr.access_key),
            ("signing_key", pr.signing_key),
            ("portfolio_id", pr.portfolio_id),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"venue prime needs {', '.join(missing)} (and BOTKIT_PRIME__PASSPHRASE): copy "
            "them from the Prime UI where the API key was created; the portfolio id is in "
            "the portfolio's URL (docs/venues.md)"
        )
    from botkit.venues.prime.settings import PrimeVenueSettings

    assert pr.access_key is not None and pr.signing_key is not None
    try:
        return PrimeVenueSettings(
            access_key=pr.access_key,
            signing_key=pr.signing_key,
            passphrase=pr.passphrase,
            portfolio_id=pr.portfolio_id,
            entity_id=pr.entity_id,
            service_account_id=pr.service_account_id,
            rest_url=pr.rest_url,
        )
    except ValidationError as exc:
        raise _venue_error("PRIME", exc) from None


@contextlib.asynccontextmanager
async def _dialect(sim: SimServer, venue: str) -> AsyncIterator[DialectServer | None]:
    """The simulator's ``venue`` dialect on ``sim``'s exchange (None for Advanced Trade)."""
    if venue == "advanced_trade":
        yield None
        return
    from botkit.sim.exchange_rest import ExchangeSimServer
    from botkit.sim.prime_rest import PrimeSimServer

    server: DialectServer
    if venue == "exchange":
        server = ExchangeSimServer.sharing(sim)
    elif venue == "prime":
        server = PrimeSimServer.sharing(sim)
    else:
        raise ConfigError(f"unknown [bot] venue {venue!r}; use one of {', '.join(VENUES)}")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _sim_endpoints(mode: str, sim: SimServer, server: DialectServer | None) -> Endpoints:
    """``sim`` mode: the simulator with a fresh key of the venue's kind."""
    from botkit.sim.exchange_rest import ExchangeSimServer
    from botkit.sim.prime_rest import PrimeSimServer
    from botkit.venues.exchange.settings import ExchangeVenueSettings
    from botkit.venues.prime.settings import PrimeVenueSettings

    if isinstance(server, ExchangeSimServer):
        k = server.add_key()
        ex = ExchangeVenueSettings(
            api_key=k.key, api_secret=k.secret, passphrase=k.passphrase, rest_url=server.rest_url
        )
        ws = server.ws_url
        return Endpoints(
            mode, ex.rest_url, ws, ws, None, None, sim, False, "exchange", ex, None, server
        )
    if isinstance(server, PrimeSimServer):
        pk = server.add_key()
        pr = PrimeVenueSettings(
            access_key=pk.access_key,
            signing_key=pk.signing_key,
            passphrase=pk.passphrase,
            portfolio_id=pk.portfolio_ids[0],
            entity_id=pk.entity_id,
            service_account_id=pk.svc_account_id,
            rest_url=server.rest_url,
        )
        ws = server.ws_url
        return Endpoints(
            mode, pr.rest_url, ws, ws, None, None, sim, False, "prime", None, pr, server
        )
    key = sim.add_key("ES256")
    return Endpoints(
        mode, sim.rest_url, sim.ws_market_url, sim.ws_user_url, key, sim.cert_path, sim
    )


@contextlib.asynccontextmanager
async def open_venue(
    mode: str,
    settings: BotSettings,
    *,
    seed: int = 1,
    tick_interval: float = 0.1,
    ws_config: WsConfig | None = None,
    paper_source: str = "coinbase",
    venue: str = "advanced_trade",
) -> AsyncIterator[Endpoints]:
    """Yield the endpoints of ``mode`` for the life of the bot.

    ``sim`` starts the embedded simulator in this process on 127.0.0.1 and registers a
    freshly generated key, so it needs no configuration and no network.

    ``paper`` takes its market data from ``paper_source``: ``coinbase`` (public market
    data; signed only when a key is configured) or ``sim`` (the embedded simulator).

    ``venue`` picks the Coinbase API (:data:`VENUES`); in ``paper`` mode it is whose market
    data the paper broker fills against (Exchange's public feed needs no key, Prime's does).

    Raises:
        ConfigError: an unknown mode, venue or paper source, or ``live`` without a key.
    """
    if venue not in VENUES:
        raise ConfigError(f"unknown [bot] venue {venue!r}; use one of {', '.join(VENUES)}")
    if mode == "sim" or (mode == "paper" and paper_source == "sim"):
        from botkit.sim.server import SimServer
    if mode == "sim":
        async with (
            SimServer(seed=seed, tick_interval=tick_interval, ws_config=ws_config) as sim,
            _dialect(sim, venue) as server,
        ):
            # in the bot's process for as long as it runs: finished orders leave memory
            # after a while (`botkit sim`, an exchange for other clients, keeps them all)
            sim.exchange.keep_finished_seconds = SIM_KEEP_FINISHED_SECONDS
            yield _sim_endpoints("sim", sim, server)
    elif mode == "live" and venue == "exchange":
        ex = exchange_settings(settings)
        ws = settings.exchange.ws_url
        yield Endpoints("live", ex.rest_url, ws, ws, None, venue="exchange", exchange=ex)
    elif mode == "live" and venue == "prime":
        pr = prime_settings(settings)
        ws = settings.prime.ws_url
        yield Endpoints("live", pr.rest_url, ws, ws, None, venue="prime", prime=pr)
    elif mode == "live":
        from botkit.auth.factory import resolve_cdp_key

        cb = settings.coinbase
        yield Endpoints(
            "live", cb.rest_url, cb.ws_market_url, cb.ws_user_url, resolve_cdp_key(settings)
        )
    elif mode == "paper" and paper_source == "sim":
        async with (
            SimServer(seed=seed, tick_interval=tick_interval, ws_config=ws_config) as sim,
            _dialect(sim, venue) as server,
        ):
            ep = _sim_endpoints("paper", sim, server)
            yield dataclasses.replace(ep, key=None, ws_user_url="", paper=True)
    elif mode == "paper" and paper_source == "coinbase" and venue == "exchange":
        # public market data needs no key; with one, level2 is signed (the full feed)
        signed = exchange_settings(settings) if settings.exchange.api_key else None
        ws = settings.exchange.ws_url
        rest = settings.exchange.rest_url.rstrip("/")
        yield Endpoints("paper", rest, ws, "", None, paper=True, venue=venue, exchange=signed)
    elif mode == "paper" and paper_source == "coinbase" and venue == "prime":
        pr = prime_settings(settings)  # Prime's market data is signed: a key is needed
        ws = settings.prime.ws_url
        yield Endpoints("paper", pr.rest_url, ws, "", None, paper=True, venue=venue, prime=pr)
    elif mode == "paper":
        if paper_source == "coinbase":
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


def make_order_client(ep: Endpoints, settings: BotSettings, clock: SystemClock) -> OrderClient:
    """The venue's signed REST client (an :class:`~botkit.orders.venue_api.OrderVenue`).

    ``clock`` is the bot's signing clock: corrected from the venue's time endpoint after a
    timestamp error, on every venue.
    """
    if ep.exchange is not None:
        from botkit.venues.exchange.rest_client import ExchangeRestClient

        return ExchangeRestClient.from_settings(ep.exchange, clock=clock, ca_file=ep.ca_file)
    if ep.prime is not None:
        from botkit.venues.prime.rest_client import PrimeRestClient

        return PrimeRestClient.from_settings(ep.prime, clock=clock, ca_file=ep.ca_file)
    if ep.key is None:
        raise ConfigError("no key to sign orders with: set BOTKIT_COINBASE__API_KEY")
    from botkit.auth.factory import make_jwt_signer

    cb = settings.coinbase
    return RestClient(
        ep.rest_url,
        make_jwt_signer(ep.key, settings, clock=clock),
        clock=clock,
        ca_file=ep.ca_file,
        presign=cb.presign,
        presign_max_age=cb.presign_max_age,
    )


def feed_protocol(
    ep: Endpoints, settings: BotSettings, clock: SystemClock
) -> tuple[SessionFactory, WsTokenSource | None]:
    """The venue's WebSocket protocol for the feed, and what signs its subscribes.

    Advanced Trade signs with a CDP JWT (none for public market data); Exchange signs the
    ``level2`` and ``user`` subscribes with the HMAC key, on the bot's signing clock (the
    one the REST client corrects), so a clock correction serves both; Prime signs every
    subscribe (``l2_data`` too) with the key and the service account id.
    """
    if ep.venue == "exchange" and ep.exchange is None:  # paper on public market data
        from botkit.venues.exchange.ws_protocol import exchange_session_factory

        return exchange_session_factory(), None
    if ep.exchange is not None:
        from botkit.auth.hmac_sign import ExchangeHmacSigner
        from botkit.venues.exchange.ws_protocol import ExchangeWsAuth, exchange_session_factory

        ex = ep.exchange
        auth = ExchangeWsAuth(
            ExchangeHmacSigner(
                ex.api_key,
                ex.api_secret.get_secret_value(),
                ex.passphrase.get_secret_value(),
                clock=clock,
                decimal_timestamp=ex.decimal_timestamp,
            )
        )
        return exchange_session_factory(auth=auth), auth
    if ep.prime is not None:
        from botkit.venues.prime.ws_protocol import PrimeWsAuth, prime_session_factory

        pr = ep.prime
        prime_auth = PrimeWsAuth(
            pr.access_key,
            pr.signing_key.get_secret_value(),
            pr.passphrase.get_secret_value(),
            pr.service_account_id,
            clock=clock,
        )
        # Prime has no ticker channel: the best bid/ask of the maintained book stands in
        factory = prime_session_factory(
            auth=prime_auth, portfolio_id=pr.portfolio_id, derive_ticker=True
        )
        return factory, prime_auth
    from botkit.auth.factory import make_jwt_signer
    from botkit.venues.advanced_trade.ws_protocol import FeedProtocol

    signer = make_jwt_signer(ep.key, settings, clock=clock) if ep.key else None
    return FeedProtocol, signer


async def fetch_product_rules(
    ep: Endpoints, products: Sequence[str], *, missing_ok: bool = False
) -> list[dict[str, Any]]:
    """The products' trading rules from the venue, as the paper broker reads them, with
    their trading status (``status``, ``cancel_only``...: :mod:`botkit.market.trading_status`).

    Advanced Trade's public products; Exchange's public ``/products`` (whose
    ``quote_increment`` is the price tick; it publishes no minimum size any more, so the
    base increment stands in); Prime's products (signed).

    Raises:
        ConfigError: a product the venue does not list (``missing_ok``: left out instead).
    """
    if ep.venue == "advanced_trade":  # as botkit.paper.setup.fetch_rules, which a live bot
        # does not import (it would load the paper broker and exchange with it)
        async with RestClient(ep.rest_url, None, ca_file=ep.ca_file) as client:
            found = {p.product_id: p for p in await client.products(products)}
        unknown = [p for p in products if p not in found]
        if unknown and not missing_ok:
            raise ConfigError(f"unknown product(s) {', '.join(unknown)} at {ep.rest_url}")
        return [msgspec.to_builtins(found[p]) for p in products if p in found]
    rules: dict[str, dict[str, Any]] = {}
    if ep.venue == "exchange":
        from botkit.venues.exchange.rest_client import ExchangeRestClient

        async with ExchangeRestClient(ep.rest_url, None, ca_file=ep.ca_file) as ex:
            for p in await ex.products():
                rules[p.id] = {
                    "product_id": p.id,
                    "base_currency_id": p.base_currency,
                    "quote_currency_id": p.quote_currency,
                    "base_increment": str(p.base_increment),
                    "price_increment": str(p.quote_increment),
                    "quote_increment": str(p.quote_increment),
                    "base_min_size": str(p.base_increment),
                    "quote_min_size": str(p.min_market_funds),
                    "status": p.status,
                    "status_message": p.status_message,
                    "trading_disabled": p.trading_disabled,
                    "cancel_only": p.cancel_only,
                    "limit_only": p.limit_only,
                    "post_only": p.post_only,
                }
    else:
        from botkit.venues.prime.rest_client import PrimeRestClient

        assert ep.prime is not None
        async with PrimeRestClient.from_settings(ep.prime, ca_file=ep.ca_file) as pr:
            for q in await pr.products():
                rules[q.id] = {
                    "product_id": q.id,
                    "base_increment": q.base_increment,
                    "quote_increment": q.quote_increment,
                    "price_increment": q.price_increment or q.quote_increment,
                    "base_min_size": q.base_min_size or q.base_increment,
                    "base_max_size": q.base_max_size,
                    "quote_min_size": q.quote_min_size,
                    "quote_max_size": q.quote_max_size,
                }
    missing = [p for p in products if p not in rules]
    if missing and not missing_ok:
        raise ConfigError(f"unknown product(s) {', '.join(missing)} at {ep.rest_url}")
    return [{k: v for k, v in rules[p].items() if v != ""} for p in products if p in rules]


def candle_history(ep: Endpoints, settings: BotSettings) -> CandleHistory:
    """Advanced Trade's public candles (no key): the simulator's own in sim mode (every
    venue's sim shares its market), else the venue's, or Coinbase's for Exchange/Prime."""
    from botkit.venues.advanced_trade.rest_client import RestClient

    url, ca = ep.rest_url, ep.ca_file
    if ep.sim is not None:
        url, ca = ep.sim.rest_url, ep.sim.cert_path
    elif ep.venue != "advanced_trade":
        url, ca = settings.coinbase.rest_url, None

    async def fetch(product: str, granularity: str, start: int, end: int) -> list[Candle]:
        async with RestClient(url, None, ca_file=ca) as rest:
            got = await rest.candles(product, start=start, end=end, granularity=granularity)
        return [
            Candle(start=str(c.start), high=c.high, low=c.low, open=c.open, close=c.close,
                   volume=c.volume, product_id=product)
            for c in got
        ]  # fmt: skip

    return fetch
