"""Memory: RSS after a million fills through the pure pipeline, 1,000 leaders, 10,000 positions.

Runs in a subprocess of its own (``python -m bench.memory``) so nothing else the benchmarks
loaded counts: the pipeline of :mod:`bench.pipeline` (decode, dedupe, risk, paper fill, store)
in polls of 500 fills on a real SQLite file on disk, with 10,000 positions open from the start.
RSS (``VmRSS`` of ``/proc/self/status``) is read at the half and at the end; the growth over the
second half is what a leak would show. The store's reads that run every batch or every cycle are
timed at the end, on the full database: ``cash()`` and the leader totals (running totals kept by
triggers), ``Exposure.load`` (every open position, once per executor run) and ``status.snapshot()``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Section, rss_mb, secs

LEADERS, TOKENS_PER_LEADER, POLL = 1000, 10, 500
TARGET_MB, TARGET_GROWTH = 150.0, 0.05


def peak_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(fills: int, db: Path) -> dict[str, float]:
    """Run the pipeline over ``fills`` fills; what a caller needs to judge memory and speed."""
    from bench.pipeline import BANKROLL, Decider, FillStream, batched, bench_settings, open_store, preload_positions
    from copybot.cli.status import snapshot
    from copybot.rules.exposure import Exposure

    out: dict[str, float] = {"rss_start_mb": rss_mb()}
    stream = FillStream(LEADERS, TOKENS_PER_LEADER, seed=31)
    store = open_store(db)
    out["positions_preloaded"] = preload_positions(store, stream, LEADERS * TOKENS_PER_LEADER)
    decider = Decider(stream, bench_settings(db).risk, BANKROLL)
    polls = max(2, fills // POLL)
    done, t0 = 0, time.perf_counter()
    pipeline_s = 0.0
    for i in range(polls):
        rows, poll = stream.poll(POLL // stream.fills_per_block)
        t1 = time.perf_counter()
        done += batched(store, decider, rows, poll)
        pipeline_s += time.perf_counter() - t1
        if i == polls // 2 - 1:
            out["rss_half_mb"], out["fills_half"], out["half_s"] = rss_mb(), done, time.perf_counter() - t0
            out["first_half_fills_per_s"] = done / pipeline_s
            half_pipeline_s = pipeline_s
    out["rss_end_mb"], out["fills"], out["elapsed_s"] = rss_mb(), done, time.perf_counter() - t0
    out["second_half_fills_per_s"] = (done - out["fills_half"]) / (pipeline_s - half_pipeline_s)
    out["pipeline_fills_per_s"] = done / pipeline_s
    out["rss_peak_mb"] = peak_mb()
    out["open_positions"] = len(store.open_positions())
    t1 = time.perf_counter()
    store.cash()
    out["cash_ms"] = (time.perf_counter() - t1) * 1000
    t1 = time.perf_counter()
    Exposure.load(store)
    out["exposure_ms"] = (time.perf_counter() - t1) * 1000
    out["ledger_rows"] = store.count("ledger")
    t1 = time.perf_counter()
    store.bankroll_cash(), store.totals()
    out["summary_ms"] = (time.perf_counter() - t1) * 1000
    t1 = time.perf_counter()
    snapshot(store, time.time(), 50)
    out["snapshot_ms"] = (time.perf_counter() - t1) * 1000
    store.close()
    out["db_mb"] = sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 2**20
    return out


def run(fills: int = 1_000_000, timeout_s: float = 900.0) -> Section:
    t0, started = time.perf_counter(), Section("memory", "", "", [])  # the start's time and load average
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "bench.memory", "--fills", str(fills), "--db", str(Path(tmp) / "memory.db")]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.memory failed:\n{done.stderr[-2000:]}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    growth = (r["rss_end_mb"] - r["rss_half_mb"]) / r["rss_half_mb"]
    section = Section(
        "memory",
        f"Memory: {r['fills']:,.0f} fills",
        f"`python -m bench.memory` in a subprocess: {r['fills']:,.0f} fills through the pure pipeline of the "
        f"throughput benchmark (polls of {POLL}) from {LEADERS:,} leaders, {r['positions_preloaded']:,.0f} positions "
        "open from the start, a real SQLite file on disk, as shipped (no `ANALYZE`). RSS = `VmRSS` from "
        f"`/proc/self/status`. Targets: <= {TARGET_MB:.0f} MB at the end, <= {TARGET_GROWTH:.0%} growth over the "
        "second half.",
        ["measure", "value", "target", "ok"],
        ran_at=started.ran_at,
        load=started.load,
    )
    rows = [
        ["RSS at start (imports)", f"{r['rss_start_mb']:.1f} MB", "", ""],
        [f"RSS at half ({r['fills_half']:,.0f} fills)", f"{r['rss_half_mb']:.1f} MB", "", ""],
        [
            f"RSS at end ({r['fills']:,.0f} fills)",
            f"{r['rss_end_mb']:.1f} MB",
            f"<= {TARGET_MB:.0f} MB",
            "yes" if r["rss_end_mb"] <= TARGET_MB else "NO",
        ],
        [
            "growth over the second half",
            f"{growth:+.1%}",
            f"<= {TARGET_GROWTH:.0%}",
            "yes" if growth <= TARGET_GROWTH else "NO",
        ],
        ["peak RSS (VmHWM)", f"{r['rss_peak_mb']:.1f} MB", "", ""],
        ["open positions at end", f"{r['open_positions']:,.0f}", "", ""],
        ["run time (fills generated + pipeline)", f"{secs(r['elapsed_s'])} s", "", ""],
        [
            "pipeline fills/s, first half / second half",
            f"{r['first_half_fills_per_s']:,.0f} / {r['second_half_fills_per_s']:,.0f}",
            ">= 5,000",
            "yes" if r["second_half_fills_per_s"] >= 5000 else "NO",
        ],
        ["database on disk at end", f"{r['db_mb']:,.0f} MB", "", ""],
        [
            f"`Store.cash()` with {r['ledger_rows']:,.0f} ledger rows (once per executor batch)",
            f"{r['cash_ms']:.2f} ms",
            "",
            "",
        ],
        [
            f"`Exposure.load()` with {r['open_positions']:,.0f} open positions (once per executor run)",
            f"{r['exposure_ms']:.1f} ms",
            "",
            "",
        ],
        [
            "`Daemon.summary()` reads: `bankroll_cash()` + `totals()` (every cycle under systemd)",
            f"{r['summary_ms']:.2f} ms",
            "",
            "",
        ],
        ["`status.snapshot()` (every cycle with the dashboard or metrics on)", f"{r['snapshot_ms']:.1f} ms", "", ""],
    ]
    section.rows = rows
    section.headline = [
        [
            f"RSS after {r['fills']:,.0f} fills, {r['open_positions']:,.0f} positions",
            f"{r['rss_end_mb']:.0f} MB",
            f"<= {TARGET_MB:.0f} MB",
            "yes" if r["rss_end_mb"] <= TARGET_MB else "NO",
        ],
        [
            "RSS growth over the second half",
            f"{growth:+.1%}",
            f"<= {TARGET_GROWTH:.0%}",
            "yes" if growth <= TARGET_GROWTH else "NO",
        ],
    ]
    section.seconds = time.perf_counter() - t0
    return section


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="One memory run; prints a JSON line.")
    parser.add_argument("--fills", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(measure(args.fills, args.db)), flush=True)
