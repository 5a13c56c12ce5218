"""``botkit ctl``: the operator's command line to a running bot's HTTP control API.

Synchronous on purpose (urllib): one request, one answer, and a clear message when no
bot is listening or the token is wrong. The token comes from ``--token``, else
``BOTKIT_HTTP__TOKEN``, else the per-run ``control.token`` the bot wrote to its data
directory; it is sent only in the ``Authorization`` header and never printed.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from botkit.errors import BotkitError, ConfigError

__all__ = ["ACTIONS", "call", "find_token", "render_status"]

ACTIONS = {
    "status": ("GET", "/api/status"),
    "pause": ("POST", "/api/pause"),
    "resume": ("POST", "/api/resume"),
    "cancel-all": ("POST", "/api/cancel-all"),
    "kill-switch trip": ("POST", "/api/kill-switch/trip"),
    "kill-switch reset": ("POST", "/api/kill-switch/reset"),
}


def find_token(explicit: str | None, env_token: str | None, data_dir: Path) -> str | None:
    """The token to use: ``--token``, the environment's, or the newest ``control.token``."""
    if explicit:
        return explicit
    if env_token:
        return env_token
    found = (
        data_dir / "control.token",
        *data_dir.glob("*/control.token"),
        *data_dir.glob("*/*/control.token"),
    )  # an Exchange or Prime bot: <mode>/<venue>/
    files = [p for p in found if p.is_file()]  # fmt: skip
    if not files:
        return None
    return max(files, key=lambda p: p.stat().st_mtime).read_text().strip() or None


def call(
    url: str, action: str, token: str | None, *, body: dict[str, Any] | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:  # fmt: skip
    """Perform ``action`` against the bot at ``url``; the JSON answer.

    Raises:
        ConfigError: unknown action, no token for a control action, or a token refused.
        BotkitError: no bot listening there, or an unexpected answer.
    """
    if action not in ACTIONS:
        raise ConfigError(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    method, path = ACTIONS[action]
    if method == "POST" and not token:
        raise ConfigError(
            "no control token: pass --token, set BOTKIT_HTTP__TOKEN, or run this where the "
            "bot's data directory (its control.token) is (--data-dir)"
        )
    data = json.dumps(body or {}).encode() if method == "POST" else None
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            doc: dict[str, Any] = json.loads(resp.read())
            return doc
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise ConfigError(
                f"the bot at {url} refused the token ({exc.code}): use the token of that bot "
                "([http] token / BOTKIT_HTTP__TOKEN, or its data directory's control.token)"
            ) from None
        raise BotkitError(f"the bot at {url} answered {exc.code} to {action}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BotkitError(
            f"no bot is listening at {url} ({reason}): start it with `botkit run --http "
            "127.0.0.1:9108` (or [http] listen in its TOML), or pass --url"
        ) from None


def plain(value: object, places: int | None = None) -> str:
    """A decimal amount as an operator reads it: ``0`` not ``0E-8``, ``-1.037542`` not
    ``-1.0375420000`` (exact: only zeros are dropped; ``places``: rounded to that many
    decimals first, for a computed figure such as PnL, whose average-cost division runs to
    28 digits); anything else as ``str``."""
    try:
        d = Decimal(str(value))
        if places is not None and d.is_finite() and abs(d.adjusted()) <= 40:
            d = d.quantize(Decimal(1).scaleb(-places))
    except (InvalidOperation, ValueError):
        return str(value)
    if not d.is_finite() or abs(d.adjusted()) > 40:  # not an amount: as it came
        return str(value)
    if d.is_zero():
        return "0"
    text = format(d, "f")  # exact (no rounding to a context's precision)
    return text.rstrip("0").rstrip(".") if "." in text else text


def render_status(doc: dict[str, Any]) -> str:
    """A few lines for a terminal from ``/api/status``."""
    health = doc.get("health", {})
    lines = [
        f"{doc.get('mode')} bot on {doc.get('venue')}, strategy {doc.get('strategy')}: "
        f"{str(health.get('verdict', '?')).upper()}"
        + (" PAUSED" if doc.get("paused") else "")
        + (" KILL-SWITCH" if doc.get("kill_switch") else "")
    ]
    lines += [f"  - {r}" for r in health.get("reasons", [])]
    pos = ", ".join(f"{p} {plain(q)}" for p, q in (doc.get("positions") or {}).items()) or "flat"
    lines.append(
        f"  position {pos} | PnL {plain(doc.get('pnl'), 8)} | orders {doc.get('orders_placed')} "
        f"(rejected {doc.get('orders_rejected')}) | open {len(doc.get('open_orders') or [])} "
        f"| fills {doc.get('fills_total')}"
    )
    for pid, state in (health.get("products") or {}).items():
        lines.append(f"  {pid}: {state}")
    for name, what in (doc.get("protections") or {}).items():
        lines.append(f"  protection {name}: {what}")
    for what in (doc.get("trading") or {}).values():
        lines.append(f"  venue: {what}")
    for x in doc.get("exits") or []:
        lines.append(
            f"  exit {x.get('kind')} {x.get('product_id')} {x.get('side')} {x.get('size')} "
            f"stop {x.get('stop')} tp {x.get('take_profit')}: {x.get('how')}"
        )
    return "\n".join(lines)
