"""The simulator's oversized level2 snapshot: rendered to bytes lazily, exactly the dict form."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from botkit.sim import ws_frames as f
from botkit.sim.events import TradePrint

D = Decimal


Levels = list[tuple[Decimal, Decimal]]


class Exchange:
    """An ExchangeView of which l2_snapshot_frames may read only ``book`` and ``product_wire``."""

    def __init__(self, n: int, top: str) -> None:
        t, step = D(top), D("0.01")
        self.bids = [(t - step * i, D("0.5")) for i in range(n)]
        self.asks = [(t + step * (i + 1), D("1.25")) for i in range(n)]

    def book(self, product_id: str, limit: int | None = None) -> tuple[Levels, Levels]:
        return self.bids, self.asks

    def product_wire(self, product_id: str) -> dict[str, Any]:
        return {"quote_increment": "0.01"}

    # The rest of the view: a snapshot must not read them.
    def product_ids(self) -> list[str]:
        raise AssertionError("l2_snapshot_frames read product_ids")

    def recent_trades(self, product_id: str, limit: int) -> list[TradePrint]:
        raise AssertionError("l2_snapshot_frames read recent_trades")

    def candles(
        self, product_id: str, start: int, end: int, granularity_s: int
    ) -> list[dict[str, Any]]:
        raise AssertionError("l2_snapshot_frames read candles")

    def ticker_wire(self, product_id: str) -> dict[str, Any]:
        raise AssertionError("l2_snapshot_frames read ticker_wire")

    def open_orders_ws(self, user_id: str) -> list[dict[str, Any]]:
        raise AssertionError("l2_snapshot_frames read open_orders_ws")


def texts(frames: list[Any]) -> list[str]:
    out = []
    for i, ev in enumerate(frames):
        if isinstance(ev, f.RenderedEvents):
            out.append(ev.frame("l2_data", "TS", i).decode())
        else:
            out.append(f.dumps(f.envelope("l2_data", "TS", i, ev)))
    return out


def test_oversize_snapshot_is_the_dict_form_byte_for_byte_and_padding_is_removed_in_batches():
    for top, n, pad in (("65000.00", 50, 4_001), ("1.00", 3, 2_000), ("65000.00", 0, 7)):
        ex = Exchange(n, top)
        frames = f.l2_snapshot_frames(ex, "BTC-USD", 1_767_268_800.25, pad)
        assert all(isinstance(fr, f.RenderedEvents) for fr in frames)
        snap, *removals = texts(frames)
        pad_bids, pad_asks = f.l2_padding(ex.bids, ex.asks, pad, D("0.01"))
        when = f.rfc3339(1_767_268_800.25)
        event = f.l2_snapshot_event("BTC-USD", ex.bids + pad_bids, ex.asks + pad_asks, 0.0)
        for u in event["updates"]:
            u["event_time"] = when
        assert snap == f.dumps(f.envelope("l2_data", "TS", 0, [event]))
        assert len(removals) == -(-pad // f.REMOVAL_BATCH)
        removed = [
            (u["side"], u["price_level"], u["new_quantity"])
            for text in removals
            for u in json.loads(text)["events"][0]["updates"]
        ]
        assert removed == [("bid", f.dec(p), "0") for p, _ in pad_bids] + [
            ("offer", f.dec(p), "0") for p, _ in pad_asks
        ]
        assert all(len(json.loads(t)["events"][0]["updates"]) <= f.REMOVAL_BATCH for t in removals)


def test_no_padding_is_the_plain_snapshot():
    ex = Exchange(5, "10.00")
    (only,) = f.l2_snapshot_frames(ex, "X", 1.0, 0)
    assert only == [f.l2_snapshot_event("X", ex.bids, ex.asks, 1.0)]
