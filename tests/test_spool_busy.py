"""The spool's lock contract: a write that cannot get the lock raises `SpoolBusy`.

The SMTP edge retries on `SpoolBusy` alone (smtp_in.GroupCommitter), so it never names
SQLite. The lock is real: another connection's BEGIN IMMEDIATE on the spool's file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from maildaemon.faults import is_environment_fault
from maildaemon.spool import Incoming, Spool, SpoolBusy
from maildaemon.store import TEMPORARY_ERRORS
from maildaemon.store.errors import is_environment_error

ITEM = Incoming("ann@example.org", ("support@example.com",), b"Subject: hi\r\n\r\nhello\r\n")


def test_a_lock_held_elsewhere_raises_spool_busy_and_stores_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.wait_for_locks(0)
    other = sqlite3.connect(spool.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(SpoolBusy) as raised:
            spool.put_many([ITEM, ITEM])
    finally:
        other.execute("ROLLBACK")
        other.close()
    busy = raised.value
    assert isinstance(busy.__cause__, sqlite3.OperationalError)
    assert busy.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
    # What handled the raw error before handles this one the same way.
    assert is_environment_fault(busy) and is_environment_error(busy)
    assert isinstance(busy, TEMPORARY_ERRORS)
    assert spool.rows() == []
    [spool_id] = spool.put_many([ITEM])  # the lock gone, the same connection writes
    assert [row.spool_id for row in spool.rows()] == [spool_id]
    spool.close()


def test_other_errors_are_not_busy(tmp_path: Path) -> None:
    """A message's own fault (here: a constraint) must not be retried as a lock."""
    spool = Spool(tmp_path)
    spool.conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON entries"
                       " BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(sqlite3.IntegrityError) as raised:
        spool.put(ITEM)
    assert not isinstance(raised.value, SpoolBusy)
    assert not is_environment_fault(raised.value)
    spool.close()
