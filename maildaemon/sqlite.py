"""The one way we open SQLite and write to it.

WAL with `synchronous=FULL` (a commit is on disk before we act on it), a generous busy
timeout (several processes share a data directory), autocommit mode so every write is an
explicit `BEGIN IMMEDIATE` transaction: it takes the write lock up front, so two writers
queue instead of deadlocking on a lock upgrade.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("maildaemon.sqlite")


def connect(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """`synchronous` is FULL wherever a commit promises durability to someone (a 250, a
    ticket); NORMAL only for bookkeeping whose loss in a power cut just repeats work.

    `temp_store=MEMORY` keeps SQLite's temporary files in memory, statement journals above
    all: each message of a batch runs in a savepoint, and the savepoint's journal of the
    20-odd pages a message touches spilled past 64 KiB into a file that SQLite creates and
    unlinks in $TMPDIR, then wrote page by page: 44 write syscalls per message, the worker's
    largest cost after parsing, and a deleted inode for every batch. The journal is
    emptied when the savepoint is released, so it holds one message's pages at a time.
    """
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(synchronous)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


class TransactionLost(sqlite3.OperationalError):
    """A savepoint could not be rolled back on its own: SQLite already rolled back the whole
    transaction (it does so on a full disk, I/O errors, out of memory), or the rollback
    failed. Nothing of the enclosing transaction may be committed; it must be retried."""


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that never leaves the connection inside a transaction: after a
    failed COMMIT (disk full, I/O error) the next BEGIN would otherwise fail for good with
    "cannot start a transaction within a transaction"."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        _roll_back(conn)
        raise


def _roll_back(conn: sqlite3.Connection) -> None:
    """Undo what is left of the transaction; SQLite may have rolled it back already."""
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        # The error being raised matters more; the connection is unusable if this failed.
        log.warning("rollback failed; the connection stays in a transaction", exc_info=True)


@contextmanager
def savepoint(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A nested unit inside a transaction: its failure undoes only its own writes.

    If its writes cannot be undone alone, TransactionLost is raised (from the original
    error): the caller must then abandon the whole transaction, never commit the rest.
    """
    conn.execute("SAVEPOINT unit")
    try:
        yield conn
    except BaseException as exc:
        if not conn.in_transaction:
            raise TransactionLost(f"transaction rolled back by SQLite after: {exc}") from exc
        try:
            conn.execute("ROLLBACK TO SAVEPOINT unit")
            conn.execute("RELEASE SAVEPOINT unit")
        except sqlite3.Error as lost:
            raise TransactionLost(f"savepoint rollback failed: {lost}") from exc
        raise
    conn.execute("RELEASE SAVEPOINT unit")


class Checkpointer:
    """WAL checkpoints of some databases, on a thread of their own.

    A checkpoint copies the WAL's pages back into the database file and fsyncs it. Left
    to SQLite, it runs inside whichever COMMIT crosses 1000 pages, so a writer waits for it;
    in a database too large for the page cache these are scattered writes, and the
    1M-ticket benchmark spent a tenth of its time in them. Writers that hand their
    checkpoints to this thread turn autocheckpointing off and `poke()` it after their
    commits; it checkpoints (PASSIVE: it never blocks a writer) at most every `every`
    seconds, on its own connection.

    A PASSIVE checkpoint never catches up under sustained load: frames keep arriving while
    it copies, so the log is never wholly copied, never rewound, and grows by every page
    written (120 MB for 6,000 messages, found by tests/test_wal_bounded.py). So once the
    log holds more than RESTART_FRAMES, the thread runs one RESTART checkpoint, which holds
    writers back for the moment it takes to copy what is left (little, after the PASSIVE
    one) and makes the next commit write from the start of the log again: the log file
    stops growing (12-30 MB here, whatever the load). Not TRUNCATE: a log file that has to
    grow again costs every commit more (SMTP acceptance fell from 0.65x to 0.56x of the
    null server). It waits at most BUSY_MS for readers and writers to let it, else gives up
    until the next poke: an SMTP client's 250 never waits longer than that for it.
    """

    RESTART_FRAMES = 2048  # 8 MB of log at 4 KB pages
    BUSY_MS = 200

    def __init__(self, paths: list[Path], every: float = 0.25) -> None:
        self.paths = paths
        self.every = every
        self._poked = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def take_over(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA wal_autocheckpoint=0")

    def poke(self) -> None:
        """Started by the first poke, not before: `ingest` forks its parse pool first."""
        with self._starting:  # the worker's and the sender's threads both poke
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="checkpoint",
                                                daemon=True)
                self._thread.start()
        self._poked.set()

    def stop(self) -> None:
        self._stop.set()
        self._poked.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        conns = [connect(path) for path in self.paths]
        for conn in conns:
            conn.execute(f"PRAGMA busy_timeout={self.BUSY_MS}")
        try:
            while not self._stop.is_set():
                self._poked.wait()
                self._poked.clear()
                self._checkpoint(conns)
                self._stop.wait(self.every)
            self._checkpoint(conns)  # whatever was committed since the last one
        finally:
            for conn in conns:
                conn.close()

    def _checkpoint(self, conns: list[sqlite3.Connection]) -> None:
        for path, conn in zip(self.paths, conns, strict=True):
            try:
                _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if frames > self.RESTART_FRAMES:
                    conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            except sqlite3.Error as exc:
                # One line, no traceback: on a full disk this repeats at every poke, and the
                # cause (the SQLite error) is all an operator needs.
                log.warning("checkpoint of %s failed (%s); the next poke retries",
                            path.name, exc)


def snapshot(path: Path, target: Path) -> str:
    """A consistent copy of the database at `path` in the new file `target` through
    SQLite's online backup API, while other processes write (`maildaemon backup`), then
    checked: returns `PRAGMA quick_check`'s verdict ("ok"). In ONE step: a stepwise
    backup restarts whenever another connection writes between steps, which under
    load may be forever; one step copies the snapshot of a single read transaction."""
    src = sqlite3.connect(path, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    check = sqlite3.connect(target)
    try:
        return str(check.execute("PRAGMA quick_check").fetchone()[0])
    finally:
        check.close()
