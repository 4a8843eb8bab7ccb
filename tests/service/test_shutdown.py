"""Stopping: SIGTERM during a run leaves a consistent store; a stuck cycle is bounded by the grace."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from copybot.daemon import Daemon
from copybot.sandbox import Sandbox, serve_in_thread
from tests.support.clock import SteppedClock
from tests.support.sandbox import key_env, sandbox_settings, start_watch


def test_sigterm_mid_run_exits_0_with_a_consistent_store(tmp_path: Path) -> None:
    # a long backlog, so the signal lands while fills are still being copied
    box = Sandbox(seed=13, leaders=4, block_time_s=0.1, trade_prob=0.9, start_block=95_000_000)
    with serve_in_thread(box) as server:
        time.sleep(1.5)  # ~15 blocks of history to catch up on
        cfg = sandbox_settings(tmp_path, server)
        with start_watch(cfg, key_env(server)) as proc:
            assert proc.stderr is not None
            for line in proc.stderr:  # wait for the first copy decision: we are mid-cycle
                if "decision=" in line:
                    break
            proc.send_signal(signal.SIGTERM)
            _, rest = proc.communicate(timeout=40)
            err = line + rest
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stop requested" in err and "stopped after" in err
    db = sqlite3.connect(tmp_path / "bot.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        fills = db.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
        assert fills > 0
        half = db.execute(
            "SELECT f.id, f.state, COUNT(d.id) FROM fills f LEFT JOIN decisions d ON d.fill_id = f.id "
            "GROUP BY f.id HAVING NOT ((f.state = 'pending' AND COUNT(d.id) = 0) OR "
            "(f.state = 'done' AND COUNT(d.id) = 1))"
        ).fetchall()
        assert half == [], "a fill is half-recorded"
        orphans = db.execute("SELECT COUNT(*) FROM orders o LEFT JOIN decisions d USING (fill_id) WHERE d.id IS NULL")
        assert orphans.fetchone()[0] == 0
    finally:
        db.close()


class _Stuck(Daemon):
    """A daemon whose cycle hangs (a stuck upstream call), counting how it ended."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.cancelled = 0
        self.started = asyncio.Event()

    async def cycle(self) -> Any:
        self.started.set()
        try:
            await asyncio.Event().wait()  # never answers
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


def _fake_app(clock: SteppedClock) -> Any:
    return SimpleNamespace(
        api_calls=lambda: 0,
        cache_counts=lambda: (0, 0),
        clock=clock,
        settings=SimpleNamespace(source=SimpleNamespace(poll_interval_s=0.01)),
    )


def test_stop_cancels_a_stuck_cycle_after_the_grace() -> None:
    async def scenario() -> None:
        clock = SteppedClock()
        daemon, stop = _Stuck(_fake_app(clock)), asyncio.Event()
        run = asyncio.ensure_future(daemon.run(stop=stop, grace_s=30))
        await daemon.started.wait()
        stop.set()
        await clock.until_sleeping()  # the grace started
        await clock.advance(29.9)
        assert not run.done() and daemon.cancelled == 0, "cancelled before the grace ran out"
        await clock.advance(0.2)
        assert await asyncio.wait_for(run, 5) == 0  # the cycle never completed
        assert daemon.cancelled == 1

    asyncio.run(scenario())


def test_second_signal_cancels_at_once() -> None:
    async def scenario() -> None:
        clock = SteppedClock()
        daemon, stop, hurry = _Stuck(_fake_app(clock)), asyncio.Event(), asyncio.Event()
        run = asyncio.ensure_future(daemon.run(stop=stop, grace_s=30, hurry=hurry))
        await daemon.started.wait()
        stop.set()
        await clock.until_sleeping()
        await clock.advance(1)
        assert not run.done()
        hurry.set()  # no time passes: the second signal alone ends it
        assert await asyncio.wait_for(run, 5) == 0
        assert daemon.cancelled == 1 and clock.monotonic() == 1

    asyncio.run(scenario())
