"""The benchmarks' settings stay valid settings. They only run in ``make bench`` (half an hour,
never in ``make test``), so a tightened bound (``risk.max_trade_age_s`` gained a 30-day ceiling)
broke the pipeline and memory benchmarks without a test noticing; these build every benchmark's
settings the way the benchmark does."""

from __future__ import annotations

from pathlib import Path

from bench.detection import _settings as detection_settings
from bench.pipeline import bench_settings
from bench.positions import _settings as positions_settings
from copybot.config.loading import parse_settings

URLS = {name: f"http://127.0.0.1:9/{name}" for name in ("etherscan", "rpc", "clob", "gamma")}
LEADER = "0x" + "ab" * 20


def test_the_pipeline_and_memory_benchmarks_settings_parse(tmp_path: Path) -> None:
    settings = bench_settings(tmp_path / "bench.db")
    assert settings.risk.fixed_usdc == 10
    assert settings.risk.max_trade_age_s == 30 * 86_400


def test_the_detection_and_burst_benchmarks_settings_parse(tmp_path: Path) -> None:
    for kind in ("rpc", "etherscan"):
        data = detection_settings(URLS, [LEADER], tmp_path / "d.db", 100, kind, 2.0)
        settings = parse_settings(data, "bench", environ={})
        assert (settings.source.kind, settings.source.poll_interval_s) == (kind, 2.0)


def test_the_positions_benchmark_settings_parse(tmp_path: Path) -> None:
    for exits in (False, True):
        settings = positions_settings(URLS, tmp_path / "p.db", exits)
        assert settings.clob.url == URLS["clob"]


def test_the_executor_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    # its in-memory market must keep up with what the executor asks of MarketData (fee_rates was
    # missing once, and only `make bench` found it)
    from bench.pipeline import executor_rate

    decided, seconds, opened = executor_rate(tmp_path, fills=500, positions=5)  # one poll's worth
    assert decided == 500 and opened == 5 and seconds >= 0
