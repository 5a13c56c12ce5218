"""Adapter ring: the risk engine wired to a persisted kill switch and to order cancellation.

:class:`botkit.risk.engine.RiskEngine` decides; this module makes the decision stick:

* the kill-switch state lives in a small JSON file written atomically (temp file,
  ``fsync``, ``rename``, ``fsync`` of the directory), so a tripped switch survives a
  crash, a ``kill -9`` or a power cut, and a restarted bot still refuses to trade;
* tripping cancels every open order through the registered cancellers (each strategy
  context registers its own), so a losing day cannot get worse through resting orders —
  but exits' orders, which only close positions (see :mod:`botkit.risk.engine`);
* only :func:`reset_kill_switch` (the ``botkit kill-switch reset`` command) clears it:
  an operator decides when trading resumes, never a restart.

The protections (cooldown after a stop-loss, losing-trade lock, drawdown latch; see
docs/protections.md) keep their state in ``protections.json`` beside the kill switch,
written the same way, whenever it changes (a cooldown or lock starts, the latch sets, a
fill moves a tracked position). A restart resumes them; the same reset clears them. With
every protection off (the default) the file is neither read nor written.

JSON rather than SQLite: the state is three fields written a few times a year, and a
human should be able to read it with ``cat`` during an incident.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from botkit.errors import BotkitError, ConfigError, JournalError, KillSwitchNotSaved
from botkit.market.trading_status import REFUSAL_REASONS, TradingStatus
from botkit.orders.durable_file import replace_or_overwrite
from botkit.orders.intents import OrderIntent
from botkit.risk.engine import (
    KillSwitchState,
    MarketQuote,
    OrderCheck,
    ProtectionState,
    RiskEngine,
    RiskLimits,
    RiskRejected,
)

__all__ = [
    "DEFAULT_KILL_SWITCH_PATH",
    "RiskGate",
    "load_kill_switch",
    "load_protections",
    "protections_path",
    "reset_kill_switch",
    "reset_protections",
    "save_kill_switch",
    "save_protections",
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
    doc = json.dumps({"tripped": state.tripped, "reason": state.reason, "at": state.at})
    _write_atomic(path, doc, pad=_KILL_SWITCH_BYTES)


_KILL_SWITCH_BYTES = 1024
"""The kill-switch file's size, padded with spaces (JSON ignores them): a trip fits in the
blocks the file has, so it is written in place when no new file can be (a full disk)."""
_PROTECTIONS_BYTES = 8192
"""The same for the protections file."""


def _write_atomic(path: Path, data: str, *, pad: int = 0) -> None:
    """Replace ``path`` with ``data`` durably, padded to ``pad`` bytes, in place when no new
    file can be made (:func:`replace_or_overwrite`): a trip that could not be saved was
    forgotten by the next start, and that start traded (a QA pass). A write torn by a
    crash there reads as unreadable: a ConfigError for the operator, never a silently
    cleared switch."""
    replace_or_overwrite(path, (data + "\n").ljust(pad).encode(), durable=True)


def reset_kill_switch(path: Path) -> bool:
    """Clear a tripped kill switch and the protections beside it; return whether the
    switch was tripped or a protection was active.

    Engines already running keep their in-memory state: reset while the bot is stopped
    (the CLI command says so).
    """
    was = load_kill_switch(path).tripped
    save_kill_switch(path, KillSwitchState(False))
    if was:
        log.warning("kill switch at %s reset by operator", path)
    return reset_protections(protections_path(path)) or was


def protections_path(kill_switch_path: Path) -> Path:
    """The protections file that belongs to a kill-switch file (same directory)."""
    return kill_switch_path.with_name("protections.json")


def load_protections(path: Path) -> ProtectionState:
    """Read the persisted protection state; a missing file means a fresh state.

    Raises:
        ConfigError: the file exists but is not a protection state (truncated by hand,
            edited wrongly): fix or delete it. Deleting forgets cooldowns, the losing-trade
            count and lock, the drawdown latch and peak, and the open positions the
            protections follow.
    """
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return ProtectionState()
    except (OSError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    try:
        peak = doc.get("peak")
        until = doc.get("streak_until")
        return ProtectionState(
            cooldowns={str(k): float(v) for k, v in doc.get("cooldowns", {}).items()},
            losses=[float(t) for t in doc.get("losses", [])],
            streak_until=None if until is None else float(until),
            streak_reason=str(doc.get("streak_reason", "")),
            drawdown_reason=str(doc.get("drawdown_reason", "")),
            drawdown_at=float(doc.get("drawdown_at", 0.0)),
            peak=None if peak is None else Decimal(str(peak)),
            realised=Decimal(str(doc.get("realised", "0"))),
            positions={
                str(k): (Decimal(str(q)), Decimal(str(a)))
                for k, (q, a) in doc.get("positions", {}).items()
            },
            trade_pnl={str(k): Decimal(str(v)) for k, v in doc.get("trade_pnl", {}).items()},
        )
    except (AttributeError, TypeError, ValueError, InvalidOperation) as exc:
        raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: Exception) -> ConfigError:
    return ConfigError(
        f"protections file {path} is unreadable ({exc!r}); fix it, or delete it to start the "
        "protections afresh (cooldowns, losing-trade lock, drawdown latch and peak are lost)"
    )


def save_protections(path: Path, state: ProtectionState) -> None:
    """Write the protection state atomically and durably, like the kill switch."""
    until = state.streak_until
    doc: dict[str, Any] = {
        "cooldowns": state.cooldowns,
        "losses": state.losses,
        "streak_until": None if until is None else ("inf" if math.isinf(until) else until),
        "streak_reason": state.streak_reason,
        "drawdown_reason": state.drawdown_reason,
        "drawdown_at": state.drawdown_at,
        "peak": None if state.peak is None else str(state.peak),
        "realised": str(state.realised),
        "positions": {k: [str(q), str(a)] for k, (q, a) in state.positions.items()},
        "trade_pnl": {k: str(v) for k, v in state.trade_pnl.items()},
    }
    _write_atomic(path, json.dumps(doc, indent=1), pad=_PROTECTIONS_BYTES)


def reset_protections(path: Path) -> bool:
    """Clear the cooldowns, the losing-trade lock and count and the drawdown latch in a
    protections file (the peak restarts from the equity at the next start); return
    whether any was active. Positions and realised PnL are kept: they are facts."""
    if not path.exists():
        return False
    engine = RiskEngine(RiskLimits(), protections=load_protections(path))
    was = engine.reset_protections()
    save_protections(path, engine.protection)
    if was:
        log.warning("protections at %s reset by operator", path)
    return was


def protection_lines(st: ProtectionState, now: float) -> dict[str, str]:
    """The protections active at ``now`` in ``st``, one line each (empty: none active).

    For the running bot's status and for ``botkit kill-switch status`` on a stopped one.
    """
    out: dict[str, str] = {}
    for key, ends in sorted(st.cooldowns.items()):
        if ends > now:
            out[f"cooldown {key}"] = f"entries refused for {ends - now:.0f} s more"
    if st.streak_until is not None and st.streak_until > now:
        left = "until reset" if math.isinf(st.streak_until) else f"{st.streak_until - now:.0f} s"
        out["losing trades"] = f"{st.streak_reason}; entries refused {left}"
    if st.drawdown_reason:
        out["max drawdown"] = f"{st.drawdown_reason}; entries refused until reset"
    return out


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
        if path is not None and not path.exists():  # its blocks, while there is space
            with contextlib.suppress(OSError):  # a trip will say what cannot be written
                save_kill_switch(path, state)
        if state.tripped:
            log.critical("kill switch is TRIPPED (%s): all orders will be refused", state.reason)
        self.protections_path = (
            protections_path(path) if path is not None and limits.protections else None
        )
        """Where the protection state lives (None: every protection off, or no path)."""
        protection = (
            load_protections(self.protections_path) if self.protections_path is not None else None
        )
        self.engine = RiskEngine(limits, kill_switch=state, protections=protection)
        for line in self.protection_status().values():
            log.warning("protection active at start: %s", line)
        self._cancellers: list[Canceller] = []
        self.paused = False
        """Set by an operator (``botkit ctl pause``): new orders are refused with
        ``RISK_PAUSED``; hooks, fills and cancels go on. Not persisted: a restart resumes."""
        self.refusals: Counter[str] = Counter()
        """Orders refused so far, by reason (``RISK_MAX_NOTIONAL``...), for /metrics."""
        self.restricting = False
        """Whether the venue restricts any product now (the hot path reads whether an
        order is post-only only then)."""
        self.on_failure: Callable[[BotkitError], None] | None = None
        """Called when the kill switch or the protections cannot be saved (the runtime
        stops on it: :class:`KillSwitchNotSaved` exit 2, a protection's JournalError exit
        1); None: raised to the caller."""
        self.on_trading_refusal: Callable[[str, str], None] | None = None
        """Called with (product id, reason) when an order is refused for its product's
        trading status: the runtime reads the status again soon (a refusal here sends no
        request whose rejection would prompt it, so a lifted restriction is seen at once)."""

    @property
    def tripped(self) -> bool:
        return self.engine.kill_switch.tripped

    def set_trading_status(self, status: TradingStatus) -> bool:
        """A product's trading status at the venue; True when its mode changed (orders
        the mode does not admit are refused from now on, ``[risk]
        respect_trading_status``)."""
        changed = self.engine.set_trading_status(status)
        self.restricting = bool(self.engine.restricted)
        return changed

    @property
    def restricted(self) -> dict[str, TradingStatus]:
        """The products the venue restricts now (product id → status)."""
        return self.engine.restricted

    def trading_status(self, product_id: str) -> TradingStatus | None:
        """The product's status if the venue restricts it now, else None."""
        return self.engine.trading_status(product_id)

    def _refused(self, product_id: str, exc: RiskRejected) -> None:
        self.refusals[exc.reason] += 1
        hook = self.on_trading_refusal
        if hook is not None and exc.reason in REFUSAL_REASONS:
            try:
                hook(product_id, exc.reason)
            except Exception:  # the strategy must get its RiskRejected, whatever the hook did
                log.exception("trading status: the refusal hook failed")

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
            self.engine.check(
                OrderCheck.from_intent(intent),
                quote,
                position=position,
                open_orders=open_orders,
                now=self._wall() if self.engine.protected else None,
            )
        except RiskRejected as exc:
            self._refused(intent.product_id, exc)
            raise

    def check_order(
        self, order: OrderCheck, quote: MarketQuote, *, position: Decimal, open_orders: int
    ) -> None:
        """:meth:`check` for a caller that already holds the order's Decimals (the context).

        Saves re-parsing sizes and prices out of the order configuration's strings on the
        tick-to-order path; the limits applied are the same.
        """
        try:
            if self.paused and not order.exit:  # an armed exit still closes the position
                _paused()
            engine = self.engine
            if engine.protected:
                engine.check(
                    order, quote, position=position, open_orders=open_orders, now=self._wall()
                )
            else:
                engine.check(order, quote, position=position, open_orders=open_orders)
        except RiskRejected as exc:
            self._refused(order.product_id, exc)
            raise

    async def on_fill(
        self, product_id: str, side: str, size: Decimal, price: Decimal, fee: Decimal
    ) -> None:
        state = self.engine.on_fill(product_id, side, size, price, fee, now=self._wall())
        if state is not None:  # first: a protection's failed save must not mask it (a review)
            await self._tripped(state)
        if self.engine.protection_changed:
            self._save_protections()

    async def on_mark(self, product_id: str, price: Decimal) -> None:
        state = self.engine.on_mark(product_id, price, now=self._wall())
        if state is not None:
            await self._tripped(state)
        if self.engine.protection_changed:
            self._save_protections()

    def mark(self, product_id: str, price: Decimal) -> KillSwitchState | None:
        """:meth:`on_mark` without the coroutine, for the per-tick path: returns the new
        state when this mark tripped the switch, and the caller must then await
        :meth:`enforce_trip` (persist, cancel everything)."""
        engine = self.engine
        state = engine.on_mark(product_id, price, now=self._wall())
        if engine.protection_changed:  # rare: the drawdown latch set (peaks alone are not)
            self._save_protections()
        return state

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
        return self.reset_protections() or was

    def reset_protections(self) -> bool:
        """Clear every cooldown, the losing-trade lock and the drawdown latch (the peak
        restarts from the current equity), in memory and on disk; return whether any was
        active. :meth:`reset` does this too."""
        was = self.engine.reset_protections()
        self._save_protections()
        if was:
            log.warning("protections reset: entries are accepted again")
        return was

    def protection_status(self) -> dict[str, str]:
        """The active protections, one line each (for a status page; empty: none active)."""
        if not self.engine.protected:
            return {}
        return protection_lines(self.engine.protection, self._wall())

    def _save_protections(self) -> None:
        self.engine.protection_changed = False
        path = self.protections_path
        if path is None:
            return
        try:
            save_protections(path, self.engine.protection)
        except OSError as exc:  # in force in memory; a restart would forget it: stop
            self._failed(
                JournalError(
                    f"the risk protections could not be saved to {path} ({exc.strerror or exc}):"
                    " the bot stops, since a restart would forget them. Free disk space or "
                    "fix the data directory's permissions, then restart"
                )
            )

    def _failed(self, error: BotkitError) -> None:
        log.error("%s", error)
        if self.on_failure is None:
            raise error
        self.on_failure(error)

    async def on_stop_loss(self, product_id: str) -> None:
        """A stop-loss exit of ``product_id`` filled (called by the exit machinery).

        Starts the post-stop-loss cooldown when ``cooldown_after_stop_loss`` is set: new
        entries are refused for that long (on the product, or every product with
        ``cooldown_scope = "all"``), exits still go through. Persisted at once.
        """
        if self.engine.on_stop_loss(product_id, now=self._wall()):
            self._save_protections()
            log.warning(
                "stop-loss exit filled on %s: cooldown of %s s for new entries (%s)",
                product_id,
                self.engine.limits.cooldown_after_stop_loss,
                self.engine.limits.cooldown_scope,
            )
        else:
            log.info("stop-loss exit filled on %s (no cooldown configured)", product_id)

    async def enforce(self) -> int:
        """At start: trip if the day's loss is already past the limit
        (:meth:`RiskEngine.check_today`); if tripped (then, or by an earlier run), cancel
        every open order; return how many."""
        if not self.tripped:
            state = self.engine.check_today(now=self._wall())
            if state is not None:
                await self._tripped(state)  # saves, cancels
                return 0
        return await self._cancel_all() if self.tripped else 0

    async def _tripped(self, state: KillSwitchState) -> None:
        """Persist the trip, then cancel every open order — the cancel whatever the disk
        said: a failed save skipped it, and a full disk left the orders working under a
        tripped switch that no file remembered (a headless QA pass)."""
        log.critical("KILL SWITCH TRIPPED: %s; cancelling all open orders", state.reason)
        failure: KillSwitchNotSaved | None = None
        if self.path is not None:
            try:
                save_kill_switch(self.path, state)  # first: a crash mid-cancel stays safe
            except OSError as exc:
                failure = KillSwitchNotSaved(
                    f"the kill switch tripped ({state.reason}) but could not be saved to "
                    f"{self.path} ({exc.strerror or exc}): every open order was sent a cancel "
                    "(the log names any that failed) and the bot stops with exit 2 (not "
                    "restarted: a restart would not know it tripped). Fix the disk, find out "
                    "why it tripped, then start the bot"
                )
        await self._cancel_all()
        if failure is not None:
            self._failed(failure)

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
