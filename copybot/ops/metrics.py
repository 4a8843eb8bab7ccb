"""Prometheus metrics for ``watch --metrics-port``, on a registry of their own.

Fed once per cycle (the cycle report, ``app.health()`` inside it, and the status snapshot the
loop reads anyway), never per scrape: a scrape reads values already in memory and never touches
the database or the upstreams. API calls, errors and cache lookups are exported straight from the
cumulative counters ``app.health()`` already keeps, so they are exact. Process memory comes from
prometheus-client's ProcessCollector (``process_resident_memory_bytes``, Linux).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from copybot.errors import ConfigError
from copybot.models import CopyOutcome, Decision

if TYPE_CHECKING:
    from copybot.daemon import CycleReport

CYCLE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
PHASE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
MONEY = {  # gauge name -> key of the status snapshot's "bankroll"
    "cash": "cash_usdc",
    "exposure": "exposure_usdc",
    "realized_pnl": "realized_pnl_usdc",
    "unrealized_pnl": "unrealized_pnl_usdc",
}


class _HealthCollector(Collector):
    """API calls/errors per upstream and cache hits/misses, from the latest ``app.health()``."""

    def __init__(self) -> None:
        self.health: Mapping[str, Any] = {}  # replaced whole each cycle: a scrape sees one consistent dict

    def collect(self) -> Iterable[Metric]:
        health = self.health
        calls = CounterMetricFamily("copybot_api_calls", "HTTP calls made, by upstream", labels=["upstream"])
        errors = CounterMetricFamily(
            "copybot_api_errors", "Failed HTTP calls, by upstream and kind of error", labels=["upstream", "kind"]
        )
        for name, u in health.get("upstreams", {}).items():
            calls.add_metric([name], u.get("calls", 0))
            for kind, n in (u.get("errors") or {}).items():
                errors.add_metric([name, kind], n)
        hits = CounterMetricFamily("copybot_cache_hits", "Cache hits, by cache", labels=["cache"])
        misses = CounterMetricFamily("copybot_cache_misses", "Cache misses, by cache", labels=["cache"])
        for name, c in health.get("caches", {}).items():
            hits.add_metric([name], c.get("hits", 0))
            misses.add_metric([name], c.get("misses", 0))
        out: list[Metric] = [calls, errors, hits, misses]
        source = health.get("source") or {}
        for key, help_text in (
            ("calls_today", "Source API calls this UTC day"),
            ("daily_budget", "Source API calls allowed per UTC day"),
        ):
            if isinstance(source.get(key), int | float):
                out.append(GaugeMetricFamily(f"copybot_source_{key}", help_text, value=source[key]))
        return out


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.fills = Counter("copybot_fills_seen", "New leader fills stored", registry=r)
        self.copies = Counter("copybot_copies", "Copy decisions, by decision", ["decision"], registry=r)
        self.orders = Counter(
            "copybot_orders", "Orders sent, by outcome (filled, skipped, failed)", ["outcome"], registry=r
        )
        for decision in Decision:  # present from the first scrape, so rate() has a starting point
            self.copies.labels(decision.value)
            self.orders.labels(decision.value)
        self.cycle_seconds = Histogram(
            "copybot_cycle_duration_seconds", "Duration of a watch cycle", buckets=CYCLE_BUCKETS, registry=r
        )
        self.phase_seconds = Histogram(
            "copybot_cycle_phase_duration_seconds",
            "Time per cycle phase (poll, execute, manage)",
            ["phase"],
            buckets=PHASE_BUCKETS,
            registry=r,
        )
        self.heartbeat = Gauge("copybot_last_heartbeat_timestamp_seconds", "Unix time the last cycle ended", registry=r)
        self.latest_block = Gauge("copybot_latest_block", "Chain head seen by the last cycle", registry=r)
        self.positions = Gauge("copybot_open_positions", "Open positions", registry=r)
        self.money = {
            name: Gauge(f"copybot_{name}_usdc", f"{name.replace('_', ' ').capitalize()} in USDC", registry=r)
            for name in MONEY
        }
        self._health = _HealthCollector()
        r.register(self._health)
        ProcessCollector(registry=r)

    def observe_outcomes(self, outcomes: Sequence[CopyOutcome]) -> None:
        for o in outcomes:
            self.copies.labels(o.decision.value).inc()
            if o.client_key:  # an order was actually sent (or prepared) for this decision
                self.orders.labels(o.decision.value).inc()

    def observe_cycle(self, report: CycleReport) -> None:
        s = report.stats
        self.fills.inc(report.new_fills)
        self.cycle_seconds.observe(s.duration_ms / 1000)
        for phase, seconds in report.phases.items():
            self.phase_seconds.labels(phase).observe(seconds)
        self.heartbeat.set(s.started_at + s.duration_ms / 1000)
        if report.latest_block:
            self.latest_block.set(report.latest_block)
        self._health.health = dict(s.source_health)

    def observe_status(self, status: Mapping[str, Any]) -> None:
        """Money and positions from the status snapshot (the ``status --json`` contract)."""
        bankroll = status["bankroll"]
        for name, key in MONEY.items():
            if bankroll.get(key) is not None:
                self.money[name].set(float(Decimal(bankroll[key])))
        self.positions.set(bankroll["open_positions"])


class MetricsServer:
    """prometheus-client's HTTP server in a daemon thread; ``close()`` stops it."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        try:
            self._httpd, self._thread = start_http_server(port, addr=host, registry=metrics.registry)
        except OSError as exc:
            raise ConfigError(f"--metrics-port: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound = self._httpd.server_port  # the real port when 0 was asked for
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{bound}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
