"""Failures that used to look like success: a run that could not poll at all, a connection failure
without its cause, a second Ctrl-C that changed the exit code (live's quiet start: test_live_mode)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from copybot.sandbox import Sandbox, serve_in_thread
from tests.support.cli import run_cli
from tests.support.sandbox import KEY_ENV, key_env, sandbox_settings, settings_dict, start_watch, write_settings


def test_a_run_that_could_not_poll_at_all_exits_1_saying_why(tmp_path: Path) -> None:
    box = Sandbox(seed=51, leaders=1)
    with serve_in_thread(box) as server:
        urls = {**server.urls, "etherscan": "http://no-such-host.invalid/v2/api"}
        data = settings_dict(urls, box.leaders, tmp_path / "bot.db", box.latest_block())
        cfg = write_settings(tmp_path / "settings.yaml", data)
        ran = run_cli("watch", "--config", str(cfg), "--once", "--no-dashboard", env={KEY_ENV: "k"})
    assert ran.returncode == 1, ran.stderr
    last = ran.stderr.strip().splitlines()[-1]
    assert last.startswith("copybot: error: no poll succeeded in 1 cycle(s): "), last
    assert "could not resolve host no-such-host.invalid" in last, last
    assert "Traceback" not in ran.stderr


def test_a_run_that_polled_exits_0_even_if_a_later_step_failed(tmp_path: Path) -> None:
    box = Sandbox(seed=52, leaders=1)
    with serve_in_thread(box) as server:
        urls = {**server.urls, "clob": "http://127.0.0.1:9/clob"}  # the CLOB refuses connections
        data = settings_dict(urls, box.leaders, tmp_path / "bot.db", box.latest_block())
        cfg = write_settings(tmp_path / "settings.yaml", data)
        ran = run_cli("watch", "--config", str(cfg), "--once", "--no-dashboard", env={KEY_ENV: box.api_key})
    assert ran.returncode == 0, ran.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signals_after_the_first_only_hurry_the_stop_and_it_still_exits_0(tmp_path: Path, sig: int) -> None:
    box = Sandbox(seed=53, leaders=2, block_time_s=0.25, trade_prob=0.5)
    with serve_in_thread(box) as server:
        cfg = sandbox_settings(tmp_path, server)
        with start_watch(cfg, key_env(server)) as proc:
            assert proc.stderr is not None
            for line in proc.stderr:  # running
                if "starting" in line:
                    break
            time.sleep(0.5)
            while proc.poll() is None:  # keep pressing until it is gone, as an impatient user does
                proc.send_signal(sig)
                time.sleep(0.01)
            _, rest = proc.communicate(timeout=40)
    assert proc.returncode == 0, rest
    assert "stopped after" in rest and "Traceback" not in rest
