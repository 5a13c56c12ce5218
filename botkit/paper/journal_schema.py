"""Pure ring: the paper journal's on-disk format, apart from the code that opens the file.

Why a module of its own: the format (table layout, the file's identity, the meta keys,
and how a record becomes a row and back) is one fact that both sides of
:class:`~botkit.paper.journal.PaperJournal` must agree on. The writer turns a
:class:`~botkit.paper.records.StateDelta` into rows and the readers turn rows back into
records, so the two codecs sit together here and a column added to one is visibly
missing from the other. Keeping it free of ``sqlite3``, files, locks and clocks lets
it stay in the pure ring: it is plain data and plain functions, testable without a
database, and :mod:`botkit.paper.journal` keeps only the adapter work (the
connection, the writer lock, transactions and error mapping).

Every codec is deterministic: no wall-clock time, random id or pid enters a row, and
JSON is canonical (sorted keys, no spaces, Decimals as exact strings), so the same
calls always give the same rows.

Schema (version 1)::

    meta(key TEXT PK, value TEXT)                   JSON values (Decimal -> string)
    orders(seq INTEGER PK, order_id TEXT UNIQUE, client_order_id, product_id, side,
           order_type, time_in_force, post_only INTEGER, status, limit_price TEXT NULL,
           base_size TEXT, filled_size TEXT, filled_value TEXT, total_fees TEXT,
           created_time REAL, last_update_time REAL, reject_reason, cancel_reason,
           state TEXT)                              state = the exchange's JSON dump
    fills(fill_id TEXT PK, seq INTEGER, trade_id, order_id, client_order_id, product_id,
          side, price TEXT, size TEXT, fee TEXT, liquidity, time REAL)
    balances(currency TEXT PK, available TEXT, hold TEXT, time REAL)
    balance_history(id INTEGER PK, currency, available TEXT, hold TEXT, total TEXT, time REAL)
    equity(id INTEGER PK, t REAL, equity TEXT, quote TEXT, marks TEXT)   marks: JSON
    progress(id INTEGER PK CHECK (id = 1), last_save_t REAL, saves INTEGER)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from botkit.paper.records import BalanceRecord, EquityPoint, FillRecord, OrderRecord

__all__ = [
    "APPLICATION_ID",
    "DUMP_ORDER",
    "FILL_COLS",
    "META_KEYS",
    "ORDER_COLS",
    "ORDER_UPDATE",
    "SCHEMA",
    "SCHEMA_VERSION",
    "TABLES",
    "BalanceRow",
    "EquityRow",
    "FillRow",
    "OrderRow",
    "balance_from_row",
    "balance_to_row",
    "equity_from_row",
    "equity_to_row",
    "fill_from_row",
    "fill_to_row",
    "order_from_row",
    "order_to_row",
    "to_json",
]

APPLICATION_ID = 0x626B706A  # "bkpj": botkit paper journal
SCHEMA_VERSION = 1
#: The meta keys botkit writes and the report reads (others are kept and shown as they are).
META_KEYS = (
    "mode",  # "paper" | "backtest"
    "strategy",  # strategy name (shown in the report title)
    "products",  # list of product ids
    "quote",  # quote currency of the equity curve, e.g. "USD"
    "maker_fee_rate",  # fee tier, e.g. "0.004"
    "taker_fee_rate",
    "start_time",  # session start, epoch seconds (virtual time in a backtest)
    "end_time",  # session end, when it stopped cleanly (optional)
    "data",  # the recording a backtest replayed
    "initial_balances",  # the configured portfolio, {"USD": "10000", "BTC": "0"}
)

#: The DDL of a new journal, statements separated by ``;``.
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE orders (
    seq INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL UNIQUE,
    client_order_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    side TEXT NOT NULL,
    order_type TEXT NOT NULL,
    time_in_force TEXT NOT NULL,
    post_only INTEGER NOT NULL,
    status TEXT NOT NULL,
    limit_price TEXT,
    base_size TEXT NOT NULL,
    filled_size TEXT NOT NULL,
    filled_value TEXT NOT NULL,
    total_fees TEXT NOT NULL,
    created_time REAL NOT NULL,
    last_update_time REAL NOT NULL,
    reject_reason TEXT NOT NULL,
    cancel_reason TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE fills (
    fill_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    trade_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    side TEXT NOT NULL,
    price TEXT NOT NULL,
    size TEXT NOT NULL,
    fee TEXT NOT NULL,
    liquidity TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE INDEX fills_seq ON fills(seq);
CREATE TABLE balances (
    currency TEXT PRIMARY KEY, available TEXT NOT NULL, hold TEXT NOT NULL, time REAL NOT NULL
);
CREATE TABLE balance_history (
    id INTEGER PRIMARY KEY, currency TEXT NOT NULL, available TEXT NOT NULL,
    hold TEXT NOT NULL, total TEXT NOT NULL, time REAL NOT NULL
);
CREATE TABLE equity (
    id INTEGER PRIMARY KEY, t REAL NOT NULL, equity TEXT NOT NULL, quote TEXT NOT NULL,
    marks TEXT NOT NULL
);
CREATE TABLE progress (
    id INTEGER PRIMARY KEY CHECK (id = 1), last_save_t REAL NOT NULL, saves INTEGER NOT NULL
);
"""
#: Every table, in the order :meth:`~botkit.paper.journal.PaperJournal.dump` renders them.
TABLES = ("meta", "orders", "fills", "balances", "balance_history", "equity", "progress")
#: The ``orders`` columns :func:`order_to_row` and :func:`order_from_row` use, in that order.
ORDER_COLS = (
    "order_id, client_order_id, product_id, side, order_type, time_in_force, post_only, status, "
    "limit_price, base_size, filled_size, filled_value, total_fees, created_time, "
    "last_update_time, reject_reason, cancel_reason, state"
)
#: The ``SET`` clause of the order upsert: every column but the ``order_id`` key.
ORDER_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in ORDER_COLS.replace(" ", "").split(",")[1:])
#: The ``fills`` columns :func:`fill_to_row` and :func:`fill_from_row` use, in that order.
FILL_COLS = (
    "fill_id, trade_id, order_id, client_order_id, product_id, side, price, size, fee, "
    "liquidity, time, seq"
)
#: Canonical order of every table, for readers and dump().
DUMP_ORDER = {
    "meta": "key",
    "orders": "seq",
    "fills": "seq, fill_id",
    "balances": "currency",
    "balance_history": "id",
    "equity": "id",
    "progress": "id",
}

