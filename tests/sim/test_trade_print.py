"""``TradePrint`` keeps the frozen-record contract it had as a frozen dataclass.

It became a frozen ``msgspec`` Struct (the paper exchange builds one per real print of a
replay; a frozen dataclass cost ~1 us each): fields in the same order, positional and
keyword construction, value equality and hashing, and no assignment.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from botkit.sim.events import TradePrint

D = Decimal


def test_trade_print_is_an_immutable_value_with_the_same_fields() -> None:
    a = TradePrint("7", "BTC-USD", D("100.5"), D("0.25"), "BUY", 1.5)
    b = TradePrint(
        trade_id="7", product_id="BTC-USD", price=D("100.5"), size=D("0.25"), side="BUY", time=1.5
    )
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != TradePrint("7", "BTC-USD", D("100.5"), D("0.25"), "SELL", 1.5)
    assert (a.trade_id, a.product_id, a.price, a.size, a.side, a.time) == (
        "7", "BTC-USD", D("100.5"), D("0.25"), "BUY", 1.5,
    )  # fmt: skip
    assert [f.name for f in msgspec.structs.fields(TradePrint)] == [
        "trade_id", "product_id", "price", "size", "side", "time",
    ]  # fmt: skip
    with pytest.raises(AttributeError):
        a.price = D(1)  # type: ignore[misc]
    assert repr(a) == (
        "TradePrint(trade_id='7', product_id='BTC-USD', price=Decimal('100.5'), "
        "size=Decimal('0.25'), side='BUY', time=1.5)"
    )
