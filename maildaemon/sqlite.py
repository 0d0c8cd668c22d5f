"""The one way we open SQLite and write to it.

WAL with `synchronous=FULL` (a commit is on disk before we act on it), a generous busy
timeout (several processes share a data directory), autocommit mode so every write is an
explicit `BEGIN IMMEDIATE` transaction: it takes the write lock up front, so two writers
queue instead of deadlocking on a lock upgrade.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """`synchronous` is FULL wherever a commit promises durability to someone (a 250, a
    ticket); NORMAL only for bookkeeping whose loss in a power cut just repeats work."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(synchronous)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def savepoint(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A nested unit inside a transaction: its failure undoes only its own writes."""
    conn.execute("SAVEPOINT unit")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK TO SAVEPOINT unit")
        conn.execute("RELEASE SAVEPOINT unit")
        raise
    conn.execute("RELEASE SAVEPOINT unit")
