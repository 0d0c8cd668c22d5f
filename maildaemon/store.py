"""The ticket database: the context loads the worker needs, and `apply(decision)`.

One SQLite file (`maildaemon.sqlite3`, WAL, `synchronous=FULL`, foreign keys on). Every
inbound message is applied in ONE transaction that writes its raw bytes, the ticket rows
(the message row carries its dedup hash), the events, the outbox row of any reply and the
`processed` row for its spool id, so a replay after a crash finds the work done and changes
nothing. (The worker commits a batch of messages at once, each in its own savepoint: one
fsync for the batch.)
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from maildaemon.blobs import Blobs
from maildaemon.domain import (
    AttachmentUsage,
    Decision,
    InboundMail,
    Outcome,
    OutgoingMail,
    Reply,
    Status,
    TicketRef,
)
from maildaemon.policy.mailbox import is_mailbox, mailbox_problem
from maildaemon.schema import key_hash, migrations
from maildaemon.sqlite import Checkpointer, connect, immediate, savepoint


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


RATE_WINDOW = timedelta(hours=1)  # autoreply.max_per_hour counts over this

# A ticket's messages and events, through the timeline (m017): one clustered range.
MESSAGES_OF_TICKET = (
    "SELECT m.* FROM timeline t JOIN messages m ON m.id = t.row_id"
    " WHERE t.ticket_id = ? AND t.kind = 'message' ORDER BY t.row_id"
)
EVENTS_OF_TICKET = (
    "SELECT e.* FROM timeline t JOIN events e ON e.id = t.row_id"
    " WHERE t.ticket_id = ? AND t.kind = 'event' ORDER BY t.row_id"
)
LAST_RECEIVED_MESSAGE_ID = (
    "SELECT m.message_id FROM timeline t JOIN messages m ON m.id = t.row_id"
    " WHERE t.ticket_id = ? AND t.kind = 'message' AND m.direction = 'inbound'"
    " AND m.message_id IS NOT NULL ORDER BY t.row_id DESC LIMIT 1"
)
# The duplicate check's two lookups (Store.received_before); tests/test_dedup.py checks that
# SQLite answers both from indexes.
HASHES_UNDER_MESSAGE_ID = (
    "SELECT dedup_hash FROM messages WHERE message_id = ? AND direction = 'inbound'"
    " UNION ALL SELECT dedup_hash FROM automatic_mail WHERE message_id = ?")
KEY_HASH_PROCESSED = "SELECT 1 FROM processed WHERE key_hash = ?"

# Renders the reply once the ticket number is known: (number, ticket_subject) -> mail.
ReplyRenderer = Callable[[str, str, Reply], OutgoingMail]



class Store:
    def __init__(self, data_dir: Path, synchronous: str = "FULL", cache_kib: int = 0,
                 checkpointer: Checkpointer | None = None) -> None:
        """`cache_kib`: a larger SQLite page cache for the worker, whose inserts under random
        keys (ticket numbers, Message-IDs) touch index pages all over a large database.
        `checkpointer`: the WAL checkpoints of this connection's commits are its job."""
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "maildaemon.sqlite3"
        conn = connect(self.path, synchronous)
        if cache_kib:
            conn.execute(f"PRAGMA cache_size={-cache_kib}")
        self.checkpointer = checkpointer
        if checkpointer is not None:
            checkpointer.take_over(conn)
        conn.row_factory = sqlite3.Row
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self._ids_seen: dict[str, int] = {}  # by ticket number, since the last apply()
        self.blobs = Blobs(data_dir)  # its files made durable by transaction(), pre-commit
        # Under the write lock: the daemon, its worker and a CLI command may all open a new
        # data directory at the same moment.
        with immediate(conn):
            migrations.apply(self.db)

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

    # -- context loads -------------------------------------------------------------------

    def spool_processed(self, spool_id: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM processed WHERE spool_id = ?", (spool_id,))
        return row.fetchone() is not None

    def processed_outcome(self, spool_id: str) -> tuple[str, str | None] | None:
        row = self.conn.execute(
            "SELECT outcome, ticket_number FROM processed WHERE spool_id = ? ORDER BY id",
            (spool_id,),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def received_before(self, message_id: str | None, dedup_key: str) -> bool:
        """The same message (its dedup key: Message-ID and body) was processed before.

        With a Message-ID, the answer is on the rows stored under it (m016): the lookup
        reads the Message-ID index page this message's own insert writes next, and a row
        is read only when the Message-ID matches, which a new message's does not. Rows
        written before m016 carry no hash; their keys are in the processed table. Without
        a Message-ID, the key (the raw bytes' hash) is in the processed table.
        """
        wanted = key_hash(dedup_key)
        if message_id:
            found = [row[0] for row in self.conn.execute(HASHES_UNDER_MESSAGE_ID,
                                                         (message_id, message_id))]
            if wanted in found:
                return True
            if None not in found:
                return False
        return self.conn.execute(KEY_HASH_PROCESSED, (wanted,)).fetchone() is not None

    def ticket_ref(self, number: str) -> TicketRef | None:
        row = self.conn.execute("SELECT * FROM tickets WHERE number = ?", (number,)).fetchone()
        return self._ref(row) if row else None

    def is_survey(self, message_ids: tuple[str, ...]) -> bool:
        if not message_ids:
            return False
        marks = ",".join("?" * len(message_ids))
        return self.conn.execute(
            f"SELECT 1 FROM surveys WHERE message_id IN ({marks}) LIMIT 1",
            message_ids).fetchone() is not None

    def ticket_of_received_message(self, message_id: str) -> TicketRef | None:
        """The ticket a message we received is stored on: the Message-ID index holds the
        ticket id too, so the message row itself is never read."""
        row = self.conn.execute(
            "SELECT ticket_id FROM messages WHERE message_id = ? AND direction = 'inbound'"
            " ORDER BY id LIMIT 1", (message_id,)).fetchone()
        if row is None:
            return None
        ticket = self.conn.execute("SELECT * FROM tickets WHERE id = ?", (row[0],)).fetchone()
        return self._ref(ticket) if ticket else None

    def recent_autoreplies(self, address: str, now: datetime) -> int:
        """Mail we queued to `address` in the hour before `now` (the rate limit)."""
        row = self.conn.execute(
            "SELECT count(*) FROM recent_replies WHERE rcpt_to = ? AND at > ?",
            (address, iso(now - RATE_WINDOW)),
        ).fetchone()
        return int(row[0])

    def forget_old_replies(self, now: datetime) -> int:
        """The rate limit's memory is one hour: older rows only make its index bigger."""
        with self.transaction() as conn:
            return conn.execute("DELETE FROM recent_replies WHERE at <= ?",
                                (iso(now - RATE_WINDOW),)).rowcount

    def _ref(self, row: sqlite3.Row) -> TicketRef:
        # apply() will want the id of the ticket the decision names: no second lookup by
        # its number (a random page of a large index). Always written by the context of
        # the message being applied, so never stale; bounded.
        if len(self._ids_seen) >= 256:
            self._ids_seen.clear()
        self._ids_seen[row["number"]] = int(row["id"])
        people = json.loads(row["participants"])  # on the row (m015): one random page fewer
        return TicketRef(
            number=row["number"],
            status=Status(row["status"]),
            queue=row["queue"],
            requester=row["requester"],
            subject=row["subject"],
            participants=frozenset(people),
            closed_at=parse_iso(row["closed_at"]),
        )

    # -- apply ---------------------------------------------------------------------------

    def set_status(self, conn: sqlite3.Connection, ticket_id: int, status: Status,
                   stamp: str, due_at: str | None) -> None:
        """A new status restarts every timer: `since` is now, nothing reminded or marked."""
        conn.execute(
            "UPDATE tickets SET status = ?, status_since = ?, reminded = 0,"
            " waiting_on_customer = 0, due_at = ?, updated_at = ?,"
            " closed_at = CASE WHEN ? = 'closed' THEN ? ELSE closed_at END WHERE id = ?",
            (status, stamp, due_at, stamp, status, stamp, ticket_id),
        )

    def savepoint(self) -> AbstractContextManager[sqlite3.Connection]:
        return savepoint(self.conn)

    def apply(
        self,
        decision: Decision,
        mail: InboundMail,
        raw: bytes,
        spool_id: str,
        now: datetime,
        render_reply: ReplyRenderer | None,
    ) -> str | None:
        """Write everything the decision says; returns the ticket number.

        Runs inside the caller's transaction (the worker applies a batch in one commit, each
        message in its own savepoint), so the context the decision was made on and these
        writes see the same database.
        """
        conn = self.conn
        stamp = iso(now)
        number: str | None = None
        if decision.outcome == Outcome.DUPLICATE:
            self._mark(conn, None, spool_id, decision.outcome, None, stamp)
            return None
        dedup_hash = key_hash(mail.dedup_key)
        raw_id = self.blobs.keep_raw(conn, mail.raw_sha256, raw)
        if decision.outcome == Outcome.AUTOMATIC:
            conn.execute(
                "INSERT INTO automatic_mail (at, message_id, from_addr, envelope_sender,"
                " subject, reason, raw_sha256, spool_id, raw_id, dedup_hash)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (stamp, mail.message_id, mail.from_addr, mail.envelope_sender,
                 mail.subject, decision.automated_reason or "", mail.raw_sha256, spool_id,
                 raw_id, dedup_hash),
            )
        else:
            ticket_id, number = self._ticket_for(conn, decision, stamp)
            message_row = self._insert_inbound(conn, ticket_id, mail, stamp,
                                               decision.automated_reason, raw_id, dedup_hash)
            self._insert_attachments(conn, ticket_id, message_row, decision)
            if decision.new_status is not None:
                self.set_status(conn, ticket_id, decision.new_status, stamp, None)
            if decision.ticket is not None:  # a new ticket was created with this stamp
                conn.execute("UPDATE tickets SET updated_at = ? WHERE id = ?",
                             (stamp, ticket_id))
            events = [(ticket_id, stamp, *line.partition(": ")[::2]) for line in decision.trace]
            events += [(ticket_id, stamp, e.type, e.detail) for e in decision.events]
            if decision.rating is not None:
                conn.execute("UPDATE tickets SET rating = ?, rating_comment = ? WHERE id = ?",
                             (decision.rating[0], decision.rating[1], ticket_id))
            replies = [r for r in (decision.reply, *decision.more_mail) if r is not None]
            for reply in replies:
                if render_reply is None:
                    break
                subject = (decision.ticket or decision.new_ticket or mail).subject
                out = render_reply(number, subject, reply)
                self._enqueue(conn, ticket_id, out, stamp)
                events.append((ticket_id, stamp, "reply_queued",
                               f"{out.kind} to {out.rcpt_to} {out.message_id}"))
            conn.executemany(
                "INSERT INTO events (ticket_id, at, type, detail) VALUES (?, ?, ?, ?)", events
            )
        # With a Message-ID, the row just written under it is the dedup record.
        self._mark(conn, None if mail.message_id else dedup_hash, spool_id,
                   decision.outcome, number, stamp)
        return number

    def raw_message(self, raw_id: int) -> bytes | None:
        """The exact bytes received, by `messages.raw_id` or `automatic_mail.raw_id`."""
        return self.blobs.raw(self.conn, raw_id)

    def attachment_bytes(self, sha256: str) -> bytes | None:
        return self.blobs.attachment(self.conn, sha256)

    def _mark(self, conn: sqlite3.Connection, dedup_hash: int | None, spool_id: str,
              outcome: str, number: str | None, stamp: str) -> None:
        """One row per message, found by its spool id (a replay after a crash) and, for
        mail without a Message-ID, by its dedup hash (both indexed)."""
        conn.execute(
            "INSERT OR IGNORE INTO processed (key_hash, spool_id, outcome, ticket_number, at)"
            " VALUES (?, ?, ?, ?, ?)",
            (dedup_hash, spool_id, outcome, number, stamp),
        )

    def _ticket_for(self, conn: sqlite3.Connection, decision: Decision,
                    stamp: str) -> tuple[int, str]:
        if decision.ticket is not None:
            number = decision.ticket.number
            known = self._ids_seen.get(number)
            if known is not None:
                return known, number
            row = conn.execute("SELECT id FROM tickets WHERE number = ?", (number,)).fetchone()
            return int(row[0]), number
        new = decision.new_ticket
        assert new is not None
        number = self._fresh_number(conn)
        people = list(dict.fromkeys(new.participants))
        cur = conn.execute(
            "INSERT INTO tickets (number, status, priority, queue, requester, subject,"
            " created_at, updated_at, first_response_due, status_since, participants)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (number, Status.NEW, new.priority, new.queue, new.requester, new.subject, stamp,
             stamp, iso(new.first_response_due), stamp, json.dumps(people)),
        )
        ticket_id = int(cur.lastrowid or 0)
        for i, address in enumerate(new.participants):
            conn.execute(
                "INSERT OR IGNORE INTO participants (ticket_id, address, role) VALUES (?,?,?)",
                (ticket_id, address, "requester" if i == 0 else "copied"),
            )
        for other in new.related:
            conn.execute("INSERT OR IGNORE INTO related VALUES (?, ?)", (ticket_id, other))
            other_row = conn.execute("SELECT id FROM tickets WHERE number = ?", (other,))
            found = other_row.fetchone()
            if found:
                conn.execute("INSERT OR IGNORE INTO related VALUES (?, ?)", (found[0], number))
                self._event(conn, int(found[0]), stamp, "related",
                            f"{number} was opened by {new.requester}, who is not a participant")
        return ticket_id, number

    def _fresh_number(self, conn: sqlite3.Connection) -> str:
        """Random, so a number reveals neither how many tickets exist nor which comes next.

        Six digits while fewer than half a million tickets exist (the space stays at most
        half full, so a guessed number is as likely wrong as right); then seven, then eight.
        Tickets are never deleted, so a number is never reused.
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

    def _insert_attachments(self, conn: sqlite3.Connection, ticket_id: int, message_row: int,
                            decision: Decision) -> None:
        for verdict in decision.attachments:
            file = verdict.candidate
            if verdict.reason == "accepted":
                self.blobs.keep_attachment(conn, file.sha256, file.data)
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

    def attachment_usage(self, number: str) -> AttachmentUsage:
        row = self.conn.execute(
            "SELECT coalesce(sum(a.inline = 0), 0), coalesce(sum(a.size), 0) FROM attachments a"
            " JOIN tickets t ON t.id = a.ticket_id WHERE t.number = ?", (number,)
        ).fetchone()
        inline = self.conn.execute(
            "SELECT a.sha256 FROM attachments a JOIN tickets t ON t.id = a.ticket_id"
            " WHERE t.number = ? AND a.inline = 1", (number,)
        ).fetchall()
        return AttachmentUsage(int(row[0]), int(row[1]), frozenset(r[0] for r in inline))

    def attachments_of(self, ticket_id: int) -> list[Any]:
        return self.conn.execute(
            "SELECT * FROM attachments WHERE ticket_id = ? ORDER BY id", (ticket_id,)
        ).fetchall()

    def rejected_of(self, ticket_id: int) -> list[Any]:
        return self.conn.execute(
            "SELECT * FROM rejected_attachments WHERE ticket_id = ? ORDER BY id", (ticket_id,)
        ).fetchall()

    def _insert_inbound(self, conn: sqlite3.Connection, ticket_id: int, mail: InboundMail,
                        stamp: str, automated: str | None, raw_id: int,
                        dedup_hash: int) -> int:
        cursor = conn.execute(
            "INSERT INTO messages (ticket_id, direction, message_id, from_addr, to_addrs,"
            " cc_addrs, subject, date, text, raw_sha256, automated, own_text, raw_id,"
            " dedup_hash) VALUES (?, 'inbound', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ticket_id, mail.message_id, mail.from_addr, json.dumps(list(mail.to)),
             json.dumps(list(mail.cc)), mail.subject, iso(mail.date) if mail.date else stamp,
             mail.text, mail.raw_sha256, automated, mail.own_text, raw_id, dedup_hash),
        )
        return int(cursor.lastrowid or 0)

    def _event(self, conn: sqlite3.Connection, ticket_id: int, stamp: str, type_: str,
               detail: str) -> None:
        conn.execute(
            "INSERT INTO events (ticket_id, at, type, detail) VALUES (?, ?, ?, ?)",
            (ticket_id, stamp, type_, detail),
        )

    def enqueue(self, ticket_id: int, out: OutgoingMail, stamp: str) -> None:
        """Queue a mail for a ticket inside the caller's transaction, with its event."""
        self._enqueue(self.conn, ticket_id, out, stamp)
        copied = f" cc {', '.join(out.cc)}" if out.cc else ""
        self.conn.execute(
            "INSERT INTO events (ticket_id, at, type, detail) VALUES (?, ?, 'reply_queued', ?)",
            (ticket_id, stamp, f"{out.kind} to {out.rcpt_to}{copied} {out.message_id}"))

    def _enqueue(self, conn: sqlite3.Connection, ticket_id: int, out: OutgoingMail,
                 stamp: str) -> None:
        """The outbox row, its bytes and the outbound message on the ticket.

        A primary recipient that is not a mailbox is stored as a failed row, with the
        reason `outbox ls` shows, instead of being handed to a relay; a copied one that is
        not a mailbox is left out of the envelope (the sender checks each again).
        """
        if out.kind == "survey":
            conn.execute("INSERT OR IGNORE INTO surveys VALUES (?, ?)",
                         (out.message_id, ticket_id))
        problem = mailbox_problem(out.rcpt_to)
        copies = [a for a in out.cc if is_mailbox(a)]
        cursor = conn.execute(
            "INSERT INTO outbox (ticket_id, kind, message_id, mail_from, rcpt_to, cc_tos,"
            " status, last_error, next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (ticket_id, out.kind, out.message_id, out.mail_from, out.rcpt_to,
             json.dumps(copies, ensure_ascii=False), "failed" if problem else "pending",
             problem or "", stamp, stamp),
        )
        conn.execute("INSERT INTO outbox_raw (outbox_id, raw) VALUES (?, ?)",
                     (cursor.lastrowid, out.raw))
        reached = [] if problem else [out.rcpt_to, *copies]
        conn.executemany("INSERT INTO recent_replies VALUES (?, ?)",
                         [(address, stamp) for address in reached])
        conn.execute(
            "INSERT INTO messages (ticket_id, direction, message_id, from_addr, to_addrs,"
            " cc_addrs, subject, date, text) VALUES (?, 'outbound', ?, ?, ?, ?, ?, ?, ?)",
            (ticket_id, out.message_id, out.mail_from, json.dumps([out.rcpt_to]),
             json.dumps(list(out.cc)), out.subject, stamp, out.text),
        )

    # -- reads for the commands ----------------------------------------------------------

    def ticket_rows(self, status: str | None = None, queue: str | None = None) -> list[Any]:
        query = "SELECT * FROM tickets WHERE 1=1"
        params: list[str] = []
        if status:
            query += " AND status = ?"
            params.append(status)
        if queue:
            query += " AND queue = ?"
            params.append(queue)
        return self.conn.execute(query + " ORDER BY created_at, id", params).fetchall()

    def ticket_row(self, number: str) -> Any:
        return self.conn.execute(
            "SELECT * FROM tickets WHERE number = ?", (number.upper(),)
        ).fetchone()

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

    def messages_of(self, ticket_id: int) -> list[Any]:
        return self.conn.execute(MESSAGES_OF_TICKET, (ticket_id,)).fetchall()

    def events_of(self, ticket_id: int) -> list[Any]:
        return self.conn.execute(EVENTS_OF_TICKET, (ticket_id,)).fetchall()

    def last_received_message_id(self, ticket_id: int) -> str | None:
        """What our next mail on the ticket answers (In-Reply-To)."""
        row = self.conn.execute(LAST_RECEIVED_MESSAGE_ID, (ticket_id,)).fetchone()
        return str(row[0]) if row else None

    def automatic_rows(self) -> list[Any]:
        return self.conn.execute("SELECT * FROM automatic_mail ORDER BY id").fetchall()
