"""A product's trading status (pure): read from each venue's product list, and what each
mode admits. The risk engine's refusals: tests/risk/test_trading_status_risk.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botkit.market.trading_status import (
    MESSAGE_MAX,
    TradingMode,
    TradingStatus,
    refusal,
    status_from_rule,
)

M = TradingMode


@pytest.mark.parametrize(
    ("rule", "mode"),
    [
        ({"product_id": "BTC-USD", "status": "online"}, M.FULL),
        ({"product_id": "BTC-USD"}, M.FULL),  # Prime publishes no status at all
        ({"product_id": "BTC-USD", "status": "online", "cancel_only": True}, M.CANCEL_ONLY),
        ({"product_id": "BTC-USD", "status": "online", "limit_only": True}, M.LIMIT_ONLY),
        ({"product_id": "BTC-USD", "status": "online", "post_only": True}, M.POST_ONLY),
        ({"product_id": "BTC-USD", "limit_only": True, "post_only": True}, M.POST_ONLY),
        ({"product_id": "BTC-USD", "cancel_only": True, "post_only": True}, M.CANCEL_ONLY),
        ({"product_id": "BTC-USD", "status": "online", "trading_disabled": True}, M.HALTED),
        ({"product_id": "BTC-USD", "is_disabled": True, "limit_only": True}, M.HALTED),
        ({"product_id": "BTC-USD", "status": "offline"}, M.HALTED),
        ({"product_id": "BTC-USD", "status": "DELISTED"}, M.HALTED),
        ({"id": "BTC-USD", "status": "online", "cancel_only": "true"}, M.CANCEL_ONLY),  # Exchange
        ({"product_id": "BTC-USD", "cancel_only": False, "limit_only": "false"}, M.FULL),
        ({"product_id": "BTC-USD", "cancel_only": 1}, M.FULL),  # only True or "true" count
    ],
)
def test_mode_from_the_venues_product_list(rule: dict[str, object], mode: TradingMode) -> None:
    status = status_from_rule(rule)
    assert status.product_id == "BTC-USD"
    assert status.mode is mode
    assert status.restricted is (mode is not M.FULL)


def test_a_long_status_message_is_cut() -> None:
    status = status_from_rule({"product_id": "BTC-USD", "status_message": "x" * 5000})
    assert len(status.message) == MESSAGE_MAX and status.message.endswith("…")


def test_describe_names_the_product_mode_status_and_message() -> None:
    status = status_from_rule(
        {
            "product_id": "ETH-USD",
            "status": "offline",
            "status_message": " maintenance until 14:00 ",
        }
    )
    assert status == TradingStatus("ETH-USD", M.HALTED, "offline", "maintenance until 14:00")
    assert status.describe() == "ETH-USD is halted (status offline): maintenance until 14:00"
    assert status_from_rule({"product_id": "ETH-USD", "cancel_only": True}).describe() == (
        "ETH-USD is cancel-only"
    )


# what each mode takes: (market order, post-only limit, plain limit or stop-limit)
ADMITS = {
    M.FULL: (True, True, True),
    M.LIMIT_ONLY: (False, True, True),
    M.POST_ONLY: (False, True, False),
    M.CANCEL_ONLY: (False, False, False),
    M.HALTED: (False, False, False),
}


@pytest.mark.parametrize("mode", list(M))
def test_what_each_mode_admits(mode: TradingMode) -> None:
    status = TradingStatus("BTC-USD", mode)
    market, post, plain = ADMITS[mode]
    expected = None if mode is M.FULL else f"PRODUCT_{mode.name}"
    assert refusal(status, market=True, post_only=False) == (None if market else expected)
    assert refusal(status, market=False, post_only=True) == (None if post else expected)
    assert refusal(status, market=False, post_only=False) == (None if plain else expected)


@given(st.sampled_from(list(M)), st.booleans(), st.booleans())
def test_a_stricter_mode_never_admits_more(mode: TradingMode, market: bool, post: bool) -> None:
    order = list(M)  # declared from the most to the least permissive
    status = TradingStatus("BTC-USD", mode)
    if refusal(status, market=market, post_only=post) is not None:
        for stricter in order[order.index(mode) :]:
            assert refusal(TradingStatus("BTC-USD", stricter), market=market, post_only=post)
