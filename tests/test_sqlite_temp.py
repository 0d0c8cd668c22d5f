"""SQLite keeps its temporary files in memory on every connection we open.

The worker runs each message of a batch in a savepoint; a savepoint journals the original
of every page it changes, and past 64 KiB SQLite spills that journal into a temporary file
(created in $TMPDIR, unlinked at once, then written page by page). On our connections it
must stay in memory: a savepoint that changes a few hundred KB leaves no such file open.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from maildaemon.sqlite import connect


def open_temporary_files() -> list[str]:
    """Files SQLite created for itself: named etilqs_*, already unlinked."""
    links = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return [link for link in links if "etilqs_" in link]


def change_inside_a_savepoint(conn: sqlite3.Connection) -> list[str]:
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    conn.executemany("INSERT INTO t (body) VALUES (?)", [(b"a" * 2000,)] * 200)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("SAVEPOINT unit")
    conn.execute("UPDATE t SET body = ?", (b"b" * 2000,))  # about 100 pages: 400 KB
    during = open_temporary_files()
    conn.execute("RELEASE SAVEPOINT unit")
    conn.execute("COMMIT")
    return during


def test_a_large_savepoint_journal_stays_in_memory(tmp_path: Path) -> None:
    conn = connect(tmp_path / "ours.sqlite3")
    try:
        assert change_inside_a_savepoint(conn) == []
    finally:
        conn.close()


def test_sqlite_on_its_defaults_would_have_spilled_it(tmp_path: Path) -> None:
    """The check above can fail: the same work on a plain connection spills to a file."""
    conn = sqlite3.connect(tmp_path / "plain.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    try:
        assert change_inside_a_savepoint(conn) != []
    finally:
        conn.close()
