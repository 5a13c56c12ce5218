"""The pure alert rules, with a manual ``now``: what alerts, once, and when again.

Health verdicts come from the real :func:`botkit.runtime.health.assess`, so a change in
its reason wording that the rules no longer recognise fails here.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from botkit.market.trading_status import TradingMode, TradingStatus
from botkit.monitor.alert_rules import (
    Alert,
    AlertRules,
    StopMemory,
    after_restart,
    error_signature,
    killed_error,
)
from botkit.runtime.health import FeedState, Health, HealthInputs, assess


def health(products: Mapping[str, FeedState] | None = None, **facts: object) -> Health:
    return assess(
        HealthInputs(started=True, products=products or {"BTC-USD": "live"}, **facts)  # type: ignore[arg-type]
    )


def keys(alerts: list[Alert]) -> list[str]:
    return [a.key for a in alerts]


def test_feed_down_alerts_once_after_threshold_and_recovers() -> None:
    rules = AlertRules(feed_down_after=60)
    both: dict[str, FeedState] = {"BTC-USD": "live", "ETH-USD": "live"}
    assert rules.on_health(health(both), now=0) == []
    down: dict[str, FeedState] = {"BTC-USD": "down", "ETH-USD": "live"}
    for t in range(10, 70, 10):  # 10..60: down for 50 s at most
        assert rules.on_health(health(down), now=t) == []
    alerts = rules.on_health(health(down), now=70)  # 60 s since first seen down at 10
    assert keys(alerts) == ["feed:BTC-USD"]
    (alert,) = alerts
    assert alert.level == "warning"
    assert "BTC-USD market data down" in alert.title
    assert "1 min" in alert.body or "60 s" in alert.body
    # still down, an hour and more later: one alert per episode, no repeats
    for t in (80, 1000, 5000, 9000):
        assert rules.on_health(health(down), now=t) == []
    # stale/resyncing are the same episode
    resync: dict[str, FeedState] = {"BTC-USD": "resyncing", "ETH-USD": "live"}
    assert rules.on_health(health(resync), now=9001) == []
    back = rules.on_health(health(both), now=9010)
    assert keys(back) == ["feed:BTC-USD:recovered"]
    assert back[0].level == "info" and "live again" in back[0].title
    assert "2.5 h" in back[0].body  # 9000 s down
    assert rules.on_health(health(both), now=9020) == []


def test_short_blips_never_alert_and_reset_the_episode() -> None:
    rules = AlertRules(feed_down_after=60)
    t = 0.0
    for _ in range(20):  # 50 s stale, 10 s live, over and over: never 60 s in a row
        for dt in range(0, 50, 10):
            assert rules.on_health(health({"BTC-USD": "stale"}), now=t + dt) == []
        assert rules.on_health(health({"BTC-USD": "live"}), now=t + 50) == []
        t += 60


def test_a_new_episode_after_recovery_alerts_again_within_repeat_after() -> None:
    rules = AlertRules(feed_down_after=5, repeat_after=3600)
    assert keys(rules.on_health(health({"BTC-USD": "stale"}), now=0)) == []
    assert keys(rules.on_health(health({"BTC-USD": "stale"}), now=5)) == ["feed:BTC-USD"]
    assert keys(rules.on_health(health({"BTC-USD": "live"}), now=6)) == ["feed:BTC-USD:recovered"]
    rules.on_health(health({"BTC-USD": "down"}), now=7)
    assert keys(rules.on_health(health({"BTC-USD": "down"}), now=12)) == ["feed:BTC-USD"]


def test_episode_without_alert_recovers_silently_and_dropped_products_forget() -> None:
    rules = AlertRules(feed_down_after=60)
    rules.on_health(health({"BTC-USD": "down"}), now=0)
    assert rules.on_health(health({"BTC-USD": "live"}), now=30) == []
    rules.on_health(health({"BTC-USD": "down", "ETH-USD": "live"}), now=100)
    assert keys(rules.on_health(health({"BTC-USD": "down", "ETH-USD": "live"}), now=160)) == [
        "feed:BTC-USD"
    ]
    rules.on_health(health({"ETH-USD": "live"}), now=170)  # BTC-USD no longer traded
    rules.on_health(health({"BTC-USD": "down", "ETH-USD": "live"}), now=180)
    assert rules.on_health(health({"BTC-USD": "down", "ETH-USD": "live"}), now=200) == []
    assert keys(rules.on_health(health({"BTC-USD": "down", "ETH-USD": "live"}), now=240)) == [
        "feed:BTC-USD"
    ]


def test_user_channel_down_is_an_episode_too() -> None:
    rules = AlertRules(feed_down_after=30)
    assert rules.on_health(health(user_channel="down"), now=0) == []
    (alert,) = rules.on_health(health(user_channel="down"), now=30)
    assert alert.key == "user-channel" and alert.level == "warning"
    assert keys(rules.on_health(health(user_channel="up"), now=31)) == ["user-channel:recovered"]


def test_a_refused_user_subscription_is_a_user_channel_episode_naming_the_refusal() -> None:
    """The socket stays open after Coinbase's error frame: the channel looked up, and a
    "user channel back" went out while every subscription on it was refused (QA)."""
    rules = AlertRules(feed_down_after=30)
    refused = health(user_channel="down", user_refused="user: error frame 'authentication failure'")
    assert rules.on_health(refused, now=0) == []
    (alert,) = rules.on_health(refused, now=30)
    assert alert.key == "user-channel"
    assert "'authentication failure'" in alert.body and "API key" in alert.body
    assert rules.on_health(refused, now=60) == []  # no "back" while it stays refused
    assert keys(rules.on_health(health(user_channel="up"), now=61)) == ["user-channel:recovered"]


def test_a_refused_api_key_is_a_failure_at_once_and_its_acceptance_an_info_alert() -> None:
    rules = AlertRules(repeat_after=3600)
    refused = health(key_refused="HTTP 401: Unauthorized. Likely causes: a deleted key")
    (alert,) = rules.on_health(refused, now=0)
    assert alert.key == "api-key" and alert.level == "failure"
    assert "HTTP 401: Unauthorized" in alert.body and "botkit doctor" in alert.body
    assert rules.on_health(refused, now=5) == []  # the same refusal: not again
    (back,) = rules.on_health(health(), now=10)
    assert back.key == "api-key:cleared" and back.level == "info"
    assert back.title == "API key accepted again"


def test_failed_component_and_journal_are_failures_deduplicated() -> None:
    rules = AlertRules(repeat_after=3600)
    h = health(components={"feed:0": "failed", "driver": "restarting"}, journal_ok=False)
    alerts = rules.on_health(h, now=0)
    assert sorted(keys(alerts)) == ["component:feed:0", "journal"]
    assert all(a.level == "failure" for a in alerts)
    comp = next(a for a in alerts if a.key == "component:feed:0")
    assert "component feed:0 failed" in comp.title
    assert rules.on_health(h, now=1) == []  # same condition: not again
    assert rules.deduplicated == 2
    assert sorted(keys(rules.on_health(h, now=3601))) == ["component:feed:0", "journal"]  # reminder


def test_restarting_component_alone_is_no_alert() -> None:
    rules = AlertRules()
    assert rules.on_health(health(components={"driver": "restarting"}), now=0) == []


def test_kill_switch_trip_dedupes_with_health_and_clears() -> None:
    rules = AlertRules(repeat_after=3600)
    (trip,) = rules.kill_switch_tripped("daily loss 120 USD > limit 100 USD", now=0)
    assert trip.key == "kill-switch" and trip.level == "failure"
    assert "daily loss 120 USD" in trip.body and "botkit kill-switch reset" in trip.body
    assert rules.on_health(health(kill_switch=True), now=1) == []  # already said
    assert rules.kill_switch_tripped("again", now=2) == []
    cleared = rules.on_health(health(kill_switch=False), now=100)
    assert keys(cleared) == ["kill-switch:cleared"] and cleared[0].level == "info"
    # tripped again after a reset: a new alert at once, not after repeat_after
    assert keys(rules.kill_switch_tripped("max drawdown", now=101)) == ["kill-switch"]


def test_kill_switch_seen_only_by_health_alerts_too() -> None:
    rules = AlertRules()
    (alert,) = rules.on_health(health(kill_switch=True, kill_switch_reason="qa test"), now=0)
    assert alert.key == "kill-switch"
    assert "kill switch tripped (qa test)" in alert.body  # its reason, as the docs promise
    assert "botkit ctl kill-switch reset" in alert.body  # what works on a running bot


def test_halted_strategy_and_clock() -> None:
    rules = AlertRules()
    alerts = rules.on_health(health(strategy_halted=True, clock_offset=12.0), now=0)
    assert sorted(keys(alerts)) == ["clock", "strategy-halted"]
    levels = {a.key: a.level for a in alerts}
    assert levels == {"clock": "warning", "strategy-halted": "failure"}
    assert keys(rules.on_health(health(), now=5)) == ["strategy-halted:cleared"]  # clock: silent


def test_orders_failing_needs_n_within_the_window() -> None:
    rules = AlertRules(order_failures=5, order_failure_window=600, repeat_after=3600)
    # 4 failures every 10 minutes forever: never 5 within a window
    t = 0.0
    for _ in range(10):
        for i in range(4):
            assert rules.order_failed(f"id{i}", "BTC-USD", "INSUFFICIENT_FUND", now=t + i) == []
        t += 601
    for i in range(4):
        assert rules.order_failed(f"x{i}", "BTC-USD", "rejected", now=t + i) == []
    (alert,) = rules.order_failed("x4", "ETH-USD", "INVALID_LIMIT_PRICE", now=t + 4)
    assert alert.key == "orders-failing" and alert.level == "failure"
    assert "5 orders failed" in alert.body and "BTC-USD 4, ETH-USD 1" in alert.body
    assert "x4 on ETH-USD: INVALID_LIMIT_PRICE" in alert.body
    # more failures while it lasts: not one per rejection
    for i in range(50):
        assert rules.order_failed(f"y{i}", "BTC-USD", "rejected", now=t + 5 + i) == []
    # a quiet window resolves it: the next burst alerts again (before repeat_after)
    t2 = t + 55 + 601
    for i in range(4):
        assert rules.order_failed(f"z{i}", "BTC-USD", "rejected", now=t2 + i) == []
    assert keys(rules.order_failed("z4", "BTC-USD", "rejected", now=t2 + 4)) == ["orders-failing"]


def test_start_stop_and_summary() -> None:
    rules = AlertRules(summary_hour=8)
    (start,) = rules.started("sim", "market_maker", ("BTC-USD", "ETH-USD"))
    assert start.level == "info" and "market_maker" in start.title
    assert "BTC-USD, ETH-USD" in start.body
    (stop,) = rules.stopped("SIGTERM", None)
    assert stop.level == "info" and "SIGTERM" in stop.body
    (crash,) = rules.stopped("component failed", "ComponentFailed: feed:0 crashed 5 times")
    assert crash.level == "failure" and "feed:0 crashed" in crash.body
    day = 20_000 * 86400.0  # a UTC midnight
    assert not rules.summary_due(day + 7 * 3600)  # 07:00, first call
    assert not rules.summary_due(day + 8 * 3600 - 1)
    assert rules.summary_due(day + 8 * 3600)  # 08:00 UTC
    assert not rules.summary_due(day + 8 * 3600 + 1)
    assert not rules.summary_due(day + 86400 + 8 * 3600 - 1)
    assert rules.summary_due(day + 86400 + 8 * 3600 + 30)  # next day, a little late
    assert rules.summary_due(day + 4 * 86400 + 9 * 3600)  # slept 3 days: once, not thrice
    assert not rules.summary_due(day + 4 * 86400 + 23 * 3600)
    late = AlertRules(summary_hour=8)
    assert not late.summary_due(day + 10 * 3600)  # started at 10:00: not today
    assert not late.summary_due(day + 86400 + 7 * 3600)
    assert late.summary_due(day + 86400 + 8 * 3600)
    assert not AlertRules().summary_due(day + 8 * 3600)  # no summary hour: never
    (summary,) = rules.daily_summary("orders 12 fills 3 PnL 1.20")
    assert summary.key == "daily-summary" and summary.body == "orders 12 fills 3 PnL 1.20"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"feed_down_after": -1},
        {"order_failures": 0},
        {"order_failure_window": 0},
        {"summary_hour": 24},
    ],
)
def test_bad_thresholds_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AlertRules(**kwargs)  # type: ignore[arg-type]


# -- across restarts (after_restart, StopMemory) ------------------------------------------------

HOUR = 3600.0
T0 = 1_800_000_000.0


def _stop(rules: AlertRules, error: str | None) -> list[Alert]:
    return rules.stopped("error" if error else "asked to stop", error)


def _start(rules: AlertRules) -> list[Alert]:
    return rules.started("live", "MarketMaker", ["BTC-USD"])


def _gate(
    alerts: list[Alert], error: str | None, memory: StopMemory | None, wall: float
) -> tuple[list[Alert], StopMemory | None]:
    return after_restart(alerts, error, memory, wall=wall, repeat_after=HOUR)


def test_a_bot_failing_at_every_start_alerts_once_an_hour_then_says_it_runs_again() -> None:
    """Revoked credentials under Restart=on-failure: a stop every ~15 s sent one alert each
    (240 an hour). Now the first goes out, the next hour's are held and counted."""
    rules = AlertRules()
    mem: StopMemory | None = None
    sent: list[Alert] = []
    for i in range(240):  # an hour of restarts, the request id differing each time
        error = f"HTTP 401 request {1000 + i}: unauthorized"
        out, mem = _gate(_stop(rules, error), error, mem, T0 + 15 * i)
        sent += out
    assert len(sent) == 1 and sent[0].level == "failure"
    assert mem is not None and mem.stops == 240 and mem.held == 239
    error = "HTTP 401 request 9: unauthorized"
    out, mem = _gate(_stop(rules, error), error, mem, T0 + HOUR + 15)
    (reminder,) = out
    assert (
        "stopped it 241 times since" in reminder.body and "239 alert(s) held back" in reminder.body
    )
    assert mem is not None and mem.held == 0
    out, mem = _gate(_start(rules), None, mem, T0 + HOUR + 30)  # the key was fixed
    (started,) = out
    assert "had stopped on an error 241 time(s)" in started.body
    assert "HTTP 401 request 9: unauthorized" in started.body
    out, mem = _gate(_stop(rules, None), None, mem, T0 + 2 * HOUR)  # a clean stop forgets
    assert len(out) == 1 and mem is None


