"""The ticket database opened read-only, for `maildaemon decide` (explain.py).

SQLite's `mode=ro` refuses every write at the source, so the worker's context loads can run
on it and the database stays byte for byte as it was, whatever a bug in a caller tries. No
directory, database or migration is created, and no WAL checkpoint is run; like any reader
of a WAL database it may leave SQLite's empty `-wal`/`-shm` side files beside it.

It cannot migrate, so it reads only a database at this code's schema version: an older one
raises `SchemaTooOld` (a temporary error, exit 75: every other command migrates it), a
newer one `SchemaTooNew` (exit 78, as without a database: this maildaemon cannot read it).
Either message names both versions, rather than SQLite's "no such column" halfway through.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from maildaemon.schema import code_version, database_version
from maildaemon.store.errors import SchemaTooOld
from maildaemon.store.sqlite_store import DATABASE, Store


class NoDatabase(Exception):
    """No ticket database this maildaemon can read: the data directory or its database does
    not exist (nothing was received), or the file is not one of ours."""


class SchemaTooNew(NoDatabase):
    """The database was migrated by a newer maildaemon than this one."""


class ReadOnlyStore(Store):
    """`Store`'s read methods on a read-only connection; any write raises
    `sqlite3.OperationalError` ("attempt to write a readonly database")."""

    def __init__(self, data_dir: Path) -> None:  # not Store's: it creates and migrates
        path = data_dir / DATABASE
        if not path.is_file():
            raise NoDatabase(f"no data directory with a ticket database at {data_dir}")
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                               isolation_level=None, check_same_thread=False, timeout=30)
        try:
            conn.execute("PRAGMA busy_timeout=30000")  # a daemon may be writing right now
            check_version(data_dir, sqlite_utils.Database(conn))
        except BaseException:
            conn.close()
            raise
        self._compose(data_dir, conn, None)


def check_version(data_dir: Path, db: sqlite_utils.Database) -> None:
    """Raises unless the database is at the schema version this code reads."""
    try:
        have = database_version(db)
    except sqlite3.OperationalError:  # locked, I/O: temporary, as anywhere else
        raise
    except sqlite3.DatabaseError as exc:  # not a database at all ("file is not a database")
        raise NoDatabase(f"{data_dir / DATABASE} is not a ticket database: {exc}") from exc
    need = code_version()
    if have < need:
        raise SchemaTooOld(
            f"the data directory {data_dir} is at schema version {have}, this maildaemon "
            f"needs {need}: run `maildaemon serve`, or any other command on it such as "
            f"`maildaemon tickets`, once to migrate it (every command but decide does)")
    if have > need:
        raise SchemaTooNew(
            f"the data directory {data_dir} is at schema version {have}, newer than this "
            f"maildaemon reads ({need}): use the maildaemon that migrated it")
