"""The report as ONE self-contained HTML file (inline CSS and SVG, no script, no URL).

A report is something people mail, attach to an issue, or open years later, so it
must not depend on a CDN, a web font or JavaScript. Every piece of text that came
from the journal (strategy names, ids, reasons) goes through :func:`html.escape`.
The output is deterministic: the same journal gives the same bytes (no "generated
at" timestamp), so a report can be diffed like the journal it came from.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from pathlib import Path

from botkit import __version__
from botkit.report.analytics import Analytics, analyse
from botkit.report.metrics import SIZED_TYPES as SIZED
from botkit.report.metrics import Report, drawdown_series
from botkit.report.svg import Chart, Marker, Series, render_chart

__all__ = [
    "CSS",
    "MAX_TABLE_ROWS",
    "analytics_rows",
    "charts",
    "render_html",
    "render_svg",
    "summary_rows",
    "table",
    "write_html",
]

MAX_TABLE_ROWS = 2000  # per table; the rest stays in the journal (first and last halves shown)
EQUITY_COLOUR, DRAWDOWN_COLOUR, PRICE_COLOUR = "#0969da", "#cf222e", "#6e7781"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328;
max-width:1000px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#57606a;margin:0 0 12px}.note{background:#fff8c5;border:1px solid #d4a72c;
padding:8px 12px;border-radius:6px;margin:8px 0}
table{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}
td,th{border-bottom:1px solid #d0d7de;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f6f8fa}td.l,th.l{text-align:left}.stats td{text-align:left}
.stats td:first-child{color:#57606a}.buy{color:#1a7f37}.sell{color:#cf222e}
.gap td{text-align:center;color:#57606a}
svg{max-width:100%;height:auto;display:block;margin:6px 0}
.wrap{overflow-x:auto}footer{margin-top:32px;color:#57606a;font-size:12px}
"""


def _d(value: Decimal | None, places: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:,.{places}f}{suffix}"


def _t(t: float | None) -> str:
    if t is None:
        return "–"
    if t >= 1e9:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"t={t:g}s"


def summary_rows(r: Report) -> list[tuple[str, str]]:
    """(label, value) pairs of the summary table, also used by the PNG header."""
    q = f" {r.quote}" if r.quote else ""
    dd = r.max_drawdown
    dd_text = "–" if dd is None else (
        f"{_d(dd.pct, 2, '%')} ({_d(dd.amount)}{q}) from {_t(dd.peak_time)} "
        f"to {_t(dd.trough_time)}")  # fmt: skip
    span = None if r.start_time is None or r.end_time is None else r.end_time - r.start_time
    fr = r.size_fill_ratio
    ofr = r.order_fill_ratio
    # exits' orders (a bracket the exchange attached to an entry, a stop-limit): in the
    # orders row, named, but not in the fill ratios (a stop that never triggered is not
    # an order that failed to fill); a backtest's "orders placed" line counts neither
    exits = Counter(o.order_type.lower() for o in r.orders if o.order_type.upper() not in SIZED)
    exit_text = (
        f"; {sum(exits.values())} exit orders: " + ", ".join(f"{k} {v}" for k, v in exits.items())
        if exits
        else ""
    )
    which = "limit and market orders" if exits else "orders"
    return [
        ("final equity", _d(r.final_equity) + q),
        ("initial equity", _d(r.initial_equity) + q),
        ("PnL", f"{_d(r.pnl)}{q} ({_d(r.pnl_pct, 2, '%')})"),
        ("fees", _d(r.fees, 2) + q),
        ("max drawdown", dd_text),
        (
            "orders",
            f"{r.n_orders}"
            + (
                " ("
                + ", ".join(f"{k.lower()} {v}" for k, v in r.orders_by_status.items())
                + exit_text
                + ")"
                if r.orders_by_status
                else ""
            ),
        ),  # fmt: skip
        ("fills", str(r.n_fills)),
        (
            "fill ratio (size)",
            f"{_d(None if fr is None else fr * 100, 1, '%')} "
            f"({r.filled_size} of {r.ordered_size} base ordered"
            + (f" by {which})" if exits else ")"),
        ),  # fmt: skip
        (
            "fill ratio (orders)",
            f"{_d(None if ofr is None else ofr * 100, 1, '%')} "
            f"({r.orders_with_fill} of {r.orders_considered} {which} had a fill)",
        ),  # fmt: skip
        ("time in market", "–" if r.time_in_market is None else f"{r.time_in_market:.1%}"),
        ("maker / taker fills", f"{r.maker.fills} / {r.taker.fills}"),
        ("maker / taker volume", f"{_d(r.maker.volume)} / {_d(r.taker.volume)}{q}"),
        ("maker / taker fees", f"{_d(r.maker.fees)} / {_d(r.taker.fees)}{q}"),
        (
            "session",
            f"{_t(r.start_time)} → {_t(r.end_time)}"
            + ("" if span is None else f" ({span:,.0f} s)"),
        ),  # fmt: skip
    ]


