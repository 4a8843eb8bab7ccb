"""A burst of leader fills through ``copybot watch``: all of them in one block, until all are decided.

The sandbox (10 leaders, no background trading) is served on loopback with ``latency_ms`` on every
request; once the daemon has run a few cycles, ``n`` taker BUYs are injected (spread over the
leaders and markets) and mined together. copybot (rpc source) is timed from that block to its
last decision; the naive baseline is :class:`bench.detection.NaivePoller` on a fresh sandbox.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from bench.common import ratio, secs
from bench.detection import NaivePoller, _settings
from copybot.config.loading import parse_settings
from copybot.daemon import watch
from copybot.models import CopyOutcome
from copybot.sandbox import Faults, Sandbox, serve_in_thread

LEADERS = 10
WARM_UP_S = 3.0  # the daemon's first cycles: app built, cursors set


def _sandbox(latency_ms: float) -> Sandbox:
    box = Sandbox(seed=8, leaders=LEADERS, markets=20, block_time_s=2.0, trade_prob=0.0, noise_prob=0.0)
    for upstream in ("etherscan", "rpc", "clob", "gamma"):
        box.set_faults(upstream, Faults(latency_ms=latency_ms))
    return box


def _inject(box: Sandbox, n: int) -> float:
    """``n`` leader BUYs in the next block, which is mined at once; returns when it was mined."""
    for i in range(n):
        box.inject_fill(box.leaders[i % LEADERS], shares=Decimal(10))
    box.mine(1)
    return time.time()


def copybot_burst(latency_ms: float, n: int, timeout_s: float = 120.0) -> tuple[float, int, int]:
    """(seconds from the block to the last decision, decisions, source + CLOB requests)."""
    box = _sandbox(latency_ms)
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(box) as server:
        db = Path(tmp) / "burst.db"
        start = box.latest_block() + 1
        data = _settings(server.urls, box.leaders, db, start, "rpc", 2.0)
        settings = parse_settings(data, "bench", environ={})
        decided: list[float] = []
        everything = asyncio.Event()

        def on_outcomes(outcomes: Sequence[CopyOutcome]) -> None:
            decided.extend(time.time() for _ in outcomes)
            if len(decided) >= n:
                everything.set()

        async def main() -> float:
            task = asyncio.ensure_future(watch(settings, box.api_key, on_outcomes=on_outcomes, duration=timeout_s))
            await asyncio.sleep(WARM_UP_S)
            box.reset_stats()
            mined = _inject(box, n)
            try:
                await asyncio.wait_for(everything.wait(), timeout_s)
            finally:
                if not task.done():  # stop as systemd would: the cycle in flight finishes first
                    signal.raise_signal(signal.SIGTERM)
                await asyncio.gather(task, return_exceptions=True)
            return mined

        mined = asyncio.run(main())
        requests = sum(box.stats()["requests"].values())
    return max(decided) - mined, len(decided), requests


def naive_burst(latency_ms: float, n: int, timeout_s: float = 180.0) -> tuple[float, int, int]:
    box = _sandbox(latency_ms)
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(box) as server:
        start = box.latest_block() + 1
        poller = NaivePoller("rpc", server.urls, box.api_key, box.leaders, start, Path(tmp) / "naive.db")
        poller.stop_after = n

        async def main() -> float:
            task = asyncio.ensure_future(poller.run(timeout_s, 2.0))
            await asyncio.sleep(WARM_UP_S)
            box.reset_stats()
            mined = _inject(box, n)
            await task
            return mined

        mined = asyncio.run(main())
        requests = sum(box.stats()["requests"].values())
        last = poller.conn.execute("SELECT MAX(at), COUNT(*) FROM copies").fetchone()
        poller.conn.close()
    return float(last[0]) - mined, int(last[1]), requests


def burst_rows(latency_ms: float, n: int) -> tuple[list[str], list[str]]:
    """The table row and the headline of the burst benchmark."""
    ours_s, ours_n, ours_req = copybot_burst(latency_ms, n)
    naive_s, naive_n, naive_req = naive_burst(latency_ms, n)
    row = [
        f"burst of {n} leader fills in one block through `watch` (requests copybot / naive: {ours_req} / {naive_req})",
        f"{ours_n} / {naive_n}",
        secs(naive_s),
        secs(ours_s),
        f"{naive_n / naive_s:,.0f}",
        f"{ours_n / ours_s:,.0f}",
        ratio(naive_s, ours_s),
        "",
    ]
    headline = [
        f"burst of {n} fills through `watch`, block -> last decision",
        f"{secs(ours_s)} s, {ours_req} requests (naive {secs(naive_s)} s)",
        "",
        "",
    ]
    return row, headline
