"""The ``botkit`` command line (wiring ring).

Exit codes: 0 success, 1 runtime failure, 2 bad input (config, keys, arguments).
Errors are printed as one ``botkit: error: ...`` line naming what is wrong and
how to fix it; secrets are never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from botkit import __version__
from botkit.errors import BotkitError, ConfigError

if TYPE_CHECKING:
    from botkit.sim.server import SimServer

__all__ = ["main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _settings(args: argparse.Namespace) -> object:
    from botkit.runtime.settings import load_settings

    return load_settings(env_file=args.env_file)


def cmd_jwt(args: argparse.Namespace) -> int:
    """``botkit jwt METHOD PATH``: print ``export JWT=...`` for use with curl."""
    from botkit.auth.factory import make_jwt_signer, resolve_cdp_key
    from botkit.auth.jwt import host_of
    from botkit.runtime.settings import BotSettings

    settings = _settings(args)
    assert isinstance(settings, BotSettings)
    signer = make_jwt_signer(resolve_cdp_key(settings), settings)
    if args.ws:
        token = signer.ws_token()
    else:
        if not args.method or not args.path:
            raise ConfigError("usage: botkit jwt METHOD PATH (or botkit jwt --ws)")
        if not args.path.startswith("/"):
            raise ConfigError(
                f"PATH must start with '/', e.g. /api/v3/brokerage/accounts (got {args.path!r})"
            )
        path = args.path
        if "?" in path:
            path = path.split("?", 1)[0]
            print(
                "botkit: note: the query string is not part of the JWT uri; signed",
                path,
                file=sys.stderr,
            )
        host = args.host or host_of(settings.coinbase.rest_url)
        token = signer.rest_token(args.method, host, path)
    print(f"export JWT={token}")
    return EXIT_OK


def cmd_keys_check(args: argparse.Namespace) -> int:
    """``botkit keys check``: load the configured key; print name, type, algorithm only."""
    from botkit.auth.factory import resolve_cdp_key
    from botkit.runtime.settings import BotSettings

    settings = _settings(args)
    assert isinstance(settings, BotSettings)
    if args.venue == "exchange":
        from botkit.auth.hmac_sign import ExchangeHmacSigner
        from botkit.runtime.venue import exchange_settings

        ex = exchange_settings(settings)  # ConfigError names a missing or malformed value
        from botkit.auth.clock import SystemClock

        secret, passphrase = ex.api_secret.get_secret_value(), ex.passphrase.get_secret_value()
        ExchangeHmacSigner(ex.api_key, secret, passphrase, clock=SystemClock()).sign("GET", "/")
        print(f"key:       {ex.api_key} (Coinbase Exchange, HMAC)")
        print(f"passphrase: {'set' if ex.passphrase.get_secret_value() else 'EMPTY'}")
        print("status:    OK (the secret decodes and signs; 'botkit doctor --venue exchange' "
              "tests it against the Exchange)")  # fmt: skip
        return EXIT_OK
    if args.venue == "prime":
        from botkit.runtime.venue import prime_settings

        pr = prime_settings(settings)
        print(f"key:       {pr.access_key} (Coinbase Prime, HMAC)")
        print(f"portfolio: {pr.portfolio_id}")
        print(f"service account: {pr.service_account_id or 'MISSING (the WebSocket needs it)'}")
        print("status:    OK (the credentials are complete; 'botkit doctor --venue prime' "
              "tests them against Prime)")  # fmt: skip
        return EXIT_OK if pr.service_account_id else EXIT_USAGE
    key = resolve_cdp_key(settings)
    print(f"key name:  {key.name}")
    print(f"key type:  {key.key_type}")
    print(f"algorithm: {key.algorithm}")
    print("status:    OK (the key loads and signs; 'botkit doctor' tests it against Coinbase)")
    return EXIT_OK


def cmd_keys_new(args: argparse.Namespace) -> int:
    """``botkit keys new``: a fresh key in .env form, for the simulator and experiments."""
    from botkit.auth.factory import generate_cdp_key
    from botkit.auth.keys import secret_to_base64, secret_to_pem

    key = generate_cdp_key(args.type)
    if args.type == "EdDSA":
        from cryptography.hazmat.primitives.asymmetric import ed25519

        assert isinstance(key.private_key, ed25519.Ed25519PrivateKey)
        secret = secret_to_base64(key.private_key)
    else:
        secret = secret_to_pem(key.private_key).replace("\n", "\\n")
    print("# a locally generated key: valid for botkit's simulator, not for Coinbase")
    print(f'BOTKIT_COINBASE__API_KEY="{key.name}"')
    print(f'BOTKIT_COINBASE__API_SECRET="{secret}"')
    return EXIT_OK


def cmd_sim(args: argparse.Namespace) -> int:
    """``botkit sim``: serve the simulator until interrupted; print URLs and a fresh key."""
    import asyncio
    import signal

    from botkit.sim.ratelimit import RateLimitConfig
    from botkit.sim.server import SimServer

    limits = RateLimitConfig(
        enabled=not args.no_rate_limits,
        private_rate=args.private_rate,
        public_rate=args.public_rate,
    )

    async def serve() -> None:
        sim = SimServer(
            host=args.host,
            port=args.port,
            seed=args.seed,
            tls=args.tls,
            admin_token=args.admin_token,
            rate_limits=limits,
        )
        async with sim, contextlib.AsyncExitStack() as stack:
            key = sim.add_key(args.key_type)
            print(f"# botkit simulator (seed {args.seed}) on {sim.rest_url}")
            dialects = ["exchange", "prime"] if args.venue == "all" else [args.venue]
            for offset, venue in enumerate(("exchange", "prime"), start=1):
                if venue in dialects:
                    port = args.port + offset if args.port else 0
                    lines = await stack.enter_async_context(_serve_dialect(sim, venue, port))
                    print("\n".join(lines))
            if limits.enabled:
                print(
                    f"# REST rate limits on: {limits.private_rate:g}/s per user (private), "
                    f"{limits.public_rate:g}/s per IP (public); --no-rate-limits turns them off"
                )
            else:
                print("# REST rate limits OFF (--no-rate-limits)")
            if sim.cert_path is not None:
                print(f"# TLS certificate (trust it in your client): {sim.cert_path}")
            print(
                f"# admin API: {sim.ws_market_url.replace('ws', 'http', 1)}/_sim "
                f"(header X-Sim-Admin-Token: {sim.admin_token})"
            )
            if args.venue in ("advanced_trade", "all"):
                print("# paste into .env (a local key; it is useless against Coinbase):")
                print(sim.env_text(key), flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()

    asyncio.run(serve())
    return EXIT_OK


@contextlib.asynccontextmanager
async def _serve_dialect(sim: SimServer, venue: str, port: int) -> AsyncIterator[list[str]]:
    """Serve ``venue``'s dialect on ``sim``'s market; yield the lines to print (URLs, key)."""
    from botkit.sim.exchange_rest import ExchangeSimServer
    from botkit.sim.prime_rest import PrimeSimServer

    if venue == "exchange":
        ex = ExchangeSimServer.sharing(sim, port=port)
        async with ex:
            k = ex.add_key()
            yield [
                f"# Coinbase Exchange dialect on {ex.rest_url} (WebSocket {ex.ws_url})",
                '# paste into .env with [bot] venue = "exchange" (a local key):',
                f"BOTKIT_EXCHANGE__REST_URL={ex.rest_url}",
                f"BOTKIT_EXCHANGE__WS_URL={ex.ws_url}",
                f"BOTKIT_EXCHANGE__API_KEY={k.key}",
                f"BOTKIT_EXCHANGE__API_SECRET={k.secret}",
                f"BOTKIT_EXCHANGE__PASSPHRASE={k.passphrase}",
                *_candles_line(sim),
            ]
    else:
        pr = PrimeSimServer.sharing(sim, port=port)
        async with pr:
            p = pr.add_key()
            yield [
                f"# Coinbase Prime dialect on {pr.rest_url} (WebSocket {pr.ws_url})",
                '# paste into .env with [bot] venue = "prime" (a local key):',
                f"BOTKIT_PRIME__REST_URL={pr.rest_url}",
                f"BOTKIT_PRIME__WS_URL={pr.ws_url}",
                f"BOTKIT_PRIME__ACCESS_KEY={p.access_key}",
                f"BOTKIT_PRIME__SIGNING_KEY={p.signing_key}",
                f"BOTKIT_PRIME__PASSPHRASE={p.passphrase}",
                f"BOTKIT_PRIME__PORTFOLIO_ID={p.portfolio_ids[0]}",
                f"BOTKIT_PRIME__ENTITY_ID={p.entity_id}",
                f"BOTKIT_PRIME__SERVICE_ACCOUNT_ID={p.svc_account_id}",
                *_candles_line(sim),
            ]


def _candles_line(sim: SimServer) -> list[str]:
    """An Exchange or Prime bot warms up from Advanced Trade's public candles: without
    this line, one pointed at the local simulator fetched them from api.coinbase.com (a
    QA pass): real prices into a simulated market."""
    return [
        "# the warm-up's public candles (Advanced Trade's), from this simulator's market:",
        f"BOTKIT_COINBASE__REST_URL={sim.rest_url}",
    ]


def cmd_doctor(args: argparse.Namespace) -> int:
    """``botkit doctor``: keys, clock offset and permissions, each problem with its fix."""
    import asyncio

    from botkit.cli.doctor import exit_code, render, run_doctor
    from botkit.runtime.settings import BotSettings

    if args.bot:
        import time
        from pathlib import Path

        from botkit.cli.doctor import running_bot_checks

        checks = running_bot_checks(Path(args.bot), now=time.time())
        print(render(checks))
        return exit_code(checks)
    settings = _settings(args)
    assert isinstance(settings, BotSettings)
    checks = asyncio.run(
        run_doctor(
            settings,
            ca_file=args.ca_file,
            request_timeout=args.timeout,
            max_drift=args.max_drift,
            venue=args.venue,
        )
    )
    print(render(checks))
    return exit_code(checks)


def kill_switch_path(args: argparse.Namespace) -> Path:
    """The kill switch file of the bot ``botkit run`` would start with the same options.

    ``--path`` wins; otherwise the data directory and mode are found exactly as ``run``
    finds them (``--data-dir`` / ``--mode``, else the ``--config`` TOML's ``[bot]``, else
    ``botkit-data`` and ``sim``; ``--venue`` as ``run --venue``), and sim and paper keep
    theirs in a sub-folder named after the mode, as the runtime does
    (``botkit-data/sim/kill_switch.json`` by default; another venue's bot in a sub-folder
    named after the venue).
    """
    from botkit.runtime.bot_config import data_root, load_bot_config

    if args.path:
        return Path(args.path)
    bot = load_bot_config(Path(args.config) if args.config else None).bot
    mode = args.mode or bot.mode
    base = Path(args.data_dir) if args.data_dir else bot.data_dir
    return data_root(base, mode, args.venue or bot.venue) / "kill_switch.json"


def _venue_switches(path: Path) -> list[Path]:
    """The kill-switch files of other venues' bots beside ``path`` (an Exchange or Prime
    bot keeps its data in a sub-folder named after the venue)."""
    found = (path.parent / venue / "kill_switch.json" for venue in ("exchange", "prime"))
    return [p for p in found if p.is_file()]  # not another mode's folder (live's holds sim/)


def cmd_kill_switch(args: argparse.Namespace) -> int:
    """``botkit kill-switch status|reset``: read or clear the persisted kill switch."""
    import time

    from botkit.risk.gate import (
        load_kill_switch,
        load_protections,
        protection_lines,
        protections_path,
        reset_kill_switch,
    )

    path = kill_switch_path(args)
    # an Exchange or Prime bot keeps its own below: named too, or status said "not tripped"
    # and reset "was not tripped" while that bot's switch stayed tripped (a QA pass)
    others = [] if args.path or args.venue else _venue_switches(path)
    if args.kill_switch_command == "status":
        if path.exists() or not others:
            state = load_kill_switch(path)
            print(f"kill switch: {'TRIPPED' if state.tripped else 'not tripped'} ({path})")
            if state.tripped:
                print(f"reason: {state.reason}")
            active = protection_lines(load_protections(protections_path(path)), time.time())
            for name, what in active.items():  # docs/protections.md
                print(f"protection {name}: {what}")
            _print_positions(path.parent, time.time())
        for other in others:
            state = load_kill_switch(other)
            print(f"kill switch of the {other.parent.name} bot: "
                  f"{'TRIPPED' if state.tripped else 'not tripped'} ({other}; --venue "
                  f"{other.parent.name})")  # fmt: skip
        return EXIT_OK
    tripped = [o for o in others if load_kill_switch(o).tripped]
    if tripped:
        raise ConfigError(
            "another venue's bot has its own kill switch, tripped: "
            + ", ".join(str(o) for o in tripped)
            + f"; pass --venue {' or --venue '.join(o.parent.name for o in tripped)} to reset "
            "it (or --venue advanced_trade for this one)"
        )
    from botkit.runtime.data_lock import DataDirLock

    if not path.parent.is_dir():
        print(f"kill switch was not tripped ({path}: no such data directory)")
        return EXIT_OK
    try:  # a running bot keeps its own state in memory and writes it back: it must be stopped
        lock = DataDirLock(path.parent, mark=False)  # a killed run's mark stays for the bot
    except ConfigError as exc:
        raise ConfigError(
            f"{exc}. A running bot's kill switch is reset through it: botkit ctl kill-switch "
            "reset (its --http server), or stop it and run this again"
        ) from None
    try:
        was = reset_kill_switch(path)
    finally:
        lock.release()
    print(f"kill switch {'reset' if was else 'was not tripped'} ({path})")
    return EXIT_OK


def _print_positions(folder: Path, now: float) -> None:
    """What the bot holds and has realised today, from its fill ledger (a stopped bot's
    too: what a restart resumes; docs/strategies.md, "Positions across restarts")."""
    from botkit.orders.ledger import FILE_NAME, FillLedger

    ledger_path = folder / FILE_NAME
    if not ledger_path.exists():
        return

    ledger = FillLedger(ledger_path)
    try:
        positions, today = ledger.positions(), ledger.today()
    finally:
        ledger.close()
    from botkit.monitor.ctl import plain

    for pid, pos in sorted(positions.items()):
        if pos.quantity:
            print(
                f"position {pid}: {plain(pos.quantity)} at {plain(pos.avg_price)} average "
                f"({ledger_path})"
            )
    if today is not None and today[0] == int(now // 86_400):
        print(f"realised PnL today (UTC): {plain(today[1])}")


def cmd_ctl(args: argparse.Namespace) -> int:
    """``botkit ctl ...``: talk to a running bot's HTTP control API."""
    from pathlib import Path

    from botkit.monitor.ctl import call, find_token, render_status
    from botkit.runtime.settings import BotSettings

    settings = _settings(args)
    assert isinstance(settings, BotSettings)
    action = args.ctl_command + (f" {args.ks_action}" if args.ctl_command == "kill-switch" else "")
    env_token = settings.http.token.get_secret_value() if settings.http.token else None
    token = find_token(args.token, env_token, Path(args.data_dir))
    url = args.url or f"http://{settings.http.listen or '127.0.0.1:9108'}"
    body = {"reason": args.reason} if getattr(args, "reason", None) else None
    doc = call(url, action, token, body=body)
    print(render_status(doc) if action == "status" else json.dumps(doc))
    if doc.get("failed"):  # cancel-all: some cancels raised (the venue down, a 503...)
        print(
            f"botkit: error: {len(doc['failed'])} cancel(s) failed: the orders may still "
            "work; the bot's log says why. Retry, or check the exchange",
            file=sys.stderr,
        )
    if doc.get("left"):  # cancel-all: placement in flight, or a cancel not accepted
        print(
            f"botkit: error: {len(doc['left'])} order(s) not cancelled: placement still in "
            "flight, or the venue did not accept the cancel (an order that just filled or "
            "ended, or one it refuses to cancel); the bot's log names them. Run "
            "`botkit ctl status`, then cancel-all again, or check the exchange",
            file=sys.stderr,
        )
    return EXIT_FAILURE if doc.get("failed") or doc.get("left") else EXIT_OK


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="botkit", description="Trading bots on Coinbase, asyncio.")
    p.add_argument("--version", action="version", version=f"botkit {__version__}")
    p.add_argument(
        "--env-file",
        default=None,
        help="dotenv file to read (default: ./.env when it exists)",
    )
    p.add_argument(
        "--log-level", help="DEBUG, INFO, WARNING or ERROR (default: INFO for run, else WARNING)"
    )
    sub = p.add_subparsers(dest="command")

    from botkit.cli.run import add_run_commands

    add_run_commands(sub)

    from botkit.cli.paper import add_paper_commands

    add_paper_commands(sub)

    from botkit.report.cli import add_report_parser

    add_report_parser(sub)

    from botkit.cli.download import add_download_commands

    add_download_commands(sub)

    from botkit.cli.optimize import add_optimize_command

    add_optimize_command(sub)

    jwt = sub.add_parser("jwt", help="print 'export JWT=...' for a REST call (or --ws)")
    jwt.add_argument("method", nargs="?", help="HTTP method, e.g. GET")
    jwt.add_argument("path", nargs="?", help="request path, e.g. /api/v3/brokerage/accounts")
    jwt.add_argument("--ws", action="store_true", help="a WebSocket token (no uri claim)")
    jwt.add_argument("--host", help="host[:port] for the uri claim (default: from the REST URL)")
    jwt.set_defaults(func=cmd_jwt)

    sim = sub.add_parser("sim", help="serve the local Coinbase simulator until Ctrl-C")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=0, help="0 picks a free port")
    sim.add_argument("--seed", type=int, default=1, help="same seed, same market")
    sim.add_argument("--tls", action="store_true", help="https/wss with a self-signed cert")
    sim.add_argument("--key-type", choices=["ES256", "EdDSA"], default="ES256")
    sim.add_argument("--admin-token", help="token for the /_sim admin API (default: random)")
    sim.add_argument(
        "--venue",
        choices=["advanced_trade", "exchange", "prime", "all"],
        default="advanced_trade",
        help="which Coinbase API(s) to serve: the Exchange and Prime dialects trade on the same "
        "simulated market, each on its own port (--port N: N+1 and N+2)",
    )
    sim.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="serve without Coinbase's REST rate limits and x-ratelimit-* headers",
    )
    sim.add_argument(
        "--private-rate",
        type=float,
        default=30.0,
        help="private requests/s per user (default 30, Coinbase's documented figure)",
    )
    sim.add_argument(
        "--public-rate",
        type=float,
        default=10.0,
        help="public requests/s per IP (default 10, Coinbase's documented figure)",
    )
    sim.set_defaults(func=cmd_sim)

    doctor = sub.add_parser("doctor", help="check keys, clock and permissions against Coinbase")
    doctor.add_argument("--ca-file", help="trust this CA certificate (e.g. the simulator's)")
    doctor.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    doctor.add_argument(
        "--max-drift", type=float, default=5.0, help="clock offset that fails the check (s)"
    )
    doctor.add_argument(
        "--venue",
        choices=["advanced_trade", "exchange", "prime"],
        default="advanced_trade",
        help="which Coinbase API's credentials to check (BOTKIT_EXCHANGE__* / BOTKIT_PRIME__*)",
    )
    doctor.add_argument(
        "--bot",
        metavar="DATA_DIR",
        help="instead: the health of the bot running with this data directory (its health.json)",
    )
    doctor.set_defaults(func=cmd_doctor)

    keys = sub.add_parser("keys", help="inspect or create API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    check = keys_sub.add_parser("check", help="load the configured key; print its name and type")
    check.add_argument(
        "--venue",
        choices=["advanced_trade", "exchange", "prime"],
        default="advanced_trade",
        help="whose credentials: CDP key (default), BOTKIT_EXCHANGE__* or BOTKIT_PRIME__*",
    )
    check.set_defaults(func=cmd_keys_check)
    new = keys_sub.add_parser("new", help="generate a key for the simulator, in .env form")
    new.add_argument("--type", choices=["ES256", "EdDSA"], default="ES256")
    new.set_defaults(func=cmd_keys_new)

    ctl = sub.add_parser("ctl", help="status and control of a running bot (its --http server)")
    ctl.add_argument("--url", help="the bot's HTTP address (default: BOTKIT_HTTP__LISTEN or "
                     "http://127.0.0.1:9108)")  # fmt: skip
    ctl.add_argument("--token", help="control token (default: BOTKIT_HTTP__TOKEN, else the "
                     "data directory's control.token)")  # fmt: skip
    ctl.add_argument("--data-dir", default="botkit-data", help="the bot's data directory")
    ctl_sub = ctl.add_subparsers(dest="ctl_command", required=True)
    for name, text in (
        ("status", "health, position, PnL, orders"),
        ("pause", "refuse new orders (hooks, fills and cancels go on)"),
        ("resume", "accept new orders again"),
        ("cancel-all", "cancel the strategy's open orders"),
    ):
        ctl_sub.add_parser(name, help=text).set_defaults(func=cmd_ctl)
    ctl_ks = ctl_sub.add_parser("kill-switch", help="trip or reset the kill switch")
    ctl_ks_sub = ctl_ks.add_subparsers(dest="ks_action", required=True)
    trip = ctl_ks_sub.add_parser("trip", help="trip it: cancel everything, refuse new orders")
    trip.add_argument("--reason", default="tripped with botkit ctl")
    trip.set_defaults(func=cmd_ctl)
    ctl_ks_sub.add_parser("reset", help="reset it").set_defaults(func=cmd_ctl)

    ks = sub.add_parser(
        "kill-switch",
        help="show or reset the persisted risk kill switch",
        description="The file is the one 'botkit run' with the same --config, --mode and "
        "--data-dir uses (default: botkit-data/sim/kill_switch.json).",
    )
    ks_sub = ks.add_subparsers(dest="kill_switch_command", required=True)
    for name, text in (("status", "is the kill switch tripped?"), ("reset", "clear it")):
        cmd = ks_sub.add_parser(name, help=text)
        cmd.add_argument("--config", help="the bot TOML the bot runs with (its [bot] table)")
        cmd.add_argument(
            "--mode", choices=["sim", "live", "paper"], help="the bot's mode (default: as run)"
        )
        cmd.add_argument("--data-dir", help="the bot's data directory (default: as run)")
        cmd.add_argument(
            "--venue",
            choices=["advanced_trade", "exchange", "prime"],
            help="the venue the bot runs on, as given to run --venue (default: as run)",
        )
        cmd.add_argument("--path", help="the state file itself (overrides the four above)")
        cmd.set_defaults(func=cmd_kill_switch)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``botkit`` console script and ``python -m botkit``."""
    parser = _parser()
    args = parser.parse_args(argv)
    # one log set-up for every command: text on a terminal, JSON lines under systemd, Docker
    # or a pipe (botkit run sets it again, the same way, to draw its status line)
    from botkit.runtime.logs import configure_logging

    try:
        configure_logging(args.log_level or ("INFO" if args.command == "run" else "WARNING"))
    except ValueError as exc:
        print(f"botkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    if args.env_file is None:
        args.env_file = ".env"  # optional: keys may come from the environment instead
    elif not Path(args.env_file).exists():  # named: a typo must not read as "no keys" alone
        print(
            f"botkit: note: --env-file {args.env_file} does not exist: nothing is read from "
            f"it (the environment only; --env-file {os.devnull} says so without this note)",
            file=sys.stderr,
        )
    try:
        return func(args)
    except ConfigError as exc:
        print(f"botkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BotkitError as exc:
        print(f"botkit: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
