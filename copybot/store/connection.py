"""The database connection underneath the store: how it is opened, transactions, migrations, meta."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from copybot.errors import StoreError
from copybot.store.schema import MIGRATIONS, SCHEMA_VERSION, statements


def check_writable(path: Path) -> None:
    """Refuse, saying where and why, unless this user can write ``path`` and the files SQLite keeps
    beside it (a database in WAL mode needs its directory for the -wal and -shm files)."""
    folder = path.parent.resolve()
    why = ""
    if not os.access(folder, os.W_OK | os.X_OK):
        what = "create the database" if not path.exists() else "keep its -wal and -shm files"
        why = f"directory {folder} is not writable by this user (SQLite needs it to {what})"
    elif path.exists() and not os.access(path, os.R_OK | os.W_OK):
        why = f"database {path} is not writable by this user"
    if why:
        raise StoreError(f"storage.path: cannot {'use' if path.exists() else 'create'} database {path}: {why}")


def connect(path: Path) -> sqlite3.Connection:
    """A read-write connection in autocommit mode (transactions are explicit), WAL, foreign keys on."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    # Measured on 400k stored fills (bench/pipeline): checkpointing every 10,000 pages instead of
    # 1,000 writes a hot index page to the database once, not ten times (+10-20% fills/s);
    # 8 MiB of page cache instead of 2 keeps more of the random-key indexes in memory.
    conn.execute("PRAGMA wal_autocheckpoint=10000")
    conn.execute("PRAGMA journal_size_limit=67108864")  # the WAL shrinks back to 64 MiB at most
    conn.execute("PRAGMA cache_size=-8192")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def connect_read_only(path: Path, *, threads: bool = False) -> sqlite3.Connection:
    """A connection that can never write (``status``, ``health``): it works beside a running
    ``watch``, on a database this user may only read, in a directory it may not write."""
    if not path.is_file():
        raise StoreError(f"storage.path: no database at {path} yet (has `copybot watch` run with these settings?)")
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(uri + "?mode=ro", uri=True, check_same_thread=not threads)
        conn.execute("SELECT 1 FROM sqlite_schema LIMIT 1").fetchall()
    except sqlite3.OperationalError as exc:
        # A WAL database needs its -shm file; in a directory we may not write, SQLite cannot create
        # one. With no -wal beside it nothing is unflushed, and the file can be read as it stands.
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise StoreError(
                f"storage.path: cannot read {path}: {exc}; its directory is not writable by this user and "
                f"{wal.name} holds recent writes (run this as the user that runs `copybot watch`)"
            ) from None
        try:
            conn = sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, check_same_thread=not threads)
            conn.execute("SELECT 1 FROM sqlite_schema LIMIT 1").fetchall()
        except sqlite3.Error as again:
            raise StoreError(f"storage.path: cannot read {path}: {again}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"storage.path: cannot read {path}: {exc}") from None
    conn.row_factory = sqlite3.Row
    return conn


class Connection:
    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self.path = path

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"storage.path: database {self.path} has schema v{version}, newer than this copybot (v{SCHEMA_VERSION})"
            )
        # Table rebuilds need foreign keys off (a pragma that cannot change inside a transaction);
        # the foreign_key_check afterwards proves nothing was orphaned.
        self._conn.execute("PRAGMA foreign_keys=OFF")
        try:
            for target in range(version + 1, SCHEMA_VERSION + 1):
                with self.tx() as c:
                    for statement in statements(MIGRATIONS[target - 1]):
                        c.execute(statement)
                    if c.execute("PRAGMA foreign_key_check").fetchone() is not None:
                        raise StoreError(f"storage.path: migration to v{target} broke a reference; nothing changed")
                    c.execute(f"PRAGMA user_version = {target}")
        finally:
            self._conn.execute("PRAGMA foreign_keys=ON")

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def interrupt(self) -> None:
        """Stop the statement running now (from another thread): a timed-out check ends at once."""
        self._conn.interrupt()

    def integrity_ok(self) -> bool:
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0]) == "ok"
