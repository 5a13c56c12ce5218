"""Adapter ring: the bot's health reporter — once a second, the verdict and what follows from it.

Each second the reporter gathers the facts the pure health model needs from the running
bot (per-product feed state, user channel, clock offset, journal, strategy guard, kill
switch, last order round trip, supervised components), asks
:func:`botkit.runtime.health.assess` for the verdict, and then:

* logs verdict changes (WARNING when leaving ``ready``, INFO when back);
* writes ``health.json`` to the data directory, atomically (``botkit doctor --bot``);
* wakes :meth:`HealthReporter.next` waiters and the embedder's ``on_health`` callback;
* turns the verdict into alerts (:class:`~botkit.monitor.alert_rules.AlertRules`) and the
  daily summary, handed to the :class:`~botkit.monitor.alerts.Alerter`;
* samples the status page's equity/PnL curve every fifth second.

It runs as the supervised ``health`` component; the runtime keeps only thin wrappers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from botkit.errors import JournalError
from botkit.monitor.alert_rules import AlertRules
from botkit.monitor.alerts import Alerter
from botkit.runtime.health import Health, HealthInputs, assess, product_state

if TYPE_CHECKING:
    from botkit.runtime.bot import BotRuntime

__all__ = ["HEALTH_FILE", "HealthReporter"]

log = logging.getLogger("botkit.runtime.bot")

HEALTH_FILE = "health.json"
"""Written to the mode's data directory every second; ``botkit doctor --bot DIR`` reads it."""


STORAGE_CLEAR_WRITES = 30
"""Good ``health.json`` writes in a row (one a second) before a storage failure clears."""


