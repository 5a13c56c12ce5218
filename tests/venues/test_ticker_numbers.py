"""Advanced Trade ticker numbers: the fast exponent read used by the feed's value check.

``decimal_exponent`` replaces ``Decimal.as_tuple().exponent`` on the tick -> order path;
these tests hold it to exactly that, for every finite Decimal form (plain, exponent form,
tiny, negative, zero with a scale), and check that the feed still refuses what it refused.
"""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from botkit.venues.advanced_trade import messages as m
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol, Subscription

finite = st.decimals(allow_nan=False, allow_infinity=False)
scaled = st.builds(
    lambda digits, exp, neg: Decimal((neg, tuple(int(c) for c in str(digits)), exp)),
    st.integers(min_value=0, max_value=10**30),
    st.integers(min_value=-40, max_value=12),
    st.integers(min_value=0, max_value=1),
)


@given(st.one_of(finite, scaled))
def test_decimal_exponent_is_as_tuple_exponent(value: Decimal) -> None:
    assert m.decimal_exponent(value) == value.as_tuple().exponent


def test_decimal_exponent_examples() -> None:
    for text, exponent in (
        ("65000.50", -2), ("100", 0), ("1e3", 3), ("1E-7", -7), ("0.0000001", -7),
        ("-0.00", -2), ("0E-7", -7), ("12.", 0), ("-1.5e-30", -31),
    ):  # fmt: skip
        assert m.decimal_exponent(Decimal(text)) == exponent, text


def _ticker_frame(**fields: str) -> bytes:
    ticker = {"type": "ticker", "product_id": "BTC-USD", "price": "65000.5", **fields}
    doc = {
        "channel": "ticker", "client_id": "", "timestamp": "2024-01-01T00:00:00Z",
        "sequence_num": 1, "events": [{"type": "update", "tickers": [ticker]}],
    }  # fmt: skip
    return json.dumps(doc).encode()


def test_feed_still_refuses_exponent_form_and_too_many_fraction_digits() -> None:
    sub = (Subscription("ticker", ("BTC-USD",)),)
    for fields, accepted in (
        ({"best_bid": "65000.25"}, True),
        ({"best_bid": "1e3"}, False),  # exponent form: never sent by Coinbase
        ({"best_bid": "0." + "1" * 19}, False),  # 19 fraction digits > 18
        ({"volume_24_h": "0.000000000000000001"}, True),  # 18: the limit
        ({"volume_24_h": "1E-7"}, True),  # tiny, plain digits within the limit
    ):
        proto = FeedProtocol("t", sub, books={})
        proto.receive(_ticker_frame(**fields))
        assert (proto.stats.malformed == 0) is accepted, fields
