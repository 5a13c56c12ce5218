"""The status page: one server-rendered HTML document, no external assets, phone-sized.

Rendered from a :class:`~botkit.monitor.snapshot.BotSnapshot` on every request and
refreshed by the browser (``<meta http-equiv="refresh">``), so it needs no JavaScript
and works from a phone on the same network (through an SSH tunnel, or with a token).
The equity curve is the report's own inline SVG chart (:mod:`botkit.report.svg`).
Everything shown is escaped: product ids, log lines and parameters come from outside.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape

from botkit.monitor.snapshot import BotSnapshot
from botkit.report.svg import Chart, Series, render_chart

__all__ = ["render_status_page"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1000px;padding:8px;color:#1f2328}
h1{font-size:1.3em;margin:.3em 0}h2{font-size:1.05em;margin:1em 0 .3em}
table{border-collapse:collapse;width:100%;font-size:.9em}
td,th{border-bottom:1px solid #d0d7de;padding:3px 6px;text-align:left;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums}
.wrap{overflow-x:auto}.badge{padding:2px 8px;border-radius:10px;color:#fff;font-weight:bold}
.ready,.live{background:#1a7f37}.degraded,.stale,.resyncing,.refused{background:#9a6700}
.down{background:#cf222e}.muted{color:#57606a}svg{max-width:100%;height:auto}
ul{padding-left:1.2em;margin:.3em 0}
"""


def _t(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def _table(head: Sequence[str], rows: Iterable[Sequence[object]], num: set[int]) -> str:
    out = ['<div class="wrap"><table><tr>']
    out += [f"<th>{escape(h)}</th>" for h in head]
    out.append("</tr>")
    n = 0
    for row in rows:
        n += 1
        out.append("<tr>")
        for i, cell in enumerate(row):
            cls = ' class="num"' if i in num else ""
            out.append(f"<td{cls}>{escape(str(cell))}</td>")
        out.append("</tr>")
    if n == 0:
        out.append(f'<tr><td colspan="{len(head)}" class="muted">none</td></tr>')
    out.append("</table></div>")
    return "".join(out)


def render_status_page(s: BotSnapshot, *, refresh: int = 5) -> str:
    """The whole page for ``s``; the browser reloads it every ``refresh`` seconds."""
    h = s.health
    badge = f'<span class="badge {h.verdict}" id="verdict">{h.verdict.upper()}</span>'
    flags = []
    if s.paused:
        flags.append('<span class="badge degraded">PAUSED</span>')
    if s.kill_switch:
        flags.append(f'<span class="badge down">KILL SWITCH: {escape(s.kill_switch_reason)}</span>')
    reasons = "".join(f"<li>{escape(r)}</li>" for r in h.reasons)
    feeds = _table(
        ("product", "state", "last event (s ago)"),
        (
            (
                p,
                s.health.products.get(p, "?"),
                "" if s.feed_lag.get(p) is None else f"{s.feed_lag[p]:.1f}",
            )  # fmt: skip
            for p in s.products
        ),
        {2},
    )
    positions = _table(
        ("product", "position"), ((p, f"{q.normalize():f}") for p, q in s.positions.items()), {1}
    )
    orders = _table(
        ("client_order_id", "product", "side", "status", "filled"),
        (
            (o.client_order_id, o.product_id, o.side, o.status, f"{o.filled_size.normalize():f}")
            for o in s.open_orders
        ),
        {4},
    )
    exits = _table(
        ("exit", "kind", "product", "side", "size", "stop", "take-profit", "status", "how"),
        (
            (
                x.exit_id[:8],
                x.kind,
                x.product_id,
                x.side,
                x.size,
                x.stop or "",
                x.take_profit or "",
                x.status,
                f"⚠ {x.how}" if x.emulated else x.how,
            )
            for x in s.exits
        ),  # fmt: skip
        {4, 5, 6},
    )
    for name, what in s.protections.items():
        flags.append(f'<span class="badge degraded">{escape(name)}: {escape(what)}</span>')
    for what in s.trading.values():
        flags.append(f'<span class="badge degraded">VENUE: {escape(what)}</span>')
    if any(x.emulated for x in s.exits):
        flags.append('<span class="badge degraded">EMULATED EXITS: need the bot running</span>')
    fills = _table(
        ("time (UTC)", "product", "side", "size", "price", "fee"),
        (
            (
                _t(f.time),
                f.product_id,
                f.side,
                f"{f.size.normalize():f}",
                f"{f.price:f}",
                f"{f.fee:f}",
            )  # fmt: skip
            for f in reversed(s.fills)
        ),
        {3, 4, 5},
    )
    risk = _table(
        ("limit", "value"),
        list(s.risk_limits.items()) + [(f"refused: {r}", n) for r, n in s.risk_refusals.items()],
        {1},
    )
    params = _table(("parameter", "value"), ((k, v) for k, v in s.params.items()), set())
    warnings = _table(
        ("time (UTC)", "level", "message"),
        ((_t(w.time), w.level, w.message[:300]) for w in reversed(s.warnings)),
        set(),
    )
    chart = render_chart(
        Chart(
            "Equity" if s.equity is not None else "PnL (quote)",
            [Series(list(s.equity_curve), "#0969da")],
            height=220,
        )  # fmt: skip
    )
    equity = "" if s.equity is None else f' · equity <b id="equity">{s.equity:.2f}</b>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="{refresh}">
<title>botkit · {escape(s.strategy)} · {h.verdict}</title><style>{_CSS}</style></head>
<body>
<h1>botkit {badge} {"".join(flags)}</h1>
<p class="muted">{escape(s.mode)} mode on {escape(s.venue)} · strategy
<b>{escape(s.strategy)}</b> · {_t(s.time)} UTC</p>
{f"<ul id='reasons'>{reasons}</ul>" if reasons else ""}
<p>PnL <b id="pnl">{s.pnl:.2f}</b> (realised {s.realised:.2f}, unrealised
{s.unrealised:.2f}){equity} · orders {s.orders_placed} (rejected {s.orders_rejected})
· fills {s.fills_total}</p>
<div id="equity-chart">{chart}</div>
<h2>Market data</h2><div id="feeds">{feeds}</div>
<h2>Positions</h2><div id="positions">{positions}</div>
<h2>Open orders</h2>{orders}
<h2>Exits</h2><div id="exits">{exits}</div>
<h2>Last fills</h2>{fills}
<h2>Risk</h2>{risk}
<h2>Strategy parameters</h2>{params}
<h2>Recent warnings</h2>{warnings}
</body></html>
"""
