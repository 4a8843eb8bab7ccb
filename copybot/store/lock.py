"""One ``watch`` per database: an exclusive lock on ``<database>.lock``, held while the loop runs.

Two loops on one database would poll every leader twice (doubling the Etherscan budget they share,
which then answers "Max rate limit reached"), and race each other's decisions. The lock is an
``flock`` on a file next to the database: the kernel releases it when the process dies, so a crash
never leaves a stale lock behind, and the file says which PID holds it. ``status``, ``health`` and
other readers never take it. Within one process it is re-entrant: the command line takes it before
it logs or binds a metrics port, and the loop it starts takes it again.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from copybot.errors import AlreadyRunning, StoreError
from copybot.store.connection import check_writable

_HELD: dict[Path, tuple[int, int]] = {}  # lock file -> (descriptor, holders in this process)


class WatchLock:
    def __init__(self, database: str | Path) -> None:
        self.path = Path(f"{database}.lock")
        self._key = self.path.absolute()

    def __enter__(self) -> WatchLock:
        if self._key in _HELD:  # this process holds it already
            fd, holders = _HELD[self._key]
            _HELD[self._key] = (fd, holders + 1)
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            check_writable(Path(str(self.path).removesuffix(".lock")))  # say so about the database itself
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"storage.path: cannot create the lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"another copybot watch (PID {holder}) is using {str(self.path).removesuffix('.lock')}; "
                "stop it first, or give this one its own storage.path"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        _HELD[self._key] = (fd, 1)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        fd, holders = _HELD.pop(self._key)
        if holders > 1:
            _HELD[self._key] = (fd, holders - 1)
            return
        os.ftruncate(fd, 0)
        os.close(fd)  # closing releases the lock
