"""Every example runs, offline, and does what it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_signed_request_example_trades_against_the_simulator() -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "signed_request_against_sim.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "BTC-USD top of book" in out.stdout
    assert "status FILLED" in out.stdout
