"""Read-only places: a reader (status, health) on a database it may not write, beside a running watch
or not; a watch that may not create its database says where and why. Run as another user."""

from __future__ import annotations

import json
from pathlib import Path

from copybot.sandbox import Sandbox, serve_in_thread
from tests.support.cli import run_cli
from tests.support.sandbox import key_env, sandbox_settings, start_watch
from tests.support.unprivileged import run_unprivileged, shared_dir


def readable(cfg: Path) -> None:
    cfg.chmod(0o644)


def test_status_and_health_read_a_database_whose_directory_they_may_not_write() -> None:
    box = Sandbox(seed=41, leaders=2, block_time_s=0.25, trade_prob=0.5)
    with shared_dir() as place, serve_in_thread(box) as server:
        cfg = sandbox_settings(place, server)
        readable(cfg)
        ran = run_cli("watch", "--config", str(cfg), "--once", "--no-dashboard", env=key_env(server))
        assert ran.returncode == 0, ran.stderr
        db = place / "bot.db"
        before = db.read_bytes()
        status = run_unprivileged("status", "--config", str(cfg), "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["stats"]["cycles"] == 1
        health = run_unprivileged("health", "--config", str(cfg), "--json", env=key_env(server))
        checks = {c["name"]: c for c in json.loads(health.stdout)["checks"]}
        assert checks["database"]["ok"], checks["database"]
        assert db.read_bytes() == before and not Path(f"{db}-wal").exists(), "a reader never writes"


def test_status_reads_beside_a_running_watch_as_another_user() -> None:
    box = Sandbox(seed=42, leaders=2, block_time_s=0.25, trade_prob=0.5)
    with shared_dir() as place, serve_in_thread(box) as server:
        cfg = sandbox_settings(place, server)
        readable(cfg)
        with start_watch(cfg, key_env(server)) as proc:
            try:
                while run_cli("status", "--config", str(cfg), "--json").returncode != 0:
                    pass  # the first cycle creates the database; the test's timeout bounds this
                status = run_unprivileged("status", "--config", str(cfg), "--json")
            finally:
                proc.terminate()
                proc.communicate(timeout=40)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["mode"] == "paper"


def test_a_watch_that_may_not_create_its_database_says_where_and_why() -> None:
    box = Sandbox(seed=43, leaders=1)
    with shared_dir() as place, serve_in_thread(box) as server:
        cfg = sandbox_settings(place, server)
        readable(cfg)
        watch = run_unprivileged("watch", "--config", str(cfg), "--once", "--no-dashboard", env=key_env(server))
        status = run_unprivileged("status", "--config", str(cfg))
    assert watch.returncode == 2, watch.stdout + watch.stderr
    [line] = watch.stderr.strip().splitlines()
    assert line == (
        f"copybot: error: storage.path: cannot create database {place / 'bot.db'}: directory {place.resolve()} "
        "is not writable by this user (SQLite needs it to create the database)"
    )
    assert status.returncode == 2
    assert status.stderr.strip() == (
        f"copybot: error: storage.path: no database at {place / 'bot.db'} yet (has `copybot watch` run with these "
        "settings?)"
    )