def test_a_bot_crashing_minutes_after_each_start_sends_one_pair_an_hour() -> None:
    rules = AlertRules()
    mem: StopMemory | None = None
    sent: list[str] = []
    t = T0
    for _ in range(15):  # start, run 5 minutes, crash, restart 10 s later: 75 minutes
        out, mem = _gate(_start(rules), None, mem, t)
        sent += [a.key for a in out]
        t += 300
        crash = "component driver failed"
        out, mem = _gate(_stop(rules, crash), crash, mem, t)
        sent += [a.key for a in out]
        t += 10
    # the first start, the first crash, "running again", the crash an hour on, its start
    assert sent == ["started", "stopped", "started", "stopped", "started"]


def test_another_error_alerts_at_once_and_the_numbers_in_an_error_do_not() -> None:
    rules = AlertRules()
    out, mem = _gate(_stop(rules, "feed down after 3.5 s"), "feed down after 3.5 s", None, T0)
    assert len(out) == 1
    out, mem = _gate(_stop(rules, "feed down after 12 s"), "feed down after 12 s", mem, T0 + 20)
    assert out == []  # the same failure
    journal = "journal cannot be written"
    out, mem = _gate(_stop(rules, journal), journal, mem, T0 + 40)
    assert len(out) == 1 and mem is not None and mem.stops == 1  # a new failure, told at once
    assert error_signature("a 401 at 12:03:04.5") == error_signature("a 401 at 13:00:59")
    # the motivating case: a revoked key's 401 names a request id (letters too)
    one = "HTTP 401: Unauthorized (request id 3f2a9c1e-77b0-4c1d-9a55-0f2e5b8c1d2e). fix it"
    two = "HTTP 401: Unauthorized (request id 9b1c0d2e-11aa-4bbb-8ccc-123456789abc). fix it"
    assert error_signature(one) == error_signature(two)
    assert error_signature("journal cannot be written") != error_signature("feed down")


