"""Running the real ``copybot`` command, and what a clean refusal looks like."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "copybot", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def assert_clean_error(result: subprocess.CompletedProcess[str], *needles: str, logged: bool = False) -> str:
    """Exit 2, no traceback, one ``copybot: error:`` line holding every needle; that line. ``logged``:
    the error comes after log lines (a problem only seen once watch has started, e.g. in the database)."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    if logged:
        lines = [line for line in lines if line.startswith("copybot: error: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("copybot: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
