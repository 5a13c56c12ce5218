"""PNG output and a real headless-browser render of the HTML (skipped when the machine lacks them).

Colours checked in the pictures: the equity line (blue), buy markers (green), sell
markers (red) — so a pass means the charts were drawn, not merely that a file appeared.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from botkit.errors import ConfigError
from botkit.report import build_report, write_html, write_png
from botkit.report.html import EQUITY_COLOUR
from botkit.report.png import NO_RASTERIZER, find_browser, screenshot
from botkit.report.svg import BUY_COLOUR, SELL_COLOUR
from tests.report.pngread import SIGNATURE, assert_rendered
from tests.report.sessions import write_session

COLOURS = (EQUITY_COLOUR, BUY_COLOUR, SELL_COLOUR)


def _cairosvg_works() -> bool:
    if importlib.util.find_spec("cairosvg") is None:
        return False
    try:
        importlib.import_module("cairosvg")
    except OSError:  # installed, but libcairo is missing
        return False
    return True


RASTERIZERS = {
    "cairosvg": "cairosvg" if _cairosvg_works() else None,
    "rsvg-convert": shutil.which("rsvg-convert"),
    "browser": find_browser(),
}


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return write_session(tmp_path / "session.sqlite")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", sorted(RASTERIZERS))
def test_png_with_each_available_rasterizer(kind: str, journal: Path, tmp_path: Path) -> None:
    tool = RASTERIZERS[kind]
    if tool is None:
        pytest.skip(f"no {kind} on this machine")
    out = tmp_path / "report.png"
    used = write_png(build_report(journal), out, using=tool)
    assert used in (kind, Path(tool).name)
    assert out.read_bytes()[:8] == SIGNATURE
    assert_rendered(out, *COLOURS)


def test_without_a_rasterizer_the_error_says_how_to_get_one(
    journal: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cairosvg", None)  # import fails, as when not installed
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(ConfigError) as info:
        write_png(build_report(journal), tmp_path / "x.png")
    assert str(info.value) == NO_RASTERIZER
    assert "pip install 'botkit[report]'" in NO_RASTERIZER and "rsvg-convert" in NO_RASTERIZER
    assert not (tmp_path / "x.png").exists()


@pytest.mark.timeout(180)
def test_html_renders_in_a_headless_browser(journal: Path, tmp_path: Path) -> None:
    """The real thing: the self-contained page, opened from disk by a browser, shows the charts."""
    browser = find_browser()
    if browser is None:
        pytest.skip("no chromium / google-chrome / firefox on PATH (apt-get install chromium)")
    html = write_html(build_report(journal), tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    screenshot(browser, html, shot, 1000, 1500)
    assert_rendered(shot, *COLOURS, min_ink=0.02)
