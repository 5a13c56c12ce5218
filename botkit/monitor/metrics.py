"""Prometheus metrics of a running bot, through prometheus-client (no hand-written exposition).

Almost everything is read at scrape time from one :class:`~botkit.monitor.snapshot.BotSnapshot`
(a custom collector), so the trading hot path pays nothing for metrics: the counters
already exist in the runtime, the feed and the risk gate. The one exception is the
order latency histogram (intent handed to the executor → acknowledged by the exchange),
which is observed per order by the runtime through :meth:`BotMetrics.observe_order_latency`.

Every bot has its own :class:`~prometheus_client.CollectorRegistry` (not the global one),
so two bots in one process, or a test suite, never collide.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from botkit.monitor.snapshot import BotSnapshot

__all__ = ["CONTENT_TYPE", "BotMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Order round trips: a few ms against the simulator, ~50-300 ms against Coinbase."""


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Callable[[], BotSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self._snapshot()
        yield _gauge("botkit_ready", "1 when the health model says ready, else 0", s.health.ready)
        up = GaugeMetricFamily(
            "botkit_health", "1 for the current verdict (ready/degraded/down)", labels=["verdict"]
        )
        for verdict in ("ready", "degraded", "down"):
            up.add_metric([verdict], float(s.health.verdict == verdict))
        yield up
        msgs = CounterMetricFamily(
            "botkit_feed_messages",
            "feed events received, by product and channel",
            labels=["product", "channel"],
        )
        for (product, channel), n in sorted(s.feed_messages.items()):
            msgs.add_metric([product, channel], n)
        yield msgs
        yield _counter("botkit_feed_reconnects", "feed reconnections", s.feed_reconnects)
        yield _counter("botkit_feed_sequence_gaps", "sequence gaps detected", s.feed_gaps)
        yield _counter("botkit_feed_malformed", "frames refused as malformed", s.feed_malformed)
        lag = GaugeMetricFamily(
            "botkit_feed_lag_seconds",
            "seconds since the product's last market-data event",
            labels=["product"],
        )
        for product, seconds in sorted(s.feed_lag.items()):
            if seconds is not None:
                lag.add_metric([product], seconds)
        yield lag
        orders = CounterMetricFamily(
            "botkit_orders", "orders sent to the executor, by outcome", labels=["status"]
        )
        orders.add_metric(["placed"], s.orders_placed)
        orders.add_metric(["rejected"], s.orders_rejected)
        yield orders
        yield _counter("botkit_fills", "fills of the strategy's orders", s.fills_total)
        retries = CounterMetricFamily(
            "botkit_request_retries", "REST retries, by cause", labels=["cause"]
        )
        for cause, n in sorted(s.retries.items()):
            retries.add_metric([cause], n)
        yield retries
        yield _gauge("botkit_open_orders", "open orders of the strategy", len(s.open_orders))
        pos = GaugeMetricFamily("botkit_position", "position in base units", labels=["product"])
        for product, qty in sorted(s.positions.items()):
            pos.add_metric([product], float(qty))
        yield pos
        yield _gauge("botkit_pnl_quote", "realised + unrealised PnL, in quote", float(s.pnl))
        if s.equity is not None:
            yield _gauge("botkit_equity_quote", "account equity in quote", float(s.equity))
        yield _gauge(
            "botkit_kill_switch_tripped", "1 when the kill switch is tripped", s.kill_switch
        )
        yield _gauge("botkit_paused", "1 when paused by the operator", s.paused)
        restricted = GaugeMetricFamily(
            "botkit_product_restricted",
            "1 while the venue restricts the product (cancel only, limit only, post only, halted)",
            labels=["product"],
        )
        for product in s.products:
            restricted.add_metric([product], 1 if product in s.trading else 0)
        yield restricted
        refusals = CounterMetricFamily(
            "botkit_risk_refusals", "orders refused by the risk engine, by rule", labels=["rule"]
        )
        for rule, n in sorted(s.risk_refusals.items()):
            refusals.add_metric([rule], n)
        yield refusals
        dropped = CounterMetricFamily(
            "botkit_events_dropped", "market-data events dropped for a slow strategy"
        )
        dropped.add_metric([], s.events.get("dropped", 0))
        yield dropped
        crashes = CounterMetricFamily(
            "botkit_component_crashes", "unexpected exceptions, by component", labels=["component"]
        )
        for name, comp in sorted(s.components.items()):
            crashes.add_metric([name], int(comp.get("crashes", 0)))
        yield crashes


class _LatencyHistogram(Collector):
    """Order latency as bucket counts, exposed through prometheus-client at scrape time.

    prometheus-client's own ``Histogram.observe`` takes a lock and costs ~1.2 us; this runs
    on the order path, so it only bisects into a list (~0.2 us). Same exposition.
    """

    NAME = "botkit_order_latency_seconds"

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def collect(self) -> Iterator[Metric]:
        cumulative, buckets = 0, []
        for bound, n in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            self.NAME,
            "intent handed to the executor -> acknowledged by the exchange",
            buckets=buckets,
            sum_value=self.total,
        )


def _gauge(name: str, doc: str, value: float | bool) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


def _counter(name: str, doc: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


class BotMetrics:
    """One bot's registry: the snapshot collector, the latency histogram, process metrics.

    Args:
        snapshot: takes a fresh snapshot (called once per scrape).
        process: include the standard ``process_*`` metrics (CPU, RSS, open fds).
    """

    def __init__(self, snapshot: Callable[[], BotSnapshot], *, process: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_SnapshotCollector(snapshot))
        if process:
            ProcessCollector(registry=self.registry)
        self.order_latency = _LatencyHistogram(LATENCY_BUCKETS)
        self.registry.register(self.order_latency)
        self.observe_order_latency = self.order_latency.observe
        """Record one order's latency in seconds (the runtime's counting sink calls it)."""

    def render(self) -> bytes:
        """The text exposition of every metric (what ``GET /metrics`` returns)."""
        return generate_latest(self.registry)
