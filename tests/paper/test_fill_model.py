"""The paper fill model (issue 7 item 2): real L2 liquidity, queue-aware resting fills."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.sim.wire import rfc3339
from tests.paper.harness import BTC, T0, D, Paper

# The harness book: bids 99 x 2, 98 x 5; asks 100 x 1, 101 x 3.
# market_trades "side" is the maker's side by default: "BUY" = a seller hit the bids.


def _oid(res: dict[str, object]) -> str:
    assert res["success"], res
    return str(res["order_id"])


# ------------------------------------------------------------------ resting limit orders
def test_limit_order_never_fills_from_the_book_alone() -> None:
    p = Paper()
    oid = _oid(p.limit("BUY", "1", "99"))
    # the market moves through our price: asks fall to 97, our level and the bids vanish
    p.level("offer", "98.5", "4")
    p.level("bid", "99", "0")
    p.level("bid", "98", "0")
    p.snapshot({"96": "1"}, {"97": "2", "97.5": "9"})
    p.at(60)
    assert p.order(oid)["status"] == "OPEN"
    assert p.order(oid)["filled_size"] == "0" and p.fills() == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["bid", "offer"]),
            st.integers(9000, 10100),  # price in cents
            st.sampled_from(["0", "0.5", "1", "3"]),
        ),
        max_size=40,
    )
)
def test_no_sequence_of_book_updates_fills_a_resting_order(
    updates: list[tuple[str, int, str]],
) -> None:
    p = Paper()
    buy = _oid(p.limit("BUY", "1", "99.5"))
    sell = _oid(p.limit("SELL", "1", "100.5"))
    for side, cents, qty in updates:
        p.level(side, str(Decimal(cents) / 100), qty)
    assert p.fills() == []
    assert p.order(buy)["status"] == p.order(sell)["status"] == "OPEN"


def test_queue_ahead_is_consumed_before_our_fill() -> None:
    p = Paper()
    oid = _oid(p.limit("BUY", "1", "99"))
    assert p.queue(oid) == D("2")  # joined behind the 2 already bid at 99
    p.trade("99", "1.5", "BUY")
    assert p.fills() == [] and p.queue(oid) == D("0.5")
    p.trade("99", "1", "BUY")  # 0.5 of queue, then 0.5 for us
    (fill,) = p.fills()
    assert (fill["price"], fill["size"], fill["liquidity_indicator"]) == ("99", "0.5", "MAKER")
    assert p.order(oid)["status"] == "OPEN" and p.order(oid)["filled_size"] == "0.5"
    p.trade("99", "2", "BUY")  # only our remaining 0.5 can fill
    order = p.order(oid)
    assert order["status"] == "FILLED" and D(order["filled_size"]) == 1
    assert order["number_of_fills"] == "2" and D(order["average_filled_price"]) == 99
    assert D(order["total_fees"]) == D("99") * D("0.004")


def test_print_at_our_price_from_the_wrong_aggressor_does_not_fill() -> None:
    p = Paper()
    oid = _oid(p.limit("BUY", "1", "99"))
    p.trade("99", "5", "SELL")  # maker was a seller: a buyer lifted an ask at 99
    assert p.fills() == [] and p.queue(oid) == D("2")


def test_trade_side_taker_reads_the_side_the_other_way() -> None:
    p = Paper(trade_side="taker")
    oid = _oid(p.limit("BUY", "1", "99"))
    p.trade("99", "5", "BUY")  # taker bought: not our side
    assert p.fills() == []
    p.trade("99", "2.5", "SELL")  # taker sold into the bids: 2 of queue, 0.5 for us
    assert [f["size"] for f in p.fills(oid)] == ["0.5"]


def test_print_through_our_price_fills_without_queue() -> None:
    p = Paper()
    oid = _oid(p.limit("BUY", "1", "99"))
    p.trade("98.5", "0.4", "BUY")  # traded below our bid: we were better priced
    (fill,) = p.fills(oid)
    assert (fill["price"], fill["size"]) == ("99", "0.4")  # at OUR limit price
    assert p.queue(oid) == D("2")  # the queue at 99 did not move
    p.trade("98", "3", "SELL")  # through, whatever the aggressor
    assert p.order(oid)["status"] == "FILLED"
    assert sum(D(f["size"]) for f in p.fills(oid)) == D("1")


def test_orders_share_one_print_in_price_time_priority() -> None:
    p = Paper()
    p.level("bid", "99", "0")  # nobody ahead of us at 99
    a = _oid(p.limit("BUY", "0.5", "99"))
    b = _oid(p.limit("BUY", "0.5", "99"))
    c = _oid(p.limit("BUY", "0.5", "99.5"))  # best price: first, though placed last
    p.trade("99", "1.2", "BUY")
    got = {f["order_id"]: f["size"] for f in p.fills()}
    assert got == {c: "0.5", a: "0.5", b: "0.2"}
    assert sum(D(s) for s in got.values()) == D("1.2")


def test_queue_caps_on_shrink_and_never_moves_back() -> None:
    p = Paper(print_lag=0.0)
    oid = _oid(p.limit("BUY", "1", "99"))
    p.level("bid", "99", "0.5")  # cancellations ahead of us
    assert p.queue(oid) == D("0.5")
    p.level("bid", "99", "7")  # others join behind us
    assert p.queue(oid) == D("0.5")
    p.at(1)
    p.trade("99", "1", "BUY")
    assert [f["size"] for f in p.fills(oid)] == ["0.5"]


def test_book_showing_a_trade_before_its_print_is_not_counted_twice() -> None:
    p = Paper()  # print_lag 0.5 s
    oid = _oid(p.limit("BUY", "1", "99"))
    p.level("bid", "99", "1")  # level2: a trade took 1 of the 2 ahead of us...
    p.trade("99", "1", "BUY")  # ...and market_trades reports it 0.25 s later
    assert p.queue(oid) == D("1") and p.fills() == []
    p.at(5)
    p.trade("99", "1.5", "BUY")  # 1 of queue, 0.5 for us
    assert [f["size"] for f in p.fills(oid)] == ["0.5"]


def test_old_shrink_is_a_cancellation_not_a_late_print() -> None:
    p = Paper()
    oid = _oid(p.limit("BUY", "1", "99"))
    p.level("bid", "99", "1")
    p.at(2)  # longer than print_lag: that was a cancel
    p.trade("99", "1.5", "BUY")
    assert [f["size"] for f in p.fills(oid)] == ["0.5"]


def test_duplicate_trade_ids_are_ignored() -> None:
    p = Paper()
    oid = _oid(p.limit("BUY", "1", "99"))
    p.trade("98", "0.3", "BUY", trade_id="77")
    p.trade("98", "0.3", "BUY", trade_id="77")
    assert [f["size"] for f in p.fills(oid)] == ["0.3"]


# ------------------------------------------------------------------------- taking
def test_market_order_slippage_is_the_hand_computed_walk() -> None:
    p = Paper()
    p.snapshot({"99": "2"}, {"100": "0.5", "100.5": "1", "101": "2"})
    oid = _oid(p.market("BUY", base_size="2"))
    fills = [(f["price"], f["size"], f["liquidity_indicator"]) for f in p.fills(oid)]
    assert fills == [
        ("100.00", "0.5", "TAKER"),
        ("100.50", "1", "TAKER"),
        ("101.00", "0.5", "TAKER"),
    ]
    notional = D("0.5") * 100 + D("1") * D("100.5") + D("0.5") * 101  # 201
    fee = notional * D("0.006")  # 1.206
    order = p.order(oid)
    assert order["status"] == "FILLED" and D(order["average_filled_price"]) == D("100.5")
    assert D(order["total_fees"]) == fee and D(order["filled_value"]) == notional
    assert p.balance("USD") == (D("100000") - notional - fee, D(0))
    assert p.balance("BTC") == (D("12"), D(0))


def test_quote_sized_market_buy_spends_at_most_its_budget() -> None:
    p = Paper()
    oid = _oid(p.market("BUY", quote_size="200"))
    order = p.order(oid)
    spent = D(order["filled_value"]) + D(order["total_fees"])
    assert order["status"] == "FILLED" and spent <= 200
    assert D(order["filled_size"]) > 1  # walked past the 1 BTC at 100
    assert p.balance("USD") == (D("100000") - spent, D(0))


def test_market_sell_walks_the_bids_and_ioc_cancels_the_rest() -> None:
    p = Paper()
    oid = _oid(p.market("SELL", base_size="8"))  # bids hold 7
    order = p.order(oid)
    assert order["status"] == "CANCELLED" and order["filled_size"] == "7"
    assert D(order["average_filled_price"]) == ((D(2) * 99 + D(5) * 98) / 7).quantize(D("1e-10"))
    assert p.balance("BTC") == (D("3"), D(0))


def test_fok_is_all_or_nothing() -> None:
    p = Paper()
    conf = {"limit_limit_fok": {"base_size": "2", "limit_price": "100"}}  # only 1 at <= 100
    no = _oid(p.create("BUY", conf))
    assert p.order(no)["status"] == "CANCELLED" and p.order(no)["filled_size"] == "0"
    conf = {"limit_limit_fok": {"base_size": "3", "limit_price": "101"}}
    yes = _oid(p.create("BUY", conf))
    assert p.order(yes)["status"] == "FILLED" and p.order(yes)["filled_size"] == "3"


def test_two_quick_orders_do_not_take_the_same_liquidity() -> None:
    p = Paper()
    first = _oid(p.market("BUY", base_size="1"))
    second = _oid(p.market("BUY", base_size="1"))
    assert [f["price"] for f in p.fills(first)] == ["100.00"]
    assert [f["price"] for f in p.fills(second)] == ["101.00"]  # 100 is used up
    assert p.ex.best_bid_ask(BTC)[1] == (D("101"), D("2"))
    p.level("offer", "100", "0.3")  # the level's next update replaces what we remember
    third = _oid(p.market("BUY", base_size="0.3"))
    assert [f["price"] for f in p.fills(third)] == ["100.00"]


def test_crossing_limit_takes_then_rests_the_remainder() -> None:
    p = Paper()
    p.snapshot({"99": "2"}, {"100": "0.5", "100.5": "1", "101": "2"})
    oid = _oid(p.limit("BUY", "2", "100.5"))
    taken = [(f["price"], f["size"], f["liquidity_indicator"]) for f in p.fills(oid)]
    assert taken == [("100.00", "0.5", "TAKER"), ("100.50", "1", "TAKER")]
    assert p.order(oid)["status"] == "OPEN" and p.queue(oid) == 0
    p.trade("100.5", "0.7", "BUY")
    last = p.fills(oid)[-1]
    assert (last["price"], last["size"], last["liquidity_indicator"]) == ("100.5", "0.5", "MAKER")
    assert p.order(oid)["status"] == "FILLED"


def test_no_book_means_no_liquidity() -> None:
    p = Paper(book=False)
    res = p.market("BUY", base_size="1")
    assert not res["success"]
    assert res["error_response"]["new_order_failure_reason"] == "INVALID_NO_LIQUIDITY"
    assert "no book yet" in res["error_response"]["message"]
    oid = _oid(p.limit("BUY", "1", "99"))  # a resting order waits for the book
    assert p.order(oid)["status"] == "PENDING"
    p.trade("98", "1", "BUY")  # no queue position, not in the market yet: no fill
    assert p.fills() == []
    p.snapshot({"99": "2"}, {"100": "1"})
    assert p.order(oid)["status"] == "OPEN" and p.queue(oid) == D("2")


def test_invalid_book_rejects_market_orders() -> None:
    p = Paper()
    p.books[BTC].invalidate("sequence gap")
    res = p.market("SELL", base_size="1")
    assert res["error_response"]["new_order_failure_reason"] == "INVALID_NO_LIQUIDITY"
    assert "sequence gap" in res["error_response"]["message"]


# ---------------------------------------------------------------------- entry rules
def test_post_only_crossing_is_rejected_as_coinbase_does() -> None:
    p = Paper()
    res = p.limit("BUY", "1", "100", post_only=True)
    assert not res["success"]
    assert res["error_response"]["new_order_failure_reason"] == "INVALID_LIMIT_PRICE_POST_ONLY"
    assert _oid(p.limit("BUY", "1", "99.99", post_only=True))


def test_post_only_that_crosses_when_it_arrives_fails() -> None:
    p = Paper(submit_latency=0.1)
    oid = _oid(p.limit("BUY", "1", "99.5", post_only=True))
    assert p.order(oid)["status"] == "PENDING"
    p.level("offer", "99.5", "1")  # the ask came down while the order was in flight
    p.at(0.1)
    order = p.order(oid)
    assert order["status"] == "FAILED" and order["reject_reason"] == "INVALID_LIMIT_PRICE_POST_ONLY"
    assert p.balance("USD") == (D("100000"), D(0))


def test_fees_match_the_tier_exactly() -> None:
    from botkit.sim.specs import FeeTier

    p = Paper(fee_tier=FeeTier(maker_fee_rate=D("0.0025"), taker_fee_rate=D("0.0035")))
    taker = _oid(p.market("BUY", base_size="0.7"))
    maker = _oid(p.limit("SELL", "0.3", "100.5"))
    p.trade("100.5", "1", "SELL")  # a buyer lifted the asks at 100.5: nobody ahead of us
    (t,) = p.fills(taker)
    (m,) = p.fills(maker)
    assert D(t["commission"]) == D("0.7") * 100 * D("0.0035")
    assert D(m["commission"]) == D("0.3") * D("100.5") * D("0.0025")
    summary = p.ex.transaction_summary("paper")["fee_tier"]
    assert (summary["maker_fee_rate"], summary["taker_fee_rate"]) == ("0.0025", "0.0035")


def test_increments_and_minimums_are_enforced() -> None:
    p = Paper()

    def reason(res: dict[str, object]) -> tuple[str, str]:
        err = res["error_response"]
        assert isinstance(err, dict)
        return err["new_order_failure_reason"], err["preview_failure_reason"]

    assert reason(p.limit("BUY", "0.00001", "99")) == (
        "INVALID_SIZE_PRECISION",
        "PREVIEW_INVALID_SIZE_PRECISION",
    )
    assert reason(p.limit("BUY", "1", "99.001"))[0] == "INVALID_PRICE_PRECISION"
    assert reason(p.limit("BUY", "0.0009", "99"))[1] == "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"
    assert reason(p.limit("BUY", "0.005", "99"))[1] == "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"
    assert reason(p.limit("BUY", "2000", "99"))[1] == "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"
    assert reason(p.limit("BUY", "2000", "99"))[1] == "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"
    assert reason(p.limit("SELL", "11", "101"))[0] == "INSUFFICIENT_FUND"
    assert p.ex.list_orders("paper", {}) == []


def test_holds_follow_the_order() -> None:
    p = Paper()
    oid = _oid(p.limit("BUY", "1", "99"))
    hold = D("99") * D("1.006")  # limit x size x (1 + taker), as the simulator
    assert p.balance("USD") == (D("100000") - hold, hold)
    p.trade("98", "0.4", "BUY")
    assert p.balance("USD")[1] == D("0.6") * hold
    p.ex.cancel_orders("paper", [oid], p.now)
    assert p.balance("USD")[1] == 0
    assert sum(p.balance("USD")) == D("100000") - D("0.4") * 99 * D("1.004")


# -------------------------------------------------------------------------- latency
def test_submit_latency_a_print_before_activation_does_not_fill() -> None:
    p = Paper(submit_latency=0.2)
    res = p.limit("BUY", "1", "99")
    oid = _oid(res)
    assert res["success_response"]["order_id"] == oid  # acknowledged at once
    assert p.order(oid)["status"] == "PENDING"
    assert p.balance("USD")[1] > 0  # the hold is placed at submit
    p.at(0.1)
    p.trade("98", "5", "BUY")  # through our price, but we are not there yet
    assert p.fills() == []
    p.at(0.2)
    assert p.order(oid)["status"] == "OPEN"
    p.at(0.3)
    p.trade("98", "5", "BUY")
    assert p.order(oid)["status"] == "FILLED"


def test_submit_latency_market_order_meets_the_book_of_its_arrival() -> None:
    p = Paper(submit_latency=0.05)
    oid = _oid(p.market("BUY", base_size="1"))
    assert p.fills() == []
    p.now += 0.01
    p.level("offer", "100", "0")  # the 100 ask is gone before we arrive
    p.at(0.05)
    assert [f["price"] for f in p.fills(oid)] == ["101.00"]
    assert p.order(oid)["status"] == "FILLED"
    assert p.balance("USD")[1] == 0  # the dearer walk was paid by topping up the hold


def test_market_order_cancelled_if_the_book_is_invalid_when_it_arrives() -> None:
    p = Paper(submit_latency=0.05)
    oid = _oid(p.market("SELL", base_size="1"))
    p.books[BTC].invalidate("reconnecting")
    p.at(0.05)
    order = p.order(oid)
    assert order["status"] == "CANCELLED" and "reconnecting" in order["cancel_message"]
    assert p.balance("BTC") == (D("10"), D(0))


def test_cancel_latency_fills_before_the_cancel_count() -> None:
    p = Paper(cancel_latency=0.1)
    oid = _oid(p.limit("BUY", "1", "99"))
    (res,) = p.ex.cancel_orders("paper", [oid], p.now)["results"]
    assert res["success"] and p.order(oid)["status"] == "CANCEL_QUEUED"
    p.at(0.05)
    p.trade("98", "0.25", "BUY")
    assert p.order(oid)["filled_size"] == "0.25"
    p.at(0.1)
    order = p.order(oid)
    assert order["status"] == "CANCELLED" and order["filled_size"] == "0.25"
    p.trade("98", "1", "BUY")
    assert len(p.fills(oid)) == 1
    assert p.balance("USD")[1] == 0


def test_cancel_while_pending_wins_if_it_lands_first() -> None:
    p = Paper(submit_latency=0.2, cancel_latency=0.05)
    oid = _oid(p.limit("BUY", "1", "99"))
    p.ex.cancel_orders("paper", [oid], p.now)
    p.at(1)
    assert p.order(oid)["status"] == "CANCELLED" and p.ex.paper_book(BTC).queued(oid) is None


def test_gtd_expires_and_stop_limit_triggers_on_prints() -> None:
    p = Paper()
    gtd = {"base_size": "1", "limit_price": "98", "end_time": rfc3339(T0 + 5)}
    oid = _oid(p.create("BUY", {"limit_limit_gtd": gtd}))
    p.at(10)
    assert p.order(oid)["status"] == "EXPIRED" and p.balance("USD")[1] == 0
    stop = {
        "base_size": "2",
        "limit_price": "101",
        "stop_price": "100.5",
        "stop_direction": "STOP_DIRECTION_STOP_UP",
    }
    sid = _oid(p.create("BUY", {"stop_limit_stop_limit_gtc": stop}))
    assert p.order(sid)["trigger_status"] == "STOP_PENDING"
    p.trade("100.5", "0.1", "SELL")  # the last price reaches the stop
    order = p.order(sid)
    assert order["trigger_status"] == "STOP_TRIGGERED" and order["status"] == "FILLED"
    assert [f["price"] for f in p.fills(sid)] == ["100.00", "101.00"]


def test_edit_reprices_to_the_back_of_the_new_queue() -> None:
    p = Paper()
    oid = _oid(p.limit("BUY", "1", "99"))
    body = {"order_id": oid, "price": "98", "size": "1"}
    assert p.ex.edit_order("paper", body, p.now)["success"]
    assert p.queue(oid) == D("5")
    body = {"order_id": oid, "price": "98", "size": "0.5"}
    assert p.ex.edit_order("paper", body, p.now)["success"]
    assert p.queue(oid) == D("5")  # a size decrease keeps its place
    assert p.balance("USD")[1] == D("0.5") * 98 * D("1.006")


def test_with_fills_from_book_the_book_reaching_a_resting_order_fills_it() -> None:
    """A venue with no trade tape (Prime): no print ever came, so a resting order never
    filled (100 orders, 0 fills in a QA run). fills_from_book (on for Prime) fills it
    when the real opposite best reaches its price, at most that level's size."""
    p = Paper(fills_from_book=True)
    buy = _oid(p.limit("BUY", "1", "99"))
    sell = _oid(p.limit("SELL", "2", "101"))
    p.level("offer", "99.5", "4")  # the ask comes down, not to our price yet
    assert p.fills() == []
    p.level("offer", "99", "0.25")  # a seller offers at our price: 0.25 of it trades
    (fill,) = p.fills()
    assert (fill["price"], fill["size"], fill["liquidity_indicator"]) == ("99", "0.25", "MAKER")
    p.snapshot({"101.5": "5"}, {"102": "1"})  # the market jumps through the sell
    p.level("bid", "101.5", "5")
    assert p.order(sell)["status"] == "FILLED" and D(p.order(sell)["filled_size"]) == 2
    assert p.order(buy)["status"] == "OPEN" and D(p.order(buy)["filled_size"]) == D("0.25")