#: One ``orders`` row in :data:`ORDER_COLS` order.
OrderRow = tuple[
    str, str, str, str, str, str, int, str, str | None, str, str, str, str, float, float,
    str, str, str,
]  # fmt: skip
#: One ``fills`` row in :data:`FILL_COLS` order.
FillRow = tuple[str, str, str, str, str, str, str, str, str, str, float, int]
#: One ``balances`` row: currency, available, hold, time.
BalanceRow = tuple[str, str, str, float]
#: One ``equity`` row (without its id): t, equity, quote, marks as JSON.
EquityRow = tuple[float, str, str, str]


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"not JSON-serialisable in a paper journal: {type(value).__name__}")


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_json_default)
"""What ``json.dumps(value, sort_keys=True, separators=(",", ":"), default=...)`` builds on
every call (keeps no state between encodes): made once, since a replay journals an
equity point every second of market time and every order change (~0.8 us a call)."""


def to_json(value: object) -> str:
    """Canonical JSON (sorted keys, no spaces), Decimals as exact strings."""
    return _CANONICAL.encode(value)


def _dec(value: object) -> Decimal:
    return Decimal(str(value))


# ---------------------------------------------------------------------- record -> row


def order_to_row(o: OrderRecord) -> OrderRow:
    """An order as its ``orders`` row (Decimals as exact strings, state as canonical JSON)."""
    return (
        o.order_id, o.client_order_id, o.product_id, o.side, o.order_type,
        o.time_in_force, int(o.post_only), o.status,
        None if o.limit_price is None else str(o.limit_price), str(o.base_size),
        str(o.filled_size), str(o.filled_value), str(o.total_fees), float(o.created_time),
        float(o.last_update_time), o.reject_reason, o.cancel_reason, to_json(o.state),
    )  # fmt: skip


def fill_to_row(f: FillRecord) -> FillRow:
    """A fill as its ``fills`` row."""
    return (
        f.fill_id, f.trade_id, f.order_id, f.client_order_id, f.product_id, f.side,
        str(f.price), str(f.size), str(f.fee), f.liquidity, float(f.time), int(f.seq),
    )  # fmt: skip


def balance_to_row(b: BalanceRecord) -> BalanceRow:
    """A balance as its ``balances`` row."""
    return (b.currency, str(b.available), str(b.hold), float(b.time))


def equity_to_row(point: EquityPoint) -> EquityRow:
    """An equity point as its ``equity`` row (marks as canonical JSON of exact strings)."""
    marks = {k: str(v) for k, v in point.marks.items()}
    return (float(point.t), str(point.equity), point.quote, to_json(marks))


# ---------------------------------------------------------------------- row -> record


def order_from_row(r: Sequence[Any]) -> OrderRecord:
    """The order in a row selected as :data:`ORDER_COLS`."""
    return OrderRecord(
        order_id=r[0], client_order_id=r[1], product_id=r[2], side=r[3],
        order_type=r[4], time_in_force=r[5], post_only=bool(r[6]), status=r[7],
        limit_price=None if r[8] is None else Decimal(r[8]), base_size=Decimal(r[9]),
        filled_size=Decimal(r[10]), filled_value=Decimal(r[11]),
        total_fees=Decimal(r[12]), created_time=float(r[13]),
        last_update_time=float(r[14]), reject_reason=r[15], cancel_reason=r[16],
        state=json.loads(r[17]),
    )  # fmt: skip


def fill_from_row(r: Sequence[Any]) -> FillRecord:
    """The fill in a row selected as :data:`FILL_COLS`."""
    return FillRecord(
        fill_id=r[0], trade_id=r[1], order_id=r[2], client_order_id=r[3],
        product_id=r[4], side=r[5], price=Decimal(r[6]), size=Decimal(r[7]),
        fee=Decimal(r[8]), liquidity=r[9], time=float(r[10]), seq=int(r[11]),
    )  # fmt: skip


def balance_from_row(r: Sequence[Any]) -> BalanceRecord:
    """The balance in a row selected as ``currency, available, hold, time``."""
    return BalanceRecord(r[0], Decimal(r[1]), Decimal(r[2]), float(r[3]))


def equity_from_row(r: Sequence[Any]) -> EquityPoint:
    """The equity point in a row selected as ``t, equity, quote, marks``."""
    t, e, q, m = r
    return EquityPoint(float(t), Decimal(e), q, {k: _dec(v) for k, v in json.loads(m).items()})
