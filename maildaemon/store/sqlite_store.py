"""The ticket database on SQLite: `Store` opens it and composes the entity modules.

One SQLite file (`maildaemon.sqlite3`, WAL, `synchronous=FULL`, foreign keys on). Every
inbound message is applied in ONE transaction that writes its raw bytes, the ticket rows
(the message row carries its dedup hash), the events, the outbox row of any reply and the
`processed` row for its spool id, so a replay after a crash finds the work done and changes
nothing. (The worker commits a batch of messages at once, each in its own savepoint: one
fsync for the batch.) `Store` implements `interface.TicketStore`; its SQL lives in the
modules it calls, one per table or concern.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path

import sqlite_utils

from maildaemon.domain import (
    AttachmentUsage,
    Decision,
    InboundMail,
    Outcome,
    TicketRef,
)
from maildaemon.schema import migrations
from maildaemon.sqlite import Checkpointer, connect, immediate, savepoint
from maildaemon.store import (
    attachments,
    briefs,
    dedup,
    limits,
    messages,
    outbox,
    tickets,
    upkeep,
)
from maildaemon.store.apply import apply_decision
from maildaemon.store.blobs import Blobs
from maildaemon.store.bounces import BouncesOnSqlite
from maildaemon.store.commands import CommandsOnSqlite, OutboxOnSqlite
from maildaemon.store.customers import CustomersOnSqlite
from maildaemon.store.digests import DigestsOnSqlite
from maildaemon.store.escalations import EscalationsOnSqlite
from maildaemon.store.interface import CustomerDirectory, TicketStore
from maildaemon.store.purge import PurgeOnSqlite
from maildaemon.store.reads import Reads
from maildaemon.store.records import Rendered, TicketBrief
from maildaemon.store.stamps import iso
from maildaemon.store.updates import UpdatesOnSqlite

DATABASE = "maildaemon.sqlite3"


class Store(CommandsOnSqlite, OutboxOnSqlite, DigestsOnSqlite, CustomersOnSqlite,
            EscalationsOnSqlite, UpdatesOnSqlite, PurgeOnSqlite, BouncesOnSqlite):
    """`TicketStore` on one SQLite file. Beyond the interface, `conn` and the connection
    that `transaction()` yields are for what is SQLite's alone: the migrations, and the
    tests and benchmarks that seed or inspect the file directly."""

    # Every message's dedup hash on its `processed` row (apply.py): PgStore's, for nodes.
    KEY_ALWAYS = False

    def __init__(self, data_dir: Path, synchronous: str = "FULL", cache_kib: int = 0,
                 checkpointer: Checkpointer | None = None) -> None:
        """`cache_kib`: a larger SQLite page cache for the worker, whose inserts under random
        keys (ticket numbers, Message-IDs) touch index pages all over a large database.
        `checkpointer`: the WAL checkpoints of this connection's commits are its job."""
        data_dir.mkdir(parents=True, exist_ok=True)
        conn = connect(data_dir / DATABASE, synchronous)
        if cache_kib:
            conn.execute(f"PRAGMA cache_size={-cache_kib}")
        if checkpointer is not None:
            checkpointer.take_over(conn)
        self._compose(data_dir, conn, checkpointer)
        # Under the write lock: the daemon, its worker and a CLI command may all open a new
        # data directory at the same moment. Only when something is pending (a read): a
        # read-only command on a busy daemon's database never queues for the lock.
        if migrations.pending(self.db):
            with immediate(conn):
                migrations.apply(self.db)

    def _compose(self, data_dir: Path, conn: sqlite3.Connection,
                 checkpointer: Checkpointer | None) -> None:
        """The entity modules on an open connection (a read-only one too: readonly.py)."""
        conn.row_factory = sqlite3.Row
        self.path = data_dir / DATABASE
        self.conn: sqlite3.Connection = conn
        self.checkpointer = checkpointer
        self.db = sqlite_utils.Database(conn)
        self.ids = tickets.TicketIds()  # by ticket number, since the last apply()
        self.blobs = Blobs(data_dir)  # its files made durable by transaction(), pre-commit
        self.reads = Reads(conn, self.blobs)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. Files staged in it (`self.blobs.files`) are durable
        before it commits; if they cannot be made so, it rolls back."""
        with immediate(self.conn) as conn:
            try:
                yield conn
                self.blobs.files.sync()
            except BaseException:
                self.blobs.files.discard()
                raise
        if self.checkpointer is not None:
            self.checkpointer.poke()

    def savepoint(self) -> AbstractContextManager[sqlite3.Connection]:
        return savepoint(self.conn)

    def file_roots(self) -> list[Path]:
        return self.blobs.file_roots()

    # -- the worker's context loads ------------------------------------------------------

    def spool_processed(self, spool_id: str) -> bool:
        return dedup.spool_processed(self.conn, spool_id)

    def processed_outcome(self, spool_id: str) -> tuple[str, str | None] | None:
        return dedup.processed_outcome(self.conn, spool_id)

    def received_before(self, message_id: str | None, dedup_key: str,
                        since: datetime | None = None) -> bool:
        return dedup.received_before(self.conn, message_id, dedup_key,
                                     iso(since) if since else None)

    def ticket_ref(self, number: str) -> TicketRef | None:
        """None for a purged ticket too: mail naming a tombstone finds nothing to join."""
        row = tickets.row_by_number(self.conn, number)
        return self.ids.ref(row) if row and not row["purged_at"] else None

    def ticket_of_received_message(self, message_id: str) -> TicketRef | None:
        ticket_id = messages.ticket_id_of_received(self.conn, message_id)
        row = tickets.row_by_id(self.conn, ticket_id) if ticket_id is not None else None
        return self.ids.ref(row) if row else None

    def is_survey(self, message_ids: tuple[str, ...]) -> bool:
        return outbox.is_survey(self.conn, message_ids)

    def recent_autoreplies(self, address: str, now: datetime) -> int:
        return upkeep.recent_autoreplies(self.conn, address, now)

    def reply_counts(self, address: str, now: datetime) -> tuple[int, int]:
        return limits.reply_counts(self.conn, address, now)

    def openings(self, address: str, now: datetime, limit: int) -> int:
        return limits.openings(self.conn, address, now, limit)

    def flood_ticket(self, address: str) -> TicketRef | None:
        row = limits.flood_ticket(self.conn, address)
        return self.ids.ref(row) if row else None

    def same_text_ticket(self, key: str, now: datetime) -> TicketRef | None:
        row = limits.same_text(self.conn, key, now)
        return self.ids.ref(row) if row else None

    def attachment_usage(self, number: str) -> AttachmentUsage:
        return attachments.usage(self.conn, number)

    def ticket_brief(self, number: str, last: int) -> TicketBrief | None:
        return briefs.ticket_brief(self.conn, number, last)

    # -- applying a decision -------------------------------------------------------------

    def number_for(self, decision: Decision) -> str | None:
        """The number of the ticket the decision's mail is about: the one it joins, or a
        fresh one for the ticket it opens (chosen now, so its mail is rendered before
        `apply` writes). None when the message goes on no ticket."""
        if decision.outcome in (Outcome.DUPLICATE, Outcome.AUTOMATIC):
            return None
        if decision.outcome == Outcome.ESCALATION_REFUSED and decision.escalation:
            return decision.escalation.number  # as named: its answer is on no ticket
        if decision.ticket is not None:
            return decision.ticket.number
        if decision.new_ticket is None:  # an agent's refused mail naming no ticket
            return None
        return tickets.fresh_number(self.conn)

    def apply(self, decision: Decision, mail: InboundMail, raw: bytes, spool_id: str,
              now: datetime, rendered: Rendered,
              dedup_since: datetime | None = None) -> str | None:
        """Write everything the decision says; returns the ticket number.

        Runs inside the caller's transaction (the worker applies a batch in one commit, each
        message in its own savepoint), so the context the decision was made on and these
        writes see the same database.
        """
        return apply_decision(self.conn, self.blobs, self.ids, decision, mail, raw,
                              spool_id, iso(now), rendered, self.KEY_ALWAYS,
                              iso(dedup_since) if dedup_since else None)

    def hold_ticket(self, number: str) -> None:
        """The ticket is this transaction's until it ends (PgStore: its row locked, so two
        nodes' replies to it are applied one after the other). Nothing to do on SQLite,
        whose write transaction already shuts out every other writer."""


def as_ticket_store(store: Store) -> TicketStore:
    """Where mypy checks that `Store` implements the whole interface."""
    return store


def as_customer_directory(store: Store) -> CustomerDirectory:
    """Where mypy checks that `Store` implements the customer directory."""
    return store
