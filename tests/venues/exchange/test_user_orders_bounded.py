"""Exchange's user channel: the orders followed from their deltas stay bounded over reconnects.

Exchange sends deltas (received, open, match, done) and no snapshot; the protocol builds each
order's cumulative state and drops it at ``done``. A ``done`` sent while the connection was
down never arrives: the runtime learns the end by REST (the read-back tells the fill
tracker), and the protocol's entry stayed for the whole run — one per order working at each
drop (an audit of unbounded growth). It leaves at the next connection once the tracker has
the order as ended.
"""

from __future__ import annotations

import json
from typing import Any

from botkit.market.requests import Subscription
from botkit.orders.fills import FillTracker
from botkit.venues.exchange.ws_protocol import ExchangeFeedProtocol

PID = "BTC-USD"


def _frame(**frame: Any) -> str:
    return json.dumps(frame)


def test_orders_whose_done_was_lost_while_down_leave_at_the_next_connection() -> None:
    fills = FillTracker()
    p = ExchangeFeedProtocol("user", (Subscription("user", (PID,)),), fills=fills)
    ack = _frame(type="subscriptions", channels=[{"name": "user", "product_ids": [PID]}])
    seq, n = 0, 0
    working: list[str] = []
    p.connection_opened()
    p.receive(ack)
    for _ in range(200):  # 200 reconnects, a market maker's two quotes re-placed between
        for _ in range(5):
            for oid in working:  # the last quotes cancelled
                seq += 1
                p.receive(_frame(
                    type="done", sequence=seq, reason="canceled", price="100",
                    remaining_size="0.001", product_id=PID, order_id=oid, side="buy", user_id="u",
                ))  # fmt: skip
            working = []
            for side, px in (("buy", "99.5"), ("sell", "100.5")):
                oid, n = f"o{n}", n + 1
                base = {"product_id": PID, "order_id": oid, "side": side, "user_id": "u"}
                seq += 1
                p.receive(_frame(type="received", sequence=seq, order_type="limit",
                                 size="0.001", price=px, client_oid=f"c{oid}", **base))  # fmt: skip
                seq += 1
                p.receive(_frame(type="open", sequence=seq, price=px, remaining_size="0.001",
                                 **base))  # fmt: skip
                working.append(oid)
        p.connection_lost("closed")  # the two quotes are cancelled while nothing listens
        ended, working = working, []
        p.connection_opened()
        p.receive(ack)
        for oid in ended:  # the runtime's read-back: REST says CANCELLED
            fills.expect(oid, f"c{oid}", PID, "BUY", "CANCELLED")
        # private on purpose: the memory invariant is the protocol's own map
        assert len(p._orders) <= 2  # (those two, until the next connection)
    assert n == 2000
