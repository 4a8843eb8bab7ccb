"""Prometheus metrics: scraped from a running `watch`, and fed by hand in process."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from copybot.daemon import CycleReport
from copybot.errors import ConfigError
from copybot.ops.metrics import Metrics, MetricsServer
from copybot.sandbox import Sandbox, serve_in_thread
from copybot.store import CycleStats
from tests.support.sandbox import key_env, sandbox_settings, start_watch


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(values: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _), v in values.items() if n == name)


def test_metrics_scraped_from_a_running_watch(tmp_path: Path) -> None:
    box = Sandbox(seed=17, leaders=2, block_time_s=0.25, trade_prob=0.6)
    with serve_in_thread(box) as server:
        cfg = sandbox_settings(tmp_path, server)
        args = ("--metrics-port", "0", "--log-format", "json")
        with start_watch(cfg, key_env(server), *args) as proc:
            assert proc.stderr is not None
            lines = []
            for line in proc.stderr:  # the log says where the metrics are (port 0 = any free port)
                lines.append(line)
                if "metrics at " in line:
                    url = json.loads(line)["msg"].split("metrics at ", 1)[1]
                    break
            values = samples(httpx.get(url, timeout=10).text)
            while total(values, "copybot_cycle_duration_seconds_count") < 2:  # the test's timeout bounds this
                time.sleep(0.2)
                values = samples(httpx.get(url, timeout=10).text)
            proc.terminate()
            rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
    assert total(values, "copybot_cycle_duration_seconds_count") >= 2
    assert values[("copybot_api_calls_total", (("upstream", "etherscan"),))] > 0
    assert total(values, "copybot_api_calls_total") > 0
    for phase in ("poll", "execute", "manage"):
        assert values[("copybot_cycle_phase_duration_seconds_count", (("phase", phase),))] >= 2
    assert 0 < values[("copybot_last_heartbeat_timestamp_seconds", ())] <= time.time()
    assert values[("copybot_cash_usdc", ())] > 0
    assert ("copybot_copies_total", (("decision", "filled"),)) in values
    assert total(values, "copybot_cache_hits_total") + total(values, "copybot_cache_misses_total") > 0
    assert values[("process_resident_memory_bytes", ())] > 10_000_000
    assert values[("copybot_source_calls_today", ())] > 0
    # --log-format json: every line is one object; copy decisions carry their fields as keys
    records = [json.loads(line) for line in lines + err.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    copies = [r for r in records if r["logger"] == "copybot.copy"]
    assert copies and all({"decision", "leader", "side", "token", "tx", "reason"} <= set(r) for r in copies)


def _report(phases: dict[str, float]) -> CycleReport:
    health = {
        "upstreams": {
            "etherscan": {"calls": 7, "errors": {"rate_limited": 2}, "last_success_at": 1.0, "last_error": ""}
        },
        "caches": {"closed_ranges": {"hits": 3, "misses": 4, "size": 4}},
    }
    stats = CycleStats(1_790_000_000.0, 120.0, 3, 3, 7, 3, 4, health)
    return CycleReport(stats, 3, 95_000_123, 0, phases)


def test_metrics_fed_in_process_and_served_on_a_free_port() -> None:
    m = Metrics()
    m.observe_cycle(_report({"poll": 0.05, "execute": 0.06, "manage": 0.01}))
    m.observe_status(
        {
            "bankroll": {
                "cash_usdc": "990.5",
                "exposure_usdc": "9.5",
                "realized_pnl_usdc": "0",
                "unrealized_pnl_usdc": "-0.25",
                "open_positions": 3,
            },
            "positions": [{}],
        }
    )
    values = samples(generate_latest(m.registry).decode())
    assert values[("copybot_api_errors_total", (("kind", "rate_limited"), ("upstream", "etherscan")))] == 2
    assert values[("copybot_cache_misses_total", (("cache", "closed_ranges"),))] == 4
    assert values[("copybot_fills_seen_total", ())] == 3
    assert values[("copybot_unrealized_pnl_usdc", ())] == -0.25
    assert values[("copybot_open_positions", ())] == 3  # every open position, not just the ones listed
    assert values[("copybot_latest_block", ())] == 95_000_123
    assert values[("copybot_last_heartbeat_timestamp_seconds", ())] == 1_790_000_000.12
    server = MetricsServer(m, "127.0.0.1", 0)
    try:
        assert "copybot_cycle_duration_seconds_bucket" in httpx.get(server.url, timeout=2).text
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(ConfigError, match=f"--metrics-port: cannot listen on 127.0.0.1:{port}"):
            MetricsServer(Metrics(), "127.0.0.1", port)
    finally:
        server.close()
