"""The durable queue of raw messages between the SMTP edge and the worker.

A table in its own SQLite file (`spool.sqlite3`, WAL, `synchronous=FULL`) rather than a
directory of files: one commit makes a whole batch durable, so the edge can group-commit the
messages that arrive together (see smtp_in.GroupCommitter) and pay one fsync for all of them;
a per-message file needs two fsyncs each (file and directory) and measured 0.24x the null
server against 0.62x for one SQLite commit per message. The file is separate from the ticket
database so that SMTP acceptance never waits behind ticket transactions.

States: pending -> claimed -> (deleted when done) or back to pending, or held with a reason
after `max_attempts`. An entry whose size or hash no longer matches is held, never processed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from maildaemon.owner import owner_is_gone, owner_tag
from maildaemon.sqlite import connect, immediate

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    spool_id TEXT NOT NULL UNIQUE,
    received_at TEXT NOT NULL,
    mail_from TEXT,
    rcpt_tos TEXT NOT NULL,
    peer TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    owner TEXT
);
CREATE INDEX IF NOT EXISTS entries_state ON entries(state, id);
-- The bytes apart from the row whose state changes: SQLite rewrites a whole row, blob and
-- all, on every UPDATE, so claiming a 70 MB message would write it to the WAL again.
CREATE TABLE IF NOT EXISTS bodies (
    entry_id INTEGER PRIMARY KEY,
    raw BLOB NOT NULL
);
"""


SELECT_ENTRY = (
    "SELECT e.id, e.spool_id, e.received_at, e.mail_from, e.rcpt_tos, b.raw, e.attempts,"
    " e.size, e.sha256 FROM entries e LEFT JOIN bodies b ON b.entry_id = e.id WHERE e.id = ?"
)


@dataclass(frozen=True)
class Incoming:
    mail_from: str | None
    rcpt_tos: tuple[str, ...]
    raw: bytes
    peer: str = ""


@dataclass(frozen=True)
class SpoolEntry:
    id: int
    spool_id: str
    received_at: str
    mail_from: str | None
    rcpt_tos: tuple[str, ...]
    raw: bytes
    attempts: int


@dataclass(frozen=True)
class SpoolRow:
    """An entry without its bytes, for listings."""

    spool_id: str
    state: str
    received_at: str
    mail_from: str | None
    rcpt_tos: tuple[str, ...]
    size: int
    attempts: int
    error: str


@dataclass(frozen=True)
class EntryDetail:
    """One entry in full, for `spool show` and `spool purge` (spool_admin.py); the bytes
    are for parsing and keeping, never for printing."""

    spool_id: str
    state: str
    received_at: str
    mail_from: str | None
    rcpt_tos: tuple[str, ...]
    peer: str
    size: int
    sha256: str
    attempts: int
    error: str
    owner: str | None
    raw: bytes


class SpoolBusy(sqlite3.OperationalError):
    """Another process holds the spool's write lock past this connection's busy timeout.

    The edge retries on this, and on nothing else, without naming SQLite (smtp_in.py). An
    OperationalError still, so that what treats any database error as temporary (`ingest`
    exits 75) does so unchanged; raised from SQLite's own error, which faults.py reads."""


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED ("database is locked"), extended codes included."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY,
                                                           sqlite3.SQLITE_LOCKED)


def new_spool_id() -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(5).upper()


