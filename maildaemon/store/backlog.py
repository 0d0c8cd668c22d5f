"""The outbox's backlog for monitoring (health STATUS= lines, `/metrics`), read apart from
the worker: on its own read-only connection, by the `outbox_due` index, from whatever thread
asks (a lock keeps one statement at a time on the connection).

Read-only and lazy: the SMTP edge (where this runs, on a thread, never in its event loop)
must not create or migrate the database; until the worker has made it, the backlog is 0.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from maildaemon.store.sqlite_store import DATABASE


class SqliteBacklog:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / DATABASE
        self.conn: sqlite3.Connection | None = None
        self.lock = threading.Lock()

    def outbox_pending(self) -> int:
        """Rows waiting for their (next) delivery; failed and sent ones are not."""
        with self.lock:
            if self.conn is None:
                if not self.path.exists():
                    return 0
                self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                            check_same_thread=False, timeout=5)
            try:
                row = self.conn.execute(
                    "SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # created, not yet migrated
                    return 0
                raise
            return int(row[0])

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
