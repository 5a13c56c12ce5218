"""Adapter ring: ``botkit doctor``: check keys, clock and permissions against Coinbase.

Coinbase answers almost every auth problem with a bare ``401 Unauthorized``
(reference §2.12), so the doctor separates the causes by measuring them one
at a time: does the key parse; how far is the local clock from ``GET /time``
(then signs with the *corrected* clock, so a wrong key is not mistaken for
skew); does ``GET /key_permissions`` succeed, and does the key have View and
Trade. Each problem is printed with its fix.

``botkit doctor --bot DATA_DIR`` instead reads what a running bot reports of itself
(its ``health.json``: the health model's verdict, per-product feed states, crashed
components).

``botkit doctor --venue exchange|prime`` does the same for the HMAC venues: the
credentials parse; the clock against the venue's time (Exchange ``GET /time``, Prime the
``Date`` header); a signed read (Exchange ``GET /accounts``, Prime the portfolio) proves the
key, passphrase and View permission. Neither venue has an endpoint that reports the Trade
permission, so it is not checked: a view-only key is refused on the first order with a
:class:`~botkit.errors.PermissionDenied` naming it.

Exit codes: 0 healthy, 1 a check failed, 2 configuration errors (no key,
unparseable key, HMAC key without passphrase, no health file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botkit.auth.clock import SystemClock
from botkit.auth.factory import make_jwt_signer, resolve_cdp_key
from botkit.errors import (
    AuthError,
    BotkitError,
    ConfigError,
    IpNotAllowed,
    PermissionDenied,
    TransportError,
)
from botkit.market.book import kernel_in_use
from botkit.net.retry_policy import RetryPolicy
from botkit.runtime.data_lock import LOCK_FILE, held
from botkit.runtime.settings import BotSettings
from botkit.venues.advanced_trade.rest_client import RestClient

__all__ = ["Check", "exit_code", "render", "run_doctor", "running_bot_checks"]

FIX_401 = (
    "Coinbase rejected the signed request (401) although the clock was corrected: the key name "
    "and secret do not match, the secret lost its newlines, or the key was deleted. Copy both "
    "from the CDP key JSON file again (BOTKIT_COINBASE__KEY_FILE is the least error-prone)"
)
FIX_CLOCK = (
    "enable NTP (sudo timedatectl set-ntp true, or chrony); botkit corrects its signing clock "
    "from GET /time, but a drifting host clock also skews logs and candle times"
)
FIX_TRADE = "enable the Trade permission for this key in the CDP portal (API keys > Edit)"
FIX_VIEW = "enable the View permission for this key in the CDP portal (API keys > Edit)"
FIX_IP = "add this machine's public IP to the key's IP allow-list in the CDP portal, or remove it"
FIX_PASSPHRASE = (
    "set BOTKIT_EXCHANGE__PASSPHRASE to the passphrase chosen when the Exchange key was created"
)


@dataclass(frozen=True, slots=True)
class Check:
    """One diagnosis line: what was checked, whether it passed, and the fix if not."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    config: bool = False  # a configuration problem (exit code 2)


def _hmac_checks(settings: BotSettings) -> list[Check]:
    out = []
    ex = settings.exchange
    if ex.api_key and not ex.passphrase.get_secret_value():
        out.append(
            Check("exchange key", False, "HMAC key without passphrase", FIX_PASSPHRASE, True)
        )
    pr = settings.prime
    if pr.access_key and not pr.passphrase.get_secret_value():
        out.append(
            Check(
                "prime key",
                False,
                "HMAC key without passphrase",
                "set BOTKIT_PRIME__PASSPHRASE",
                True,
            )
        )
    return out


async def run_doctor(
    settings: BotSettings,
    *,
    ca_file: str | Path | None = None,
    request_timeout: float = 10.0,
    max_drift: float = 5.0,
    venue: str = "advanced_trade",
) -> list[Check]:
    """Run every check and return the results (never raises for a failed check)."""
    checks = [_kernel_check(), *_hmac_checks(settings)]
    if venue != "advanced_trade":
        return checks + await _hmac_venue_checks(
            settings, venue, ca_file=ca_file, request_timeout=request_timeout, max_drift=max_drift
        )
    try:
        key = resolve_cdp_key(settings)
    except ConfigError as exc:
        return [*checks, Check("keys", False, str(exc), "see README 'Configuring keys'", True)]
    checks.append(Check("keys", True, f"{key.name} ({key.key_type}, {key.algorithm})"))
    clock = SystemClock()
    signer = make_jwt_signer(key, settings, clock=clock)
    url = settings.coinbase.rest_url
    try:
        client = RestClient(
            url,
            signer,
            clock=clock,
            ca_file=ca_file,
            connect_timeout=request_timeout,
            read_timeout=request_timeout,
            policy=RetryPolicy(max_attempts=4).scaled(0.2),
        )
    except ConfigError as exc:
        return [*checks, Check("tls", False, str(exc), "pass a readable --ca-file", True)]
    async with client:
        try:
            offset = await client.measure_offset()
        except (TransportError, ConfigError) as exc:
            checks.append(
                Check("reach", False, f"{url}: {exc}", "check the URL, network and --ca-file")
            )
            return checks
        except BotkitError as exc:
            checks.append(Check("clock", False, f"GET /time failed: {exc}", "retry later"))
            return checks
        clock.correct(clock.time() + offset, clock.time())
        if abs(offset) > max_drift:
            checks.append(
                Check("clock", False, f"local clock is {-offset:+.1f}s off Coinbase", FIX_CLOCK)
            )
        else:
            checks.append(Check("clock", True, f"offset {offset:+.3f}s (limit {max_drift:g}s)"))
        checks += await _permission_checks(client)
    return checks


