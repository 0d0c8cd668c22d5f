"""Message and attachment bytes: small ones in the ticket database, large ones as files.

Small ones are written in the same transaction as the rows that refer to them: covered by
the batch's one fsync, and no file to create (creating a file and its directory cost
1-2 ms each here, more than processing the message). From FILE_BYTES on they are files,
staged in the transaction's `DurableFiles` and durable before it commits: SQLite would copy
a 70 MB blob through its page cache. Either way a row records where the bytes are.

Received messages are found by their row id (`messages.raw_id`, `automatic_mail.raw_id`),
in arrival order: no index keyed by their hash, which every message would insert into at a
random place (at a million messages that index alone cost a tenth of the throughput). Two
identical messages never both get here: the second is a duplicate by its dedup key. Files
(`attachment_data`) are keyed by their hash, so an inline logo sent a hundred times is
kept once; an attachment stored as a file before that table existed has no row and is
found at its path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from maildaemon.files import DurableFiles
from maildaemon.store.db import Db, Row

FILE_BYTES = 1 << 20
RAW_DIR, ATTACHMENT_DIR = "raw", "attachments"


class Blobs:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.files = DurableFiles()

    def keep_raw(self, conn: Db, sha256: str, raw: bytes) -> int:
        """The exact bytes of a received message; returns their row id."""
        cursor = conn.execute("INSERT INTO raw_messages (sha256, raw, path) VALUES (?, ?, ?)",
                              (sha256, *self._place(raw, lambda: self.raw_path(sha256))))
        return int(cursor.lastrowid or 0)

    def raw(self, conn: Db, raw_id: int) -> bytes | None:
        row = conn.execute("SELECT raw, path FROM raw_messages WHERE id = ?",
                           (raw_id,)).fetchone()
        return self._bytes(row)

    def keep_attachment(self, conn: Db, sha256: str, data: bytes) -> None:
        conn.execute("INSERT OR IGNORE INTO attachment_data VALUES (?, ?, ?)",
                     (sha256, *self._place(data, lambda: self.attachment_path(sha256))))

    def attachment(self, conn: Db, sha256: str) -> bytes | None:
        row = conn.execute("SELECT data, path FROM attachment_data WHERE sha256 = ?",
                           (sha256,)).fetchone()
        if row is None:
            legacy = self.attachment_path(sha256)
            return legacy.read_bytes() if legacy.is_file() else None
        return self._bytes(row)

    def raw_path(self, sha256: str) -> Path:
        return self.data_dir / RAW_DIR / sha256[:2] / f"{sha256}.eml"

    def attachment_path(self, sha256: str) -> Path:
        return self.data_dir / ATTACHMENT_DIR / sha256[:2] / sha256

    def file_roots(self) -> list[Path]:
        """Where the large ones are kept as files (and a killed process's temporaries)."""
        return [self.data_dir / ATTACHMENT_DIR, self.data_dir / RAW_DIR]

    def _place(self, data: bytes, where: Callable[[], Path]) -> tuple[bytes, str | None]:
        """(blob, path) for the row: the bytes themselves when small, else none and the
        path of the file staged for them (worked out only then: most messages are small)."""
        if len(data) < FILE_BYTES:
            return data, None
        path = where()
        self.files.stage(path, data)
        return b"", str(path.relative_to(self.data_dir))

    def _bytes(self, row: Row | tuple[bytes, str | None] | None) -> bytes | None:
        if row is None:
            return None
        return (self.data_dir / row[1]).read_bytes() if row[1] else bytes(row[0])
