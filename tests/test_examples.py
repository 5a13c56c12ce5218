"""Every example runs, offline, and does what it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.botproc import run_until_placed

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


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, cwd=EXAMPLES.parent
    )


async def test_tiny_strategy_is_complete_and_under_40_lines(tmp_path: Path) -> None:
    path = EXAMPLES / "tiny_strategy.py"
    assert len(path.read_text().splitlines()) < 40
    # stopped (SIGTERM) once it placed an order; --duration only bounds a run that never does
    args = ["run", "--strategy", str(path), "--duration", "45", "--data-dir", str(tmp_path),
            "--config", str(EXAMPLES / "tiny.toml")]  # fmt: skip
    run = await run_until_placed(args, EXAMPLES.parent, placed=1)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "strategy DipRip" in run.stdout
    assert int(run.stdout.split("orders placed:")[1].split()[0]) >= 1


def test_embed_example_runs_a_bot_inside_another_program() -> None:
    out = _run([str(EXAMPLES / "embed.py")])
    assert out.returncode == 0, out.stderr[-2000:]
    assert "embedded bot placed" in out.stdout