FIX_HMAC_401 = {
    "exchange": "the Exchange rejected the signature although the clock was corrected: the key, "
    "the base64 secret or the passphrase do not match (copy all three again; the secret is "
    "shown only when the key is created)",
    "prime": "Prime rejected the signature although the clock was corrected: the access key, "
    "the signing key or the passphrase do not match, or the key has no access to "
    "BOTKIT_PRIME__PORTFOLIO_ID",
}


async def _hmac_venue_checks(
    settings: BotSettings,
    venue: str,
    *,
    ca_file: str | Path | None,
    request_timeout: float,
    max_drift: float,
) -> list[Check]:
    """Credentials, clock and a signed read on Coinbase Exchange or Prime."""
    from botkit.runtime.venue import exchange_settings, prime_settings
    from botkit.venues.exchange.rest_client import ExchangeRestClient
    from botkit.venues.prime.rest_client import PrimeRestClient

    clock = SystemClock()
    kw: dict[str, Any] = {
        "ca_file": ca_file,
        "connect_timeout": request_timeout,
        "read_timeout": request_timeout,
        "policy": RetryPolicy(max_attempts=4).scaled(0.2),
    }
    client: ExchangeRestClient | PrimeRestClient
    try:
        if venue == "exchange":
            ex = exchange_settings(settings)
            client, url, what = (
                ExchangeRestClient.from_settings(ex, clock=clock, **kw),
                ex.rest_url,
                ex.api_key,
            )
        elif venue == "prime":
            pr = prime_settings(settings)
            client, url = PrimeRestClient.from_settings(pr, clock=clock, **kw), pr.rest_url
            what = f"{pr.access_key}, portfolio {pr.portfolio_id}"
        else:
            raise ConfigError(f"unknown venue {venue!r}; use advanced_trade, exchange or prime")
    except ConfigError as exc:
        return [Check("keys", False, str(exc), "see docs/venues.md", True)]
    out = [Check("keys", True, f"{venue} key {what}")]
    if venue == "prime" and not pr.service_account_id.strip():  # run refuses it (exit 2)
        out.append(Check(
            "service account", False,
            "BOTKIT_PRIME__SERVICE_ACCOUNT_ID is not set: the Prime WebSocket signs every "
            "subscribe with it, so `botkit run` refuses to start",
            "set it to the key's service account id (shown in the Prime UI next to the key)",
        ))  # fmt: skip
    async with client:
        try:
            offset = await client.measure_offset()
        except (TransportError, ConfigError) as exc:
            return [*out, Check("reach", False, f"{url}: {exc}", "check the URL and network")]
        except BotkitError as exc:
            return [*out, Check("clock", False, f"time check failed: {exc}", "retry later")]
        clock.correct(clock.time() + offset, clock.time())
        out.append(
            Check("clock", False, f"local clock is {-offset:+.1f}s off {venue}", FIX_CLOCK)
            if abs(offset) > max_drift
            else Check("clock", True, f"offset {offset:+.3f}s (limit {max_drift:g}s)")
        )
        try:
            if isinstance(client, ExchangeRestClient):
                await client.accounts()
            else:
                await client.portfolio()
        except IpNotAllowed as exc:
            out.append(Check("auth", False, f"403 {exc.message}", "add this IP to the key"))
        except PermissionDenied as exc:
            fix = (
                "set BOTKIT_PRIME__PORTFOLIO_ID to one of the key's portfolios"
                if venue == "prime" and "portfolio" in exc.message.lower()
                else "give the key View"
            )
            out.append(Check("auth", False, f"403 {exc.message}", fix))
        except AuthError as exc:
            out.append(Check("auth", False, f"{exc.status} {exc.message}", FIX_HMAC_401[venue]))
        except BotkitError as exc:  # e.g. InvalidPassphrase: its message carries the fix
            hint = getattr(exc, "hint", "")
            out.append(Check("auth", False, str(exc), "" if hint else "retry later"))
        else:
            out.append(Check("auth", True, "signed read accepted (key, passphrase, View)"))
            out.append(
                Check(
                    "trade permission",
                    True,
                    f"not checkable on {venue} without placing an order: a view-only key is "
                    "refused on the first order with the permission named",
                )
            )
    return out


