"""The pure exit rules: offsets, validation, the trailing ratchet, emulated triggers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botkit.strategy.exits import (
    ExitRecord,
    ExitRejected,
    Offset,
    ProductLimits,
    Trailing,
    check_exit,
    evaluate,
    position_left,
    resolve,
    stop_limit_price,
)

D = Decimal
TICK = D("0.01")
LIMITS = ProductLimits(
    base_min_size=D("0.0001"), base_increment=D("0.00000001"), price_increment=TICK
)


def test_offsets_resolve_against_the_reference_away_from_the_market() -> None:
    assert resolve(Offset.pct(2), D("101.37"), "long", "stop_loss", TICK) == D("99.34")
    assert resolve(Offset.pct(2), D("101.37"), "long", "take_profit", TICK) == D("103.40")
    assert resolve(Offset.bps(50), D("100"), "short", "stop_loss", TICK) == D("100.50")
    assert resolve(Offset.bps(50), D("100"), "short", "take_profit", TICK) == D("99.50")
    assert resolve(Offset.ticks(3), D("100"), "long", "stop_loss", TICK) == D("99.97")
    assert resolve(D("95"), D("100"), "long", "stop_loss", TICK) == D("95")
    with pytest.raises(ExitRejected) as info:
        resolve(Offset.ticks(3), D("100"), "long", "stop_loss", None)
    assert info.value.reason == "EXIT_TICK_UNKNOWN"
    with pytest.raises(ValueError, match="positive"):
        Offset.pct(-1)


@pytest.mark.parametrize(
    ("position", "stop", "tp", "reason"),
    [
        ("long", D("101"), None, "EXIT_STOP_WRONG_SIDE"),
        ("long", D("100"), None, "EXIT_STOP_WRONG_SIDE"),
        ("long", None, D("99"), "EXIT_TAKE_PROFIT_WRONG_SIDE"),
        ("short", D("99"), None, "EXIT_STOP_WRONG_SIDE"),
        ("short", None, D("101"), "EXIT_TAKE_PROFIT_WRONG_SIDE"),
        ("long", D("99.005"), None, "EXIT_PRICE_PRECISION"),
        ("long", None, None, "EXIT_EMPTY"),
    ],
)
def test_bad_exits_are_refused_with_the_fix(
    position: str, stop: Decimal | None, tp: Decimal | None, reason: str
) -> None:
    with pytest.raises(ExitRejected) as info:
        check_exit(
            position=position,  # type: ignore[arg-type]
            reference=D("100"),
            size=D("0.01"),
            stop=stop,
            take_profit=tp,
            limits=LIMITS,
        )
    assert info.value.reason == reason
    assert "Fix" in str(info.value) or reason == "EXIT_EMPTY"


def test_size_below_the_product_minimum_is_refused() -> None:
    with pytest.raises(ExitRejected) as info:
        check_exit(position="long", reference=D("100"), size=D("0.00005"), stop=D("99"),
                   take_profit=None, limits=LIMITS)  # fmt: skip
    assert info.value.reason == "EXIT_SIZE_TOO_SMALL" and "0.0001" in str(info.value)
    check_exit(position="long", reference=D("100"), size=D("0.0001"), stop=D("99"),
               take_profit=D("101"), limits=LIMITS)  # fmt: skip


def test_stop_limit_price_is_beyond_the_trigger_on_the_tick() -> None:
    assert stop_limit_price(D("100.01"), "long", TICK, D("0.05")) == D("95.00")
    assert stop_limit_price(D("100.01"), "short", TICK, D("0.05")) == D("105.02")


prices = st.lists(
    st.decimals(min_value=D("1"), max_value=D("1000"), places=2), min_size=1, max_size=60
)


@given(
    prices,
    st.sampled_from(["long", "short"]),
    st.one_of(
        st.decimals(min_value=D("0.01"), max_value=D("50"), places=2),
        st.builds(Offset.pct, st.decimals(min_value=D("0.1"), max_value=D("20"), places=1)),
        st.builds(Offset.ticks, st.integers(1, 500)),
    ),
)
def test_trailing_stop_only_ratchets_in_the_positions_favour(
    path: list[Decimal], position: str, distance: Decimal | Offset
) -> None:
    t = Trailing.start(position, distance, path[0], TICK)  # type: ignore[arg-type]
    long = position == "long"
    best = path[0]
    for price in path[1:]:
        before = t.stop
        t = t.on_price(price)
        best = max(best, price) if long else min(best, price)
        assert t.best == best
        assert before is not None and t.stop is not None
        assert (t.stop >= before) if long else (t.stop <= before)  # never against
        assert t.stop == (max if long else min)(before, t.candidate(best))
        assert (t.stop <= best) if long else (t.stop >= best)  # always behind the best
        assert t.stop % TICK == 0
    assert Trailing.from_json(t.to_json()) == t


def test_trailing_activation_waits_for_the_price() -> None:
    t = Trailing.start("long", D("2"), D("100"), TICK, activation=D("105"))
    assert t.stop is None and not t.active and not t.hit(D("1"))
    t = t.on_price(D("104.99"))
    assert t.stop is None
    t = t.on_price(D("105.5"))
    assert t.active and t.stop == D("103.5")
    assert t.on_price(D("104")).stop == D("103.5")  # a dip does not lower it
    assert t.on_price(D("110")).stop == D("108")
    assert t.hit(D("103.5")) and not t.hit(D("103.51"))


def test_evaluate_triggers_on_a_print_at_or_through_and_stop_wins_a_gap() -> None:
    rec = ExitRecord("x", "bracket", "BTC-USD", "long", D("1"), native=False,
                     stop=D("95"), take_profit=D("110"))  # fmt: skip
    assert evaluate(rec, D("100")) is None
    assert evaluate(rec, D("95")) == "stop_loss"
    assert evaluate(rec, D("110")) == "take_profit"
    short = ExitRecord("y", "bracket", "BTC-USD", "short", D("1"), native=False,
                       stop=D("105"), take_profit=D("90"))  # fmt: skip
    assert evaluate(short, D("105.01")) == "stop_loss" and evaluate(short, D("89")) == "take_profit"
    rec.native = True
    assert evaluate(rec, D("1")) is None  # the exchange holds it
    doc = short.to_json()
    assert ExitRecord.from_json(doc) == short


@given(
    st.lists(st.decimals(min_value=D("90"), max_value=D("110"), places=2), min_size=1, max_size=50),
    st.sampled_from(["long", "short"]),
)
def test_an_emulated_bracket_triggers_on_the_first_print_at_or_through_a_leg(
    path: list[Decimal], position: str
) -> None:
    long = position == "long"
    stop, tp = (D("95"), D("105")) if long else (D("105"), D("95"))
    rec = ExitRecord("x", "bracket", "BTC-USD", position, D("1"), native=False,  # type: ignore[arg-type]
                     stop=stop, take_profit=tp)  # fmt: skip
    fired = next((i for i, p in enumerate(path) if evaluate(rec, p) is not None), None)

    def reaches(p: Decimal, level: Decimal, favour: bool) -> bool:
        return (p >= level) if long == favour else (p <= level)

    first = next(
        (i for i, p in enumerate(path) if reaches(p, stop, False) or reaches(p, tp, True)), None
    )
    assert fired == first
    if fired is not None:
        leg = evaluate(rec, path[fired])
        assert leg == ("stop_loss" if reaches(path[fired], stop, False) else "take_profit")


def test_the_exit_rules_module_is_pure() -> None:
    """No I/O, clock or randomness: the architecture test's own checker, on this module."""
    from pathlib import Path

    from tests.test_architecture import pure_problems

    root = Path(__file__).resolve().parents[2]
    assert pure_problems([root / "botkit" / "strategy" / "exits.py"]) == []


