"""Shared helpers for the service tests: a sandbox-backed settings file and a `watch` subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from copybot.sandbox import RunningSandbox
from tests.integration.helpers import KEY_ENV, settings_dict, write_settings

BACKLOG_BLOCKS = 10  # start this far behind the tip, so the first cycle has fills to copy


def sandbox_settings(tmp_path: Path, server: RunningSandbox, **extra: object) -> Path:
    box = server.sandbox
    data = settings_dict(server.urls, box.leaders, tmp_path / "bot.db", max(0, box.latest_block() - BACKLOG_BLOCKS))
    data.update(extra)
    return write_settings(tmp_path / "settings.yaml", data)


def key_env(server: RunningSandbox, **more: str) -> dict[str, str]:
    return {**os.environ, KEY_ENV: server.sandbox.api_key, **more}


def start_watch(cfg: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "copybot", "watch", "--config", str(cfg), "--no-dashboard", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