async def _permission_checks(client: RestClient) -> list[Check]:
    try:
        perms = await client.key_permissions()
    except IpNotAllowed as exc:
        return [Check("auth", False, f"403 {exc.message}", FIX_IP)]
    except PermissionDenied as exc:
        return [Check("auth", False, f"403 {exc.message}", FIX_VIEW)]
    except AuthError as exc:
        return [Check("auth", False, f"401 {exc.message}", FIX_401)]
    except BotkitError as exc:
        return [Check("auth", False, str(exc), "retry later; run with --log-level INFO")]
    out = [Check("auth", True, "signed request accepted")]
    out.append(
        Check("view permission", perms.can_view, "can_view" if perms.can_view else "missing", "")
        if perms.can_view
        else Check("view permission", False, "the key cannot read accounts/orders", FIX_VIEW)
    )
    out.append(
        Check("trade permission", True, "can_trade")
        if perms.can_trade
        else Check(
            "trade permission", False, "the key is view-only: it cannot place orders", FIX_TRADE
        )
    )
    return out


def _kernel_check() -> Check:
    """Which order-book level loop this install runs (informational: both are correct)."""
    if kernel_in_use():
        return Check("book kernel", True, "compiled level loop in use")
    return Check(
        "book kernel",
        True,
        "Python level loop (the compiled kernel is not built: ~20 % more CPU on level2 data; "
        "install a C compiler and python3-dev, then reinstall botkit; see docs/feed.md)",
    )


def exit_code(checks: list[Check]) -> int:
    """0 healthy, 2 when a configuration check failed, else 1 when any check failed."""
    if any(c.config and not c.ok for c in checks):
        return 2
    return 0 if all(c.ok for c in checks) else 1


def render(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"{'ok  ' if c.ok else 'FAIL'}  {c.name}: {c.detail}")
        if not c.ok and c.fix:
            lines.append(f"      fix: {c.fix}")
    verdict = {0: "healthy", 1: "problems found", 2: "configuration errors"}[exit_code(checks)]
    lines.append(f"botkit doctor: {verdict}")
    return "\n".join(lines)


def running_bot_checks(data_dir: Path, *, now: float, max_age: float = 10.0) -> list[Check]:
    """What a running bot says of itself: its ``health.json`` (written every second).

    ``data_dir`` is the bot's data directory, or the mode's folder within it (``sim``,
    ``paper``); the freshest ``health.json`` found there is read. A file older than
    ``max_age`` seconds means the bot is not running (or is wedged).

    Raises:
        ConfigError: no ``health.json`` there (not a bot's data directory, or no run yet).
    """
    candidates = (
        [data_dir / "health.json"] + [p / "health.json" for p in data_dir.iterdir() if p.is_dir()]
        if data_dir.is_dir()
        else []
    )
    found = [p for p in candidates if p.is_file()]
    if not found:
        raise ConfigError(
            f"no health.json in {data_dir}: give the bot's data directory ([bot] data_dir, "
            "default botkit-data) of a bot that has run"
        )
    path = max(found, key=lambda p: p.stat().st_mtime)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return [Check("running bot", False, f"{path}: unreadable ({exc})", "retry in a second")]
    age = now - float(doc.get("time", 0.0))
    who = f"{doc.get('mode')} bot, strategy {doc.get('strategy')}, pid {doc.get('pid')}"
    if doc.get("running") and age > max_age and held(path.parent):
        return [
            Check(
                "running bot",
                False,
                f"{who}: running (it holds {path.parent / LOCK_FILE}) but its health.json is "
                f"{age:.0f} s old: it cannot write its data directory (full? read-only?) or "
                "its event loop is stuck",
                "df -h and mount for the disk; its /readyz (--http) and its log say which",
            )
        ]
    if not doc.get("running") or age > max_age:
        last = doc.get("verdict")
        error = f"; it stopped with: {doc['error']}" if doc.get("error") else ""
        return [
            Check(
                "running bot",
                False,
                f"{who}: not running (last report {age:.0f} s ago, verdict {last}){error}",
                "start it (systemctl start botkit) and read its log (journalctl -u botkit)",
            )
        ]
    checks = [
        Check(
            "running bot",
            doc.get("verdict") == "ready",
            f"{who}: {doc.get('verdict')} ({age:.1f} s ago)",
            "; ".join(doc.get("reasons") or []),
        )
    ]
    for pid, state in sorted((doc.get("products") or {}).items()):
        checks.append(Check(f"market data {pid}", state == "live", state))
    for name, comp in sorted((doc.get("components") or {}).items()):
        if comp.get("crashes"):
            checks.append(
                Check(
                    f"component {name}",
                    comp.get("state") != "failed",
                    f"{comp.get('state')}, {comp.get('crashes')} crash(es), last: "
                    f"{comp.get('last_error')}",
                )
            )
    return checks
