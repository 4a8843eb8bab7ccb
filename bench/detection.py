"""Detection latency: a leader's fill on the sandbox chain -> copybot's paper fill, per source.

The sandbox mines a block every ``block_time_s`` on the wall clock; a fill's on-chain time is its
block's scheduled time. The latency of a copy is the time its decision was stored minus that.
Runs ``copybot watch`` in-process against the sandbox served on loopback (real HTTP, real SQLite).
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from copybot.config import parse_settings
from copybot.daemon import watch
from copybot.sandbox import Sandbox, serve_in_thread


@dataclass
class Detection:
    source: str
    leaders: int
    seconds: float
    copies: int
    p50_s: float
    p99_s: float
    requests_per_poll: float


def _settings(urls: dict[str, str], leaders: list[str], db: Path, start: int, kind: str, poll: float) -> dict:
    return {
        "leaders": [{"address": a} for a in leaders],
        "source": {
            "kind": kind,
            "poll_interval_s": poll,
            "start_block": start,
            "etherscan": {"url": urls["etherscan"], "api_key_env": "BENCH_KEY"},
            "rpc": {"url": urls["rpc"]},
        },
        "clob": {"url": urls["clob"]},
        "gamma": {"url": urls["gamma"]},
        "risk": {"max_slippage": "0.2", "max_trade_age_s": 3600},
        "paper": {"starting_bankroll_usdc": 1_000_000},
        "storage": {"path": str(db)},
    }


def run_detection(kind: str, leaders: int, seconds: float, poll: float = 2.0, block_time: float = 2.0) -> Detection:
    # keep the fill rate about constant whatever the leader count: ~1.5 leader fills per block
    trade_prob = min(0.5, 1.5 / leaders)
    box = Sandbox(seed=99, leaders=leaders, markets=20, block_time_s=block_time, trade_prob=trade_prob)
    created = time.time()
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(box) as server:
        db = Path(tmp) / "bench.db"
        start = box.latest_block() + 1
        settings = parse_settings(_settings(server.urls, box.leaders, db, start, kind, poll), "bench", environ={})
        box.reset_stats()
        asyncio.run(watch(settings, box.api_key, duration=seconds))
        stats = box.stats()
        conn = sqlite3.connect(db)
        rows = conn.execute(
            "SELECT f.block, d.at FROM decisions d JOIN fills f ON f.id = d.fill_id WHERE d.decision = 'filled'"
        ).fetchall()
        cycles = conn.execute("SELECT cycles FROM heartbeat").fetchone()[0]
        conn.close()
    latencies = sorted(at - (created + (block - box.start_block) * block_time) for block, at in rows)
    upstream = "rpc" if kind == "rpc" else "etherscan"
    calls = sum(n for (up, _), n in stats["requests"].items() if up == upstream)
    if not latencies:
        return Detection(kind, leaders, seconds, 0, float("nan"), float("nan"), calls / max(1, cycles))
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return Detection(kind, leaders, seconds, len(latencies), statistics.median(latencies), p99, calls / max(1, cycles))


def table(rows: list[Detection]) -> str:
    lines = [
        "| source | leaders | run s | copies | p50 s | p99 s | requests/poll |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.source} | {r.leaders} | {r.seconds:.0f} | {r.copies} | {r.p50_s:.2f} | {r.p99_s:.2f} "
            f"| {r.requests_per_poll:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    plan = [("rpc", 10, 40), ("rpc", 500, 40), ("etherscan", 10, 40), ("etherscan", 500, 240)]
    if len(sys.argv) > 1:
        plan = [(k, int(n), float(s)) for k, n, s in (arg.split(":") for arg in sys.argv[1:])]
    results = []
    for kind, n, secs in plan:
        results.append(run_detection(kind, n, secs))
        print(table(results[-1:]).splitlines()[-1], flush=True)
    print(table(results))
