"""The kill switch outlives a restart until reset; an unreadable file is a config error; the CLI."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from botkit.errors import ConfigError
from botkit.orders.intents import OrderIntent, limit_gtc
from botkit.risk.engine import MarketQuote, RiskLimits, RiskRejected
from botkit.risk.gate import RiskGate, load_kill_switch, reset_kill_switch

D = Decimal
QUOTE = MarketQuote(D("100"), D("101"))
DAY = 86_400.0


async def test_kill_switch_survives_a_restart_until_reset(tmp_path: Path) -> None:
    path = tmp_path / "state" / "kill_switch.json"
    wall = iter(float(20_000 * DAY + i) for i in range(100)).__next__
    gate = RiskGate(RiskLimits(daily_loss_limit=D("5")), path, wall=wall)
    assert not gate.tripped and not path.exists()
    await gate.on_fill("BTC-USD", "BUY", D("1"), D("100"), D("0"))
    await gate.on_mark("BTC-USD", D("94"))
    assert gate.tripped and load_kill_switch(path).tripped
    restarted = RiskGate(RiskLimits(daily_loss_limit=D("5")), path, wall=wall)
    assert restarted.tripped
    intent = OrderIntent("z", "BTC-USD", "BUY", limit_gtc(D("0.01"), D("100")))
    with pytest.raises(RiskRejected, match="kill switch tripped"):
        restarted.check(intent, QUOTE, position=D(0), open_orders=0)
    assert reset_kill_switch(path) is True
    assert reset_kill_switch(path) is False
    again = RiskGate(RiskLimits(daily_loss_limit=D("5")), path, wall=wall)
    assert not again.tripped
    again.check(intent, QUOTE, position=D(0), open_orders=0)


def test_unreadable_kill_switch_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "ks.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable"):
        load_kill_switch(path)


def test_cli_kill_switch_status_and_reset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from botkit.cli.main import main
    from botkit.risk.engine import KillSwitchState
    from botkit.risk.gate import save_kill_switch

    path = tmp_path / "ks.json"
    save_kill_switch(path, KillSwitchState(True, "daily loss 9.00 reached daily_loss_limit 5", 1.0))
    assert main(["kill-switch", "status", "--path", str(path)]) == 0
    assert "TRIPPED" in capsys.readouterr().out
    assert main(["kill-switch", "reset", "--path", str(path)]) == 0
    assert "kill switch reset" in capsys.readouterr().out
    assert not load_kill_switch(path).tripped
    path.write_text("{broken")
    assert main(["kill-switch", "status", "--path", str(path)]) == 2
