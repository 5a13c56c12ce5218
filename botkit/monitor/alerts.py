"""Adapter ring: alerts to the operator (Telegram, Discord, Slack, ntfy, email, webhooks)
through apprise, without ever slowing down or crashing the bot.

:class:`botkit.monitor.alert_rules.AlertRules` decides *what* deserves an alert; the
:class:`Alerter` here only delivers, under four promises:

* **never blocks the event loop**: :meth:`Alerter.send` appends to a bounded queue and
  returns; :meth:`Alerter.run` (a component the runtime's supervisor runs) delivers
  each alert in a short-lived daemon thread (apprise's plugins use blocking
  ``requests``/``smtplib``), with a per-delivery timeout, to every URL at once;
* **rate-limited**: at most ``max_per_hour`` alerts are accepted in any hour, and a
  fifth of that budget is kept for ``failure`` alerts, so a flapping feed cannot use
  up the budget a tripped kill switch needs. The next accepted alert says how many
  were suppressed;
* **a failing notifier is a log line**: a bad token, a receiver that is down or slow
  is logged at WARNING and counted in :attr:`Alerter.failed`; nothing raises out of
  :meth:`Alerter.run`;
* **secrets in URLs are never logged**: notifier URLs carry bot tokens, webhook
  secrets and passwords. botkit's own log lines name a URL only by its index and a
  redacted form (:func:`redact_url`: ``tgram://***``, ``json://host:port/***``), and
  every fragment of a configured URL is scrubbed from the records of apprise's and
  urllib3's loggers (which, at DEBUG, print request URLs that hold tokens).

:func:`load_stop_memory` / :func:`save_stop_memory` keep the rules' memory of failure
stops (:class:`~botkit.monitor.alert_rules.StopMemory`) in a file of the data directory,
so the runs a service manager restarts do not each send the same alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from botkit.errors import ConfigError
from botkit.monitor.alert_rules import Alert, AlertLevel, StopMemory, after_restart
from botkit.orders.durable_file import replace_or_overwrite

__all__ = ["STOP_MEMORY_FILE", "Alerter", "load_stop_memory", "redact_url", "save_stop_memory"]

log = logging.getLogger("botkit.alerts")
T = TypeVar("T")

HOUR = 3600.0
_TYPES: dict[AlertLevel, str] = {"info": "info", "warning": "warning", "failure": "failure"}
"""apprise's NotifyType values (apprise itself is imported only when alerts are on: it
costs ~9 MB and 0.1 s, which a bot without [notify] urls should not pay)."""
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")
# Schemes whose host part is a network host (not a token): shown in the redacted form.
_HOST_SCHEMES = frozenset(
    {"http", "https", "json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos"}
)
_PRIVACY = re.compile(r"\b\S\.\.\.\S\b")
"""apprise's own "secure logging" keeps a token's first and last character: ``1...x``."""


def redact_url(url: str) -> str:
    """A notifier URL fit for a log line: the scheme, and the host only when it is one.

    ``tgram://123:ABC/456`` -> ``tgram://***``; ``json://user:pw@10.0.0.5:8080/hook`` ->
    ``json://10.0.0.5:8080/***``; anything unparseable -> ``***``.
    """
    scheme, sep, _ = url.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        return "***"
    scheme = scheme.lower()
    if scheme in _HOST_SCHEMES:
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:
            host, port = None, None
        if host:
            return f"{scheme}://{host}{f':{port}' if port else ''}/***"
    return f"{scheme}://***"


def _fragments(url: str) -> set[str]:
    """Every piece of ``url`` that could be a secret (raw and %-decoded), 4+ characters."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        rest = url
    pieces = {url, rest} | set(re.split(r"[/:@?&=#,;\s]+", rest))
    public = {scheme.lower()} if sep else set()  # no scheme: all of it may be a secret
    if sep and scheme.lower() in _HOST_SCHEMES:  # its host and port are shown anyway
        with contextlib.suppress(ValueError):
            parts = urlsplit(url)
            public |= {parts.hostname or "", str(parts.port)}
    out: set[str] = set()
    for piece in pieces:
        for form in (piece, unquote(piece)):
            if len(form) >= 4 and form.lower() not in public:
                out.add(form)
    return out


