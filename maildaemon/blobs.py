"""Content-addressed bytes: every received message and every accepted attachment, by SHA-256.

Small ones live in the ticket database, written in the same transaction as the rows that
refer to them: covered by the batch's one fsync, and no file to create (creating a file and
its directory cost 1-2 ms each here, more than processing the message). From FILE_BYTES on
they are files, staged in the transaction's `DurableFiles` and durable before it commits:
SQLite would copy a 70 MB blob through its page cache. Either way the table has the row,
so the bytes are found with one indexed lookup; an attachment stored as a file before the
table existed has no row and is found at its path.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from maildaemon.files import DurableFiles

FILE_BYTES = 1 << 20
# kind -> (table, directory under data_dir, file suffix)
KINDS = {
    "raw": ("raw_messages", "raw", ".eml"),
    "attachment": ("attachment_data", "attachments", ""),
}


class Blobs:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.files = DurableFiles()

    def keep(self, conn: sqlite3.Connection, kind: str, sha256: str, data: bytes) -> None:
        table, _, _ = KINDS[kind]
        if len(data) < FILE_BYTES:
            conn.execute(f"INSERT OR IGNORE INTO {table} VALUES (?, ?, NULL)", (sha256, data))
            return
        path = self.path(kind, sha256)
        self.files.stage(path, data)
        conn.execute(f"INSERT OR IGNORE INTO {table} VALUES (?, x'', ?)",
                     (sha256, str(path.relative_to(self.data_dir))))

    def read(self, conn: sqlite3.Connection, kind: str, sha256: str) -> bytes | None:
        table, _, _ = KINDS[kind]
        row = conn.execute(f"SELECT {'raw' if kind == 'raw' else 'data'}, path FROM {table}"
                           " WHERE sha256 = ?", (sha256,)).fetchone()
        if row is None:
            legacy = self.path(kind, sha256)
            return legacy.read_bytes() if kind == "attachment" and legacy.is_file() else None
        return (self.data_dir / row[1]).read_bytes() if row[1] else bytes(row[0])

    def path(self, kind: str, sha256: str) -> Path:
        _, directory, suffix = KINDS[kind]
        return self.data_dir / directory / sha256[:2] / f"{sha256}{suffix}"
