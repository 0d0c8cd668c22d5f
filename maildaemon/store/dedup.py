"""Processed messages and duplicates: the `processed` table and the dedup hashes.

Every inbound message leaves one `processed` row, found by its spool id (a replay after a
crash) and, for mail without a Message-ID, by its dedup hash. Mail with a Message-ID
carries its hash on the row stored under that Message-ID (m016) instead.
"""

from __future__ import annotations

import hashlib

from maildaemon.store.db import Db

# The duplicate check's two lookups (received_before); tests/test_dedup.py checks that
# SQLite answers both from indexes.
HASHES_UNDER_MESSAGE_ID = (
    "SELECT dedup_hash FROM messages WHERE message_id = ? AND direction = 'inbound'"
    " UNION ALL SELECT dedup_hash FROM automatic_mail WHERE message_id = ?")
KEY_HASH_PROCESSED = "SELECT at FROM processed WHERE key_hash = ?"


def key_hash(key: str) -> int:
    """A dedup key as a 64-bit integer: its index (see m013) is a quarter the size of one
    on the text, small enough to stay in the worker's page cache at a million messages."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:8],
                          "big", signed=True)


def spool_processed(conn: Db, spool_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM processed WHERE spool_id = ?", (spool_id,))
    return row.fetchone() is not None


def processed_outcome(conn: Db, spool_id: str) -> tuple[str, str | None] | None:
    row = conn.execute(
        "SELECT outcome, ticket_number FROM processed WHERE spool_id = ? ORDER BY id",
        (spool_id,),
    ).fetchone()
    return (row[0], row[1]) if row else None


def received_before(conn: Db, message_id: str | None, dedup_key: str,
                    since: str | None = None) -> bool:
    """The same message (its dedup key: Message-ID and body) was processed before.

    With a Message-ID, the answer is on the rows stored under it (m016): the lookup reads
    the Message-ID index page this message's own insert writes next, and a row is read only
    when the Message-ID matches, which a new message's does not. Rows written before m016
    carry no hash; their keys are in the processed table. Without a Message-ID, the key
    (sender, subject and body: parse.py) is in the processed table, and counts only when
    it was processed after `since` (the `[duplicates]` window; None: ever).
    """
    wanted = key_hash(dedup_key)
    if message_id:
        found = [row[0] for row in conn.execute(HASHES_UNDER_MESSAGE_ID,
                                                (message_id, message_id))]
        if wanted in found:
            return True
        if None not in found:
            return False
        return conn.execute(KEY_HASH_PROCESSED, (wanted,)).fetchone() is not None
    row = conn.execute(KEY_HASH_PROCESSED, (wanted,)).fetchone()
    return row is not None and (since is None or row[0] > since)


def mark_processed(conn: Db, dedup_hash: int | None, spool_id: str,
                   outcome: str, number: str | None, stamp: str,
                   since: str | None = None) -> None:
    """One row per message, found by its spool id (a replay after a crash) and, for mail
    without a Message-ID, by its dedup hash (both indexed). A key seen before the
    duplicate window moves to this row, so the window counts from the latest copy.

    A plain INSERT, never OR IGNORE: when another node's transaction wrote the same key
    first (PostgreSQL, several nodes), the unique index `processed_key` must refuse this
    one (store/errors.py `is_lost_race`), never let its ticket commit beside the other.
    So the key moves only from a row processed before `since` (the duplicate window's start,
    as `received_before` judged it): a newer row with this key is not an old copy but the
    other node's, committed after this message was judged new. None: any row (one writer).
    """
    if dedup_hash is not None and since is None:
        conn.execute("UPDATE processed SET key_hash = NULL WHERE key_hash = ?", (dedup_hash,))
    elif dedup_hash is not None:
        conn.execute("UPDATE processed SET key_hash = NULL WHERE key_hash = ? AND at <= ?",
                     (dedup_hash, since))
    conn.execute(
        "INSERT INTO processed (key_hash, spool_id, outcome, ticket_number, at)"
        " VALUES (?, ?, ?, ?, ?)",
        (dedup_hash, spool_id, outcome, number, stamp),
    )
