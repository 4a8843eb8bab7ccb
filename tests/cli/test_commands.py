"""Commands against a served sandbox: a refused API key, the sandbox command itself, status output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from copybot.sandbox import Sandbox, serve_in_thread
from tests.support.cli import run_cli
from tests.support.sandbox import KEY_ENV, settings_dict, write_settings


def test_invalid_api_key_stops_watch_with_exit_1_and_is_recorded(tmp_path: Path) -> None:
    box = Sandbox(seed=2, leaders=1, block_time_s=0.5)
    secret = "not-the-right-key-1234567890"
    with serve_in_thread(box) as server:
        db = tmp_path / "bot.db"
        cfg = write_settings(tmp_path / "s.yaml", settings_dict(server.urls, box.leaders, db, box.latest_block()))
        result = run_cli("watch", "--config", str(cfg), "--duration", "5", env={KEY_ENV: secret})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("copybot: error:") and "Invalid API Key" in last
    assert secret not in result.stderr + result.stdout
    status = run_cli("status", "--config", str(cfg), "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert "Invalid API Key" in data["stats"]["last_error"]
    assert secret not in status.stdout


def test_status_tables_render_for_humans(tmp_path: Path) -> None:
    box = Sandbox(seed=4, leaders=2, block_time_s=0.25, trade_prob=0.6)
    with serve_in_thread(box) as server:
        db = tmp_path / "bot.db"
        data = settings_dict(server.urls, box.leaders, db, max(0, box.latest_block() - 8))
        cfg = write_settings(tmp_path / "s.yaml", data)
        watch = run_cli("watch", "--config", str(cfg), "--duration", "1.5", env={KEY_ENV: box.api_key})
        assert watch.returncode == 0, watch.stderr
    result = run_cli("status", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    for title in ("Leaders", "Open positions", "Recent copies", "cash"):
        assert title in result.stdout


def test_sandbox_command_serves_and_stops_on_sigint() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "copybot", "sandbox", "--port", "0", "--leaders", "2", "--seed", "9"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]  # bounded by the test's timeout
        assert lines[0].startswith("sandbox listening"), lines
        clob = next(line.split()[-1] for line in lines if line.strip().startswith("clob"))
        assert httpx.get(f"{clob}/version", timeout=10).json() == {"version": 2}  # it listens before it prints
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:  # a sandbox that ignored SIGINT must not outlive the test (or hang it)
            proc.kill()
            proc.communicate()


def test_demo_runs_and_shows_the_status_it_left(tmp_path: Path) -> None:
    """`make demo` end to end, shortened: the sandbox, a paper watch, then the status tables."""
    result = run_cli("demo", "--duration", "4", "--workdir", str(tmp_path / "demo-run"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Recent copies" in result.stdout and "Inspect it yourself: copybot status --config" in result.stdout
    settings = tmp_path / "demo-run" / "settings.yaml"
    status = run_cli("status", "--config", str(settings), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["stats"]["cycles"] >= 1
