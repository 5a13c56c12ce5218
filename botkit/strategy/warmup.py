"""Core ring: what history a strategy needs before it may trade (pure; no I/O).

A strategy declares it as a class attribute::

    class EmaCross(Strategy):
        warmup = Warmup(candles=20, granularity="ONE_MINUTE")

Before live events, the runtime fetches that history (the REST candles endpoint in paper
and live, the simulator's history in sim, the dataset in a backtest) and replays it
through the same hooks with ``ctx.warming_up`` true. Orders are refused meanwhile (a
warm-up decision is made on old prices; sending it would trade on them), so an indicator
strategy is ready the moment live data starts instead of after N real candles.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GRANULARITY_SECONDS", "Warmup"]

GRANULARITY_SECONDS: dict[str, int] = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
"""Advanced Trade's candle granularities (reference §2.2) and their length in seconds."""


@dataclass(frozen=True, slots=True)
class Warmup:
    """The closed candles a strategy needs before its first live event.

    Attributes:
        candles: how many closed candles to replay (0: no warm-up).
        granularity: one of :data:`GRANULARITY_SECONDS` (Advanced Trade's names).
    """

    candles: int
    granularity: str = "ONE_MINUTE"

    def __post_init__(self) -> None:
        if self.candles < 0:
            raise ValueError(f"Warmup(candles={self.candles}): candles must be 0 or more")
        if self.granularity not in GRANULARITY_SECONDS:
            raise ValueError(
                f"Warmup(granularity={self.granularity!r}): use one of "
                + ", ".join(GRANULARITY_SECONDS)
            )

    @property
    def seconds(self) -> int:
        """The length of one candle in seconds."""
        return GRANULARITY_SECONDS[self.granularity]
