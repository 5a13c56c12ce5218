"""The health model: one verdict with reasons, from plain facts."""

from __future__ import annotations

from botkit.runtime.health import HealthInputs, HealthThresholds, assess, product_state


def test_product_state() -> None:
    assert product_state(connected=False, valid=True, stale=False) == "down"
    assert product_state(connected=True, valid=False, stale=False) == "resyncing"
    assert product_state(connected=True, valid=True, stale=True) == "stale"
    assert product_state(connected=True, valid=True, stale=False) == "live"


def test_ready_when_everything_is_fine() -> None:
    h = assess(
        HealthInputs(
            started=True,
            products={"BTC-USD": "live"},
            user_channel="up",
            clock_offset=0.3,
            components={"driver": "running"},
        )
    )
    assert h.verdict == "ready" and h.ready and h.reasons == ()


def test_starting_is_down() -> None:
    h = assess(HealthInputs(started=False, products={"BTC-USD": "live"}))
    assert h.verdict == "down" and "starting" in h.reasons[0]
    h = assess(HealthInputs(started=True, stopping=True, products={"BTC-USD": "live"}))
    assert h.verdict == "down" and "stopping" in h.reasons[0]


def test_degraded_reasons_name_the_part() -> None:
    h = assess(
        HealthInputs(
            started=True,
            products={"BTC-USD": "live", "ETH-USD": "resyncing", "SOL-USD": "stale"},
            user_channel="down",
            clock_offset=-42.0,
            strategy_halted=True,
            kill_switch=True,
            last_order_rtt=9.5,
            components={"feed-market-0": "restarting"},
        )
    )
    assert h.verdict == "degraded"
    text = " | ".join(h.reasons)
    for part in (
        "ETH-USD market data resyncing",
        "SOL-USD market data stale",
        "user channel down",
        "-42.0 s",
        "strategy halted",
        "kill switch",
        "9.5 s",
        "feed-market-0",
    ):
        assert part in text
    assert "BTC-USD" not in text


def test_a_refused_key_or_user_subscription_degrades_and_says_what_was_refused() -> None:
    h = assess(
        HealthInputs(
            started=True,
            products={"BTC-USD": "live"},
            user_channel="down",
            user_refused="user: error frame 'authentication failure'",
            key_refused="HTTP 401: Unauthorized",
        )
    )
    assert h.verdict == "degraded" and h.down == 0  # a restart mends neither
    assert h.reasons == (
        "API key refused by the venue: HTTP 401: Unauthorized",
        "user channel down: the venue refused its subscription (user: error frame "
        "'authentication failure'): check the API key and the host clock",
    )


def test_down_beats_degraded() -> None:
    h = assess(
        HealthInputs(
            started=True,
            products={"BTC-USD": "down", "ETH-USD": "down"},
            journal_ok=False,
            components={"driver": "failed", "status": "restarting"},
        )
    )
    assert h.verdict == "down"
    assert h.reasons[:3] == (
        "component driver failed: the bot is stopping",
        "journal cannot be written: no new orders (see the log)",
        "market data down for every product",
    )
    assert h.to_dict()["products"] == {"BTC-USD": "down", "ETH-USD": "down"}


def test_thresholds_are_configurable() -> None:
    facts = HealthInputs(
        started=True, products={"BTC-USD": "live"}, clock_offset=3.0, last_order_rtt=2.0
    )
    assert assess(facts).verdict == "ready"
    assert (
        assess(facts, HealthThresholds(max_clock_offset=1.0, max_order_rtt=1.0)).verdict
        == "degraded"
    )


def test_a_halt_names_its_reason() -> None:
    """A strategy halted because its on_start raised read "after repeated errors"."""
    h = assess(
        HealthInputs(
            started=True,
            products={"BTC-USD": "live"},
            strategy_halted=True,
            halt_reason="on_start raised RuntimeError('no model')",
        )
    )
    assert h.reasons == ("strategy halted: on_start raised RuntimeError('no model')",)


def test_orders_of_unknown_outcome_degrade_after_a_while() -> None:
    """An operator QA pass: an order posted into an outage stayed PENDING for the whole
    run (counted open, its fill unattributed) while health said ready."""
    young = assess(HealthInputs(started=True, unknown_orders=(1, 10.0)))
    assert young.verdict == "ready"
    old = assess(HealthInputs(started=True, unknown_orders=(2, 45.0)))
    assert old.verdict == "degraded"
    (reason,) = old.reasons
    assert reason.startswith("2 order(s) of unknown outcome for 45 s")