def charts(r: Report) -> list[Chart]:
    """Equity, drawdown, then one price chart per product with its fills marked."""
    out: list[Chart] = []
    q = f" ({r.quote})" if r.quote else ""
    if r.equity:
        eq = [(p.t, float(p.equity)) for p in r.equity]
        out.append(Chart(f"Equity{q}", [Series(eq, EQUITY_COLOUR)]))
        out.append(Chart("Drawdown from peak (%)",
                         [Series(drawdown_series(r.equity), DRAWDOWN_COLOUR, area_to=0.0)],
                         height=180, y_suffix="%"))  # fmt: skip
    prices: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for p in r.equity:
        for product, mark in p.marks.items():
            if mark > 0:  # zero: no price yet (older journals recorded it), not a price
                prices[product].append((p.t, float(mark)))
    fills: dict[str, list[Marker]] = defaultdict(list)
    for f in r.fills:
        title = f"{f.side} {f.size} @ {f.price} ({f.liquidity})"
        fills[f.product_id].append(Marker(f.time, float(f.price), f.side, title))
    for product in r.products:
        if product not in prices and product not in fills:
            continue
        series = [Series(prices.get(product, []), PRICE_COLOUR, "mid")]
        n_buy = sum(1 for m in fills.get(product, []) if m.side.upper() == "BUY")
        n_sell = len(fills.get(product, [])) - n_buy
        out.append(Chart(f"{product} price, {n_buy} buy / {n_sell} sell fills", series,
                         markers=fills.get(product, [])))  # fmt: skip
    return out


def analytics(r: Report) -> Analytics:
    """The per-trade analytics of a report (:mod:`botkit.report.analytics`)."""
    curve = [(p.t, float(p.equity)) for p in r.equity]
    return analyse(r.fills, curve, start=r.start_time, end=r.end_time)


def _ratio(v: float | None, fmt: str = ".2f") -> str:
    return "–" if v is None else format(v, fmt)


def analytics_rows(a: Analytics) -> list[tuple[str, str]]:
    """(label, value) pairs of the "Trades" table."""
    dur = a.max_drawdown_duration
    return [
        ("round trips", f"{a.closed_trades} closed, {len(a.trades) - a.closed_trades} open"),
        ("win rate", _ratio(a.win_rate, ".1%")),
        ("profit factor", _ratio(a.profit_factor)),
        (f"Sharpe (per {a.period:,.0f} s, annualised)", _ratio(a.sharpe)),
        ("Sortino", _ratio(a.sortino)),
        ("Calmar", _ratio(a.calmar)),
        ("exposure", _ratio(a.exposure, ".1%")),
        ("max drawdown", _ratio(a.max_drawdown, ".2%")),
        ("max drawdown duration", "–" if dur is None else f"{dur:,.0f} s"),
    ]


def _trades_table(a: Analytics) -> str:
    head = ["entry", "exit", "product", "direction", "size", "entry price", "exit price",
            "PnL", "fees", "fills"]  # fmt: skip
    rows = [[_t(t.entry_time), _t(t.exit_time) if t.closed else "open", t.product_id,
             t.direction, str(t.size), f"{t.entry_price:.8g}",
             "" if t.exit_price is None else f"{t.exit_price:.8g}", f"{t.pnl:.2f}",
             f"{t.fees:.2f}", str(t.fills)] for t in a.trades]  # fmt: skip
    return _table(head, rows, {2, 3})


