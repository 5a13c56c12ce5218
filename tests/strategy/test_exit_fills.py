"""The exit's working-order bookkeeping (botkit/strategy/exit_fills.py): pure, no I/O.

The fill tracker reports a working order's final update before the fills it includes;
these functions let the exit manager size its next order by what those fills will bring
and still count each of them once, through the fill path.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from botkit.strategy import exit_fills as xf


def test_an_order_that_ended_part_filled_owes_its_late_fills_until_they_come() -> None:
    extra: dict[str, Any] = {}
    xf.begin(extra, "a")
    assert xf.accepts(extra, "a", D("0.2"))
    xf.counted(extra, "a", D("0.2"))
    assert not xf.accepts(extra, "a", D("0.2"))  # a repeat
    assert xf.ended(extra, "a", D("0.5")) == D("0.3")  # final update before 0.3 of fills
    assert xf.owes(extra, "a") and xf.outstanding(extra) == D("0.3")
    xf.begin(extra, "b")  # the next working order: "a" is still owed
    assert xf.owes(extra, "a") and xf.outstanding(extra) == D("0.3")
    xf.counted(extra, "a", D("0.4"))
    assert xf.outstanding(extra) == D("0.1")
    xf.counted(extra, "a", D("0.5"))
    assert not xf.owes(extra, "a") and xf.outstanding(extra) == 0
    assert xf.ended(extra, "b", D(0)) == 0  # ended unfilled: owes nothing
    assert not xf.accepts(extra, "a", D("0.5"))  # still recognised as counted
    xf.begin(extra, "c")  # the next order: those that owe nothing are forgotten
    assert extra == {"applied": {"c": "0"}, "due": {}}


def test_an_order_an_older_botkit_sent_is_counted_as_before() -> None:
    extra: dict[str, Any] = {"entry_size": "1"}  # no bookkeeping saved with it
    assert xf.accepts(extra, "old", D("0.5"))  # no de-duplication to guess at
    assert xf.ended(extra, "old", D("0.5")) == 0  # nothing owed: as before
    xf.counted(extra, "old", D("0.5"))
    assert xf.outstanding(extra) == 0 and not xf.owes(extra, "old")


def test_begin_forgets_orders_that_owe_nothing() -> None:
    extra: dict[str, Any] = {}
    for i in range(100):  # a trailing stop re-priced a hundred times
        xf.begin(extra, f"o{i}")
        xf.counted(extra, f"o{i}", D("0.001") * i)
    assert list(extra["applied"]) == ["o99"]


@given(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=6),
       st.integers(min_value=0, max_value=6))  # fmt: skip
def test_each_fill_counts_once_whenever_the_final_update_comes(
    sizes: list[int], update_after: int
) -> None:
    """Fills of one order (cumulative), its final update placed anywhere among them: the
    quantity counted plus what is owed is always the order's filled total at the update,
    and once every fill came, exactly the order's total was counted."""
    extra: dict[str, Any] = {}
    xf.begin(extra, "w")
    cums = [sum(sizes[: i + 1]) for i in range(len(sizes))]
    final = D(cums[-1])
    counted = D(0)
    for i, cum in enumerate(cums):
        if i == min(update_after, len(cums)):
            owed = xf.ended(extra, "w", final)
            assert counted + owed == final
        if xf.accepts(extra, "w", D(cum)):
            counted += D(cum) - (D(cums[i - 1]) if i else D(0))
            xf.counted(extra, "w", D(cum))
        for repeat in cums[: i + 1]:  # replays of earlier fills count nothing
            assert not xf.accepts(extra, "w", D(repeat))
    if update_after >= len(cums):  # the usual order live: every fill, then the update
        assert xf.ended(extra, "w", final) == 0
    assert counted == final and xf.outstanding(extra) == 0
