"""Adapter ring: the risk engine wired to a persisted kill switch and to order cancellation.

:class:`botkit.risk.engine.RiskEngine` decides; this module makes the decision stick:

* the kill-switch state lives in a small JSON file written atomically (temp file,
  ``fsync``, ``rename``, ``fsync`` of the directory), so a tripped switch survives a
  crash, a ``kill -9`` or a power cut, and a restarted bot still refuses to trade;
* tripping cancels every open order through the registered cancellers (each strategy
  context registers its own), so a losing day cannot get worse through resting orders;
* only :func:`reset_kill_switch` (the ``botkit kill-switch reset`` command) clears it:
  an operator decides when trading resumes, never a restart.

JSON rather than SQLite: the state is three fields written a few times a year, and a
human should be able to read it with ``cat`` during an incident.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

from botkit.errors import BotkitError, ConfigError
from botkit.orders.intents import OrderIntent
from botkit.risk.engine import (
    KillSwitchState,
    MarketQuote,
    OrderCheck,
    RiskEngine,
    RiskLimits,
    RiskRejected,
)

__all__ = [
    "DEFAULT_KILL_SWITCH_PATH",
    "RiskGate",
    "load_kill_switch",
    "reset_kill_switch",
    "save_kill_switch",
]

log = logging.getLogger("botkit.risk")
Canceller = Callable[[], Awaitable[int]]
DEFAULT_KILL_SWITCH_PATH = Path("botkit-data/kill_switch.json")
"""Where a live bot keeps its kill switch (``<data_dir>/kill_switch.json``; sim uses
``<data_dir>/sim/kill_switch.json``)."""


def load_kill_switch(path: Path) -> KillSwitchState:
    """Read the persisted kill switch; a missing file means "not tripped".

    Raises:
        ConfigError: the file exists but cannot be read. Failing closed would be
            tempting, but an unreadable file is an operator problem to fix, not a state.
    """
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return KillSwitchState(False)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"kill-switch file {path} is unreadable ({exc}); inspect it, then delete it or "
            "run 'botkit kill-switch reset'"
        ) from exc
    return KillSwitchState(
        bool(doc.get("tripped")), str(doc.get("reason", "")), float(doc.get("at", 0.0))
    )


def save_kill_switch(path: Path, state: KillSwitchState) -> None:
    """Write the state atomically and durably (it must survive a power cut)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    data = json.dumps({"tripped": state.tripped, "reason": state.reason, "at": state.at})
    with open(tmp, "w") as fh:
        fh.write(data + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def reset_kill_switch(path: Path) -> bool:
    """Clear a tripped kill switch; return whether it was tripped.

    Engines already running keep their in-memory state: reset while the bot is stopped
    (the CLI command says so).
    """
    was = load_kill_switch(path).tripped
    save_kill_switch(path, KillSwitchState(False))
    if was:
        log.warning("kill switch at %s reset by operator", path)
    return was


class RiskGate:
    """The risk engine plus its persisted kill switch and the cancellers to call on a trip.

    Args:
        limits: the risk limits.
        path: the kill-switch file; None keeps the switch in memory only (tests, backtests).
        wall: Unix time source for the trip timestamp and the UTC day boundary.
    """

    def __init__(self, limits: RiskLimits, path: Path | None, *, wall: Callable[[], float]) -> None:
        self.path = path
        self._wall = wall
        state = load_kill_switch(path) if path is not None else KillSwitchState(False)
        if state.tripped:
            log.critical("kill switch is TRIPPED (%s): all orders will be refused", state.reason)
        self.engine = RiskEngine(limits, kill_switch=state)
        self._cancellers: list[Canceller] = []
        self.paused = False
        """Set by an operator (``botkit ctl pause``): new orders are refused with
        ``RISK_PAUSED``; hooks, fills and cancels go on. Not persisted: a restart resumes."""
        self.refusals: Counter[str] = Counter()
        """Orders refused so far, by reason (``RISK_MAX_NOTIONAL``...), for /metrics."""

    @property
    def tripped(self) -> bool:
        return self.engine.kill_switch.tripped

    def add_canceller(self, cancel_all: Canceller) -> None:
        """Register a coroutine that cancels a component's open orders (returns how many)."""
        self._cancellers.append(cancel_all)

    def check(
        self, intent: OrderIntent, quote: MarketQuote, *, position: Decimal, open_orders: int
    ) -> None:
        """Refuse the intent if it breaks a limit (raises ``RiskRejected``)."""
        try:
            if self.paused:
                _paused()
            self.engine.check_intent(intent, quote, position=position, open_orders=open_orders)
        except RiskRejected as exc:
            self.refusals[exc.reason] += 1
            raise

    def check_order(
        self, order: OrderCheck, quote: MarketQuote, *, position: Decimal, open_orders: int
    ) -> None:
        """:meth:`check` for a caller that already holds the order's Decimals (the context).

        Saves re-parsing sizes and prices out of the order configuration's strings on the
        tick-to-order path; the limits applied are the same.
        """
        try:
            if self.paused:
                _paused()
            self.engine.check(order, quote, position=position, open_orders=open_orders)
        except RiskRejected as exc:
            self.refusals[exc.reason] += 1
            raise

    async def on_fill(
        self, product_id: str, side: str, size: Decimal, price: Decimal, fee: Decimal
    ) -> None:
        state = self.engine.on_fill(product_id, side, size, price, fee, now=self._wall())
        if state is not None:
            await self._tripped(state)

    async def on_mark(self, product_id: str, price: Decimal) -> None:
        state = self.engine.on_mark(product_id, price, now=self._wall())
        if state is not None:
            await self._tripped(state)

    def mark(self, product_id: str, price: Decimal) -> KillSwitchState | None:
        """:meth:`on_mark` without the coroutine, for the per-tick path: returns the new
        state when this mark tripped the switch, and the caller must then await
        :meth:`enforce_trip` (persist, cancel everything)."""
        return self.engine.on_mark(product_id, price, now=self._wall())

    async def enforce_trip(self, state: KillSwitchState) -> None:
        """Make a trip reported by :meth:`mark` stick: persist it, cancel every open order."""
        await self._tripped(state)

    async def trip(self, reason: str) -> None:
        """Trip the switch by hand (an operator signal, an unrecoverable component)."""
        if not self.tripped:
            await self._tripped(self.engine.trip(reason, now=self._wall()))

    def reset(self) -> bool:
        """Clear a tripped kill switch, in memory and on disk; return whether it was tripped.

        The same as ``botkit kill-switch reset`` on a stopped bot, for a running one.
        """
        was = self.tripped
        if self.path is not None:
            reset_kill_switch(self.path)
        self.engine.reset()
        if was:
            log.warning("kill switch reset: orders are accepted again")
        return was

    async def on_stop_loss(self, product_id: str) -> None:
        """A stop-loss exit of ``product_id`` filled (called by the exit machinery).

        Starts the post-stop-loss cooldown when ``cooldown_after_stop_loss`` is set: new
        entries are refused for that long, exits still go through.
        """
        log.warning("stop-loss exit filled on %s", product_id)

    async def enforce(self) -> int:
        """If tripped (e.g. from an earlier run), cancel every open order; return how many."""
        return await self._cancel_all() if self.tripped else 0

    async def _tripped(self, state: KillSwitchState) -> None:
        log.critical("KILL SWITCH TRIPPED: %s; cancelling all open orders", state.reason)
        if self.path is not None:
            save_kill_switch(self.path, state)  # persist first: a crash mid-cancel stays safe
        await self._cancel_all()

    async def _cancel_all(self) -> int:
        total = 0
        for cancel_all in self._cancellers:
            try:
                total += await cancel_all()
            except BotkitError as exc:  # keep going: the other components must still cancel
                log.error("cancel-all failed during kill switch: %s", exc)
        return total


def _paused() -> None:
    raise RiskRejected(
        "trading is paused by the operator: no new orders until 'botkit ctl resume'",
        reason="RISK_PAUSED",
    )
