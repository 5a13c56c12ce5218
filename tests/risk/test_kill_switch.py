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
    assert not gate.tripped and not load_kill_switch(path).tripped  # its blocks, not tripped
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


def test_cli_kill_switch_reset_refuses_while_a_bot_runs_on_the_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A running bot holds its state in memory (and writes it back): resetting its file
    beside it said "reset" while the bot stayed tripped. Refused, naming the way that works."""
    from botkit.cli.main import main
    from botkit.risk.engine import KillSwitchState
    from botkit.risk.gate import save_kill_switch
    from botkit.runtime.data_lock import DataDirLock

    path = tmp_path / "ks.json"
    save_kill_switch(path, KillSwitchState(True, "tripped by hand", 1.0))
    running = DataDirLock(tmp_path)  # what botkit run holds for its whole run
    try:
        assert main(["kill-switch", "reset", "--path", str(path)]) == 2
        err = capsys.readouterr().err
        assert "in use by another running bot" in err and "botkit ctl kill-switch reset" in err
        assert load_kill_switch(path).tripped
    finally:
        running.release()
    assert main(["kill-switch", "reset", "--path", str(path)]) == 0
    assert capsys.readouterr().out.startswith("kill switch reset")
    assert not load_kill_switch(path).tripped
    # a bot of another venue (run --venue exchange) keeps its state in a folder of its own
    from botkit.runtime.bot_config import data_root

    root = data_root(tmp_path / "data", "live", "exchange")
    save_kill_switch(root / "kill_switch.json", KillSwitchState(True, "by hand", 1.0))
    exchange_bot = DataDirLock(root)
    try:
        args = ["--mode", "live", "--data-dir", str(tmp_path / "data"), "--venue", "exchange"]
        assert main(["kill-switch", "reset", *args]) == 2
        assert "in use by another running bot" in capsys.readouterr().err
    finally:
        exchange_bot.release()
    assert main(["kill-switch", "reset", *args]) == 0
    assert not load_kill_switch(root / "kill_switch.json").tripped


def test_cli_kill_switch_status_lists_active_protections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stopped bot's protections are visible before the operator resets them."""
    import math
    import time

    from botkit.cli.main import main
    from botkit.risk.engine import ProtectionState
    from botkit.risk.gate import load_protections, protections_path, save_protections

    path = tmp_path / "ks.json"
    state = ProtectionState(
        cooldowns={"BTC-USD": time.time() + 600, "ETH-USD": 1.0},  # one active, one over
        streak_until=math.inf,
        streak_reason="3 losing trades within 86400 s",
    )
    save_protections(protections_path(path), state)
    assert main(["kill-switch", "status", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "protection cooldown BTC-USD: entries refused for" in out
    assert "ETH-USD" not in out
    assert (
        "protection losing trades: 3 losing trades within 86400 s; entries refused until reset"
        in out
    )
    assert main(["kill-switch", "reset", "--path", str(path)]) == 0
    assert load_protections(protections_path(path)).streak_until is None
    capsys.readouterr()
    assert main(["kill-switch", "status", "--path", str(path)]) == 0
    assert "protection" not in capsys.readouterr().out


async def test_a_restart_keeps_the_days_realised_loss_and_a_new_day_clears_it() -> None:
    """The loss realised before a restart still counts toward the daily limit (the fill
    ledger carries it: botkit.orders.ledger); a crash-looping bot gets no fresh limit."""
    day = 20_000
    t = [day * DAY + 3_600.0]
    limits = RiskLimits(daily_loss_limit=D("5"))
    first = RiskGate(limits, None, wall=lambda: t[0])
    await first.on_fill("BTC-USD", "BUY", D("1"), D("100"), D("0"))
    await first.on_fill("BTC-USD", "SELL", D("1"), D("96"), D("0"))  # -4 realised
    today = first.engine.today()
    assert today == (day, D("-4")) and not first.tripped
    positions = {"BTC-USD": first.engine.positions.get("BTC-USD")}

    restarted = RiskGate(limits, None, wall=lambda: t[0])
    restarted.engine.restore(positions, today)
    await restarted.on_fill("BTC-USD", "BUY", D("1"), D("100"), D("0"))
    await restarted.on_fill("BTC-USD", "SELL", D("1"), D("98"), D("0"))  # -2 more: -6 today
    assert restarted.tripped and "daily loss 6.00" in restarted.engine.kill_switch.reason

    t[0] = (day + 1) * DAY + 60.0  # a restart the next UTC day starts the count afresh
    tomorrow = RiskGate(limits, None, wall=lambda: t[0])
    tomorrow.engine.restore(positions, today)
    await tomorrow.on_fill("BTC-USD", "BUY", D("1"), D("100"), D("0"))
    await tomorrow.on_fill("BTC-USD", "SELL", D("1"), D("98"), D("0"))
    assert not tomorrow.tripped and tomorrow.engine.daily_pnl() == D("-2")


def test_cli_kill_switch_status_shows_what_the_bot_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stopped bot's positions and today's realised PnL, read from its fill ledger: what
    a restart will resume (docs/strategies.md, "Positions across restarts")."""
    import time

    from botkit.cli.main import main
    from botkit.market.events import FillEvent
    from botkit.orders.ledger import FillLedger
    from botkit.orders.positions import Position

    path = tmp_path / "kill_switch.json"
    assert main(["kill-switch", "status", "--path", str(path)]) == 0
    assert "position" not in capsys.readouterr().out  # no ledger yet: nothing to show
    fill = FillEvent("o:1", "o", "c", "BTC-USD", "BUY", D("0.5"), D("100"), D("0.1"), D("0.5"))
    ledger = FillLedger(tmp_path / "fills.sqlite")
    ledger.count(fill, Position(D("0.5"), D("100"), D("-0.1")),
                 today=(int(time.time() // DAY), D("-0.1")))  # fmt: skip
    ledger.count(
        FillEvent("e:1", "e", "d", "ETH-USD", "BUY", D("1"), D("10"), D("0"), D("1")),
        Position(D(0), D(0), D("2")),  # flat: not listed
    )
    ledger.close()
    assert main(["kill-switch", "status", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "position BTC-USD: 0.5 at 100 average" in out and "ETH-USD" not in out
    assert "realised PnL today (UTC): -0.1" in out


async def test_a_trip_not_saved_is_reported_before_a_protection_not_saved(tmp_path: Path) -> None:
    """One losing fill both trips the daily loss limit and locks entries (a protection);
    on a disk that takes no file, the protection's JournalError (exit 1: restarted) came
    first and the runtime kept it, so the restart traded without its kill switch (a
    review). The trip goes first; every open order is cancelled either way."""
    from botkit.errors import BotkitError, JournalError, KillSwitchNotSaved

    path = tmp_path / "kill_switch.json"
    wall = iter(float(20_000 * DAY + i) for i in range(100)).__next__
    limits = RiskLimits(daily_loss_limit=D("50"), max_losing_trades=1)
    gate = RiskGate(limits, path, wall=wall)
    errors: list[BotkitError] = []
    gate.on_failure = errors.append
    cancelled: list[int] = []

    async def cancel_all() -> int:
        cancelled.append(1)
        return 1

    gate.add_canceller(cancel_all)
    await gate.on_fill("BTC-USD", "BUY", D("1"), D("100"), D("0"))
    assert errors == []
    _unwritable(tmp_path / "kill_switch.json")  # the disk takes no write from now on
    _unwritable(tmp_path / "protections.json")
    await gate.on_fill("BTC-USD", "SELL", D("1"), D("40"), D("0"))
    assert gate.tripped and cancelled == [1]
    assert [type(e) for e in errors][:2] == [KillSwitchNotSaved, JournalError]
    assert path.is_symlink()  # nothing written: /dev/full took nothing


def test_cli_kill_switch_without_venue_names_the_venue_bots_switches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An Exchange or Prime bot keeps its switch in a folder named after the venue:
    without --venue, status said "not tripped" of a file that does not exist and reset
    said "was not tripped", exit 0, while the Prime bot's switch stayed tripped (a QA
    pass). Both name the venue's file now; reset refuses (exit 2) with the option."""
    from botkit.cli.main import main
    from botkit.risk.engine import KillSwitchState
    from botkit.risk.gate import save_kill_switch
    from botkit.runtime.bot_config import data_root

    prime = data_root(tmp_path / "data", "sim", "prime") / "kill_switch.json"
    save_kill_switch(prime, KillSwitchState(True, "by hand", 1.0))
    args = ["--data-dir", str(tmp_path / "data"), "--mode", "sim"]
    assert main(["kill-switch", "status", *args]) == 0
    out = capsys.readouterr().out
    assert "kill switch of the prime bot: TRIPPED" in out and str(prime) in out
    assert main(["kill-switch", "reset", *args]) == 2
    assert "--venue prime" in capsys.readouterr().err
    assert load_kill_switch(prime).tripped
    assert main(["kill-switch", "reset", *args, "--venue", "prime"]) == 0
    assert not load_kill_switch(prime).tripped
    # an Advanced Trade bot's gate makes its own file at start (a review: from then on the
    # venue bots' files were not looked at): both are named, reset still refuses
    RiskGate(RiskLimits(), prime.parent.parent / "kill_switch.json", wall=lambda: 1.0)
    save_kill_switch(prime, KillSwitchState(True, "again", 2.0))
    capsys.readouterr()
    assert main(["kill-switch", "status", *args]) == 0
    out = capsys.readouterr().out
    assert "kill switch: not tripped" in out and "kill switch of the prime bot: TRIPPED" in out
    assert main(["kill-switch", "reset", *args]) == 2
    assert load_kill_switch(prime).tripped
    assert main(["kill-switch", "reset", *args, "--venue", "advanced_trade"]) == 0


async def test_a_restart_past_the_days_loss_limit_trips_before_it_trades(tmp_path: Path) -> None:
    """The day's realised loss comes back from the fill ledger at a restart, but was
    checked only at the next fill or mark of a held position: a restart after a trip it
    could not save traded two orders, one filled, over a loss already past its limit (a
    QA pass). enforce(), called before the strategy starts, trips it and cancels."""
    now = 20_000 * DAY + 3600.0
    gate = RiskGate(RiskLimits(daily_loss_limit=D("3")), tmp_path / "ks.json", wall=lambda: now)
    gate.engine.restore({}, (20_000, D("-3.13")))  # as the ledger resumes it
    cancelled: list[int] = []

    async def cancel_all() -> int:
        cancelled.append(1)
        return 0

    gate.add_canceller(cancel_all)
    await gate.enforce()
    assert gate.tripped and "daily loss 3.13" in gate.engine.kill_switch.reason
    assert cancelled == [1] and load_kill_switch(tmp_path / "ks.json").tripped
    yesterday = RiskGate(RiskLimits(daily_loss_limit=D("3")), tmp_path / "y.json",
                         wall=lambda: now)  # fmt: skip
    yesterday.engine.restore({}, (19_999, D("-3.13")))  # a new UTC day: the loss is behind
    await yesterday.enforce()
    assert not yesterday.tripped


def _unwritable(path: Path) -> None:
    """No write of ``path`` can succeed: its replacement is blocked by a directory where
    the temporary file goes, and the file itself is /dev/full (ENOSPC in place)."""
    path.with_name(path.name + ".tmp").mkdir()
    path.unlink(missing_ok=True)
    path.symlink_to("/dev/full")


def test_a_trip_is_written_in_place_when_no_new_file_can_be(tmp_path: Path) -> None:
    """A full disk takes no new file, so the atomic replacement fails; the trip was then
    forgotten, and the next start traded (a QA pass). The file, made with its blocks at
    the gate's start, is overwritten in place."""
    import asyncio

    from botkit.risk.engine import KillSwitchState

    path = tmp_path / "kill_switch.json"
    gate = RiskGate(RiskLimits(), path, wall=lambda: 1.0)
    assert path.stat().st_size >= 1024 and not load_kill_switch(path).tripped
    (tmp_path / "kill_switch.json.tmp").mkdir()  # no new file can be made here
    asyncio.run(gate.trip("by hand (test)"))
    assert load_kill_switch(path) == KillSwitchState(True, "by hand (test)", 1.0)
