"""The ``botkit run``, ``botkit strategies`` and ``botkit new-strategy`` commands.

Kept apart from :mod:`botkit.cli.main` so the key and JWT commands stay small, and so the
run command's policy is in one place: ``sim`` needs nothing; ``live`` prints exactly
what it is about to do (products, strategy, parameters, risk limits) and refuses to
start without an explicit ``--live``, because the difference between a rehearsal and
real money must never be one forgotten config line.
"""

from __future__ import annotations

import argparse
import dataclasses
import keyword
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from botkit.errors import ConfigError

__all__ = ["SKELETON", "add_run_commands", "cmd_new_strategy", "cmd_run", "cmd_strategies"]


_VENUE_NAMES = {
    "advanced_trade": "Coinbase Advanced Trade",
    "exchange": "Coinbase Exchange",
    "prime": "Coinbase Prime",
}


def _venue_url(runtime: object) -> str:
    """The REST URL the live bot will trade at (the configured venue's)."""
    from botkit.runtime.bot import BotRuntime

    assert isinstance(runtime, BotRuntime)
    venue, settings = runtime.config.bot.venue, runtime.settings
    if venue == "exchange":
        return settings.exchange.rest_url
    return settings.prime.rest_url if venue == "prime" else settings.coinbase.rest_url


def _describe_plan(runtime: object) -> str:
    from botkit.runtime.bot import BotRuntime

    assert isinstance(runtime, BotRuntime)
    cfg = runtime.config
    limits = cfg.risk.model_dump(exclude_defaults=False)
    uncapped = cfg.uncapped()
    venue = cfg.bot.venue
    url = _venue_url(runtime)
    lines = [
        f"mode:      {runtime.mode}",
        f"venue:     {_VENUE_NAMES.get(venue, venue)} ({url})",
        f"products:  {', '.join(runtime.products)}",
        f"strategy:  {runtime.stats.strategy} ({cfg.strategy})",
        f"params:    {cfg.params or '(defaults)'}",
        "risk:      " + ", ".join(f"{k}={v}" for k, v in limits.items() if v not in (None, {})),
        *(["no cap:    " + ", ".join(uncapped) + " (absent in [risk])"] if uncapped else []),
        f"data dir:  {runtime.root}",
    ]
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    """``botkit run``: the bot, in sim (default), paper, or live (with --live)."""
    from botkit.market.connections import fix_mmap_threshold
    from botkit.monitor.systemd import SdNotifier
    from botkit.runtime.bot import BotRuntime, RunOptions, run_blocking
    from botkit.runtime.bot_config import load_bot_config
    from botkit.runtime.settings import load_settings
    from botkit.runtime.ui import configure_logging, render_summary

    config = load_bot_config(Path(args.config) if args.config else None)
    configured = config.strategy
    if args.strategy:
        params = config.params if args.config else {}
        config = dataclasses.replace(config, strategy=args.strategy, params=params)
    mode = args.mode or config.bot.mode
    if args.venue:
        config = dataclasses.replace(
            config, bot=config.bot.model_copy(update={"venue": args.venue})
        )
    if args.duration is not None and args.duration <= 0:
        raise ConfigError(f"--duration must be positive (got {args.duration})")
    settings = load_settings(env_file=args.env_file)
    options = RunOptions(
        mode=mode,
        duration=args.duration,
        cancel_on_exit=args.cancel_on_exit,
        http=args.http,
        systemd=SdNotifier.from_env(),  # a no-op outside systemd (no NOTIFY_SOCKET)
        data_dir=Path(args.data_dir) if args.data_dir else None,
    )
    try:
        runtime = BotRuntime(config, settings, options)  # loads and validates the strategy
    except ConfigError as exc:
        if (
            args.strategy
            and args.config
            and args.strategy != configured
            and config.params
            and "parameter" in str(exc)
        ):
            raise ConfigError(  # whose parameters they were (a QA pass)
                f"{exc}: they are {args.config}'s [strategy.params], written for its "
                f"strategy {configured!r}; --strategy {args.strategy} takes them too (drop "
                "--strategy, or give it a config of its own)"
            ) from None
        raise
    if mode == "live":
        host = urlsplit(_venue_url(runtime)).hostname or ""
        where = (  # e.g. `botkit sim`'s .env lines: the banner must not cry wolf
            "against a local server (not Coinbase)"
            if host in ("localhost", "::1") or host.startswith("127.")
            else "on Coinbase with real money"
        )
        print(f"botkit: LIVE trading {where}:\n" + _describe_plan(runtime))
        if not args.live:
            raise ConfigError(
                "live mode places real orders: re-run with --live to confirm "
                "(or use --mode sim, the default, to rehearse offline)"
            )
    try:
        status = options.status = configure_logging(args.log_level or "INFO")
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if status is not None:
        print(f"botkit: {mode} mode, strategy {runtime.stats.strategy}; Ctrl-C stops", flush=True)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:  # the user's own glibc setting wins
        fix_mmap_threshold()  # big frame buffers go back to the OS (docs/headless.md)
    result = run_blocking(runtime.run)
    if status is not None:
        status.clear()
    print(render_summary(result.stats, result.elapsed), flush=True)
    if result.error is not None:
        raise result.error  # printed by the CLI; exit code 1
    return 0


def cmd_strategies(args: argparse.Namespace) -> int:
    """``botkit strategies``: every strategy loadable by name, with its parameters."""
    from botkit.strategy.loader import list_strategies

    infos = list_strategies(strategies_dir=Path(args.dir) if args.dir else None)
    if not infos:
        print("no strategies found (botkit new-strategy NAME writes one)")
    for info in infos:
        print(f"{info.name}: {info.summary}")
        print(f"  class: {info.cls}")
        for p in info.params:
            desc = f"  {p.description}" if p.description else ""
            print(f"    {p.name}: {p.type} = {p.default}{desc}")
    return 0


