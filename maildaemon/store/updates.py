"""Proactive updates' bookkeeping (m023): which tickets get them and when the sweep looks
at one next (`tickets.next_update_at`, a partial index like `due_at`'s).

Writers only say "look again": a new premium ticket and every status change set the time
to now; the sweep (updates_sweep.py, with policy/premium.py) works out the real due time
from the ticket's facts below and writes it, or NULL while the customer does not wait on
us. So an agent's answer needs no write here: the sweep finds it among the events.
"""

from __future__ import annotations

from datetime import datetime

from maildaemon.store.db import Db
from maildaemon.store.records import UpdateFacts
from maildaemon.store.stamps import iso

# The last agent answer and the last update, from the ticket's own events (one range of
# the clustered timeline).
LAST_WORDS = (
    "SELECT max(CASE WHEN e.type = 'agent_reply' THEN e.at END),"
    " max(CASE WHEN e.type = 'proactive_update' THEN e.at END)"
    " FROM timeline t JOIN events e ON e.id = t.row_id"
    " WHERE t.ticket_id = ? AND t.kind = 'event'"
    " AND e.type IN ('agent_reply', 'proactive_update')"
)


def start(conn: Db, ticket_id: int, stamp: str) -> None:
    """A premium or enterprise customer's new ticket: updates on, looked at soon."""
    conn.execute("UPDATE tickets SET proactive = 1, next_update_at = ? WHERE id = ?",
                 (stamp, ticket_id))


def poke(conn: Db, ticket_id: int, stamp: str) -> None:
    """Its status changed: the sweep looks at it again (a no-op for other tickets)."""
    conn.execute("UPDATE tickets SET next_update_at = ? WHERE id = ? AND proactive = 1",
                 (stamp, ticket_id))


def due_ids(conn: Db, stamp: str, limit: int) -> list[int]:
    return [int(r[0]) for r in conn.execute(
        "SELECT id FROM tickets WHERE next_update_at IS NOT NULL AND next_update_at <= ?"
        " ORDER BY next_update_at LIMIT ?", (stamp, limit))]


def facts(conn: Db, ticket_id: int) -> UpdateFacts | None:
    row = conn.execute(
        "SELECT status, waiting_on_customer, created_at, status_since, first_response_due,"
        " assignee, proactive FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    if row is None:
        return None
    last = conn.execute(LAST_WORDS, (ticket_id,)).fetchone()
    return UpdateFacts(status=row[0], waiting_on_customer=bool(row[1]), created_at=row[2],
                       status_since=row[3], first_response_due=row[4], assignee=row[5],
                       proactive=bool(row[6]), last_agent_at=last[0], last_update_at=last[1])


def set_next(conn: Db, ticket_id: int, at: str | None) -> None:
    conn.execute("UPDATE tickets SET next_update_at = ? WHERE id = ?", (at, ticket_id))


class UpdatesOnSqlite:
    """`UpdateCommands`, mixed into `Store` (which has `conn`)."""

    conn: Db

    def updates_due(self, now: datetime, limit: int) -> list[int]:
        return due_ids(self.conn, iso(now), limit)

    def update_facts(self, ticket_id: int) -> UpdateFacts | None:
        return facts(self.conn, ticket_id)

    def set_next_update(self, ticket_id: int, at: str | None) -> None:
        set_next(self.conn, ticket_id, at)
