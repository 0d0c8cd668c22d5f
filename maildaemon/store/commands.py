"""The SQLite `Store`'s methods for the sweep and the agents' commands (one ticket per
transaction) and for the sender (leases and outcomes): `TicketCommands` and `OutboxStore`
of interface.py. Mixed into `Store`, which provides the connection and `transaction()`."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime

from maildaemon.domain import OutgoingMail, Status
from maildaemon.store import messages, outbox, sla, tickets, upkeep
from maildaemon.store.apply import reply_event
from maildaemon.store.db import Db
from maildaemon.store.events import write_event
from maildaemon.store.reads import Reads
from maildaemon.store.records import Attempt, Leased, TicketRecord
from maildaemon.store.stamps import iso


class OnSqlite:
    """What the methods below need from `Store`."""

    conn: Db
    reads: Reads

    def transaction(self) -> AbstractContextManager[Db]:
        raise NotImplementedError

    def hold_ticket_id(self, ticket_id: int) -> None:
        """The ticket is this transaction's until it ends, and what is read of it next is
        its latest committed state: a sweep on another node that claimed a stage first has
        claimed it (PgStore locks the row). Nothing on SQLite, whose write transaction
        already shuts out every other writer."""


class CommandsOnSqlite(OnSqlite):
    def forget_old_replies(self, now: datetime) -> int:
        """The rate limit's memory is one hour: older rows only make its index bigger."""
        with self.transaction() as conn:
            return upkeep.forget_old_replies(conn, now)

    def due_tickets(self, now: datetime, limit: int) -> list[int]:
        return tickets.due_ids(self.conn, iso(now), limit)

    def ticket_by_id(self, ticket_id: int) -> TicketRecord | None:
        return tickets.record_of(tickets.row_by_id(self.conn, ticket_id))

    def ticket(self, number: str) -> TicketRecord | None:
        """None for a purged ticket too: no command acts on a tombstone."""
        row = tickets.row_by_number(self.conn, number.upper())
        return tickets.record_of(None if row and row["purged_at"] else row)

    def participants_of(self, ticket_id: int) -> list[str]:
        return self.reads.participants_of(ticket_id)

    def last_received_message_id(self, ticket_id: int) -> str | None:
        return messages.last_received_message_id(self.conn, ticket_id)

    def set_status(self, ticket_id: int, status: Status, stamp: str,
                   due_at: str | None, resolution_due: str | None = None) -> None:
        tickets.set_status(self.conn, ticket_id, status, stamp, due_at, resolution_due)

    def record_first_response(self, ticket_id: int, stamp: str) -> None:
        tickets.record_first_response(self.conn, ticket_id, stamp)

    def sla_overdue(self, kind: str, now: datetime, limit: int) -> list[int]:
        return sla.overdue_ids(self.conn, kind, iso(now), limit)

    def mark_breached(self, ticket_id: int, kind: str, now: datetime) -> bool:
        return sla.mark_breached(self.conn, ticket_id, kind, iso(now))

    def set_due(self, ticket_id: int, due_at: str | None) -> None:
        tickets.set_due(self.conn, ticket_id, due_at)

    def mark_reminded(self, ticket_id: int, waiting_on_customer: bool) -> None:
        if waiting_on_customer:
            tickets.mark_waiting(self.conn, ticket_id)
        else:
            tickets.mark_reminded(self.conn, ticket_id)

    def assign(self, ticket_id: int, agent: str) -> None:
        tickets.set_assignee(self.conn, ticket_id, agent)

    def add_event(self, ticket_id: int, stamp: str, type_: str, detail: str) -> None:
        write_event(self.conn, ticket_id, stamp, type_, detail)

    def enqueue(self, ticket_id: int, out: OutgoingMail, stamp: str) -> bool:
        """Queue a mail for a ticket inside the caller's transaction, with its event."""
        if not outbox.enqueue(self.conn, ticket_id, out, stamp):  # withheld, said so
            return False
        write_event(self.conn, *reply_event(ticket_id, stamp, out))
        return True


class OutboxOnSqlite(OnSqlite):
    # What the lease's SELECT adds to take rows nobody else is taking (PgStore: rows
    # another node's open lease has locked are skipped, not leased twice).
    LEASE_LOCK = ""

    def lease(self, stamp: str, everything: bool, after: int, limit: int, until: str,
              owner: str) -> list[Leased]:
        with self.transaction() as conn:
            return outbox.lease(conn, stamp, everything, after, limit, until, owner,
                                self.LEASE_LOCK)

    def record(self, attempts: list[Attempt], stamp: str) -> None:
        with self.transaction() as conn:
            outbox.record(conn, attempts, stamp)

    def leases(self) -> list[tuple[int, str | None]]:
        return outbox.leases(self.conn)

    def release(self, row_ids: list[int]) -> None:
        with self.transaction() as conn:
            outbox.release(conn, row_ids)

    def next_due(self) -> str | None:
        return outbox.next_due(self.conn)

