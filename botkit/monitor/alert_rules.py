"""Core ring: which facts about a running bot deserve a human's attention, and how often.

An alert wakes someone up, so it must be rare and right: a feed that blips for five
seconds and recovers on its own is no alert (it is in the log); a feed that has been
down for a minute is one, and its recovery is another, so the operator knows they can
go back to sleep. The same problem is not sent again while it lasts (only a reminder
every ``repeat_after`` for conditions that need a human, such as a tripped kill switch),
but it is sent again once it resolved and came back.

These rules are pure: the runtime feeds them facts (a :class:`~botkit.runtime.health.Health`
verdict, an order that failed, a journal error) together with ``now``, monotonic
seconds, and gets back the :class:`Alert` s to send. Delivery, rate limiting across all
alerts and secrets in notifier URLs are the adapter's job
(:class:`botkit.monitor.alerts.Alerter`).

What alerts (keys in brackets; see ``docs/alerts.md``):

* start [``started``] and stop [``stopped``] (a failure when the run ended with an error);
* a product's market data stale, resyncing or down for ``feed_down_after`` seconds
  [``feed:PRODUCT``], once per episode, and an info alert when it is live again;
  the user channel likewise [``user-channel``];
* a supervised component that failed (the bot is stopping) [``component:NAME``];
* the journal cannot be written [``journal``]; the kill switch tripped [``kill-switch``]
  and the strategy halted by its guard [``strategy-halted``] — each an info alert when
  it clears; the host clock far off [``clock``];
* ``order_failures`` orders failing within ``order_failure_window`` seconds
  [``orders-failing``] — not one alert per rejection;
* a product the venue restricts (cancel only, limit only, post only, disabled)
  [``trading:PRODUCT``], and an info alert when it trades fully again;
* the data directory not writable while the bot runs [``storage``], and an info alert
  once it is again;
* the venue refusing the API key on a private REST call (401, 403) [``api-key``], and an
  info alert once a call is accepted again;
* the daily summary [``daily-summary``], due once a day at ``summary_hour`` UTC.

Across restarts (:class:`StopMemory`, kept in the data directory by the runtime): a bot a
service manager restarts after each failure would send a "stopped on an error" alert
every ~10 s for as long as the failure lasts (revoked credentials, a venue down) — and,
for a bot that fails a while after it started, a "started" alert each time too. The same
error within ``repeat_after`` of its last alert is held back and counted; the next one
that goes out (an hour on, another error, or the start that follows) says how many were.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from botkit.market.trading_status import TradingStatus
from botkit.risk.engine import RESET_HOW
from botkit.runtime.health import KEY_REFUSED, STORAGE, FeedState, Health

__all__ = [
    "Alert",
    "AlertLevel",
    "AlertRules",
    "StopMemory",
    "after_restart",
    "error_signature",
    "killed_error",
]

AlertLevel = Literal["info", "warning", "failure"]
"""``info``: for the record (start, stop, recovery, summary); ``warning``: something is
wrong but the bot copes (feed down, clock off); ``failure``: trading stopped or needs a
human (component failed, journal, kill switch, orders failing)."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One message for the operator.

    Attributes:
        key: what it is about (``feed:BTC-USD``, ``kill-switch``): dedupe is per key.
        level: ``info``, ``warning`` or ``failure`` (apprise's notification type).
        title: one short line.
        body: what happened and what to do, in plain text.
    """

    key: str
    level: AlertLevel
    title: str
    body: str


@dataclass(slots=True)
class _Episode:
    """A condition that is on since ``since``; ``alerted`` once its alert went out."""

    since: float
    state: str
    alerted: bool = False


# Health reasons (see botkit.runtime.health.assess) that are alerts as soon as they appear:
# prefix -> (key, level, title, what to do). Matched by prefix, so the reason's own
# wording (which names the details) is the alert's first line.
_REASONS: tuple[tuple[str, str, AlertLevel, str, str], ...] = (
    (
        "journal cannot be written",
        "journal",
        "failure",
        "journal cannot be written",
        "The bot stops: no order is placed without its intent on disk. Check the disk "
        "(space, permissions) and the log, then restart it.",
    ),
    (
        "kill switch tripped",
        "kill-switch",
        "failure",
        "kill switch tripped",
        "Trading stays stopped until a human finds the cause and resets it.",
    ),
    (
        "strategy halted",
        "strategy-halted",
        "failure",
        "strategy halted",
        "The strategy guard stopped the strategy after repeated errors; see the log for "
        "the traceback, fix, and restart.",
    ),
    (
        KEY_REFUSED,
        "api-key",
        "failure",
        "API key refused",
        "Nothing can be placed, cancelled or read with it: check that the key still exists "
        "and is enabled, its permissions (View, Trade) and allowed IP addresses, and the "
        "host clock ('botkit doctor' checks them). The bot keeps running and carries on "
        "once the key is accepted again.",
    ),
    (
        STORAGE,
        "storage",
        "failure",
        "data directory cannot be written",
        "A journal write that needs new space may fail next, and the bot stops on it. Free "
        "disk space (df -h) or fix the data directory's permissions or mount.",
    ),
    (
        "host clock off",
        "clock",
        "warning",
        "host clock off",
        "botkit corrects its signing clock, but logs and candles drift: fix NTP "
        "(timedatectl set-ntp true).",
    ),
)

# Keys whose clearing is worth an info alert ("kill switch reset"): a human acted.
_CLEARS = {
    "kill-switch": "kill switch reset",
    "strategy-halted": "strategy running again",
    "api-key": "API key accepted again",
    "storage": "data directory writable again",
}
_USER = "user channel down"
_FEED_ADVICE = (
    "The feed reconnects and resyncs on its own; the strategy gets no fresh book "
    "meanwhile. If it lasts, check the network and status.coinbase.com."
)
_REFUSED_FEED = (
    "The venue answered the subscription with an error frame (the log has its words): "
    "check the API key (revoked? View permission?) and the host clock ('botkit doctor' "
    "checks them). The feed subscribes again after each reconnect; no orders meanwhile."
)


class AlertRules:
    """Turns facts about a running bot into alerts, deduplicated per key.

    Args:
        feed_down_after: seconds a product's market data (or the user channel) may be
            other than live before it is an alert.
        repeat_after: seconds before the same key is sent again while its condition
            lasts (sooner when it resolved in between). Feed episodes are sent once.
        order_failures: this many failed orders within ``order_failure_window``
            seconds make one ``orders-failing`` alert.
        order_failure_window: see ``order_failures``.
        summary_hour: the UTC hour (0-23) of the daily summary (:meth:`summary_due`);
            None: no summary.

    Every method that dedupes takes ``now``: monotonic seconds, from the caller's clock.
    """

    def __init__(
        self,
        *,
        feed_down_after: float = 60.0,
        repeat_after: float = 3600.0,
        order_failures: int = 5,
        order_failure_window: float = 600.0,
        summary_hour: int | None = None,
    ) -> None:
        if feed_down_after < 0 or repeat_after < 0 or order_failure_window <= 0:
            raise ValueError("alert thresholds must be >= 0 (the window > 0)")
        if order_failures < 1:
            raise ValueError("order_failures must be >= 1")
        if summary_hour is not None and not 0 <= summary_hour <= 23:
            raise ValueError("summary_hour must be 0..23 (UTC) or None")
        self.feed_down_after = feed_down_after
        self.repeat_after = repeat_after
        self.order_failures = order_failures
        self.order_failure_window = order_failure_window
        self.summary_hour = summary_hour
        self._sent: dict[str, float] = {}
        """Key -> when it was last sent, while its condition has not resolved."""
        self._episodes: dict[str, _Episode] = {}
        self._failures: deque[tuple[float, str, str, str]] = deque()
        self._present: set[str] = set()
        """Reason keys present at the last :meth:`on_health`."""
        self._summary_day: int | None = None
        self._trading: dict[str, str] = {}
        """Product → the restricted mode its ``trading:`` alert last said."""
        self.deduplicated = 0
        """Alerts not returned because the same key went out less than ``repeat_after`` ago."""

    # -- dedupe -------------------------------------------------------------------------------

    def _emit(self, alert: Alert, now: float) -> list[Alert]:
        """``[alert]`` unless its key was sent less than ``repeat_after`` ago and not resolved."""
        last = self._sent.get(alert.key)
        if last is not None and now - last < self.repeat_after:
            self.deduplicated += 1
            return []
        self._sent[alert.key] = now
        return [alert]

    def _resolve(self, key: str) -> bool:
        """The condition behind ``key`` ended: its next occurrence is sent at once.

        True when an alert for it had gone out (so a recovery alert is meaningful).
        """
        return self._sent.pop(key, None) is not None

    # -- lifecycle ----------------------------------------------------------------------------

    def started(self, mode: str, strategy: str, products: Iterable[str]) -> list[Alert]:
        """The bot started trading (call once the strategy started)."""
        names = ", ".join(products) or "none"
        return [
            Alert(
                "started",
                "info",
                f"started: {strategy} ({mode})",
                f"Strategy {strategy} started in {mode} mode on {names}.",
            )
        ]

    def stopped(self, reason: str, error: str | None, *, exit_code: int = 1) -> list[Alert]:
        """The bot stopped: ``reason`` (a signal, the end of ``--duration``, ...) and the
        run's error, if any, with the exit code it leaves with (2: bad configuration or
        credentials, which a service manager with ``RestartPreventExitStatus=2`` does not
        restart; 1: restarted)."""
        if error is None:
            return [Alert("stopped", "info", "stopped", f"The bot stopped: {reason}.")]
        then = (
            "It exits 2 (bad configuration or credentials, or a kill switch it could not "
            "save): not restarted; fix it and start the bot again."
            if exit_code == 2
            else "It exits 1: a service manager with Restart=on-failure restarts it; "
            "check the log if it keeps stopping."
        )
        return [
            Alert(
                "stopped",
                "failure",
                "stopped on an error",
                f"The bot stopped: {reason}.\nError: {error}\n{then}",
            )
        ]

    def killed(self, pid: int) -> list[Alert]:
        """The run before this one (``pid``) was killed without stopping: SIGKILL, the
        out-of-memory killer, a power loss. It could not say so itself; this run, at its
        start, does (a stop alert like any other, gated by :func:`after_restart`: an
        out-of-memory loop alerts once an hour, not once a restart)."""
        return [
            Alert(
                "stopped",
                "failure",
                "stopped on an error",
                f"The bot stopped: {killed_error(pid)}.\nIt is starting again now. Check "
                "the kernel log for the out-of-memory killer (journalctl -k | grep -i oom) "
                "and the service's memory limit; the journal resumes where it was.",
            )
        ]

    # -- health -------------------------------------------------------------------------------

    def on_health(self, health: Health, now: float) -> list[Alert]:
        """Alerts from one health verdict (call with every assessment, e.g. every second).

        Feeds and the user channel alert once they have been bad for
        ``feed_down_after`` seconds (once per episode), and again, as info, when they
        are back; failed components, the journal, the kill switch, a halted strategy
        and a far-off clock alert as soon as they appear.
        """
        out: list[Alert] = []
        out += self._feeds(health.products, now)
        reasons = health.reasons
        user = next((r for r in reasons if r.startswith(_USER)), None)
        out += self._episode(
            "user-channel",
            None if user is None else "down",
            now,
            "user channel down",
            "Order updates arrive late (by REST polling) while the authenticated "
            "WebSocket channel reconnects. Check the network and the API key."
            + ("" if user is None or "refused" not in user else f"\n{user}."),
            "user channel back",
        )
        present: set[str] = set()
        for reason in reasons:
            if reason.startswith("component ") and " failed" in reason:
                name = reason.removeprefix("component ").split(" failed", 1)[0]
                key = f"component:{name}"
                present.add(key)
                out += self._emit(
                    Alert(
                        key,
                        "failure",
                        f"component {name} failed",
                        f"{reason}.\nIt crashed too often to be restarted; the log has the "
                        "traceback. botkit exits 1 so a service manager can restart it.",
                    ),
                    now,
                )
                continue
            for prefix, key, level, title, advice in _REASONS:
                if reason.startswith(prefix):
                    present.add(key)
                    out += self._emit(Alert(key, level, title, f"{reason}.\n{advice}"), now)
                    break
        for key in self._present - present:
            if self._resolve(key) and key in _CLEARS:
                out.append(Alert(f"{key}:cleared", "info", _CLEARS[key], f"{_CLEARS[key]}."))
        self._present = present
        return out

    def _feeds(self, products: Mapping[str, FeedState], now: float) -> list[Alert]:
        out: list[Alert] = []
        for pid, state in sorted(products.items()):
            out += self._episode(
                f"feed:{pid}",
                None if state == "live" else state,
                now,
                f"{pid} market data {{state}}",
                _REFUSED_FEED if state == "refused" else _FEED_ADVICE,
                f"{pid} market data live again",
            )
        for key in [k for k in self._episodes if k.startswith("feed:")]:
            if key.removeprefix("feed:") not in products:  # no longer traded
                del self._episodes[key]
                self._resolve(key)
        return out

    def _episode(
        self, key: str, state: str | None, now: float, title: str, advice: str, back: str
    ) -> list[Alert]:
        """One alert per episode of ``key`` being bad (``state`` not None) for long enough."""
        ep = self._episodes.get(key)
        if state is None:
            if ep is None:
                return []
            del self._episodes[key]
            if not (ep.alerted and self._resolve(key)):
                return []
            return [
                Alert(
                    f"{key}:recovered",
                    "info",
                    back,
                    f"{back} after {_duration(now - ep.since)}.",
                )
            ]
        if ep is None:
            ep = self._episodes[key] = _Episode(now, state)
        ep.state = state
        if ep.alerted or now - ep.since < self.feed_down_after:
            return []
        ep.alerted = True
        text = title.format(state=state)
        return self._emit(
            Alert(
                key,
                "warning",
                text,
                f"{text} for {_duration(now - ep.since)} "
                f"(alert threshold {_duration(self.feed_down_after)}).\n{advice}",
            ),
            now,
        )

    # -- events -------------------------------------------------------------------------------

    def kill_switch_tripped(self, reason: str, *, now: float) -> list[Alert]:
        """The risk engine's kill switch tripped (deduplicated with the health reason)."""
        return self._emit(
            Alert(
                "kill-switch",
                "failure",
                "kill switch tripped",
                f"The kill switch tripped: {reason}.\n"
                f"No new orders until a human resets it: {RESET_HOW}.",
            ),
            now,
        )

    def order_failed(
        self, client_order_id: str, product_id: str, reason: str, *, now: float
    ) -> list[Alert]:
        """An order failed (rejected, or its outcome stayed unknown).

        One ``orders-failing`` alert once ``order_failures`` of them fall within
        ``order_failure_window`` seconds; the condition resolves after a whole window
        without failures.
        """
        window = self.order_failure_window
        fails = self._failures
        while fails and now - fails[0][0] > window:
            fails.popleft()
        if not fails:
            self._resolve("orders-failing")
        fails.append((now, client_order_id, product_id, reason))
        if len(fails) < self.order_failures:
            return []
        per_product: dict[str, int] = {}
        for _, _, pid, _ in fails:
            per_product[pid] = per_product.get(pid, 0) + 1
        counts = ", ".join(f"{p} {n}" for p, n in sorted(per_product.items()))
        return self._emit(
            Alert(
                "orders-failing",
                "failure",
                "orders failing",
                f"{len(fails)} orders failed in the last {_duration(window)} ({counts}).\n"
                f"Latest: {client_order_id} on {product_id}: {reason}\n"
                "Check funds, the risk limits, the API key's permissions and the log.",
            ),
            now,
        )

    def trading_status(self, status: TradingStatus, *, now: float) -> list[Alert]:
        """A product's trading status at the venue changed (restricted, or trading again).

        A restriction is a warning; another mode is sent at once (cancel only → halted),
        the same one again only after ``repeat_after``; the return to full trading is an
        info alert, once a restriction alert had gone out.
        """
        key = f"trading:{status.product_id}"
        said = self._trading.pop(status.product_id, None)
        if not status.restricted:
            if not self._resolve(key):
                return []
            return [
                Alert(
                    key,
                    "info",
                    f"{status.product_id} trades again",
                    f"{status.product_id} trades fully again at the venue: orders go out as "
                    "before.",
                )
            ]
        if said is not None and said != status.mode.value:
            self._resolve(key)  # cancel only → halted is news, however soon it comes
        self._trading[status.product_id] = status.mode.value
        return self._emit(
            Alert(
                key,
                "warning",
                f"{status.product_id} restricted by the venue",
                f"{status.describe()}.\nbotkit refuses, before sending, the orders the venue "
                f"would not take now (reason {status.reason}) and reads the status "
                "again until it lifts; working orders stay. Nothing to do unless it lasts.",
            ),
            now,
        )

    def summary_due(self, wall: float) -> bool:
        """True once a day, the first time it is called at or after ``summary_hour`` UTC.

        ``wall``: Unix seconds (the only wall-clock input: a summary belongs to a day,
        and a monotonic clock knows no days). The day of the first call does not count
        if it is already past the hour (no summary of a run that just started); a host
        that slept over several summary hours gets one summary, not one per day missed.
        """
        if self.summary_hour is None:
            return False
        day = int((wall - self.summary_hour * 3600) // 86400)  # days start at the hour
        if self._summary_day is None:
            self._summary_day = day
            return False
        if day <= self._summary_day:
            return False
        self._summary_day = day
        return True

    def daily_summary(self, stats_text: str) -> list[Alert]:
        """The periodic summary (``stats_text``: e.g. the status line); never deduplicated."""
        return [Alert("daily-summary", "info", "daily summary", stats_text)]


def _duration(seconds: float) -> str:
    """``45 s``, ``3 min``, ``2.5 h``: for humans, rounded."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# -- across restarts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StopMemory:
    """The failure stops of one bot's data directory, kept across its restarts.

    Attributes:
        signature: the error that stopped it (:func:`error_signature`).
        error: its text at the last stop (for the messages).
        first: wall time (Unix seconds) of the first stop with this error in a row.
        sent: wall time its alert last went out.
        stops: stops with this error since ``first``.
        held: alerts (stops and starts) held back since ``sent``.
        start_told: a "started" alert went out since ``sent`` (the next ones are held).
        earlier: the signatures of the errors alerted before this one in the same
            streak (at most :data:`_EARLIER`): a failure that stops the bot with two
            texts by turns (a full disk seen by the fill ledger, then by the journal)
            is one failure, not an alert per restart (a headless QA pass: 9 in 55 s).
    """

    signature: str
    error: str
    first: float
    sent: float
    stops: int = 1
    held: int = 0
    start_told: bool = False
    earlier: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "signature": self.signature, "error": self.error, "first": self.first,
            "sent": self.sent, "stops": self.stops, "held": self.held,
            "start_told": self.start_told, "earlier": list(self.earlier),
        }  # fmt: skip

    @classmethod
    def from_json(cls, doc: Any) -> StopMemory | None:
        """The memory a file holds; None for anything else (a damaged file forgets)."""
        try:
            return cls(
                str(doc["signature"]), str(doc["error"]), float(doc["first"]),
                float(doc["sent"]), int(doc["stops"]), int(doc["held"]),
                bool(doc["start_told"]),
                tuple(str(e) for e in doc.get("earlier", ()))[:_EARLIER],
            )  # fmt: skip
        except (TypeError, KeyError, ValueError, AttributeError):
            return None


_EARLIER = 4
"""Earlier signatures a :class:`StopMemory` keeps."""


_VARYING = re.compile(
    r"\((?:request|trace)[ _]id [^)]*\)"  # "(request id 3f2a...)", as ExchangeError says it
    r"|\b[0-9a-fA-F]+(?:-[0-9a-fA-F]+){2,}\b"  # uuids and the like
    r"|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"  # long hex tokens with a digit
    r"|\d+(?:\.\d+)?"  # numbers
)


def killed_error(pid: int) -> str:
    """The error a killed run is remembered by (:meth:`AlertRules.killed`)."""
    return f"the run before (pid {pid}) was killed without stopping: no exit code, no alert"


def error_signature(error: str) -> str:
    """What makes two stops "the same error": its text with what differs between
    restarts blanked — request and trace ids, uuids, hex tokens, numbers (timestamps,
    counts) — since the failure does not."""
    return _VARYING.sub("#", error)[:500]


def after_restart(
    alerts: list[Alert],
    error: str | None,
    memory: StopMemory | None,
    *,
    wall: float,
    repeat_after: float,
) -> tuple[list[Alert], StopMemory | None]:
    """Gate a ``started`` or ``stopped`` alert by what the runs before this one sent.

    ``alerts``: what :meth:`AlertRules.started` or :meth:`AlertRules.stopped` returned;
    ``error``: the stop's error (None for a start, or a stop without an error); ``wall``:
    Unix seconds now. Returns the alerts to send and the memory to keep (None: forget).

    * a stop without an error forgets (the next failure alerts at once);
    * a stop with the error of the memory (or one alerted earlier in the same streak),
      less than ``repeat_after`` after its last alert, is held back (counted); otherwise
      it goes out, naming the stops held since;
    * a start after a failure goes out once (saying it is running again, and how many
      stops were held), and later starts are held while the failure keeps coming back
      within ``repeat_after``: a bot that fails minutes after each start sends about one
      pair an hour, not one per restart.
    """
    if not alerts:
        return alerts, memory
    alert = alerts[0]
    recent = memory is not None and 0 <= wall - memory.sent < repeat_after
    if alert.key == "started":
        if memory is None or not recent:
            return alerts, None  # no failure lately: a start like any other
        if memory.start_told:
            return [], replace(memory, held=memory.held + 1)
        body = alert.body + (
            f"\nIt had stopped on an error {memory.stops} time(s) since "
            f"{_utc(memory.first)}; the last: {memory.error}"
        )
        return [replace(alert, body=body)], replace(memory, start_told=True)
    if error is None:
        return alerts, None
    sig, text = error_signature(error), error[:500]
    if memory is None or (sig != memory.signature and sig not in memory.earlier):
        earlier = (memory.signature, *memory.earlier)[:_EARLIER] if memory and recent else ()
        return alerts, StopMemory(sig, text, wall, wall, earlier=earlier)
    if sig != memory.signature:  # an error of the streak's again: the same failure
        rest = (s for s in (memory.signature, *memory.earlier) if s != sig)
        memory = replace(memory, signature=sig, earlier=tuple(rest)[:_EARLIER])
    again = replace(memory, error=text, stops=memory.stops + 1)
    if recent:
        return [], replace(again, held=again.held + 1)
    if memory.held:
        alert = replace(alert, body=alert.body + (
            f"\nThe same error stopped it {again.stops} times since {_utc(memory.first)}; "
            f"{memory.held} alert(s) held back (one per {_duration(repeat_after)})."
        ))  # fmt: skip
    return [alert], replace(again, sent=wall, held=0, start_told=False)


def _utc(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d %H:%M UTC")
