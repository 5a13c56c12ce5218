"""The report as a PNG: the standalone SVG (header and charts) through a rasterizer.

Rasterizing SVG well is a big job that botkit does not do itself; it uses the first of
these that the machine has, in this order (fastest and most predictable first):

1. ``cairosvg`` importable (``pip install 'botkit[report]'``; needs the cairo library,
   present on most desktops and in Debian's ``libcairo2``),
2. ``rsvg-convert`` on PATH (Debian/Ubuntu ``librsvg2-bin``, Homebrew ``librsvg``),
3. a headless Chromium/Chrome (``chromium``, ``chromium-browser``, ``google-chrome``) or
   Firefox on PATH, taking a screenshot of the SVG.

With none of them, :func:`write_png` raises a :class:`ConfigError` that says how to get one.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from botkit.errors import ConfigError
from botkit.report.html import render_svg
from botkit.report.metrics import Report

__all__ = [
    "BROWSERS",
    "NO_RASTERIZER",
    "find_browser",
    "find_rasterizer",
    "screenshot",
    "svg_to_png",
    "write_png",
]

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "firefox")
NO_RASTERIZER = (
    "writing PNG needs an SVG rasterizer and none was found: install one of "
    "pip install 'botkit[report]' (cairosvg), "
    "apt-get install librsvg2-bin (rsvg-convert), or apt-get install chromium; "
    "the HTML report needs none of them"
)
_TIMEOUT = 120.0


def _cairosvg() -> Any | None:
    try:
        return importlib.import_module("cairosvg")
    except (ImportError, OSError):  # OSError: the package is there, libcairo is not
        return None


def find_browser() -> str | None:
    """Path of the first headless-capable browser on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def find_rasterizer() -> str | None:
    """``"cairosvg"``, the path of ``rsvg-convert`` or of a browser, or None (see module doc)."""
    if _cairosvg() is not None:
        return "cairosvg"
    return shutil.which("rsvg-convert") or find_browser()


def _run(cmd: list[str], **kw: Any) -> None:
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=_TIMEOUT, **kw)
    except subprocess.CalledProcessError as exc:
        err = exc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise ConfigError(f"{Path(cmd[0]).name} failed to write the PNG: {' '.join(err)}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(f"{Path(cmd[0]).name} took over {_TIMEOUT:.0f} s to write the PNG; "
                          "try another rasterizer (see docs/report.md)") from exc  # fmt: skip


def screenshot(browser: str, source: Path, out: Path, width: int, height: int) -> None:
    """A headless browser's screenshot of ``source`` (an HTML or SVG file) into ``out``."""
    with tempfile.TemporaryDirectory(prefix="botkit-report-") as profile:
        if Path(browser).name.startswith("firefox"):
            cmd = [browser, "--headless", "--profile", profile, "--screenshot", str(out),
                   "--window-size", f"{width},{height}", source.resolve().as_uri()]  # fmt: skip
        else:
            cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                   f"--window-size={width},{height}", f"--screenshot={out.resolve()}",
                   source.resolve().as_uri()]  # fmt: skip
        _run(cmd)
    if not out.is_file() or out.stat().st_size == 0:
        raise ConfigError(f"{Path(browser).name} wrote no screenshot to {out}")


def svg_to_png(svg: str, out: Path, width: int, height: int, *, using: str | None = None) -> str:
    """Rasterize ``svg`` into ``out`` with ``using`` (default: :func:`find_rasterizer`).

    Returns the name of the rasterizer used.
    """
    tool = using or find_rasterizer()
    if tool is None:
        raise ConfigError(NO_RASTERIZER)
    out.parent.mkdir(parents=True, exist_ok=True)
    if tool == "cairosvg":
        cairosvg = _cairosvg()
        if cairosvg is None:
            raise ConfigError(NO_RASTERIZER)
        cairosvg.svg2png(bytestring=svg.encode(), write_to=str(out), background_color="white")
        return tool
    if Path(tool).name == "rsvg-convert":
        _run([tool, "--format", "png", "--background-color", "white", "--output", str(out)],
             input=svg.encode())  # fmt: skip
        return "rsvg-convert"
    with tempfile.TemporaryDirectory(prefix="botkit-report-") as tmp:
        source = Path(tmp) / "report.svg"
        source.write_text(svg, encoding="utf-8")
        screenshot(tool, source, out, width, height)
    return Path(tool).name


def write_png(report: Report, out: Path, *, using: str | None = None) -> str:
    """Write the report's header and charts as a PNG; returns the rasterizer used.

    Raises:
        ConfigError: no rasterizer is available (the message says how to get one),
            or the one found failed.
    """
    svg, width, height = render_svg(report)
    return svg_to_png(svg, Path(out), width, height, using=using)