def test_a_clock_stepped_back_and_a_damaged_memory_alert_rather_than_stay_quiet() -> None:
    rules = AlertRules()
    out, mem = _gate(_stop(rules, "boom"), "boom", None, T0)
    out, mem = _gate(_stop(rules, "boom"), "boom", mem, T0 - 100)  # wall clock stepped back
    assert len(out) == 1
    assert mem is not None and StopMemory.from_json(mem.to_json()) == mem
    damaged: list[object] = [None, [], {"signature": "x"}, {"signature": "x", "error": "x",
        "first": "soon", "sent": 0, "stops": 1, "held": 0, "start_told": False}]  # fmt: skip
    for bad in damaged:
        assert StopMemory.from_json(bad) is None
    out, mem = _gate(_start(rules), None, None, T0)  # no memory: a start like any other
    assert len(out) == 1 and "had stopped" not in out[0].body and mem is None


def test_a_restricted_product_warns_once_and_its_return_is_an_info_alert() -> None:
    rules = AlertRules(repeat_after=3600)
    cancel_only = TradingStatus("BTC-USD", TradingMode.CANCEL_ONLY, "online", "incident")
    (alert,) = rules.trading_status(cancel_only, now=0.0)
    assert (alert.key, alert.level) == ("trading:BTC-USD", "warning")
    assert "BTC-USD is cancel-only: incident" in alert.body and "PRODUCT_CANCEL_ONLY" in alert.body
    assert rules.trading_status(cancel_only, now=30.0) == []  # the same mode within the hour
    halted = TradingStatus("BTC-USD", TradingMode.HALTED, "offline")
    (worse,) = rules.trading_status(halted, now=60.0)  # another mode is news at once
    assert "BTC-USD is halted (status offline)" in worse.body
    limit_only = TradingStatus("BTC-USD", TradingMode.LIMIT_ONLY)
    (back,) = rules.trading_status(TradingStatus("BTC-USD", TradingMode.FULL), now=120.0)
    assert (back.key, back.level, back.title) == ("trading:BTC-USD", "info", "BTC-USD trades again")
    assert rules.trading_status(TradingStatus("BTC-USD", TradingMode.FULL), now=130.0) == []
    (again,) = rules.trading_status(limit_only, now=140.0)  # resolved in between: sent at once
    assert "limit-only" in again.body
    # another product is its own key
    assert rules.trading_status(TradingStatus("ETH-USD", TradingMode.HALTED), now=150.0)


