"""The HTML report: well-formed inline SVG inside its viewBox, tables, no URLs, escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal as D
from html.parser import HTMLParser
from pathlib import Path

import pytest

from botkit.paper.journal import PaperJournal
from botkit.paper.records import EquityPoint, FillRecord, StateDelta
from botkit.report import build_report, render_html, write_html
from botkit.report.html import MAX_TABLE_ROWS
from botkit.report.metrics import compute
from botkit.report.svg import MAX_POINTS, downsample, nice_ticks
from tests.report.sessions import T0, order, write_session

VOID = {"meta", "br", "img", "hr", "input", "link", "area", "base", "col", "source", "wbr"}
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class _Balanced(HTMLParser):
    """Checks that every non-void HTML element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # <polyline .../> inside SVG

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def _svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", html, flags=re.DOTALL)]


def _check_inside_viewbox(svg: ET.Element) -> int:
    """Every polyline/polygon point and path coordinate lies in the viewBox; returns points."""
    x0, y0, w, h = (float(v) for v in svg.attrib["viewBox"].split())
    n = 0
    for el in svg.iter():
        coords: list[float] = []
        if el.tag in ("polyline", "polygon"):
            coords = [float(v) for v in NUMBER.findall(el.attrib["points"])]
        elif el.tag == "path":
            coords = [float(v) for v in NUMBER.findall(el.attrib["d"])]
        for x, y in zip(coords[::2], coords[1::2], strict=True):
            assert x0 <= x <= x0 + w and y0 <= y <= y0 + h, (el.tag, x, y, w, h)
            n += 1
    return n


@pytest.fixture
def html(tmp_path: Path) -> str:
    report = build_report(write_session(tmp_path / "session.sqlite"))
    out = write_html(report, tmp_path / "out" / "report.html")
    return out.read_text(encoding="utf-8")


def test_svg_charts_are_well_formed_and_inside_their_viewbox(html: str) -> None:
    svgs = _svgs(html)
    titles = [svg.findtext("title") for svg in svgs]
    assert titles == ["Equity (USD)", "Drawdown from peak (%)",
                      "BTC-USD price, 2 buy / 2 sell fills"]  # fmt: skip
    for svg in svgs:
        assert svg.find("polyline") is not None
        assert _check_inside_viewbox(svg) >= 10
        assert len(svg.findall("text")) >= 5  # title + tick labels
    equity = svgs[0].find("polyline")
    assert equity is not None and len(equity.attrib["points"].split()) == 10  # 10 points
    price = svgs[2]
    assert len(price.findall("path[@class='buy']")) == 2
    assert len(price.findall("path[@class='sell']")) == 2
    assert price.find("path[@class='buy']/title") is not None  # a tooltip per fill


def test_tables_summary_and_structure(html: str) -> None:
    parser = _Balanced()
    parser.feed(html)
    assert parser.errors == [] and parser.stack == []
    assert html.startswith("<!DOCTYPE html>")
    assert "<h2>Orders (5)</h2>" in html and "<h2>Fills (4)</h2>" in html
    for oid in ("o1", "o2", "o3", "o4", "o5"):
        assert f'<td class="l">{oid}</td>' in html
    for trade in ("tr-f1", "tr-f2", "tr-f3", "tr-f4"):
        assert f'<td class="l">{trade}</td>' in html
    assert "INVALID_LIMIT_PRICE_POST_ONLY" in html and "LIMIT post-only" in html
    for text in ("20.00 USD (2.00%)", "1.87 USD", "2.91% (30.00 USD)", "45.0%",
                 "66.7% (4 of 6 base ordered)", "75.0% (3 of 4 orders had a fill)",
                 "cancelled 1, failed 1, filled 2, open 1", "3 / 1"):  # fmt: skip
        assert text in html, text


def test_self_contained_no_urls_no_script(html: str) -> None:
    lowered = html.lower()
    for bad in ("http:", "https:", "<script", "src=", "href=", "@import", "url(", "<link"):
        assert bad not in lowered, bad


