"""Bounces (m024): the addresses a permanent failure marked undeliverable, and the outbox
read that matches a bounce without returned headers to the ticket we last mailed.

One row per address in `undeliverable` (its primary key, WITHOUT ROWID): a mark is set by
a 5.x.x bounce of our mail, replaced by a newer one, and removed when the address writes
to us again. A ticket is `delivery_failed` while one of its participants is marked: read
through the participants, never stored on the ticket, so clearing one address clears
every ticket it is on. `outbox_rcpt` (m024) finds our latest mail to an address.
"""

from __future__ import annotations

from datetime import datetime

from maildaemon.domain import FailedRecipient, TicketRef
from maildaemon.store.db import Db, Row
from maildaemon.store.stamps import iso
from maildaemon.store.tickets import TicketIds, row_by_id


def mark(conn: Db, address: str, failure: FailedRecipient, ticket_id: int,
         stamp: str) -> None:
    detail = f"{failure.status} {failure.diagnostic}".strip()
    conn.execute("INSERT OR REPLACE INTO undeliverable (address, status, detail, ticket_id,"
                 " at) VALUES (?, ?, ?, ?, ?)",
                 (address.lower(), failure.status, detail, ticket_id, stamp))


def clear(conn: Db, address: str) -> bool:
    return conn.execute("DELETE FROM undeliverable WHERE address = ?",
                        (address.lower(),)).rowcount > 0


def mark_of(conn: Db, address: str) -> str | None:
    """The mark in words ("5.1.1 since 2026-12-01T09:00:00Z: user unknown"), or None."""
    row = conn.execute("SELECT status, detail, at FROM undeliverable WHERE address = ?",
                       (address.lower(),)).fetchone()
    if row is None:
        return None
    why = str(row[1]).removeprefix(str(row[0])).strip()
    return f"{row[0]} since {row[2]}" + (f": {why}" if why else "")


def failed_of(conn: Db, ticket_id: int) -> list[Row]:
    """The ticket's participants that are marked, with the mark (for `show`)."""
    return conn.execute(
        "SELECT u.address, u.status, u.detail, u.at FROM participants p"
        " JOIN undeliverable u ON u.address = p.address WHERE p.ticket_id = ?"
        " ORDER BY p.rowid", (ticket_id,)).fetchall()


def last_ticket_mailed(conn: Db, address: str, since: str) -> int | None:
    """The ticket of our latest mail to `address` queued at `since` or later."""
    row = conn.execute(
        "SELECT ticket_id FROM outbox WHERE rcpt_to = ? AND created_at >= ?"
        " AND ticket_id IS NOT NULL ORDER BY id DESC LIMIT 1",
        (address.lower(), since)).fetchone()
    return int(row[0]) if row else None


class BouncesOnSqlite:
    """The worker's reads of them (ContextReads), on `Store`'s connection."""

    conn: Db
    ids: TicketIds

    def ticket_mailed_to(self, address: str, since: datetime) -> TicketRef | None:
        ticket_id = last_ticket_mailed(self.conn, address, iso(since))
        row = row_by_id(self.conn, ticket_id) if ticket_id is not None else None
        return self.ids.ref(row) if row else None

    def undeliverable(self, address: str) -> str | None:
        return mark_of(self.conn, address)
