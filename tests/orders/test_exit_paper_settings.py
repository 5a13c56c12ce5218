"""The paper exchange honours the three exit settings (issue 17; they were dropped by
``PaperConfig.sim_config()`` before): each is where Coinbase is silent, so a paper result
must be re-runnable under the other reading, exactly as the simulator is.

Driven through the paper exchange over hand-driven prints (tests/paper/harness.py: bids
99 x 2, 98 x 5; asks 100 x 1, 101 x 3; last trade 100).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.paper.harness import Paper, config

D = Decimal


def _oid(res: dict[str, Any]) -> str:
    assert res["success"], res
    return str(res["order_id"])


def test_sim_config_carries_the_exit_settings() -> None:
    cfg = config(
        bracket_stop_limit_offset=D("0.01"),
        stop_pending_status="PENDING",
        attached_exit_activation="entry_done",
    ).sim_config()
    assert (
        cfg.bracket_stop_limit_offset,
        cfg.stop_pending_status,
        cfg.attached_exit_activation,
    ) == (D("0.01"), "PENDING", "entry_done")
    default = config().sim_config()
    assert (
        default.bracket_stop_limit_offset,
        default.stop_pending_status,
        default.attached_exit_activation,
    ) == (D("0.05"), "OPEN", "per_fill")


@pytest.mark.parametrize("status", ["OPEN", "PENDING"])
def test_untriggered_stop_reports_the_configured_status(status: str) -> None:
    p = Paper(stop_pending_status=status)
    stop = {
        "base_size": "0.5",
        "limit_price": "99.40",
        "stop_price": "99.50",
        "stop_direction": "STOP_DIRECTION_STOP_DOWN",
    }
    oid = _oid(p.create("SELL", {"stop_limit_stop_limit_gtc": stop}))
    order = p.order(oid)
    assert (order["status"], order["trigger_status"]) == (status, "STOP_PENDING")
    p.trade("99.50", "1", "BUY")  # through the stop: it works as a limit at 99.40
    assert p.order(oid)["status"] in ("OPEN", "FILLED")  # live either way once triggered


@pytest.mark.parametrize(("offset", "filled"), [(D("0.05"), D("1")), (D("0"), D("0"))])
def test_bracket_stop_leg_is_limited_by_the_configured_offset(offset: D, filled: D) -> None:
    """5 % below a 99.50 trigger reaches the 99 bid; 0 % limits the stop leg at 99.50."""
    p = Paper(bracket_stop_limit_offset=offset)
    cfg = {"base_size": "1", "limit_price": "100.50", "stop_trigger_price": "99.50"}
    oid = _oid(p.create("SELL", {"trigger_bracket_gtc": cfg}))
    p.trade("99.50", "1", "BUY")
    order = p.order(oid)
    assert order["trigger_status"] == "STOP_TRIGGERED"
    assert D(order["filled_size"]) == filled
    if filled == 0:  # resting at its limit, the trigger price itself
        assert p.ex.paper_book("BTC-USD").queued(oid) is not None
        assert order["status"] == "OPEN"


@pytest.mark.parametrize(("activation", "live"), [("per_fill", True), ("entry_done", False)])
def test_attached_exit_activation_setting(activation: str, live: bool) -> None:
    p = Paper(attached_exit_activation=activation)
    entry = {
        "client_order_id": "",
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "0.5", "limit_price": "99.90"}},
        "attached_order_configuration": {
            "trigger_bracket_gtc": {"limit_price": "100.50", "stop_trigger_price": "99.50"}
        },
    }
    made = p.ex.create_order("paper", entry, p.now)
    assert made["success"], made
    exit_id = made["success_response"]["attached_order_id"]
    p.trade("99.90", "0.2", "BUY")  # a partial fill of the entry
    assert D(p.order(made["order_id"])["filled_size"]) == D("0.2")
    child = p.order(exit_id)
    if live:
        assert (child["status"], D(child["outstanding_hold_amount"])) == ("OPEN", D("0.2"))
    else:
        assert child["status"] == "PENDING"
    p.trade("99.90", "0.3", "BUY")  # the entry is done: live in both readings, sized 0.5
    child = p.order(exit_id)
    assert (child["status"], D(child["outstanding_hold_amount"])) == ("OPEN", D("0.5"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bracket_stop_limit_offset", D("1")),
        ("bracket_stop_limit_offset", D("-0.01")),
        ("bracket_stop_limit_offset", D("NaN")),
        ("bracket_stop_limit_offset", 0.05),
        ("stop_pending_status", "QUEUED"),
        ("attached_exit_activation", "never"),
    ],
)
def test_bad_exit_settings_are_refused_with_the_fix(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        config(**{field: value})
