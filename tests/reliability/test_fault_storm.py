"""Faults at high rates, per source: 30% of every upstream's requests fail (5xx, 429, rate-limit
bodies, timeouts, malformed JSON), every request waits 20 ms, and the chain reorganises 1-3
blocks every 4 blocks, while the leaders trade. `watch --duration` rides it out and exits 0,
`status --json` reports the errors by upstream and kind; then the storm stops, one calm run
catches up, and every fill of the covered blocks was decided exactly once, none lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from copybot.sandbox import Faults, Sandbox, mixed_faults, serve_in_thread
from copybot.sandbox.faults import UPSTREAMS
from tests.reliability.helpers import (
    STARTING,
    Watch,
    assert_paper_run_consistent,
    chain_fills,
    covered_range,
    no_tracebacks,
)
from tests.support.cli import run_cli
from tests.support.sandbox import KEY_ENV, settings_dict, write_settings

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(900)]  # minutes by design

STORM_S = 100  # per source: three and a third minutes of faults in all
CALM_S = 6


@pytest.mark.parametrize("kind", ["etherscan", "rpc"])
def test_fault_storm_no_crash_no_duplicate_nothing_lost(tmp_path: Path, kind: str) -> None:
    box = Sandbox(
        seed=71,
        leaders=3,
        markets=6,
        block_time_s=0.5,
        trade_prob=0.5,
        faults=mixed_faults(0.3, latency_ms=20),
        reorg_every=4,
    )
    logs, db = tmp_path / "logs", tmp_path / "storm.db"
    with serve_in_thread(box) as server:
        start = box.latest_block() + 1
        data = settings_dict(server.urls, box.leaders, db, start)
        data["source"]["kind"] = kind
        if kind == "rpc":  # no Etherscan budget to respect: poll twice as often, twice the requests
            data["source"]["poll_interval_s"] = 0.5
        data["source"]["rpc"] = {"url": server.urls["rpc"], "timeout_s": 1}
        data["source"]["etherscan"]["timeout_s"] = 1
        data["clob"]["timeout_s"] = data["gamma"]["timeout_s"] = 1
        cfg = write_settings(tmp_path / "settings.yaml", data)
        env = {KEY_ENV: box.api_key}

        storm = Watch(cfg, env, logs, "storm", ("--duration", str(STORM_S)))
        assert storm.wait(timeout=STORM_S + 120) == 0, storm.output()[-5000:]
        status = run_cli("status", "--config", str(cfg), "--json", "--limit", "0", env=env)
        injected = box.stats()

        box.reorg_every = 0
        for upstream in UPSTREAMS:
            box.set_faults(upstream, Faults())
        calm = Watch(cfg, env, logs, "calm", ("--duration", str(CALM_S)))
        assert calm.wait(timeout=CALM_S + 60) == 0, calm.output()[-5000:]
        lo, hi = covered_range(db, start)
        truth = chain_fills(box, box.leaders, lo, hi)

    no_tracebacks(logs)
    assert injected["reorgs"] >= 10, injected["reorgs"]
    assert sum(n for (up, _), n in injected["faults"].items() if up == kind) >= 25, injected["faults"]
    # status (read after the storm, from the heartbeat the last cycle wrote) reports the errors
    assert status.returncode == 0, status.stderr
    upstreams = json.loads(status.stdout)["stats"]["upstreams"]
    for name in (kind, "clob"):
        errors = upstreams[name]["errors"]
        assert {"unavailable", "rate_limited", "malformed"} <= {k for k, n in errors.items() if n > 0}, (name, errors)
        assert upstreams[name]["calls"] > sum(errors.values())
    assert len(truth) >= 40, "the leaders should have traded through the storm"
    assert_paper_run_consistent(db, truth, lo, hi, STARTING)