def test_fills_from_book_is_on_for_prime_unless_set() -> None:
    from botkit.paper.setup import paper_config
    from botkit.runtime.bot_config import PaperSection

    rules = [{"product_id": BTC, "base_increment": "0.00000001", "quote_increment": "0.01",
              "base_min_size": "0.00000001", "price_increment": "0.01",
              "base_currency_id": "BTC", "quote_currency_id": "USD"}]  # fmt: skip
    assert paper_config(PaperSection(), rules, "prime").fills_from_book
    assert not paper_config(PaperSection(), rules, "advanced_trade").fills_from_book
    assert not paper_config(PaperSection(fills_from_book=False), rules, "prime").fills_from_book


def test_fills_from_book_take_an_unchanged_level_once() -> None:
    """Each book update gave the resting order the whole best level again: a level that
    only ever showed 0.25 filled a 1.0 order over four unrelated updates. Found by a
    review; a new size at the level is new liquidity."""
    p = Paper(fills_from_book=True)
    buy = _oid(p.limit("BUY", "1", "99"))
    p.level("offer", "99", "0.25")
    for price in ("90", "91", "92"):  # far from the ask: it does not change
        p.level("bid", price, "1")
    assert D(p.order(buy)["filled_size"]) == D("0.25")
    for size in ("0.26", "0.25", "0.26"):  # a size flickering: only what is beyond our take
        p.level("offer", "99", size)
    assert D(p.order(buy)["filled_size"]) == D("0.26")
    p.level("offer", "99", "0.5")  # grown: the size beyond what we took fills us
    assert D(p.order(buy)["filled_size"]) == D("0.5")
    p.level("offer", "99", "0")  # the level leaves the book; what comes back there is new
    p.level("offer", "99", "0.2")
    assert D(p.order(buy)["filled_size"]) == D("0.7")


def test_book_fills_do_not_take_again_what_an_order_took_on_arrival() -> None:
    """With fills from the book (Prime), a sell of 2 at 98 into a 1.0 bid at 98 took the
    1.0 as taker, and at the next unrelated book update its resting 1.0 filled against
    the same 1.0 bid as maker: 2 BTC of fills from a 1 BTC level (a review)."""
    p = Paper(fills_from_book=True, book=False)
    p.snapshot({"98": "1"}, {"99": "3"})
    oid = _oid(p.limit("SELL", "2", "98"))
    assert [(f["price"], D(f["size"])) for f in p.fills(oid)] == [("98.00", D("1"))]
    p.level("offer", "101", "5")  # unrelated: the bid at 98 is what we already took
    assert D(p.order(oid)["filled_size"]) == 1
    p.level("bid", "98", "3")  # the level grows: a new 3.0 there, which may fill the rest
    assert D(p.order(oid)["filled_size"]) == 2