class HealthReporter:
    """The health loop of one bot (see the module docstring).

    Args:
        runtime: the bot.
        alerter: where alerts go (disabled when it has no URLs).
        rules: what deserves an alert.
        on_health: the embedder's callback, given each verdict.
        monotonic: the clock of alert episodes.
    """

    def __init__(
        self,
        runtime: BotRuntime,
        alerter: Alerter,
        rules: AlertRules,
        *,
        on_health: Callable[[Health], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rt = runtime
        self.alerter = alerter
        self.rules = rules
        self.on_health = on_health
        self._monotonic = monotonic
        self.health: Health | None = None
        self._tick: asyncio.Future[Health] | None = None
        self.storage_error = ""
        """Why ``health.json`` could not be written ("" when it could): the data directory
        turned read-only or full while the bot ran. The journal says so only at the next
        order, so a quiet strategy stayed "ready" for as long as it lasted (a headless
        QA pass): the health model reads this. Set at the first failed write, cleared
        only after :attr:`storage_clear_writes` good ones in a row: a disk hovering at
        full sent a failure and a recovery alert every other second (a review)."""
        self._good_writes = 0
        self.storage_clear_writes = STORAGE_CLEAR_WRITES
        """Good writes in a row that clear :attr:`storage_error` (an embedder may tune it)."""

    async def run(self) -> None:
        """The ``health`` component: one pass per second until cancelled."""
        last = None
        ticks = 0
        while True:
            rt = self.rt
            rt.refresh_stats()
            if rt.view is not None and ticks % 5 == 0:
                rt.view.sample()  # the status page's equity/PnL curve: a point per 5 s
            ticks += 1
            retry = rt.read_back_in_run
            if ticks % 30 == 0 and retry is not None and rt.ctx and rt.ctx.unknown_outcomes():
                retry.request()  # orders of unknown outcome and no reconnect: ask again
            health = self.assess()
            if last is not None and health.verdict != last:
                level = logging.INFO if health.ready else logging.WARNING
                reasons = "; ".join(health.reasons) or "all good"
                log.log(level, "health: %s -> %s: %s", last, health.verdict, reasons)
            last = health.verdict
            self.write()
            self.alerter.send_all(self.rules.on_health(health, self._monotonic()))
            if self.rules.summary_due(rt.wall()):
                self.alerter.send_all(self.rules.daily_summary(rt.stats.line()))
            tick, self._tick = self._tick, None
            if tick is not None and not tick.done():
                tick.set_result(health)
            if self.on_health is not None:
                self.on_health(health)
            await asyncio.sleep(1.0)

    async def next(self) -> Health:
        """The next verdict of the loop (once a second while the bot runs)."""
        if self._tick is None or self._tick.done():
            self._tick = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self._tick)

    def assess(self) -> Health:
        """The health model's verdict on the bot now (also kept in :attr:`health`)."""
        rt = self.rt
        feed = rt.feed
        products: dict[str, Any] = {}
        user: Literal["up", "down"] | None = None
        user_refused = ""
        if feed is not None:
            for pid in rt.products:
                conns = [
                    c for c in feed.conns if any(pid in s.product_ids for s in c.plan.subscriptions)
                ]
                book = feed.books.get(pid)
                products[pid] = product_state(
                    connected=bool(conns) and all(c.ws is not None for c in conns),
                    valid=book is None or book.valid,
                    stale=book is not None and book.stale,
                    refused=any(c.refused for c in conns),
                )
            user_conns = [c for c in feed.conns if c.plan.name == "user"]
            if user_conns:
                user_refused = user_conns[0].refused
                user = "up" if user_conns[0].ws is not None and not user_refused else "down"
        sink = rt.sink
        ctx = rt.ctx
        self.health = assess(
            HealthInputs(
                started=rt.started,
                stopping=rt.stopping,
                products=products,
                user_channel=user,
                user_refused=user_refused,
                key_refused=rt.client.refusal() if rt.client is not None else "",
                clock_offset=getattr(rt.client, "last_offset", None),
                journal_ok=not isinstance(rt.error, JournalError),
                storage_error=self.storage_error,
                strategy_halted=ctx is not None and ctx.guard.halted,
                halt_reason=ctx.guard.halt_reason if ctx is not None else "",
                hook_running=ctx.guard.running() if ctx is not None else None,
                unknown_orders=ctx.unknown_outcomes() if ctx is not None else None,
                kill_switch=rt.gate is not None and rt.gate.tripped,
                kill_switch_reason=rt.gate.engine.kill_switch.reason if rt.gate else "",
                last_order_rtt=sink.last_rtt if sink is not None else None,
                components={n: c.state for n, c in rt.supervisor.components.items()},
            )
        )
        return self.health

    def write(self) -> None:
        """``health.json`` in the data directory, replaced atomically (never half-read)."""
        rt = self.rt
        health = self.health or self.assess()
        events = rt.events
        doc = {
            **health.to_dict(),
            "time": rt.wall(),
            "pid": os.getpid(),
            "mode": rt.mode,
            "strategy": rt.stats.strategy,
            "running": not rt.stopping,
            "components": {
                n: {
                    "state": c.state,
                    "crashes": c.crashes,
                    "restarts": c.restarts,
                    "last_error": c.last_error,
                }  # fmt: skip
                for n, c in rt.supervisor.components.items()
            },
            "events": {
                "queued": len(events),
                "dropped": events.dropped,
                "coalesced": events.coalesced,
                "high_water": events.high_water,
            },  # fmt: skip
            "alerts": {
                "sent": self.alerter.sent,
                "failed": self.alerter.failed,
                "suppressed": self.alerter.suppressed,
            },  # fmt: skip
            "error": str(rt.error) if rt.error is not None else None,
        }
        path = rt.root / HEALTH_FILE
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(doc, indent=1))
            os.replace(tmp, path)
        except OSError as exc:  # a full disk must not crash the reporter: the health says it
            if not self.storage_error:  # once, not every second
                log.warning("health: cannot write %s: %s", path, exc)
            self.storage_error = f"{path}: {exc.strerror or exc}"
            self._good_writes = 0
            with contextlib.suppress(OSError):  # no empty health.tmp left behind (QA pass)
                tmp.unlink(missing_ok=True)
        else:
            self._good_writes += 1
            if self.storage_error and self._good_writes >= self.storage_clear_writes:
                log.warning("health: %s written again (%d s in a row)", path, self._good_writes)
                self.storage_error = ""
