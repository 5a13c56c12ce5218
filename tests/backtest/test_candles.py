"""Candle backtests through the real strategy, risk gate, executor and paper broker."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botkit.backtest.candle_model import FillModel, limit_fills, market_price
from botkit.backtest.candles import CandleBacktest, CandleSeries
from botkit.backtest.synthetic import synthetic_series
from botkit.errors import ConfigError
from botkit.paper.journal import PaperJournal
from botkit.paper.records import FillRecord
from botkit.runtime.bot_config import BotConfig, parse_bot_config
from botkit.runtime.settings import BotSettings
from botkit.strategy.state import JsonState

D = Decimal
T0 = 1_700_000_000


def config(
    strategy: str,
    params: dict[str, Any],
    *,
    fees: bool = False,
    btc: str = "1",
    venue: str = "advanced_trade",
) -> BotConfig:
    rate = "0.004" if fees else "0"
    return parse_bot_config(
        {
            "bot": {"products": ["BTC-USD"], "venue": venue},
            "strategy": {"name": strategy, "params": {"product_id": "BTC-USD", **params}},
            "risk": {
                "max_order_notional": "1000000",
                "max_position": "10",
                "max_open_orders": 8,
                "price_band_pct": "90",
                "daily_loss_limit": "1000000",
            },
            "paper": {
                "initial_balances": {"USD": "100000", "BTC": btc},
                "maker_fee_rate": rate,
                "taker_fee_rate": rate,
            },
        }
    )


def series(rows: list[tuple[str, str, str, str]], volume: str = "10") -> CandleSeries:
    """Candles from (open, high, low, close) strings, one minute apart."""
    return CandleSeries(
        "BTC-USD",
        60,
        [T0 + 60 * i for i in range(len(rows))],
        [D(r[0]) for r in rows],
        [D(r[1]) for r in rows],
        [D(r[2]) for r in rows],
        [D(r[3]) for r in rows],
        [D(volume)] * len(rows),
    )


def run(cfg: BotConfig, data: CandleSeries, out: Path, **kw: Any) -> list[FillRecord]:
    result = asyncio.run(CandleBacktest(cfg, BotSettings(), data, out, **kw).run())
    assert result.candles == len(data)
    with PaperJournal(result.journal_path, readonly=True) as journal:
        return list(journal.fills())


STRATS = "tests.backtest.candle_strategies"


def test_limit_buy_touched_does_not_fill_traded_through_fills_at_its_price(tmp_path):
    cfg = config(f"{STRATS}:RestingLimit", {"side": "BUY", "price": "100", "size": "0.5"})
    touch = series([("101", "102", "100", "101"), ("101", "103", "100.00", "102")])
    assert run(cfg, touch, tmp_path / "a") == []
    through = touch_then = series(
        [("101", "102", "100", "101"), ("101", "101.5", "99.99", "101"), ("95", "96", "90", "91")]
    )
    fills = run(cfg, through, tmp_path / "b")
    assert [(f.side, f.price, f.size, f.liquidity) for f in fills] == [
        ("BUY", D("100.00"), D("0.5"), "MAKER")
    ]
    assert T0 + 60 <= fills[0].time < T0 + 120  # in the second candle, not later
    assert touch_then is through


def test_limit_sell_needs_a_high_strictly_above(tmp_path):
    cfg = config(f"{STRATS}:RestingLimit", {"side": "SELL", "price": "110", "size": "0.25"})
    assert run(cfg, series([("105", "110", "104", "109")] * 3), tmp_path / "a") == []
    fills = run(cfg, series([("105", "110", "104", "109"), ("109", "110.01", "108", "108")]),
                tmp_path / "b")  # fmt: skip
    assert [(f.side, f.price) for f in fills] == [("SELL", D("110.00"))]


def test_gap_through_a_resting_limit_fills_at_the_limit_not_the_better_open(tmp_path):
    cfg = config(f"{STRATS}:RestingLimit", {"side": "BUY", "price": "100", "size": "0.1"})
    fills = run(cfg, series([("101", "102", "100.5", "101"), ("95", "96", "94", "95")]), tmp_path)
    assert [f.price for f in fills] == [D("100.00")]


def test_market_order_fills_at_next_open_plus_slippage(tmp_path):
    cfg = config(f"{STRATS}:MarketOnCandle", {"at": 1, "sell_at": 2, "size": "0.1"})
    data = series(
        [("200", "210", "190", "205"), ("300", "310", "290", "305"), ("400", "401", "399", "400")]
    )
    fills = run(cfg, data, tmp_path, model=FillModel(slippage_bps=D(10)))
    # decided on candle 1's close (205) -> candle 2's open 300 + 10 bps; sold on candle 2's
    # close -> candle 3's open 400 - 10 bps: never at the close the decision saw
    assert [(f.side, f.price, f.liquidity) for f in fills] == [
        ("BUY", D("300.30"), "TAKER"),
        ("SELL", D("399.60"), "TAKER"),
    ]
    assert T0 + 60 <= fills[0].time < T0 + 61
    assert T0 + 120 <= fills[1].time < T0 + 121


def test_same_input_gives_identical_fills(tmp_path):
    cfg = config("ema_cross", {"size": "0.05", "fast": 4, "slow": 12}, fees=True)
    data = synthetic_series(1500, seed=7)
    first = run(cfg, data, tmp_path / "a")
    second = run(cfg, data, tmp_path / "b")
    assert len(first) > 10
    assert first == second


def test_a_dataset_for_another_product_is_refused_with_the_fix(tmp_path):
    cfg = config("ema_cross", {"size": "0.05"})
    data = synthetic_series(10, product_id="ETH-USD")
    with pytest.raises(ConfigError, match="holds ETH-USD only"):
        CandleBacktest(cfg, BotSettings(), data, tmp_path)


def test_inconsistent_candles_are_refused():
    with pytest.raises(ConfigError, match="inconsistent"):
        series([("100", "99", "98", "99")])
    with pytest.raises(ConfigError, match="must increase"):
        CandleSeries("BTC-USD", 60, [2, 1], [D(1)] * 2, [D(1)] * 2, [D(1)] * 2, [D(1)] * 2,
                     [D(1)] * 2)  # fmt: skip


@pytest.mark.parametrize("btc", ["0", "1"])  # the position, not the account, decides
@pytest.mark.parametrize(
    ("intrabar", "expected"),
    [
        # up candle, ohlc: open -> high (through the take-profit) first: sold at 110, maker
        ("ohlc", ("SELL", D("110.00"), "MAKER")),
        # pessimistic while long: the low first -> the print at 89 triggers the stop (90) and
        # its limit meets the book at the price the candle reached: 89 - 2 bps = 88.98, taker
        ("pessimistic", ("SELL", D("88.98"), "TAKER")),
    ],
)
def test_a_bracket_inside_one_candle_fills_by_the_intrabar_order(tmp_path, intrabar, expected, btc):
    cfg = config(f"{STRATS}:BracketAfterEntry",
                 {"size": "0.1", "take_profit": "110", "stop_loss": "90"}, btc=btc)  # fmt: skip
    data = series(
        [
            ("100", "101", "99", "100"),  # close 1: buy at market
            ("100", "101", "99", "100.5"),  # filled at this open; protected at this close
            ("100", "100.5", "99.5", "100"),  # the bracket rests
            ("100", "111", "89", "105"),  # both legs inside: which one is the intrabar order's
            ("105", "106", "104", "105"),
        ]
    )
    fills = run(cfg, data, tmp_path, model=FillModel(slippage_bps=D(2), intrabar=intrabar))
    assert fills[0].side == "BUY" and fills[0].price == D("100.02")
    assert [(f.side, f.price, f.liquidity) for f in fills[1:]] == [expected]
    assert T0 + 180 <= fills[1].time < T0 + 240  # inside the fourth candle


@pytest.mark.parametrize(("venue", "native"), [("advanced_trade", True), ("exchange", False)])
def test_a_candle_backtest_takes_its_native_exits_from_the_configured_venue(
    tmp_path, venue, native
):
    """Exchange holds stop-limits but no brackets: there the bracket is emulated, as a
    paper or live Exchange bot would do it, and still protects the position (the exits
    evaluated by the bot see the candle's intrabar prints)."""
    cfg = config(f"{STRATS}:BracketAfterEntry",
                 {"size": "0.1", "take_profit": "110", "stop_loss": "90"}, venue=venue)  # fmt: skip
    data = series([("100", "101", "99", "100"), ("100", "101", "99", "100.5"),
                   ("100", "100.5", "99.5", "100"), ("100", "111", "99", "105"),
                   ("105", "106", "104", "105"), ("105", "112", "104", "111")])  # fmt: skip
    fills = run(cfg, data, tmp_path)
    state = JsonState(tmp_path / "state" / "BracketAfterEntry.json")
    assert state.get("native") is native
    # the take-profit, natively or not: the emulated one triggers on the intrabar print at
    # 111 (the hooks never see it) and its limit at 110 rests until the market returns
    assert [(f.side, f.price) for f in fills[1:]] == [("SELL", D(110))]
    assert fills[1].time < T0 + 240 if native else fills[1].time >= T0 + 300


candle_rows = st.lists(
    st.tuples(st.integers(90, 110), st.integers(0, 5), st.integers(0, 5), st.integers(90, 110)),
    min_size=2,
    max_size=6,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(candle_rows, st.integers(88, 112), st.sampled_from(["BUY", "SELL"]))
def test_the_engine_fills_a_resting_limit_exactly_where_the_model_says(tmp_path, rows, limit, side):
    """The paper exchange driven by the candles agrees with the model: a limit marketable
    when it arrives (at the first open) fills there as a taker at the book's price (the
    open, 5 bps worse); otherwise the first candle that trades through it fills it, at
    the limit, and none other does."""
    data = series([(str(o), str(max(o, c) + up), str(min(o, c) - down), str(c))
                   for o, up, down, c in rows])  # fmt: skip
    out = tmp_path / f"h{len(list(tmp_path.iterdir()))}"
    cfg = config(f"{STRATS}:RestingLimit", {"side": side, "price": str(limit), "size": "0.1"})
    fills = run(cfg, data, out)
    tick, bps = D("0.01"), FillModel().slippage_bps
    ask, bid = (
        market_price("BUY", data.open[0], bps, tick),
        market_price("SELL", data.open[0], bps, tick),
    )
    if (side == "BUY" and limit >= ask) or (side == "SELL" and limit <= bid):
        book = ask if side == "BUY" else bid
        assert [(f.side, f.price, f.liquidity) for f in fills] == [(side, book, "TAKER")]
        return
    expected = next(
        (i for i in range(len(data))
         if limit_fills(side, D(limit), data.high[i], data.low[i])),
        None,
    )  # fmt: skip
    if expected is None:
        assert fills == []
    else:
        assert [(f.side, f.price) for f in fills] == [(side, D(limit))]
        assert T0 + 60 * expected <= fills[0].time < T0 + 60 * (expected + 1)


def test_a_strategy_without_on_candle_is_warned_about_once(tmp_path, caplog):
    """A candle backtest calls on_candle (and timers) only: a ticker strategy placed nothing
    and said nothing (a QA pass). Said once per class (an optimize builds one per trial)."""
    from botkit import Strategy, Ticker
    from botkit.strategy import NoParams

    class TickerOnly(Strategy):
        class Params(NoParams):
            product_id: str = "BTC-USD"

        async def on_ticker(self, ticker: Ticker) -> None:
            await self.ctx.buy_market("BTC-USD", base_size=D("0.001"))

    cfg = config("market_maker", {})
    data = synthetic_series(10)
    caplog.set_level("WARNING", logger="botkit")
    for out in ("a", "b"):
        CandleBacktest(cfg, BotSettings(), data, tmp_path / out, strategy_cls=TickerOnly)
    said = [r.getMessage() for r in caplog.records if "no on_candle" in r.getMessage()]
    assert len(said) == 1 and "never its on_ticker" in said[0], said
    caplog.clear()
    for name, params in (("ema_cross", {"size": "0.05"}), ("market_maker", {})):  # candles,
        CandleBacktest(config(name, params), BotSettings(), data, tmp_path / name)  # timers

    class Grid(Strategy):  # no market-data hook: orders from on_start, reacts to its fills
        class Params(NoParams):
            product_id: str = "BTC-USD"

        async def on_start(self) -> None:
            await self.ctx.buy_limit("BTC-USD", D("0.001"), D("1"))

    CandleBacktest(cfg, BotSettings(), data, tmp_path / "grid", strategy_cls=Grid)
    assert not [r for r in caplog.records if "no on_candle" in r.getMessage()]
