"""The numbers of a paper session's report, computed from its journal (docs/report.md).

:func:`compute` is pure (records in, :class:`Report` out), so every metric can be
checked by hand on a few rows; :func:`build_report` only adds reading the journal.
Money stays ``Decimal`` throughout; only the charts convert to float, for drawing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from botkit.errors import ConfigError
from botkit.paper.records import BalanceRecord, EquityPoint, FillRecord, OrderRecord

__all__ = [
    "Drawdown",
    "LiquidityStats",
    "Report",
    "SIZED_TYPES",
    "build_report",
    "compute",
    "drawdown_series",
    "max_drawdown",
    "time_in_market",
    "unpriced_points",
]

SIZED_TYPES = ("LIMIT", "MARKET")  # the orders the fill ratio is about
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The deepest fall of equity below a running peak: ``pct`` percent, ``amount`` in quote.

    Ranked by percentage (a 10 % fall hurts the same at any account size); ``pct`` is
    None, and the absolute fall decides, only while the peak is not positive.
    """

    amount: Decimal
    pct: Decimal | None
    peak_time: float
    trough_time: float
    peak_equity: Decimal
    trough_equity: Decimal


@dataclass(frozen=True, slots=True)
class LiquidityStats:
    """Fills on one side of the maker/taker split: count, base size, quote volume, fees."""

    fills: int = 0
    size: Decimal = Decimal(0)
    volume: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the HTML/PNG renderers show; ``None`` means "not computable" (no data)."""

    journal: str
    meta: dict[str, Any]
    strategy: str
    quote: str
    products: list[str]
    start_time: float | None
    end_time: float | None
    initial_equity: Decimal | None
    final_equity: Decimal | None
    pnl: Decimal | None
    pnl_pct: Decimal | None
    fees: Decimal
    max_drawdown: Drawdown | None
    orders_by_status: dict[str, int]
    n_orders: int
    n_fills: int
    ordered_size: Decimal
    filled_size: Decimal
    size_fill_ratio: Decimal | None
    orders_considered: int
    orders_with_fill: int
    order_fill_ratio: Decimal | None
    time_in_market: float | None
    maker: LiquidityStats
    taker: LiquidityStats
    orders: list[OrderRecord] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)
    equity: list[EquityPoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    equity_left_out: int = 0  # equity points left out: a held position at a zero mark


def _num(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def max_drawdown(equity: Sequence[EquityPoint]) -> Drawdown | None:
    """Deepest peak-to-trough fall in percent (first one wins ties); zero if equity never fell."""
    if not equity:
        return None
    peak, peak_t = equity[0].equity, equity[0].t
    best = Drawdown(Decimal(0), Decimal(0), peak_t, peak_t, peak, peak)
    best_key: tuple[bool, Decimal] = (False, Decimal(0))
    for point in equity:
        if point.equity > peak:
            peak, peak_t = point.equity, point.t
            continue
        fall = peak - point.equity
        pct = fall / peak * _HUNDRED if peak > 0 else None
        key = (pct is not None, fall if pct is None else pct)
        if fall > 0 and key > best_key:
            best, best_key = Drawdown(fall, pct, peak_t, point.t, peak, point.equity), key
    return best


def drawdown_series(equity: Sequence[EquityPoint]) -> list[tuple[float, float]]:
    """(t, drawdown %) for the chart: 0 at a new peak, negative below it."""
    out: list[tuple[float, float]] = []
    peak: Decimal | None = None
    for point in equity:
        peak = point.equity if peak is None or point.equity > peak else peak
        pct = (point.equity - peak) / peak * _HUNDRED if peak > 0 else Decimal(0)
        out.append((point.t, float(pct)))
    return out


def time_in_market(
    history: Sequence[BalanceRecord],
    bases: set[str],
    initial: dict[str, Decimal],
    start: float,
    end: float,
) -> float | None:
    """Fraction of [start, end] during which any base currency's total was non-zero.

    Positions start at ``initial`` (the configured portfolio) and change at each
    balance-history record of a base currency (records outside the span are clamped).
    """
    if end <= start:
        return None
    position = {c: initial.get(c, Decimal(0)) for c in bases}
    inside = 0.0
    cursor = start
    for rec in sorted((r for r in history if r.currency in bases), key=lambda r: r.time):
        t = min(max(rec.time, start), end)
        if any(position.values()):
            inside += t - cursor
        cursor = t
        position[rec.currency] = rec.available + rec.hold
    if any(position.values()):
        inside += end - cursor
    return inside / (end - start)


def unpriced_points(
    equity: Sequence[EquityPoint],
    history: Sequence[BalanceRecord],
    initial: dict[str, Decimal],
    quote: str,
) -> list[EquityPoint]:
    """The points that valued a held currency at a zero mark: a price not known yet.

    Journals written before the paper broker waited for prices have them (the first point
    after a restart, before the first book). Such a point's equity leaves the position
    out, a fall that never happened. The holdings at a point are ``initial`` (the
    configured portfolio) changed by every balance-history record up to its time. A zero
    mark of a product nothing was held in is harmless (its equity is right) and does not
    count; nor does a product that does not pair a currency with ``quote``.
    """
    held = dict(initial)
    changes = sorted(history, key=lambda r: r.time)
    i = 0
    out: list[EquityPoint] = []
    for point in equity:
        while i < len(changes) and changes[i].time <= point.t:
            held[changes[i].currency] = changes[i].available + changes[i].hold
            i += 1
        for product, mark in point.marks.items():
            base, _, other = product.partition("-")
            currency = base if other == quote else other if base == quote else None
            if mark <= 0 and currency is not None and held.get(currency, Decimal(0)):
                out.append(point)
                break
    return out


def _liquidity(fills: Sequence[FillRecord], kind: str) -> LiquidityStats:
    mine = [f for f in fills if f.liquidity.upper() == kind]
    return LiquidityStats(
        fills=len(mine),
        size=sum((f.size for f in mine), Decimal(0)),
        volume=sum((f.price * f.size for f in mine), Decimal(0)),
        fees=sum((f.fee for f in mine), Decimal(0)),
    )


def _products(meta: dict[str, Any], orders: Sequence[OrderRecord], fills: Sequence[FillRecord],
              equity: Sequence[EquityPoint]) -> list[str]:  # fmt: skip
    listed = meta.get("products")
    seen: list[str] = [str(p) for p in listed] if isinstance(listed, list) else []
    extra = {o.product_id for o in orders} | {f.product_id for f in fills}
    for point in equity:
        extra |= set(point.marks)
    return seen + sorted(extra - set(seen))


def _span(meta: dict[str, Any], times: list[float]) -> tuple[float | None, float | None]:
    start, end = _num(meta.get("start_time")), _num(meta.get("end_time"))
    if start is None and times:
        start = min(times)
    if end is None and times:
        end = max(times)
    return start, end


def compute(
    *,
    journal: str,
    meta: dict[str, Any],
    orders: Sequence[OrderRecord],
    fills: Sequence[FillRecord],
    history: Sequence[BalanceRecord],
    equity: Sequence[EquityPoint],
    last_save_time: float | None = None,
) -> Report:
    """Every metric of the report, from the journal's records (see docs/report.md)."""
    notes: list[str] = []
    products = _products(meta, orders, fills, equity)
    quote = str(meta.get("quote") or (equity[0].quote if equity else "")
                or (products[0].split("-")[-1] if products else ""))  # fmt: skip
    times = [p.t for p in equity] + [r.time for r in history] + [f.time for f in fills]
    times += [o.created_time for o in orders] + [o.last_update_time for o in orders]
    if last_save_time is not None:
        times.append(last_save_time)
    start, end = _span(meta, times)

    portfolio = meta.get("initial_balances", meta.get("initial_portfolio"))
    held: dict[str, Decimal] = {}
    if isinstance(portfolio, dict):
        held = {str(k): Decimal(str(v)) for k, v in portfolio.items()}
    bad = unpriced_points(equity, history, held, quote)
    if bad:
        left_out = {id(p) for p in bad}
        equity = [p for p in equity if id(p) not in left_out]
        notes.append(
            f"{len(bad)} equity point(s) valued a held position at a zero mark (no price "
            "known yet, as right after a restart, in a journal of an older botkit) and are "
            "left out of the curve, PnL and drawdown."
        )

    initial = final = pnl = pnl_pct = None
    if equity:
        initial, final = equity[0].equity, equity[-1].equity
        pnl = final - initial
        pnl_pct = pnl / initial * _HUNDRED if initial else None
    else:
        notes.append("No equity points were recorded: no equity curve, PnL or drawdown.")
    if not fills:
        notes.append("No fills in this session: no trade happened, so PnL comes from marks only.")

    considered = [o for o in orders if o.order_type.upper() in SIZED_TYPES
                  and o.status.upper() != "FAILED"]  # fmt: skip
    sized = [o for o in considered if o.base_size > 0]
    ordered = sum((o.base_size for o in sized), Decimal(0))
    filled = sum((o.filled_size for o in sized), Decimal(0))
    filled_ids = {f.order_id for f in fills}
    with_fill = sum(1 for o in considered if o.filled_size > 0 or o.order_id in filled_ids)

    bases = {p.split("-")[0] for p in products if "-" in p} - {quote}
    initial_pos = {k: v for k, v in held.items() if k in bases}
    tim = None
    if start is not None and end is not None:
        tim = time_in_market(history, bases, initial_pos, start, end)

    return Report(
        journal=journal,
        meta=dict(meta),
        strategy=str(meta.get("strategy") or "(unnamed strategy)"),
        quote=quote,
        products=products,
        start_time=start,
        end_time=end,
        initial_equity=initial,
        final_equity=final,
        pnl=pnl,
        pnl_pct=pnl_pct,
        fees=sum((f.fee for f in fills), Decimal(0)),
        max_drawdown=max_drawdown(equity),
        orders_by_status=dict(sorted(Counter(o.status for o in orders).items())),
        n_orders=len(orders),
        n_fills=len(fills),
        ordered_size=ordered,
        filled_size=filled,
        size_fill_ratio=filled / ordered if ordered > 0 else None,
        orders_considered=len(considered),
        orders_with_fill=with_fill,
        order_fill_ratio=Decimal(with_fill) / len(considered) if considered else None,
        time_in_market=tim,
        maker=_liquidity(fills, "MAKER"),
        taker=_liquidity(fills, "TAKER"),
        orders=list(orders),
        fills=list(fills),
        equity=list(equity),
        notes=notes,
        equity_left_out=len(bad),
    )


