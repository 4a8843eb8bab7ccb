"""The real thing on loopback: the sandbox served over HTTP, `copybot watch` and `copybot status`
run as processes, a real SQLite file, two runs (a restart) with a fill injected in between."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from copybot.models import Reason
from copybot.sandbox import Sandbox, serve_in_thread
from tests.support.cli import run_cli
from tests.support.sandbox import KEY_ENV, ground_truth, settings_dict, write_settings


@pytest.mark.slow
def test_watch_copies_sandbox_leaders_across_a_restart(tmp_path: Path) -> None:
    box = Sandbox(seed=11, leaders=3, markets=6, block_time_s=0.25, trade_prob=0.4)
    with serve_in_thread(box) as server:
        start = box.latest_block() + 1
        db = tmp_path / "copybot.db"
        cfg = write_settings(tmp_path / "settings.yaml", settings_dict(server.urls, box.leaders, db, start))
        env = {KEY_ENV: box.api_key}

        first = run_cli("watch", "--config", str(cfg), "--duration", "3", env=env)
        assert first.returncode == 0, first.stderr
        assert box.api_key not in first.stderr + first.stdout

        injected = box.inject_fill(box.leaders[1], side="BUY", shares=Decimal(40))
        second = run_cli("watch", "--config", str(cfg), "--duration", "2.5", env=env)
        assert second.returncode == 0, second.stderr

        out = run_cli("status", "--config", str(cfg), "--json", "--limit", "0", env=env)
        assert out.returncode == 0, out.stderr
        st = json.loads(out.stdout)
        cursors = [row["cursor_block"] for row in st["leaders"]]
        truth = ground_truth(server.urls["etherscan"], box.api_key, box.leaders, start, min(cursors))

    assert st["mode"] == "paper"
    assert st["stats"]["cycles"] >= 4 and st["stats"]["api_calls"] > 0
    assert st["stats"]["cache_hits"] + st["stats"]["cache_misses"] > 0
    keys = Counter((c["tx_hash"], c["log_index"]) for c in st["copies"])
    assert keys and max(keys.values()) == 1, "a fill was decided twice"
    assert truth <= set(keys), f"lost fills: {truth - set(keys)}"
    assert (injected.tx_hash, injected.log_index) in keys
    assert {c["decision"] for c in st["copies"]} <= {"filled", "skipped", "failed"}
    for c in st["copies"]:  # the code agrees with the decision; the reason is its human text
        assert Reason(c["code"]) in (
            {Reason.COPIED, Reason.MIRRORED, Reason.PARTIAL}
            if c["decision"] == "filled"
            else set(Reason) - {Reason.COPIED, Reason.MIRRORED, Reason.PARTIAL}
        ), c
    assert any(c["decision"] == "filled" for c in st["copies"])
    for c in st["copies"]:
        assert c["reason"], c
        if c["decision"] == "filled":
            assert Decimal(c["fill_price"]) > 0 and Decimal(c["fill_shares"]) > 0
            if c["side"] == "BUY":
                assert Decimal(c["fill_price"]) <= Decimal(c["leader_price"]) + Decimal("0.05")
    b = st["bankroll"]
    assert Decimal(b["cash_usdc"]) + Decimal(b["exposure_usdc"]) == 1000 + Decimal(b["realized_pnl_usdc"])
    for row in st["leaders"]:
        assert row["cursor_block"] >= start
        assert row["fills_seen"] == row["copied"] + row["skipped"]
    for p in st["positions"]:
        assert Decimal(p["shares"]) > 0 and p["mark_price"] is not None