class Spool:
    def __init__(self, data_dir: Path, max_attempts: int = 3,
                 synchronous: str = "FULL") -> None:
        """`synchronous="NORMAL"` suits the worker's connection: its claims and deletions
        may be lost in a power cut (the work is then repeated, a no-op); `put` never may."""
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "spool.sqlite3"
        self.max_attempts = max_attempts
        self.conn = connect(self.path, synchronous)
        self.conn.executescript(SCHEMA)
        # A scrub the log missed (another connection in the way): retried at the next finish.
        self.log_to_scrub = False

    def close(self) -> None:
        self.conn.close()

    def leave_checkpoints_to_others(self) -> None:
        """For the SMTP edge: never copy the WAL into the database inside a commit that a
        waiting client's 250 depends on. The worker's checkpointer does it instead."""
        self.conn.execute("PRAGMA wal_autocheckpoint=0")

    def wait_for_locks(self, seconds: float) -> None:
        """How long a write waits for another process's lock before `SpoolBusy`; 0: not at
        all (the edge's event loop retries instead of blocking in SQLite)."""
        self.conn.execute(f"PRAGMA busy_timeout={max(0, int(seconds * 1000))}")

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate(self.conn)

    def put_many(self, items: Sequence[Incoming]) -> list[str]:
        """Make every item durable in one commit; returns their spool ids in order.

        Raises `SpoolBusy` if another process holds the lock for longer than
        `wait_for_locks` allows; nothing of the batch is then stored."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ids = [new_spool_id() for _ in items]
        try:
            with self._write() as conn:
                for sid, item in zip(ids, items, strict=True):
                    cursor = conn.execute(
                        "INSERT INTO entries (spool_id, received_at, mail_from, rcpt_tos,"
                        " peer, size, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (sid, now, item.mail_from, json.dumps(list(item.rcpt_tos)),
                         item.peer, len(item.raw), hashlib.sha256(item.raw).hexdigest()),
                    )
                    conn.execute("INSERT INTO bodies (entry_id, raw) VALUES (?, ?)",
                                 (cursor.lastrowid, item.raw))
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            busy = SpoolBusy(*exc.args)
            busy.sqlite_errorcode = exc.sqlite_errorcode  # faults.py reads it, as SQLite's
            busy.sqlite_errorname = exc.sqlite_errorname
            raise busy from exc
        return ids

    def put(self, item: Incoming) -> str:
        return self.put_many([item])[0]

    def claim(self, spool_id: str | None = None) -> SpoolEntry | None:
        """Take the oldest pending entry (or the named one) for processing."""
        found = self.claim_named([spool_id]) if spool_id else self.claim_batch(1)
        return found[0] if found else None

    def claim_batch(self, limit: int) -> list[SpoolEntry]:
        """Take up to `limit` pending entries, oldest first, in one transaction.

        An entry whose bytes no longer match its recorded size and hash is held instead.
        """
        owner = owner_tag()
        entries: list[SpoolEntry] = []
        with self._write() as conn:
            for _ in range(1000):  # another round only where damaged entries were held
                # RETURNING only the ids: SQLite buffers RETURNING rows, and a 70 MB message
                # would be held twice. The bytes are read one entry at a time.
                rows = conn.execute(
                    "UPDATE entries SET state = 'claimed', attempts = attempts + 1, owner = ?"
                    " WHERE id IN (SELECT id FROM entries WHERE state = 'pending' ORDER BY id"
                    " LIMIT ?) RETURNING id",
                    (owner, limit - len(entries)),
                ).fetchall()
                checked = [self._checked(conn, conn.execute(SELECT_ENTRY, (row[0],)).fetchone())
                           for row in sorted(rows)]
                entries += [entry for entry in checked if entry is not None]
                if len(entries) >= limit or not rows:
                    break
        return entries

    def claim_named(self, spool_ids: Sequence[str]) -> list[SpoolEntry]:
        """Take these entries if they are still pending (a running daemon may be faster)."""
        entries: list[SpoolEntry] = []
        owner = owner_tag()
        with self._write() as conn:
            for spool_id in spool_ids:
                row = conn.execute(
                    "SELECT id FROM entries WHERE state = 'pending' AND spool_id = ?",
                    (spool_id,),
                ).fetchone()
                entry = self._take(conn, int(row[0]), owner) if row else None
                if entry is not None:
                    entries.append(entry)
        return entries

    def _take(self, conn: sqlite3.Connection, entry_id: int, owner: str) -> SpoolEntry | None:
        conn.execute(
            "UPDATE entries SET state = 'claimed', attempts = attempts + 1, owner = ?"
            " WHERE id = ?",
            (owner, entry_id),
        )
        return self._checked(conn, conn.execute(SELECT_ENTRY, (entry_id,)).fetchone())

    def _checked(self, conn: sqlite3.Connection, row: Any) -> SpoolEntry | None:
        raw = bytes(row[5] or b"")
        if len(raw) != row[7] or hashlib.sha256(raw).hexdigest() != row[8]:
            conn.execute(
                "UPDATE entries SET state = 'held', error = ? WHERE id = ?",
                ("spool entry damaged: size or hash does not match", row[0]),
            )
            return None
        return SpoolEntry(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), raw,
                          row[6])

    def finish(self, entry_id: int) -> None:
        self.finish_many([entry_id])

    def finish_many(self, entry_ids: Sequence[int], scrub: Sequence[int] = ()) -> None:
        """Done: the entries go. `scrub`: entries whose bytes held sensitive data that the
        ticket database keeps only masked. Their deletion overwrites the bytes with zeros
        (SQLite's secure_delete, for this batch only: zeroing costs a write per page), and
        the write-ahead log, which still holds them as received, is copied into the zeroed
        pages and truncated at once (`scrub_log`); if another process kept it from that,
        the next batch tries again."""
        if not entry_ids:
            return
        if scrub:
            self.conn.execute("PRAGMA secure_delete=ON")
        try:
            with self._write() as conn:
                conn.executemany("DELETE FROM entries WHERE id = ?", [(i,) for i in entry_ids])
                conn.executemany("DELETE FROM bodies WHERE entry_id = ?",
                                 [(i,) for i in entry_ids])
        finally:
            if scrub:
                self.conn.execute("PRAGMA secure_delete=OFF")
        if scrub or self.log_to_scrub:
            self.log_to_scrub = not self.scrub_log()

    def scrub_log(self, wait_ms: int = 200, tries: int = 5) -> bool:
        """Copy the write-ahead log into the database and truncate it to nothing. Waits at
        most `wait_ms` for another connection's lock (the edge must not wait on us), and
        tries again 20 ms later when a checkpoint of the checkpointer thread was running
        (SQLite refuses a second at once); False when it could not."""
        before = self.conn.execute("PRAGMA busy_timeout").fetchone()[0]
        self.conn.execute(f"PRAGMA busy_timeout={wait_ms}")
        try:
            for attempt in range(tries):  # bounded
                try:
                    if not self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
                        return True
                except sqlite3.OperationalError:
                    pass
                if attempt + 1 < tries:
                    time.sleep(0.02)
            return False
        finally:
            self.conn.execute(f"PRAGMA busy_timeout={before}")

    def release(self, entry_id: int, error: str) -> str:
        """A failed attempt: back to pending, or held once it has failed max_attempts times."""
        with self._write() as conn:
            attempts = conn.execute(
                "SELECT attempts FROM entries WHERE id = ?", (entry_id,)
            ).fetchone()[0]
            state = "held" if attempts >= self.max_attempts else "pending"
            if state == "held":
                error = f"failed {attempts} times; last error: {error}"
            conn.execute(
                "UPDATE entries SET state = ?, error = ? WHERE id = ?", (state, error, entry_id)
            )
        return state

    def give_back(self, entry_ids: Sequence[int], error: str) -> None:
        """The environment failed, not these messages (disk full, database locked): back to
        pending with the claim's attempt returned, so an outage never holds mail."""
        with self._write() as conn:
            conn.executemany(
                "UPDATE entries SET state = 'pending', attempts = max(attempts - 1, 0),"
                " owner = NULL, error = ? WHERE id = ? AND state = 'claimed'",
                [(f"temporary failure, not counted: {error}", i) for i in entry_ids],
            )

    def give_back_claims(self, error: str) -> int:
        """Like give_back, for every entry this process claimed: after an error between
        batches, whatever is still claimed by us was abandoned by a batch that did not
        finish its bookkeeping (the spool itself was locked or full)."""
        with self._write() as conn:
            return conn.execute(
                "UPDATE entries SET state = 'pending', attempts = max(attempts - 1, 0),"
                " owner = NULL, error = ? WHERE state = 'claimed' AND owner = ?",
                (f"temporary failure, not counted: {error}", owner_tag()),
            ).rowcount

    def recover(self) -> tuple[int, int]:
        """At start-up: work claimed by a process that died goes back, or is held."""
        back = held = 0
        with self._write() as conn:
            for entry_id, attempts, owner in conn.execute(
                "SELECT id, attempts, owner FROM entries WHERE state = 'claimed'"
            ).fetchall():
                if not owner_is_gone(owner):
                    continue  # an ingest or another worker is still on it
                if attempts >= self.max_attempts:
                    conn.execute(
                        "UPDATE entries SET state = 'held', error = ? WHERE id = ?",
                        (f"failed {attempts} times; the process died while handling it",
                         entry_id),
                    )
                    held += 1
                else:
                    conn.execute(
                        "UPDATE entries SET state = 'pending',"
                        " error = 'the process died while handling it' WHERE id = ?",
                        (entry_id,),
                    )
                    back += 1
        return back, held

    def retry(self, spool_id: str) -> bool:
        with self._write() as conn:
            changed = conn.execute(
                "UPDATE entries SET state = 'pending', attempts = 0 "
                "WHERE spool_id = ? AND state = 'held'",
                (spool_id,),
            ).rowcount
        return changed == 1

    def rows(self, state: str | None = None) -> list[SpoolRow]:
        query = ("SELECT spool_id, state, received_at, mail_from, rcpt_tos, size, attempts,"
                 " error FROM entries")
        params: tuple[str, ...] = ()
        if state:
            query += " WHERE state = ?"
            params = (state,)
        return [
            SpoolRow(r[0], r[1], r[2], r[3], tuple(json.loads(r[4])), r[5], r[6], r[7])
            for r in self.conn.execute(query + " ORDER BY id", params)
        ]

    # -- the operator's commands (spool_admin.py: `spool show`, `spool purge`, `stats`) --

    def detail(self, spool_id: str) -> EntryDetail | None:
        row = self.conn.execute(
            "SELECT e.spool_id, e.state, e.received_at, e.mail_from, e.rcpt_tos, e.peer,"
            " e.size, e.sha256, e.attempts, e.error, e.owner, b.raw FROM entries e"
            " LEFT JOIN bodies b ON b.entry_id = e.id WHERE e.spool_id = ?", (spool_id,),
        ).fetchone()
        if row is None:
            return None
        return EntryDetail(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])),
                           row[5], row[6], row[7], row[8], row[9], row[10],
                           bytes(row[11] or b""))

    def states(self) -> list[tuple[str, int, str]]:
        """(state, entries, the oldest one's received_at) per state, by the state index."""
        return [(r[0], int(r[1]), r[2]) for r in self.conn.execute(
            "SELECT state, count(*), min(received_at) FROM entries GROUP BY state")]

    def remove_unclaimed(self, spool_id: str, states: Sequence[str]) -> bool:
        """Delete the entry if it is in one of `states` (never a claimed one: the state is
        checked in the deleting transaction); False when it was not."""
        marks = ",".join("?" * len(states))
        with self._write() as conn:
            deleted = conn.execute(
                f"DELETE FROM entries WHERE spool_id = ? AND state IN ({marks}) RETURNING id",
                (spool_id, *states)).fetchone()
            if deleted is not None:
                conn.execute("DELETE FROM bodies WHERE entry_id = ?", (deleted[0],))
        return deleted is not None


