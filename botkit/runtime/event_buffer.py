"""Core ring: the bounded buffer between the socket reader and the strategy driver.

The feed hands events over synchronously and never waits for the strategy; a slow
strategy (or a stalled hook) must therefore not make the buffer grow without bound
on a small machine. What may be lost and what may not:

* **order and fill events are never dropped**, nor is a ``BookInvalidated`` (a
  strategy must learn that its book is unusable): they are bounded by trading
  activity, not by market traffic;
* **book events always coalesce**: a queued ``BookChanged`` of a product is replaced
  by the newer one (it carries the live book, so the older would show the same
  state); the newer takes the older's place at the end of the queue;
* over ``capacity`` (counting events of every kind), **market data coalesces or is
  dropped**: a ticker event replaces a queued ticker event for the same products
  (latest wins), and trade and candle events are dropped; both are counted
  (``coalesced``, ``dropped``).

Under ``capacity`` nothing but books coalesce, so a strategy that keeps up sees every
ticker and trade, in order.
"""

from __future__ import annotations

from collections import deque

from botkit.market.events import (
    BookChanged,
    CandlesReceived,
    FeedEvent,
    TickersReceived,
    TradesReceived,
)

__all__ = ["EventBuffer"]


class _Slot:
    """A queued event; ``event`` is None once a newer one of its key replaced it."""

    __slots__ = ("event",)

    def __init__(self, event: FeedEvent) -> None:
        self.event: FeedEvent | None = event


class EventBuffer:
    """FIFO of strategy events with the loss rules of the module docstring.

    Args:
        capacity: queued events beyond which market data coalesces or is dropped.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._slots: deque[_Slot] = deque()
        self._live = 0  # slots whose event is not None
        self._books: dict[object, _Slot] = {}
        self._tickers: dict[object, _Slot] = {}
        self.dropped = 0
        """Trade and candle events dropped because the buffer was full."""
        self.coalesced = 0
        """Book and ticker events replaced by a newer one before delivery."""
        self.high_water = 0
        """The most events ever queued at once."""

    def __len__(self) -> int:
        return self._live

    def push(self, event: FeedEvent) -> None:
        """Queue ``event`` (or coalesce it, or drop it: see the module docstring)."""
        kind = type(event)
        if kind is BookChanged:
            assert isinstance(event, BookChanged)
            self._replace(self._books, event.product_id, event)
            return
        if self._live >= self.capacity:
            if kind is TickersReceived:
                assert isinstance(event, TickersReceived)
                key = tuple(sorted({t.product_id for t in event.tickers}))
                self._replace(self._tickers, key, event)
                return
            if kind is TradesReceived or kind is CandlesReceived:
                self.dropped += 1
                return
        slot = _Slot(event)
        if kind is TickersReceived:
            assert isinstance(event, TickersReceived)
            self._tickers[tuple(sorted({t.product_id for t in event.tickers}))] = slot
        self._append(slot)

    def _replace(self, index: dict[object, _Slot], key: object, event: FeedEvent) -> None:
        old = index.get(key)
        if old is not None and old.event is not None:
            old.event = None
            self._live -= 1
            self.coalesced += 1
        slot = _Slot(event)
        index[key] = slot
        self._append(slot)

    def _append(self, slot: _Slot) -> None:
        self._slots.append(slot)
        self._live += 1
        if self._live > self.high_water:
            self.high_water = self._live

    def drain(self) -> list[FeedEvent]:
        """Every queued event, oldest first; the buffer is empty afterwards."""
        out = [s.event for s in self._slots if s.event is not None]
        self._slots.clear()
        self._books.clear()
        self._tickers.clear()
        self._live = 0
        return out
