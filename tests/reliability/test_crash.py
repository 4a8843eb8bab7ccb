"""Crash safety: `copybot watch` is killed with SIGKILL at random moments (seeded), over and over,
while the sandbox's leaders keep trading; then one clean run lets pending work finish.

Afterwards every leader fill in the blocks covered is decided exactly once (none lost, none
twice, none pending), no order is left in `intent`/`unknown`, the books balance, and SQLite's
integrity check passes. In live mode (real signed orders to the sandbox CLOB) the exchange's own
records prove that no fill was ever executed twice.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from eth_account import Account

from copybot.sandbox import RunningSandbox, Sandbox, serve_in_thread
from tests.reliability.helpers import (
    LOT,
    STARTING,
    Watch,
    assert_every_fill_decided_once,
    assert_integrity,
    assert_no_open_orders,
    assert_paper_run_consistent,
    chain_fills,
    connect,
    covered_range,
    no_tracebacks,
    table_count,
)
from tests.support.cli import run_cli
from tests.support.sandbox import KEY_ENV, settings_dict, write_settings

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(900)]  # minutes by design

KILLS = 22
SEED = 20240611


def kill_repeatedly(cfg: Path, env: dict[str, str], logs: Path, db: Path, rng: random.Random, *args: str) -> list[int]:
    """Start watch, SIGKILL it after 0.3-2.5 s, KILLS times. Returns the decisions stored after each run."""
    progress = []
    for i in range(KILLS):
        run = Watch(cfg, env, logs, f"killed-{i:02d}", args)
        time.sleep(rng.uniform(0.3, 2.5))
        assert run.proc.poll() is None, f"watch died on its own:\n{run.output()}"
        run.kill()
        if db.exists():
            conn = connect(db)
            try:
                progress.append(table_count(conn, "SELECT COUNT(*) FROM decisions"))
            finally:
                conn.close()
    return progress


def finish_cleanly(cfg: Path, env: dict[str, str], logs: Path, seconds: float, *args: str) -> str:
    final = Watch(cfg, env, logs, "final", ("--duration", str(seconds), *args))
    assert final.wait(timeout=seconds + 90) == 0, final.output()
    return final.output()


def serve_trading_sandbox(seed: int) -> tuple[Sandbox, RunningSandbox]:
    box = Sandbox(seed=seed, leaders=3, markets=6, block_time_s=0.25, trade_prob=0.5)
    return box, serve_in_thread(box)


def test_kill_9_at_random_moments_paper(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    box, server = serve_trading_sandbox(61)
    logs, db = tmp_path / "logs", tmp_path / "paper.db"
    with server:
        start = box.latest_block() + 1
        cfg = write_settings(tmp_path / "settings.yaml", settings_dict(server.urls, box.leaders, db, start))
        env = {KEY_ENV: box.api_key}
        progress = kill_repeatedly(cfg, env, logs, db, rng)
        finish_cleanly(cfg, env, logs, 6)
        lo, hi = covered_range(db, start)
        truth = chain_fills(box, box.leaders, lo, hi)
        status = run_cli("status", "--config", str(cfg), "--json", "--limit", "0", env=env)

    assert status.returncode == 0, status.stderr
    no_tracebacks(logs)
    # the kills landed while work was going on, not only before the first cycle
    assert sum(1 for a, b in zip([0, *progress], progress, strict=False) if b > a) >= KILLS // 3, progress
    assert len(truth) >= 50, "the leaders should have traded plenty in the covered blocks"
    assert_paper_run_consistent(db, truth, lo, hi, STARTING)


def sandbox_trades_by_order(box: Sandbox, wallet: str) -> Counter[str]:
    """How many matches the sandbox CLOB executed per order of ours (its own records)."""
    with box._lock:
        return Counter(t.order_id for t in box.clob.trades if t.signer == wallet.lower())


def test_kill_9_at_random_moments_live(tmp_path: Path) -> None:
    """The same in live mode: orders are signed by polymarket-client and matched by the sandbox
    CLOB, so a crash between sending an order and recording its answer is possible, and the
    intent + reconcile path has to resolve it without ever sending a fill's order twice."""
    rng = random.Random(SEED + 1)
    account = Account.create()
    box, server = serve_trading_sandbox(67)
    logs, db = tmp_path / "logs", tmp_path / "live.db"
    with server:
        box.fund(account.address, Decimal(100_000))
        start = box.latest_block() + 1
        data = settings_dict(server.urls, box.leaders, db, start)
        data["mode"] = "live"
        cfg = write_settings(tmp_path / "settings.yaml", data)
        env = {KEY_ENV: box.api_key, "COPYBOT_PRIVATE_KEY": account.key.hex()}
        progress = kill_repeatedly(cfg, env, logs, db, rng, "--live")
        finish_cleanly(cfg, env, logs, 8, "--live")
        lo, hi = covered_range(db, start)
        truth = chain_fills(box, box.leaders, lo, hi)
        matched = sandbox_trades_by_order(box, account.address)
        held = box.balances(account.address).shares

    no_tracebacks(logs)
    assert sum(1 for a, b in zip([0, *progress], progress, strict=False) if b > a) >= KILLS // 3, progress
    conn = connect(db)
    try:
        assert_integrity(conn)
        decisions = assert_every_fill_decided_once(conn, truth, lo, hi)
        assert_no_open_orders(conn)
        orders = conn.execute("SELECT fill_id, status, exchange_order_id FROM orders").fetchall()
        filled = {r["fill_id"] for r in conn.execute("SELECT fill_id FROM decisions WHERE decision = 'filled'")}
        positions = conn.execute("SELECT token_id, SUM(shares) AS shares FROM positions GROUP BY token_id").fetchall()
    finally:
        conn.close()
    ours = {r["exchange_order_id"]: r for r in orders}
    unknown = set(matched) - set(ours)
    assert not unknown, f"the CLOB executed orders copybot has no record of: {unknown}"
    assert all(n == 1 for n in matched.values()), "one order matched twice"
    executed_per_fill = Counter(ours[order_id]["fill_id"] for order_id in matched)
    twice = {fill: n for fill, n in executed_per_fill.items() if n > 1}
    assert not twice, f"fills whose copy was executed more than once by the exchange: {twice}"
    assert set(executed_per_fill) == filled, "every executed order is a filled decision and vice versa"
    assert decisions.get("filled", 0) >= 5, decisions
    for p in positions:  # our shares are what the exchange says we hold (less written-off dust)
        on_chain = held.get(int(p["token_id"]), 0)
        assert 0 <= on_chain - p["shares"] < LOT * 10, (p["token_id"], p["shares"], on_chain)
