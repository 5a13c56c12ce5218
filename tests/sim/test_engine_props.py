"""Property test: random user action sequences keep balances, book and L2 feed consistent."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botkit.sim.events import BookChange
from botkit.sim.exchange import SimExchange, SimMarketConfig

T0 = 1_800_000_000.0
BTC = "BTC-USD"
USERS = ("a", "b")
INITIAL = {"USD": D("100000"), "BTC": D("1"), "ETH": D("10")}

sizes = st.sampled_from(["0.0001", "0.001", "0.01", "0.05", "0.2", "0.7", "1.5"])
offsets = st.integers(min_value=-12, max_value=12)  # price offset in 0.25 USD ticks from mid
actions = st.one_of(
    st.tuples(st.just("limit"), st.sampled_from(USERS), st.sampled_from(["BUY", "SELL"]),
              sizes, offsets, st.booleans(),
              st.sampled_from(["limit_limit_gtc", "limit_limit_gtd", "limit_limit_fok",
                               "sor_limit_ioc"])),
    st.tuples(st.just("market"), st.sampled_from(USERS), st.sampled_from(["BUY", "SELL"]), sizes,
              st.booleans()),
    st.tuples(st.just("stop"), st.sampled_from(USERS), st.sampled_from(["BUY", "SELL"]), sizes,
              offsets),
    st.tuples(st.just("cancel"), st.sampled_from(USERS), st.integers(0, 30)),
    st.tuples(st.just("edit"), st.sampled_from(USERS), st.integers(0, 30), sizes, offsets),
    st.tuples(st.just("advance"), st.integers(1, 30)),
)  # fmt: skip


class World:
    def __init__(self) -> None:
        cfg = SimMarketConfig(
            history_minutes=0, book_levels=8, trade_rate=5.0, volatility=0.00004,
            initial_balances=INITIAL,
        )  # fmt: skip
        self.ex = SimExchange(cfg, seed=99, start_time=T0)
        for user in USERS:
            self.ex.add_user(user)
        self.now = T0
        bids, asks = self.ex.book(BTC)
        self.levels = {("bid", p): s for p, s in bids} | {("offer", p): s for p, s in asks}
        self.order_ids: dict[str, list[str]] = {u: [] for u in USERS}
        self.n = 0

    def price(self, offset: int) -> str:
        bid, ask = self.ex.best_bid_ask(BTC)
        mid = ((bid[0] if bid else D(65000)) + (ask[0] if ask else D(65000))) / 2
        return str((mid + D(offset) / 4).quantize(D("0.01")))

    def create(self, user: str, side: str, config: dict[str, Any]) -> None:
        self.n += 1
        body = {"client_order_id": f"c{self.n % 7}-{self.n}", "product_id": BTC, "side": side,
                "order_configuration": config}  # fmt: skip
        resp = self.ex.create_order(user, body, self.now)
        if resp["success"]:
            self.order_ids[user].append(resp["order_id"])

    def apply(self, action: tuple[Any, ...]) -> None:
        kind = action[0]
        if kind == "limit":
            _, user, side, size, off, post_only, key = action
            cfg: dict[str, Any] = {"base_size": size, "limit_price": self.price(off)}
            if key in ("limit_limit_gtc", "limit_limit_gtd"):
                cfg["post_only"] = post_only
            if key == "limit_limit_gtd":
                cfg["end_time"] = "2027-01-15T08:00:03Z"  # T0 + 3 s
                if self.now >= T0 + 3:
                    return
            self.create(user, side, {key: cfg})
        elif kind == "market":
            _, user, side, size, by_quote = action
            if by_quote and side == "BUY":
                cfg = {"quote_size": str(D(size) * 1000)}
            else:
                cfg = {"base_size": size}
            self.create(user, side, {"market_market_ioc": cfg})
        elif kind == "stop":
            _, user, side, size, off = action
            last = self.ex.last_trade_price(BTC)
            up = side == "BUY"
            stop = last + (D("0.5") if up else D("-0.5")) * (abs(off) + 1)
            cfg = {
                "base_size": size,
                "limit_price": str(stop + D(off)),
                "stop_price": str(stop),
                "stop_direction": "STOP_DIRECTION_STOP_UP" if up else "STOP_DIRECTION_STOP_DOWN",
            }
            self.create(user, side, {"stop_limit_stop_limit_gtc": cfg})  # fmt: skip
        elif kind == "cancel":
            _, user, idx = action
            ids = self.order_ids[user]
            if ids:
                self.ex.cancel_orders(user, [ids[idx % len(ids)]], self.now)
        elif kind == "edit":
            _, user, idx, size, off = action
            ids = self.order_ids[user]
            if ids:
                body = {"order_id": ids[idx % len(ids)], "price": self.price(off), "size": size}
                self.ex.edit_order(user, body, self.now)
        else:
            self.now += action[1] * 0.1
            self.ex.advance(self.now)

    def check(self) -> None:
        ex = self.ex
        for e in ex.drain_events():
            if isinstance(e, BookChange) and e.product_id == BTC:
                self.levels[(e.side, e.price)] = e.new_quantity
        bids, asks = ex.book(BTC)
        live = {k: v for k, v in self.levels.items() if v}
        assert live == {("bid", p): s for p, s in bids} | {("offer", p): s for p, s in asks}
        if bids and asks:
            assert bids[0][0] < asks[0][0]
        for user in USERS:
            # private on purpose: holds per order object vs balances is the invariant under test
            open_orders = [o for o in ex._user_orders[user] if not o.terminal]
            fills = ex._fills[user]
            for acc in ex.accounts(user):
                cur = acc["currency"]
                avail, hold = D(acc["available_balance"]["value"]), D(acc["hold"]["value"])
                assert avail >= 0 and hold >= 0, (cur, avail, hold)
                assert hold == sum((o.hold for o in open_orders if o.hold_currency == cur), D(0))
                assert all(o.hold >= 0 for o in open_orders)
                if cur == "BTC":
                    delta = sum((f.size if f.side == "BUY" else -f.size for f in fills), D(0))
                elif cur == "USD":
                    delta = sum(
                        (-(f.price * f.size + f.commission) if f.side == "BUY"
                         else f.price * f.size - f.commission for f in fills),
                        D(0),
                    )  # fmt: skip
                else:
                    delta = D(0)
                assert avail + hold == INITIAL[cur] + delta, cur
            for order in ex._user_orders[user]:
                assert order.filled_size <= order.base_size or order.base_size == 0
                if order.terminal:
                    assert order.hold == 0


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(st.lists(actions, min_size=1, max_size=40))
def test_random_action_sequences_keep_invariants(seq: list[tuple[Any, ...]]) -> None:
    world = World()
    world.check()
    for action in seq:
        world.apply(action)
        world.check()
