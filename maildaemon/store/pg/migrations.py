"""The PostgreSQL schema's versions, numbered like SQLite's migrations (schema.py).

An empty database gets schema.sql whole and the version it stands for, SQLite's latest
(`code_version()`): both backends are at the same version when they hold the same tables.
A later SQLite migration brings its PostgreSQL twin here, in `STEPS`, by the same number.
Several nodes may start at once on a new database: the creation runs under an advisory
lock, so one creates and the others find it done. A database at a newer version than this
code knows is refused (`SchemaTooNew`), as SQLite's is by `decide`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from maildaemon.schema import code_version
from maildaemon.store.errors import SchemaTooOld
from maildaemon.store.pg.connection import PgConnection
from maildaemon.store.readonly import NoDatabase, SchemaTooNew

SCHEMA = Path(__file__).with_name("schema.sql")
LOCK = 0x6D61696C  # pg_advisory_xact_lock key: "mail"
STEPS: dict[int, Callable[[PgConnection], None]] = {}  # version -> what brings it




def database_version(conn: PgConnection) -> int | None:
    """The version recorded in the database; None for one without our schema."""
    row = conn.execute("SELECT to_regclass('schema_version')").fetchone()
    if row is None or row[0] is None:
        return None
    found = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(found[0]) if found and found[0] is not None else None


def apply(conn: PgConnection) -> int:
    """Bring the database to this code's version; returns it."""
    want = code_version()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(?)", (LOCK,))
        have = database_version(conn)
        if have is None:
            conn.conn.execute(SCHEMA.read_text(encoding="utf-8").encode())
            conn.execute("CREATE TABLE schema_version (version BIGINT PRIMARY KEY,"
                         " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (want,))
            have = want
        if have > want:
            raise SchemaTooNew(f"the PostgreSQL database is at schema version {have}, newer"
                               f" than this maildaemon's {want}: upgrade maildaemon")
        for version in range(have + 1, want + 1):
            STEPS[version](conn)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    conn.refresh_tables()
    return want


def check(conn: PgConnection) -> None:
    """Raise unless the database is at this code's version (for readers that may not
    migrate): NoDatabase without our schema, SchemaTooOld or SchemaTooNew otherwise."""
    want, have = code_version(), database_version(conn)
    if have is None:
        raise NoDatabase("the PostgreSQL database has no maildaemon schema yet: start"
                         " maildaemon (or run any other command) once to create it")
    if have < want:
        raise SchemaTooOld(f"the PostgreSQL database is at schema version {have}, older"
                           f" than this maildaemon's {want}")
    if have > want:
        raise SchemaTooNew(f"the PostgreSQL database is at schema version {have}, newer"
                           f" than this maildaemon's {want}: upgrade maildaemon")
    conn.refresh_tables()
