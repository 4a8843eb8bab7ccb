"""Running copybot as a user who may not write where it is asked to (read-only places).

Root ignores file permissions, so as root the command runs as ``nobody`` (uid 65534) through the
system's interpreter of the same Python version, with this checkout and its virtualenv's packages on
``PYTHONPATH`` (a virtualenv built from an interpreter under /root is not runnable by other users).
Places it works in are made in the system's temporary directory, readable by everybody.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534


def _command() -> tuple[list[str], dict[str, str], dict[str, int]]:
    if os.geteuid() != 0:
        return [sys.executable, "-m", "copybot"], {}, {}
    interpreter = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not interpreter.is_file():
        pytest.skip(f"running as root, and {interpreter} (to run copybot as nobody) is not installed")
    paths = os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]])
    return [str(interpreter), "-m", "copybot"], {"PYTHONPATH": paths}, {"user": NOBODY, "group": NOBODY}


def run_unprivileged(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    command, extra_env, user = _command()
    full_env = {**os.environ, **(env or {}), **extra_env, "HOME": tempfile.gettempdir()}
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or tempfile.gettempdir(),
        timeout=60,
        check=False,
        **user,
    )


@contextmanager
def shared_dir() -> Iterator[Path]:
    """A directory everybody may read and enter; only its owner (this test) may write in it."""
    made = Path(tempfile.mkdtemp(prefix="copybot-ro-", dir=tempfile.gettempdir()))
    made.chmod(0o755)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)
