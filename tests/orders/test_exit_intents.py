"""The exit builders give the exact Advanced Trade configurations (reference §2.3) the
simulator and the official SDK use: field names, plain decimal strings, gtc vs gtd."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from botkit.orders.intents import (
    OrderIntent,
    attached_bracket,
    limit_gtc,
    stop_limit,
    trigger_bracket,
)


def test_stop_limit_gtc_and_gtd() -> None:
    gtc = stop_limit(Decimal("0.5"), Decimal("95"), Decimal("96"), "STOP_DIRECTION_STOP_DOWN")
    assert gtc == {
        "stop_limit_stop_limit_gtc": {
            "base_size": "0.5",
            "limit_price": "95",
            "stop_price": "96",
            "stop_direction": "STOP_DIRECTION_STOP_DOWN",
        }
    }
    gtd = stop_limit(
        Decimal("1E-8"),
        Decimal("1"),
        Decimal("2"),
        "STOP_DIRECTION_STOP_UP",
        end_time="2027-01-01T00:00:00Z",
    )
    leg = gtd["stop_limit_stop_limit_gtd"]
    assert leg["base_size"] == "0.00000001" and leg["end_time"] == "2027-01-01T00:00:00Z"
    with pytest.raises(ValueError, match="STOP_UP/DOWN"):
        stop_limit(Decimal(1), Decimal(1), Decimal(1), "DOWN")  # type: ignore[arg-type]


def test_trigger_bracket_and_attached_exit_in_the_body() -> None:
    assert trigger_bracket(Decimal("2"), Decimal("110"), Decimal("90")) == {
        "trigger_bracket_gtc": {"base_size": "2", "limit_price": "110", "stop_trigger_price": "90"}
    }
    assert (
        "end_time"
        in trigger_bracket(Decimal(2), Decimal(110), Decimal(90), end_time="2027-01-01T00:00:00Z")[
            "trigger_bracket_gtd"
        ]
    )
    intent = OrderIntent(
        "c1",
        "BTC-USD",
        "BUY",
        limit_gtc(Decimal("1"), Decimal("100")),
        {"attached_order_configuration": attached_bracket(Decimal("110"), Decimal("90"))},
    )
    doc = json.loads(intent.body())
    assert doc["attached_order_configuration"] == {
        "trigger_bracket_gtc": {"limit_price": "110", "stop_trigger_price": "90"}
    }
    assert list(doc) == [
        "client_order_id",
        "product_id",
        "side",
        "order_configuration",
        "attached_order_configuration",
    ]
