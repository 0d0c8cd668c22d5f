"""The storage errors callers must handle without naming the backend.

`TEMPORARY_ERRORS`: "try again later" (a locked or unreachable database, a full disk, a
schema not migrated yet): every command exits 75 on them. `is_environment_error`: which of
the backend's errors no message can cause, for faults.py; a PostgreSQL backend answers for
its own errors (SQLSTATE classes 53 and 57, say) in its own module, and faults.py asks each.

The spool (spool.py) is SQLite too, by design on every node: its errors are classified here
as well, by the same result codes.
"""

from __future__ import annotations

import sqlite3

import psycopg

from maildaemon.sqlite import TransactionLost


class SchemaTooOld(Exception):
    """A database that a reader may not migrate (`decide` opens it read-only) is at an older
    schema than this code reads: every other command migrates it, and then it will do."""


# Every error the backend raises (a caller that must answer 503 rather than crash).
STORE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)

TEMPORARY_ERRORS: tuple[type[Exception], ...] = (sqlite3.OperationalError, SchemaTooOld,
                                                 psycopg.OperationalError)

# PostgreSQL SQLSTATE classes that no message can cause: connection exceptions (08),
# transaction rollbacks to retry (40: serialization failure, deadlock), insufficient
# resources (53: disk full, out of memory, too many connections), operator intervention
# (57: shutdown, cancel) and system errors (58: I/O).
PG_ENVIRONMENT_CLASSES = frozenset({"08", "40", "53", "57", "58"})

# SQLite primary result codes (the low byte of an extended code) that no message can cause.
SQLITE_ENVIRONMENT_CODES = frozenset({
    5,   # SQLITE_BUSY: another connection holds the lock past our busy timeout
    6,   # SQLITE_LOCKED
    7,   # SQLITE_NOMEM
    8,   # SQLITE_READONLY: e.g. a filesystem remounted read-only after errors
    10,  # SQLITE_IOERR (every extended I/O code)
    13,  # SQLITE_FULL: database or disk is full
    14,  # SQLITE_CANTOPEN: out of descriptors, directory gone
    15,  # SQLITE_PROTOCOL: a WAL lock race lost too often
})


# The unique keys two nodes may race for when writing one message at the same moment: the
# same message delivered to both (its dedup hash, store/dedup.py) and, very rarely, the
# same random ticket number drawn by both. Any other unique violation is a bug, not a race.
RACE_CONSTRAINTS = frozenset({"processed_key", "tickets_number_key"})


def is_lost_race(exc: BaseException) -> bool:
    """True if another node's transaction committed the same message (or ticket number)
    first: the loser's savepoint is rolled back and the message decided again, when it now
    sees the winner's rows (READ COMMITTED: each statement reads the latest commits)."""
    return isinstance(exc, psycopg.errors.UniqueViolation) and \
        exc.diag.constraint_name in RACE_CONSTRAINTS


def is_environment_error(exc: BaseException) -> bool:
    """True if `exc` itself is a storage error of the disk, a lock or I/O, not of a message.

    Only `exc`, not what it was raised from: faults.py walks the chain."""
    if isinstance(exc, TransactionLost):  # SQLite rolled the transaction back itself
        return True
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        # No SQLSTATE: libpq's own failure to reach or keep the server.
        return state[:2] in PG_ENVIRONMENT_CLASSES if state else \
            isinstance(exc, psycopg.OperationalError)
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None:  # raised by the sqlite3 module itself, not by SQLite
            return False
        return (int(code) & 0xFF) in SQLITE_ENVIRONMENT_CODES
    return False

