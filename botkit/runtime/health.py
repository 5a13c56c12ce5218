"""Core ring: the health model — one ``ready`` / ``degraded`` / ``down`` verdict with reasons.

A headless bot is judged by one question: can it do its job right now? The answer is
computed here, from plain facts the runtime gathers once a second (no clock reads, no
I/O), so the same rules serve every consumer: the ``health.json`` the runtime keeps in
its data directory (read by ``botkit doctor --bot``), and later ``/readyz``, systemd's
watchdog and alerts.

The verdict:

* ``down`` — the bot cannot trade safely and no waiting will fix it by itself, or it
  has not started yet: still starting, a component failed (the bot is stopping), the
  journal cannot be written, or no product has market data at all.
* ``degraded`` — it runs, but not fully: some products' data is stale, resyncing,
  refused or down; the user channel is down (or its subscription refused); the venue
  refuses the API key; the data directory cannot be written (full, read-only); a
  component is restarting; the strategy was halted by its guard or the kill switch
  tripped (trading stopped until a human acts); the host clock is far off (botkit
  corrects its signing clock, but logs and candles drift); the last order took too long
  to be acknowledged; a strategy hook has been running for more than 5 s (every other
  event waits for it).
* ``ready`` — none of the above.

Every reason is a short sentence naming the part and what is wrong, so an operator
reading ``/readyz`` or an alert knows where to look.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from botkit.risk.engine import RESET_HOW

__all__ = [
    "FeedState",
    "Health",
    "HealthInputs",
    "HealthThresholds",
    "KEY_REFUSED",
    "STORAGE",
    "Verdict",
    "assess",
    "product_state",
]

Verdict = Literal["ready", "degraded", "down"]
FeedState = Literal["live", "stale", "resyncing", "refused", "down"]


def product_state(*, connected: bool, valid: bool, stale: bool, refused: bool = False) -> FeedState:
    """One product's market-data state from its connection and book.

    ``down``: its connection is not open; ``refused``: connected, no valid book, and the
    venue answered its subscription with an error frame (a revoked key, a clock far off:
    not the network); ``resyncing``: connected, but the book waits for a snapshot (a
    gap, a bad frame, a fresh connection); ``stale``: no frame applied for a while (the
    watchdog reconnects soon); ``live`` otherwise.
    """
    if not connected:
        return "down"
    if not valid:
        return "refused" if refused else "resyncing"
    return "stale" if stale else "live"


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    """Limits beyond which a fact makes the bot ``degraded``.

    Attributes:
        max_clock_offset: seconds between the host clock and the exchange's.
        max_order_rtt: seconds from sending a create-order to its acknowledgement.
        max_hook_seconds: seconds a strategy hook may run before every event waiting
            behind it (the emulated exits' triggers too) makes the bot degraded.
        max_unknown_seconds: seconds an order whose create-order ended unknown may wait
            to be settled (an outage: it counts as open, its fills are unattributed).
    """

    max_clock_offset: float = 5.0
    max_order_rtt: float = 5.0
    max_hook_seconds: float = 5.0
    max_unknown_seconds: float = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthInputs:
    """What the runtime knows at one moment.

    Attributes:
        started: the strategy has started (before that the bot is ``down``: starting).
        stopping: the bot is shutting down (``down``: stopping).
        products: each traded product's market-data state.
        user_channel: ``up``/``down``, or None when there is none (paper mode).
        user_refused: the venue's error frame refusing the user channel's subscriptions
            ("" when not refused; the channel is then ``down`` though its socket is open).
        key_refused: why the venue refused the API key on the last private REST call
            ("" since one was accepted): nothing can be placed, cancelled or read.
        clock_offset: exchange minus host clock in seconds, None before it is measured.
        journal_ok: False once a journal write failed.
        storage_error: why the data directory could not be written just now ("": it
            could), seen by the health report's own write.
        strategy_halted: the strategy guard halted the strategy.
        halt_reason: why (named in the reason, hence in the alert).
        hook_running: the strategy hook being awaited and for how many seconds, if any.
        unknown_orders: orders whose create-order ended unknown, not settled yet, and
            the oldest one's age in seconds (None: none).
        kill_switch: the risk engine's kill switch is tripped.
        kill_switch_reason: why it tripped (named in the reason, hence in the alert).
        last_order_rtt: seconds of the last create-order round trip, if any.
        components: each supervised component's state (``running``, ``restarting``,
            ``stopped``, ``failed``).
    """

    started: bool
    stopping: bool = False
    products: Mapping[str, FeedState] = field(default_factory=dict)
    user_channel: Literal["up", "down"] | None = None
    user_refused: str = ""
    key_refused: str = ""
    clock_offset: float | None = None
    journal_ok: bool = True
    storage_error: str = ""
    strategy_halted: bool = False
    halt_reason: str = ""
    hook_running: tuple[str, float] | None = None
    unknown_orders: tuple[int, float] | None = None
    kill_switch: bool = False
    kill_switch_reason: str = ""
    last_order_rtt: float | None = None
    components: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Health:
    """The verdict and why; ``products`` repeats the per-product states for display."""

    verdict: Verdict
    reasons: tuple[str, ...]
    products: Mapping[str, FeedState]
    down: int = 0
    """How many of ``reasons`` (the first ones) make the verdict ``down``."""

    @property
    def ready(self) -> bool:
        return self.verdict == "ready"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "products": dict(self.products),
        }


MARKET_DOWN = "market data down for every product"
KEY_REFUSED = "API key refused by the venue"
STORAGE = "data directory cannot be written"


def watchdog_verdict(health: Health) -> str:
    """The verdict systemd's watchdog is fed on: ``"market-down"`` when the only reason the
    bot is down is that no product has market data (a venue outage, which a restart does
    not mend: the watchdog gives it a grace, :func:`botkit.monitor.systemd.watchdog_loop`,
    so that the feed-down alert goes out first), else the verdict itself."""
    if health.reasons[: health.down] == (MARKET_DOWN,):
        return "market-down"
    return health.verdict


def assess(inputs: HealthInputs, limits: HealthThresholds | None = None) -> Health:
    """The verdict for ``inputs`` (see the module docstring for the rules)."""
    lim = limits or HealthThresholds()
    down: list[str] = []
    degraded: list[str] = []
    if inputs.stopping:
        down.append("stopping: the bot is shutting down")
    elif not inputs.started:
        down.append("starting: waiting for market data and the strategy")
    for name, state in sorted(inputs.components.items()):
        if state == "failed":
            down.append(f"component {name} failed: the bot is stopping")
        elif state == "restarting":
            degraded.append(f"component {name} crashed and is restarting")
    if not inputs.journal_ok:
        down.append("journal cannot be written: no new orders (see the log)")
    elif inputs.storage_error:
        degraded.append(
            f"{STORAGE} ({inputs.storage_error}): a journal write that needs new space may "
            "fail next and stop the bot; free disk space or fix permissions"
        )
    states = inputs.products
    if states and all(s == "down" for s in states.values()):
        down.append(MARKET_DOWN)
    else:
        for pid, state in sorted(states.items()):
            if state != "live":
                degraded.append(f"{pid} market data {state}")
    if inputs.key_refused:
        degraded.append(f"{KEY_REFUSED}: {inputs.key_refused}")
    if inputs.user_refused:
        degraded.append(
            f"user channel down: the venue refused its subscription ({inputs.user_refused}): "
            "check the API key and the host clock"
        )
    elif inputs.user_channel == "down":
        degraded.append("user channel down: order updates are read back by REST when it is back")
    unknown = inputs.unknown_orders
    if unknown is not None and unknown[1] > lim.max_unknown_seconds:
        degraded.append(
            f"{unknown[0]} order(s) of unknown outcome for {unknown[1]:.0f} s (the venue did "
            "not answer): asked about again after each user-channel reconnect, else at the "
            "next start"
        )
    if inputs.strategy_halted:
        degraded.append(f"strategy halted: {inputs.halt_reason or 'after repeated errors'}")
    hook = inputs.hook_running
    if hook is not None and hook[1] > lim.max_hook_seconds:
        degraded.append(
            f"strategy hook {hook[0]} running for {hook[1]:.0f} s: every other event waits for it"
        )
    if inputs.kill_switch:
        why = f" ({inputs.kill_switch_reason})" if inputs.kill_switch_reason else ""
        degraded.append(f"kill switch tripped{why}: no new orders until a reset ({RESET_HOW})")
    off = inputs.clock_offset
    if off is not None and abs(off) > lim.max_clock_offset:
        degraded.append(f"host clock off by {off:+.1f} s (corrected for signing; fix NTP)")
    rtt = inputs.last_order_rtt
    if rtt is not None and rtt > lim.max_order_rtt:
        degraded.append(f"last order took {rtt:.1f} s to be acknowledged")
    verdict: Verdict = "down" if down else "degraded" if degraded else "ready"
    return Health(verdict, tuple(down + degraded), dict(states), len(down))