def test_two_errors_by_turns_are_one_failure_and_killed_runs_are_held_like_stops() -> None:
    """A full disk stopped the bot with the fill ledger's text, then the journal's, by
    turns: each restart alerted (9 alerts in 55 s; a headless QA pass). And a run killed
    by the out-of-memory killer said nothing at all: its successor says so, once."""
    rules = AlertRules()
    ledger, journal = "fill ledger: database or disk is full", "journal: disk I/O error"
    mem: StopMemory | None = None
    sent: list[Alert] = []
    for i in range(20):  # ten minutes of restarts every 30 s
        error = (ledger, journal)[i % 2]
        out, mem = _gate(_stop(rules, error), error, mem, T0 + 30 * i)
        sent += out
    assert [a.body.split("Error: ")[1].split("\n")[0] for a in sent] == [ledger, journal]
    out, mem = _gate(_stop(rules, "another failure"), "another failure", mem, T0 + 700)
    assert len(out) == 1  # a third error is told at once
    # a killed run, restarted every minute for an hour: one alert and one "started"
    mem, keys_sent = None, []
    for i in range(60):
        pid = 1000 + i
        out, mem = _gate(rules.killed(pid), killed_error(pid), mem, T0 + 60 * i)
        keys_sent += [a.key for a in out]
        out, mem = _gate(_start(rules), None, mem, T0 + 60 * i + 1)
        keys_sent += [a.key for a in out]
    assert keys_sent == ["stopped", "started"]
    (killed,) = rules.killed(4242)
    assert killed.level == "failure" and "pid 4242" in killed.body and "oom" in killed.body


