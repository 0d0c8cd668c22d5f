"""What the read-only commands show (`tickets`, `show`, `outbox ls`, `automatic`,
`attachment`, `raw`, `report`): `interface.TicketReads` on SQLite, rows as the views
format them, no writes. `backend.open_reads` hands it out."""

from __future__ import annotations

from typing import Any

from maildaemon.store import attachments, bounces, bugreports, messages, outbox, sla
from maildaemon.store.blobs import Blobs
from maildaemon.store.db import Db, Row
from maildaemon.store.dedup import processed_outcome
from maildaemon.store.interface import TicketReads


class Reads:
    def __init__(self, conn: Db, blobs: Blobs) -> None:
        self.conn = conn
        self.blobs = blobs

    def ticket_rows(self, status: str | None = None,
                    queue: str | None = None) -> list[Row]:
        query = "SELECT * FROM tickets WHERE 1=1"
        params: list[str] = []
        if status:
            query += " AND status = ?"
            params.append(status)
        if queue:
            query += " AND queue = ?"
            params.append(queue)
        return self.conn.execute(query + " ORDER BY created_at, id", params).fetchall()

    def ticket_row(self, number: str) -> Row | None:
        row: Row | None = self.conn.execute(
            "SELECT * FROM tickets WHERE number = ?", (number.upper(),)
        ).fetchone()
        return row

    def participants_of(self, ticket_id: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT address FROM participants WHERE ticket_id = ? ORDER BY rowid", (ticket_id,)
        )
        return [r[0] for r in rows]

    def related_of(self, ticket_id: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT other_number FROM related WHERE ticket_id = ? ORDER BY rowid", (ticket_id,)
        )
        return [r[0] for r in rows]

    def messages_of(self, ticket_id: int) -> list[Row]:
        return messages.messages_of(self.conn, ticket_id)

    def events_of(self, ticket_id: int) -> list[Row]:
        return messages.events_of(self.conn, ticket_id)

    def attachments_of(self, ticket_id: int) -> list[Row]:
        return attachments.accepted_of(self.conn, ticket_id)

    def rejected_of(self, ticket_id: int) -> list[Row]:
        return attachments.rejected_of(self.conn, ticket_id)

    def automatic_rows(self) -> list[Row]:
        return self.conn.execute("SELECT * FROM automatic_mail ORDER BY id").fetchall()

    def outbox_rows(self, everything: bool) -> list[dict[str, Any]]:
        return outbox.listing(self.conn, everything)

    def processed_outcome(self, spool_id: str) -> tuple[str, str | None] | None:
        return processed_outcome(self.conn, spool_id)

    def close(self) -> None:
        self.conn.close()

    def ratings(self) -> list[dict[str, Any]]:
        """Per queue and agent: how many ratings, their mean, how many were 1 or 2."""
        rows = self.conn.execute(
            "SELECT queue, coalesce(assignee, '-') AS agent, count(*) AS n,"
            " CAST(avg(rating) AS DOUBLE PRECISION) AS mean,"
            " sum(CASE WHEN rating <= 2 THEN 1 ELSE 0 END) AS low FROM tickets"
            " WHERE rating IS NOT NULL GROUP BY queue, agent ORDER BY queue, agent").fetchall()
        return [dict(r) for r in rows]

    def sla_rows(self, since: str, until: str) -> list[dict[str, Any]]:
        return sla.report_rows(self.conn, since, until)

    def raw_message(self, raw_id: int) -> bytes | None:
        """The exact bytes received, by `messages.raw_id` or `automatic_mail.raw_id`."""
        return self.blobs.raw(self.conn, raw_id)

    def attachment_bytes(self, sha256: str) -> bytes | None:
        return self.blobs.attachment(self.conn, sha256)

    def bug_report_of(self, ticket_id: int) -> Row | None:
        return bugreports.report_of(self.conn, ticket_id)

    def delivery_failures_of(self, ticket_id: int) -> list[Row]:
        return bounces.failed_of(self.conn, ticket_id)


def as_ticket_reads(reads: Reads) -> TicketReads:
    """Where mypy checks that `Reads` implements the whole read interface."""
    return reads