def unclaim_copy(path: Path) -> int:
    """In a backup's copy of the spool (backup.py): the claims of the worker that was busy
    when the copy was taken go back to pending. They belong to no process of the restored
    installation, and `recover()` takes back only claims of processes that are gone: a
    reused pid, or the old worker left a zombie, and they would stay claimed for ever."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            return conn.execute(
                "UPDATE entries SET state = 'pending', owner = NULL,"
                " error = 'claimed when the backup was taken' WHERE state = 'claimed'",
            ).rowcount
    finally:
        conn.close()

@dataclass(frozen=True)
class SpoolBacklog:
    """How much waits for the worker: `pending` counts claimed entries too (in work)."""

    pending: int
    held: int
    oldest_received_at: str | None  # of the oldest pending or claimed entry


class SpoolWatch:
    """The backlog for health, STATUS= and metrics: a read-only connection of its own,
    usable from any thread (a lock keeps one statement at a time), never the edge's event
    loop (the caller runs it on a thread). Counts by the state index, and the oldest waiting
    entry by it too (ids grow with time)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "spool.sqlite3"
        self.conn: sqlite3.Connection | None = None
        self.lock = threading.Lock()

    def backlog(self) -> SpoolBacklog:
        with self.lock:
            if self.conn is None:
                self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                            check_same_thread=False, timeout=5)
            conn = self.conn
            counts = dict(conn.execute(
                "SELECT state, count(*) FROM entries GROUP BY state").fetchall())
            oldest = [conn.execute("SELECT received_at FROM entries WHERE state = ?"
                                   " ORDER BY id LIMIT 1", (state,)).fetchone()
                      for state in ("pending", "claimed")]
        stamps = [row[0] for row in oldest if row is not None]
        return SpoolBacklog(int(counts.get("pending", 0)) + int(counts.get("claimed", 0)),
                            int(counts.get("held", 0)), min(stamps, default=None))

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
