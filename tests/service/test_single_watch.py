"""Two `watch` processes on one database: the second stops at once, naming the first; readers work beside it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from copybot.sandbox import Sandbox, serve_in_thread
from tests.support.cli import run_cli
from tests.support.sandbox import key_env, sandbox_settings, start_watch


def cycled(cfg: Path, env: dict[str, str]) -> bool:
    status = run_cli("status", "--config", str(cfg), "--json", env=env)
    return status.returncode == 0 and json.loads(status.stdout)["stats"]["cycles"] >= 1


def test_a_second_watch_exits_1_naming_the_pid_and_readers_keep_working(tmp_path: Path) -> None:
    box = Sandbox(seed=31, leaders=2, block_time_s=0.25, trade_prob=0.4)
    with serve_in_thread(box) as server:
        cfg = sandbox_settings(tmp_path, server)
        env = key_env(server)
        with start_watch(cfg, env) as first:
            try:
                while not cycled(cfg, env):  # the test's timeout bounds the wait
                    time.sleep(0.2)
                second = run_cli("watch", "--config", str(cfg), "--once", "--no-dashboard", env=env)
                assert second.returncode == 1, second.stderr
                [error] = second.stderr.strip().splitlines()
                assert error.startswith(f"copybot: error: another copybot watch (PID {first.pid}) is using "), error
                status = run_cli("status", "--config", str(cfg), "--json", env=env)
                assert status.returncode == 0 and json.loads(status.stdout)["stats"]["cycles"] >= 1, status.stderr
                health = run_cli("health", "--config", str(cfg), "--json", env=env)
                assert {c["name"] for c in json.loads(health.stdout)["checks"]} >= {"database", "heartbeat"}
            finally:
                first.terminate()
                first.communicate(timeout=40)
        assert first.returncode == 0
        third = run_cli("watch", "--config", str(cfg), "--once", "--no-dashboard", env=env)  # the lock was released
    assert third.returncode == 0, third.stderr
