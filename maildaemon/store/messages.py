"""Messages on tickets (received and sent), automatic mail kept off tickets, and the
timeline (m017) that lists a ticket's messages and events as one clustered range."""

from __future__ import annotations

import json
from typing import Any

from maildaemon.domain import InboundMail, OutgoingMail
from maildaemon.store.db import Db
from maildaemon.store.stamps import iso

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


def insert_inbound(conn: Db, ticket_id: int, mail: InboundMail, stamp: str,
                   automated: str | None, raw_id: int, dedup_hash: int) -> int:
    """The received message on its ticket; returns its row id (its files refer to it)."""
    cursor = conn.execute(
        "INSERT INTO messages (ticket_id, direction, message_id, from_addr, to_addrs,"
        " cc_addrs, subject, date, text, raw_sha256, automated, own_text, raw_id,"
        " dedup_hash) VALUES (?, 'inbound', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (ticket_id, mail.message_id, mail.from_addr, json.dumps(list(mail.to)),
         json.dumps(list(mail.cc)), mail.subject, iso(mail.date) if mail.date else stamp, mail.text,
         mail.raw_sha256, automated, mail.own_text, raw_id, dedup_hash),
    )
    return int(cursor.lastrowid or 0)


def insert_outbound(conn: Db, ticket_id: int, out: OutgoingMail,
                    stamp: str) -> None:
    conn.execute(
        "INSERT INTO messages (ticket_id, direction, message_id, from_addr, to_addrs,"
        " cc_addrs, subject, date, text) VALUES (?, 'outbound', ?, ?, ?, ?, ?, ?, ?)",
        (ticket_id, out.message_id, out.mail_from, json.dumps([out.rcpt_to]),
         json.dumps(list(out.cc)), out.subject, stamp, out.text),
    )


def insert_automatic(conn: Db, mail: InboundMail, stamp: str, reason: str,
                     spool_id: str, raw_id: int, dedup_hash: int) -> None:
    """Mail a machine sent (bounces, auto-replies): kept, but on no ticket."""
    conn.execute(
        "INSERT INTO automatic_mail (at, message_id, from_addr, envelope_sender,"
        " subject, reason, raw_sha256, spool_id, raw_id, dedup_hash)"
        " VALUES (?,?,?,?,?,?,?,?,?,?)",
        (stamp, mail.message_id, mail.from_addr, mail.envelope_sender, mail.subject,
         reason, mail.raw_sha256, spool_id, raw_id, dedup_hash),
    )


def ticket_id_of_received(conn: Db, message_id: str) -> int | None:
    """The ticket a message we received is stored on: the Message-ID index holds the
    ticket id too, so the message row itself is never read."""
    row = conn.execute(
        "SELECT ticket_id FROM messages WHERE message_id = ? AND direction = 'inbound'"
        " ORDER BY id LIMIT 1", (message_id,)).fetchone()
    return None if row is None else int(row[0])


def last_received_message_id(conn: Db, ticket_id: int) -> str | None:
    """What our next mail on the ticket answers (In-Reply-To)."""
    row = conn.execute(LAST_RECEIVED_MESSAGE_ID, (ticket_id,)).fetchone()
    return str(row[0]) if row else None


def messages_of(conn: Db, ticket_id: int) -> list[Any]:
    return conn.execute(MESSAGES_OF_TICKET, (ticket_id,)).fetchall()


def events_of(conn: Db, ticket_id: int) -> list[Any]:
    return conn.execute(EVENTS_OF_TICKET, (ticket_id,)).fetchall()
