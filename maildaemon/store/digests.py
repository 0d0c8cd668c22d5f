"""The daily digest's rows: the open tickets of some queues, the day each team address
last received its digest (m019), and outbox rows that belong to no ticket.

Claiming the day and queueing the mail happen in one transaction, so a digest is queued
once per team address and day however often the job runs (a restart at 08:00:30 included).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from maildaemon.domain import OutgoingMail
from maildaemon.policy.mailbox import mailbox_problem
from maildaemon.store.db import Db
from maildaemon.store.records import OpenTicket

# New tickets by their first-response target (the overdue ones come first), then the oldest.
OPEN_TICKETS = (
    "SELECT number, subject, queue, priority, status, created_at, first_response_due"
    " FROM tickets WHERE status NOT IN ('closed', 'resolved') AND queue IN ({marks})"
    " ORDER BY status != 'new', first_response_due, created_at LIMIT ?"
)
COUNT_OPEN = (
    "SELECT count(*) FROM tickets WHERE status NOT IN ('closed', 'resolved')"
    " AND queue IN ({marks})"
)


def open_tickets(conn: Db, queues: Sequence[str],
                 limit: int) -> tuple[int, list[OpenTicket]]:
    """How many tickets of `queues` are open (neither resolved nor closed), and up to
    `limit` of them: the new ones by their first-response target first."""
    if not queues:
        return 0, []
    marks = ",".join("?" * len(queues))
    total = int(conn.execute(COUNT_OPEN.format(marks=marks), tuple(queues)).fetchone()[0])
    rows = conn.execute(OPEN_TICKETS.format(marks=marks), (*queues, limit)).fetchall()
    return total, [OpenTicket(*row) for row in rows]


def claim_digest(conn: Db, team: str, address: str, day: str,
                 stamp: str) -> bool:
    """True if `address` of `team` had no digest for `day` (or a later one) yet, and now
    has: one row per team address, moved forward day by day."""
    cursor = conn.execute(
        "INSERT INTO digests (team, address, day, sent_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (team, address) DO UPDATE SET day = excluded.day,"
        " sent_at = excluded.sent_at WHERE digests.day < excluded.day",
        (team, address, day, stamp))
    return cursor.rowcount == 1


def enqueue_unticketed(conn: Db, out: OutgoingMail, stamp: str) -> None:
    """An outbox row on no ticket (ticket_id NULL): mail to the team, not to a customer,
    so it joins no ticket's messages and no customer's rate limit."""
    problem = mailbox_problem(out.rcpt_to)
    cursor = conn.execute(
        "INSERT INTO outbox (ticket_id, kind, message_id, mail_from, rcpt_to, cc_tos,"
        " status, last_error, next_attempt_at, created_at) VALUES (NULL,?,?,?,?,?,?,?,?,?)",
        (out.kind, out.message_id, out.mail_from, out.rcpt_to, json.dumps([]),
         "failed" if problem else "pending", problem or "", stamp, stamp))
    conn.execute("INSERT INTO outbox_raw (outbox_id, raw) VALUES (?, ?)",
                 (cursor.lastrowid, out.raw))


class DigestsOnSqlite:
    """`TicketCommands`' digest methods, mixed into `Store` (which has `conn`)."""

    conn: Db

    def open_tickets(self, queues: Sequence[str],
                     limit: int) -> tuple[int, list[OpenTicket]]:
        return open_tickets(self.conn, queues, limit)

    def claim_digest(self, team: str, address: str, day: str, stamp: str) -> bool:
        return claim_digest(self.conn, team, address, day, stamp)

    def enqueue_unticketed(self, out: OutgoingMail, stamp: str) -> None:
        enqueue_unticketed(self.conn, out, stamp)