class _Scrubber(logging.Filter):
    """Removes configured URLs' fragments from records of the loggers it is attached to.

    A logger's filter sees only records logged on that very logger, so it is attached
    to each logger that may print a notifier's URL (:data:`_SCRUBBED_LOGGERS`). Once a
    fragment is registered it stays (a process runs one bot; its URLs do not change).
    """

    def __init__(self) -> None:
        super().__init__("botkit.alerts.scrub")
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._installed = False

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets |= set(secrets)
            ordered = sorted(self._secrets, key=len, reverse=True)  # longest first
            self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
            if not self._installed:
                for name in _SCRUBBED_LOGGERS:
                    logging.getLogger(name).addFilter(self)
                self._installed = True

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub("***", text)
        return _PRIVACY.sub("***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep only its template
            message = str(record.msg)
        if record.exc_info:  # tracebacks of requests errors quote the request URL
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = self.scrub(message), None
        return True


_SCRUBBED_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.util.retry")
_SCRUB = _Scrubber()


def _reveal(url: str | SecretStr) -> str:
    return url.get_secret_value() if isinstance(url, SecretStr) else url


@dataclass(frozen=True, slots=True)
class _Target:
    """One notifier: its index in ``[notify] urls``, redacted name and apprise object."""

    index: int
    name: str
    service: Any  # apprise.Apprise


def _targets(urls: Sequence[str | SecretStr]) -> list[_Target]:
    """An apprise object per URL, or ConfigError naming the first bad one (by index)."""
    if not urls:
        return []
    import apprise  # lazily: see _TYPES

    revealed = [_reveal(u) for u in urls]
    for url in revealed:  # before apprise parses them: it logs bad URLs half-masked
        if isinstance(url, str):
            _SCRUB.add(_fragments(url))
    asset = apprise.AppriseAsset(
        app_id="botkit",
        app_desc="botkit trading bot",
        async_mode=False,  # we already run each delivery in its own thread
        secure_logging=True,
        storage_mode="memory",  # no cache files in the user's home
    )
    targets = []
    for i, url in enumerate(revealed):
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(
                f"[notify] urls[{i}] (the TOML's or BOTKIT_NOTIFY__URLS) is empty: remove "
                "it, or give an apprise URL "
                "(forms in docs/alerts.md)"
            )
        service = apprise.Apprise(asset=asset)
        plugin = apprise.Apprise.instantiate(url.strip(), asset=asset)
        if plugin is None or not service.add(plugin):
            scheme, sep, _ = url.partition("://")
            shown = sep and _SCHEME.fullmatch(scheme) and len(scheme) <= 12
            what = f"its scheme '{scheme}://' " if shown else "its scheme "
            raise ConfigError(
                f"[notify] urls[{i}] (the TOML's or BOTKIT_NOTIFY__URLS) is not a usable "
                f"apprise URL: check {what}and the "
                "parts its service requires (forms in docs/alerts.md; 'apprise -vv --dry-run "
                "URL' explains). The URL is not shown because it may hold a token."
            )
        targets.append(_Target(i, redact_url(url), service))
    return targets


def _in_thread(fn: Callable[[], T]) -> asyncio.Future[T]:
    """Run ``fn`` in a new daemon thread; a future for its result on the running loop.

    Not the loop's default executor: a notifier stuck on a dead socket would hold one of
    its workers (and, being a non-daemon thread, delay the process's exit). A daemon
    thread finishes on apprise's own socket timeouts or dies with the process.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():  # cancelled: the caller gave up on it (timeout, shutdown)
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        try:
            result: tuple[bool, Any] = (True, fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            result = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
            loop.call_soon_threadsafe(settle, *result)

    threading.Thread(target=work, name="botkit-alert", daemon=True).start()
    return future


class Alerter:
    """Delivers :class:`~botkit.monitor.alert_rules.Alert` s to apprise URLs, off the loop.

    Args:
        urls: apprise URLs (``tgram://...``, ``json://...``), plain or
            :class:`~pydantic.SecretStr`. Empty: alerts are off, :meth:`send` returns
            False (not counted) and :meth:`run` idles.
        max_per_hour: alerts accepted in any sliding hour; non-failure alerts may use
            only ``max_per_hour - max_per_hour // 5`` of them.
        title_prefix: put before every title (``botkit: kill switch tripped``); the
            runtime passes the bot's name so several bots can share a channel.
        monotonic: the clock the rate limit is measured on.
        delivery_timeout: seconds one delivery to one URL may take before it counts
            as failed (its thread is left to apprise's own socket timeouts).
        max_queue: alerts waiting for delivery at most; more are refused.

    Raises:
        ConfigError: a URL is empty or not usable; the message names its index.

    Counters (per URL: one alert to two URLs is two deliveries): :attr:`sent`,
    :attr:`failed`; and :attr:`suppressed`: alerts refused by :meth:`send`.
    """

    def __init__(
        self,
        urls: Sequence[str | SecretStr],
        *,
        max_per_hour: int = 30,
        title_prefix: str = "botkit",
        monotonic: Callable[[], float] = time.monotonic,
        delivery_timeout: float = 10.0,
        max_queue: int = 100,
    ) -> None:
        if max_per_hour < 1:
            raise ConfigError("[notify] max_per_hour must be at least 1")
        if delivery_timeout <= 0 or max_queue < 1:
            raise ConfigError("alerts: delivery_timeout must be > 0 and max_queue >= 1")
        self._targets = _targets(urls)
        self.max_per_hour = max_per_hour
        self.title_prefix = title_prefix
        self.delivery_timeout = delivery_timeout
        self.max_queue = max_queue
        self._monotonic = monotonic
        self.sent = 0
        """Deliveries (one alert to one URL) the service accepted."""
        self.failed = 0
        """Deliveries that failed, timed out, or were cut short by shutdown."""
        self.suppressed = 0
        """Alerts :meth:`send` refused: rate limit or full queue."""
        self._lock = threading.Lock()  # send() may be called from a journal's thread
        self._queue: deque[Alert] = deque()
        self._accepted: deque[float] = deque()
        self._untold = 0  # suppressed since the last accepted alert (told in its body)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._inflight = 0

    def __repr__(self) -> str:
        names = ", ".join(t.name for t in self._targets)
        counts = f"sent={self.sent}, failed={self.failed}, suppressed={self.suppressed}"
        return f"Alerter([{names}], {counts})"

    @property
    def enabled(self) -> bool:
        """True when at least one URL is configured."""
        return bool(self._targets)

    @property
    def targets(self) -> list[str]:
        """The configured URLs, redacted (for status pages and logs)."""
        return [t.name for t in self._targets]

    @property
    def queued(self) -> int:
        """Alerts waiting for delivery."""
        return len(self._queue)

    # -- accepting ----------------------------------------------------------------------------

    def send(self, alert: Alert) -> bool:
        """Queue ``alert`` for delivery; never blocks. Thread-safe.

        False when alerts are off, or it was refused (counted in :attr:`suppressed`):
        the hour's budget is used up or the queue is full.
        """
        if not self._targets:
            return False
        with self._lock:
            now = self._monotonic()
            accepted = self._accepted
            while accepted and now - accepted[0] >= HOUR:
                accepted.popleft()
            limit = self.max_per_hour
            if alert.level != "failure":
                limit -= self.max_per_hour // 5  # kept for failures
            if len(accepted) >= limit or len(self._queue) >= self.max_queue:
                self.suppressed += 1
                self._untold += 1
                why = "queue full" if len(accepted) < limit else f"limit {limit}/h"
                log.info("alert %s suppressed (%s): %s", alert.key, why, alert.title)
                return False
            accepted.append(now)
            if self._untold:
                alert = replace(
                    alert,
                    body=f"{alert.body}\n({self._untold} earlier alert(s) suppressed by the "
                    f"rate limit of {self.max_per_hour}/h; see the log.)",
                )
                self._untold = 0
            self._queue.append(alert)
        self._poke()
        return True

    def send_all(self, alerts: Iterable[Alert]) -> int:
        """:meth:`send` each of ``alerts``; how many were accepted."""
        return sum(self.send(a) for a in alerts)

    def _poke(self) -> None:
        """Wake :meth:`run`, from the loop's thread or any other."""
        loop = self._loop
        if loop is None:  # run() has not started; it drains the queue when it does
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to wake
            loop.call_soon_threadsafe(self._wake.set)

    def _pop(self) -> Alert | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    # -- delivering ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver queued alerts until cancelled (a supervised, long-lived component)."""
        self._loop = asyncio.get_running_loop()
        if not self._targets:
            await asyncio.Event().wait()  # alerts off: idle, like a component should
        while True:
            self._wake.clear()
            while (alert := self._pop()) is not None:
                # shielded: cancelling run() at shutdown must not cut a delivery short;
                # flush() waits for it (bounded) instead
                await asyncio.shield(asyncio.ensure_future(self._deliver(alert)))
            await self._wake.wait()

    async def flush(self, within: float) -> bool:
        """Deliver what is queued and wait for deliveries in flight, for ``within`` s at most.

        For shutdown, after :meth:`run` was cancelled (or while it runs). True when
        everything was delivered or failed in time; otherwise the rest is dropped,
        counted in :attr:`failed` and logged.
        """
        self._loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                while True:
                    alert = self._pop()
                    if alert is not None:
                        await self._deliver(alert)
                    elif self._inflight == 0:
                        return True
                    else:
                        await self._idle.wait()
        except TimeoutError:
            with self._lock:
                left = len(self._queue)
                self._queue.clear()
            self.failed += left * len(self._targets)
            log.warning(
                "alerts: %d alert(s) not delivered within %.1f s of shutdown; dropped",
                left,
                within,
            )
            return False

    async def _deliver(self, alert: Alert) -> None:
        """``alert`` to every URL at once (a slow one does not delay the others)."""
        self._inflight += 1
        self._idle.clear()
        try:
            await asyncio.gather(*(self._deliver_to(t, alert) for t in self._targets))
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    async def _deliver_to(self, target: _Target, alert: Alert) -> None:
        title = f"{self.title_prefix}: {alert.title}" if self.title_prefix else alert.title
        kind = _TYPES[alert.level]

        def notify() -> bool:
            return bool(
                target.service.notify(
                    body=alert.body,
                    title=title,
                    notify_type=kind,
                    body_format="text",
                )
            )

        why = "the service refused it or was unreachable (apprise's log line says which)"
        try:
            async with asyncio.timeout(self.delivery_timeout):
                ok = await _in_thread(notify)
        except TimeoutError:
            ok, why = False, f"no answer within {self.delivery_timeout:g} s"
        except asyncio.CancelledError:
            self.failed += 1
            log.warning(
                "alert %s to notify[%d] %s cut short by shutdown (it may still arrive)",
                alert.key,
                target.index,
                target.name,
            )
            raise
        except Exception as exc:  # a plugin bug must not take the alerter down
            ok, why = False, f"{type(exc).__name__}: {_SCRUB.scrub(str(exc))[:200]}"
        if ok:
            self.sent += 1
            log.debug("alert %s delivered to notify[%d] %s", alert.key, target.index, target.name)
            return
        self.failed += 1
        log.warning(
            "alert %s not delivered to notify[%d] %s: %s",
            alert.key,
            target.index,
            target.name,
            why,
        )


STOP_MEMORY_FILE = "restart-alerts.json"
"""In the mode's data directory: the failure stops whose alerts the next runs gate."""


def load_stop_memory(path: Path) -> StopMemory | None:
    """The memory the runs before left at ``path``; None when there is none or it cannot
    be read (forgetting costs at most one more alert)."""
    try:
        return StopMemory.from_json(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def gate_across_restarts(
    alerts: list[Alert], error: str | None, root: Path, *, wall: float, repeat_after: float
) -> list[Alert]:
    """A start or stop alert, gated by the runs before this one in data directory
    ``root`` (a bot restarted after each failure says so once an hour, not at every
    restart: see :func:`~botkit.monitor.alert_rules.after_restart`)."""
    path = root / STOP_MEMORY_FILE
    alerts, memory = after_restart(
        alerts, error, load_stop_memory(path), wall=wall, repeat_after=repeat_after
    )
    save_stop_memory(path, memory)
    return alerts


_MEMORY_BYTES = 4096
"""The memory file's size, padded with spaces: a later memory fits in its blocks."""


def save_stop_memory(path: Path, memory: StopMemory | None) -> None:
    """Keep ``memory`` at ``path`` (None: forget it, the file kept). A failure is a log
    line: the alert itself matters more than its memory.

    Replaced atomically; when that cannot be done (a full disk: the new file needs a
    block), overwritten in place, which needs none — the file is kept padded to
    :data:`_MEMORY_BYTES` for that. A full disk is the very failure that restarts a bot
    again and again, and a memory lost there sent an alert at every restart (a headless
    QA pass). A write torn by a crash reads as no memory: one more alert at most."""
    data = json.dumps(memory.to_json() if memory is not None else None).encode()
    try:
        replace_or_overwrite(path, data.ljust(_MEMORY_BYTES))
    except OSError as exc:
        log.warning("alerts: cannot keep %s: %s", path, exc)
