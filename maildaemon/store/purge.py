"""Retention (m027): a closed ticket's content removed, its row kept as a tombstone.

What goes: every row that refers to the ticket (messages, events, participants, files,
refused files, links, the bug report, the mail we sent and its bytes), found by the
database's own foreign keys, so a table added later that refers to a ticket is purged too;
the received raw bytes and the file bytes no other ticket still refers to (an inline logo
kept once for many tickets stays while one of them keeps it); the ticket row's subject,
requester, participants and rating comment. What stays: the number (so it is never given
again), status, priority, queue, tier, assignee, the dates and SLA stamps (reports still
count the ticket), a `purged_at` stamp and one `purged` event.

Deleted content is overwritten (`secure_delete`), not left in free pages. Files outlive
the commit by a moment: their names are written to `purged_files` in the same transaction
and unlinked after it, so a crash in between leaves a name the next purge retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

from maildaemon.store.blobs import Blobs
from maildaemon.store.db import Db
from maildaemon.store.events import write_event
from maildaemon.store.records import Purged
from maildaemon.store.stamps import iso

PURGEABLE = ("SELECT id FROM tickets WHERE status = 'closed' AND purged_at IS NULL"
             " AND closed_at < ? ORDER BY closed_at LIMIT ?")  # the tickets_purgeable index
TOMBSTONE = ("UPDATE tickets SET requester = '', subject = '', participants = NULL,"
             " rating_comment = NULL, due_at = NULL, next_update_at = NULL, purged_at = ?"
             " WHERE id = ?")
# Rows that name a ticket without a foreign key (the timeline's is its primary key).
LOOSE = ("timeline", "surveys", "undeliverable")  # ticket_id without a foreign key


def purgeable(conn: Db, closed_before: datetime, limit: int) -> list[int]:
    return [row[0] for row in conn.execute(PURGEABLE, (iso(closed_before), limit))]


# parent table -> (table, its column, the parent's column) for each foreign key to it
Keys = dict[str, list[tuple[str, str, str]]]


def foreign_keys(conn: Db) -> Keys:
    found: Keys = {}
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                 " AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall():
        for key in conn.execute(f'PRAGMA foreign_key_list("{table}")'):
            found.setdefault(key[2], []).append((table, key[3], key[4] or "id"))
    return found


def delete_under(conn: Db, keys: Keys, table: str, where: str,
                 params: tuple[object, ...]) -> int:
    """Rows of `table` matching `where`, after every row that refers to them."""
    for child, column, parent_column in keys.get(table, []):
        delete_under(conn, keys, child,
                     f'"{column}" IN (SELECT "{parent_column}" FROM "{table}" WHERE {where})',
                     params)
    return conn.execute(f'DELETE FROM "{table}" WHERE {where}', params).rowcount


def purge_ticket(conn: Db, blobs: Blobs, keys: Keys, ticket_id: int,
                 stamp: str) -> tuple[int, list[str]]:
    """One ticket's content gone, in the caller's transaction: (messages, file paths to
    unlink once it commits)."""
    raw_ids = [r[0] for r in conn.execute(
        "SELECT raw_id FROM messages WHERE ticket_id = ? AND raw_id IS NOT NULL", (ticket_id,))]
    hashes = {r[0] for r in conn.execute(
        "SELECT sha256 FROM attachments WHERE ticket_id = ?", (ticket_id,))}
    count = conn.execute("SELECT count(*) FROM messages WHERE ticket_id = ?",
                         (ticket_id,)).fetchone()[0]
    for table in LOOSE:
        conn.execute(f"DELETE FROM {table} WHERE ticket_id = ?", (ticket_id,))
    for child, column, _ in keys.get("tickets", []):
        delete_under(conn, keys, child, f'"{column}" = ?', (ticket_id,))
    conn.execute(TOMBSTONE, (stamp, ticket_id))
    paths = _unreferenced_raw(conn, raw_ids) + _unreferenced_files(conn, blobs, hashes)
    conn.executemany("INSERT OR IGNORE INTO purged_files VALUES (?)", [(p,) for p in paths])
    write_event(conn, ticket_id, stamp, "purged",
                f"retention: {count} messages, their raw bytes, files and events removed")
    return int(count), paths


def _unreferenced_raw(conn: Db, raw_ids: list[int]) -> list[str]:
    paths = []
    for raw_id in raw_ids:
        if conn.execute("SELECT 1 FROM messages WHERE raw_id = ? UNION ALL"
                        " SELECT 1 FROM automatic_mail WHERE raw_id = ?",
                        (raw_id, raw_id)).fetchone():
            continue
        row = conn.execute("DELETE FROM raw_messages WHERE id = ? RETURNING path",
                           (raw_id,)).fetchone()
        if row is not None and row[0] and not conn.execute(
                "SELECT 1 FROM raw_messages WHERE path = ?", (row[0],)).fetchone():
            paths.append(row[0])
    return paths


def _unreferenced_files(conn: Db, blobs: Blobs, hashes: set[str]
                        ) -> list[str]:
    paths = []
    for sha256 in sorted(hashes):
        if conn.execute("SELECT 1 FROM attachments WHERE sha256 = ?", (sha256,)).fetchone():
            continue
        row = conn.execute("DELETE FROM attachment_data WHERE sha256 = ? RETURNING path",
                           (sha256,)).fetchone()
        legacy = blobs.attachment_path(sha256)  # stored as a file before attachment_data
        if row is not None and row[0]:
            paths.append(row[0])
        elif row is None and legacy.is_file():
            paths.append(str(legacy.relative_to(blobs.data_dir)))
    return paths


def remove_files(conn: Db, data_dir: Path) -> int:
    """Unlink every file a committed purge named, then forget the names."""
    names = [row[0] for row in conn.execute("SELECT path FROM purged_files")]
    for name in names:
        (data_dir / name).unlink(missing_ok=True)
    if names:
        conn.executemany("DELETE FROM purged_files WHERE path = ?", [(n,) for n in names])
    return len(names)


class PurgeOnSqlite:
    """`PurgeCommands` (interface.py), mixed into `Store`."""

    conn: Db
    blobs: Blobs

    def transaction(self) -> AbstractContextManager[Db]:
        raise NotImplementedError

    def hold_ticket_id(self, ticket_id: int) -> None:
        """commands.OnSqlite's: another node's purge of the ticket comes first or after."""

    def purgeable(self, closed_before: datetime, limit: int) -> list[int]:
        return purgeable(self.conn, closed_before, limit)

    def purge(self, ticket_ids: Sequence[int], now: datetime) -> Purged:
        """These tickets (closed, not yet purged: others are skipped) in one transaction,
        then their files."""
        stamp, numbers, messages = iso(now), [], 0
        self.secure_delete(True)
        try:
            with self.transaction() as conn:
                keys = self.foreign_keys(conn)
                for ticket_id in ticket_ids:
                    self.hold_ticket_id(ticket_id)
                    row = conn.execute("SELECT number FROM tickets WHERE id = ? AND status ="
                                       " 'closed' AND purged_at IS NULL",
                                       (ticket_id,)).fetchone()
                    if row is None:
                        continue
                    count, _files = purge_ticket(conn, self.blobs, keys, ticket_id, stamp)
                    messages += count
                    numbers.append(row[0])
            with self.transaction() as conn:
                files = remove_files(conn, self.blobs.data_dir)
        finally:
            self.secure_delete(False)
        return Purged(tuple(numbers), messages, files)

    def foreign_keys(self, conn: Db) -> Keys:
        """Which rows refer to which (the backend's catalogue says)."""
        return foreign_keys(conn)

    def secure_delete(self, on: bool) -> None:
        """SQLite overwrites a purge's deleted content in the file while this is on."""
        self.conn.execute(f"PRAGMA secure_delete = {'ON' if on else 'OFF'}")

    def settle(self) -> None:
        """The WAL checkpointed and emptied: a purge's overwritten pages reach the database
        file, and no copy of the deleted ones stays in the log. It waits (the busy
        timeout) for readers of older pages; past that, the next checkpoint finishes."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
