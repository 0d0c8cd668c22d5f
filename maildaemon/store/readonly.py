"""The ticket database opened read-only, for `maildaemon decide` (explain.py).

SQLite's `mode=ro` refuses every write at the source, so the worker's context loads can run
on it and the database stays byte for byte as it was, whatever a bug in a caller tries. No
directory, database or migration is created, and no WAL checkpoint is run; like any reader
of a WAL database it may leave SQLite's empty `-wal`/`-shm` side files beside it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from maildaemon.store.sqlite_store import DATABASE, Store


class NoDatabase(Exception):
    """The data directory or its ticket database does not exist (nothing was received)."""


class ReadOnlyStore(Store):
    """`Store`'s read methods on a read-only connection; any write raises
    `sqlite3.OperationalError` ("attempt to write a readonly database")."""

    def __init__(self, data_dir: Path) -> None:  # not Store's: it creates and migrates
        path = data_dir / DATABASE
        if not path.is_file():
            raise NoDatabase(f"no data directory with a ticket database at {data_dir}")
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                               isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA busy_timeout=30000")  # a daemon may be writing right now
        self._compose(data_dir, conn, None)