def test_text_from_the_journal_is_escaped(html: str) -> None:
    assert "&lt;b&gt;grid &amp; &quot;co&quot;&lt;/b&gt;" in html
    assert "<b>grid" not in html and "<b>" not in html


def test_same_journal_same_bytes(tmp_path: Path) -> None:
    a = render_html(build_report(write_session(tmp_path / "a" / "s.sqlite")))
    b = render_html(build_report(write_session(tmp_path / "b" / "s.sqlite", durable=False)))
    assert a == b


def test_empty_journal_renders_a_valid_page(tmp_path: Path) -> None:
    PaperJournal(tmp_path / "empty.sqlite").close()
    html = render_html(build_report(tmp_path / "empty.sqlite"))
    parser = _Balanced()
    parser.feed(html)
    assert parser.errors == [] and parser.stack == []
    assert "No fills in this session" in html and "Nothing to chart" in html
    assert "<p>No orders.</p>" in html and "<p>No fills.</p>" in html


def test_a_big_session_stays_small() -> None:
    n, nf = 200_000, 6_000
    equity = [EquityPoint(1.7e9 + i, D(10_000 + (i * 7919) % 1000 - (500 if i == 123_457 else 0)),
                          "USD", {"BTC-USD": D(30_000 + (i * 104_729) % 500)}) for i in range(n)]  # fmt: skip
    fills = [FillRecord(f"f{i}", f"t{i}", "o", "c", "BTC-USD", "BUY" if i % 2 else "SELL",
                        D(30_100), D("0.01"), D("0.1"), "MAKER", 1.7e9 + i * 30, i)
             for i in range(nf)]  # fmt: skip
    report = compute(journal="big", meta={"quote": "USD"}, orders=[], fills=fills, history=[],
                     equity=equity)  # fmt: skip
    html = render_html(report)
    assert len(html) < 1_500_000, len(html)
    svgs = _svgs(html)
    for svg in svgs:
        for line in svg.iter("polyline"):
            assert len(line.attrib["points"].split()) <= MAX_POINTS
        _check_inside_viewbox(svg)
    assert len(svgs[2].findall("path")) <= 2000
    assert html.count('<tr class="gap">') == 2  # trades and fills tables elided in the middle
    assert f"{nf - MAX_TABLE_ROWS} rows not shown" in html


def test_downsample_keeps_extremes_and_ends() -> None:
    pts = [(float(i), float((i * 7919) % 1000)) for i in range(100_000)]
    pts[54_321] = (54_321.0, -5.0)  # a crash
    pts[77_777] = (77_777.0, 5000.0)  # a spike
    out = downsample(pts)
    assert len(out) <= MAX_POINTS
    assert out[0] == pts[0] and out[-1] == pts[-1]
    assert (54_321.0, -5.0) in out and (77_777.0, 5000.0) in out
    assert [p[0] for p in out] == sorted(p[0] for p in out)
    assert downsample(pts[:10]) == pts[:10]


def test_nice_ticks() -> None:
    assert nice_ticks(0.0, 10.0) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert nice_ticks(987.3, 1032.1) == [990.0, 1000.0, 1010.0, 1020.0, 1030.0]
    assert nice_ticks(5.0, 5.0) == [5.0]


def test_exit_orders_are_named_in_the_orders_row_and_left_out_of_the_fill_ratios(
    tmp_path: Path,
) -> None:
    """A bracket the exchange attached to an entry is an order of the journal but not one
    the strategy placed (a backtest said "75 orders", its report "150" with no word why)."""
    path = write_session(tmp_path / "s.sqlite")
    with PaperJournal(path) as j:
        stop = order("x1", "SELL", "BRACKET", "OPEN", "1", "0", price="80", created=90)
        j.save(StateDelta([stop], [], []), T0 + 90)
    page = render_html(build_report(path))
    assert "cancelled 1, failed 1, filled 2, open 2; 1 exit orders: bracket 1" in page
    assert "(4 of 6 base ordered by limit and market orders)" in page
    assert "(3 of 4 limit and market orders had a fill)" in page
