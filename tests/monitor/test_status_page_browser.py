"""The status page in a real headless Chromium (Debian's ``chromium``; .ci/run installs it).

The browser loads the page from a bot trading on the simulator; its DOM (after parsing,
as the browser built it) shows the products, the position and the equity chart, and a
screenshot is taken. ``BOTKIT_UPDATE_SCREENSHOT=1`` copies it to docs/ for the README.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from botkit.monitor.ctl import call
from botkit.runtime.bot import BotRuntime
from botkit.sim.server import SimServer
from tests.monitor.test_http import run_with_http

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt install chromium)")


async def _chromium(*args: str) -> tuple[int, str]:
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--no-first-run", "--disable-dev-shm-usage", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(40):
            out, _err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(errors="replace")


async def test_status_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    position: dict[str, Decimal] = {}
    pages: dict[str, tuple[int, str]] = {}  # "dom" and "shot": (exit code, stdout)
    shot = tmp_path / "status-page.png"

    async def probe(rt: BotRuntime, url: str, sim: SimServer) -> None:
        while rt.stats.fills < 2 or not rt.stats.position or not rt.view or len(rt.view.curve) < 2:
            await rt.wait_health()
        # the position must not move while the browser loads (under two test workers it
        # did): the operator's pause, the strategy's quotes cancelled, none open any more
        token = (tmp_path / "data" / "sim" / "control.token").read_text()
        await asyncio.to_thread(call, url, "pause", token)
        await asyncio.to_thread(call, url, "cancel-all", token)
        while rt.ctx is not None and rt.ctx.open_orders():
            await rt.wait_health()
        await rt.wait_health()  # the stats refreshed after the last update
        position.update(rt.stats.position)
        pages["dom"] = await _chromium("--dump-dom", url + "/")
        pages["shot"] = await _chromium(f"--screenshot={shot}", "--window-size=900,1400", url + "/")

    _rt, result = await run_with_http(tmp_path / "data", probe)
    assert result.error is None
    code, dom = pages["dom"]
    assert code == 0, dom[-2000:]
    assert '<span class="badge ready" id="verdict">READY</span>' in dom
    assert "BTC-USD" in dom.split('id="feeds"')[1]
    positions = dom.split('id="positions"')[1].split("</table>")[0]
    for pid, qty in position.items():
        assert pid in positions and f"{qty.normalize():f}" in positions
    chart = dom.split('id="equity-chart"')[1]
    assert "<svg" in chart and "<polyline" in chart
    assert pages["shot"][0] == 0 and shot.stat().st_size > 10_000
    if os.environ.get("BOTKIT_UPDATE_SCREENSHOT") == "1":
        shutil.copy(shot, DOCS / "status-page.png")
