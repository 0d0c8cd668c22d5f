"""Whose fault is an error: the environment's (retry later, never count it) or the message's.

A message that fails because the disk is full, the database is locked past its busy timeout
or the storage returns I/O errors is not a bad message: holding it after three quick tries
only turns an outage into manual work (`spool retry`) for every mail that arrived during
it. So the worker asks `is_environment_fault` and retries those with backoff, without
counting the attempt; only other errors count toward holding the message.
"""

from __future__ import annotations

import errno
import sqlite3

from maildaemon.sqlite import TransactionLost

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
OS_ENVIRONMENT_ERRNOS = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EMFILE, errno.ENFILE,
    errno.ENOMEM,
})
_CHAIN_LIMIT = 8  # exceptions wrapped in exceptions: a few levels are plenty


class EnvironmentFault(Exception):
    """Raised where the environment, not a message, stopped the work; always transient."""


def is_environment_fault(exc: BaseException) -> bool:
    """True if `exc`, or an exception it was raised from, is a disk, lock or I/O problem."""
    seen: BaseException | None = exc
    for _ in range(_CHAIN_LIMIT):
        if seen is None:
            return False
        if _is_environment_fault(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_environment_fault(exc: BaseException) -> bool:
    if isinstance(exc, EnvironmentFault | TransactionLost):
        return True
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None:  # raised by the sqlite3 module itself, not by SQLite
            return False
        return (int(code) & 0xFF) in SQLITE_ENVIRONMENT_CODES
    return isinstance(exc, OSError) and exc.errno in OS_ENVIRONMENT_ERRNOS


def describe(exc: BaseException) -> str:
    """One line for logs and the spool's error column: the type and message, no traceback."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
