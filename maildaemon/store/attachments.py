"""Files on tickets: the accepted ones (their bytes kept once by hash, see blobs.py) and
the refused ones (name, type and the reason the customer was given)."""

from __future__ import annotations

from typing import Any

from maildaemon.domain import AttachmentUsage, AttachmentVerdict
from maildaemon.store.blobs import Blobs
from maildaemon.store.db import Db


def insert_files(conn: Db, blobs: Blobs, ticket_id: int, message_row: int,
                 verdicts: tuple[AttachmentVerdict, ...]) -> None:
    for verdict in verdicts:
        file = verdict.candidate
        if verdict.reason == "accepted":
            blobs.keep_attachment(conn, file.sha256, file.data)
            conn.execute(
                "INSERT INTO attachments (ticket_id, message_row, filename, content_type,"
                " declared_type, size, sha256, inline, mismatch) VALUES (?,?,?,?,?,?,?,?,?)",
                (ticket_id, message_row, file.filename, file.detected_type,
                 file.declared_type, file.size, file.sha256, int(file.inline),
                 verdict.mismatch),
            )
        elif not verdict.accepted:
            conn.execute(
                "INSERT INTO rejected_attachments (ticket_id, message_row, filename,"
                " content_type, size, reason, words) VALUES (?,?,?,?,?,?,?)",
                (ticket_id, message_row, file.filename, file.detected_type, file.size,
                 verdict.reason, verdict.words),
            )


def usage(conn: Db, number: str) -> AttachmentUsage:
    """What the ticket already holds, for the per-ticket quota."""
    row = conn.execute(
        "SELECT coalesce(sum(CASE WHEN a.inline = 0 THEN 1 ELSE 0 END), 0),"
        " coalesce(sum(a.size), 0) FROM attachments a"
        " JOIN tickets t ON t.id = a.ticket_id WHERE t.number = ?", (number,)
    ).fetchone()
    inline = conn.execute(
        "SELECT a.sha256 FROM attachments a JOIN tickets t ON t.id = a.ticket_id"
        " WHERE t.number = ? AND a.inline = 1", (number,)
    ).fetchall()
    return AttachmentUsage(int(row[0]), int(row[1]), frozenset(r[0] for r in inline))


def accepted_of(conn: Db, ticket_id: int) -> list[Any]:
    return conn.execute(
        "SELECT * FROM attachments WHERE ticket_id = ? ORDER BY id", (ticket_id,)
    ).fetchall()


def rejected_of(conn: Db, ticket_id: int) -> list[Any]:
    return conn.execute(
        "SELECT * FROM rejected_attachments WHERE ticket_id = ? ORDER BY id", (ticket_id,)
    ).fetchall()
