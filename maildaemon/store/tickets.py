"""Tickets: their rows, participants and related numbers, status and timers.

A ticket's number is random (see `fresh_number`); its id is the row's, used by every
other table. `TicketIds` remembers the ids of the tickets the context loads named, so
`apply()` never looks a number up twice.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from maildaemon.domain import NewTicket, Priority, Status, TicketRef, Tier
from maildaemon.store import updates
from maildaemon.store.db import Db, Row
from maildaemon.store.events import write_event
from maildaemon.store.records import TicketRecord
from maildaemon.store.stamps import iso, parse_iso

TICKET_BY_NUMBER = "SELECT * FROM tickets WHERE number = ?"


class TicketIds:
    """Ticket ids by number, as the context loads found them since the last apply().

    Always written by the context of the message being applied, so never stale; bounded.
    """

    LIMIT = 256

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def ref(self, row: Row) -> TicketRef:
        """The row as a decision sees it, its id remembered for apply()."""
        if len(self._ids) >= self.LIMIT:
            self._ids.clear()
        self._ids[row["number"]] = int(row["id"])
        people = json.loads(row["participants"])  # on the row (m015): one random page fewer
        return TicketRef(
            number=row["number"],
            status=Status(row["status"]),
            queue=row["queue"],
            requester=row["requester"],
            subject=row["subject"],
            participants=frozenset(people),
            closed_at=parse_iso(row["closed_at"]),
            priority=Priority(row["priority"]),
            assignee=row["assignee"],
            status_since=parse_iso(row["status_since"]),
            tier=Tier(row["tier"]),
            resolution_due=parse_iso(row["resolution_due"]),
            escalated=bool(row["escalated"]),
            acked_at=parse_iso(row["acked_at"]),
            duplicate_noticed_at=parse_iso(row["duplicate_noticed_at"]),
        )

    def id_of(self, conn: Db, number: str) -> int:
        known = self._ids.get(number)
        if known is not None:
            return known
        row = conn.execute("SELECT id FROM tickets WHERE number = ?", (number,)).fetchone()
        return int(row[0])


def row_by_number(conn: Db, number: str) -> Any:
    return conn.execute(TICKET_BY_NUMBER, (number,)).fetchone()


def record_of(row: Row | None) -> TicketRecord | None:
    if row is None:
        return None
    return TicketRecord(int(row["id"]), row["number"], row["status"], row["queue"],
                        row["requester"], row["subject"], row["assignee"],
                        row["status_since"], bool(row["reminded"]),
                        bool(row["waiting_on_customer"]), row["priority"], row["tier"],
                        row["first_response_due"], row["resolution_due"],
                        row["first_response_at"], row["resolved_at"])


# PostgreSQL's hold on one ticket for the rest of a transaction (PgStore.hold_ticket*).
HOLD_BY_NUMBER = "SELECT id FROM tickets WHERE number = ? FOR UPDATE"
HOLD_BY_ID = "SELECT id FROM tickets WHERE id = ? FOR UPDATE"


def row_by_id(conn: Db, ticket_id: int) -> Any:
    return conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()


def fresh_number(conn: Db) -> str:
    """Random, so a number reveals neither how many tickets exist nor which comes next.

    Six digits while fewer than half a million tickets exist (the space stays at most half
    full, so a guessed number is as likely wrong as right); then seven, then eight.
    Tickets are never deleted (a purge keeps a tombstone row), so a number is never reused.
    """
    count = int(conn.execute("SELECT coalesce(max(id), 0) FROM tickets").fetchone()[0])
    low, high = (0, 10**6) if count < 500_000 else \
        (10**6, 10**7) if count < 5_000_000 else (10**7, 10**8)
    width = len(str(high - 1))
    for _ in range(1000):
        number = f"HS-{low + secrets.randbelow(high - low):0{width}d}"
        if conn.execute("SELECT 1 FROM tickets WHERE number = ?", (number,)).fetchone() \
                is None:
            return number
    raise RuntimeError("no free ticket number after 1000 tries")


def insert_ticket(conn: Db, number: str, new: NewTicket, stamp: str) -> int:
    """The new ticket, its participants and its links to the related tickets (each of
    which gets an event saying who opened this one)."""
    people = list(dict.fromkeys(new.participants))
    cur = conn.execute(
        "INSERT INTO tickets (number, status, priority, queue, requester, subject,"
        " created_at, updated_at, first_response_due, status_since, participants, assignee,"
        " tier, resolution_due) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (number, Status.NEW, new.priority, new.queue, new.requester, new.subject, stamp,
         stamp, iso(new.first_response_due), stamp, json.dumps(people), new.assignee,
         new.tier, iso(new.resolution_due) if new.resolution_due else None),
    )
    ticket_id = int(cur.lastrowid or 0)
    for i, address in enumerate(new.participants):
        conn.execute(
            "INSERT OR IGNORE INTO participants (ticket_id, address, role) VALUES (?,?,?)",
            (ticket_id, address, "requester" if i == 0 else "copied"),
        )
    for other in new.related:
        conn.execute("INSERT OR IGNORE INTO related VALUES (?, ?)", (ticket_id, other))
        found = conn.execute("SELECT id FROM tickets WHERE number = ?", (other,)).fetchone()
        if found:
            conn.execute("INSERT OR IGNORE INTO related VALUES (?, ?)", (found[0], number))
            who = (f"an unverified mail from {new.requester}" if new.unverified
                   else f"{new.requester}, who is not a participant")
            write_event(conn, int(found[0]), stamp, "related", f"{number} was opened by {who}")
    return ticket_id


def mark_unverified(conn: Db, ticket_id: int) -> None:
    """Opened by a mail whose From address our MTA did not vouch for (m026)."""
    conn.execute("UPDATE tickets SET unverified = 1 WHERE id = ?", (ticket_id,))


def set_status(conn: Db, ticket_id: int, status: Status, stamp: str,
               due_at: str | None, resolution_due: str | None = None) -> None:
    """A new status restarts every timer: `since` is now, nothing reminded or marked.

    Every status change passes here, so the SLA clocks stop here too: the first time a
    ticket is resolved or closed is its resolution, and also ends its first-response clock
    if no agent had answered (the customer was told; nothing is left to answer).
    `resolution_due`: the due time moved by a wait on the customer (policy/slaclock.py).
    """
    done = status in (Status.RESOLVED, Status.CLOSED)
    conn.execute(
        "UPDATE tickets SET status = ?, status_since = ?, reminded = 0,"
        " waiting_on_customer = 0, due_at = ?, updated_at = ?,"
        " closed_at = CASE WHEN ? = 'closed' THEN ? ELSE closed_at END,"
        " resolved_at = CASE WHEN ? = 1 THEN coalesce(resolved_at, ?) ELSE resolved_at END,"
        " first_response_at = CASE WHEN ? = 1 THEN coalesce(first_response_at, ?)"
        " ELSE first_response_at END,"
        " resolution_due = coalesce(?, resolution_due) WHERE id = ?",
        (status, stamp, due_at, stamp, status, stamp, done, stamp, done, stamp,
         resolution_due, ticket_id),
    )
    updates.poke(conn, ticket_id, stamp)  # a premium ticket's next update is looked at


def record_first_response(conn: Db, ticket_id: int, stamp: str) -> None:
    """An agent's answer reached the customer: the first one stops the first-response
    clock (later ones change nothing)."""
    conn.execute("UPDATE tickets SET first_response_at = coalesce(first_response_at, ?)"
                 " WHERE id = ?", (stamp, ticket_id))


def touch(conn: Db, ticket_id: int, stamp: str) -> None:
    conn.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (stamp, ticket_id))


def set_rating(conn: Db, ticket_id: int, rating: tuple[int, str]) -> None:
    conn.execute("UPDATE tickets SET rating = ?, rating_comment = ? WHERE id = ?",
                 (rating[0], rating[1], ticket_id))


def set_assignee(conn: Db, ticket_id: int, agent: str) -> None:
    conn.execute("UPDATE tickets SET assignee = ? WHERE id = ?", (agent, ticket_id))


def set_priority(conn: Db, ticket_id: int, priority: str) -> None:
    conn.execute("UPDATE tickets SET priority = ? WHERE id = ?", (priority, ticket_id))


def mark_reminded(conn: Db, ticket_id: int) -> None:
    """The sweep's reminder went out."""
    conn.execute("UPDATE tickets SET reminded = 1 WHERE id = ?", (ticket_id,))


def mark_waiting(conn: Db, ticket_id: int) -> None:
    """The sweep now waits on the customer (and has reminded them)."""
    conn.execute("UPDATE tickets SET reminded = 1, waiting_on_customer = 1 WHERE id = ?",
                 (ticket_id,))


def set_due(conn: Db, ticket_id: int, due_at: str | None) -> None:
    conn.execute("UPDATE tickets SET due_at = ? WHERE id = ?", (due_at, ticket_id))


def due_ids(conn: Db, stamp: str, limit: int) -> list[int]:
    """Tickets whose timer is due at `stamp`, the most overdue first (indexed)."""
    return [int(r[0]) for r in conn.execute(
        "SELECT id FROM tickets WHERE due_at IS NOT NULL AND due_at <= ?"
        " ORDER BY due_at LIMIT ?", (stamp, limit))]
