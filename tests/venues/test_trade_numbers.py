"""Advanced Trade ``market_trades`` and ticker numbers: the value check's fast paths
against the old check.

``check_values`` accepts a trade whose price and size print as short plain positive
decimals from a few string tests, and hands every other trade to ``_bad_number`` as
before; a ticker's eleven numbers take the same test one by one (a signed field may
start with "-", a positive one must be non-zero). A replay checks every print, and every
ticker sits on the tick -> order path, so these are hot paths; these tests hold them to
the old per-number check (kept here as the reference) for any Decimal the decoder can
make, under the default and under arbitrary (also tiny) :class:`WireLimits`, and through
the decoder for wire strings and JSON numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from hypothesis import example, given, settings
from hypothesis import strategies as st

from botkit.market.book_levels import DEFAULT_LIMITS, WireLimits
from botkit.market.types import MarketTrade, Ticker
from botkit.venues.advanced_trade import messages as m


def reference(frame: m.MarketTradesMessage, limits: WireLimits) -> str | None:
    """The ``market_trades`` branch of ``check_values`` before its fast path (eb4209f)."""
    for trev in frame.events:
        for tr in trev.trades:
            for name, value, price in (("price", tr.price, True), ("size", tr.size, False)):
                why = m._bad_number(value, m._POSITIVE, price, limits)
                if why is not None:
                    return f"{tr.product_id[:20]}: trade {name} {why}"
    return None


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


# what a wire string can look like: signs, points, exponents, leading zeros, long tails
WIRE = st.from_regex(
    r"[-+]?[0-9]{0,22}(\.[0-9]{0,24})?([eE][-+]?[0-9]{1,3})?", fullmatch=True
) | st.sampled_from(
    [
        "NaN", "-NaN", "sNaN", "nan", "inf", "-inf", "Infinity", "-0", "0", "0.0", "0E-7",
        "0.000000001", "1E+3", "1e-7", "0.0000001", "1" * 15, "1" * 16, "9" * 18, "9" * 19,
        "0." + "1" * 17, "0." + "1" * 18, "1000000000000000", "999999999999999.9",
    ]
)  # fmt: skip
SCALED = st.builds(
    lambda digits, exp, neg: Decimal((neg, tuple(int(c) for c in str(digits)), exp)),
    st.integers(min_value=0, max_value=10**30),
    st.integers(min_value=-40, max_value=12),
    st.integers(min_value=0, max_value=1),
)
VALUES = st.one_of(
    WIRE.map(_decimal).filter(lambda d: d is not None),
    st.decimals(),  # NaN, sNaN, infinities, any exponent
    SCALED,
)
LIMITS = st.one_of(
    st.just(DEFAULT_LIMITS),
    st.builds(
        WireLimits,
        max_quantity=st.one_of(st.integers(1, 10**20), st.sampled_from([10**k for k in range(20)])),
        max_price=st.one_of(st.integers(1, 10**17), st.sampled_from([10**k for k in range(17)])),
        max_fraction_digits=st.integers(1, 25),
    ),
)


def trades_frame(pairs: list[tuple[Decimal, Decimal]]) -> m.MarketTradesMessage:
    trades = [
        MarketTrade(trade_id=str(i), product_id="BTC-USD", price=p, size=s, side="BUY")
        for i, (p, s) in enumerate(pairs)
    ]
    return m.MarketTradesMessage(
        sequence_num=1, events=[m.MarketTradesEvent(type="update", trades=trades)]
    )


@settings(max_examples=1500, deadline=None)
@given(pairs=st.lists(st.tuples(VALUES, VALUES), min_size=1, max_size=4), limits=LIMITS)
@example(pairs=[(Decimal("65000.5"), Decimal("0.001"))], limits=DEFAULT_LIMITS)
@example(pairs=[(Decimal("0"), Decimal("1"))], limits=DEFAULT_LIMITS)
@example(pairs=[(Decimal("1"), Decimal("-0"))], limits=DEFAULT_LIMITS)
@example(pairs=[(Decimal("1" * 16), Decimal("1"))], limits=DEFAULT_LIMITS)
@example(pairs=[(Decimal("1" * 15), Decimal("1"))], limits=WireLimits(max_price=10**14))
@example(pairs=[(Decimal("1"), Decimal("0.12"))], limits=WireLimits(max_fraction_digits=1))
@example(pairs=[(Decimal("1E+3"), Decimal("1"))], limits=DEFAULT_LIMITS)
@example(pairs=[(Decimal("1"), Decimal("1" * 19))], limits=DEFAULT_LIMITS)
@example(pairs=[(Decimal("1"), Decimal("NaN"))], limits=DEFAULT_LIMITS)
def test_trade_check_says_what_the_old_check_said(
    pairs: list[tuple[Decimal, Decimal]], limits: WireLimits
) -> None:
    frame = trades_frame(pairs)
    assert m.check_values(frame, limits) == reference(frame, limits)


@settings(max_examples=600, deadline=None)
@given(
    price=st.one_of(WIRE, st.integers(-(10**20), 10**20), st.floats()),
    size=st.one_of(WIRE, st.integers(-(10**20), 10**20), st.floats()),
)
def test_decoded_trades_are_judged_as_before(price: object, size: object) -> None:
    """Through the decoder: wire strings and JSON numbers, as msgspec turns them into Decimal."""
    trade = {"trade_id": "1", "product_id": "BTC-USD", "price": price, "size": size, "side": "BUY"}
    judged_as_before("market_trades", "trades", trade, m.MarketTradesMessage, reference)


def judged_as_before(
    channel: str, key: str, item: dict[str, object], kind: type[Any], old: Callable[..., str | None]
) -> None:
    """``decode_frame`` of a one-item frame says what the old check (``old``) said of the
    frame msgspec decodes: the frame itself when sane, else Malformed with the old reason."""
    doc = {
        "channel": channel, "client_id": "", "timestamp": "2024-01-01T00:00:00Z",
        "sequence_num": 3, "events": [{"type": "update", key: [item]}],
    }  # fmt: skip
    data = json.dumps(doc)  # floats: nan and inf become NaN/Infinity, which JSON refuses
    try:
        typed = msgspec.json.decode(data, type=kind)
    except msgspec.MsgspecError:
        assert isinstance(m.decode_frame(data, fast_l2=True), m.Malformed)
        return
    expected = old(typed, DEFAULT_LIMITS)
    got = m.decode_frame(data, fast_l2=True)
    if expected is None:
        assert got == typed
    else:
        assert got == m.Malformed(problem=expected, sequence_num=3, channel=channel)


def test_price_fast_len_is_within_every_bound() -> None:
    """The longest plain price the fast path accepts unread is below ``max_price``."""
    for max_price in (1, 9, 10, 11, 99, 100, 10**15, 10**15 + 1, 2 * 10**15 - 1):
        for digits in (1, 5, 18, 30):
            limits = WireLimits(max_price=max_price, max_fraction_digits=digits)
            n = limits.price_fast_len
            assert n <= digits + 1
            assert n == 0 or 10**n <= max_price


def ticker_reference(frame: m.TickerMessage, limits: WireLimits) -> str | None:
    """The ticker branch of ``check_values`` before its fast path (f3530e1)."""
    for tev in frame.events:
        for t in tev.tickers:
            for name, kind, price in m._TICKER_FIELDS:
                why = m._bad_number(getattr(t, name), kind, price, limits)
                if why is not None:
                    return f"{t.product_id[:20]}: ticker {name} {why}"
    return None


TICKER_NUMBERS = [name for name, _, _ in m._TICKER_FIELDS]


def ticker_frame(values: list[dict[str, Decimal | None]]) -> m.TickerMessage:
    tickers = [Ticker(product_id="BTC-USD", **fields) for fields in values]  # type: ignore[arg-type]
    return m.TickerMessage(sequence_num=1, events=[m.TickerEvent(type="update", tickers=tickers)])


FIELD_VALUE = st.one_of(st.none(), VALUES)
TICKER_VALUES = st.fixed_dictionaries({name: FIELD_VALUE for name in TICKER_NUMBERS}).filter(
    lambda d: d["price"] is not None
)


@settings(max_examples=1500, deadline=None)
@given(values=st.lists(TICKER_VALUES, min_size=1, max_size=3), limits=LIMITS)
@example(values=[{"price": Decimal("65000.5")}], limits=DEFAULT_LIMITS)
@example(values=[{"price": Decimal("1"), "price_percent_chg_24_h": Decimal("-1.25")}],
         limits=DEFAULT_LIMITS)  # fmt: skip
@example(values=[{"price": Decimal("1"), "price_percent_chg_24_h": Decimal("-0")}],
         limits=DEFAULT_LIMITS)  # fmt: skip
@example(values=[{"price": Decimal("1"), "price_percent_chg_24_h": Decimal("-Infinity")}],
         limits=DEFAULT_LIMITS)  # fmt: skip
@example(values=[{"price": Decimal("1"), "volume_24_h": Decimal("-0")}], limits=DEFAULT_LIMITS)
@example(values=[{"price": Decimal("1"), "volume_24_h": Decimal("0")}], limits=DEFAULT_LIMITS)
@example(values=[{"price": Decimal("0")}], limits=DEFAULT_LIMITS)
@example(values=[{"price": Decimal("1"), "best_bid": Decimal("0")}], limits=DEFAULT_LIMITS)
@example(values=[{"price": Decimal("1" * 16)}], limits=DEFAULT_LIMITS)
@example(values=[{"price": Decimal("1"), "volume_24_h": Decimal("1" * 19)}], limits=DEFAULT_LIMITS)
@example(values=[{"price": Decimal("1"), "price_percent_chg_24_h": Decimal("-" + "1" * 16)}],
         limits=DEFAULT_LIMITS)  # fmt: skip
@example(values=[{"price": Decimal("1"), "best_ask_quantity": Decimal("0.12")}],
         limits=WireLimits(max_fraction_digits=1))  # fmt: skip
@example(values=[{"price": Decimal("1E+3")}], limits=DEFAULT_LIMITS)
@example(values=[{"price": Decimal("1"), "low_24_h": Decimal("1E-7")}], limits=DEFAULT_LIMITS)
def test_ticker_check_says_what_the_old_check_said(
    values: list[dict[str, Decimal | None]], limits: WireLimits
) -> None:
    frame = ticker_frame(values)
    assert m.check_values(frame, limits) == ticker_reference(frame, limits)


@settings(max_examples=600, deadline=None)
@given(
    field=st.sampled_from(TICKER_NUMBERS),
    value=st.one_of(WIRE, st.integers(-(10**20), 10**20), st.floats()),
)
def test_decoded_tickers_are_judged_as_before(field: str, value: object) -> None:
    """Through the decoder: any one ticker number as a wire string or a JSON number."""
    ticker: dict[str, object] = {"type": "ticker", "product_id": "BTC-USD", "price": "65000.5"}
    ticker[field] = value
    judged_as_before("ticker", "tickers", ticker, m.TickerMessage, ticker_reference)
