"""Core ring: five-minute candles built from public trades, for venues without a candles channel.

Why: Advanced Trade's ``candles`` channel sends the current five-minute candle of each
product as it changes; Coinbase Exchange and Prime have no such channel, so a strategy
written on candles (the shipped ``ema_cross``) would never see one there. A venue protocol
that has trades (Exchange's ``matches``) feeds them here and emits the same
:class:`~botkit.market.types.Candle` updates: bucket start = the trade's time floored to
the bucket, OHLC and volume from the trades of that bucket. Pure: the time of a candle is
the trades' own (exchange) time, never the local clock, so a replay builds the same
candles.

What differs from Coinbase's channel: an update per trade rather than per second, and no
candle for a bucket without a trade (Coinbase carries the last close forward).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from botkit.market.types import Candle, MarketTrade

__all__ = ["BUCKET_SECONDS", "CandleBuilder", "trade_epoch"]

BUCKET_SECONDS = 300
"""Advanced Trade's candles channel has only five-minute candles; the same here."""


def trade_epoch(time: str) -> int | None:
    """Unix seconds of an RFC 3339 trade time (``2026-12-06T01:02:03.456Z``); None if unreadable."""
    try:
        return int(datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp())
    except (ValueError, AttributeError):
        return None


class CandleBuilder:
    """The current candle per product, updated by each trade.

    Args:
        bucket_seconds: candle length (Coinbase's channel: 300).
    """

    def __init__(self, bucket_seconds: int = BUCKET_SECONDS) -> None:
        if bucket_seconds <= 0:
            raise ValueError("bucket_seconds must be positive")
        self.bucket_seconds = bucket_seconds
        self._current: dict[str, Candle] = {}
        self.skipped = 0  # trades without a readable time, or older than the current bucket

    def add(self, trade: MarketTrade) -> Candle | None:
        """Fold ``trade`` into its product's candle; the updated candle, or None if skipped.

        A trade of an earlier bucket than the current one (late, out of order) is skipped:
        a closed candle is not reopened.
        """
        epoch = trade_epoch(trade.time)
        if epoch is None:
            self.skipped += 1
            return None
        start = epoch - epoch % self.bucket_seconds
        pid = trade.product_id
        cur = self._current.get(pid)
        price, size = trade.price, trade.size
        if cur is not None and int(cur.start) == start:
            cur = Candle(
                start=cur.start,
                open=cur.open,
                high=max(cur.high, price),
                low=min(cur.low, price),
                close=price,
                volume=cur.volume + size,
                product_id=pid,
            )
        elif cur is None or start > int(cur.start):
            cur = Candle(
                start=str(start),
                open=price,
                high=price,
                low=price,
                close=price,
                volume=Decimal(size),
                product_id=pid,
            )
        else:
            self.skipped += 1
            return None
        self._current[pid] = cur
        return cur
