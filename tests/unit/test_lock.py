"""One watch per database: the lock file, who holds it, re-entry within a process, release."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from copybot.store.lock import WatchLock

TRY_LOCK = """
import sys
from copybot.errors import AlreadyRunning
from copybot.store.lock import WatchLock
try:
    with WatchLock(sys.argv[1]):
        print("locked")
except AlreadyRunning as exc:
    print(exc)
"""


def other_process_tries(db: Path) -> str:
    done = subprocess.run([sys.executable, "-c", TRY_LOCK, str(db)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_another_process_is_refused_with_the_holders_pid_until_release(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    with WatchLock(db) as held:
        assert held.path.read_text() == f"{os.getpid()}\n"
        assert other_process_tries(db) == (
            f"another copybot watch (PID {os.getpid()}) is using {db}; "
            "stop it first, or give this one its own storage.path"
        )
        assert other_process_tries(tmp_path / "other.db") == "locked"  # another database: its own lock
    assert other_process_tries(db) == "locked"  # released on exit
    assert (tmp_path / "bot.db.lock").read_text() == ""


def test_the_holder_may_take_it_again_and_it_stays_held_until_the_outer_release(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    with WatchLock(db):
        with WatchLock(db):  # the command line took it, the loop takes it again
            pass
        assert other_process_tries(db).startswith("another copybot watch")
    assert other_process_tries(db) == "locked"
