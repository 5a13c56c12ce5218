"""Protections through the gate: a new gate on the same files resumes the cooldown, the
losing-trade count and open trades, the drawdown latch and peak; the kill-switch reset
clears them; an unreadable file is a clear config error."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pytest

from botkit.errors import ConfigError
from botkit.orders.intents import OrderIntent, limit_gtc
from botkit.risk.engine import MarketQuote, RiskLimits, RiskRejected
from botkit.risk.gate import RiskGate, load_protections, protections_path, reset_kill_switch

D = Decimal
QUOTE = MarketQuote(D("100"), D("101"))
T0 = 1_765_000_000.0
PID = "BTC-USD"
Side = Literal["BUY", "SELL"]


class Wall:
    """A settable wall clock (both gates of a "restart" read the same one)."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def verdict(gate: RiskGate, side: Side = "BUY", *, position: str = "0") -> str:
    intent = OrderIntent("c", PID, side, limit_gtc(D("1"), D("100")))
    try:
        gate.check(intent, QUOTE, position=D(position), open_orders=0)
    except RiskRejected as exc:
        return exc.reason
    return "OK"


async def test_a_cooldown_survives_a_restart_and_ends_on_time(tmp_path: Path) -> None:
    path, wall = tmp_path / "kill_switch.json", Wall()
    limits = RiskLimits(cooldown_after_stop_loss=300)
    gate = RiskGate(limits, path, wall=wall)
    await gate.on_stop_loss(PID)
    assert load_protections(protections_path(path)).cooldowns == {PID: T0 + 300}
    wall.t += 100
    restarted = RiskGate(limits, path, wall=wall)
    assert verdict(restarted) == "RISK_COOLDOWN"
    assert verdict(restarted, "SELL", position="1") == "OK"  # an exit
    assert restarted.protection_status() == {f"cooldown {PID}": "entries refused for 200 s more"}
    assert restarted.refusals["RISK_COOLDOWN"] == 1
    wall.t += 200
    assert verdict(restarted) == "OK" and restarted.protection_status() == {}


async def test_the_losing_trade_count_and_an_open_trade_survive_a_restart(
    tmp_path: Path,
) -> None:
    path, wall = tmp_path / "kill_switch.json", Wall()
    limits = RiskLimits(max_losing_trades=2, losing_trades_window=3600)
    gate = RiskGate(limits, path, wall=wall)
    await gate.on_fill(PID, "BUY", D("1"), D("100"), D("0.1"))
    await gate.on_fill(PID, "SELL", D("1"), D("99"), D("0.1"))  # loss 1
    await gate.on_fill(PID, "BUY", D("0.5"), D("100"), D("0.1"))  # open across the restart
    wall.t += 60
    restarted = RiskGate(limits, path, wall=wall)
    assert restarted.engine.positions.quantity(PID) == D("0.5")
    assert restarted.engine.protection.losses == [T0]
    assert verdict(restarted) == "OK"
    # closing the trade opened before the restart at a loss (incl. its opening fee) locks
    await restarted.on_fill(PID, "SELL", D("0.5"), D("100"), D("0"))
    assert verdict(restarted) == "RISK_LOSING_STREAK"
    assert verdict(restarted, "SELL", position="1") == "OK"
    again = RiskGate(limits, path, wall=wall)
    assert verdict(again) == "RISK_LOSING_STREAK"
    assert "until reset" in again.protection_status()["losing trades"]
    assert reset_kill_switch(path) is True  # the stopped bot's reset clears it
    assert verdict(RiskGate(limits, path, wall=wall)) == "OK"


async def test_the_drawdown_latch_and_peak_survive_a_restart(tmp_path: Path) -> None:
    path, wall = tmp_path / "kill_switch.json", Wall()
    limits = RiskLimits(max_drawdown=D("8"))
    gate = RiskGate(limits, path, wall=wall)
    await gate.on_fill(PID, "BUY", D("1"), D("100"), D("0"))
    await gate.on_mark(PID, D("110"))
    await gate.on_fill(PID, "SELL", D("1"), D("110"), D("0"))  # +10 realised, the peak
    assert load_protections(protections_path(path)).peak == D("10")
    restarted = RiskGate(limits, path, wall=wall)
    assert restarted.engine.equity() == D("10")
    await restarted.on_fill(PID, "BUY", D("1"), D("110"), D("0"))
    assert restarted.mark(PID, D("102")) is None  # not the kill switch: nothing to cancel
    assert verdict(restarted, position="1") == "RISK_MAX_DRAWDOWN"
    assert verdict(restarted, "SELL", position="1") == "OK"
    assert not restarted.tripped
    after = RiskGate(limits, path, wall=wall)
    assert verdict(after, position="1") == "RISK_MAX_DRAWDOWN"
    assert "max drawdown" in after.protection_status()
    assert after.reset() is True  # the running bot's reset (botkit ctl kill-switch reset)
    assert verdict(after, position="1") == "OK"
    assert load_protections(protections_path(path)).drawdown_reason == ""
    assert verdict(RiskGate(limits, path, wall=wall), position="1") == "OK"


async def test_protections_off_write_nothing(tmp_path: Path) -> None:
    path = tmp_path / "kill_switch.json"
    gate = RiskGate(RiskLimits(daily_loss_limit=D("100")), path, wall=Wall())
    await gate.on_stop_loss(PID)
    await gate.on_fill(PID, "BUY", D("1"), D("100"), D("0"))
    assert gate.protections_path is None and not protections_path(path).exists()
    assert verdict(gate) == "OK"


@pytest.mark.parametrize(
    "text",
    [
        "{truncated",
        "[]",
        json.dumps({"positions": {"BTC-USD": "0.5"}}),
        json.dumps({"peak": "not a number"}),
        json.dumps({"cooldowns": {"BTC-USD": None}}),
    ],
)
def test_an_unreadable_protections_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "kill_switch.json"
    protections_path(path).write_text(text)
    with pytest.raises(ConfigError, match="protections file .* unreadable.*delete it"):
        RiskGate(RiskLimits(max_losing_trades=3), path, wall=Wall())