def test_a_float_exit_price_says_money_is_decimal() -> None:
    """It raised AttributeError: 'float' object has no attribute 'amount'."""
    from botkit.strategy.exits import resolve

    with pytest.raises(TypeError, match=r"stop_loss must be a Decimal price or an Offset"):
        resolve(60000.0, Decimal("65000"), "long", "stop_loss", Decimal("0.01"))  # type: ignore[arg-type]


def test_an_offset_reads_a_float_as_written() -> None:
    """Offset.pct(0.1) was Decimal(0.1), 0.1000000000000000055511...: the docs write floats."""
    from botkit.strategy.exits import Offset

    assert Offset.pct(0.1).value == Decimal("0.1") and Offset.bps(2.5).value == Decimal("2.5")
    with pytest.raises(ValueError, match="positive finite number"):
        Offset.pct(-1)


@pytest.mark.parametrize(
    ("position", "held", "left"),
    [
        ("long", D("1"), D("1")),
        ("long", D("0.4"), D("0.4")),
        ("long", D("0"), D("0")),
        ("long", D("-1"), D("0")),  # short now: a long's exit has nothing to sell
        ("short", D("-2"), D("2")),
        ("short", D("1"), D("0")),
    ],
)
def test_position_left_is_what_an_exit_may_still_close(
    position: str, held: Decimal, left: Decimal
) -> None:
    assert position_left(position, held) == left  # type: ignore[arg-type]
