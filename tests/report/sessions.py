"""Hand-built paper journals whose report numbers are worked out by hand in the tests."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from botkit.paper.journal import PaperJournal
from botkit.paper.records import BalanceRecord, EquityPoint, FillRecord, OrderRecord, StateDelta

STRATEGY = '<b>grid & "co"</b>'
T0 = 1_700_000_000.0  # a wall-clock epoch, so the charts label UTC times


def order(
    oid: str,
    side: str,
    otype: str,
    status: str,
    size: str,
    filled: str,
    *,
    price: str | None,
    created: float,
    value: str = "0",
    fees: str = "0",
    post_only: bool = False,
    reason: str = "",
) -> OrderRecord:
    return OrderRecord(
        order_id=oid,
        client_order_id=f"c-{oid}",
        product_id="BTC-USD",
        side=side,
        order_type=otype,
        time_in_force="GOOD_UNTIL_CANCELLED" if otype == "LIMIT" else "IMMEDIATE_OR_CANCEL",
        post_only=post_only,
        status=status,
        limit_price=None if price is None else D(price),
        base_size=D(size),
        filled_size=D(filled),
        filled_value=D(value),
        total_fees=D(fees),
        created_time=T0 + created,
        last_update_time=T0 + created,
        reject_reason=reason,
        state={"id": oid, "queue_ahead": "0.5", "events": [1, 2]},
    )


def fill(
    fid: str, oid: str, side: str, price: str, size: str, fee: str, liq: str, t: float, seq: int
) -> FillRecord:
    return FillRecord(
        fid,
        f"tr-{fid}",
        oid,
        f"c-{oid}",
        "BTC-USD",
        side,
        D(price),
        D(size),
        D(fee),
        liq,
        T0 + t,
        seq,
    )


def bal(cur: str, avail: str, hold: str, t: float) -> BalanceRecord:
    return BalanceRecord(cur, D(avail), D(hold), T0 + t)


EQUITY = [
    (0, "1000"),
    (10, "1000"),
    (20, "1010"),
    (30, "1015"),
    (40, "990"),
    (50, "1005"),
    (60, "1008.13"),
    (80, "1030"),
    (90, "1000"),
    (100, "1020"),
]
MARKS = {
    0: "100",
    10: "100",
    20: "105",
    30: "110",
    40: "98",
    50: "104",
    60: "105",
    80: "116",
    90: "101",
    100: "111",
}


def write_session(path: Path, *, durable: bool = True) -> Path:
    """The session of test_metrics: 5 orders, 4 fills, BTC held from t=15 to t=60 of 0..100."""
    with PaperJournal(path, durable=durable) as j:
        j.write_meta(
            mode="backtest",
            strategy=STRATEGY,
            products=["BTC-USD"],
            quote="USD",
            start_time=T0,
            end_time=T0 + 100,
            initial_balances={"USD": "1000", "BTC": "0"},
            maker_fee_rate="0.004",
            taker_fee_rate="0.006",
            data="session.jsonl.gz",
        )
        o1 = order("o1", "BUY", "LIMIT", "OPEN", "2", "0", price="100", created=10)
        j.save(StateDelta([o1], [], [bal("USD", "800", "200", 10)]), T0 + 10)
        o1a = order(
            "o1", "BUY", "LIMIT", "OPEN", "2", "1", price="100", created=10, value="100", fees="0.4"
        )
        j.save(
            StateDelta(
                [o1a],
                [fill("f1", "o1", "BUY", "100", "1", "0.4", "MAKER", 15, 1)],
                [bal("USD", "800", "99.6", 15), bal("BTC", "1", "0", 15)],
            ),
            T0 + 15,
        )
        o1b = order(
            "o1",
            "BUY",
            "LIMIT",
            "FILLED",
            "2",
            "2",
            price="100",
            created=10,
            value="200",
            fees="0.8",
        )
        j.save(
            StateDelta(
                [o1b],
                [fill("f2", "o1", "BUY", "100", "1", "0.4", "MAKER", 16, 2)],
                [bal("USD", "799.2", "0", 16), bal("BTC", "2", "0", 16)],
            ),
            T0 + 16,
        )
        o2 = order("o2", "SELL", "LIMIT", "OPEN", "2", "0", price="110", created=20)
        j.save(StateDelta([o2], [], [bal("BTC", "0", "2", 20)]), T0 + 20)
        o2a = order(
            "o2",
            "SELL",
            "LIMIT",
            "OPEN",
            "2",
            "1",
            price="110",
            created=20,
            value="110",
            fees="0.44",
        )
        j.save(
            StateDelta(
                [o2a],
                [fill("f3", "o2", "SELL", "110", "1", "0.44", "MAKER", 30, 3)],
                [bal("BTC", "0", "1", 30), bal("USD", "908.76", "0", 30)],
            ),
            T0 + 30,
        )
        o2b = order(
            "o2",
            "SELL",
            "LIMIT",
            "CANCELLED",
            "2",
            "1",
            price="110",
            created=20,
            value="110",
            fees="0.44",
        )
        j.save(StateDelta([o2b], [], [bal("BTC", "1", "0", 50)]), T0 + 50)
        o3 = order(
            "o3",
            "SELL",
            "MARKET",
            "FILLED",
            "1",
            "1",
            price=None,
            created=60,
            value="105",
            fees="0.63",
        )
        j.save(
            StateDelta(
                [o3],
                [fill("f4", "o3", "SELL", "105", "1", "0.63", "TAKER", 60, 4)],
                [bal("BTC", "0", "0", 60), bal("USD", "1013.13", "0", 60)],
            ),
            T0 + 60,
        )
        o4 = order(
            "o4",
            "BUY",
            "LIMIT",
            "FAILED",
            "1",
            "0",
            price="120",
            created=70,
            post_only=True,
            reason="INVALID_LIMIT_PRICE_POST_ONLY",
        )
        o5 = order("o5", "BUY", "LIMIT", "OPEN", "1", "0", price="90", created=80)
        j.save(StateDelta([o4, o5], [], [bal("USD", "923.13", "90", 80)]), T0 + 80)
        for t, e in EQUITY:
            j.record_equity(EquityPoint(T0 + t, D(e), "USD", {"BTC-USD": D(MARKS[t])}))
    return path
