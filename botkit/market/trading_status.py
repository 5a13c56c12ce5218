"""Core ring: what a product's trading status at the venue lets the bot send.

Why: during an incident, a listing or a delisting, Coinbase puts a product into a
restricted mode — *cancel only*, *limit only*, *post only*, or trading disabled / offline —
and says so in its product list (``cancel_only``, ``limit_only``, ``post_only``,
``trading_disabled``, ``status``). A bot left alone that ignores it sends order after order
the venue refuses (each a request against the rate limit, each an ``orders-failing`` step),
and its operator cannot see why. With the status known, the risk engine refuses such an
order *before* it is journaled or sent (``PRODUCT_CANCEL_ONLY`` and friends, counted per
reason on the status page), and the runtime logs each change (docs/strategies.md, "When the
venue restricts a product").

What each mode admits is this module's reading of the venue's words; the reference does not
spell out every case (a stop-limit in post-only mode, say), so ``[risk]
respect_trading_status = false`` leaves the decision to the venue.

Pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "MESSAGE_MAX",
    "OPEN_STATUSES",
    "REFUSAL_REASONS",
    "TradingMode",
    "TradingStatus",
    "refusal",
    "status_from_rule",
]

MESSAGE_MAX = 200
"""Characters of the venue's ``status_message`` kept (it reaches logs, alerts and errors)."""


class TradingMode(enum.Enum):
    """The orders a product takes, from the most to the least permissive."""

    FULL = "full"
    """Every order."""
    LIMIT_ONLY = "limit_only"
    """Limit orders (a stop-limit is one); no market orders."""
    POST_ONLY = "post_only"
    """Post-only limit orders only: nothing that could take liquidity."""
    CANCEL_ONLY = "cancel_only"
    """No new orders; cancels only."""
    HALTED = "halted"
    """Trading disabled, the product offline or delisted: no new orders."""


_REASONS = {
    TradingMode.LIMIT_ONLY: "PRODUCT_LIMIT_ONLY",
    TradingMode.POST_ONLY: "PRODUCT_POST_ONLY",
    TradingMode.CANCEL_ONLY: "PRODUCT_CANCEL_ONLY",
    TradingMode.HALTED: "PRODUCT_HALTED",
}

REFUSAL_REASONS = frozenset(_REASONS.values())
"""The reason codes of an order refused for its product's trading status."""

OPEN_STATUSES = frozenset({"", "online"})
"""Venue ``status`` values that do not by themselves stop trading (Prime sends none)."""


@dataclass(frozen=True, slots=True)
class TradingStatus:
    """One product's trading status as the venue last published it.

    ``venue_status``: the venue's own word (``online``, ``offline``, ``delisted``; empty
    when it sends none); ``message``: its ``status_message``, shown to the operator.
    """

    product_id: str
    mode: TradingMode
    venue_status: str = ""
    message: str = ""

    @property
    def restricted(self) -> bool:
        """Whether some order the bot could send is refused in this mode."""
        return self.mode is not TradingMode.FULL

    @property
    def reason(self) -> str:
        """The reason code of an order this mode refuses (``PRODUCT_CANCEL_ONLY``...);
        empty while the product trades fully."""
        return _REASONS.get(self.mode, "")

    def describe(self) -> str:
        """One line for a log, the status page or an error message."""
        text = f"{self.product_id} is {self.mode.value.replace('_', '-')}"
        if self.venue_status and self.venue_status != "online":
            text += f" (status {self.venue_status})"
        if self.message:
            text += f": {self.message}"
        return text


def _flag(rule: Mapping[str, object], key: str) -> bool:
    value = rule.get(key)
    if isinstance(value, str):  # a rule read back from JSON text, or a venue's odd spelling
        return value.strip().lower() == "true"
    return value is True


def status_from_rule(rule: Mapping[str, object]) -> TradingStatus:
    """A product's :class:`TradingStatus` from its entry in the venue's product list.

    Reads Advanced Trade's and Exchange's field names (``product_id`` or ``id``,
    ``status``, ``status_message``, ``trading_disabled``, ``is_disabled``, ``cancel_only``,
    ``limit_only``, ``post_only``); a field that is missing does not restrict, so a venue
    that publishes none of them (Prime) reads as full trading. When several flags are set
    the strictest wins: post-only admits less than limit-only.
    """
    pid = str(rule.get("product_id") or rule.get("id") or "")
    venue_status = str(rule.get("status") or "").strip().lower()
    message = str(rule.get("status_message") or "").strip()
    if len(message) > MESSAGE_MAX:
        message = message[: MESSAGE_MAX - 1] + "…"
    if (
        _flag(rule, "trading_disabled")
        or _flag(rule, "is_disabled")
        or venue_status not in OPEN_STATUSES
    ):
        mode = TradingMode.HALTED
    elif _flag(rule, "cancel_only"):
        mode = TradingMode.CANCEL_ONLY
    elif _flag(rule, "post_only"):
        mode = TradingMode.POST_ONLY
    elif _flag(rule, "limit_only"):
        mode = TradingMode.LIMIT_ONLY
    else:
        mode = TradingMode.FULL
    return TradingStatus(pid, mode, venue_status, message)


def refusal(status: TradingStatus, *, market: bool, post_only: bool) -> str | None:
    """The reason code refusing an order in ``status``'s mode, or None if it may be sent.

    ``market``: the order has no limit price (a market order); ``post_only``: a limit order
    flagged post-only. A stop-limit is a limit order that is not post-only.
    """
    mode = status.mode
    if mode is TradingMode.FULL:
        return None
    if mode is TradingMode.LIMIT_ONLY and not market:
        return None
    if mode is TradingMode.POST_ONLY and post_only and not market:
        return None
    return _REASONS[mode]
