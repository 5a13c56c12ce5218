"""Decoding every channel into typed structs; unknown/malformed/error frames never raise."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from botkit.venues.advanced_trade import messages as m

ENV = {"client_id": "", "timestamp": "2026-01-01T12:00:00.000000001Z", "sequence_num": 7}


def env(channel, events):
    return json.dumps({"channel": channel, **ENV, "events": events})


def test_l2_data():
    f = m.decode_frame(
        env(
            "l2_data",
            [
                {
                    "type": "snapshot",
                    "product_id": "BTC-USD",
                    "updates": [
                        {
                            "side": "bid",
                            "event_time": "1970-01-01T00:00:00Z",
                            "price_level": "64999.99",
                            "new_quantity": "0.0631",
                        }
                    ],
                }
            ],
        )
    )
    assert isinstance(f, m.L2Message) and f.sequence_num == 7
    u = f.events[0].updates[0]
    assert (u.side, u.price_level, u.new_quantity) == ("bid", "64999.99", Decimal("0.0631"))


def test_heartbeats_ticker_batch_trades_candles_status_subscriptions_user():
    hb = m.decode_frame(
        env(
            "heartbeats",
            [
                {
                    "current_time": "2026-01-01 12:00:01.000123456 +0000 UTC m=+1.5",
                    "heartbeat_counter": "3049",
                }
            ],
        )
    )
    assert isinstance(hb, m.HeartbeatsMessage) and hb.events[0].heartbeat_counter == "3049"
    t = {
        "type": "ticker",
        "product_id": "BTC-USD",
        "price": "65000.01",
        "volume_24_h": "1",
        "best_bid": "65000.00",
    }
    tk = m.decode_frame(env("ticker", [{"type": "update", "tickers": [t]}]))
    assert isinstance(tk, m.TickerMessage) and tk.events[0].tickers[0].best_bid == Decimal(
        "65000.00"
    )
    tb = m.decode_frame(
        env(
            "ticker_batch",
            [{"type": "update", "tickers": [{"type": "ticker", "product_id": "X", "price": "1"}]}],
        )
    )
    assert isinstance(tb, m.TickerBatchMessage) and tb.events[0].tickers[0].best_ask is None
    tr = m.decode_frame(
        env(
            "market_trades",
            [
                {
                    "type": "update",
                    "trades": [
                        {
                            "trade_id": "9",
                            "product_id": "X",
                            "price": "1.5",
                            "size": "2",
                            "side": "SELL",
                            "time": "t",
                        }
                    ],
                }
            ],
        )
    )
    assert isinstance(tr, m.MarketTradesMessage) and tr.events[0].trades[0].size == 2
    c = {
        "start": "1760000100",
        "high": "2",
        "low": "1",
        "open": "1",
        "close": "2",
        "volume": "3",
        "product_id": "X",
    }
    cd = m.decode_frame(env("candles", [{"type": "update", "candles": [c]}]))
    assert isinstance(cd, m.CandlesMessage) and cd.events[0].candles[0].close == 2
    st = m.decode_frame(
        env("status", [{"type": "snapshot", "products": [{"id": "X", "status": "online"}]}])
    )
    assert isinstance(st, m.StatusMessage) and st.events[0].products[0].status == "online"
    sb = m.decode_frame(env("subscriptions", [{"subscriptions": {"level2": ["X"]}}]))
    assert isinstance(sb, m.SubscriptionsMessage) and sb.events[0].subscriptions == {
        "level2": ["X"]
    }
    order = {
        "order_id": "o1",
        "cumulative_quantity": "0.5",
        "avg_price": "100",
        "status": "OPEN",
        "stop_price": "",
        "post_only": "true",
        "unknown_new_field": 1,
    }
    us = m.decode_frame(env("user", [{"type": "update", "orders": [order], "positions": {}}]))
    assert isinstance(us, m.UserMessage) and us.events[0].orders[0].cumulative_quantity == "0.5"


def test_error_unknown_and_malformed_frames():
    assert m.decode_frame('{"type":"error","message":"authentication failure"}') == m.ErrorFrame(
        message="authentication failure"
    )
    e = m.decode_frame(
        '{"type":"error","message":"failure to subscribe","reason":"X is not a valid product"}'
    )
    assert isinstance(e, m.ErrorFrame) and e.reason.startswith("X")
    u = m.decode_frame(env("futures_balance_summary", [{}]))
    assert u == m.UnknownMessage(channel="futures_balance_summary", sequence_num=7)
    bad = m.decode_frame('{"channel":"l2_data","client_id":"","events":[{"type":"upd')
    assert isinstance(bad, m.Malformed) and bad.sequence_num is None
    wrong = m.decode_frame(
        env(
            "l2_data",
            [
                {
                    "type": "update",
                    "product_id": "X",
                    "updates": [{"side": "bid", "price_level": "1", "new_quantity": "abc"}],
                }
            ],
        )
    )
    assert isinstance(wrong, m.Malformed) and wrong.sequence_num == 7
    assert isinstance(m.decode_frame("[1,2]"), m.Malformed)
    assert isinstance(m.decode_frame(b"\xff\xfe"), m.Malformed)


def test_encode_message_is_compact():
    assert (
        m.encode_message({"type": "subscribe", "channel": "heartbeats"})
        == '{"type":"subscribe","channel":"heartbeats"}'
    )


def test_l2_bulk_batches_cut_between_levels_and_fall_back_when_a_cut_is_inside_a_string():
    ups = [
        {"side": "bid", "event_time": "t", "price_level": f"{i}.5", "new_quantity": f"{i}.25"}
        for i in range(1, 400)
    ]
    ups[200]["event_time"] = "x},{y"  # a cut here would split a string
    raw = env("l2_data", [{"type": "snapshot", "product_id": "X", "updates": ups}])
    bulk = m.decode_l2_bulk(raw.encode())
    assert bulk is not None and bulk.sequence_num == 7
    for size in (1, 50, 1 << 16):
        got = [u for batch in bulk.events[0].batches(size) for u in batch]
        assert [(u.side, u.price_level, u.new_quantity) for u in got] == [
            (u["side"], u["price_level"], u["new_quantity"]) for u in ups
        ]
    assert m.decode_l2_bulk(env("heartbeats", [])) is None  # not l2_data: decode it normally
    bad = env("l2_data", [{"type": "update", "product_id": "X", "updates": [{"side": 1}]}])
    bad_bulk = m.decode_l2_bulk(bad)  # the envelope decodes; the levels fail when batched
    assert bad_bulk is not None
    with pytest.raises(m.DecodeFailed):
        [*bad_bulk.events[0].batches()]


def test_decode_fast_raises_and_malformed_keeps_the_channel():
    with pytest.raises(m.DecodeFailed):
        m.decode_fast(b"{nope")
    bad = m.decode_frame(env("l2_data", [{"type": "update", "product_id": "X", "updates": 1}]))
    assert isinstance(bad, m.Malformed) and bad.channel == "l2_data" and bad.sequence_num == 7