def test_a_data_directory_that_cannot_be_written_is_a_failure_and_its_return_info() -> None:
    rules = AlertRules()
    unwritable = health(storage_error="/data/sim/health.json: Permission denied")
    assert unwritable.verdict == "degraded"
    (alert,) = rules.on_health(unwritable, now=0)
    assert alert.key == "storage" and alert.level == "failure"
    assert "Permission denied" in alert.body and "df -h" in alert.body
    assert rules.on_health(unwritable, now=1) == []
    (back,) = rules.on_health(health(), now=2)
    assert back.key == "storage:cleared" and back.title == "data directory writable again"


def test_two_errors_by_turns_for_hours_alert_once_an_hour_with_the_count() -> None:
    """Once an hour had passed, the error of the pair that came back started a new streak
    and its partner alerted again a minute later, without the held count (a review)."""
    rules = AlertRules()
    ledger, journal = "fill ledger: database or disk is full", "journal: disk I/O error"
    mem: StopMemory | None = None
    sent: list[Alert] = []
    for i in range(4 * 60):  # four hours, a restart a minute
        error = (ledger, journal)[i % 2]
        out, mem = _gate(_stop(rules, error), error, mem, T0 + 61 * i)
        sent += out
    assert len(sent) == 5  # each error's first, then one an hour
    assert all("alert(s) held back" in a.body for a in sent[2:])
