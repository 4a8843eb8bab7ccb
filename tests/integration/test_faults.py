"""Through a flaky network (issue 3): 10% 5xx, 5% rate-limit answers, 2% timeouts and 1% malformed
bodies on every upstream, over real loopback HTTP; every injected leader fill is copied exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from copybot.cli.status import snapshot
from copybot.config.loading import parse_settings
from copybot.daemon import watch
from copybot.sandbox import Faults, Sandbox, serve_in_thread
from copybot.store import Store
from tests.support.sandbox import settings_dict


def flaky(rate_limit_body: bool) -> Faults:
    limited = {"rate_limit_body": 0.05} if rate_limit_body else {"http_429": 0.05}
    return Faults(http_5xx=0.10, timeout=0.02, malformed=0.01, hang_s=2.0, **limited)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["etherscan", "rpc"])
def test_every_fill_is_copied_exactly_once_through_faults(tmp_path: Path, kind: str) -> None:
    faults = {
        "etherscan": flaky(True),
        "rpc": flaky(True),
        "clob": flaky(False),
        "gamma": flaky(False),
    }
    box = Sandbox(seed=31, leaders=4, markets=6, block_time_s=0.5, trade_prob=0.0, noise_prob=0.5, faults=faults)
    with serve_in_thread(box) as server:
        start = box.latest_block() + 1
        injected = []
        for i in range(3):
            for j, leader in enumerate(box.leaders):
                market = box.markets[(i + j) % len(box.markets)]
                injected.append(box.inject_fill(leader, token_id=market.tokens[i % 2], side="BUY", shares=Decimal(20)))
            box.mine(1)
        db = tmp_path / "bot.db"
        data = settings_dict(server.urls, box.leaders, db, start)
        data["source"]["kind"] = kind
        data["source"]["rpc"] = {"url": server.urls["rpc"], "timeout_s": 0.5}
        data["source"]["etherscan"]["timeout_s"] = 0.5
        data["clob"]["timeout_s"] = data["gamma"]["timeout_s"] = 0.5
        settings = parse_settings(data, "flaky.yaml", environ={})
        asyncio.run(watch(settings, box.api_key, duration=12))
        faults_seen = box.stats()["faults"]

    store = Store.open(db, create=False)
    try:
        st = snapshot(store, 0, limit=0)
        assert store.pending_fills(100) == []
    finally:
        store.close()
    keys = Counter((c["tx_hash"], c["log_index"]) for c in st["copies"])
    assert max(keys.values()) == 1, "a fill was decided twice"
    assert {(f.tx_hash, f.log_index) for f in injected} == set(keys)
    assert sum(1 for c in st["copies"] if c["decision"] == "filled") >= len(injected) // 2
    assert sum(n for (up, _), n in faults_seen.items() if up == kind) > 0, "no fault was injected"
    errors = st["stats"]["upstreams"][kind]["errors"]
    assert sum(errors.values()) > 0, "status should report the errors"