SKELETON = '''"""{title}: one line saying what this strategy does (shown by `botkit strategies`)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from botkit import OrderRejected, Strategy, Ticker, TimerFired

__all__ = ["{cls}"]


class {cls}(Strategy):
    """{title}: say what it trades and WHY here; the first line is its summary.

    Run it offline against the embedded simulator:

        botkit run --strategy {path}:{cls} --duration 30

    Hooks (all optional, def or async def): on_start, on_stop, on_ticker, on_book,
    on_trade, on_candle, on_order_update, on_fill, on_book_invalid, on_timer, on_exit,
    on_trading_status.
    See docs/strategies.md for the hooks and everything ``self.ctx`` offers.
    """

    class Params(BaseModel):
        """Filled from [strategy.params] in the bot's TOML and validated before start."""

        model_config = ConfigDict(extra="forbid")

        product_id: str = Field("BTC-USD", description="product to trade")
        size: Decimal = Field(Decimal("0.001"), gt=0, description="base size of each order")
        every_seconds: float = Field(10.0, gt=0, description="how often on_timer runs")

    params: Params  # re-annotated so type checkers know the fields

    def on_start(self) -> None:
        self.ctx.set_timer("tick", self.params.every_seconds)

    def on_ticker(self, ticker: Ticker) -> None:
        self.ctx.state.set("last_price", ticker.price)  # survives restarts

    async def on_timer(self, timer: TimerFired) -> None:
        p = self.params
        book = self.ctx.book(p.product_id)
        if book is None or not book.valid or self.ctx.open_orders(p.product_id):
            return
        best = book.best_bid()
        if best is None:
            return
        price = (best[0] * Decimal("0.99")).quantize(Decimal("0.01"))  # 1 % under the bid
        try:
            coid = await self.ctx.buy_limit(p.product_id, p.size, price, post_only=True)
        except OrderRejected as exc:  # the risk engine or the exchange said no
            self.ctx.log.info("bid refused: %s", exc)
            return
        self.ctx.log.info("bid %s at %s client_order_id=%s", p.size, price, coid)
'''
"""The file ``botkit new-strategy`` writes: small, documented, and valid as it stands."""


def cmd_new_strategy(args: argparse.Namespace) -> int:
    """``botkit new-strategy NAME``: write a documented skeleton that loads as it is."""
    name = args.name
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ConfigError(f"strategy name must be a snake_case identifier (got {name!r})")
    from botkit.strategy.loader import default_strategies_dir

    folder = Path(args.dir)
    path = folder / f"{name}.py"
    shipped = default_strategies_dir() / f"{name}.py"
    if shipped.is_file() and shipped.resolve() != path.resolve() and not args.force:
        raise ConfigError(  # it hid the shipped one from `botkit strategies` and --strategy
            f"{name} is the name of a shipped strategy: a file of that name in {folder} "
            f"would hide it (botkit strategies, --strategy {name}); choose another name, "
            f"e.g. my_{name} (or --force to replace it on purpose)"
        )
    if path.exists() and not args.force:
        raise ConfigError(f"{path} exists; choose another name or pass --force")
    cls = "".join(part.capitalize() for part in name.split("_"))
    folder.mkdir(parents=True, exist_ok=True)
    title = name.replace("_", " ").capitalize()
    path.write_text(SKELETON.format(cls=cls, title=title, path=path.as_posix()))
    print(f"wrote {path} (class {cls})")
    print(f"try it: botkit run --strategy {path.as_posix()}:{cls} --duration 30")
    return 0


def add_run_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``run``, ``strategies`` and ``new-strategy`` on the CLI's subparsers."""
    run = sub.add_parser("run", help="run the bot (default: sim mode, offline, until Ctrl-C)")
    run.add_argument(
        "--strategy",
        help="name, path/file.py:Class or package.module:Class "
        "(default: the config's, else market_maker)",
    )
    run.add_argument("--config", help="bot TOML ([bot], [strategy], [risk], [guard])")
    run.add_argument("--mode", choices=["sim", "live", "paper"], help="overrides [bot].mode")
    run.add_argument(
        "--venue",
        choices=["advanced_trade", "exchange", "prime"],
        help="overrides [bot].venue: which Coinbase API (docs/venues.md)",
    )
    run.add_argument("--live", action="store_true", help="confirm live trading (real money)")
    run.add_argument("--duration", type=float, help="stop after SECONDS (default: until Ctrl-C)")
    run.add_argument(
        "--cancel-on-exit",
        action="store_true",
        help="cancel open orders at shutdown (not exits': they protect positions)",
    )
    run.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="serve /metrics, /healthz, /readyz, the status page and control (e.g. 127.0.0.1:9108)",
    )
    run.add_argument(
        "--log-level", default=argparse.SUPPRESS, help="DEBUG, INFO (default), WARNING, ERROR"
    )
    run.add_argument("--data-dir", help="journal, kill switch, state (default: ./botkit-data)")
    run.set_defaults(func=cmd_run)

    strategies = sub.add_parser("strategies", help="list strategies with their parameters")
    strategies.add_argument("--dir", help="strategies folder (default: the shipped one)")
    strategies.set_defaults(func=cmd_strategies)

    new = sub.add_parser("new-strategy", help="write a documented strategy skeleton")
    new.add_argument("name", help="snake_case name, e.g. dip_buyer")
    new.add_argument("--dir", default="strategies", help="folder to write to")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    new.set_defaults(func=cmd_new_strategy)
