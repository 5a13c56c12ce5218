"""Building a paper account from a bot config: shared by ``--mode paper`` and backtests.

Both paths need the same four things — product rules, the exchange, its journal and a
REST client over the in-process transport — so they are built once, here, and the
two callers differ only in the clock they pass (wall vs virtual) and in durability
(a backtest can be re-run, a paper session cannot).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from botkit.auth.factory import make_jwt_signer
from botkit.clock import Clock
from botkit.errors import ConfigError, JournalError
from botkit.market.book import L2Book
from botkit.market.events import FeedEvent
from botkit.market.requests import Subscription
from botkit.net.ratelimit import RateLimiter
from botkit.orders.fills import FillTracker
from botkit.paper.broker import PaperBroker
from botkit.paper.config import PaperConfig, spec_from_wire
from botkit.paper.exchange import PaperExchange
from botkit.paper.journal import PaperJournal
from botkit.runtime.bot_config import BotConfig, PaperSection
from botkit.runtime.settings import BotSettings
from botkit.sim.specs import FeeTier
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol

__all__ = [
    "PAPER_REST_URL",
    "build_broker",
    "fetch_rules",
    "paper_client",
    "paper_config",
    "venue_native_exits",
]

PAPER_REST_URL = "https://paper.botkit.invalid/api/v3/brokerage"
"""The base URL the executor signs for: the in-process transport never resolves it."""


async def fetch_rules(
    rest_url: str, products: Sequence[str], *, ca_file: Path | None = None
) -> list[dict[str, Any]]:
    """The products' trading rules from an exchange's public REST mirror (no key needed).

    Raises:
        ConfigError: a product the exchange does not list.
    """
    client = RestClient(rest_url, None, ca_file=ca_file)
    try:
        found = {p.product_id: p for p in await client.products(products)}
    finally:
        await client.close()
    missing = [p for p in products if p not in found]
    if missing:
        raise ConfigError(f"unknown product(s) {', '.join(missing)} at {rest_url}")
    return [msgspec.to_builtins(found[p]) for p in products]


def paper_config(
    section: PaperSection, rules: Sequence[Mapping[str, Any]], venue: str = "advanced_trade"
) -> PaperConfig:
    """The exchange's configuration from ``[paper]``, the products' rules and the venue
    (``fills_from_book`` unset: on for Prime, which has no public trade tape).

    Raises:
        ConfigError: a product's rules are unusable (missing increments).
    """
    try:
        specs = tuple(spec_from_wire(r) for r in rules)
    except (KeyError, ValueError, ArithmeticError) as exc:
        raise ConfigError(f"product rules are incomplete or invalid: {exc}") from exc
    return PaperConfig(
        products=specs,
        fee_tier=FeeTier(
            pricing_tier="paper",
            maker_fee_rate=section.maker_fee_rate,
            taker_fee_rate=section.taker_fee_rate,
        ),
        initial_balances=dict(section.initial_balances),
        submit_latency=section.submit_latency,
        cancel_latency=section.cancel_latency,
        trade_side=section.trade_side,
        fills_from_book=(
            section.fills_from_book if section.fills_from_book is not None else venue == "prime"
        ),
    )


def build_broker(
    config: BotConfig,
    rules: Sequence[Mapping[str, Any]],
    books: Mapping[str, L2Book],
    journal_path: Path,
    *,
    now: Callable[[], float],
    on_event: Callable[[FeedEvent], None],
    durable: bool,
    meta: Mapping[str, Any],
    on_failure: Callable[[JournalError], None] | None = None,
    fills: FillTracker | None = None,
) -> PaperBroker:
    """Open (or resume) the paper account whose journal is ``journal_path``.

    ``fills`` decodes the broker's user frames into fills: the runtime passes one seeded
    from its fill ledger, so the snapshot of a resumed session's open orders reports only
    what the resumed positions lack (a fresh tracker when None: a backtest).

    The journal's ``meta`` is written on a fresh session; on resume the products must
    match, because resting orders on a product no longer subscribed would never fill.

    Raises:
        ConfigError: the journal belongs to a session on other products.
    """
    section = config.paper
    journal = PaperJournal(journal_path, durable=durable, on_failure=on_failure)
    old = journal.meta()
    products = [str(r["product_id"]) for r in rules]
    if old and sorted(old.get("products", [])) != sorted(products):
        journal.close()
        raise ConfigError(
            f"{journal_path} holds a paper session on {', '.join(old.get('products', []))}, "
            f"not {', '.join(products)}: use another data_dir, or delete it to start over"
        )
    try:  # a failure from here on must not leave the journal (and its lock) open
        exchange = PaperExchange(
            paper_config(section, rules, config.bot.venue),
            books,
            seed=section.seed,
            start_time=now(),
        )
        broker = PaperBroker(
            exchange,
            journal,
            now=now,
            on_event=on_event,
            # the broker speaks the venue's user channel in-process: its own frames are
            # decoded by the venue's protocol into fills, like a live bot's
            user_session=FeedProtocol(
                "paper-user", [Subscription("user")], fills=fills or FillTracker()
            ),
            quote=section.quote,
            equity_interval=section.equity_interval,
        )
        if not old:
            journal.write_meta(
                **dict(meta),
                products=products,
                quote=section.quote,
                initial_balances={k: str(v) for k, v in section.initial_balances.items()},
                maker_fee_rate=str(section.maker_fee_rate),
                taker_fee_rate=str(section.taker_fee_rate),
                submit_latency=section.submit_latency,
                cancel_latency=section.cancel_latency,
                start_time=now(),
            )
        broker.start()
        return broker
    except BaseException:
        journal.close()
        raise


def paper_client(
    broker: PaperBroker,
    settings: BotSettings,
    clock: Clock,
    *,
    unlimited: bool,
    venue: str = "advanced_trade",
) -> RestClient:
    """A REST client whose requests go to ``broker`` in-process, signed like live ones.

    The key is generated per session: the paper broker has no remote party to prove
    anything to, but signing keeps the executor's code path (and cost) identical to
    live. ``unlimited`` turns the 30 req/s client-side limiter off for backtests,
    whose virtual clock does not move while the limiter would wait.

    ``venue``: the venue being paper-traded. The broker itself takes every exit kind
    (it speaks Advanced Trade's wire), but the client reports that venue's own
    ``native_exits``, so a strategy's exits are native or emulated in paper exactly as
    they would be live there (a bracket on Exchange is emulated in both).
    """
    from botkit.auth.factory import generate_cdp_key

    signer = make_jwt_signer(generate_cdp_key("ES256"), settings, clock=clock)
    limiter = RateLimiter(float("inf"), float("inf")) if unlimited else None
    cb = settings.coinbase
    client = RestClient(
        PAPER_REST_URL,
        signer,
        transport=broker.transport,
        limiter=limiter,
        presign=cb.presign,  # the same signing path (and cost) as live
        presign_max_age=cb.presign_max_age,
    )
    client.native_exits = venue_native_exits(venue)
    return client


def venue_native_exits(venue: str) -> frozenset[str]:
    """The exit kinds ``venue``'s own client sends natively (``[bot] venue`` names).

    Only the named venue's client is imported: importing the Exchange and Prime clients
    costs ~25 ms, which every paper run and backtest on Advanced Trade paid at start-up
    (6 % of a 21 k-record replay) for a set it did not read.

    Raises:
        ConfigError: an unknown venue.
    """
    if venue == "advanced_trade":
        return RestClient.native_exits
    if venue == "exchange":
        from botkit.venues.exchange.rest_client import ExchangeRestClient

        return ExchangeRestClient.native_exits
    if venue == "prime":
        from botkit.venues.prime.rest_client import PrimeRestClient

        return PrimeRestClient.native_exits
    known = ("advanced_trade", "exchange", "prime")
    raise ConfigError(f"unknown venue {venue!r}: use one of {', '.join(known)}")
