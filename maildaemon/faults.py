"""Whose fault is an error: the environment's (retry later, never count it) or the message's.

A message that fails because the disk is full, the database is locked past its busy timeout
or the storage returns I/O errors is not a bad message: holding it after three quick tries
only turns an outage into manual work (`spool retry`) for every mail that arrived during
it. So the worker asks `is_environment_fault` and retries those with backoff, without
counting the attempt; only other errors count toward holding the message.

What is backend-neutral is here (the operating system's errnos); which of the database's
own errors are the environment's, the storage backend says (store/errors.py).
"""

from __future__ import annotations

import errno

from maildaemon.store.errors import is_environment_error as is_storage_environment_error

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
    if isinstance(exc, EnvironmentFault) or is_storage_environment_error(exc):
        return True
    return isinstance(exc, OSError) and exc.errno in OS_ENVIRONMENT_ERRNOS


def describe(exc: BaseException) -> str:
    """One line for logs and the spool's error column: the type and message, no traceback."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