def table(head: Sequence[str], rows: Sequence[Sequence[str]], left: set[int]) -> str:
    """An HTML table in the report's style (``left``: the left-aligned columns)."""
    return _table(head, rows, left)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], left: set[int]) -> str:
    """An HTML table; rows beyond MAX_TABLE_ROWS are elided in the middle."""
    cls = [' class="l"' if i in left else "" for i in range(len(head))]
    out = ['<div class="wrap"><table><tr>']
    out += [f"<th{c}>{escape(h)}</th>" for h, c in zip(head, cls, strict=True)]
    out.append("</tr>")
    shown: list[Sequence[str] | None] = list(rows)
    if len(rows) > MAX_TABLE_ROWS:
        half = MAX_TABLE_ROWS // 2
        shown = [*rows[:half], None, *rows[-half:]]
    for row in shown:
        if row is None:
            omitted = len(rows) - 2 * (MAX_TABLE_ROWS // 2)
            out.append(f'<tr class="gap"><td colspan="{len(head)}">… {omitted} rows not shown '
                       "(all are in the journal) …</td></tr>")  # fmt: skip
            continue
        cells = (
            f'<td class="l {v.lower()}">{v}</td>' if v in ("BUY", "SELL") else
            f"<td{c}>{escape(v)}</td>" for v, c in zip(row, cls, strict=True)
        )  # fmt: skip
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table></div>")
    return "".join(out)


def _orders_table(r: Report) -> str:
    head = ["created", "order id", "product", "side", "type", "status", "limit", "size",
            "filled", "avg price", "fees", "reason"]  # fmt: skip
    rows = []
    for o in r.orders:
        avg = o.filled_value / o.filled_size if o.filled_size else None
        rows.append([_t(o.created_time), o.order_id, o.product_id, o.side,
                     o.order_type + (" post-only" if o.post_only else ""), o.status,
                     "" if o.limit_price is None else str(o.limit_price), str(o.base_size),
                     str(o.filled_size), "" if avg is None else f"{avg:.8g}", str(o.total_fees),
                     o.reject_reason or o.cancel_reason])  # fmt: skip
    return _table(head, rows, {1, 2, 3, 4, 5, 11})


def _fills_table(r: Report) -> str:
    head = ["#", "time", "product", "side", "price", "size", "fee", "liquidity", "order id",
            "trade id"]  # fmt: skip
    rows = [[str(f.seq), _t(f.time), f.product_id, f.side, str(f.price), str(f.size),
             str(f.fee), f.liquidity, f.order_id, f.trade_id] for f in r.fills]  # fmt: skip
    return _table(head, rows, {2, 3, 7, 8, 9})


def _meta_value(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def render_html(r: Report) -> str:
    """The whole report page as a string."""
    mode = str(r.meta.get("mode") or "paper")
    sub = " · ".join(x for x in (mode, ", ".join(r.products), r.quote, r.journal) if x)
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>botkit report: {escape(r.strategy)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(mode.capitalize())} session report: {escape(r.strategy)}</h1>",
        f'<p class="sub">{escape(sub)}</p>',
    ]
    parts += [f'<p class="note">{escape(n)}</p>' for n in r.notes]
    stats = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>"
                    for k, v in summary_rows(r))  # fmt: skip
    parts.append(f'<h2>Summary</h2><table class="stats">{stats}</table>')
    a = analytics(r)
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>"
                   for k, v in analytics_rows(a))  # fmt: skip
    parts.append(f'<h2>Trades</h2><table class="stats">{rows}</table>')
    parts.append(_trades_table(a) if a.trades else "<p>No round trips.</p>")
    parts.append("<h2>Charts</h2>")
    parts += [render_chart(c) for c in charts(r)] or ['<p class="note">Nothing to chart.</p>']
    parts.append(f"<h2>Orders ({r.n_orders})</h2>")
    parts.append(_orders_table(r) if r.orders else "<p>No orders.</p>")
    parts.append(f"<h2>Fills ({r.n_fills})</h2>")
    parts.append(_fills_table(r) if r.fills else "<p>No fills.</p>")
    meta_rows = [[k, _meta_value(v)] for k, v in sorted(r.meta.items())]
    parts.append("<h2>Session settings</h2>")
    parts.append(_table(["key", "value"], meta_rows, {0, 1}) if meta_rows else "<p>None.</p>")
    parts.append(f"<footer>botkit {escape(__version__)} · report of {escape(r.journal)}</footer>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_html(report: Report, out: Path) -> Path:
    """Write the report page to ``out`` (parents created); returns ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    return out


def render_svg(r: Report) -> tuple[str, int, int]:
    """One standalone SVG (title, key numbers, all charts stacked) for PNG rasterizers."""
    width, y = 960, 0
    head = [
        f'<text x="16" y="30" font-size="20" font-weight="bold">'
        f"{escape(r.strategy)}: {escape(str(r.meta.get('mode') or 'paper'))} session</text>"
    ]
    y = 44
    for k, v in summary_rows(r)[:7] + summary_rows(r)[9:10]:
        y += 18
        head.append(f'<text x="16" y="{y}" font-size="13"><tspan fill="#57606a">{escape(k)}:'
                    f"</tspan> {escape(v)}</text>")  # fmt: skip
    for note in r.notes:
        y += 18
        head.append(f'<text x="16" y="{y}" font-size="13" fill="#9a6700">{escape(note)}</text>')
    y += 14
    body = []
    for chart in charts(r):
        body.append(render_chart(chart, standalone=True, x=0, y=y))
        y += chart.height + 8
    height = y + 8
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif">'
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>'
           + "".join(head) + "".join(body) + "</svg>")  # fmt: skip
    return svg, width, height