def build_report(journal_path: Path) -> Report:
    """Read a paper journal (read-only; fine while its session runs) and compute its report.

    Raises:
        ConfigError: the file is missing or is not a botkit paper journal (the message
            says which file to pass instead).
    """
    from botkit.paper.journal import PaperJournal

    _refuse_order_journal(Path(journal_path))
    with PaperJournal(Path(journal_path), readonly=True) as journal:
        return compute(
            journal=Path(journal_path).name,
            meta=journal.meta(),
            orders=journal.orders(),
            fills=journal.fills(),
            history=journal.balance_history(),
            equity=journal.equity(),
            last_save_time=journal.last_save_time(),
        )


def _refuse_order_journal(path: Path) -> None:
    """Say what to do with the order journal of a sim or live run.

    ``botkit run`` (sim mode, the default) leaves ``botkit-data/sim/journal.sqlite``: the
    file a newcomer tries first. It holds order intents, not an account, so there is
    nothing to report; the way to a report of an offline rehearsal is paper mode on the
    simulator, or a backtest.
    """
    import sqlite3

    if not path.is_file():
        return  # PaperJournal says "no such journal file"
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return  # not SQLite, or unreadable: PaperJournal explains
    if "intents" in tables:
        raise ConfigError(
            f"{path} is the order journal of a sim or live run (order intents, no account "
            "to report); botkit report reads the paper.sqlite of a paper session or of a "
            'backtest. Offline: put [paper] source = "sim" in bot.toml, run '
            "'botkit run --mode paper --config bot.toml', then "
            "'botkit report botkit-data/paper/paper.sqlite'; or record a session "
            "('botkit record --source sim --products BTC-USD --duration 60 --out rec.jsonl.gz') "
            "and backtest it ('botkit backtest --data rec.jsonl.gz --report report.html')"
        )
